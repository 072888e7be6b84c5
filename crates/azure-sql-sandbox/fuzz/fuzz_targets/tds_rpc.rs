//! RPC requests (sp_executesql, sp_prepare, ... and their typed parameters): any payload parses
//! or is refused with an error.
#![no_main]

use azure_sql_sandbox::tds::rpc;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(requests) = rpc::parse(data) {
        let _ = format!("{requests:?}");
    }
});
