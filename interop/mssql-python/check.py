"""Fidelity check of the sandbox with Microsoft's own drivers, as the Python samples use them.

mssql-python (Microsoft's Python driver, from PyPI) carries two native providers: `msodbcsql18`
(Microsoft ODBC Driver 18 for SQL Server) and `mssql-odbc` (Microsoft's Rust driver). For each, this
trades the projected service-account token for an Entra token with azure-identity's
WorkloadIdentityCredential at the sandbox's Entra stand-in, passes it as the UTF-16LE access-token
struct (`SQL_COPT_SS_ACCESS_TOKEN`, 1256) exactly as Microsoft's Workload Identity samples do, logs
in through the sandbox's gateway and reads the Customer rows with and without parameters.

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
    finally:
        conn.close()
    print(f"mssql-python check ({provider}): ok (workload identity token via SQL_COPT_SS_ACCESS_TOKEN, gateway redirect, batch and parameters)")


if __name__ == "__main__":
    try:
        main()
    except SystemExit:
        raise
    except Exception as exc:  # one line saying what failed
        sys.exit(f"mssql-python check failed ({os.environ.get('MSSQL_PYTHON_NATIVE_PROVIDER', 'msodbcsql18')}): {type(exc).__name__}: {exc}")
