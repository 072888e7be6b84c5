//! How each SQL Server type travels, in the codec's own terms: [`TypeInfo`], the TYPE_INFO of a
//! result column or output parameter (MS-TDS 2.2.5.4); [`ColumnData`], one value (2.2.5.5); and
//! the TYPE_INFO type bytes. The codec knows nothing of the SQL engine: the server translates
//! the engine's types and values into these (as tiberius's codec owns its `ColumnData`).
//!
//! - Out (COLMETADATA, ROW, RETURNVALUE; [`put_type_info`], [`put_value`]): every [`TypeInfo`],
//!   with the database collation on character types and PLP (partially length-prefixed) values
//!   for the `MAX` types.
//! - In (RPC parameters; [`read_type_info`], [`read_value`]): the types drivers send, read into
//!   [`ColumnData`].

mod decode;
mod encode;

pub use decode::{read_type_info, read_value, ParamType};
pub use encode::{put_type_info, put_value, type_name};

use std::borrow::Cow;

/// The type of a result column or output parameter, as it goes out in TYPE_INFO.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TypeInfo {
    /// `TINYINT`
    TinyInt,
    /// `SMALLINT`
    SmallInt,
    /// `INT`
    Int,
    /// `BIGINT`
    BigInt,
    /// `BIT`
    Bit,
    /// `REAL`
    Real,
    /// `FLOAT`
    Float,
    /// `DECIMAL(p, s)` / `NUMERIC(p, s)`
    Decimal {
        /// Total digits, 1..=38.
        precision: u8,
        /// Digits after the point.
        scale: u8,
    },
    /// `CHAR(n)`
    Char(u16),
    /// `VARCHAR(n)` / `VARCHAR(MAX)`
    VarChar(Length),
    /// `NCHAR(n)`
    NChar(u16),
    /// `NVARCHAR(n)` / `NVARCHAR(MAX)`
    NVarChar(Length),
    /// `VARBINARY(n)` / `VARBINARY(MAX)`
    VarBinary(Length),
    /// `UNIQUEIDENTIFIER`
    UniqueIdentifier,
    /// `DATETIME2(7)`
    DateTime2,
    /// `SQL_VARIANT`: each value carries its own base type, taken from the value.
    Variant,
}

/// The declared length of a variable-length type: characters for `CHAR`/`VARCHAR`/`NVARCHAR`,
/// bytes for `VARBINARY`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Length {
    /// `(n)`, 1..=8000 (1..=4000 for `NVARCHAR`).
    Fixed(u16),
    /// `(MAX)`: values travel as PLP.
    Max,
}

/// One value: a column of a ROW, an output parameter, or an RPC parameter read from the wire.
/// Borrowed on the way out, owned on the way in.
#[derive(Clone, Debug, PartialEq)]
pub enum ColumnData<'a> {
    /// `NULL`
    Null,
    /// `BIT`
    Bool(bool),
    /// Any integer type.
    Int(i64),
    /// `REAL` / `FLOAT`
    Float(f64),
    /// `DECIMAL` / `NUMERIC` / `MONEY`, as its exact decimal text (`"12.50"`).
    Decimal(Cow<'a, str>),
    /// Character types, `UNIQUEIDENTIFIER` (`6F9619FF-8B86-D011-B42D-00C04FC964FF`) and the
    /// date and time types (`YYYY-MM-DD hh:mm:ss.fffffff`).
    Text(Cow<'a, str>),
    /// Binary types.
    Bytes(Cow<'a, [u8]>),
}

/// A result column as COLMETADATA describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ColumnMeta<'a> {
    /// The column name (empty for an unnamed expression).
    pub name: &'a str,
    /// Its type.
    pub ty: TypeInfo,
    /// Whether it may hold `NULL`.
    pub nullable: bool,
}

/// TYPE_INFO type bytes.
pub mod ty {
    /// NULLTYPE: a parameter value of unknown type that is NULL.
    pub const NULL: u8 = 0x1F;
    /// `TINYINT NOT NULL`.
    pub const INT1: u8 = 0x30;
    /// `BIT NOT NULL`.
    pub const BIT: u8 = 0x32;
    /// `SMALLINT NOT NULL`.
    pub const INT2: u8 = 0x34;
    /// `INT NOT NULL`.
    pub const INT4: u8 = 0x38;
    /// `SMALLDATETIME NOT NULL`.
    pub const DATETIM4: u8 = 0x3A;
    /// `REAL NOT NULL`.
    pub const FLT4: u8 = 0x3B;
    /// `MONEY NOT NULL`.
    pub const MONEY: u8 = 0x3C;
    /// `DATETIME NOT NULL`.
    pub const DATETIME: u8 = 0x3D;
    /// `FLOAT NOT NULL`.
    pub const FLT8: u8 = 0x3E;
    /// `SMALLMONEY NOT NULL`.
    pub const MONEY4: u8 = 0x7A;
    /// `BIGINT NOT NULL`.
    pub const INT8: u8 = 0x7F;
    /// `UNIQUEIDENTIFIER`.
    pub const GUID: u8 = 0x24;
    /// Nullable integers (length 1, 2, 4, 8).
    pub const INTN: u8 = 0x26;
    /// Legacy `DECIMAL`.
    pub const DECIMAL: u8 = 0x37;
    /// Legacy `NUMERIC`.
    pub const NUMERIC: u8 = 0x3F;
    /// Nullable `BIT`.
    pub const BITN: u8 = 0x68;
    /// `DECIMAL(p, s)`.
    pub const DECIMALN: u8 = 0x6A;
    /// `NUMERIC(p, s)`.
    pub const NUMERICN: u8 = 0x6C;
    /// Nullable `REAL`/`FLOAT` (length 4, 8).
    pub const FLTN: u8 = 0x6D;
    /// Nullable `SMALLMONEY`/`MONEY`.
    pub const MONEYN: u8 = 0x6E;
    /// Nullable `SMALLDATETIME`/`DATETIME`.
    pub const DATETIMN: u8 = 0x6F;
    /// `DATE`.
    pub const DATEN: u8 = 0x28;
    /// `TIME(s)`.
    pub const TIMEN: u8 = 0x29;
    /// `DATETIME2(s)`.
    pub const DATETIME2N: u8 = 0x2A;
    /// `DATETIMEOFFSET(s)`.
    pub const DATETIMEOFFSETN: u8 = 0x2B;
    /// `VARBINARY(n|MAX)`.
    pub const BIGVARBIN: u8 = 0xA5;
    /// `VARCHAR(n|MAX)`.
    pub const BIGVARCHR: u8 = 0xA7;
    /// `BINARY(n)`.
    pub const BIGBINARY: u8 = 0xAD;
    /// `CHAR(n)`.
    pub const BIGCHAR: u8 = 0xAF;
    /// `NVARCHAR(n|MAX)`.
    pub const NVARCHAR: u8 = 0xE7;
    /// `NCHAR(n)`.
    pub const NCHAR: u8 = 0xEF;
    /// `XML`.
    pub const XML: u8 = 0xF1;
    /// `TEXT` (legacy; ODBC sends long declarations as it).
    pub const TEXT: u8 = 0x23;
    /// `NTEXT` (legacy; Microsoft's ODBC driver sends `sp_prepexec`'s `@params` as it).
    pub const NTEXT: u8 = 0x63;
    /// `IMAGE` (legacy).
    pub const IMAGE: u8 = 0x22;
    /// SSVARIANTTYPE (`sql_variant`).
    pub const SSVARIANT: u8 = 0x62;
}

/// The length that marks a `MAX` type (its values are PLP).
pub(crate) const MAX_LEN: u16 = 0xFFFF;
/// A NULL PLP value.
pub(crate) const PLP_NULL: u64 = u64::MAX;
/// A PLP value whose total length the sender did not know.
pub(crate) const PLP_UNKNOWN_LEN: u64 = u64::MAX - 1;
