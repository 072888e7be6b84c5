//! The `sys.*` and `INFORMATION_SCHEMA` views, refilled on a connection from the metadata its
//! statement sees.

use super::Exec;
use crate::sql::catalog::Table;
use crate::sql::principals::Kind;
use crate::sql::schema::Schema;
use crate::sql::types::{Length, SqlType};
use rusqlite::types::Value as Sv;
use rusqlite::Connection;

impl Exec<'_> {
    /// Brings this connection's system views (attached in memory) and what `IS_ROLEMEMBER`
    /// reads up to the metadata the statement sees.
    pub(super) fn sync_system(&mut self, db: &str) -> rusqlite::Result<()> {
        self.link.conn.execute_batch("SAVEPOINT sync_system")?;
        match self.fill_system_views(db) {
            Ok(()) => {
                self.link.conn.execute_batch("RELEASE sync_system")?;
                self.link.synced = self.meta.version;
                Ok(())
            }
            Err(e) => {
                let _ = self
                    .link
                    .conn
                    .execute_batch("ROLLBACK TO sync_system; RELEASE sync_system");
                self.link.synced = 0;
                Err(e)
            }
        }
    }

    /// Rewrites the system views from the catalog and the principals.
    pub(super) fn fill_system_views(&mut self, db: &str) -> rusqlite::Result<()> {
        fn fill(conn: &Connection, table: &str, rows: Vec<Vec<Sv>>) -> rusqlite::Result<()> {
            conn.execute(&format!("DELETE FROM {table}"), [])?;
            let Some(width) = rows.first().map(Vec::len) else {
                return Ok(());
            };
            let marks = vec!["?"; width].join(", ");
            let mut stmt = conn.prepare_cached(&format!("INSERT INTO {table} VALUES ({marks})"))?;
            for row in rows {
                stmt.execute(rusqlite::params_from_iter(row))?;
            }
            Ok(())
        }
        let text = |s: &str| Sv::Text(s.to_string());
        let int = |i: i64| Sv::Integer(i);
        fill(
            &self.link.conn,
            "sys.database_principals",
            self.meta.principals.principal_rows(),
        )?;
        fill(
            &self.link.conn,
            "sys.database_role_members",
            self.meta.principals.member_rows(),
        )?;
        fill(
            &self.link.conn,
            "sys.database_permissions",
            self.meta.principals.permission_rows(),
        )?;
        let user_tables: Vec<&Table> = self
            .meta
            .catalog
            .tables()
            .iter()
            .filter(|t| t.schema == Schema::Dbo)
            .collect();
        let object_row = |t: &Table| {
            vec![
                text(&t.name),
                int(t.object_id as i64),
                Sv::Null,
                int(1),
                int(0),
                text("U "),
                text("USER_TABLE"),
                text(&t.created),
                text(&t.created),
                int(0),
            ]
        };
        let mut objects: Vec<Vec<Sv>> = user_tables.iter().map(|t| object_row(t)).collect();
        for t in &user_tables {
            for (i, k) in t.keys.iter().enumerate() {
                objects.push(vec![
                    text(&k.name),
                    int(t.object_id as i64 + 1 + i as i64),
                    Sv::Null,
                    int(1),
                    int(t.object_id as i64),
                    text(if k.primary { "PK" } else { "UQ" }),
                    text(if k.primary {
                        "PRIMARY_KEY_CONSTRAINT"
                    } else {
                        "UNIQUE_CONSTRAINT"
                    }),
                    text(&t.created),
                    text(&t.created),
                    int(0),
                ]);
            }
        }
        fill(&self.link.conn, "sys.objects", objects)?;
        fill(
            &self.link.conn,
            "sys.tables",
            user_tables.iter().map(|t| object_row(t)).collect(),
        )?;
        let mut columns = Vec::new();
        let mut info_columns = Vec::new();
        for t in &user_tables {
            for (i, c) in t.columns.iter().enumerate() {
                let (type_id, max_length, precision, scale) =
                    crate::sql::system_catalog::system_type(&c.ty);
                columns.push(vec![
                    int(t.object_id as i64),
                    text(&c.name),
                    int(i as i64 + 1),
                    int(type_id as i64),
                    int(max_length as i64),
                    int(precision as i64),
                    int(scale as i64),
                    int(c.nullable as i64),
                    int(c.identity as i64),
                ]);
                let char_length = match &c.ty {
                    t if t.is_character() => {
                        Sv::Integer(t.char_length().map(|n| n as i64).unwrap_or(-1))
                    }
                    SqlType::VarBinary(Length::Fixed(n)) => Sv::Integer(*n as i64),
                    SqlType::VarBinary(Length::Max) => Sv::Integer(-1),
                    _ => Sv::Null,
                };
                info_columns.push(vec![
                    text(db),
                    text("dbo"),
                    text(&t.name),
                    text(&c.name),
                    int(i as i64 + 1),
                    c.default
                        .as_ref()
                        .map(|d| text(&format!("({d})")))
                        .unwrap_or(Sv::Null),
                    text(if c.nullable { "YES" } else { "NO" }),
                    text(c.ty.name()),
                    char_length,
                    if c.ty.is_numeric() {
                        Sv::Integer(precision as i64)
                    } else {
                        Sv::Null
                    },
                    if c.ty.is_numeric() {
                        Sv::Integer(scale as i64)
                    } else {
                        Sv::Null
                    },
                ]);
            }
        }
        fill(&self.link.conn, "sys.columns", columns)?;
        fill(
            &self.link.conn,
            "sys.schemas",
            vec![
                vec![text("dbo"), int(1), int(1)],
                vec![text("guest"), int(2), int(2)],
                vec![text("INFORMATION_SCHEMA"), int(3), int(3)],
                vec![text("sys"), int(4), int(4)],
            ],
        )?;
        fill(
            &self.link.conn,
            "information_schema.TABLES",
            user_tables
                .iter()
                .map(|t| vec![text(db), text("dbo"), text(&t.name), text("BASE TABLE")])
                .collect(),
        )?;
        fill(&self.link.conn, "information_schema.COLUMNS", info_columns)?;
        let memberships = self.meta.principals.memberships();
        let role_names = self
            .meta
            .principals
            .all()
            .iter()
            .filter(|p| matches!(p.kind, Kind::Role { .. }))
            .map(|p| p.name.to_lowercase())
            .collect();
        let mut ctx = self.ctx_lock();
        ctx.memberships = memberships;
        ctx.role_names = role_names;
        Ok(())
    }
}
