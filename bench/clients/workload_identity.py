"""What bench/clients' Python programs share: azure-identity's WorkloadIdentityCredential from the
variables the Workload Identity webhook sets (the sandbox's env file here), the connection string,
and a token as ODBC's SQL_COPT_SS_ACCESS_TOKEN wants it."""

import os
import struct

from azure.identity import WorkloadIdentityCredential

SCOPE = "https://database.windows.net/.default"
SQL_COPT_SS_ACCESS_TOKEN = 1256


def credential(env=os.environ):
    return WorkloadIdentityCredential(
        tenant_id=env["AZURE_TENANT_ID"],
        client_id=env["AZURE_CLIENT_ID"],
        token_file_path=env["AZURE_FEDERATED_TOKEN_FILE"],
        authority=env["AZURE_AUTHORITY_HOST"],
        # Not one of Microsoft's clouds: MSAL must not ask login.microsoftonline.com about it.
        disable_instance_discovery=True,
        connection_verify=env["AZURE_SQL_SANDBOX_CA"],
    )


def connection_string(env=os.environ):
    return f"Server={env['AZURE_SQL_SERVER']};Database={env['AZURE_SQL_DATABASE']};Encrypt=yes;TrustServerCertificate=no"


def access_token_attrs(cred):
    """`attrs_before` for mssql_python.connect: a token from `cred` (cached by azure-identity
    until near its expiry) as the length-prefixed UTF-16LE struct."""
    raw = cred.get_token(SCOPE).token.encode("utf-16-le")
    return {SQL_COPT_SS_ACCESS_TOKEN: struct.pack("<I", len(raw)) + raw}
