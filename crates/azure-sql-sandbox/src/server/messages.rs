//! The SQL Server messages the server raises itself (not the engine) — login failures, Azure SQL's
//! transient errors (what the fault switches inject), the mid-session token revalidation error,
//! protocol errors — worded as SQL Server and Azure SQL word them, in one table.

use crate::sql::SqlError;

fn message(number: u32, state: u8, severity: u8, text: String) -> SqlError {
    SqlError {
        number,
        state,
        severity,
        message: text,
        line: 1,
    }
}

/// The principal Azure SQL names in an 18456 for an access-token login.
const TOKEN_PRINCIPAL: &str = "Login failed for user '<token-identified principal>'.";

/// 18456 for a valid token whose identity has no user in the database (or a login the server
/// refuses for a reason it does not tell): the plain text, e.g. a managed identity logging in
/// to `master` (Azure/sql-action#213).
pub fn login_failed_token() -> SqlError {
    message(18456, 1, 14, TOKEN_PRINCIPAL.into())
}

/// 18456 for a token that is genuine but expired, at login or when a session is revalidated:
/// "Msg 18456, Level 14, State 233 ... Token is expired." (microsoft/azuredatastudio#14497; the
/// same text at login in microsoft/mssql-jdbc#1944 and dotnet/SqlClient#3245).
pub fn login_failed_token_expired() -> SqlError {
    message(
        18456,
        233,
        14,
        format!("{TOKEN_PRINCIPAL} Token is expired."),
    )
}

/// 18456 for a token the server does not take: another tenant or audience, another cloud, not a
/// token at all (microsoft/vscode-mssql#18966, a sovereign cloud; Azure/azure-sdk-for-python#45216,
/// a token sent in UTF-8 instead of UTF-16; microsoft/azuredatastudio#21422). No public thread
/// shows its state: 1, as SQL Server reports 18456 to clients.
pub fn login_failed_token_not_accepted() -> SqlError {
    message(
        18456,
        1,
        14,
        format!("{TOKEN_PRINCIPAL} The server is not currently configured to accept this token."),
    )
}

/// 18452: Windows (SSPI) authentication, which Azure SQL Database does not offer.
pub fn integrated_auth_not_supported() -> SqlError {
    message(
        18452,
        1,
        14,
        "Login failed. The login is from an untrusted domain and cannot be used with Integrated authentication."
            .into(),
    )
}

/// 37396: a request on a session whose login token has expired, once the server revalidates
/// (Azure SQL does after maintenance). The session stays open; every request fails.
pub fn session_token_expired() -> SqlError {
    message(
        37396,
        1,
        16,
        "Query cannot be executed, access token is expired. Please login with a new access token and execute query again."
            .into(),
    )
}

/// 10928 with Resource ID 2: the server has `limit` sessions open already (Learn,
/// troubleshoot-common-errors-issues: "Resource ID: %d. The %s limit for the database is %d and
/// has been reached. ... When Resource ID = 2, this indicates the session limit has been
/// reached", severity 20). Clients retry it as transient.
pub fn session_limit(limit: usize) -> SqlError {
    message(
        10928,
        1,
        20,
        format!(
            "Resource ID : 2. The session limit for the database is {limit} and has been reached. See 'http://go.microsoft.com/fwlink/?LinkId=267637' for assistance."
        ),
    )
}

/// A malformed request (the framing held, the content did not): SQL Server's 4002 family.
pub fn protocol_error(detail: &str) -> SqlError {
    message(
        4002,
        1,
        16,
        format!("The incoming tabular data stream (TDS) protocol stream is incorrect. {detail}"),
    )
}

/// A malformed RPC: SQL Server's 8016 family.
pub fn rpc_protocol_error(detail: &str) -> SqlError {
    message(
        8016,
        1,
        16,
        format!("The incoming tabular data stream (TDS) remote procedure call (RPC) protocol stream is incorrect. {detail}"),
    )
}

/// 2812: an RPC to a procedure the sandbox does not have.
pub fn unknown_procedure(name: &str) -> SqlError {
    message(
        2812,
        62,
        16,
        format!("Could not find stored procedure '{name}'."),
    )
}

/// A request type the sandbox does not serve (bulk load, transaction manager).
pub fn unsupported_request(what: &str) -> SqlError {
    message(
        40517,
        1,
        16,
        format!(
            "Keyword or statement option '{what}' is not supported in this version of SQL Server."
        ),
    )
}

/// A value the engine returned that its column's type cannot carry.
pub fn conversion_failed(detail: &str) -> SqlError {
    message(
        245,
        1,
        16,
        format!("Conversion failed when sending a result value. {detail}"),
    )
}

/// The engine failed unexpectedly (a bug in the sandbox, reported rather than dropped).
pub fn internal_error() -> SqlError {
    message(
        40197,
        1,
        20,
        "The service has encountered an error processing your request. Please try again. Error code 4815."
            .into(),
    )
}

/// The login-time error number `number` (injected by [`crate::faults::Faults::fail_logins`]),
/// with Azure SQL's text and severity for the transient ones.
pub fn login_error(number: u32, database: &str, server: &str, trace_id: &str) -> SqlError {
    let (severity, text) = match number {
        40613 => (
            17,
            format!(
                "Database '{database}' on server '{server}' is not currently available.  Please retry the connection later.  If the problem persists, contact customer support, and provide them the session tracing ID of '{trace_id}'."
            ),
        ),
        40501 => (
            20,
            format!("The service is currently busy. Retry the request after 10 seconds. Incident ID: {trace_id}. Code: 3154116."),
        ),
        40197 => (
            20,
            "The service has encountered an error processing your request. Please try again. Error code 4815."
                .into(),
        ),
        40143 | 40540 => (
            16,
            "The service has encountered an error processing your request. Please try again.".into(),
        ),
        49918 => (
            16,
            "Cannot process request. Not enough resources to process request. The service is currently busy. Please retry the request later."
                .into(),
        ),
        49919 => (
            16,
            "Cannot process create or update request. Too many create or update operations in progress for subscription \"0\"."
                .into(),
        ),
        49920 => (
            16,
            "Cannot process request. Too many operations in progress for subscription \"0\".".into(),
        ),
        4060 => (
            11,
            format!("Cannot open database \"{database}\" requested by the login. The login failed."),
        ),
        4221 => (
            16,
            "Login to read-secondary failed due to long wait on 'HADR_DATABASE_WAIT_FOR_TRANSITION_TO_VERSIONING'. The replica is not available for login because row versions are missing for transactions that were in-flight when the replica was recycled. The issue can be resolved by rolling back or committing the active transactions on the primary replica. Occurrences of this condition can be minimized by avoiding long write transactions on the primary."
                .into(),
        ),
        // Learn, "Troubleshoot common connection issues to Azure SQL Database", resource
        // governance errors: both severity 20, Resource ID 1 for workers.
        10928 => (
            20,
            "Resource ID : 1. The request limit for the database is 30 and has been reached. See 'http://go.microsoft.com/fwlink/?LinkId=267637' for assistance."
                .into(),
        ),
        10929 => (
            20,
            "Resource ID : 1. The request minimum guarantee is 0, maximum limit is 30, and the current usage for the database is 30. However, the server is currently too busy to support requests greater than 0 for this database. See 'http://go.microsoft.com/fwlink/?LinkId=267637' for assistance. Otherwise, please try again later."
                .into(),
        ),
        42108 => (
            16,
            "Can not connect to the SQL pool since it is paused. Please resume the SQL pool and try again."
                .into(),
        ),
        42109 => (16, "The SQL pool is warming up. Please try again.".into()),
        233 => (
            20,
            "A connection was successfully established with the server, but then an error occurred during the login process."
                .into(),
        ),
        18456 => return login_failed_token(),
        other => (
            16,
            format!("The service has encountered an error processing your request. Please try again. Error code {other}."),
        ),
    };
    message(number, 1, severity, text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transient_login_errors_carry_azure_texts() {
        let e = login_error(40613, "customers", "sandbox", "TRACE");
        assert_eq!(e.number, 40613);
        assert!(e
            .message
            .starts_with("Database 'customers' on server 'sandbox' is not currently available."));
        assert!(e.message.contains("'TRACE'"));
        assert_eq!(
            login_error(4060, "nope", "s", "t").message,
            "Cannot open database \"nope\" requested by the login. The login failed."
        );
        assert_eq!(login_error(18456, "d", "s", "t"), login_failed_token());
        for n in [
            40501, 40197, 40143, 40540, 49918, 49919, 49920, 4221, 10928, 10929, 42108, 42109, 233,
            12345,
        ] {
            let e = login_error(n, "d", "s", "t");
            assert_eq!(e.number, n);
            assert!(e.severity > 10 && !e.message.is_empty());
        }
    }

    #[test]
    fn the_token_failures_name_no_principal_and_say_why() {
        assert_eq!(
            login_failed_token().message,
            "Login failed for user '<token-identified principal>'."
        );
        assert_eq!(login_failed_token().severity, 14);
        let expired = login_failed_token_expired();
        assert_eq!(
            (expired.number, expired.severity, expired.state),
            (18456, 14, 233)
        );
        assert_eq!(
            expired.message,
            "Login failed for user '<token-identified principal>'. Token is expired."
        );
        assert_eq!(
            login_failed_token_not_accepted().message,
            "Login failed for user '<token-identified principal>'. The server is not currently configured to accept this token."
        );
        assert_eq!(session_token_expired().number, 37396);
        let limit = session_limit(300);
        assert_eq!((limit.number, limit.severity), (10928, 20));
        assert!(limit.message.starts_with(
            "Resource ID : 2. The session limit for the database is 300 and has been reached."
        ));
    }
}
