"""infra/k8s/dagster.yaml against Dagster's own schemas, and STOCKULA_EXECUTOR=k8s in the definitions."""

from __future__ import annotations

import importlib
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from stockula_pipelines.settings import project_dir

K8S_DIR = project_dir() / "infra" / "k8s"
# What the pods' environment supplies (ConfigMap, Secret, downward API); the password is a throwaway.
POD_ENV = {
    "DAGSTER_PG_HOST": "timescaledb", "DAGSTER_PG_PORT": "5432", "DAGSTER_PG_USER": "stockula_dagster",
    "DAGSTER_PG_PASSWORD": secrets.token_urlsafe(12), "DAGSTER_PG_DB": "dagster",
    "DAGSTER_K8S_NAMESPACE": "stockula", "STOCKULA_IMAGE": "registry.example/stockula-dagster:1",
}


@pytest.fixture()
def pod_env(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for key, value in POD_ENV.items():
        monkeypatch.setenv(key, value)
    return POD_ENV


def _raw() -> dict:
    return yaml.safe_load((K8S_DIR / "dagster.yaml").read_text())


def test_the_variant_passes_dagsters_instance_schema(pod_env):
    from dagster._core.instance.config import dagster_instance_config

    config, custom_class = dagster_instance_config(str(K8S_DIR))
    assert custom_class is None
    assert config["run_launcher"]["class"] == "K8sRunLauncher"
    assert config["concurrency"]["pools"]["default_limit"] == 1


def _configurable_sections(config: dict) -> dict[str, dict]:
    sections = {name: value for name, value in config.items() if isinstance(value, dict) and "module" in value}
    assert {"run_launcher", "compute_logs", "local_artifact_storage"} <= set(sections)
    return sections


def test_each_configurable_class_accepts_its_config(pod_env):
    from dagster._config import process_config

    for name, section in _configurable_sections(_raw()).items():
        cls = getattr(importlib.import_module(section["module"]), section["class"])
        result = process_config(cls.config_type(), section.get("config") or {})
        assert result.success, f"{name} ({section['class']}): {[e.message for e in result.errors]}"
        if name == "run_launcher":
            assert result.value["job_image"] == POD_ENV["STOCKULA_IMAGE"]
            assert result.value["job_namespace"] == POD_ENV["DAGSTER_K8S_NAMESPACE"]
    # The storage is the project's pooled dagster-postgres storage: its class and config schema too.
    section = _raw()["storage"]["custom"]
    cls = getattr(importlib.import_module(section["module"]), section["class"])
    storage = process_config(cls.config_type(), section["config"])
    assert storage.success, [e.message for e in storage.errors]
    assert storage.value["postgres_db"]["password"] == POD_ENV["DAGSTER_PG_PASSWORD"]


def test_a_wrong_key_fails_the_same_validation(pod_env):
    """The check above can fail: a misspelt run-launcher key is refused by the class's schema."""
    from dagster._config import process_config
    from dagster_k8s import K8sRunLauncher

    section = dict(_raw()["run_launcher"]["config"], job_namespaces="typo")
    assert not process_config(K8sRunLauncher.config_type(), section).success


def test_logs_and_artifacts_live_on_the_shared_volume_and_no_secret_is_written_down():
    raw = _raw()
    mounts = [m["mountPath"] for m in raw["run_launcher"]["config"]["volume_mounts"]]
    for section in ("compute_logs", "local_artifact_storage"):
        base = Path(raw[section]["config"]["base_dir"])
        assert base.is_absolute(), f"{section} is relative: a pod would lose it"
        assert any(base.is_relative_to(m) for m in mounts), f"{section} {base} is on no mounted volume"
    claims = [v["persistentVolumeClaim"]["claimName"] for v in raw["run_launcher"]["config"]["volumes"]]
    assert claims == ["stockula-dagster-data"]
    # Every secret of the storage comes from the environment.
    assert raw["storage"]["custom"]["config"]["postgres_db"]["password"] == {"env": "DAGSTER_PG_PASSWORD"}


def test_the_image_contains_both_engines():
    dockerfile = (project_dir() / "infra/dagster/Dockerfile").read_text()
    assert "pip install .[executors]" in dockerfile
    import tomllib

    extras = tomllib.loads((project_dir() / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    names = {e.split(">")[0].split("=")[0].strip() for e in extras["executors"]}
    assert {"dagster-k8s", "dagster-celery"} <= names


def test_stockula_executor_k8s_builds_definitions_with_the_k8s_job_executor(tmp_path: Path):
    code = ("from stockula_pipelines.definitions import defs; from dagster_k8s import k8s_job_executor; "
            "job = defs.resolve_implicit_global_asset_job_def(); "
            "assert job.executor_def is k8s_job_executor, job.executor_def; print(job.executor_def.name)")
    env = dict(os.environ, STOCKULA_EXECUTOR="k8s", DAGSTER_HOME=str(tmp_path))
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=180,
                          cwd=project_dir())
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip().splitlines()[-1] == "k8s"
