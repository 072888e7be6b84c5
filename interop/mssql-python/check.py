"""Fidelity check of the sandbox with Microsoft's own drivers, as the Python samples use them.

mssql-python (Microsoft's Python driver, from PyPI) carries two native providers: `msodbcsql18`
(Microsoft ODBC Driver 18 for SQL Server) and `mssql-odbc` (Microsoft's Rust driver). For each, this
trades the projected service-account token for an Entra token with azure-identity's
WorkloadIdentityCredential at the sandbox's Entra stand-in, passes it as the UTF-16LE access-token
struct (`SQL_COPT_SS_ACCESS_TOKEN`, 1256) exactly as Microsoft's Workload Identity samples do, logs
in through the sandbox's gateway and reads the Customer rows with and without parameters. Then, as
the sandbox's SQL admin with autocommit off (which the driver implements with TDS transaction
manager requests: begin, and commit or roll back with a new transaction begun), it inserts into a
scratch table, checks that the workload identity's connection does not see the row (and is not
blocked reading), rolls back, checks the row is gone, and commits a second insert. Last, the two
refusals a service meets in Azure (after a check that the driver's pool resets a reused session:
no temporary table or session context survives): a login naming no database (18456: master has no user for the
identity) and an expired token (18456 "Token is expired.", with the token the sandbox writes).

Run: source the env file written by `cargo run -p azure-sql-sandbox -- serve --env-file F` and set
`MSSQL_PYTHON_NATIVE_PROVIDER` (the provider is chosen once per process); `../run` does all of that.
"""

import os
import struct
import sys

SQL_COPT_SS_ACCESS_TOKEN = 1256
SCOPE = "https://database.windows.net/.default"


def env(name):
    value = os.environ.get(name)
    if not value:
        sys.exit(f"mssql-python check: {name} is not set; source the sandbox env file first")
    return value


def access_token_struct(token):
    raw = token.encode("utf-16-le")
    return struct.pack("<I", len(raw)) + raw


def main():
    from azure.identity import WorkloadIdentityCredential
    import mssql_python

    provider = os.environ.get("MSSQL_PYTHON_NATIVE_PROVIDER", "msodbcsql18")
    ca = env("AZURE_SQL_SANDBOX_CA")
    credential = WorkloadIdentityCredential(
        tenant_id=env("AZURE_TENANT_ID"),
        client_id=env("AZURE_CLIENT_ID"),
        token_file_path=env("AZURE_FEDERATED_TOKEN_FILE"),
        authority=env("AZURE_AUTHORITY_HOST"),
        # Not one of Microsoft's clouds: MSAL must not ask login.microsoftonline.com about it.
        disable_instance_discovery=True,
        connection_verify=ca,
    )
    token = credential.get_token(SCOPE).token

    server = env("AZURE_SQL_SERVER")
    database = env("AZURE_SQL_DATABASE")
    conn_str = f"Server={server};Database={database};Encrypt=yes;TrustServerCertificate=no"
    conn = mssql_python.connect(
        conn_str,
        attrs_before={SQL_COPT_SS_ACCESS_TOKEN: access_token_struct(token)},
        autocommit=True,
    )
    try:
        cursor = conn.cursor()
        cursor.execute("SELECT customer_id FROM dbo.Customer ORDER BY customer_id")
        ids = [row[0] for row in cursor.fetchall()]
        if ids != [1, 2, 3, 4, 5]:
            sys.exit(f"mssql-python check ({provider}): expected ids 1..5, got {ids}")
        for customer_id in ids:
            print(f"Customer ID-->{customer_id}")
        cursor.execute(
            "SELECT customer_id, first_name FROM dbo.Customer WHERE active = ? AND customer_id >= ? ORDER BY customer_id",
            (True, 1),
        )
        active = [(row[0], row[1]) for row in cursor.fetchall()]
        if active != [(1, "John"), (4, "Bob")]:
            sys.exit(f"mssql-python check ({provider}): expected active customers John and Bob, got {active}")
        transaction_check(provider, server, database, conn)
    finally:
        conn.close()
    reset_check(provider, conn_str, token)
    refusal_check(provider, server, token)
    print(f"mssql-python check ({provider}): ok (workload identity token via SQL_COPT_SS_ACCESS_TOKEN, gateway redirect, batch and parameters, a transaction rolled back and one committed, a pooled session reset on reuse, 18456 without a database and for an expired token)")


def reset_check(provider, conn_str, token):
    """mssql-python pools connections (on by default); the driver resets a pooled session when it
    hands it out again (RESETCONNECTION on the next request), and puts the isolation level back
    itself, which the server's reset keeps (microsoft/mssql-python#343). The second connection
    gets the first one's session (same @@SPID) with nothing the first left on it."""
    import mssql_python

    def open_session():
        conn = mssql_python.connect(
            conn_str,
            attrs_before={SQL_COPT_SS_ACCESS_TOKEN: access_token_struct(token)},
            autocommit=True,
        )
        cursor = conn.cursor()
        cursor.execute(
            "SELECT @@SPID, @@TRANCOUNT, OBJECT_ID(N'tempdb..#leftover'), "
            "CAST(SESSION_CONTEXT(N'tenant') AS NVARCHAR(20)), "
            "(SELECT transaction_isolation_level FROM sys.dm_exec_sessions WHERE session_id = @@SPID)"
        )
        return conn, cursor, tuple(cursor.fetchone())

    conn, cursor, (spid, _, _, _, _) = open_session()
    cursor.execute("CREATE TABLE #leftover (id INT)")
    cursor.execute("SET TRANSACTION ISOLATION LEVEL SERIALIZABLE")
    cursor.execute("EXEC sp_set_session_context @key = N'tenant', @value = N'first'")
    conn.close()
    conn, cursor, state = open_session()
    conn.close()
    if state[0] != spid:
        sys.exit(f"mssql-python check ({provider}): reset: the pool did not hand the session back (@@SPID {spid}, then {state[0]})")
    if state[1:] != (0, None, None, 2):
        sys.exit(f"mssql-python check ({provider}): reset: a reused session kept state: @@TRANCOUNT, #leftover, session context, isolation level = {state[1:]}")


def refusal_check(provider, server, token):
    """The two refusals a service meets in Azure, as the driver reports them: a login that names
    no database (master, where the workload identity has no user) and an expired token."""
    import mssql_python

    def refused(conn_str, access_token, text, what):
        try:
            conn = mssql_python.connect(
                conn_str,
                attrs_before={SQL_COPT_SS_ACCESS_TOKEN: access_token_struct(access_token)},
                autocommit=True,
            )
        except Exception as exc:  # the driver's error carries the server's text
            message = str(exc)
            if text not in message:
                sys.exit(f"mssql-python check ({provider}): {what}: expected {text!r}, got {message!r}")
            return message
        conn.close()
        sys.exit(f"mssql-python check ({provider}): {what}: the login succeeded; Azure SQL refuses it with {text!r}")

    principal = "Login failed for user '<token-identified principal>'."
    message = refused(
        f"Server={server};Encrypt=yes;TrustServerCertificate=no",
        token,
        principal,
        "no database named",
    )
    if "Token is expired" in message:
        sys.exit(f"mssql-python check ({provider}): no database named: got {message!r}")
    with open(env("AZURE_SQL_SANDBOX_EXPIRED_TOKEN_FILE"), encoding="utf-8") as f:
        expired = f.read().strip()
    refused(
        f"Server={server};Database={env('AZURE_SQL_DATABASE')};Encrypt=yes;TrustServerCertificate=no",
        expired,
        f"{principal[:-1]}. Token is expired.",
        "expired token",
    )


def scratch_ids(cursor):
    cursor.execute("SELECT id FROM dbo.InteropScratch ORDER BY id")
    return [row[0] for row in cursor.fetchall()]


def transaction_check(provider, server, database, reader):
    """Autocommit off: insert, isolation from the reader, rollback, then a commit."""
    import mssql_python

    def fail(what):
        sys.exit(f"mssql-python check ({provider}): transaction: {what}")

    admin_str = (
        f"Server={server};Database={database};UID={env('AZURE_SQL_SANDBOX_ADMIN_USER')};"
        f"PWD={env('AZURE_SQL_SANDBOX_ADMIN_PASSWORD')};Encrypt=yes;TrustServerCertificate=no"
    )
    admin = mssql_python.connect(admin_str, autocommit=True)
    try:
        cursor = admin.cursor()
        cursor.execute(
            "DROP TABLE IF EXISTS dbo.InteropScratch; "
            "CREATE TABLE dbo.InteropScratch (id INT PRIMARY KEY, note NVARCHAR(50))"
        )
        admin.autocommit = False
        cursor.execute("INSERT INTO dbo.InteropScratch (id, note) VALUES (?, ?)", (1, "rolled back"))
        if scratch_ids(cursor) != [1]:
            fail("the inserting connection does not see its own row")
        if scratch_ids(reader.cursor()) != []:
            fail("another connection sees an uncommitted row")
        admin.rollback()
        if scratch_ids(cursor) != []:
            fail("the row is still there after the rollback")
        cursor.execute("INSERT INTO dbo.InteropScratch (id, note) VALUES (?, ?)", (2, "committed"))
        admin.commit()
        if scratch_ids(reader.cursor()) != [2]:
            fail("another connection does not see the committed row")
        admin.autocommit = True
        cursor.execute("DROP TABLE dbo.InteropScratch")
    finally:
        admin.close()


if __name__ == "__main__":
    try:
        main()
    except SystemExit:
        raise
    except Exception as exc:  # one line saying what failed
        sys.exit(f"mssql-python check failed ({os.environ.get('MSSQL_PYTHON_NATIVE_PROVIDER', 'msodbcsql18')}): {type(exc).__name__}: {exc}")
