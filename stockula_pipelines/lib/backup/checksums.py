"""Per-table row counts and row checksums: what a manifest records and what a restore is compared to."""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
from psycopg import sql

from stockula_pipelines.lib.db.sqlfiles import SqlFiles

_SQL = SqlFiles(__file__)


# Versions of the extension this server can create: a restore needs the backup's exact version.
_SELECT_AVAILABLE_TIMESCALEDB = "SELECT version FROM pg_available_extension_versions WHERE name = 'timescaledb' ORDER BY version"

# Row count and an order-independent checksum of a table's rows: the sum of a 64-bit hash of each
# row's text form. The session pins TimeZone, DateStyle and float output first, so the text form of a
# row is the same on the live server and on a restored copy.
_SELECT_TABLE_CHECKSUM = """
SELECT count(*) AS row_count, coalesce(sum(hashtextextended(t::text, 0)::numeric), 0)::text AS row_checksum
FROM {table} AS t
"""

_SELECT_VERSIONS = """
SELECT current_setting('server_version') AS postgres_version,
       (SELECT extversion FROM pg_extension WHERE extname = 'timescaledb') AS timescaledb_version,
       current_setting('timescaledb.license', true) AS timescaledb_license
"""

_SET_CHECKSUM_SESSION = """
SELECT set_config('TimeZone', 'UTC', true), set_config('DateStyle', 'ISO, YMD', true),
       set_config('IntervalStyle', 'postgres', true), set_config('extra_float_digits', '1', true)
"""


@dataclass(frozen=True)
class TableSum:
    rows: int
    checksum: str

    def as_dict(self) -> dict[str, object]:
        return {"rows": self.rows, "checksum": self.checksum}


def table_checksums(conn: psycopg.Connection) -> dict[str, TableSum]:
    """Counts and checksums of every user table, inside the caller's transaction (its snapshot).

    Call it in a REPEATABLE READ transaction so every table is read from the same snapshot.
    """
    conn.execute(_SET_CHECKSUM_SESSION)
    sums: dict[str, TableSum] = {}
    for schema, table in conn.execute(_SQL.text("select_user_tables")).fetchall():
        query = sql.SQL(_SELECT_TABLE_CHECKSUM).format(table=sql.Identifier(schema, table))
        rows, checksum = conn.execute(query).fetchone()  # type: ignore[misc]
        sums[f"{schema}.{table}"] = TableSum(int(rows), str(checksum))
    return sums


def versions(conn: psycopg.Connection) -> dict[str, str | None]:
    pg, ts, license_ = conn.execute(_SELECT_VERSIONS).fetchone()  # type: ignore[misc]
    return {"postgres_version": pg, "timescaledb_version": ts, "timescaledb_license": license_}


def available_timescaledb(conn: psycopg.Connection) -> list[str]:
    return [row[0] for row in conn.execute(_SELECT_AVAILABLE_TIMESCALEDB)]


def compare(expected: dict[str, dict], actual: dict[str, TableSum]) -> list[dict[str, object]]:
    """Tables whose count or checksum differ (or that are missing on either side)."""
    mismatches = []
    for name in sorted(set(expected) | set(actual)):
        want, got = expected.get(name), actual.get(name)
        if want is None or got is None:
            mismatches.append({"table": name, "expected": want, "actual": got.as_dict() if got else None})
        elif int(want["rows"]) != got.rows or str(want["checksum"]) != got.checksum:
            mismatches.append({"table": name, "expected": want, "actual": got.as_dict()})
    return mismatches
