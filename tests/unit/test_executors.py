"""STOCKULA_EXECUTOR picks the executor; Celery's settings and its Redis are the ones docs/executors.md names."""

from __future__ import annotations

import hashlib
import re
import secrets
from types import SimpleNamespace

import dagster as dg
import pytest
from pydantic import SecretStr, ValidationError

from stockula_pipelines import executors
from stockula_pipelines.settings import Settings, SettingsError, project_dir
from stockula_pipelines.stack import broker
from stockula_pipelines.stack.services import SERVICES


def settings(**values) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def test_the_default_is_dagsters_own_default_executor_with_steps_forked_from_a_preloaded_server():
    assert Settings.model_fields["executor"].default == "multiprocess"
    default = executors.executor_from_settings(settings())
    dagsters = dg.multi_or_in_process_executor
    # Same name and run config as Dagster's default, so every run config written for it still applies.
    assert default.name == dagsters.name
    assert default.config_schema.as_field().config_type.key == dagsters.config_schema.as_field().config_type.key

    def create(config: dict):
        return default.executor_creation_fn(SimpleNamespace(executor_config=config))  # reads only the config

    preloaded = create({"multiprocess": {"max_concurrent": None, "retries": {"enabled": {}}}})
    assert preloaded._start_method == "forkserver"  # noqa: SLF001 - the executor's only record of it
    assert preloaded._explicit_forkserver_preload == ["stockula_pipelines.definitions"]  # noqa: SLF001
    named = create({"multiprocess": {"max_concurrent": None, "retries": {"enabled": {}}, "start_method": {"spawn": {}}}})
    assert named._start_method == "spawn"  # noqa: SLF001 - run config that names a start method wins
    in_process = create({"in_process": {"retries": {"enabled": {}}}})
    assert type(in_process).__name__ == "InProcessExecutor"
    assert executors.executor_from_settings(settings(executor="in_process")) is dg.in_process_executor


def test_an_unknown_executor_is_refused_naming_the_choices():
    with pytest.raises(ValidationError, match="multiprocess"):
        settings(executor="dask")
    with pytest.raises(SettingsError, match="STOCKULA_EXECUTOR='dask'.*multiprocess, in_process, celery, k8s"):
        executors.executor_from_settings(settings().model_copy(update={"executor": "dask"}))


def test_the_celery_executor_takes_no_broker_from_run_config():
    executor = executors.executor_from_settings(settings(executor="celery"))
    assert executor.name == "celery"
    fields = executor.config_schema.as_field().config_type.fields
    assert set(fields) == {"retries"}  # no broker/backend URL can be typed into (or shown by) the UI


def test_celery_acknowledges_late_takes_one_step_at_a_time_and_expires_results():
    config = executors.celery_app_config(settings(celery_result_expires_seconds=600,
                                                  celery_visibility_timeout_seconds=7200))
    assert config["task_acks_late"] is True
    assert config["worker_prefetch_multiplier"] == 1
    assert config["result_expires"] == 600
    assert config["broker_transport_options"]["visibility_timeout"] == 7200


def test_broker_and_results_use_their_own_redis_databases_and_user():
    token = secrets.token_urlsafe(12)
    s = settings(broker_redis_password=SecretStr(token), broker_redis_port=56999)
    args = executors.celery_app_args(s)
    assert args["broker"] == f"redis://stockula_celery:{token}@127.0.0.1:56999/0"
    assert args["backend"] == f"redis://stockula_celery:{token}@127.0.0.1:56999/1"
    assert s.celery_broker_db != s.celery_result_db
    assert s.broker_redis_port != s.redis_port and s.broker_redis_user != s.redis_user


def test_a_missing_broker_password_names_the_variable():
    with pytest.raises(SettingsError, match="STOCKULA_BROKER_REDIS_PASSWORD"):
        executors.celery_app_args(settings(broker_redis_password=None))


def _conf(name: str) -> dict[str, str]:
    text = (project_dir() / "infra" / "config" / name).read_text()
    return dict(re.findall(r"^([a-z-]+) (.+)$", text, re.M))


def test_the_broker_redis_never_evicts_and_has_its_own_budget():
    broker_conf, cache_conf = _conf("redis.broker.conf"), _conf("redis.common.conf")
    assert broker_conf["maxmemory-policy"] == "noeviction"
    assert cache_conf["maxmemory-policy"] == "allkeys-lru"  # why the broker is not the cache
    assert broker_conf["maxmemory"] and broker_conf["appendonly"] == "yes"
    assert "celery_redis" in {s.name for s in SERVICES}


def test_the_broker_acl_has_no_default_user_and_no_plaintext_password():
    token = secrets.token_urlsafe(12)
    acl = broker.broker_acl("stockula_celery", token)
    assert token not in acl
    assert f"#{hashlib.sha256(token.encode()).hexdigest()}" in acl
    assert acl.splitlines()[0].startswith("user default off")
    assert "-@dangerous" in acl
