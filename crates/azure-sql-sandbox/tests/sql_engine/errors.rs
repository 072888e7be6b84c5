//! SQL Server's errors for bad statements, and where a batch stops.

use super::*;

#[test]
fn sql_server_errors_for_bad_statements() {
    let engine = engine();
    let mut s = admin(&engine);
    let check = |s: &mut Session, sql: &str, number: u32, message: &str| {
        let e = fails(&engine, s, sql);
        assert_eq!((e.number, e.message.as_str()), (number, message), "{sql}");
    };
    check(
        &mut s,
        "SELECT * FROM dbo.Custmer",
        208,
        "Invalid object name 'dbo.Custmer'.",
    );
    check(
        &mut s,
        "SELECT nope FROM Customer",
        207,
        "Invalid column name 'nope'.",
    );
    check(
        &mut s,
        "SELECT customer_id FROM Customer a, Customer b",
        209,
        "Ambiguous column name 'customer_id'.",
    );
    check(
        &mut s,
        "SELECT customer_id FROM Customer WHERE",
        156,
        "Incorrect syntax near the keyword 'WHERE'.",
    );
    check(&mut s, "SELECT 1 +* 2", 102, "Incorrect syntax near '*'.");
    check(
        &mut s,
        "SELECT CAST('abc' AS INT)",
        245,
        "Conversion failed when converting the varchar value 'abc' to data type int.",
    );
    check(
        &mut s,
        "SELECT customer_id FROM Customer WHERE customer_id = 'x'",
        245,
        "Conversion failed when converting the varchar value 'x' to data type int.",
    );
    check(
        &mut s,
        "SELECT customer_id / (active - active) FROM Customer",
        8134,
        "Divide by zero error encountered.",
    );
    check(
        &mut s,
        "SELECT @undeclared",
        137,
        "Must declare the scalar variable \"@undeclared\".",
    );
    check(
        &mut s,
        "SELECT NOSUCHFUNCTION(1)",
        195,
        "'NOSUCHFUNCTION' is not a recognized built-in function name.",
    );
    check(&mut s, "SELECT * FROM Customer FOR XML AUTO", 40517, "Keyword or statement option 'FOR XML / FOR JSON' is not supported in this version of SQL Server.");
    check(&mut s, "USE master", 40508, "USE statement is not supported to switch between databases. Use a new connection to connect to a different database.");
    check(
        &mut s,
        "INSERT INTO Customer (first_name, last_name, active) VALUES ('Maximilian-Alexander-Christopher-Wolfgang-Amadeus-Johann', 'X', 1)",
        2628,
        "String or binary data would be truncated in table 'customers.dbo.Customer', column 'first_name'. Truncated value: 'Maximilian-Alexander-Christopher-Wolfgang-Amadeus-'.",
    );
    check(
        &mut s,
        "INSERT INTO Customer (customer_id, first_name) VALUES (1, 'x')",
        544,
        "Cannot insert explicit value for identity column in table 'Customer' when IDENTITY_INSERT is set to OFF.",
    );
    admin_does(
        &engine,
        "CREATE TABLE dbo.Product (sku VARCHAR(10) NOT NULL PRIMARY KEY, price DECIMAL(10, 2) NOT NULL)",
    );
    check(&mut s, "INSERT INTO Product (sku) VALUES ('A1')", 515, "Cannot insert the value NULL into column 'price', table 'customers.dbo.Product'; column does not allow nulls. INSERT fails.");
    admin_does(&engine, "INSERT INTO Product VALUES ('A1', 9.99)");
    let e = fails(
        &engine,
        &mut s,
        "INSERT INTO Product VALUES ('B2', 1), ('A1', 2)",
    );
    assert_eq!((e.number, e.severity), (2627, 14));
    assert!(
        e.message
            .starts_with("Violation of PRIMARY KEY constraint 'PK__Product__"),
        "{}",
        e.message
    );
    assert!(e.message.ends_with("'. Cannot insert duplicate key in object 'dbo.Product'. The duplicate key value is (A1)."), "{}", e.message);
    assert_eq!(
        scalar(&engine, &mut s, "SELECT COUNT(*) FROM Product"),
        Value::Int(1),
        "the failed statement inserted nothing"
    );
    check(&mut s, "UPDATE Product SET price = NULL", 515, "Cannot insert the value NULL into column 'price', table 'customers.dbo.Product'; column does not allow nulls. UPDATE fails.");
    check(
        &mut s,
        "CREATE TABLE Product (a INT)",
        2714,
        "There is already an object named 'Product' in the database.",
    );
}

#[test]
fn a_batch_stops_at_its_first_error_and_says_which_line() {
    let engine = engine();
    let mut s = admin(&engine);
    let out = engine.execute(&mut s,
        "INSERT INTO Customer (first_name) VALUES ('One')\nSELECT COUNT(*) FROM Customer\n\nSELECT * FROM Nowhere\nINSERT INTO Customer (first_name) VALUES ('Two')",
    );
    assert_eq!(out.len(), 3);
    assert_eq!(
        out[0],
        Outcome::Done {
            rows_affected: Some(1)
        }
    );
    assert_eq!(rows(&out[1..2]).rows, vec![vec![Value::Int(6)]]);
    let e = error(&out);
    assert_eq!((e.number, e.line), (208, 4));
    assert_eq!(
        scalar(&engine, &mut s, "SELECT COUNT(*) FROM Customer"),
        Value::Int(6),
        "the statement after the error did not run"
    );
    // A syntax error anywhere means nothing in the batch runs.
    let out = engine.execute(&mut s, "DELETE FROM Customer\nSELECT FROM WHERE");
    assert_eq!(out.len(), 1);
    assert_eq!(error(&out).line, 2);
    assert_eq!(
        scalar(&engine, &mut s, "SELECT COUNT(*) FROM Customer"),
        Value::Int(6)
    );
}
