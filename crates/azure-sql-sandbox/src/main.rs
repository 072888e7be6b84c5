//! `azure-sql-sandbox serve`: starts every stand-in on loopback and writes the env file.
fn main() {
    eprintln!("azure-sql-sandbox: `serve` is being built; see crates/azure-sql-sandbox/src/lib.rs");
    std::process::exit(2);
}
