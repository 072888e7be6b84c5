//! The demo's one query: the Customer table's IDs, in order.

use anyhow::Context;
use azure_sql_passwordless::Connection;

/// What the demo runs. Least privilege: `db_datareader` is enough.
pub const CUSTOMER_IDS: &str = "SELECT customer_id FROM dbo.Customer ORDER BY customer_id";

/// Runs [`CUSTOMER_IDS`] on `conn`. The library's error stays in the chain (for the exit
/// status and its advice); a row that is not an `INT` says so.
pub async fn customer_ids(conn: &mut Connection) -> anyhow::Result<Vec<i32>> {
    let rows = conn
        .simple_query(CUSTOMER_IDS)
        .await
        .context("querying dbo.Customer failed")?
        .into_first_result()
        .await
        .context("reading dbo.Customer's rows failed")?;
    rows.iter()
        .enumerate()
        .map(|(i, row)| match row.try_get::<i32, _>(0) {
            Ok(Some(id)) => Ok(id),
            Ok(None) => anyhow::bail!("dbo.Customer row {}: customer_id is NULL", i + 1),
            Err(e) => Err(anyhow::anyhow!(
                "dbo.Customer row {}: customer_id is not an INT ({e}); the table should be as sql/01_customer_table.sql creates it",
                i + 1
            )),
        })
        .collect()
}
