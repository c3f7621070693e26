"""The `stockula` command: a thin face over lib/ and the local stack.

    stockula stack up|down|status        the native stack on loopback (infra/local)
    stockula db migrate|capabilities|url  schema and connection helpers
    stockula demo                         load a recent window from the synthetic source
    stockula backfill ASSET --from --to   load a range of partitions in one run
    stockula materialize --select …       dagster asset materialize, failing on any failed ERROR check
    stockula backup run|list|verify|restore  backups, restores and verification drills
    stockula maintenance run [TASK]       vacuum, statistics, reindex, timescaledb, health
    stockula ui                           dagster dev (webserver + daemon) with a clean stop
    stockula celery worker|status         Celery workers for STOCKULA_EXECUTOR=celery
"""

from __future__ import annotations

import argparse
import sys

from stockula_pipelines.settings import SettingsError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="stockula", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    from stockula_pipelines.cli import backfill, backup, db, demo, maintenance, materialize, stack, ui

    stack.register(sub)
    db.register(sub)
    demo.register(sub)
    backfill.register(sub)
    materialize.register(sub)
    ui.register(sub)
    backup.register(sub)
    maintenance.register(sub)
    from stockula_pipelines.cli import celery  # issue 15: STOCKULA_EXECUTOR=celery

    celery.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except SettingsError as exc:
        print(f"stockula: configuration error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
