//! The system views' definitions: the `sys.*` and `INFORMATION_SCHEMA` views as real tables each
//! database keeps (their columns, in SQL Server's order), and the type ids `sys.columns` and
//! `sys.types` report for each type.

use super::schema::Schema;
use super::types::{Length, SqlType};

/// `sys.columns.system_type_id` and `max_length` of a type.
pub(crate) fn system_type(ty: &SqlType) -> (i32, i32, i32, i32) {
    let len = |l: &Length, unit: i32| match l {
        Length::Fixed(n) => *n as i32 * unit,
        Length::Max => -1,
    };
    match ty {
        SqlType::TinyInt => (48, 1, 3, 0),
        SqlType::SmallInt => (52, 2, 5, 0),
        SqlType::Int => (56, 4, 10, 0),
        SqlType::BigInt => (127, 8, 19, 0),
        SqlType::Bit => (104, 1, 1, 0),
        SqlType::Real => (59, 4, 24, 0),
        SqlType::Float => (62, 8, 53, 0),
        SqlType::Decimal { precision, scale } => (106, 17, *precision as i32, *scale as i32),
        SqlType::Char(n) => (175, *n as i32, 0, 0),
        SqlType::VarChar(l) => (167, len(l, 1), 0, 0),
        SqlType::NChar(n) => (239, *n as i32 * 2, 0, 0),
        SqlType::NVarChar(l) => (231, len(l, 2), 0, 0),
        SqlType::VarBinary(l) => (165, len(l, 1), 0, 0),
        SqlType::UniqueIdentifier => (36, 16, 0, 0),
        SqlType::DateTime2 => (42, 8, 27, 7),
        SqlType::Variant => (98, 8016, 0, 0),
    }
}

type SystemColumn = (&'static str, &'static str, bool);

/// The columns `sys.objects` has, which `sys.tables` inherits (as in SQL Server).
const OBJECT_COLUMNS: &[SystemColumn] = &[
    ("name", "sysname", false),
    ("object_id", "int", false),
    ("principal_id", "int", true),
    ("schema_id", "int", false),
    ("parent_object_id", "int", false),
    ("type", "char(2)", false),
    ("type_desc", "nvarchar(60)", true),
    ("create_date", "datetime", false),
    ("modify_date", "datetime", false),
    ("is_ms_shipped", "bit", false),
];

/// The system views, as real tables the database keeps filled.
pub(crate) const SYSTEM_TABLES: &[(Schema, &str, &[SystemColumn])] = &[
    (
        Schema::Sys,
        "database_principals",
        &[
            ("name", "sysname", false),
            ("principal_id", "int", false),
            ("type", "char(1)", false),
            ("type_desc", "nvarchar(60)", true),
            ("default_schema_name", "sysname", true),
            ("create_date", "datetime", false),
            ("modify_date", "datetime", false),
            ("owning_principal_id", "int", true),
            ("sid", "varbinary(85)", true),
            ("is_fixed_role", "bit", false),
            ("authentication_type", "int", false),
            ("authentication_type_desc", "nvarchar(60)", true),
        ],
    ),
    (
        Schema::Sys,
        "database_role_members",
        &[
            ("role_principal_id", "int", false),
            ("member_principal_id", "int", false),
        ],
    ),
    (
        Schema::Sys,
        "database_permissions",
        &[
            ("class", "tinyint", false),
            ("class_desc", "nvarchar(60)", true),
            ("major_id", "int", false),
            ("minor_id", "int", false),
            ("grantee_principal_id", "int", false),
            ("grantor_principal_id", "int", false),
            ("type", "char(4)", false),
            ("permission_name", "nvarchar(128)", true),
            ("state", "char(1)", false),
            ("state_desc", "nvarchar(60)", true),
        ],
    ),
    (Schema::Sys, "objects", OBJECT_COLUMNS),
    (Schema::Sys, "tables", OBJECT_COLUMNS),
    (
        Schema::Sys,
        "columns",
        &[
            ("object_id", "int", false),
            ("name", "sysname", true),
            ("column_id", "int", false),
            ("system_type_id", "tinyint", false),
            ("max_length", "smallint", false),
            ("precision", "tinyint", false),
            ("scale", "tinyint", false),
            ("is_nullable", "bit", true),
            ("is_identity", "bit", false),
        ],
    ),
    (
        Schema::Sys,
        "schemas",
        &[
            ("name", "sysname", false),
            ("schema_id", "int", false),
            ("principal_id", "int", true),
        ],
    ),
    (
        Schema::InformationSchema,
        "TABLES",
        &[
            ("TABLE_CATALOG", "nvarchar(128)", true),
            ("TABLE_SCHEMA", "nvarchar(128)", true),
            ("TABLE_NAME", "sysname", false),
            ("TABLE_TYPE", "varchar(10)", true),
        ],
    ),
    (
        Schema::InformationSchema,
        "COLUMNS",
        &[
            ("TABLE_CATALOG", "nvarchar(128)", true),
            ("TABLE_SCHEMA", "nvarchar(128)", true),
            ("TABLE_NAME", "sysname", false),
            ("COLUMN_NAME", "sysname", true),
            ("ORDINAL_POSITION", "int", true),
            ("COLUMN_DEFAULT", "nvarchar(4000)", true),
            ("IS_NULLABLE", "varchar(3)", true),
            ("DATA_TYPE", "nvarchar(128)", true),
            ("CHARACTER_MAXIMUM_LENGTH", "int", true),
            ("NUMERIC_PRECISION", "tinyint", true),
            ("NUMERIC_SCALE", "int", true),
        ],
    ),
];
