'use strict';
// bench/peers, sustained leg, Node: one process, WORKERS concurrent loops through the `mssql`
// package's pool (tarn over tedious, the pool Node services use), each: acquire, the query, the
// five rows, release; for SECONDS after WARMUP seconds. Tokens through tedious's `token-credential`
// authentication (tedious asks @azure/identity for a token at each login; it caches them).
// Prints one JSON line: queries, wall seconds and this process's CPU seconds in the window.
//   node sustained.js WORKERS SECONDS WARMUP POOL_SIZE
const fs = require('node:fs');
const sql = require('mssql');
const { credential, server } = require('./workload_identity');

const QUERY = 'SELECT customer_id FROM dbo.Customer ORDER BY customer_id';

async function main() {
  const [workers, seconds, warmup, poolSize] = process.argv.slice(2).map(Number);
  const env = process.env;
  const { host, port } = server();
  const pool = new sql.ConnectionPool({
    server: host,
    port,
    database: env.AZURE_SQL_DATABASE,
    authentication: { type: 'token-credential', options: { credential: credential() } },
    options: {
      encrypt: true,
      trustServerCertificate: false,
      cryptoCredentialsDetails: { ca: fs.readFileSync(env.AZURE_SQL_SANDBOX_CA) },
    },
    pool: { max: poolSize, min: 0 },
  });
  await pool.connect();
  let queries = 0;
  let errors = 0;
  let stop = false;
  const loops = [];
  for (let i = 0; i < workers; i++) {
    loops.push((async () => {
      while (!stop) {
        try {
          const result = await pool.request().query(QUERY);
          if (result.recordset.length === 5) queries++; else errors++;
        } catch (err) {
          errors++;
        }
      }
    })());
  }
  const sleep = (s) => new Promise((r) => setTimeout(r, s * 1000));
  await sleep(warmup);
  const q0 = queries; const cpu0 = process.cpuUsage(); const t0 = process.hrtime.bigint();
  await sleep(seconds);
  const q1 = queries; const cpu = process.cpuUsage(cpu0); const t1 = process.hrtime.bigint();
  stop = true;
  await Promise.all(loops);
  console.log(JSON.stringify({
    queries: q1 - q0,
    seconds: Number(t1 - t0) / 1e9,
    cpu_seconds: (cpu.user + cpu.system) / 1e6,
    errors,
  }));
  await pool.close();
}

main().catch((err) => {
  console.error(`sustained.js: ${err && err.message ? err.message : err}`);
  process.exit(1);
});
