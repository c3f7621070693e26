// Shared by the TSL tier's runners: finding the migrations, applying them to an in-process PGlite
// with TimescaleDB's full edition, and running psycopg-style SQL files as they are.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

export const log = (msg) => process.stderr.write(`[tsl] ${msg}\n`);

// The runner's rule (lib/db/migrate.discover): NNNN_name[.tsl|.apache].sql, one file per version.
const MIGRATION = /^(\d{4})_([a-z0-9_]+?)(?:\.(tsl|apache))?\.sql$/;
export function discover(sqlDir) {
  const byVersion = new Map();
  for (const file of readdirSync(sqlDir).sort()) {
    const m = MIGRATION.exec(file);
    if (!m) continue;
    if (m[3] === 'apache') continue;
    byVersion.set(m[1], join(sqlDir, file));
  }
  return [...byVersion.keys()].sort().map((v) => byVersion.get(v));
}

// The only pre-processing: PGlite cannot load pg_stat_statements (it needs shared_preload_libraries),
// and nothing in the schema depends on it. Roles, SET LOCAL ROLE and grants work as on a server.
const UNAVAILABLE = /^\s*CREATE EXTENSION IF NOT EXISTS pg_stat_statements;\s*$/gm;
const preprocess = (text) => text.replace(UNAVAILABLE, '-- (pg_stat_statements: not available in PGlite)');

// psycopg's named placeholders -> PostgreSQL positional ones, so the Python SQL file runs as is.
export function positional(text) {
  const names = [];
  const sql = text.replace(/%\((\w+)\)s/g, (_, name) => {
    if (!names.includes(name)) names.push(name);
    return `$${names.indexOf(name) + 1}`;
  });
  return { sql, names };
}

// Run a psycopg-style statement with named parameters taken from `values`.
export async function queryNamed(db, text, values) {
  const { sql, names } = positional(text);
  return db.query(sql, names.map((n) => values[n]));
}

export async function applyMigrations(db, files) {
  await db.exec('CREATE SCHEMA IF NOT EXISTS ops;');
  for (const file of files) {
    const text = preprocess(readFileSync(file, 'utf8'));
    try {
      await db.exec(`BEGIN;\n${text}\n;COMMIT;`);
    } catch (err) {
      await db.exec('ROLLBACK;').catch(() => {});
      throw new Error(`${file} failed on the TSL edition: ${err.message}`);
    }
    log(`applied ${file}`);
  }
}

// A replace load's rows into market.<table>, as JSON records.
export async function insertRows(db, table, rows) {
  if (!rows.length) return;
  const cols = Object.keys(rows[0]).join(', ');
  await db.query(
    `INSERT INTO market.${table} (${cols}) SELECT ${cols} FROM json_populate_recordset(NULL::market.${table}, $1::json)`,
    [JSON.stringify(rows)]);
}
