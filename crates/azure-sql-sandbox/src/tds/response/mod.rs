//! The response tokens (MS-TDS 2.2.7), one token type to a file. Each token encodes itself onto
//! the end of a response buffer; the session joins them into one TABULAR_RESULT message.

mod colmetadata;
mod done;
mod envchange;
mod featureextack;
mod fedauthinfo;
mod loginack;
mod message;
mod returnstatus;
mod returnvalue;
mod row;

pub use colmetadata::ColMetaData;
pub use done::{status as done_status, Done, DoneKind};
pub use envchange::EnvChange;
pub use featureextack::{FeatureAck, FeatureExtAck};
pub use fedauthinfo::FedAuthInfo;
pub use loginack::LoginAck;
pub use message::{Message, MessageKind};
pub use returnstatus::ReturnStatus;
pub use returnvalue::ReturnValue;
pub use row::Row;

/// Token type bytes.
pub mod token_type {
    /// RETURNSTATUS.
    pub const RETURNSTATUS: u8 = 0x79;
    /// RETURNVALUE.
    pub const RETURNVALUE: u8 = 0xAC;
    /// COLMETADATA.
    pub const COLMETADATA: u8 = 0x81;
    /// ERROR.
    pub const ERROR: u8 = 0xAA;
    /// INFO.
    pub const INFO: u8 = 0xAB;
    /// LOGINACK.
    pub const LOGINACK: u8 = 0xAD;
    /// FEATUREEXTACK.
    pub const FEATUREEXTACK: u8 = 0xAE;
    /// ROW.
    pub const ROW: u8 = 0xD1;
    /// ENVCHANGE.
    pub const ENVCHANGE: u8 = 0xE3;
    /// FEDAUTHINFO.
    pub const FEDAUTHINFO: u8 = 0xEE;
    /// DONE.
    pub const DONE: u8 = 0xFD;
    /// DONEPROC.
    pub const DONEPROC: u8 = 0xFE;
    /// DONEINPROC.
    pub const DONEINPROC: u8 = 0xFF;
}
