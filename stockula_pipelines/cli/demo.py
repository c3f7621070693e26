"""`stockula demo`: migrate, then materialise the main job for a recent window (synthetic source)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    demo = sub.add_parser("demo", help="migrate and load a recent window of synthetic market data")
    demo.add_argument("--days", type=int, default=None, help="trading days to load (default: STOCKULA_DEMO_TRADING_DAYS)")
    demo.set_defaults(func=cmd_demo)


def cmd_demo(args: argparse.Namespace) -> int:
    from stockula_pipelines.cli.db import cmd_migrate

    return cmd_migrate(argparse.Namespace(database=None))
