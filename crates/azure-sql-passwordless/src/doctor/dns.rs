//! The doctor's DNS lookup, shared by the Entra and SQL steps: the addresses a name has, within
//! a bound, and the report's line saying what was found.

use std::net::SocketAddr;
use std::time::Duration;

/// What a lookup found.
pub(crate) enum Lookup {
    /// The name's addresses.
    Found(Vec<SocketAddr>),
    /// The resolver answered that the name does not exist (or the lookup failed).
    NoSuchName,
    /// The resolver did not answer within the bound.
    NoAnswer,
}

/// Looks `host` up (with `port`, for the socket addresses) within `bound`; returns what it
/// found and the report's line (`DNS: ...`).
pub(crate) async fn resolve(host: &str, port: u16, bound: Duration) -> (Lookup, String) {
    match tokio::time::timeout(bound, tokio::net::lookup_host((host, port))).await {
        Ok(Ok(found)) => {
            let found: Vec<_> = found.collect();
            let line = format!("DNS: {host} is {}", shown_addresses(&found));
            (Lookup::Found(found), line)
        }
        Ok(Err(e)) => (
            Lookup::NoSuchName,
            format!("DNS: {host} does not resolve: {e}"),
        ),
        Err(_) => (
            Lookup::NoAnswer,
            format!("DNS: no answer for {host} within {bound:?}"),
        ),
    }
}

/// `a, b, c` (at most four, without ports).
fn shown_addresses(addresses: &[SocketAddr]) -> String {
    let mut ips: Vec<String> = Vec::new();
    for a in addresses {
        let ip = a.ip().to_string();
        if !ips.contains(&ip) {
            ips.push(ip);
        }
    }
    ips.truncate(4);
    ips.join(", ")
}
