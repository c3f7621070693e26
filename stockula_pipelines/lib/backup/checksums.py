"""Per-table row counts and row checksums: what a manifest records and what a restore is compared to."""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
from psycopg import sql

from .sqlfiles import load_sql


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
    conn.execute(load_sql("set_checksum_session.sql"))
    sums: dict[str, TableSum] = {}
    for schema, table in conn.execute(load_sql("select_user_tables.sql")).fetchall():
        query = sql.SQL(load_sql("select_table_checksum.sql")).format(table=sql.Identifier(schema, table))
        rows, checksum = conn.execute(query).fetchone()  # type: ignore[misc]
        sums[f"{schema}.{table}"] = TableSum(int(rows), str(checksum))
    return sums


def versions(conn: psycopg.Connection) -> dict[str, str | None]:
    pg, ts, license_ = conn.execute(load_sql("select_versions.sql")).fetchone()  # type: ignore[misc]
    return {"postgres_version": pg, "timescaledb_version": ts, "timescaledb_license": license_}


def available_timescaledb(conn: psycopg.Connection) -> list[str]:
    return [row[0] for row in conn.execute(load_sql("select_available_timescaledb.sql"))]


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
