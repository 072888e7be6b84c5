//! The functions and the collation each database's SQLite connection gets, so translated T-SQL
//! keeps SQL Server's behaviour: conversions with its errors (`mssql_conv`), `IDENTITY` values
//! (`mssql_identity`), divide-by-zero as an error (`mssql_nz`), the session's `USER_NAME()` and
//! friends (`mssql_session`), the date functions (whose arithmetic is `date_arithmetic`), and
//! case-insensitive comparison that ignores trailing blanks (collation `MSSQL_CI_AS`, like
//! `SQL_Latin1_General_CP1_CI_AS`).
//!
//! The functions read what they need from a [`FnCtx`] shared with the executor: the running
//! statement's conversion specs and the session. An error raised inside SQLite loses its shape, so
//! a function that fails stores the SQL Server error in [`FnCtx::pending_error`] first and the
//! executor reports that one.

use super::conversion;
use super::conversion::Mode;
use super::date_arithmetic;
use super::errors::{self, SqlError};
use super::session_context::SessionContext;
use super::types::{SqlType, COLLATION};
use super::values;
use rusqlite::functions::{Context, FunctionFlags};
use rusqlite::types::{Value as Sv, ValueRef};
use rusqlite::Connection;
use std::cmp::Ordering;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

/// What one `mssql_conv` / `mssql_identity` call site does, by its index in the running plan.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Spec {
    /// Convert the argument to `target`.
    Convert {
        target: SqlType,
        source: Option<SqlType>,
        mode: Mode,
        /// Set for a key column: the value is remembered for error 2627's "duplicate key value".
        key_column: Option<String>,
    },
    /// The next `IDENTITY` value of `table` (lower case).
    Identity {
        table: String,
        key_column: Option<String>,
    },
    /// A value given explicitly for an `IDENTITY` column under `SET IDENTITY_INSERT ON`: checked
    /// and converted like `Convert`, and it moves the table's identity past it.
    IdentitySeen {
        table: String,
        target: SqlType,
        source: Option<SqlType>,
        mode: Mode,
        key_column: Option<String>,
    },
}

/// A table's `IDENTITY(seed, increment)` and the last value it handed out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct IdentityCounter {
    pub seed: i64,
    pub step: i64,
    pub last: Option<i64>,
    pub range: (i64, i64),
}

impl IdentityCounter {
    pub(crate) fn next(&self) -> Option<i64> {
        match self.last {
            None => Some(self.seed),
            Some(last) => last.checked_add(self.step),
        }
        .filter(|v| *v >= self.range.0 && *v <= self.range.1)
    }
}

/// The session a statement runs for, as the session functions see it.
#[derive(Clone, Debug, Default)]
pub(crate) struct CtxSession {
    pub user: String,
    pub login: String,
    pub database: String,
    pub roles: Vec<String>,
    pub is_admin: bool,
    pub spid: i64,
    pub principal_id: i64,
    pub last_identity: Option<i64>,
    pub language: String,
    pub rowcount: i64,
    pub trancount: i64,
    /// `SET LOCK_TIMEOUT` (`@@LOCK_TIMEOUT`).
    pub lock_timeout: i64,
    /// `sys.dm_exec_sessions.transaction_isolation_level`.
    pub isolation: i64,
    /// What `SESSION_CONTEXT(key)` reads.
    pub context: SessionContext,
    /// On a read-only replica.
    pub read_only: bool,
}

/// State shared between the executor and the functions it registered.
#[derive(Default)]
pub(crate) struct FnCtx {
    pub session: CtxSession,
    pub specs: Arc<[Spec]>,
    /// The database's `IDENTITY` counters, shared by all its connections.
    pub identity: Identities,
    pub pending_error: Option<SqlError>,
    /// The last values stored into key columns, by column name, for error 2627.
    pub last_key: Vec<(String, String)>,
    /// Each principal's roles (lower-case names, transitive), for `IS_ROLEMEMBER(role, member)`.
    pub memberships: HashMap<String, Vec<String>>,
    /// Every role of the database (lower case): `IS_ROLEMEMBER` of an unknown role is `NULL`.
    pub role_names: HashSet<String>,
}

impl FnCtx {
    /// The context of a new connection to a database with these identity counters.
    pub(crate) fn new(identity: Identities) -> Self {
        FnCtx {
            identity,
            ..FnCtx::default()
        }
    }
}

pub(crate) type Shared = Arc<Mutex<FnCtx>>;

/// A database's `IDENTITY` counters by table (lower case). Like SQL Server's, they are not
/// transactional: a value handed out inside a transaction that rolls back is not reused.
pub(crate) type Identities = Arc<Mutex<HashMap<String, IdentityCounter>>>;

pub(crate) fn lock(ctx: &Shared) -> MutexGuard<'_, FnCtx> {
    ctx.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Locks the identity counters (taken after the connection's context when both are needed).
pub(crate) fn lock_identities(
    identities: &Identities,
) -> MutexGuard<'_, HashMap<String, IdentityCounter>> {
    identities
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn fail<T>(ctx: &Shared, error: SqlError) -> rusqlite::Result<T> {
    lock(ctx).pending_error = Some(error.clone());
    Err(rusqlite::Error::UserFunctionError(Box::new(error)))
}

use values::owned;

fn text(v: ValueRef<'_>) -> Option<String> {
    match v {
        ValueRef::Null => None,
        ValueRef::Text(t) | ValueRef::Blob(t) => Some(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Integer(i) => Some(i.to_string()),
        ValueRef::Real(f) => Some(values::format_real(f, None)),
    }
}

fn integer(v: ValueRef<'_>) -> Option<i64> {
    match v {
        ValueRef::Integer(i) => Some(i),
        ValueRef::Real(f) => Some(f as i64),
        ValueRef::Text(t) => std::str::from_utf8(t).ok()?.trim().parse().ok(),
        _ => None,
    }
}

/// SQL Server's `SQL_Latin1_General_CP1_CI_AS` as far as the sandbox needs it: case-insensitive,
/// trailing blanks ignored.
pub(crate) fn compare_ci(a: &str, b: &str) -> Ordering {
    let a = a.trim_end_matches(' ');
    let b = b.trim_end_matches(' ');
    if a.is_ascii() && b.is_ascii() {
        a.bytes()
            .map(|c| c.to_ascii_lowercase())
            .cmp(b.bytes().map(|c| c.to_ascii_lowercase()))
    } else {
        a.chars()
            .flat_map(char::to_lowercase)
            .cmp(b.chars().flat_map(char::to_lowercase))
    }
}

/// Registers the collation and every `mssql_*` function on a new connection.
pub(crate) fn register(conn: &Connection, ctx: Shared) -> rusqlite::Result<()> {
    conn.create_collation(COLLATION, compare_ci)?;
    let flags = FunctionFlags::SQLITE_UTF8;
    let pure = FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC;

    let c = ctx.clone();
    conn.create_scalar_function("mssql_conv", 2, flags, move |f| conv(&c, f))?;
    let c = ctx.clone();
    conn.create_scalar_function("mssql_identity", 1, flags, move |f| identity(&c, f))?;
    let c = ctx.clone();
    conn.create_scalar_function("mssql_nz", 1, pure, move |f| {
        let v = f.get_raw(0);
        let zero = match v {
            ValueRef::Integer(0) => true,
            ValueRef::Real(x) => x == 0.0,
            _ => false,
        };
        if zero {
            return fail(&c, errors::DIVIDE_BY_ZERO.plain());
        }
        Ok(owned(v))
    })?;
    let c = ctx.clone();
    conn.create_scalar_function("mssql_plus", 2, pure, move |f| plus(&c, f))?;
    let c = ctx.clone();
    conn.create_scalar_function("mssql_session", 1, flags, move |f| {
        let field = text(f.get_raw(0)).unwrap_or_default();
        let g = lock(&c);
        let s = &g.session;
        Ok(match field.as_str() {
            "user" => Sv::Text(s.user.clone()),
            "login" => Sv::Text(s.login.clone()),
            "db" => Sv::Text(s.database.clone()),
            "spid" => Sv::Integer(s.spid),
            "principal_id" => Sv::Integer(s.principal_id),
            "identity" => s.last_identity.map(Sv::Integer).unwrap_or(Sv::Null),
            "rowcount" => Sv::Integer(s.rowcount),
            "trancount" => Sv::Integer(s.trancount),
            "xact_state" => Sv::Integer(i64::from(s.trancount > 0)),
            "lock_timeout" => Sv::Integer(s.lock_timeout),
            "isolation" => Sv::Integer(s.isolation),
            "language" => Sv::Text(s.language.clone()),
            "updateability" => Sv::Text(
                if s.read_only {
                    "READ_ONLY"
                } else {
                    "READ_WRITE"
                }
                .into(),
            ),
            _ => Sv::Null,
        })
    })?;
    let c = ctx.clone();
    conn.create_scalar_function("mssql_session_context", 1, flags, move |f| {
        Ok(match text(f.get_raw(0)) {
            Some(key) => lock(&c).session.context.get(&key),
            None => Sv::Null,
        })
    })?;
    for arity in [1, 2] {
        let c = ctx.clone();
        conn.create_scalar_function("mssql_is_rolemember", arity, flags, move |f| {
            let Some(role) = text(f.get_raw(0)) else {
                return Ok(Sv::Null);
            };
            let role = role.to_lowercase();
            let g = lock(&c);
            if !g.role_names.contains(&role) {
                return Ok(Sv::Null);
            }
            let member = if f.len() > 1 {
                text(f.get_raw(1))
            } else {
                None
            };
            let is_member = match member {
                None => {
                    g.session
                        .roles
                        .iter()
                        .any(|r| r.eq_ignore_ascii_case(&role))
                        || (g.session.is_admin && role == "db_owner")
                }
                Some(m) => g
                    .memberships
                    .get(&m.to_lowercase())
                    .is_some_and(|roles| roles.contains(&role)),
            };
            Ok(Sv::Integer(is_member as i64))
        })?;
    }
    let c = ctx.clone();
    conn.create_scalar_function("mssql_ident_current", 1, flags, move |f| {
        let table = text(f.get_raw(0)).unwrap_or_default().to_lowercase();
        let table = table.rsplit('.').next().unwrap_or("").to_string();
        let identities = lock(&c).identity.clone();
        let counters = lock_identities(&identities);
        Ok(match counters.get(&table) {
            Some(counter) => Sv::Integer(counter.last.unwrap_or(counter.seed)),
            None => Sv::Null,
        })
    })?;
    let c = ctx.clone();
    conn.create_scalar_function("mssql_too_many_values", 0, flags, move |_| {
        fail::<Sv>(&c, errors::SUBQUERY_MANY_VALUES.plain())
    })?;
    conn.create_scalar_function("mssql_now", 0, flags, |_| Ok(Sv::Text(now())))?;
    conn.create_scalar_function("mssql_newid", 0, flags, |_| {
        Ok(Sv::Text(
            uuid::Uuid::new_v4().to_string().to_ascii_uppercase(),
        ))
    })?;
    conn.create_scalar_function("mssql_upper", 1, pure, |f| {
        Ok(text(f.get_raw(0))
            .map(|s| Sv::Text(s.to_uppercase()))
            .unwrap_or(Sv::Null))
    })?;
    conn.create_scalar_function("mssql_lower", 1, pure, |f| {
        Ok(text(f.get_raw(0))
            .map(|s| Sv::Text(s.to_lowercase()))
            .unwrap_or(Sv::Null))
    })?;
    conn.create_scalar_function("mssql_reverse", 1, pure, |f| {
        Ok(text(f.get_raw(0))
            .map(|s| Sv::Text(s.chars().rev().collect()))
            .unwrap_or(Sv::Null))
    })?;
    conn.create_scalar_function("mssql_charindex", 3, pure, |f| {
        let (Some(needle), Some(hay)) = (text(f.get_raw(0)), text(f.get_raw(1))) else {
            return Ok(Sv::Null);
        };
        let start = integer(f.get_raw(2)).unwrap_or(1).max(1) as usize;
        let hay_chars: Vec<char> = hay.chars().flat_map(char::to_lowercase).collect();
        let needle_chars: Vec<char> = needle.chars().flat_map(char::to_lowercase).collect();
        if needle_chars.is_empty() {
            return Ok(Sv::Integer(0));
        }
        let found = (start - 1..hay_chars.len())
            .find(|&i| hay_chars[i..].starts_with(&needle_chars))
            .map(|i| i as i64 + 1)
            .unwrap_or(0);
        Ok(Sv::Integer(found))
    })?;
    for (name, from_right) in [("mssql_left", false), ("mssql_right", true)] {
        let c = ctx.clone();
        conn.create_scalar_function(name, 2, pure, move |f| {
            let Some(s) = text(f.get_raw(0)) else {
                return Ok(Sv::Null);
            };
            let Some(n) = integer(f.get_raw(1)) else {
                return Ok(Sv::Null);
            };
            if n < 0 {
                let function = if from_right { "right" } else { "left" };
                return fail(&c, errors::INVALID_LENGTH.with(&[function]));
            }
            let chars: Vec<char> = s.chars().collect();
            let n = (n as usize).min(chars.len());
            let part: String = if from_right {
                chars[chars.len() - n..].iter().collect()
            } else {
                chars[..n].iter().collect()
            };
            Ok(Sv::Text(part))
        })?;
    }
    let c = ctx.clone();
    conn.create_scalar_function("mssql_replicate", 2, pure, move |f| {
        let (Some(s), Some(n)) = (text(f.get_raw(0)), integer(f.get_raw(1))) else {
            return Ok(Sv::Null);
        };
        if n < 0 {
            return Ok(Sv::Null);
        }
        if (n as usize).saturating_mul(s.len()) > 100_000_000 {
            return fail(&c, errors::INVALID_LENGTH.with(&["replicate"]));
        }
        Ok(Sv::Text(s.repeat(n as usize)))
    })?;
    conn.create_scalar_function("mssql_round", 2, pure, |f| {
        let digits = integer(f.get_raw(1)).unwrap_or(0).clamp(-38, 38) as i32;
        Ok(match f.get_raw(0) {
            ValueRef::Integer(i) if digits >= 0 => Sv::Integer(i),
            ValueRef::Integer(i) => {
                let factor = 10f64.powi(-digits);
                Sv::Integer(((i as f64 / factor).round() * factor) as i64)
            }
            ValueRef::Real(x) => {
                let factor = 10f64.powi(digits);
                Sv::Real((x * factor).round() / factor)
            }
            other => owned(other),
        })
    })?;
    for (name, op) in [
        ("mssql_ceiling", f64::ceil as fn(f64) -> f64),
        ("mssql_floor", f64::floor),
        ("mssql_sqrt", f64::sqrt),
        ("mssql_exp", f64::exp),
        ("mssql_log", f64::ln),
        ("mssql_log10", f64::log10),
    ] {
        conn.create_scalar_function(name, 1, pure, move |f| {
            Ok(match f.get_raw(0) {
                ValueRef::Integer(i) if name == "mssql_ceiling" || name == "mssql_floor" => {
                    Sv::Integer(i)
                }
                ValueRef::Integer(i) => Sv::Real(op(i as f64)),
                ValueRef::Real(x) => Sv::Real(op(x)),
                ValueRef::Null => Sv::Null,
                other => match text(other).and_then(|t| t.trim().parse::<f64>().ok()) {
                    Some(x) => Sv::Real(op(x)),
                    None => Sv::Null,
                },
            })
        })?;
    }
    conn.create_scalar_function("mssql_power", 2, pure, |f| {
        let base = f.get_raw(0);
        let exp = match f.get_raw(1) {
            ValueRef::Integer(i) => i as f64,
            ValueRef::Real(x) => x,
            _ => return Ok(Sv::Null),
        };
        Ok(match base {
            ValueRef::Integer(b) => {
                let r = (b as f64).powf(exp);
                if r.fract() == 0.0 && r.abs() < 9.2e18 {
                    Sv::Integer(r as i64)
                } else {
                    Sv::Real(r)
                }
            }
            ValueRef::Real(b) => Sv::Real(b.powf(exp)),
            _ => Sv::Null,
        })
    })?;
    let c = ctx.clone();
    conn.create_scalar_function("mssql_dateadd", 3, pure, move |f| {
        let part = text(f.get_raw(0)).unwrap_or_default();
        let (Some(n), Some(d)) = (integer(f.get_raw(1)), text(f.get_raw(2))) else {
            return Ok(Sv::Null);
        };
        match date_arithmetic::add(&part, n, &d) {
            Ok(v) => Ok(Sv::Text(v)),
            Err(e) => fail(&c, e),
        }
    })?;
    let c = ctx.clone();
    conn.create_scalar_function("mssql_datediff", 3, pure, move |f| {
        let part = text(f.get_raw(0)).unwrap_or_default();
        let (Some(a), Some(b)) = (text(f.get_raw(1)), text(f.get_raw(2))) else {
            return Ok(Sv::Null);
        };
        match date_arithmetic::diff(&part, &a, &b) {
            Ok(v) => Ok(Sv::Integer(v)),
            Err(e) => fail(&c, e),
        }
    })?;
    let c = ctx;
    conn.create_scalar_function("mssql_datepart", 2, pure, move |f| {
        let part = text(f.get_raw(0)).unwrap_or_default();
        let Some(d) = text(f.get_raw(1)) else {
            return Ok(Sv::Null);
        };
        match date_arithmetic::part(&part, &d) {
            Ok(v) => Ok(Sv::Integer(v)),
            Err(e) => fail(&c, e),
        }
    })?;
    Ok(())
}

fn spec(ctx: &Shared, f: &Context<'_>, index: usize) -> rusqlite::Result<Spec> {
    let id = f.get::<i64>(index)? as usize;
    let g = lock(ctx);
    g.specs
        .get(id)
        .cloned()
        .ok_or_else(|| rusqlite::Error::UserFunctionError("conversion spec out of range".into()))
}

fn remember_key(ctx: &Shared, key_column: &Option<String>, value: &Sv) {
    if let Some(column) = key_column {
        let shown = match value {
            Sv::Null => "<NULL>".to_string(),
            Sv::Integer(i) => i.to_string(),
            Sv::Real(f) => values::format_real(*f, None),
            Sv::Text(t) => t.clone(),
            Sv::Blob(b) => format!("0x{}", values::hex(b)),
        };
        let mut g = lock(ctx);
        match g.last_key.iter_mut().find(|(c, _)| c == column) {
            Some(slot) => slot.1 = shown,
            None => g.last_key.push((column.clone(), shown)),
        }
    }
}

fn conv(ctx: &Shared, f: &Context<'_>) -> rusqlite::Result<Sv> {
    match spec(ctx, f, 1)? {
        Spec::Convert {
            target,
            source,
            mode,
            key_column,
        } => match conversion::convert(f.get_raw(0), &target, source.as_ref(), &mode) {
            Ok(v) => {
                remember_key(ctx, &key_column, &v);
                Ok(v)
            }
            Err(e) => fail(ctx, e),
        },
        Spec::IdentitySeen {
            table,
            target,
            source,
            mode,
            key_column,
        } => match conversion::convert(f.get_raw(0), &target, source.as_ref(), &mode) {
            Ok(v) => {
                remember_key(ctx, &key_column, &v);
                if let Sv::Integer(i) = v {
                    let mut g = lock(ctx);
                    let identities = g.identity.clone();
                    if let Some(counter) = lock_identities(&identities).get_mut(&table) {
                        let past = match counter.last {
                            None => true,
                            Some(last) => {
                                (counter.step > 0 && i > last) || (counter.step < 0 && i < last)
                            }
                        };
                        if past {
                            counter.last = Some(i);
                        }
                    }
                    g.session.last_identity = Some(i);
                }
                Ok(v)
            }
            Err(e) => fail(ctx, e),
        },
        Spec::Identity { .. } => Err(rusqlite::Error::UserFunctionError(
            "mssql_conv given an identity spec".into(),
        )),
    }
}

fn identity(ctx: &Shared, f: &Context<'_>) -> rusqlite::Result<Sv> {
    let Spec::Identity { table, key_column } = spec(ctx, f, 0)? else {
        return Err(rusqlite::Error::UserFunctionError(
            "mssql_identity given a conversion spec".into(),
        ));
    };
    let next = {
        let mut g = lock(ctx);
        let identities = g.identity.clone();
        let mut counters = lock_identities(&identities);
        let Some(counter) = counters.get_mut(&table) else {
            return Err(rusqlite::Error::UserFunctionError(
                format!("no identity counter for {table}").into(),
            ));
        };
        let next = counter.next();
        if let Some(v) = next {
            counter.last = Some(v);
            g.session.last_identity = Some(v);
        }
        next
    };
    match next {
        Some(v) => {
            let value = Sv::Integer(v);
            remember_key(ctx, &key_column, &value);
            Ok(value)
        }
        None => fail(ctx, errors::ARITHMETIC_OVERFLOW.with(&["IDENTITY", "int"])),
    }
}

/// `+` when neither side's type was known before running: numbers add, strings concatenate, a
/// string and a number add after converting the string (SQL Server's precedence).
fn plus(ctx: &Shared, f: &Context<'_>) -> rusqlite::Result<Sv> {
    let (a, b) = (f.get_raw(0), f.get_raw(1));
    let numeric = |v: &ValueRef<'_>| matches!(v, ValueRef::Integer(_) | ValueRef::Real(_));
    match (&a, &b) {
        (ValueRef::Null, _) | (_, ValueRef::Null) => Ok(Sv::Null),
        (ValueRef::Text(x), ValueRef::Text(y)) => {
            let mut s = String::from_utf8_lossy(x).into_owned();
            s.push_str(&String::from_utf8_lossy(y));
            Ok(Sv::Text(s))
        }
        (ValueRef::Integer(x), ValueRef::Integer(y)) => match x.checked_add(*y) {
            Some(v) => Ok(Sv::Integer(v)),
            None => fail(
                ctx,
                errors::ARITHMETIC_OVERFLOW.with(&["expression", "bigint"]),
            ),
        },
        _ if numeric(&a) || numeric(&b) => {
            let target = if matches!(a, ValueRef::Real(_)) || matches!(b, ValueRef::Real(_)) {
                SqlType::Float
            } else {
                SqlType::BigInt
            };
            let x = conversion::convert(a, &target, None, &Mode::Implicit);
            let y = conversion::convert(b, &target, None, &Mode::Implicit);
            match (x, y) {
                (Ok(Sv::Integer(x)), Ok(Sv::Integer(y))) => Ok(Sv::Integer(x.wrapping_add(y))),
                (Ok(Sv::Real(x)), Ok(Sv::Real(y))) => Ok(Sv::Real(x + y)),
                (Err(e), _) | (_, Err(e)) => fail(ctx, e),
                _ => Ok(Sv::Null),
            }
        }
        _ => Ok(Sv::Null),
    }
}

/// The current UTC time as `DATETIME2` text (Azure SQL Database runs in UTC).
pub(crate) fn now() -> String {
    let now = time::OffsetDateTime::now_utc();
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}.{:07}",
        now.year(),
        now.month() as u8,
        now.day(),
        now.hour(),
        now.minute(),
        now.second(),
        now.nanosecond() / 100
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_collation_ignores_case_and_trailing_blanks() {
        assert_eq!(compare_ci("John", "JOHN  "), Ordering::Equal);
        assert_eq!(compare_ci("Émily", "émily"), Ordering::Equal);
        assert_eq!(compare_ci("a", "B"), Ordering::Less);
        assert_eq!(
            compare_ci(" a", "a"),
            Ordering::Less,
            "leading blanks count"
        );
    }

    #[test]
    fn identity_counters_start_at_the_seed_and_step() {
        let mut c = IdentityCounter {
            seed: 10,
            step: 5,
            last: None,
            range: (i32::MIN as i64, i32::MAX as i64),
        };
        assert_eq!(c.next(), Some(10));
        c.last = Some(10);
        assert_eq!(c.next(), Some(15));
        c.last = Some(i32::MAX as i64);
        assert_eq!(c.next(), None, "past INT's range");
    }
}
