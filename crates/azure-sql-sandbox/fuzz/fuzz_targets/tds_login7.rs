//! LOGIN7 (with its FEATUREEXT, FEDAUTH among them): any payload parses or is refused with an
//! error. What parses must not show its password or token in `Debug`.
#![no_main]

use azure_sql_sandbox::tds::login7::Login7;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(login) = Login7::parse(data) {
        let _ = login.read_only_intent();
        let _ = format!("{login:?}");
    }
});
