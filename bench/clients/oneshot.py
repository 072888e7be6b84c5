"""bench/peers, one-shot leg, Python: what a fresh process does to print the five customer IDs
with mssql-python (Microsoft ODBC Driver 18) and azure-identity, as Microsoft's Workload Identity
samples do (the versions pinned in interop/mssql-python): a Workload Identity token, a login
through the gateway, the query, exit. Environment: the sandbox's env file and
SSL_CERT_FILE=$AZURE_SQL_SANDBOX_CA."""

import mssql_python

from workload_identity import access_token_attrs, connection_string, credential

conn = mssql_python.connect(connection_string(), attrs_before=access_token_attrs(credential()), autocommit=True)
cursor = conn.cursor()
cursor.execute("SELECT customer_id FROM dbo.Customer ORDER BY customer_id")
for row in cursor.fetchall():
    print(f"Customer ID-->{row[0]}")
conn.close()
