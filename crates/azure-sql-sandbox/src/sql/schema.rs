//! The schemas a database has: `dbo`, `sys`, `INFORMATION_SCHEMA`, and the session's
//! temporary tables; their names, ids and the SQLite database that holds each.

/// The schemas the engine knows.
#[allow(clippy::enum_variant_names)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Schema {
    Dbo,
    Sys,
    InformationSchema,
    /// A session's local temporary tables (`#name`, tempdb's `dbo`; see [`super::temp`]).
    Temp,
}

impl Schema {
    /// The schema's name as SQL Server spells it.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Schema::Dbo | Schema::Temp => "dbo",
            Schema::Sys => "sys",
            Schema::InformationSchema => "INFORMATION_SCHEMA",
        }
    }

    /// The SQLite database holding the schema's tables.
    pub(crate) fn sqlite(self) -> &'static str {
        match self {
            Schema::Dbo => "main",
            Schema::Temp => "temp",
            Schema::Sys => "sys",
            Schema::InformationSchema => "information_schema",
        }
    }

    /// `schema_id` as `sys.schemas` numbers it.
    pub(crate) fn id(self) -> i32 {
        match self {
            Schema::Dbo | Schema::Temp => 1,
            Schema::Sys => 4,
            Schema::InformationSchema => 3,
        }
    }

    pub(crate) fn parse(name: &str) -> Option<Schema> {
        if name.eq_ignore_ascii_case("dbo") || name.is_empty() {
            Some(Schema::Dbo)
        } else if name.eq_ignore_ascii_case("sys") {
            Some(Schema::Sys)
        } else if name.eq_ignore_ascii_case("information_schema") {
            Some(Schema::InformationSchema)
        } else {
            None
        }
    }
}
