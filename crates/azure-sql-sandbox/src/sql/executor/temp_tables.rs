//! A session's temporary tables (`CREATE TABLE #t`, `DROP TABLE`): created on its connection,
//! kept in step with its transaction.

use super::{is_temp_name, Batch, Exec};
use crate::sql::catalog::quote;
use crate::sql::errors;
use crate::sql::errors::SqlError;
use crate::sql::principals::Principals;
use crate::sql::schema::Schema;
use crate::sql::sqlite_functions;
use crate::sql::storage::sqlite_failure;
use crate::sql::temp;
use sqlparser::ast::ObjectName;

impl Exec<'_> {
    /// `CREATE TABLE #name (...)`: any user may (tempdb's rule); 2714 if the session has one of
    /// that name. Refused: `##global` tables, and `IDENTITY` (the engine keeps identity counters
    /// per database, not per session).
    pub(super) fn create_temp_table(
        &mut self,
        ct: &sqlparser::ast::CreateTable,
    ) -> Result<(), SqlError> {
        let name = crate::sql::catalog::display_name(&ct.name);
        let name = name.rsplit('.').next().unwrap_or(&name).to_string();
        if name.starts_with("##") {
            return Err(errors::NOT_SUPPORTED.with(&["global temporary tables (##name)"]));
        }
        if self.txn.temp.get(&name).is_some() {
            return Err(errors::OBJECT_EXISTS.with(&[&name]));
        }
        let table = crate::sql::catalog::build_table(
            ct,
            Schema::Temp,
            name,
            temp::next_object_id(),
            &sqlite_functions::now(),
        )?;
        if table.identity.is_some() {
            return Err(errors::NOT_SUPPORTED.with(&["IDENTITY in a temporary table"]));
        }
        self.link
            .conn
            .execute_batch(&table.sqlite_ddl())
            .map_err(sqlite_failure)?;
        self.link.has_temp = true;
        self.txn.temp.add(table);
        Ok(())
    }

    /// After a rollback: the session's temporary tables as SQLite kept them (see
    /// [`temp::TempTables::reconcile`]).
    pub(super) fn reconcile_temp(&mut self) -> Result<(), SqlError> {
        if !self.txn.temp.needs_reconciling() && !self.link.has_temp {
            return Ok(());
        }
        let existing = (|| -> rusqlite::Result<std::collections::HashSet<String>> {
            let mut stmt = self
                .link
                .conn
                .prepare("SELECT lower(name) FROM temp.sqlite_master WHERE type = 'table'")?;
            let names = stmt.query_map([], |r| r.get::<_, String>(0))?;
            names.collect()
        })()
        .map_err(sqlite_failure)?;
        for stray in self.txn.temp.reconcile(&existing) {
            self.link
                .run(&format!("DROP TABLE IF EXISTS temp.{}", quote(&stray)))?;
        }
        Ok(())
    }

    pub(super) fn drop_table(
        &mut self,
        b: &mut Batch<'_>,
        name: &ObjectName,
        if_exists: bool,
        db: &str,
    ) -> Result<(), SqlError> {
        let shown = crate::sql::catalog::display_name(name);
        if is_temp_name(name) {
            let last = shown.rsplit('.').next().unwrap_or(&shown);
            let Some(table) = self.txn.temp.remove(last, self.txn.depth > 0) else {
                if if_exists {
                    return Ok(());
                }
                return Err(errors::CANNOT_DROP_TABLE.with(&[&shown]));
            };
            return self
                .link
                .run(&format!("DROP TABLE {}", table.sqlite_name()));
        }
        let table = match self.meta.catalog.resolve(name, db) {
            Ok(t) if t.schema == Schema::Dbo => t.clone(),
            Ok(_) => return Err(errors::CANNOT_DROP_TABLE.with(&[&shown])),
            Err(e) if e.number == 208 => {
                if if_exists {
                    return Ok(());
                }
                return Err(errors::CANNOT_DROP_TABLE.with(&[&shown]));
            }
            Err(e) => return Err(e),
        };
        if !Principals::may_ddl(b.session) {
            return Err(errors::CANNOT_DROP_TABLE.with(&[&shown]));
        }
        self.link
            .conn
            .execute_batch(&format!("DROP TABLE {}", table.sqlite_name()))
            .map_err(sqlite_failure)?;
        self.meta_mut().catalog.remove(table.schema, &table.name);
        Ok(())
    }
}
