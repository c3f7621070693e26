"""The Celery app of the workers: dagster-celery's ``execute_plan`` task on the broker of the settings.

``stockula celery worker`` runs it (``celery -A stockula_pipelines.celery_app worker`` works too). The
app is built from settings (STOCKULA_BROKER_REDIS_*) when this module is imported, so the broker's
password is read from the environment or stack.env and never appears on a command line or in a config
file of its own. The executor side is :func:`stockula_pipelines.executors.celery_executor`; both use
:func:`stockula_pipelines.executors.celery_app_args`.
"""

from __future__ import annotations

import logging

from celery import Celery, signals
from dagster_celery.make_app import make_app
from dagster_celery.tasks import create_task

from stockula_pipelines.executors import celery_app_args
from stockula_pipelines.settings import get_settings


def build_app() -> Celery:
    return make_app(celery_app_args(get_settings()))


@signals.after_setup_logger.connect
def _no_step_results_in_the_log(**_: object) -> None:
    """Celery logs each task's return value at INFO: here a step's serialised events, megabytes for a long
    backfill. Failures are still logged (ERROR)."""
    logging.getLogger("celery.app.trace").setLevel(logging.WARNING)


app = build_app()
execute_plan = create_task(app)
