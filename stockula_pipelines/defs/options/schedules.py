"""Option chains' own job: re-load one day's snapshots. The nightly run loads them beside the daily
bars in ``end_of_day_job`` (defs/market_data/schedules.py), so this domain needs no schedule."""

import dagster as dg

options_job = dg.define_asset_job(
    "options_job",
    selection=dg.AssetSelection.assets(["market", "options_calls"], ["market", "options_puts"]),
    description="Call and put chain snapshots of one trading day (re-loads; the nightly run is end_of_day_job).",
)
