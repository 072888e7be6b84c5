//! A database's principals as Azure SQL keeps them: users (made `FROM EXTERNAL PROVIDER` for an
//! Entra identity, `WITH PASSWORD` as a contained user, or `WITHOUT LOGIN`), roles (the fixed
//! `db_*` roles and `CREATE ROLE`), role membership, and `GRANT`/`DENY`/`REVOKE` on objects,
//! the `dbo` schema or the database; and the permission check each statement passes.
//!
//! Like Azure SQL, an Entra user is keyed by its application (client) id when it is an application
//! or a managed identity and by its object id when it is a human user; its `sid` holds that GUID's
//! bytes. A session's roles are read once, at login ([`Principals::roles_of`]), so a role dropped
//! later takes effect on the next login; grants and denials are checked live, as SQL Server does.

use super::catalog::Table;
use super::errors::{self, SqlError};
use super::schema::Schema;
use super::values::guid_to_bytes;
use crate::identity::{DirectoryEntry, PrincipalKind};
use std::collections::BTreeSet;

/// The fixed database roles and their principal ids, as SQL Server numbers them.
pub(crate) const FIXED_ROLES: &[(&str, i32)] = &[
    ("db_owner", 16384),
    ("db_accessadmin", 16385),
    ("db_securityadmin", 16386),
    ("db_ddladmin", 16387),
    ("db_backupoperator", 16389),
    ("db_datareader", 16390),
    ("db_datawriter", 16391),
    ("db_denydatareader", 16392),
    ("db_denydatawriter", 16393),
];

/// What a principal is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `dbo`, `guest`, `sys`, `INFORMATION_SCHEMA`: built in, never dropped.
    Builtin,
    /// A contained user with a password (`CREATE USER x WITH PASSWORD = '...'`).
    Contained { password: Password },
    /// A user without a login (`CREATE USER x WITHOUT LOGIN`).
    WithoutLogin,
    /// A Microsoft Entra user (`CREATE USER [x] FROM EXTERNAL PROVIDER`), keyed by tenant and by
    /// application id (applications, managed identities) or object id (users).
    External { tenant_id: String, key: String },
    /// A database role.
    Role { fixed: bool, owner: i32 },
}

/// A contained user's password: compared in constant time, never shown by `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Password(String);

impl Password {
    pub(crate) fn new(password: String) -> Self {
        Password(password)
    }

    /// Whether `attempt` is this password.
    pub(crate) fn matches(&self, attempt: &str) -> bool {
        aws_lc_rs::constant_time::verify_slices_are_equal(self.0.as_bytes(), attempt.as_bytes())
            .is_ok()
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

/// A database principal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Principal {
    pub id: i32,
    pub name: String,
    pub kind: Kind,
    pub sid: Option<Vec<u8>>,
    pub created: String,
}

impl Principal {
    fn is_role(&self) -> bool {
        matches!(self.kind, Kind::Role { .. })
    }

    fn is_user(&self) -> bool {
        !self.is_role()
    }
}

/// Who asks for something a permission guards, as the checks read it: the database user, the
/// roles it held at login and whether it is the server admin (a [`Session`](super::Session)).
pub(crate) trait Caller {
    /// The database user's name.
    fn user(&self) -> &str;
    /// The roles the user held when the session logged in.
    fn roles(&self) -> &[String];
    /// Whether the session is the server admin (dbo of every database).
    fn is_admin(&self) -> bool;
}

/// A permission a statement needs or a `GRANT` names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Permission {
    Select,
    Insert,
    Update,
    Delete,
    Execute,
    Alter,
    Control,
    References,
    ViewDefinition,
}

impl Permission {
    pub(crate) fn parse(words: &str) -> Option<Permission> {
        Some(match words.to_ascii_uppercase().as_str() {
            "SELECT" => Permission::Select,
            "INSERT" => Permission::Insert,
            "UPDATE" => Permission::Update,
            "DELETE" => Permission::Delete,
            "EXECUTE" | "EXEC" => Permission::Execute,
            "ALTER" => Permission::Alter,
            "CONTROL" => Permission::Control,
            "REFERENCES" => Permission::References,
            "VIEW DEFINITION" => Permission::ViewDefinition,
            _ => return None,
        })
    }

    /// The name SQL Server's messages and `sys.database_permissions` use.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Permission::Select => "SELECT",
            Permission::Insert => "INSERT",
            Permission::Update => "UPDATE",
            Permission::Delete => "DELETE",
            Permission::Execute => "EXECUTE",
            Permission::Alter => "ALTER",
            Permission::Control => "CONTROL",
            Permission::References => "REFERENCES",
            Permission::ViewDefinition => "VIEW DEFINITION",
        }
    }

    fn code(self) -> &'static str {
        match self {
            Permission::Select => "SL",
            Permission::Insert => "IN",
            Permission::Update => "UP",
            Permission::Delete => "DL",
            Permission::Execute => "EX",
            Permission::Alter => "AL",
            Permission::Control => "CL",
            Permission::References => "RF",
            Permission::ViewDefinition => "VW",
        }
    }
}

/// What a permission is on.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Securable {
    Database,
    Schema(i32),
    Object(i32),
}

impl Securable {
    fn covers(&self, table: &Table) -> bool {
        match self {
            Securable::Database => true,
            Securable::Schema(id) => *id == table.schema.id(),
            Securable::Object(id) => *id == table.object_id,
        }
    }
}

/// One row of `sys.database_permissions`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Grant {
    pub grantee: i32,
    pub permission: Permission,
    pub on: Securable,
    pub deny: bool,
}

/// Every principal of one database, their memberships and permissions.
#[derive(Clone, Debug)]
pub(crate) struct Principals {
    list: Vec<Principal>,
    members: BTreeSet<(i32, i32)>,
    grants: BTreeSet<Grant>,
    next_id: i32,
}

impl Principals {
    /// A new database's principals: `public`, `dbo`, `guest`, `INFORMATION_SCHEMA`, `sys` and the
    /// fixed roles.
    pub(crate) fn new(created: &str) -> Self {
        let mut list = vec![
            Principal {
                id: 0,
                name: "public".into(),
                kind: Kind::Role {
                    fixed: false,
                    owner: 1,
                },
                sid: Some(vec![1, 5, 0, 0, 0, 0, 0, 5, 2, 0, 0, 0]),
                created: created.into(),
            },
            Principal {
                id: 1,
                name: "dbo".into(),
                kind: Kind::Builtin,
                sid: Some(vec![1]),
                created: created.into(),
            },
            Principal {
                id: 2,
                name: "guest".into(),
                kind: Kind::Builtin,
                sid: Some(vec![0]),
                created: created.into(),
            },
            Principal {
                id: 3,
                name: "INFORMATION_SCHEMA".into(),
                kind: Kind::Builtin,
                sid: None,
                created: created.into(),
            },
            Principal {
                id: 4,
                name: "sys".into(),
                kind: Kind::Builtin,
                sid: None,
                created: created.into(),
            },
        ];
        for (name, id) in FIXED_ROLES {
            list.push(Principal {
                id: *id,
                name: (*name).into(),
                kind: Kind::Role {
                    fixed: true,
                    owner: 1,
                },
                sid: Some(
                    [1, 5, 0, 0, 0, 0, 0, 9, 4, 0, 0, 0]
                        .into_iter()
                        .chain((*id as u32).to_le_bytes())
                        .collect(),
                ),
                created: created.into(),
            });
        }
        Principals {
            list,
            members: BTreeSet::new(),
            grants: BTreeSet::new(),
            next_id: 5,
        }
    }

    /// Every principal.
    pub(crate) fn all(&self) -> &[Principal] {
        &self.list
    }

    /// The principal of that name (case-insensitive).
    pub(crate) fn find(&self, name: &str) -> Option<&Principal> {
        self.list.iter().find(|p| p.name.eq_ignore_ascii_case(name))
    }

    fn by_id(&self, id: i32) -> Option<&Principal> {
        self.list.iter().find(|p| p.id == id)
    }

    /// The Entra user made for this token's identity: matched by tenant and key.
    pub(crate) fn find_external(&self, tenant_id: &str, key: &str) -> Option<&Principal> {
        self.list.iter().find(|p| match &p.kind {
            Kind::External {
                tenant_id: t,
                key: k,
            } => t.eq_ignore_ascii_case(tenant_id) && k.eq_ignore_ascii_case(key),
            _ => false,
        })
    }

    fn take_id(&mut self) -> i32 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    fn ensure_new_name(&self, name: &str) -> Result<(), SqlError> {
        if self.find(name).is_some() {
            return Err(errors::PRINCIPAL_EXISTS.with(&[name]));
        }
        Ok(())
    }

    /// `CREATE USER [name] FROM EXTERNAL PROVIDER` for a directory entry.
    pub(crate) fn create_external_user(
        &mut self,
        name: &str,
        entry: &DirectoryEntry,
        created: &str,
    ) -> Result<(), SqlError> {
        self.ensure_new_name(name)?;
        let key = match entry.kind {
            PrincipalKind::Application | PrincipalKind::ManagedIdentity => entry.app_id.clone(),
            PrincipalKind::User => entry.object_id.clone(),
        };
        if self.find_external(&entry.tenant_id, &key).is_some() {
            return Err(errors::LOGIN_HAS_USER.plain());
        }
        let id = self.take_id();
        self.list.push(Principal {
            id,
            name: name.to_string(),
            sid: guid_to_bytes(&key),
            kind: Kind::External {
                tenant_id: entry.tenant_id.clone(),
                key,
            },
            created: created.into(),
        });
        Ok(())
    }

    /// `CREATE USER x WITH PASSWORD = '...'` or `CREATE USER x WITHOUT LOGIN`.
    pub(crate) fn create_local_user(
        &mut self,
        name: &str,
        password: Option<&Password>,
        created: &str,
    ) -> Result<(), SqlError> {
        self.ensure_new_name(name)?;
        let id = self.take_id();
        let sid: Vec<u8> = [1, 5, 0, 0, 0, 0, 0, 9]
            .into_iter()
            .chain(uuid::Uuid::new_v4().as_bytes().iter().copied())
            .collect();
        self.list.push(Principal {
            id,
            name: name.to_string(),
            kind: match password {
                Some(p) => Kind::Contained {
                    password: p.clone(),
                },
                None => Kind::WithoutLogin,
            },
            sid: Some(sid),
            created: created.into(),
        });
        Ok(())
    }

    /// `CREATE ROLE name [AUTHORIZATION owner]`.
    pub(crate) fn create_role(
        &mut self,
        name: &str,
        owner: Option<&str>,
        created: &str,
    ) -> Result<(), SqlError> {
        self.ensure_new_name(name)?;
        let owner = match owner {
            None => 1,
            Some(o) => {
                self.find(o)
                    .ok_or_else(|| errors::CANNOT_FIND_USER.with(&[o]))?
                    .id
            }
        };
        let id = self.take_id();
        self.list.push(Principal {
            id,
            name: name.to_string(),
            kind: Kind::Role {
                fixed: false,
                owner,
            },
            sid: None,
            created: created.into(),
        });
        Ok(())
    }

    /// `DROP USER [IF EXISTS] name`: its memberships and permissions go with it.
    pub(crate) fn drop_user(&mut self, name: &str, if_exists: bool) -> Result<(), SqlError> {
        let Some(p) = self.find(name).filter(|p| p.is_user()) else {
            if if_exists {
                return Ok(());
            }
            return Err(errors::CANNOT_DROP_USER.with(&[name]));
        };
        if p.kind == Kind::Builtin {
            return Err(errors::FIXED_ROLE.with(&[&p.name]));
        }
        let id = p.id;
        self.remove(id);
        Ok(())
    }

    /// `DROP ROLE [IF EXISTS] name`: 15144 while it has members.
    pub(crate) fn drop_role(&mut self, name: &str, if_exists: bool) -> Result<(), SqlError> {
        let Some(p) = self.find(name).filter(|p| p.is_role()) else {
            if if_exists {
                return Ok(());
            }
            return Err(errors::CANNOT_DROP_ROLE.with(&[name]));
        };
        if matches!(p.kind, Kind::Role { fixed: true, .. }) || p.id == 0 {
            return Err(errors::FIXED_ROLE.with(&[&p.name]));
        }
        let id = p.id;
        if self.members.iter().any(|(role, _)| *role == id) {
            return Err(errors::ROLE_HAS_MEMBERS.plain());
        }
        self.remove(id);
        Ok(())
    }

    fn remove(&mut self, id: i32) {
        self.list.retain(|p| p.id != id);
        self.members.retain(|(r, m)| *r != id && *m != id);
        self.grants.retain(|g| g.grantee != id);
    }

    /// `ALTER ROLE role ADD MEMBER member` (`add`) or `DROP MEMBER`. Adding a member twice or
    /// dropping a non-member changes nothing, as in SQL Server.
    pub(crate) fn alter_role(
        &mut self,
        role: &str,
        member: &str,
        add: bool,
    ) -> Result<(), SqlError> {
        let role_id = self
            .find(role)
            .filter(|p| p.is_role() && p.id != 0)
            .ok_or_else(|| errors::CANNOT_ALTER_ROLE.with(&[role]))?
            .id;
        let member_principal = self.find(member).ok_or_else(|| {
            if add {
                errors::CANNOT_ADD_PRINCIPAL.with(&[member])
            } else {
                errors::CANNOT_DROP_PRINCIPAL.with(&[member])
            }
        })?;
        if member_principal.kind == Kind::Builtin || member_principal.id == 0 {
            return Err(errors::FIXED_ROLE.with(&[&member_principal.name]));
        }
        let member_id = member_principal.id;
        if add {
            if member_id == role_id || self.role_ids_of(role_id).contains(&member_id) {
                return Err(errors::CANNOT_ADD_PRINCIPAL.with(&[member]));
            }
            self.members.insert((role_id, member_id));
        } else {
            self.members.remove(&(role_id, member_id));
        }
        Ok(())
    }

    /// The ids of every role `id` is in, directly or through other roles.
    fn role_ids_of(&self, id: i32) -> BTreeSet<i32> {
        let mut found = BTreeSet::new();
        let mut frontier = vec![id];
        while let Some(m) = frontier.pop() {
            for (role, member) in &self.members {
                if *member == m && found.insert(*role) {
                    frontier.push(*role);
                }
            }
        }
        found
    }

    /// The names of every role the principal is in (what a session logging in now holds).
    pub(crate) fn roles_of(&self, id: i32) -> Vec<String> {
        self.role_ids_of(id)
            .into_iter()
            .filter_map(|r| self.by_id(r).map(|p| p.name.clone()))
            .collect()
    }

    /// Each principal's roles, by lower-case name, for `IS_ROLEMEMBER(role, member)`.
    pub(crate) fn memberships(&self) -> std::collections::HashMap<String, Vec<String>> {
        self.list
            .iter()
            .map(|p| {
                let mut roles: Vec<String> = self
                    .roles_of(p.id)
                    .iter()
                    .map(|r| r.to_lowercase())
                    .collect();
                if p.id == 1 {
                    roles.push("db_owner".into());
                }
                (p.name.to_lowercase(), roles)
            })
            .collect()
    }

    /// `GRANT`, `DENY` (`deny`) or `REVOKE` (`revoke`: removes either) a permission.
    pub(crate) fn set_permission(
        &mut self,
        grantee: &str,
        permission: Permission,
        on: Securable,
        deny: bool,
        revoke: bool,
    ) -> Result<(), SqlError> {
        let p = self
            .find(grantee)
            .ok_or_else(|| errors::CANNOT_FIND_USER.with(&[grantee]))?;
        if p.id == 1 || p.kind == Kind::Builtin || matches!(p.kind, Kind::Role { fixed: true, .. })
        {
            return Err(errors::GRANT_TO_SELF.plain());
        }
        let id = p.id;
        self.grants
            .retain(|g| !(g.grantee == id && g.permission == permission && g.on == on));
        if !revoke {
            self.grants.insert(Grant {
                grantee: id,
                permission,
                on,
                deny,
            });
        }
        Ok(())
    }

    /// Whether a session may do `permission` on `table`: the server admin and `db_owner` may do
    /// anything; a `DENY` (or `db_denydatareader`/`db_denydatawriter`) wins over any grant; then
    /// `db_datareader` gives `SELECT`, `db_datawriter` `INSERT`/`UPDATE`/`DELETE`, and `GRANT`s to
    /// the user, its roles or `public` give what they name (`CONTROL` gives everything).
    pub(crate) fn allowed(
        &self,
        session: &impl Caller,
        permission: Permission,
        table: &Table,
    ) -> bool {
        let has = |role: &str| session.roles().iter().any(|r| r.eq_ignore_ascii_case(role));
        if session.is_admin() || has("db_owner") {
            return true;
        }
        if table.schema != Schema::Dbo {
            return permission == Permission::Select;
        }
        let mut ids: BTreeSet<i32> = session
            .roles()
            .iter()
            .filter_map(|r| self.find(r).map(|p| p.id))
            .collect();
        ids.insert(0);
        if let Some(user) = self.find(session.user()) {
            ids.insert(user.id);
        }
        let applies = |g: &Grant| {
            ids.contains(&g.grantee)
                && g.on.covers(table)
                && (g.permission == permission || g.permission == Permission::Control)
        };
        let writes = matches!(
            permission,
            Permission::Insert | Permission::Update | Permission::Delete
        );
        let denied = self.grants.iter().any(|g| g.deny && applies(g))
            || (permission == Permission::Select && has("db_denydatareader"))
            || (writes && has("db_denydatawriter"));
        if denied {
            return false;
        }
        (permission == Permission::Select && has("db_datareader"))
            || (writes && has("db_datawriter"))
            || self.grants.iter().any(|g| !g.deny && applies(g))
    }

    /// Whether a session may create, alter or drop tables.
    pub(crate) fn may_ddl(session: &impl Caller) -> bool {
        let has = |role: &str| session.roles().iter().any(|r| r.eq_ignore_ascii_case(role));
        session.is_admin() || has("db_owner") || has("db_ddladmin")
    }

    /// Whether a session may create or drop users.
    pub(crate) fn may_manage_users(session: &impl Caller) -> bool {
        let has = |role: &str| session.roles().iter().any(|r| r.eq_ignore_ascii_case(role));
        session.is_admin() || has("db_owner") || has("db_accessadmin")
    }

    /// Whether a session may change `role`'s membership, create roles, or grant: `db_owner` for
    /// the fixed roles, `db_securityadmin` too for the others.
    pub(crate) fn may_manage_role(&self, session: &impl Caller, role: Option<&str>) -> bool {
        let has = |r: &str| session.roles().iter().any(|x| x.eq_ignore_ascii_case(r));
        if session.is_admin() || has("db_owner") {
            return true;
        }
        let fixed = role
            .and_then(|r| self.find(r))
            .is_some_and(|p| matches!(p.kind, Kind::Role { fixed: true, .. }));
        has("db_securityadmin") && !fixed
    }

    /// Rows of `sys.database_principals`, in its column order.
    pub(crate) fn principal_rows(&self) -> Vec<Vec<rusqlite::types::Value>> {
        use rusqlite::types::Value as Sv;
        let text = |s: &str| Sv::Text(s.to_string());
        self.list
            .iter()
            .map(|p| {
                let (ty, desc, auth, auth_desc, schema) = match &p.kind {
                    Kind::Role { .. } => ("R", "DATABASE_ROLE", 0, "NONE", None),
                    Kind::External { .. } => ("E", "EXTERNAL_USER", 4, "EXTERNAL", Some("dbo")),
                    Kind::Contained { .. } => ("S", "SQL_USER", 2, "DATABASE", Some("dbo")),
                    Kind::WithoutLogin => ("S", "SQL_USER", 0, "NONE", Some("dbo")),
                    Kind::Builtin if p.id == 1 => ("S", "SQL_USER", 1, "INSTANCE", Some("dbo")),
                    Kind::Builtin => ("S", "SQL_USER", 0, "NONE", None),
                };
                let owner = match &p.kind {
                    Kind::Role { owner, .. } => Sv::Integer(*owner as i64),
                    _ => Sv::Null,
                };
                vec![
                    text(&p.name),
                    Sv::Integer(p.id as i64),
                    text(ty),
                    text(desc),
                    schema.map(text).unwrap_or(Sv::Null),
                    text(&p.created),
                    text(&p.created),
                    owner,
                    p.sid.clone().map(Sv::Blob).unwrap_or(Sv::Null),
                    Sv::Integer(matches!(p.kind, Kind::Role { fixed: true, .. }) as i64),
                    Sv::Integer(auth),
                    text(auth_desc),
                ]
            })
            .collect()
    }

    /// Rows of `sys.database_role_members`.
    pub(crate) fn member_rows(&self) -> Vec<Vec<rusqlite::types::Value>> {
        use rusqlite::types::Value as Sv;
        let mut rows: Vec<Vec<Sv>> = vec![vec![Sv::Integer(16384), Sv::Integer(1)]];
        rows.extend(
            self.members
                .iter()
                .map(|(r, m)| vec![Sv::Integer(*r as i64), Sv::Integer(*m as i64)]),
        );
        rows
    }

    /// Rows of `sys.database_permissions`: each user's `CONNECT`, then the grants and denials.
    pub(crate) fn permission_rows(&self) -> Vec<Vec<rusqlite::types::Value>> {
        use rusqlite::types::Value as Sv;
        let text = |s: &str| Sv::Text(s.to_string());
        let mut rows = Vec::new();
        for p in self
            .list
            .iter()
            .filter(|p| p.is_user() && (p.kind != Kind::Builtin || p.id == 1))
        {
            rows.push(vec![
                Sv::Integer(0),
                text("DATABASE"),
                Sv::Integer(0),
                Sv::Integer(0),
                Sv::Integer(p.id as i64),
                Sv::Integer(1),
                text("CO  "),
                text("CONNECT"),
                text("G"),
                text("GRANT"),
            ]);
        }
        for g in &self.grants {
            let (class, class_desc, major) = match g.on {
                Securable::Database => (0, "DATABASE", 0),
                Securable::Schema(id) => (3, "SCHEMA", id),
                Securable::Object(id) => (1, "OBJECT_OR_COLUMN", id),
            };
            rows.push(vec![
                Sv::Integer(class),
                text(class_desc),
                Sv::Integer(major as i64),
                Sv::Integer(0),
                Sv::Integer(g.grantee as i64),
                Sv::Integer(1),
                text(&format!("{:<4}", g.permission.code())),
                text(g.permission.name()),
                text(if g.deny { "D" } else { "G" }),
                text(if g.deny { "DENY" } else { "GRANT" }),
            ]);
        }
        rows
    }
}

#[cfg(test)]
mod tests;
