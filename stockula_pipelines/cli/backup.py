"""`stockula backup ...`: physical (pgBackRest) and logical (pg_dump) backups, restores and drills.

Exit codes: 0 success; 1 the operation failed; 2 configuration error; 3 refused (TimescaleDB version
mismatch, broken backup chain, restore target exists); 4 verification failed (damaged file, rows that
differ from the manifest, index corruption).
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime

from stockula_pipelines.settings import get_settings


def register(sub: argparse._SubParsersAction) -> None:
    backup = sub.add_parser("backup", help="backups, restores and verification drills",
                            description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    backup.add_argument("--database", help="database the backup describes (default: STOCKULA_DB_NAME)")
    bsub = backup.add_subparsers(dest="backup_command", required=True)

    run = bsub.add_parser("run", help="take a backup (the origin's rule by default: full on Sundays or when "
                                      "none exists, incremental otherwise)")
    run.add_argument("--kind", choices=["auto", "full", "incr", "logical"], default="auto")
    run.add_argument("--force-full", action="store_true", help="a full physical backup whatever --kind says")
    run.set_defaults(func=cmd_run)

    lst = bsub.add_parser("list", help="backups with their size and last verification")
    lst.add_argument("--json", action="store_true")
    lst.set_defaults(func=cmd_list)

    verify = bsub.add_parser("verify", help="restore a backup into a scratch cluster/database and compare it")
    verify.add_argument("backup_id", nargs="?", help="default: the newest complete backup")
    verify.set_defaults(func=cmd_verify)

    restore = bsub.add_parser("restore", help="restore a backup (never over the live data)")
    restore.add_argument("backup_id")
    restore.add_argument("--to", help="point in time for a physical restore, e.g. '2026-01-05 17:30:00+00'")
    where = restore.add_mutually_exclusive_group()
    where.add_argument("--into", help="logical: the new database's name (default <db>_restore)")
    where.add_argument("--port", type=int, help="physical: the scratch cluster's port (STOCKULA_BACKUP_SCRATCH_PORTS)")
    restore.add_argument("--drop-existing", action="store_true", help="replace an existing target database")
    restore.add_argument("--verify-only", action="store_true",
                         help="check the backup (and, for physical, restore, compare and tear down)")
    restore.set_defaults(func=cmd_restore)

    down = bsub.add_parser("teardown", help="stop and remove the scratch cluster a restore left on PORT")
    down.add_argument("port", type=int)
    down.set_defaults(func=cmd_teardown)


def _target(args: argparse.Namespace):
    from stockula_pipelines.lib.backup.catalog import Target

    settings = get_settings()
    return Target(settings, args.database or settings.db_name)


def _say(message: str) -> None:
    print(message, flush=True)


def _guarded(action):
    """Run ``action`` and turn backup errors into their documented exit codes."""
    import psycopg

    from stockula_pipelines.lib.backup.errors import BackupError

    try:
        return action()
    except BackupError as exc:
        print(f"stockula backup: {exc}", file=sys.stderr)
        return exc.exit_code
    except psycopg.Error as exc:
        print(f"stockula backup: database error: {exc}", file=sys.stderr)
        return 1


def cmd_run(args: argparse.Namespace) -> int:
    from stockula_pipelines.lib.backup import logical, physical

    def action() -> int:
        target = _target(args)
        force_full = args.force_full or target.settings.force_full_backup
        kind = args.kind
        if kind == "auto":
            kind = "full" if datetime.now(UTC).weekday() == 6 else "incr"
        if kind == "logical" and not force_full:
            record = logical.run_logical(target, log=_say)
        else:
            record = physical.run_physical(target, "full" if kind == "logical" else kind, force_full=force_full,
                                           log=_say)
        _say(f"backup: {record.backup_id} ({record.kind}, {record.size_bytes or 0:,} bytes)")
        return 0

    return _guarded(action)


def cmd_list(args: argparse.Namespace) -> int:
    from stockula_pipelines.lib.backup import catalog
    from stockula_pipelines.lib.backup.pgbackrest import BackupPaths, PgBackRest

    def action() -> int:
        target = _target(args)
        rows = catalog.list_backups(target)
        # The repository is the truth for physical sets: flag catalogued sets it no longer holds, and
        # list sets taken outside this database's catalogue (another database, pgbackrest by hand).
        repo = {b["label"]: b for b in PgBackRest(BackupPaths.from_settings(target.settings)).info()}
        for row in rows:
            if row["kind"] != "logical" and row["status"] == "complete" and row["backup_id"] not in repo:
                row["status"] = "missing"
        known = {r["backup_id"] for r in rows}
        for label, b in repo.items():
            if label not in known:
                rows.append({"backup_id": label, "kind": b["type"], "status": "uncatalogued",
                             "finished_at": datetime.fromtimestamp(b["timestamp"]["stop"], UTC),
                             "size_bytes": b["info"]["size"], "passed": None})
        rows.sort(key=lambda r: r["finished_at"], reverse=True)
        if args.json:
            print(json.dumps(rows, default=str, indent=2))
            return 0
        print(f"{'backup':40} {'kind':8} {'status':12} {'finished (UTC)':20} {'size':>14}  verified")
        for r in rows:
            verified = "-" if r.get("passed") is None else ("passed" if r["passed"] else "FAILED")
            print(f"{r['backup_id']:40} {r['kind']:8} {r['status']:12} {r['finished_at']:%Y-%m-%d %H:%M:%S} "
                  f"{(r['size_bytes'] or 0):>14,}  {verified}")
        return 0

    return _guarded(action)


def cmd_verify(args: argparse.Namespace) -> int:
    from stockula_pipelines.lib.backup.drill import run_drill

    def action() -> int:
        run_drill(_target(args), args.backup_id, log=_say)
        return 0

    return _guarded(action)


def cmd_restore(args: argparse.Namespace) -> int:
    from stockula_pipelines.lib.backup import restore

    def action() -> int:
        target = _target(args)
        if args.backup_id.startswith("logical-"):
            if args.port or args.to:
                print("stockula backup restore: a logical backup restores into a database (--into), "
                      "as of its dump; --port/--to are for physical sets", file=sys.stderr)
                return 2
            result = restore.restore_logical(target, args.backup_id, into=args.into, drop_existing=args.drop_existing,
                                             verify_only=args.verify_only, log=_say)
        else:
            if args.to:
                try:
                    datetime.fromisoformat(args.to)
                except ValueError:
                    print(f"stockula backup restore: --to {args.to!r} is not a timestamp such as "
                          "'2026-01-05 17:30:00+00'", file=sys.stderr)
                    return 2
            if args.into:
                print("stockula backup restore: a physical set restores into a scratch cluster (--port)",
                      file=sys.stderr)
                return 2
            result = restore.restore_physical(target, args.backup_id, to=args.to, port=args.port,
                                              verify_only=args.verify_only, log=_say)
        if result.mismatches:
            print(f"stockula backup restore: {len(result.mismatches)} table(s) differ from the manifest: "
                  f"{json.dumps(result.mismatches, default=str)[:2000]}", file=sys.stderr)
            return 4
        if result.cluster is not None:
            _say(f"restore: running on port {result.cluster.port} (socket {result.cluster.socket_dir}); "
                 f"stop it with `stockula backup teardown {result.cluster.port}`")
        elif not result.verified_only:
            _say(f"restore: {args.backup_id} restored into database {result.target}, "
                 f"{len(result.tables)} tables equal to the manifest")
        return 0

    return _guarded(action)


def cmd_teardown(args: argparse.Namespace) -> int:
    from stockula_pipelines.lib.backup.pgbackrest import BackupPaths
    from stockula_pipelines.lib.backup.scratch import ScratchCluster
    from stockula_pipelines.stack.layout import RunAs

    root = BackupPaths.from_settings(get_settings()).scratch / f"restore-{args.port}"
    if not root.exists():
        print(f"stockula backup teardown: no scratch cluster on port {args.port}", file=sys.stderr)
        return 1
    ScratchCluster(root, args.port, RunAs.for_current_process()).destroy()
    _say(f"teardown: scratch cluster on port {args.port} removed")
    return 0
