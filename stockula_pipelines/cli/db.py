"""`stockula db ...`: migrations, server capabilities and DSNs."""

from __future__ import annotations

import argparse
import json
import sys

import psycopg

from stockula_pipelines.settings import Role, get_settings, project_dir


def register(sub: argparse._SubParsersAction) -> None:
    db = sub.add_parser("db", help="schema migrations, capabilities and connection strings")
    db_sub = db.add_subparsers(dest="db_command", required=True)

    mig = db_sub.add_parser("migrate", help="apply pending migrations from sql/ (idempotent)")
    mig.add_argument("--database", help="database to migrate (default: STOCKULA_DB_NAME)")
    mig.set_defaults(func=cmd_migrate)

    caps = db_sub.add_parser("capabilities", help="print the TimescaleDB edition and its native features")
    caps.add_argument("--json", action="store_true", help="machine-readable output")
    caps.set_defaults(func=cmd_capabilities)

    url = db_sub.add_parser("url", help="print a libpq connection URI")
    url.add_argument("--role", choices=[r.value for r in Role], default=Role.writer.value)
    url.add_argument("--direct", action="store_true", help="connect to PostgreSQL, bypassing PgBouncer")
    url.add_argument("--database", help="database name (default: STOCKULA_DB_NAME)")
    url.set_defaults(func=cmd_url)


def cmd_migrate(args: argparse.Namespace) -> int:
    from stockula_pipelines.lib.db.migrate import MigrationError, migrate

    settings = get_settings()
    dsn = settings.dsn(Role.admin, direct=True, dbname=args.database)
    try:
        report = migrate(
            dsn,
            project_dir() / "sql",
            writer_user=settings.writer_user,
            analyst_user=settings.analyst_user,
            backup_user=settings.backup_user,
            progress=lambda msg: print(f"  {msg}", flush=True),
        )
    except (MigrationError, psycopg.OperationalError) as exc:
        print(f"stockula db migrate: {exc}", file=sys.stderr)
        return 1
    if report.applied and settings.use_pgbouncer:
        from stockula_pipelines.stack.console import pgbouncer_reconnect

        try:
            pgbouncer_reconnect(settings)
        except psycopg.Error as exc:  # a PgBouncer we don't administer: its pool ages out by itself
            print(f"  note: could not ask PgBouncer to reconnect ({exc}); new role settings apply to new connections")
    print(
        f"migrations: {len(report.applied)} applied, {len(report.already_applied)} already applied "
        f"(edition: {report.edition})"
    )
    return 0


def cmd_capabilities(args: argparse.Namespace) -> int:
    from stockula_pipelines.lib.db.capabilities import detect

    settings = get_settings()
    with psycopg.connect(settings.dsn(Role.admin, direct=True)) as conn:
        caps = detect(conn)
    if args.json:
        print(json.dumps(caps.as_dict(), indent=2))
        return 0
    native = {True: "native", False: "not available (fallback in use)"}
    print(f"PostgreSQL:              {caps.postgres_version}")
    print(f"TimescaleDB:             {caps.timescaledb_version or 'not created'} "
          f"(available: {caps.timescaledb_available or 'no'})")
    print(f"edition:                 {caps.edition} (timescaledb.license = {caps.license})")
    print("hypertables:             native")
    print(f"continuous aggregates:   {native[caps.continuous_aggregates]}"
          + ("" if caps.continuous_aggregates else " -> rollup tables refreshed by window"))
    print(f"compression:             {native[caps.compression]}")
    print(f"policies (jobs):         {native[caps.policies]}"
          + ("" if caps.policies else " -> retention by drop_chunks from the maintenance job"))
    return 0


def cmd_url(args: argparse.Namespace) -> int:
    print(get_settings().dsn(args.role, direct=args.direct, dbname=args.database))
    return 0
