"""The executor of every job, chosen by ``STOCKULA_EXECUTOR`` (docs/executors.md), never by a code edit.

- ``multiprocess`` (default): Dagster's own default, one process per step on this machine (and in-process
  for ``execute_in_process``), exactly what the code location had before it named an executor.
- ``in_process``: every step in the run's process (debugging, the smallest footprint).
- ``celery``: every step is a Celery task on the broker Redis (``stockula celery worker`` consumes them).
  The broker's URL carries its ACL password, so it is never part of the run config the UI shows, the
  event log or a command line: the run's process builds it from settings when the executor starts, and
  each worker builds its own (:mod:`stockula_pipelines.celery_app`).
- ``k8s``: dagster-k8s's ``k8s_job_executor``, one Kubernetes Job per step (infra/k8s/dagster.yaml).

dagster-celery and dagster-k8s are imported only when chosen.
"""

from __future__ import annotations

import warnings
from typing import Any

import dagster as dg

from stockula_pipelines.settings import Settings, SettingsError, get_settings

EXECUTORS = ("multiprocess", "in_process", "celery", "k8s")


# Step processes fork from a server that imported the code location once: Dagster's default start method
# spawns every step cold (about 5 s of imports each on 2 cores), which set the pace of multi-step runs and
# of a backfill's check steps. Run config that names a start method still wins.
PRELOADED_START = {"forkserver": {"preload_modules": ["stockula_pipelines.definitions"]}}


def multiprocess_executor() -> dg.ExecutorDefinition:
    """The default: Dagster's ``multi_or_in_process_executor`` (same name and config), whose multiprocess
    mode starts steps from a preloaded forkserver unless the run config names another start method."""
    from dagster._core.definitions.executor_definition import (
        _core_in_process_executor_creation,
        _core_multiprocess_executor_creation,
        _get_default_executor_requirements,
    )

    base = dg.multi_or_in_process_executor

    @dg.executor(name=base.name, config_schema=base.config_schema.as_field(),
                 requirements=_get_default_executor_requirements)
    def preloaded_multi_or_in_process_executor(init_context: dg.InitExecutorContext) -> dg.Executor:
        config = init_context.executor_config
        if "in_process" in config:
            return _core_in_process_executor_creation(config["in_process"])
        multiprocess = dict(config["multiprocess"])
        if not multiprocess.get("start_method"):
            multiprocess["start_method"] = PRELOADED_START
        return _core_multiprocess_executor_creation(multiprocess)

    return preloaded_multi_or_in_process_executor


def in_process_executor() -> dg.ExecutorDefinition:
    return dg.in_process_executor


def celery_app_config(settings: Settings) -> dict[str, Any]:
    """The Celery settings both sides share: the run's process (which sends steps) and every worker."""
    from dagster_celery.config import DEFAULT_CONFIG

    transport = dict(DEFAULT_CONFIG["broker_transport_options"])
    transport["visibility_timeout"] = settings.celery_visibility_timeout_seconds
    return dict(
        DEFAULT_CONFIG,
        # A worker acknowledges a step when it has run, not when it takes it, and takes one at a time:
        # without this a busy worker reserves the next step while another worker sits idle.
        task_acks_late=True,
        worker_prefetch_multiplier=1,
        result_expires=settings.celery_result_expires_seconds,
        broker_transport_options=transport,
        broker_connection_retry_on_startup=True,
    )


def celery_app_args(settings: Settings) -> dict[str, Any]:
    """dagster-celery's app arguments built from settings (secret: the URLs carry the password)."""
    from dagster_celery.config import dict_wrapper

    return {
        "broker": settings.celery_redis_url(settings.celery_broker_db),
        "backend": settings.celery_redis_url(settings.celery_result_db),
        "include": [],
        "config_source": dict_wrapper(celery_app_config(settings)),
    }


def celery_executor() -> dg.ExecutorDefinition:
    """dagster-celery's executor with the broker and backend from settings, not from run config."""
    from dagster._core.execution.retries import RetryMode, get_retries_config
    from dagster_celery.executor import CeleryExecutor

    # dagster-celery registers its one task again for every step it submits; Celery keeps the first and
    # warns each time. Nothing to act on.
    warnings.filterwarnings("ignore", message="Task name 'execute_plan' is already registered")

    class SettingsCeleryExecutor(CeleryExecutor):
        """The URLs are resolved when the run starts, in the run's process, and kept out of its config."""

        def __init__(self, retries: RetryMode) -> None:
            super().__init__(retries=retries)
            self._app_args = celery_app_args(get_settings())

        def app_args(self) -> dict[str, Any]:
            return dict(self._app_args, retries=self.retries)

    @dg.executor(name="celery", config_schema={"retries": get_retries_config()},
                 requirements=dg.multiple_process_executor_requirements())
    def stockula_celery_executor(init_context: dg.InitExecutorContext) -> dg.Executor:
        """Steps run as Celery tasks on the broker Redis of the settings (STOCKULA_BROKER_REDIS_*)."""
        return SettingsCeleryExecutor(RetryMode.from_config(init_context.executor_config["retries"]))

    return stockula_celery_executor


def k8s_executor() -> dg.ExecutorDefinition:
    """dagster-k8s's job executor: its image, namespace and secrets come from the K8sRunLauncher of the
    instance (infra/k8s/dagster.yaml), so the step pods match the run pod."""
    from dagster_k8s import k8s_job_executor

    return k8s_job_executor


_BUILDERS = {
    "multiprocess": multiprocess_executor,
    "in_process": in_process_executor,
    "celery": celery_executor,
    "k8s": k8s_executor,
}


def executor_from_settings(settings: Settings | None = None) -> dg.ExecutorDefinition:
    name = (settings or get_settings()).executor
    builder = _BUILDERS.get(name)
    if builder is None:  # Settings validates the value; a model_copy can still carry anything
        raise SettingsError(f"STOCKULA_EXECUTOR={name!r} is not an executor: one of {', '.join(EXECUTORS)}")
    try:
        return builder()
    except ImportError as exc:
        raise SettingsError(
            f"STOCKULA_EXECUTOR={name} needs {exc.name}: install the project's `executors` extra "
            "(`make setup` does)") from exc
