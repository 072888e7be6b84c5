//! A database's tables as SQL Server sees them: each column's declared type, nullability, default
//! and identity, the primary and unique keys, and the SQLite table that stores it. Also the system
//! views scripts and clients read (`sys.database_principals`, `sys.tables`,
//! `INFORMATION_SCHEMA.TABLES`, ...), which are real tables the database keeps up to date.
//!
//! `dbo` is the only user schema, as in the project's scripts; `sys` and `INFORMATION_SCHEMA` live
//! in SQLite databases attached under those names.

use super::errors::{self, SqlError};
use super::schema::Schema;
use super::system_catalog::SYSTEM_TABLES;
use super::types::{parse_type, TypeContext};
use super::types::{Length, SqlType};
use sqlparser::ast::{
    ColumnOption, CreateTable, Expr, IdentityPropertyFormatKind, IdentityPropertyKind, ObjectName,
    ObjectNamePart, TableConstraint, UnaryOperator, Value as AstValue,
};

/// A column as declared.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Column {
    pub name: String,
    pub ty: SqlType,
    pub nullable: bool,
    /// The `DEFAULT` expression, as written (T-SQL).
    pub default: Option<Expr>,
    pub identity: bool,
}

/// A primary key or unique constraint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Key {
    pub name: String,
    pub primary: bool,
    pub columns: Vec<usize>,
}

/// `IDENTITY(seed, increment)` on a column.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Identity {
    pub column: usize,
    pub seed: i64,
    pub step: i64,
}

/// A table.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Table {
    pub schema: Schema,
    pub name: String,
    pub object_id: i32,
    pub columns: Vec<Column>,
    pub keys: Vec<Key>,
    pub identity: Option<Identity>,
    /// When it was created (`DATETIME2` text).
    pub created: String,
}

impl Table {
    /// The column of that name (case-insensitive), with its position.
    pub(crate) fn column(&self, name: &str) -> Option<(usize, &Column)> {
        self.columns
            .iter()
            .enumerate()
            .find(|(_, c)| c.name.eq_ignore_ascii_case(name))
    }

    /// `database.dbo.Table`, as errors 2628 and 515 name a table.
    pub(crate) fn qualified(&self, database: &str) -> String {
        format!("{database}.{}.{}", self.schema.name(), self.name)
    }

    /// `dbo.Table`, as error 2627 names it.
    pub(crate) fn two_part(&self) -> String {
        format!("{}.{}", self.schema.name(), self.name)
    }

    /// The table's name in SQLite.
    pub(crate) fn sqlite_name(&self) -> String {
        format!("{}.{}", self.schema.sqlite(), quote(&self.sqlite_table()))
    }

    /// The table's name in its SQLite schema: its own, or for a temporary table its name and
    /// object id, so a table that a rollback brings back is never taken for a later one of the
    /// same name.
    pub(crate) fn sqlite_table(&self) -> String {
        match self.schema {
            Schema::Temp => format!("{}_{}", self.name, self.object_id.unsigned_abs()),
            _ => self.name.clone(),
        }
    }

    /// The key (primary or unique) whose columns are exactly these, in any order.
    pub(crate) fn key_on(&self, columns: &[usize]) -> Option<&Key> {
        self.keys.iter().find(|k| {
            k.columns.len() == columns.len() && k.columns.iter().all(|c| columns.contains(c))
        })
    }

    /// Whether the column belongs to any key.
    pub(crate) fn is_key_column(&self, column: usize) -> bool {
        self.keys.iter().any(|k| k.columns.contains(&column))
    }

    /// The `CREATE TABLE` SQLite runs for it.
    pub(crate) fn sqlite_ddl(&self) -> String {
        let mut parts: Vec<String> = self
            .columns
            .iter()
            .map(|c| {
                format!(
                    "{} {}{}",
                    quote(&c.name),
                    c.ty.sqlite_declaration(),
                    if c.nullable { "" } else { " NOT NULL" }
                )
            })
            .collect();
        for key in &self.keys {
            let columns: Vec<String> = key
                .columns
                .iter()
                .map(|i| quote(&self.columns[*i].name))
                .collect();
            parts.push(format!(
                "CONSTRAINT {} {} ({})",
                quote(&key.name),
                if key.primary { "PRIMARY KEY" } else { "UNIQUE" },
                columns.join(", ")
            ));
        }
        // A table with a primary key is stored in key order, as SQL Server's clustered index is.
        let without_rowid = if self.keys.iter().any(|k| k.primary) {
            " WITHOUT ROWID"
        } else {
            ""
        };
        format!(
            "CREATE TABLE {} ({}){without_rowid}",
            self.sqlite_name(),
            parts.join(", ")
        )
    }
}

/// Quotes an identifier for SQLite.
pub(crate) fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// A name as SQL Server's messages print it: the parts as written, without brackets.
pub(crate) fn display_name(name: &ObjectName) -> String {
    name.0
        .iter()
        .map(|p| match p {
            ObjectNamePart::Identifier(i) => i.value.clone(),
            other => other.to_string(),
        })
        .collect::<Vec<_>>()
        .join(".")
}

/// Splits `[db.][schema.]name` into the schema and the name; 208 for an unknown schema, 40515 for
/// another database.
pub(crate) fn split_name(name: &ObjectName, database: &str) -> Result<(Schema, String), SqlError> {
    let parts: Vec<String> = name
        .0
        .iter()
        .map(|p| match p {
            ObjectNamePart::Identifier(i) => i.value.clone(),
            other => other.to_string(),
        })
        .collect();
    let shown = display_name(name);
    let (schema, table) = match parts.as_slice() {
        [t] => ("", t.as_str()),
        [s, t] => (s.as_str(), t.as_str()),
        [d, s, t] => {
            if !d.eq_ignore_ascii_case(database) && !d.is_empty() {
                return Err(errors::CROSS_DATABASE.with(&[&shown]));
            }
            (s.as_str(), t.as_str())
        }
        _ => return Err(errors::CROSS_DATABASE.with(&[&shown])),
    };
    let schema = Schema::parse(schema).ok_or_else(|| errors::INVALID_OBJECT.with(&[&shown]))?;
    Ok((schema, table.to_string()))
}

/// Every table of one database.
#[derive(Clone, Debug)]
pub(crate) struct Catalog {
    tables: Vec<Table>,
    next_object_id: i32,
}

impl Catalog {
    /// A catalog holding only the system views.
    pub(crate) fn new(created: &str) -> Self {
        let mut catalog = Catalog {
            tables: Vec::new(),
            next_object_id: 245_575_913,
        };
        for (i, (schema, name, columns)) in SYSTEM_TABLES.iter().enumerate() {
            let columns = columns
                .iter()
                .map(|(name, ty, nullable)| Column {
                    name: name.to_string(),
                    ty: parse_type(ty, TypeContext::Declaration, 1, "")
                        .unwrap_or(SqlType::NVarChar(Length::Fixed(128))),
                    nullable: *nullable,
                    default: None,
                    identity: false,
                })
                .collect();
            catalog.tables.push(Table {
                schema: *schema,
                name: name.to_string(),
                object_id: -(100 + i as i32),
                columns,
                keys: Vec::new(),
                identity: None,
                created: created.to_string(),
            });
        }
        catalog
    }

    /// Every table, system views included.
    pub(crate) fn tables(&self) -> &[Table] {
        &self.tables
    }

    /// The table `schema.name` (case-insensitive).
    pub(crate) fn get(&self, schema: Schema, name: &str) -> Option<&Table> {
        self.tables
            .iter()
            .find(|t| t.schema == schema && t.name.eq_ignore_ascii_case(name))
    }

    /// The table a name in a statement refers to, or error 208 naming it as written.
    pub(crate) fn resolve(&self, name: &ObjectName, database: &str) -> Result<&Table, SqlError> {
        let (schema, table) = split_name(name, database)?;
        if table.starts_with('#') {
            return Err(errors::NOT_SUPPORTED.with(&["temporary tables (#name)"]));
        }
        self.get(schema, &table)
            .ok_or_else(|| errors::INVALID_OBJECT.with(&[&display_name(name)]))
    }

    /// `OBJECT_ID(name[, type])`: the table's id, or `None`.
    pub(crate) fn object_id(&self, name: &str, database: &str, kind: Option<&str>) -> Option<i32> {
        let parts: Vec<sqlparser::ast::Ident> = split_dotted(name)
            .into_iter()
            .map(sqlparser::ast::Ident::new)
            .collect();
        if parts.is_empty() {
            return None;
        }
        let (schema, table) = split_name(&ObjectName::from(parts), database).ok()?;
        let t = self.get(schema, &table)?;
        let wanted = kind.map(|k| k.trim().to_ascii_uppercase());
        match (wanted.as_deref(), t.schema) {
            (None, _)
            | (Some("U"), Schema::Dbo)
            | (Some("V"), Schema::Sys | Schema::InformationSchema) => Some(t.object_id),
            _ => None,
        }
    }

    /// Builds the table a `CREATE TABLE` declares (not yet added): 2714 if it exists, 2715/131 for
    /// a bad type, 2705/2744/2749/8110/8111 for bad columns and keys.
    pub(crate) fn define(
        &mut self,
        ct: &CreateTable,
        database: &str,
        created: &str,
    ) -> Result<Table, SqlError> {
        let (schema, name) = split_name(&ct.name, database)?;
        if schema != Schema::Dbo {
            return Err(errors::UNKNOWN_SCHEMA.with(&[schema.name()]));
        }
        if name.starts_with('#') {
            return Err(errors::NOT_SUPPORTED.with(&["temporary tables (#name)"]));
        }
        if self.get(schema, &name).is_some() {
            return Err(errors::OBJECT_EXISTS.with(&[&name]));
        }
        let table = build_table(ct, schema, name, self.next_object_id, created)?;
        self.next_object_id = self.next_object_id.wrapping_add(16_000_057);
        Ok(table)
    }

    pub(crate) fn add(&mut self, table: Table) {
        self.tables.push(table);
    }

    pub(crate) fn remove(&mut self, schema: Schema, name: &str) -> Option<Table> {
        let i = self
            .tables
            .iter()
            .position(|t| t.schema == schema && t.name.eq_ignore_ascii_case(name))?;
        Some(self.tables.remove(i))
    }
}

/// The table a `CREATE TABLE` declares, as `schema.name` with this object id: 2715/131 for a bad
/// type, 2705/2744/2749/8110/8111 for bad columns and keys.
pub(crate) fn build_table(
    ct: &CreateTable,
    schema: Schema,
    name: String,
    object_id: i32,
    created: &str,
) -> Result<Table, SqlError> {
    if ct.query.is_some() || ct.like.is_some() || ct.clone.is_some() {
        return Err(errors::NOT_SUPPORTED.with(&["CREATE TABLE AS / LIKE"]));
    }
    let mut columns: Vec<Column> = Vec::new();
    let mut keys: Vec<Key> = Vec::new();
    let mut identity: Option<Identity> = None;
    let mut explicit_null: Vec<bool> = Vec::new();
    for (i, def) in ct.columns.iter().enumerate() {
        let column_name = def.name.value.clone();
        if columns
            .iter()
            .any(|c| c.name.eq_ignore_ascii_case(&column_name))
        {
            return Err(errors::DUPLICATE_COLUMN.with(&[&column_name, &name]));
        }
        let ty = parse_type(
            &def.data_type.to_string(),
            TypeContext::Declaration,
            i + 1,
            &format!("column '{column_name}'"),
        )?;
        let mut column = Column {
            name: column_name.clone(),
            ty,
            nullable: true,
            default: None,
            identity: false,
        };
        let mut said_null = false;
        for option in &def.options {
            match &option.option {
                ColumnOption::Null => said_null = true,
                ColumnOption::NotNull => column.nullable = false,
                ColumnOption::Default(e) => column.default = Some(e.clone()),
                ColumnOption::PrimaryKey(_) => {
                    if keys.iter().any(|k| k.primary) {
                        return Err(errors::TWO_PRIMARY_KEYS.with(&[&name]));
                    }
                    keys.push(Key {
                        name: option
                            .name
                            .as_ref()
                            .map(|n| n.value.clone())
                            .unwrap_or_else(|| generated_key_name("PK", &name, object_id)),
                        primary: true,
                        columns: vec![i],
                    });
                }
                ColumnOption::Unique(_) => keys.push(Key {
                    name: option
                        .name
                        .as_ref()
                        .map(|n| n.value.clone())
                        .unwrap_or_else(|| {
                            generated_key_name("UQ", &name, object_id + keys.len() as i32)
                        }),
                    primary: false,
                    columns: vec![i],
                }),
                ColumnOption::Identity(kind) => {
                    if identity.is_some() {
                        return Err(errors::IDENTITY_TWICE.with(&[&name]));
                    }
                    let property = match kind {
                        IdentityPropertyKind::Identity(p)
                        | IdentityPropertyKind::Autoincrement(p) => p,
                    };
                    let (seed, step) = match &property.parameters {
                        Some(IdentityPropertyFormatKind::FunctionCall(p))
                        | Some(IdentityPropertyFormatKind::StartAndIncrement(p)) => (
                            literal_integer(&p.seed)
                                .ok_or_else(|| errors::SYNTAX.with(&[&p.seed.to_string()]))?,
                            literal_integer(&p.increment)
                                .ok_or_else(|| errors::SYNTAX.with(&[&p.increment.to_string()]))?,
                        ),
                        None => (1, 1),
                    };
                    let integral = column.ty.is_integer()
                        || matches!(column.ty, SqlType::Decimal { scale: 0, .. });
                    if !integral || step == 0 {
                        return Err(errors::IDENTITY_TYPE.with(&[&column_name]));
                    }
                    column.identity = true;
                    identity = Some(Identity {
                        column: i,
                        seed,
                        step,
                    });
                }
                ColumnOption::Collation(_) => {}
                other => {
                    return Err(errors::NOT_SUPPORTED.with(&[&format!(
                        "column option {}",
                        other.to_string().split_whitespace().next().unwrap_or("?")
                    )]))
                }
            }
        }
        if column.identity {
            if said_null {
                return Err(errors::IDENTITY_TYPE.with(&[&column_name]));
            }
            column.nullable = false;
        }
        explicit_null.push(said_null);
        columns.push(column);
    }
    for constraint in &ct.constraints {
        let (constraint_name, index_columns, primary) = match constraint {
            TableConstraint::PrimaryKey(pk) => (pk.name.clone(), &pk.columns, true),
            TableConstraint::Unique(u) => (u.name.clone(), &u.columns, false),
            other => {
                return Err(errors::NOT_SUPPORTED.with(&[&format!(
                    "table constraint {}",
                    other
                        .to_string()
                        .split_whitespace()
                        .take(3)
                        .collect::<Vec<_>>()
                        .join(" ")
                )]))
            }
        };
        if primary && keys.iter().any(|k| k.primary) {
            return Err(errors::TWO_PRIMARY_KEYS.with(&[&name]));
        }
        let mut positions = Vec::new();
        for ic in index_columns {
            let column_name = match &ic.column.expr {
                Expr::Identifier(i) => i.value.clone(),
                other => other.to_string(),
            };
            let (p, _) = columns
                .iter()
                .enumerate()
                .find(|(_, c)| c.name.eq_ignore_ascii_case(&column_name))
                .ok_or_else(|| errors::INVALID_COLUMN.with(&[&column_name]))?;
            positions.push(p);
        }
        let key_name = constraint_name.map(|n| n.value).unwrap_or_else(|| {
            generated_key_name(
                if primary { "PK" } else { "UQ" },
                &name,
                object_id + keys.len() as i32,
            )
        });
        keys.push(Key {
            name: key_name,
            primary,
            columns: positions,
        });
    }
    for key in keys.iter().filter(|k| k.primary) {
        for &c in &key.columns {
            if explicit_null[c] {
                return Err(errors::NULLABLE_KEY.with(&[&name]));
            }
            columns[c].nullable = false;
        }
    }
    Ok(Table {
        schema,
        name,
        object_id,
        columns,
        keys,
        identity,
        created: created.to_string(),
    })
}

/// SQL Server's generated constraint name: `PK__Customer__` and sixteen hex digits.
fn generated_key_name(prefix: &str, table: &str, salt: i32) -> String {
    let short: String = table.chars().take(8).collect();
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in table.bytes().chain(salt.to_le_bytes()) {
        h ^= b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{prefix}__{short}__{h:016X}")
}

fn literal_integer(e: &Expr) -> Option<i64> {
    match e {
        Expr::Value(v) => match &v.value {
            AstValue::Number(n, _) => n.parse().ok(),
            _ => None,
        },
        Expr::UnaryOp {
            op: UnaryOperator::Minus,
            expr,
        } => literal_integer(expr).map(|v| -v),
        Expr::Nested(e) => literal_integer(e),
        _ => None,
    }
}

/// Splits `a.b.c` / `[a].[b]` written inside a string (as `OBJECT_ID` receives it).
pub(crate) fn split_dotted(s: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut in_bracket = false;
    for c in s.trim().chars() {
        match c {
            '[' if !in_bracket => in_bracket = true,
            ']' if in_bracket => in_bracket = false,
            '.' if !in_bracket => parts.push(std::mem::take(&mut current)),
            c => current.push(c),
        }
    }
    parts.push(current);
    parts
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlparser::ast::Statement;
    use sqlparser::dialect::MsSqlDialect;
    use sqlparser::parser::Parser;

    fn define(sql: &str) -> Result<Table, SqlError> {
        let statement = Parser::parse_sql(&MsSqlDialect {}, sql).unwrap().remove(0);
        let Statement::CreateTable(ct) = statement else {
            panic!("not CREATE TABLE")
        };
        Catalog::new("2024-01-01 00:00:00.0000000").define(&ct, "customers", "now")
    }

    #[test]
    fn the_customer_table_gets_its_declared_types_and_key() {
        let t = define("CREATE TABLE dbo.Customer (customer_id INT PRIMARY KEY IDENTITY, first_name VARCHAR(50), last_name VARCHAR(50), active BIT)").unwrap();
        assert_eq!(t.name, "Customer");
        assert_eq!(t.columns[0].ty, SqlType::Int);
        assert!(!t.columns[0].nullable, "a key is NOT NULL");
        assert!(t.columns[0].identity);
        assert_eq!(
            t.identity,
            Some(Identity {
                column: 0,
                seed: 1,
                step: 1
            })
        );
        assert_eq!(t.columns[1].ty, SqlType::VarChar(Length::Fixed(50)));
        assert!(t.columns[1].nullable);
        assert_eq!(t.columns[3].ty, SqlType::Bit);
        assert!(t.keys[0].primary && t.keys[0].name.starts_with("PK__Customer__"));
        assert_eq!(t.keys[0].name.len(), "PK__Customer__".len() + 16);
        let ddl = t.sqlite_ddl();
        assert!(
            ddl.contains("\"first_name\" VARCHAR(50) COLLATE MSSQL_CI_AS"),
            "{ddl}"
        );
        assert!(ddl.ends_with("WITHOUT ROWID"), "{ddl}");
    }

    #[test]
    fn identity_takes_seed_and_increment() {
        let t =
            define("CREATE TABLE t (id BIGINT IDENTITY(-10, 5), CONSTRAINT pk_t PRIMARY KEY (id))")
                .unwrap();
        assert_eq!(
            t.identity,
            Some(Identity {
                column: 0,
                seed: -10,
                step: 5
            })
        );
        assert_eq!(t.keys[0].name, "pk_t");
    }

    #[test]
    fn bad_definitions_get_sql_server_errors() {
        assert_eq!(
            define("CREATE TABLE t (a INT, A INT)").unwrap_err().number,
            2705
        );
        assert_eq!(
            define("CREATE TABLE t (a VARCHAR(10) IDENTITY)")
                .unwrap_err()
                .number,
            2749
        );
        assert_eq!(
            define("CREATE TABLE t (a INT PRIMARY KEY, b INT PRIMARY KEY)")
                .unwrap_err()
                .number,
            8110
        );
        assert_eq!(
            define("CREATE TABLE t (a INT NULL PRIMARY KEY)")
                .unwrap_err()
                .number,
            8111
        );
        assert_eq!(define("CREATE TABLE t (a XML)").unwrap_err().number, 2715);
        assert_eq!(
            define("CREATE TABLE sys.t (a INT)").unwrap_err().number,
            2760
        );
        assert_eq!(
            define("CREATE TABLE other.t (a INT)").unwrap_err().number,
            208
        );
    }

    #[test]
    fn names_resolve_through_dbo_and_the_current_database_only() {
        let catalog = Catalog::new("now");
        let name = |s: &str| {
            ObjectName::from(
                s.split('.')
                    .map(sqlparser::ast::Ident::new)
                    .collect::<Vec<_>>(),
            )
        };
        assert!(catalog
            .resolve(&name("sys.database_principals"), "db")
            .is_ok());
        assert_eq!(
            catalog
                .resolve(&name("dbo.Missing"), "db")
                .unwrap_err()
                .message,
            "Invalid object name 'dbo.Missing'."
        );
        assert_eq!(
            catalog
                .resolve(&name("other.dbo.t"), "db")
                .unwrap_err()
                .number,
            40515
        );
        assert!(catalog
            .object_id("sys.database_principals", "db", None)
            .is_some());
        assert_eq!(catalog.object_id("dbo.nothing", "db", Some("U")), None);
    }
}
