"""`stockula stack up|down|status`: the native stack on loopback (see infra/README.md)."""

from __future__ import annotations

import argparse
import sys

from stockula_pipelines.settings import get_settings


def register(subparsers: argparse._SubParsersAction) -> None:
    stack = subparsers.add_parser(
        "stack", help="run PostgreSQL+TimescaleDB, PgBouncer, Redis, Prometheus natively on loopback"
    )
    stack_sub = stack.add_subparsers(dest="stack_command", required=True)
    up = stack_sub.add_parser("up", help="start every service (idempotent); bootstraps roles and databases")
    up.add_argument("--replica", action="store_true",
                    help="also run the read replica, a streaming standby on STOCKULA_REPLICA_PORT "
                         "(as STOCKULA_REPLICA=true; docs/replica.md)")
    up.set_defaults(func=cmd_up)
    stack_sub.add_parser("down", help="stop every service of the stack").set_defaults(func=cmd_down)
    stack_sub.add_parser("status", help="print each service; exit 1 unless all are up") \
        .set_defaults(func=cmd_status)
    stack_sub.add_parser("drop-replica", help="stop the read replica, drop its replication slot on the primary "
                         "and delete its data").set_defaults(func=cmd_drop_replica)


def _print_status(statuses: list) -> bool:
    print(f"{'service':<18} {'port':>6} {'pid':>8}  state")
    for s in statuses:
        print(f"{s.name:<18} {s.port:>6} {s.pid or '-':>8}  {'up' if s.up else 'down'}")
    return all(s.up for s in statuses)


def cmd_up(args: argparse.Namespace) -> int:
    from stockula_pipelines.stack import StackError, stack_up

    settings = get_settings()
    if args.replica:
        settings = settings.model_copy(update={"replica": True})
    try:
        info = stack_up(settings)
    except StackError as exc:
        print(f"stockula stack up: {exc}", file=sys.stderr)
        return 1
    print(f"secrets and ports: {info.env_file}")
    return 0 if _print_status(info.services) else 1


def _stop(command: str, action) -> int:
    from stockula_pipelines.stack import StackError

    try:
        action(get_settings())
    except StackError as exc:
        print(f"stockula stack {command}: {exc}", file=sys.stderr)
        return 1
    return 0


def cmd_down(args: argparse.Namespace) -> int:
    from stockula_pipelines.stack import stack_down

    return _stop("down", stack_down)


def cmd_status(args: argparse.Namespace) -> int:
    from stockula_pipelines.stack import stack_status

    return 0 if _print_status(stack_status(get_settings())) else 1


def cmd_drop_replica(args: argparse.Namespace) -> int:
    from stockula_pipelines.stack import drop_replica

    return _stop("drop-replica", drop_replica)
