//! PRELOGIN: any payload parses or is refused with an error; what parses negotiates.
#![no_main]

use azure_sql_sandbox::tds::prelogin::{negotiate_encryption, PreloginRequest};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(request) = PreloginRequest::parse(data) {
        let _ = negotiate_encryption(request.encryption);
        let _ = format!("{request:?}");
    }
});
