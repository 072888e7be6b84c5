//! `customers`: prints the Customer table's IDs over a passwordless Azure SQL connection.
//! (Skeleton: the demo is being built on the library.)
fn main() {
    eprintln!("customers: the demo is being built");
    std::process::exit(2);
}
