"""The Dagster UI in a real browser (Debian's chromium driven by Playwright), on data the demo loaded.

Once per module: a fresh database loaded by `stockula demo --no-backup` (the real assets, a short recent
window, four symbols), then one `dagster-webserver` on a free port of its own. Screenshots are kept under
test-artifacts/ui/ (gitignored) for a person to look at; the assertions read the page and, where the UI
only draws a colour, the same GraphQL the page reads.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
from conftest import PROJECT_DIR, migrate_database, recreate_database
from dagster_ui import BIN, CHROMIUM_ARGS, Webserver, start_webserver, wait_for_run, write_instance

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ARTEFACTS = PROJECT_DIR / "test-artifacts" / "ui"
UI_DB = "stockula_test_ui"
PARTITIONED = ["price_history", "price_history_intraday", "options_calls", "options_puts", "dividends", "splits"]


@pytest.fixture(scope="module")
def ui_env(stack_settings, tmp_path_factory) -> dict[str, str]:
    recreate_database(stack_settings, UI_DB)
    migrate_database(stack_settings, UI_DB)
    home = tmp_path_factory.mktemp("dagster-ui")
    write_instance(home)
    env = dict(os.environ, STOCKULA_DB_NAME=UI_DB, STOCKULA_SYNTHETIC_UNIVERSE_SIZE="4",
               DAGSTER_HOME=str(home), TMPDIR=str(home))
    demo = subprocess.run(
        [str(BIN / "stockula"), "demo", "--no-backup", "--daily-days", "25", "--option-days", "1",
         "--intraday-days", "1"],
        cwd=PROJECT_DIR, env=env, capture_output=True, text=True, timeout=600,
    )
    assert demo.returncode == 0, demo.stdout[-3000:] + demo.stderr[-3000:]
    assert "FAILED" not in demo.stdout and "failed checks" not in demo.stdout, demo.stdout
    return env


@pytest.fixture(scope="module")
def server(ui_env):
    web = start_webserver(Path(ui_env["DAGSTER_HOME"]), ui_env)
    yield web
    web.stop()
    assert web.proc.returncode is not None


@pytest.fixture(scope="module")
def page(server: Webserver):
    sync_api = pytest.importorskip("playwright.sync_api")
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        tab = browser.new_page(viewport={"width": 1600, "height": 1000})
        tab.set_default_timeout(60_000)  # a first paint on a loaded 2-core machine, not a test deadline
        yield tab
        browser.close()


def _shot(page, name: str) -> None:
    page.screenshot(path=str(ARTEFACTS / f"{name}.png"), full_page=True)


ASSET_DEPS = "{ assetNodes { assetKey { path } dependencyKeys { path } } }"


def test_lineage_from_raw_loads_through_analytics_and_aggregates_to_curated(server, page):
    page.goto(f"{server.url}/asset-groups")
    page.get_by_text("market_data", exact=True).first.wait_for()
    page.keyboard.press("Alt+e")  # groups are drawn collapsed
    # Which groups are drawn depends on the viewport (off-screen nodes are not): wait for any, keep the picture.
    page.locator("[data-tooltip]").first.wait_for(state="attached")
    page.wait_for_load_state("networkidle")
    _shot(page, "lineage_all_groups")
    # Upstream of a mart: raw loads -> analytics -> staging -> marts, every node on one screen.
    page.goto(f"{server.url}/assets/curated/market_summary_daily?view=lineage&lineageScope=upstream&lineageDepth=10")
    for name in ("price_history", "dividends", "price_metrics", "stg_price_history", "market_summ…_daily"):
        page.get_by_text(name, exact=True).first.wait_for()
    _shot(page, "lineage_upstream_of_market_summary_daily")
    # Downstream of the daily bars: analytics, the aggregates and the curated staging model.
    page.goto(f"{server.url}/assets/market/price_history?view=lineage&lineageScope=downstream&lineageDepth=10")
    for name in ("aggregates", "analytics", "curated", "price_metrics", "stg_price_history"):
        page.get_by_text(name, exact=True).first.wait_for()
    _shot(page, "lineage_downstream_of_price_history")
    edges = {("/".join(d["path"]), "/".join(n["assetKey"]["path"]))
             for n in server.graphql(ASSET_DEPS)["assetNodes"] for d in n["dependencyKeys"]}
    assert ("market/price_history", "analytics/price_metrics") in edges
    assert ("market/price_history", "aggregates/price_history_weekly") in edges
    assert ("market/price_history_intraday", "aggregates/price_history_daily") in edges
    assert ("analytics/price_metrics", "curated/stg_price_history") in edges
    assert ("curated/stg_price_history", "curated/adjusted_daily_bars") in edges
    assert ("curated/adjusted_daily_bars", "curated/market_summary_daily") in edges


def test_asset_page_shows_metadata_preview_and_plot(server, page):
    page.goto(f"{server.url}/assets/market/price_history")
    page.get_by_text("rows_quarantined", exact=True).first.wait_for()
    page.wait_for_load_state("networkidle")
    _shot(page, "asset_price_history")
    # The demo's range run: its counts and window say they are the run's, not the partition's.
    for label in ("rows_in_run", "run_range_start", "run_range_end", "preview", "closes"):
        page.get_by_text(label, exact=True).first.wait_for()
    page.get_by_text("closes", exact=True).first.scroll_into_view_if_needed()
    _shot(page, "asset_price_history_closes_plot")
    body = page.locator("body").inner_text()
    assert "window_start" not in body
    assert re.search("[▁▂▃▄▅▆▇█]{10,}", body), "no sparkline of the closes"
    page.get_by_text("Columns", exact=False).first.wait_for()  # dagster/column_schema
    assert "close_price" in page.locator("body").inner_text()
    # An aggregate's bars, and an option snapshot's smile, drawn the same way.
    for key, plot in (("aggregates/price_history_weekly", "closes"), ("market/options_calls", "iv_smile")):
        page.goto(f"{server.url}/assets/{key}")
        page.get_by_text(plot, exact=True).first.wait_for()
        page.get_by_text(plot, exact=True).first.scroll_into_view_if_needed()
        _shot(page, f"asset_{key.replace('/', '_')}_{plot}")
        assert re.search("[▁▂▃▄▅▆▇█]{3,}", page.locator("body").inner_text())


CHECKS = """
query($path: [String!]!) { assetNodeOrError(assetKey: {path: $path}) { ... on AssetNode {
  assetChecksOrError { ... on AssetChecks { checks {
    name
    executionForLatestMaterialization { status }
    partitionStatuses {
      ... on AssetCheckTimePartitionStatuses { ranges { startKey endKey status } }
      ... on AssetCheckDefaultPartitionStatuses { succeededPartitions failedPartitions skippedPartitions
                                                  executionFailedPartitions inProgressPartitions }
    }
  } } } } } }
"""


def _check_states(server: Webserver, name: str) -> dict[str, set[str]]:
    """check name -> every state it shows: its latest execution's and each partition's."""
    node = server.graphql(CHECKS, {"path": ["market", name]})["assetNodeOrError"]
    states: dict[str, set[str]] = {}
    for check in node["assetChecksOrError"]["checks"]:
        seen = {(check["executionForLatestMaterialization"] or {}).get("status", "NONE")}
        parts = check["partitionStatuses"] or {}
        seen |= {r["status"] for r in parts.get("ranges", [])}
        for field, status in (("failedPartitions", "FAILED"), ("skippedPartitions", "SKIPPED"),
                              ("executionFailedPartitions", "EXECUTION_FAILED"), ("succeededPartitions", "SUCCEEDED")):
            if parts.get(field):
                seen.add(status)
        states[check["name"]] = seen
    return states


@pytest.mark.parametrize("name", PARTITIONED)
def test_every_check_of_a_partitioned_asset_reads_passed(server, page, name):
    states = _check_states(server, name)
    assert states, f"market/{name} has no checks"
    assert {c: s for c, s in states.items() if s != {"SUCCEEDED"}} == {}
    page.goto(f"{server.url}/assets/market/{name}?view=checks")
    page.get_by_text("no_duplicates", exact=True).first.wait_for()
    page.get_by_text("Succeeded", exact=True).nth(len(states) - 1).wait_for()  # statuses load after the names
    listed = page.locator("body").inner_text()
    _shot(page, f"checks_{name}")
    assert listed.count("Succeeded") >= len(states), listed[:2000]
    assert not re.search(r"\b(Failed|Skipped)\b", listed), listed[:2000]
    # One check's partitions: every loaded partition passed, none skipped (the "Skipped (65)").
    page.get_by_text("no_duplicates", exact=True).first.click()
    page.get_by_role("tab", name="Partitions").last.click()
    page.get_by_text(re.compile(r"Passed \(\d")).first.wait_for()
    _shot(page, f"checks_{name}_partitions")
    counts = dict(re.findall(r"(Execution Failed|Failed|Skipped|Passed) \(([\d,]+)\)", page.locator("body").inner_text()))
    assert int(counts["Passed"].replace(",", "")) > 0, counts
    assert counts["Failed"] == counts["Skipped"] == counts["Execution Failed"] == "0", counts


AUTOMATION = "{ repositoriesOrError { ... on RepositoryConnection { nodes { schedules { name } sensors { name } } } } }"


def test_automation_page_lists_every_schedule_and_sensor(server, page):
    from stockula_pipelines.definitions import defs

    expected = sorted([s.name for s in defs.schedules] + [s.name for s in defs.sensors])
    repos = server.graphql(AUTOMATION)["repositoriesOrError"]["nodes"]
    served = {r["name"] for repo in repos for r in repo["schedules"] + repo["sensors"]}
    assert served == set(expected)
    page.goto(f"{server.url}/automation")
    for name in expected:
        page.get_by_text(name, exact=True).first.wait_for()
    _shot(page, "automation")


LATEST_RUN = """
query($key: String!) { runsOrError(filter: {tags: [{key: "dagster/partition", value: $key}]}, limit: 1) {
  ... on Runs { results { runId status } } } }
"""
LATEST_DB_DAY = "SELECT max(date)::text FROM market.price_history WHERE interval = '1d'"


def test_launch_one_partition_from_the_ui(server, page, ui_env, stack_settings):
    import psycopg

    from stockula_pipelines.settings import Role

    with psycopg.connect(stack_settings.dsn(Role.writer, dbname=UI_DB), prepare_threshold=None) as conn:
        day = conn.execute(LATEST_DB_DAY).fetchone()[0]
    page.goto(f"{server.url}/assets/market/price_history")
    page.get_by_text("Materialize…", exact=False).first.click()
    dialog = page.get_by_role("dialog")
    dialog.locator("input[type=text]").first.fill(day)
    dialog.locator("input[type=text]").first.press("Enter")
    _shot(page, "launch_dialog")
    dialog.get_by_text("Launch 1 run").click()
    run = None
    while not run:  # the launch answers before the run is listed
        run = server.graphql(LATEST_RUN, {"key": day})["runsOrError"]["results"]
    assert wait_for_run(server, run[0]["runId"]) == "SUCCESS"
    page.goto(f"{server.url}/runs/{run[0]['runId']}")
    page.get_by_text("RUN_SUCCESS").first.wait_for()
    _shot(page, "launched_run")
    assert {c: s for c, s in _check_states(server, "price_history").items() if s != {"SUCCEEDED"}} == {}


GUIDE = PROJECT_DIR / "docs" / "analyst-guide.md"


def test_analyst_guide_queries_run_as_the_analyst(ui_env, stack_settings):
    """Every SQL block of docs/analyst-guide.md, on the demo's data, as the read-only analyst role."""
    import psycopg

    from stockula_pipelines.settings import Role

    blocks = re.findall(r"```sql\n(.*?)```", GUIDE.read_text(), flags=re.S)
    assert len(blocks) >= 8
    with psycopg.connect(stack_settings.dsn(Role.analyst, dbname=UI_DB), prepare_threshold=None,
                         autocommit=True) as conn:
        for block in blocks:
            if block.startswith("-- expect: permission denied"):
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    conn.execute(block)
                continue
            rows = conn.execute(block).fetchall()
            assert rows, f"no rows from:\n{block}"
