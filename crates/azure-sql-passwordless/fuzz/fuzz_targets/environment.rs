//! The environment reader (`Config::from_env`): any set of variables (one `NAME=value` a line)
//! gives a configuration or a typed error naming the variable, never a panic.
#![no_main]

use azure_sql_passwordless::Config;
use libfuzzer_sys::fuzz_target;
use std::collections::HashMap;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let vars: HashMap<&str, &str> = text
        .lines()
        .filter_map(|line| line.split_once('='))
        .collect();
    match Config::from_env_with(|name| vars.get(name).map(|v| v.to_string())) {
        Ok(config) => {
            let _ = format!("{config:?}");
        }
        Err(error) => {
            let _ = error.to_string();
        }
    }
});
