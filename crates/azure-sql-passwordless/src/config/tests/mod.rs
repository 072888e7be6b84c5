//! Tests of the connection-string parser, the builder, the environment reader and the scope
//! table: every keyword and synonym, every error, quoting, pasted portal strings, garbage.
use super::cloud::CLOUDS;
use super::fields::DEFAULT_CONNECTION_LIFETIME;
use super::keywords::{KEYWORDS, UNSUPPORTED};
use super::values::AUTHENTICATION_NAMES;
use super::*;
use rand::{Rng, SeedableRng};
use std::path::Path;
use std::time::Duration;

const SERVER: &str = "Server=tcp:myserver.database.windows.net,1433";
const CLIENT_ID: &str = "3f2504e0-4f89-11d3-9a0c-0305e82c3301";
const SECRET: &str = "S3cr3t-P@ss;w0rd";

/// A self-signed CA certificate, only for PEM parsing (no key anywhere).
const TEST_CA_PEM: &str = "-----BEGIN CERTIFICATE-----
MIIBqTCCAU+gAwIBAgIUcZJjwFYdKDdxkWUjDckZRwDgtg8wCgYIKoZIzj0EAwIw
KTEnMCUGA1UEAwweYXp1cmUtc3FsLXBhc3N3b3JkbGVzcyB0ZXN0IENBMCAXDTI2
MTEyMzE2MjcyOVoYDzIxMjYxMDMwMTYyNzI5WjApMScwJQYDVQQDDB5henVyZS1z
cWwtcGFzc3dvcmRsZXNzIHRlc3QgQ0EwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNC
AASXqvLR+r219iQzM0WbJBdZY/dUMcySI9E/9zKtoMpkxuzTJVK2ej386eo0Txn8
1xIAdGQXYGbov+DIZV2CkISco1MwUTAdBgNVHQ4EFgQUWyt5lNZ8pgKV33veTeDR
Oe/+INgwHwYDVR0jBBgwFoAUWyt5lNZ8pgKV33veTeDROe/+INgwDwYDVR0TAQH/
BAUwAwEB/zAKBggqhkjOPQQDAgNIADBFAiEAgCU4JZmaIat8TTM9G6XStRkReOvv
3fYz4DdOH39/YDgCIEfSPeV2mtv9S89+gnvvrmY5hvxnSY8jl+Yij0gvJTbJ
-----END CERTIFICATE-----
";

fn parse(s: &str) -> Config {
    match s.parse::<Config>() {
        Ok(c) => c,
        Err(e) => panic!("`{s}` should parse, got: {e}"),
    }
}

fn parse_err(s: &str) -> ConfigError {
    match s.parse::<Config>() {
        Ok(c) => panic!("`{s}` should fail, parsed as {c:?}"),
        Err(e) => e,
    }
}

fn with(extra: &str) -> Config {
    parse(&format!("{SERVER};{extra}"))
}

fn with_err(extra: &str) -> ConfigError {
    parse_err(&format!("{SERVER};{extra}"))
}

mod keywords;
mod settings;
mod strings;

// ----- the docs stay in sync with the table ---------------------------------------------

#[test]
fn every_keyword_is_in_the_documented_table() {
    // The keyword table is Config's documentation (config/fields.rs).
    let docs: String = include_str!("../fields.rs")
        .lines()
        .filter_map(|l| {
            l.trim_start()
                .strip_prefix("//!")
                .or(l.trim_start().strip_prefix("///"))
        })
        .collect::<Vec<_>>()
        .join("\n");
    for name in KEYWORDS
        .iter()
        .flat_map(|k| k.names.iter())
        .chain(UNSUPPORTED.iter().flat_map(|k| k.names.iter().take(1)))
    {
        assert!(
            docs.contains(&format!("`{name}`")),
            "keyword `{name}` is missing from the module docs"
        );
    }
    for cloud in CLOUDS {
        assert!(
            docs.contains(&format!("`{}`", cloud.suffix)),
            "suffix {} is missing from the docs",
            cloud.suffix
        );
    }
    for name in AUTHENTICATION_NAMES {
        assert!(
            docs.contains(&format!("`{name}`")),
            "`{name}` is missing from the docs"
        );
    }
}
