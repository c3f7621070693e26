"""`stockula maintenance run [vacuum|statistics|reindex|timescaledb|health|all]`.

Exit codes: 0 done (health: no critical alert); 1 a task failed; 2 configuration error; 3 a load or
another maintenance task kept the database busy; 5 the health report raised a critical alert.
"""

from __future__ import annotations

import argparse
import json
import sys

from stockula_pipelines.settings import Role, get_settings

EXIT_BUSY = 3
EXIT_CRITICAL = 5


def register(sub: argparse._SubParsersAction) -> None:
    from stockula_pipelines.lib.maintenance.tasks import TASKS

    maint = sub.add_parser("maintenance", help="vacuum, statistics, reindex, TimescaleDB retention, health",
                           description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    msub = maint.add_subparsers(dest="maintenance_command", required=True)
    run = msub.add_parser("run", help="run one task, or all of them in order")
    run.add_argument("task", nargs="?", default="all", choices=[*TASKS, "all"])
    run.add_argument("--database", help="default: STOCKULA_DB_NAME")
    run.add_argument("--wait", type=float, default=600.0, help="seconds to wait for a running load (default 600)")
    run.add_argument("--json", action="store_true", help="print the reports as JSON")
    run.set_defaults(func=cmd_run)


def cmd_run(args: argparse.Namespace) -> int:
    import psycopg

    from stockula_pipelines.lib.maintenance.guard import MaintenanceBusy
    from stockula_pipelines.lib.maintenance.health import jsonable
    from stockula_pipelines.lib.maintenance.tasks import run_tasks

    settings = get_settings()
    dbname = args.database or settings.db_name
    log = (lambda _m: None) if args.json else (lambda m: print(m, flush=True))
    try:
        reports = run_tasks(settings.dsn(Role.admin, direct=True, dbname=dbname),
                            settings.dsn(Role.writer, direct=True, dbname=dbname), settings, args.task,
                            wait_seconds=args.wait, log=log)
    except MaintenanceBusy as exc:
        print(f"stockula maintenance: {exc}", file=sys.stderr)
        return EXIT_BUSY
    except psycopg.Error as exc:
        print(f"stockula maintenance: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps([jsonable(r.__dict__) for r in reports], indent=2, default=str))
    critical = []
    for r in reports:
        for alert in r.report.get("alerts", []) if r.task == "health" else []:
            if not args.json:
                print(f"  {alert['severity'].upper()}: {alert['name']}: {alert['message']}")
            critical += [alert] if alert["severity"] == "critical" else []
    return EXIT_CRITICAL if critical else 0
