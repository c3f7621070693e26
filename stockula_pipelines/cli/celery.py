"""`stockula celery worker|status`: Celery workers for STOCKULA_EXECUTOR=celery (docs/executors.md)."""

from __future__ import annotations

import argparse
import os
import socket


def register(sub: argparse._SubParsersAction) -> None:
    celery = sub.add_parser("celery", help="Celery workers that run the steps of STOCKULA_EXECUTOR=celery runs")
    csub = celery.add_subparsers(dest="celery_command", required=True)
    worker = csub.add_parser("worker", help="run a worker in the foreground (Ctrl-C or SIGTERM stops it warmly)")
    worker.add_argument("--name", default=None,
                        help="the worker's node name (default: stockula-<pid>@<host>; unique per worker)")
    worker.add_argument("--concurrency", type=int, default=1,
                        help="steps this worker runs at once, each in its own process (default 1)")
    worker.add_argument("--queue", default="dagster", help="the queue to consume (dagster-celery's: dagster)")
    worker.add_argument("--loglevel", default="INFO")
    worker.set_defaults(func=cmd_worker)
    status = csub.add_parser("status", help="the workers answering on the broker, with their active steps")
    status.add_argument("--timeout", type=float, default=2.0)
    status.set_defaults(func=cmd_status)


def cmd_worker(args: argparse.Namespace) -> int:
    from stockula_pipelines.settings import project_dir

    # Each task names its run's instance (storage from the DAGSTER_PG_* variables). The project's
    # dagster.yaml keeps artifacts and compute logs under relative paths, which every Dagster process
    # resolves against its working directory, the checkout: the worker works from there too, so steps on
    # different workers hand outputs over and the UI finds their logs.
    os.chdir(project_dir())
    # Loaded once here, before Celery forks its pool: each step's process then finds the code location
    # imported instead of importing it again (seconds per child).
    import stockula_pipelines.definitions  # noqa: F401
    from stockula_pipelines.celery_app import app

    name = args.name or f"stockula-{os.getpid()}@{socket.gethostname()}"
    app.worker_main(["worker", f"--hostname={name}", f"--concurrency={args.concurrency}",
                     f"--queues={args.queue}", "--prefetch-multiplier=1", f"--loglevel={args.loglevel}",
                     "--without-gossip", "--without-mingle"])
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from stockula_pipelines.celery_app import app

    replies = app.control.inspect(timeout=args.timeout).active() or {}
    if not replies:
        print("no Celery worker answered")
        return 1
    for worker, tasks in sorted(replies.items()):
        print(f"{worker}: {len(tasks)} active step(s)")
    return 0
