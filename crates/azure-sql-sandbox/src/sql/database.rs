//! One database: its SQLite file and connection pool ([`storage`](super::storage)), and its
//! metadata, the catalog and the principals as last committed ([`Metadata`]); the users a login
//! finds in it. A batch runs on a connection the session leases for it (or holds, while a
//! transaction is open) and sees the metadata its transaction changed, else the last committed
//! (the executor, [`executor`](super::executor), runs it).
//!
//! A change to the catalog or the principals first takes the database's write lock (by updating
//! a one-row table), so one session at a time changes them; outside a transaction it commits and
//! publishes the new metadata at once, inside one it stays the transaction's own until `COMMIT`.

use super::catalog::{Catalog, Table};
use super::errors::SqlError;
use super::metadata::{next_version, Metadata};
use super::principals::{Kind, Principals};
use super::schema::Schema;
use super::sqlite_functions;
use super::storage::{DataDir, Store};
use std::sync::{Arc, Mutex, MutexGuard};

/// A database.
pub(crate) struct Database {
    pub name: String,
    pub(super) store: Arc<Store>,
    /// The last committed metadata. Whoever commits a change holds this lock from the SQLite
    /// commit until the new metadata is in place.
    committed: Mutex<Arc<Metadata>>,
}

impl Database {
    /// A new, empty database in a file of `dir`.
    pub(crate) fn create(
        name: &str,
        dir: Arc<DataDir>,
        file_name: &str,
    ) -> Result<Database, SqlError> {
        let created = sqlite_functions::now();
        let catalog = Catalog::new(&created);
        let system_tables = catalog
            .tables()
            .iter()
            .filter(|t| t.schema != Schema::Dbo)
            .map(Table::sqlite_ddl)
            .collect();
        let store = Store::create(dir, file_name, system_tables)?;
        let metadata = Metadata {
            version: next_version(),
            catalog,
            principals: Principals::new(&created),
        };
        Ok(Database {
            name: name.to_string(),
            store,
            committed: Mutex::new(Arc::new(metadata)),
        })
    }

    pub(super) fn committed_lock(&self) -> MutexGuard<'_, Arc<Metadata>> {
        self.committed.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The last committed metadata.
    pub(super) fn committed(&self) -> Arc<Metadata> {
        self.committed_lock().clone()
    }

    /// How many connections the database has open, and how many of them are idle.
    pub(crate) fn connections(&self) -> (u64, usize) {
        (self.store.open_connections(), self.store.idle_connections())
    }

    /// How many statements have had to wait for the write lock.
    pub(crate) fn lock_waits(&self) -> u64 {
        self.store.lock_wait.waits_begun()
    }

    /// The user an access token's identity maps to: (name, principal id, roles), or `None`.
    pub(crate) fn external_user(
        &self,
        tenant_id: &str,
        key: &str,
    ) -> Option<(String, i32, Vec<String>)> {
        let meta = self.committed();
        let p = meta.principals.find_external(tenant_id, key)?;
        Some((p.name.clone(), p.id, meta.principals.roles_of(p.id)))
    }

    /// A contained user whose password matches: (name, principal id, roles).
    pub(crate) fn contained_user(
        &self,
        user: &str,
        password: &str,
    ) -> Option<(String, i32, Vec<String>)> {
        let meta = self.committed();
        let p = meta.principals.find(user)?;
        match &p.kind {
            Kind::Contained { password: stored } if stored.matches(password) => {
                Some((p.name.clone(), p.id, meta.principals.roles_of(p.id)))
            }
            _ => None,
        }
    }
}
