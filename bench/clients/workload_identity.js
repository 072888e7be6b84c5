'use strict';
// What bench/clients' Node programs share: @azure/identity's WorkloadIdentityCredential from the
// variables the Workload Identity webhook sets (the sandbox's env file here), and the server's
// `tcp:host,port` split for tedious.
const { WorkloadIdentityCredential } = require('@azure/identity');

function credential(env = process.env) {
  return new WorkloadIdentityCredential({
    tenantId: env.AZURE_TENANT_ID,
    clientId: env.AZURE_CLIENT_ID,
    tokenFilePath: env.AZURE_FEDERATED_TOKEN_FILE,
    authorityHost: env.AZURE_AUTHORITY_HOST,
    // Not one of Microsoft's clouds: MSAL must not ask login.microsoftonline.com about it.
    disableInstanceDiscovery: true,
  });
}

function server(env = process.env) {
  const [, host, port] = /^(?:tcp:)?([^,]+),(\d+)$/.exec(env.AZURE_SQL_SERVER);
  return { host, port: Number(port) };
}

module.exports = { credential, server };
