'use strict';
// Fidelity check of the sandbox with an independent, real client: tedious (Node's TDS driver) with
// @azure/identity's WorkloadIdentityCredential. It trades the projected service-account token for
// an Entra token at the sandbox's Entra stand-in, logs in through the sandbox's gateway (following
// its redirect) with TDS 7.4 (TLS inside PRELOGIN) and with TDS 8.0 (`encrypt: 'strict'`), and
// reads the Customer rows with a SQL batch and with a parameterised RPC (sp_executesql); resets a
// session as a pool does on reuse (RESETCONNECTION) and checks nothing is left of it. Then the
// two refusals a service meets in Azure: a login that names no database (Azure SQL puts it in
// master, where the workload identity has no user: 18456) and an expired token (18456 "Token is
// expired.", with the expired token the sandbox writes for this).
//
// Run: source the env file written by `cargo run -p azure-sql-sandbox -- serve --env-file F`
// (the CA must also be in NODE_EXTRA_CA_CERTS for @azure/identity's HTTPS), then `node check.js`.
// `../run` does all of that.

const fs = require('node:fs');
const { Connection, Request, TYPES } = require('tedious');
const { WorkloadIdentityCredential } = require('@azure/identity');

function env(name) {
  const value = process.env[name];
  if (!value) {
    console.error(`tedious check: ${name} is not set; source the sandbox env file first`);
    process.exit(2);
  }
  return value;
}

function parseServer(server) {
  // `tcp:localhost,PORT`, as Azure's portal and the sandbox write it.
  const m = /^(?:tcp:)?([^,]+)(?:,(\d+))?$/.exec(server);
  if (!m) throw new Error(`AZURE_SQL_SERVER=${server} is not tcp:host,port`);
  return { host: m[1], port: m[2] ? Number(m[2]) : 1433 };
}

// `database`: the database to name in LOGIN7, or null to name none.
function connect(authentication, encrypt, database = env('AZURE_SQL_DATABASE')) {
  const { host, port } = parseServer(env('AZURE_SQL_SERVER'));
  const connection = new Connection({
    server: host,
    authentication,
    options: {
      port,
      ...(database === null ? {} : { database }),
      encrypt,
      trustServerCertificate: false,
      cryptoCredentialsDetails: { ca: fs.readFileSync(env('AZURE_SQL_SANDBOX_CA')) },
      connectTimeout: 15000,
      requestTimeout: 15000,
    },
  });
  return new Promise((resolve, reject) => {
    connection.on('connect', (err) => (err ? reject(err) : resolve(connection)));
    connection.connect();
  });
}

function query(connection, sql, params, batch) {
  return new Promise((resolve, reject) => {
    const rows = [];
    const request = new Request(sql, (err) => (err ? reject(err) : resolve(rows)));
    for (const [name, type, value] of params) request.addParameter(name, type, value);
    request.on('row', (columns) => rows.push(columns.map((c) => c.value)));
    if (batch) connection.execSqlBatch(request);
    else connection.execSql(request);
  });
}

function expectIds(rows, expected, what) {
  const ids = rows.map((r) => r[0]);
  if (JSON.stringify(ids) !== JSON.stringify(expected)) {
    throw new Error(`${what}: expected customer ids ${JSON.stringify(expected)}, got ${JSON.stringify(ids)}`);
  }
}

async function expectRefusal(connecting, text, what) {
  let connection;
  try {
    connection = await connecting;
  } catch (err) {
    const message = err && err.message ? err.message : String(err);
    if (message !== text) {
      throw new Error(`${what}: expected the login to fail with "${text}", got "${message}"`);
    }
    return;
  }
  connection.close();
  throw new Error(`${what}: the login succeeded; Azure SQL refuses it with "${text}"`);
}

async function main() {
  const credential = new WorkloadIdentityCredential({
    tenantId: env('AZURE_TENANT_ID'),
    clientId: env('AZURE_CLIENT_ID'),
    tokenFilePath: env('AZURE_FEDERATED_TOKEN_FILE'),
    authorityHost: env('AZURE_AUTHORITY_HOST'),
    // The sandbox's authority is not one of Microsoft's clouds; MSAL must not ask
    // login.microsoftonline.com to vouch for it.
    disableInstanceDiscovery: true,
  });

  // The token as the Python samples pass it (FEDAUTH security-token library).
  const { token } = await credential.getToken('https://database.windows.net/.default');
  const accessToken = { type: 'azure-active-directory-access-token', options: { token } };
  // The credential itself (FEDAUTH MSAL workflow: the server names its STS and SPN in FEDAUTHINFO,
  // tedious asks the credential for a token and sends it in a FEDAUTH_TOKEN message).
  const tokenCredential = { type: 'token-credential', options: { credential } };
  const passes = [
    [accessToken, true],
    [accessToken, 'strict'],
    [tokenCredential, true],
  ];
  for (const [authentication, encrypt] of passes) {
    const connection = await connect(authentication, encrypt);
    try {
      const all = await query(connection, 'SELECT customer_id FROM dbo.Customer ORDER BY customer_id', [], true);
      expectIds(all, [1, 2, 3, 4, 5], `batch (${authentication.type}, encrypt=${encrypt})`);
      if (authentication === accessToken && encrypt === true) for (const [id] of all) console.log(`Customer ID-->${id}`);
      const active = await query(
        connection,
        'SELECT customer_id, first_name FROM dbo.Customer WHERE active = @active AND customer_id >= @min ORDER BY customer_id',
        [['active', TYPES.Bit, true], ['min', TYPES.Int, 1]],
        false,
      );
      expectIds(active, [1, 4], `rpc (${authentication.type}, encrypt=${encrypt})`);
      if (active[0][1] !== 'John') throw new Error(`expected John, got ${active[0][1]}`);
    } finally {
      connection.close();
    }
  }

  // The session reset a pool asks for on reuse (tedious's `reset()`: RESETCONNECTION on the next
  // request). Whatever the first user left (an open transaction, a temporary table, session
  // context, NOCOUNT) is gone, and the server acknowledged the reset (ENVCHANGE 18). The
  // isolation level, which the server's reset keeps, tedious puts back itself: its reset's batch
  // is its login's initial SQL (`set transaction isolation level read committed`, ...).
  const pooled = await connect(accessToken, true);
  try {
    await query(pooled, "BEGIN TRANSACTION; CREATE TABLE #leftover (id INT); EXEC sp_set_session_context @key = N'tenant', @value = N'first'; SET NOCOUNT ON; SET TRANSACTION ISOLATION LEVEL SERIALIZABLE", [], true);
    const [[open]] = await query(pooled, 'SELECT @@TRANCOUNT', [], true);
    if (open !== 1) throw new Error(`before the reset: expected an open transaction, @@TRANCOUNT ${open}`);
    let acknowledged = false;
    pooled.on('resetConnection', () => { acknowledged = true; });
    await new Promise((resolve, reject) => pooled.reset((err) => (err ? reject(err) : resolve())));
    if (!acknowledged) throw new Error('reset: the server did not acknowledge it (no ENVCHANGE 18)');
    const [[trancount, temp, context, isolation]] = await query(
      pooled,
      "SELECT @@TRANCOUNT, OBJECT_ID(N'tempdb..#leftover'), CAST(SESSION_CONTEXT(N'tenant') AS NVARCHAR(20)), " +
        '(SELECT transaction_isolation_level FROM sys.dm_exec_sessions WHERE session_id = @@SPID)',
      [],
      true,
    );
    if (trancount !== 0 || temp !== null || context !== null || isolation !== 2) {
      throw new Error(`after the reset: @@TRANCOUNT ${trancount}, #leftover ${temp}, session context ${context}, isolation ${isolation}; expected 0, null, null, 2`);
    }
  } finally {
    pooled.close();
  }

  // A login naming no database: master, where the identity has no user. The plain 18456.
  await expectRefusal(
    connect(accessToken, true, null),
    "Login failed for user '<token-identified principal>'.",
    'no database named',
  );
  // A token past its expiry (signed by the sandbox's Entra): 18456, Token is expired.
  const expired = fs.readFileSync(env('AZURE_SQL_SANDBOX_EXPIRED_TOKEN_FILE'), 'utf8').trim();
  await expectRefusal(
    connect({ type: 'azure-active-directory-access-token', options: { token: expired } }, true),
    "Login failed for user '<token-identified principal>'. Token is expired.",
    'expired token',
  );
  console.log('tedious check: ok (access token with TDS 7.4 and TDS 8.0 strict, token credential via FEDAUTHINFO; batch and RPC; workload identity via the gateway; a session reset on reuse; 18456 without a database and for an expired token)');
}

main().catch((err) => {
  console.error(`tedious check failed: ${err && err.message ? err.message : err}`);
  process.exit(1);
});
