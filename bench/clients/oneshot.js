'use strict';
// bench/peers, one-shot leg, Node: what a fresh process does to print the five customer IDs with
// tedious and @azure/identity (the versions pinned in interop/tedious): a Workload Identity token,
// a login through the gateway (tedious follows the redirect), the query, exit.
// Environment: the sandbox's env file, and NODE_EXTRA_CA_CERTS=$AZURE_SQL_SANDBOX_CA (for
// @azure/identity's HTTPS); NODE_PATH=interop/tedious/node_modules.
const fs = require('node:fs');
const { Connection, Request } = require('tedious');
const { credential, server } = require('./workload_identity');

async function main() {
  const env = process.env;
  const { token } = await credential().getToken('https://database.windows.net/.default');
  const { host, port } = server();
  const connection = new Connection({
    server: host,
    authentication: { type: 'azure-active-directory-access-token', options: { token } },
    options: {
      port,
      database: env.AZURE_SQL_DATABASE,
      encrypt: true,
      trustServerCertificate: false,
      cryptoCredentialsDetails: { ca: fs.readFileSync(env.AZURE_SQL_SANDBOX_CA) },
    },
  });
  await new Promise((resolve, reject) => {
    connection.on('connect', (err) => (err ? reject(err) : resolve()));
    connection.connect();
  });
  const ids = await new Promise((resolve, reject) => {
    const rows = [];
    const request = new Request('SELECT customer_id FROM dbo.Customer ORDER BY customer_id', (err) =>
      err ? reject(err) : resolve(rows));
    request.on('row', (columns) => rows.push(columns[0].value));
    connection.execSql(request);
  });
  for (const id of ids) console.log(`Customer ID-->${id}`);
  connection.close();
}

main().catch((err) => {
  console.error(`oneshot.js: ${err && err.message ? err.message : err}`);
  process.exit(1);
});
