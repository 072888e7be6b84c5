//! What the sandbox crate's integration tests share, one module for every test binary
//! (`mod support;`): `engine` drives the SQL engine through its API, `tds` starts a TDS server
//! over a prepared engine with a test CA and validator and connects tiberius to it, and `raw`
//! is a TDS client for tests that choose every byte.

// Each test binary uses its own part.
#![allow(dead_code)]

pub mod engine;
pub mod raw;
pub mod tds;
