"""A trading week run the way production runs it: schedules on the exchange clock, the retry sensor and
the automation sensor's conditions start every run, nobody launches anything by hand except the one
operator re-run of a late option chain. The source misbehaves on purpose (``week_faults``): an empty
answer, a rate-limit storm, a corrupted bar, a split announced mid-week, a late dividend, a failed and
then a late option chain.

At the end every derived table equals a from-scratch rebuild over the same raw data, no good row was
lost, and each fault shows in the run's metadata, a check result or the failed run's error.
"""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import dagster as dg
import psycopg
import pytest
from conftest import TestDatabase
from psycopg import sql
from week_faults import SOURCES, Clock, FaultyMarketData, FaultySource, Script

from stockula_pipelines.definitions import defs
from stockula_pipelines.defs.corporate_actions.schedules import corporate_actions_schedule
from stockula_pipelines.defs.market_data.schedules import end_of_day_schedule, intraday_schedule
from stockula_pipelines.defs.market_data.sensors import retry_skipped_symbols_sensor
from stockula_pipelines.lib.sources.synthetic import SyntheticSource
from stockula_pipelines.resources.timescale import TimescaleResource
from stockula_pipelines.settings import Role

pytestmark = pytest.mark.integration

NY = ZoneInfo("America/New_York")
WEEK = [date(2025, 6, 2) + timedelta(days=i) for i in range(5)]  # Monday..Friday, no holiday
MON, TUE, WED, THU, FRI = WEEK
SPLIT_SYMBOL, DIVIDEND_SYMBOL, EMPTY_SYMBOL, BAD_SYMBOL, OPTION_SYMBOL = "COBA", "DRIM", "GRAF", "AURS", "HARD"
DERIVED_GROUPS = ("analytics", "aggregates", "curated")


def at(day: date, hh: int, mm: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hh, mm, tzinfo=NY)


class Week:
    """The simulated deployment: one Dagster instance, the code location's definitions, a clock."""

    def __init__(self, db: TestDatabase, instance: dg.DagsterInstance) -> None:
        self.db = db
        self.instance = instance
        self.clock = Clock()
        self.script = Script(
            empty={(EMPTY_SYMBOL, TUE): at(WED, 0)},
            corrupt={(BAD_SYMBOL, TUE): at(WED, 0)},
            split=(SPLIT_SYMBOL, WED, 2.0, at(WED, 8)),
            late_dividend=(DIVIDEND_SYMBOL, MON, 0.75, at(THU, 0)),
            storm_at=at(THU, 17, 15),
            option_failure={(OPTION_SYMBOL, WED)},
        )
        inner = SyntheticSource(seed=7, universe_size=8, history_start=date(2000, 1, 3))
        self.script.storm_left = set(inner.universe())
        SOURCES["week"] = FaultySource(inner, self.script, self.clock)
        self.timescale = TimescaleResource(dsn=db.dsn(Role.writer))
        self.defs = dg.Definitions(
            assets=list(defs.assets or []), asset_checks=list(defs.asset_checks or []),
            jobs=list(defs.jobs or []), schedules=list(defs.schedules or []), sensors=list(defs.sensors or []),
            resources={**defs.resources, "timescale": self.timescale,
                       "market_data": FaultyMarketData(key="week", retry_delay_seconds=0)},
        )
        self.job = self.defs.resolve_implicit_global_asset_job_def()
        self.cursor = None
        self.results: list[tuple[str, dg.ExecuteInProcessResult]] = []

    # --- what the daemon does -----------------------------------------------------------------------
    def run(self, label: str, when: datetime, **kwargs) -> dg.ExecuteInProcessResult:
        self.clock.now = when
        result = self.job.execute_in_process(instance=self.instance, raise_on_error=False, **kwargs)
        self.results.append((label, result))
        for event in result.all_events:  # shown by pytest when the test fails
            if event.is_step_failure:
                print(f"[{label}] {event.step_key}: {event.event_specific_data.error.message.strip()[:600]}")
        return result

    def schedule(self, schedule: dg.ScheduleDefinition, when: datetime) -> dg.ExecuteInProcessResult | None:
        request = schedule(dg.build_schedule_context(scheduled_execution_time=when, instance=self.instance))
        if not isinstance(request, dg.RunRequest):
            return None
        job = self.defs.resolve_job_def(schedule.job_name)
        selection = list(job.asset_layer.executable_asset_keys)
        return self.run(f"{schedule.name}@{when:%a %H:%M}", when, asset_selection=selection,
                        partition_key=request.partition_key, tags={"dagster/schedule_name": schedule.name})

    def retry_sensor(self, when: datetime) -> list[dg.ExecuteInProcessResult]:
        done = []
        with dg.build_sensor_context(instance=self.instance, resources={"timescale": self.timescale}) as context:
            requests = list(retry_skipped_symbols_sensor(context) or [])
        for request in requests:
            job = self.defs.resolve_job_def(request.job_name)
            done.append(self.run(f"retry {request.partition_key}", when,
                                 asset_selection=list(job.asset_layer.executable_asset_keys),
                                 partition_key=request.partition_key, tags=request.tags))
        return done

    def automation(self, when: datetime) -> list[set[dg.AssetKey]]:
        """Ticks of the automation sensor until it requests nothing, each request run as one run."""
        runs = []
        for minute in range(1, 6):
            tick = when + timedelta(minutes=minute)
            result = dg.evaluate_automation_conditions(defs=self.defs, instance=self.instance,
                                                       evaluation_time=tick, cursor=self.cursor)
            self.cursor = result.cursor
            keys = {k for k in self.job.asset_layer.executable_asset_keys if result.get_num_requested(k)}
            if not keys:
                return runs
            runs.append(keys)
            self.run(f"automation@{tick:%a %H:%M}", tick, asset_selection=sorted(keys))
        raise AssertionError(f"automation still requesting after 5 ticks: {runs[-1]}")

    def night(self, day: date) -> None:
        self.schedule(intraday_schedule, at(day, 11, 45))
        self.automation(at(day, 11, 45))
        self.schedule(corporate_actions_schedule, at(day, 17, 0))
        self.automation(at(day, 17, 0))
        self.schedule(end_of_day_schedule, at(day, 17, 30))
        self.automation(at(day, 17, 30))

    def result(self, label: str) -> dg.ExecuteInProcessResult:
        exact = [r for name, r in self.results if name == label]
        return exact[0] if exact else next(r for name, r in self.results if name.startswith(label))


def _meta(result: dg.ExecuteInProcessResult, key: list[str]) -> dict:
    events = [e for e in result.get_asset_materialization_events() if e.asset_key == dg.AssetKey(key)]
    return {k: v.value for k, v in events[-1].materialization.metadata.items()}


def _check(conn: psycopg.Connection, asset: str, name: str, partition: str) -> bool:
    row = conn.execute(
        "SELECT passed FROM quality.data_quality_results WHERE asset_key = %s AND check_name = %s "
        "AND partition_key = %s ORDER BY result_id DESC LIMIT 1", (asset, name, partition)).fetchone()
    assert row is not None, f"no {asset} {name} result for {partition}"
    return bool(row[0])


def _history(conn: psycopg.Connection, asset: str, name: str, partition: str) -> list[bool]:
    rows = conn.execute(
        "SELECT passed FROM quality.data_quality_results WHERE asset_key = %s AND check_name = %s "
        "AND partition_key = %s ORDER BY result_id", (asset, name, partition)).fetchall()
    return [bool(r[0]) for r in rows]


def _derived_snapshot(conn: psycopg.Connection) -> dict[str, list[tuple]]:
    """Every derived value: metrics and Greeks in the raw tables, the aggregates, the curated tables."""
    snap = {
        "price_metrics": conn.execute(
            "SELECT symbol, time, adj_close_price, daily_return, volatility FROM market.price_history "
            "WHERE interval = '1d' ORDER BY symbol, time").fetchall(),
    }
    for side in ("options_calls", "options_puts"):
        snap[side] = conn.execute(sql.SQL(
            "SELECT contract_symbol, time, implied_volatility, delta, gamma, theta, vega, rho, greeks_status "
            "FROM {} ORDER BY contract_symbol, time").format(sql.Identifier("market", side))).fetchall()
    for schema in ("aggregates", "analytics", "curated"):
        tables = conn.execute(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s AND c.relkind IN ('r', 'v', 'm') ORDER BY 1", (schema,)).fetchall()
        for (table,) in tables:
            cols = [r[0] for r in conn.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = %s AND table_name = %s "
                "AND column_name NOT LIKE '%%\\_at' AND column_name NOT IN ('refresh_id', 'strategy_id') "
                "ORDER BY ordinal_position", (schema, table)).fetchall()]
            query = sql.SQL("SELECT {} FROM {} ORDER BY {}").format(
                sql.SQL(", ").join(map(sql.Identifier, cols)), sql.Identifier(schema, table),
                sql.SQL(", ").join(sql.Literal(i + 1) for i in range(len(cols))))
            snap[f"{schema}.{table}"] = conn.execute(query).fetchall()
    return snap


def _same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12) or (math.isnan(a) and math.isnan(b))
    return a == b


def _assert_equal(week: dict[str, list[tuple]], rebuilt: dict[str, list[tuple]]) -> None:
    assert week.keys() == rebuilt.keys()
    for name in week:
        assert len(week[name]) == len(rebuilt[name]), name
        for row_a, row_b in zip(week[name], rebuilt[name], strict=True):
            assert all(_same(x, y) for x, y in zip(row_a, row_b, strict=True)), (name, row_a, row_b)


def _rebuild_from_scratch(sim: Week) -> None:
    """Forget every derived value and watermark, then run every derived asset once over all raw data."""
    with sim.db.connect(Role.admin, direct=True) as conn:
        conn.execute("UPDATE market.price_history SET adj_close_price = NULL, daily_return = NULL, volatility = NULL")
        for side in ("options_calls", "options_puts"):
            conn.execute(sql.SQL(
                "UPDATE {} SET implied_volatility = NULL, delta = NULL, gamma = NULL, theta = NULL, vega = NULL, "
                "rho = NULL, greeks_status = NULL").format(sql.Identifier("market", side)))
        conn.execute("DELETE FROM ops.refresh_covered")
        conn.execute("DELETE FROM ops.refresh_log")
        for (table,) in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'aggregates'").fetchall():
            conn.execute(sql.SQL("TRUNCATE {}").format(sql.Identifier("aggregates", table)))
    derived = sorted(k for k in sim.job.asset_layer.executable_asset_keys
                     if k.path[0] in DERIVED_GROUPS or k == dg.AssetKey(["quality", "quarantine_report"]))
    assert sim.run("rebuild", at(FRI, 23), asset_selection=derived).success


@pytest.fixture()
def week(clean_db: TestDatabase, tmp_path):
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        yield Week(clean_db, instance)


def test_a_trading_week_through_schedules_sensors_and_automation(week: Week):
    sim = week
    assert sim.automation(at(MON, 5)) == []  # the sensor's first tick: nothing loaded, nothing to do
    # The history the week builds on: reference data, May's bars and the corporate actions since May.
    assert sim.run("stocks", at(MON, 6), asset_selection=[dg.AssetKey(["market", "stocks"])]).success
    assert sim.run("history bars", at(MON, 6), asset_selection=[dg.AssetKey(["market", "price_history"])],
                   tags={"dagster/asset_partition_range_start": "2025-05-01",
                         "dagster/asset_partition_range_end": "2025-05-30"}).success
    assert sim.run("history actions", at(MON, 6), asset_selection=[dg.AssetKey(["market", "dividends"]),
                                                                 dg.AssetKey(["market", "splits"])],
                   tags={"dagster/asset_partition_range_start": "2025-05",
                         "dagster/asset_partition_range_end": "2025-06"}).success
    first = sim.automation(at(MON, 6))
    assert dg.AssetKey(["analytics", "price_metrics"]) in first[0]  # nobody launched the derived assets

    for day in WEEK:
        sim.night(day)
        if day == TUE:
            # 06:00 Wednesday: the retry sensor re-loads Tuesday's daily and intraday bars, whose source
            # left a symbol out.
            retries = sim.retry_sensor(at(WED, 6))
            assert len(retries) == 2 and all(r.success for r in retries)
            sim.automation(at(WED, 6))
        if day == WED:
            # An operator re-runs Wednesday's option chains on Thursday: the source has no history.
            late = sim.run("late chains", at(THU, 12), partition_key=WED.isoformat(),
                           asset_selection=[dg.AssetKey(["market", "options_calls"]),
                                            dg.AssetKey(["market", "options_puts"])])
            assert not late.success
            errors = " ".join(e.event_specific_data.error.to_string() for e in late.all_events if e.is_step_failure)
            assert "snapshot_session" in errors and WED.isoformat() in errors

    with sim.db.connect() as conn:
        # --- nothing good was lost -------------------------------------------------------------------
        bars = conn.execute("SELECT count(*) FROM market.price_history WHERE interval = '1d' "
                            "AND date BETWEEN %s AND %s", (MON, FRI)).fetchone()[0]
        assert bars == 8 * 5  # every symbol, every day: the empty answer was retried and filled
        inner = SOURCES["week"].inner
        good = inner.price_bars([BAD_SYMBOL], *sorted(_day_window(inner, TUE)), "1d").row(0, named=True)
        stored = conn.execute("SELECT low_price, close_price FROM market.price_history WHERE symbol = %s "
                              "AND interval = '1d' AND date = %s", (BAD_SYMBOL, TUE)).fetchone()
        assert stored == (good["low_price"], good["close_price"])  # the corrupt re-load kept the good bar
        wed_chains = conn.execute("SELECT count(DISTINCT symbol) FROM market.options_calls WHERE snapshot_date = %s",
                                  (WED,)).fetchone()[0]
        assert wed_chains == 7  # the late re-run deleted nothing; only the failed symbol is missing

        # --- each fault is visible ------------------------------------------------------------------
        tuesday = sim.result("end_of_day_schedule@Tue")
        assert EMPTY_SYMBOL in _meta(tuesday, ["market", "price_history"])["symbols_skipped"]
        assert not tuesday.success  # the blocking missing-days check stopped the run's downstream
        # The empty answer failed the coverage check; the retry's load passed it.
        assert _history(conn, "market/price_history", "source_coverage", TUE.isoformat()) == [False, True]
        retry = sim.result(f"retry {TUE.isoformat()}")
        assert sim.result(f"retry {TUE.isoformat()}-10:30").success
        retry_meta = _meta(retry, ["market", "price_history"])
        assert retry_meta["rows_quarantined"] == 1 and retry_meta["symbols_skipped"] == {}
        assert _check(conn, "market/price_history", "no_missing_trading_days", TUE.isoformat())
        rule = conn.execute("SELECT rule, detail FROM quality.quarantine WHERE symbol = %s", (BAD_SYMBOL,)).fetchone()
        assert rule[0].startswith("low_above_high") and TUE.isoformat() in rule[1]

        wed_actions = sim.result("corporate_actions_schedule@Wed")
        assert _meta(wed_actions, ["market", "splits"])["symbols_changed"] == [SPLIT_SYMBOL]
        assert _check(conn, "market/price_history", "price_jump_without_split", WED.isoformat())
        assert OPTION_SYMBOL in _meta(sim.result("end_of_day_schedule@Wed"), ["market", "options_calls"])["symbols_skipped"]
        assert not _check(conn, "market/options_calls", "source_coverage", WED.isoformat())

        thu_actions = sim.result("corporate_actions_schedule@Thu")
        assert _meta(thu_actions, ["market", "dividends"])["symbols_changed"] == [DIVIDEND_SYMBOL]
        assert _meta(thu_actions, ["market", "splits"])["symbols_changed"] == []  # unchanged: nothing restated
        thursday = sim.result("end_of_day_schedule@Thu")
        assert sorted(_meta(thursday, ["market", "price_history"])["symbols_retried"]) == sorted(inner.universe())
        assert thursday.success

        # The split's bars were adjusted away: no one-day return of -50 %.
        worst = conn.execute("SELECT min(daily_return) FROM market.price_history WHERE symbol = %s "
                             "AND interval = '1d'", (SPLIT_SYMBOL,)).fetchone()[0]
        assert worst > -0.2
        week_values = _derived_snapshot(conn)

    _rebuild_from_scratch(sim)
    with sim.db.connect() as conn:
        _assert_equal(week_values, _derived_snapshot(conn))


def _day_window(source: SyntheticSource, day: date) -> tuple[datetime, datetime]:
    return source._cal.trading_day_window(day)  # noqa: SLF001
