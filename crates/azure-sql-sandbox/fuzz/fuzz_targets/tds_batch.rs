//! The other request payloads after login: SQL batches, transaction-manager requests and the
//! FEDAUTH token message. Any payload parses or is refused with an error.
#![no_main]

use azure_sql_sandbox::tds::batch::SqlBatch;
use azure_sql_sandbox::tds::fedauth_message::FedAuthMessage;
use azure_sql_sandbox::tds::tm_request::TmRequest;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = SqlBatch::parse(data);
    let _ = TmRequest::parse(data);
    let _ = FedAuthMessage::parse(data);
});
