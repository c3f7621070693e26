"""Both editions agree: the Apache rollups (lib/aggregates) equal the TSL continuous aggregates.

The same loads go into the local server's test database (Apache edition), refreshed by the rollup
path, and into TimescaleDB's full edition running in-process under Node (PGlite, run_tsl.mjs), which
applies the .tsl.sql migrations, refreshes the continuous aggregates over the windows the Python
refresh planned, compresses every chunk, runs the policy jobs and replays late corrections into the
compressed chunks. Every aggregate's rows must match: keys exactly, integers exactly, floats within
FLOAT_REL_TOL (sums of the same doubles may be added in a different order).
"""

from __future__ import annotations

import json
import math
from datetime import datetime
from pathlib import Path

import node_runner
import pytest
from node_runner import run_script
from psycopg import sql
from tsl_dataset import build

from stockula_pipelines.lib import aggregates as agg
from stockula_pipelines.lib.db.capabilities import detect
from stockula_pipelines.lib.db.migrate import discover

pytestmark = pytest.mark.tsl
node = node_runner.node  # the fixture, shared by the tier's modules

HERE = Path(__file__).resolve().parent
PROJECT = HERE.parents[1]
FLOAT_REL_TOL = 1e-9
ORDER = {name: ("bucket" if "symbol" not in a.columns else "symbol, bucket") for name, a in agg.AGGREGATES.items()}


def replay(conn, load: dict) -> None:
    """A replace load as the loader does it: delete the window, insert the rows, log it; one transaction."""
    table = sql.Identifier("market", load["table"])
    where = sql.SQL("time >= %(start)s AND time < %(end)s AND symbol = ANY(%(symbols)s)")
    if load["interval"]:
        where += sql.SQL(" AND interval = %(interval)s")
    cols = sql.SQL(", ").join(map(sql.Identifier, load["rows"][0]))
    with conn.transaction():
        conn.execute(sql.SQL("DELETE FROM {} WHERE ").format(table) + where, load)
        conn.execute(
            sql.SQL("INSERT INTO {t} ({c}) SELECT {c} FROM json_populate_recordset(NULL::{t}, %(rows)s::json)")
            .format(t=table, c=cols),
            {"rows": json.dumps(load["rows"])},
        )
        conn.execute(
            "INSERT INTO ops.ingest_log (table_name, interval, window_start, window_end, symbols, mode, rows_loaded) "
            "VALUES (%(table)s, %(interval)s, %(start)s, %(end)s, %(symbols)s, 'replace', %(n)s)",
            {**load, "n": len(load["rows"])},
        )


def dump(conn) -> dict[str, list[dict]]:
    out = {}
    for name, order in ORDER.items():
        query = sql.SQL("SELECT coalesce(json_agg(t ORDER BY {o}), '[]')::text FROM {a} t").format(
            o=sql.SQL(order), a=sql.Identifier("aggregates", name))
        out[name] = json.loads(conn.execute(query).fetchone()[0])
    return out


def assert_same_rows(name: str, apache: list[dict], tsl: list[dict]) -> None:
    assert len(apache) == len(tsl), f"{name}: {len(apache)} rows on Apache, {len(tsl)} on TSL"
    for a, t in zip(apache, tsl, strict=True):
        where = f"{name} bucket {a['bucket']} {a.get('symbol', '')}"
        assert datetime.fromisoformat(a["bucket"]) == datetime.fromisoformat(t["bucket"]), where
        assert a.keys() == t.keys(), where
        for col, value in a.items():
            if col == "bucket":
                continue
            if isinstance(value, float) or isinstance(t[col], float):
                assert math.isclose(value, t[col], rel_tol=FLOAT_REL_TOL), f"{where}: {col} {value} != {t[col]}"
            else:
                assert value == t[col], f"{where}: {col} {value!r} != {t[col]!r}"


def test_apache_rollups_equal_tsl_continuous_aggregates(node, clean_db, tmp_path):
    steps = build()
    plans = []
    with clean_db.connect(autocommit=True) as conn:
        caps = detect(conn)
        assert caps.edition == "apache", "the comparison needs the Apache edition on the local server"
        for loads in steps:
            for load in loads:
                replay(conn, load)
            results = agg.refresh_all(conn, caps=caps, run_id="tsl-tier")
            plans.append({name: [[s.isoformat(), e.isoformat()] for s, e in r.windows]
                          for name, r in results.items()})
        apache = dump(conn)
    # The corrections must have refreshed only their own buckets, which the comparison then checks.
    assert plans[1]["price_history_weekly"] == [["2024-03-11T00:00:00-04:00", "2024-03-18T00:00:00-04:00"]]
    assert plans[1]["market_volume_hourly"] == [["2024-03-11T14:00:00+00:00", "2024-03-11T15:00:00+00:00"]]

    request = {
        "migrations": [str(m.path) for m in discover(PROJECT / "sql", "tsl")],
        "refreshSql": agg.REFRESH_CONTINUOUS_AGGREGATE,
        "steps": [{"loads": loads, "refresh": plan} for loads, plan in zip(steps, plans, strict=True)],
        "aggregates": ORDER,
    }
    tsl = run_script(node, "run_tsl.mjs", request, tmp_path)

    assert tsl["license"] == "timescale"
    assert tsl["checks"]["price_history_compressed_chunks"] > 0
    assert any(j.startswith("policy_refresh_continuous_aggregate:") for j in tsl["checks"]["jobs_run"])
    assert any(j.startswith("policy_compression:") for j in tsl["checks"]["jobs_run"])
    assert all(apache[name] for name in ORDER), "every aggregate should have rows"
    for name in ORDER:
        assert_same_rows(name, apache[name], tsl["aggregates"][name])
