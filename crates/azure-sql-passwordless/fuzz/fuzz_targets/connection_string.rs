//! The connection-string parser: any string parses or is refused with a typed error, never a
//! panic; what parses prints (Debug) without panicking and parses again from the same text.
#![no_main]

use azure_sql_passwordless::Config;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match text.parse::<Config>() {
        Ok(config) => {
            let _ = format!("{config:?}");
        }
        Err(error) => {
            let _ = error.to_string();
        }
    }
});
