"""infra/docker-compose.yml, validated without a Docker daemon, and held to the native stack's settings."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from stockula_pipelines.settings import project_dir

INFRA = project_dir() / "infra"
COMPOSE = INFRA / "docker-compose.yml"
SECRETS = ("ADMIN", "WRITER", "ANALYST", "BACKUP", "MONITOR", "DAGSTER", "PGBOUNCER_ADMIN", "REDIS", "GRAFANA_ADMIN",
           "REPLICATOR", "BROKER_REDIS")
CIPHER = ["STOCKULA_BACKUP_CIPHER_PASS=dummy-cipher"]
# The native stack's services and the compose service that stands for each.
NATIVE_TO_COMPOSE = {
    "postgres": "timescaledb",
    "pgbouncer": "pgbouncer",
    "redis": "redis",
    "prometheus": "prometheus",
    "postgres_exporter": "postgres_exporter",
    "replica": "timescaledb-replica",  # the read replica (issue 15), compose profile "replica"
    "celery_redis": "celery_redis",
}
COMPOSE_SPEC_CANDIDATES = (
    Path("/usr/lib/python3/dist-packages/compose/config/compose_spec.json"),
    Path("/usr/local/lib/python3/dist-packages/compose/config/compose_spec.json"),
)


def _docker_compose() -> str:
    exe = shutil.which("docker-compose")
    if exe is None:
        pytest.skip("docker-compose not found: `apt-get install -y docker-compose` to validate the compose file")
    return exe


def _run_config(tmp_path: Path, env_lines: list[str]) -> subprocess.CompletedProcess[str]:
    env_file = tmp_path / "dummy.env"
    env_file.write_text("\n".join([*env_lines, *CIPHER]) + "\n")
    # A clean environment: only the env file may supply variables.
    return subprocess.run(
        [_docker_compose(), "--env-file", str(env_file), "-f", str(COMPOSE), "config"],
        capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"}, cwd=tmp_path, timeout=60,
    )


@pytest.fixture(scope="module")
def raw() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


@pytest.fixture()
def resolved(tmp_path: Path) -> dict:
    proc = _run_config(tmp_path, [f"STOCKULA_{r}_PASSWORD=dummy-{r.lower()}" for r in SECRETS])
    assert proc.returncode == 0, proc.stderr
    return yaml.safe_load(proc.stdout)


def test_docker_compose_config_accepts_the_file(resolved: dict) -> None:
    assert set(NATIVE_TO_COMPOSE.values()) | {"grafana", "dagster_webserver", "dagster_daemon"} <= set(resolved["services"])
    assert resolved["services"]["timescaledb"]["environment"]["STOCKULA_WRITER_PASSWORD"] == "dummy-writer"


@pytest.mark.parametrize("missing", SECRETS)
def test_a_missing_secret_fails_loudly(tmp_path: Path, missing: str) -> None:
    proc = _run_config(tmp_path, [f"STOCKULA_{r}_PASSWORD=x" for r in SECRETS if r != missing])
    assert proc.returncode != 0
    assert f"set STOCKULA_{missing}_PASSWORD" in proc.stderr


def test_matches_the_compose_json_schema(resolved: dict) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    schema_path = next((p for p in COMPOSE_SPEC_CANDIDATES if p.exists()), None)
    if schema_path is None:
        pytest.skip("compose_spec.json (shipped with the docker-compose package) not found")
    schema = json.loads(schema_path.read_text())
    jsonschema.validate(resolved, schema)
    jsonschema.validate(yaml.safe_load(COMPOSE.read_text()), schema)


def test_every_service_has_a_healthcheck_and_loopback_ports(raw: dict) -> None:
    for name, service in raw["services"].items():
        assert service.get("healthcheck", {}).get("test"), f"{name} has no healthcheck"
        for mapping in service.get("ports", []):
            assert str(mapping).startswith("127.0.0.1:"), f"{name} publishes {mapping} beyond loopback"


def test_ports_use_the_native_variables_and_defaults(raw: dict) -> None:
    from stockula_pipelines.settings import Settings

    defaults = Settings.model_fields
    for native, compose in NATIVE_TO_COMPOSE.items():
        field = {"postgres": "pg_port", "celery_redis": "broker_redis_port"}.get(native, f"{native}_port")
        var, default = f"STOCKULA_{field.upper()}", defaults[field].default
        ports = raw["services"][compose]["ports"]
        assert any(f"${{{var}:-{default}}}" in p for p in ports), (compose, ports)


def test_no_plaintext_passwords() -> None:
    text = COMPOSE.read_text()
    for line in text.splitlines():
        match = re.match(r"\s*-?\s*([A-Z_]*(?:PASSWORD|PASS))\s*[:=]\s*(.+)", line)
        if match:
            value = match.group(2).strip()
            assert value.startswith("${") and ":?" in value, f"plaintext or optional secret: {line.strip()}"
    for path in INFRA.rglob("*"):
        if path.is_file() and path.suffix in {".yml", ".yaml", ".ini", ".conf", ".json", ".sh"}:
            # A secret value must come from the environment ($VAR / ${VAR}), never a literal.
            literal = re.search(r"(?i)pass(?:word)?\s*[:=]\s*(?!['\"]?\$)['\"]?[A-Za-z0-9_\-]{6,}",
                                path.read_text())
            assert literal is None, f"{path}: {literal and literal.group(0)}"


def _mounts(service: dict) -> dict[str, str]:
    out = {}
    for volume in service.get("volumes", []):
        parts = volume.split(":")
        out[parts[1]] = parts[0]
    return out


def test_shared_configs_are_mounted_not_copied(raw: dict) -> None:
    services = raw["services"]
    expected = {
        "timescaledb": {"/etc/stockula/postgresql.common.conf": "./config/postgresql.common.conf"},
        "pgbouncer": {"/etc/stockula/pgbouncer.common.ini": "./config/pgbouncer.common.ini"},
        "redis": {"/usr/local/etc/redis/redis.conf": "./config/redis.common.conf"},
        "prometheus": {"/etc/prometheus/prometheus.yml": "./config/prometheus.yml",
                       "/etc/prometheus/alerts.yml": "./config/alerts.yml"},
    }
    for name, mounts in expected.items():
        actual = _mounts(services[name])
        for target, source in mounts.items():
            assert actual.get(target) == source, (name, target, actual)
            assert (INFRA / source).is_file()
    # The native stack renders from the same files.
    assert "include '${common_conf}'" in (INFRA / "local/postgresql.local.conf.tmpl").read_text()
    assert "%include ${common_ini}" in (INFRA / "local/pgbouncer.ini.tmpl").read_text()
    assert "include ${common_conf}" in (INFRA / "local/redis.conf.tmpl").read_text()


def test_postgres_settings_match_the_native_stack(raw: dict) -> None:
    common = (INFRA / "config/postgresql.common.conf").read_text()
    assert re.search(r"^shared_preload_libraries = 'timescaledb,pg_stat_statements'$", common, re.M)
    assert re.search(r"^password_encryption = scram-sha-256$", common, re.M)
    assert re.search(r"^wal_level = replica$", common, re.M) and re.search(r"^archive_mode = on$", common, re.M)
    assert re.search(r"^timescaledb.telemetry_level = off$", common, re.M)
    env = raw["services"]["timescaledb"]["environment"]
    assert "--auth-host=scram-sha-256" in env["POSTGRES_INITDB_ARGS"]
    assert env["POSTGRES_HOST_AUTH_METHOD"] == "scram-sha-256"
    image = raw["services"]["timescaledb"]["image"]
    assert image.startswith("timescale/timescaledb-ha:pg15") and not image.endswith(":latest")
    init = _mounts(raw["services"]["timescaledb"])
    assert init["/docker-entrypoint-initdb.d/910_stockula_roles.sh"] == "./docker/initdb/20-stockula-roles.sh"
    for script in (INFRA / "docker/initdb").glob("*.sh"):
        assert subprocess.run(["bash", "-n", str(script)], capture_output=True).returncode == 0, script


def test_pgbouncer_settings_match_the_native_stack() -> None:
    common = (INFRA / "config/pgbouncer.common.ini").read_text()
    assert re.search(r"^pool_mode = transaction$", common, re.M)
    assert re.search(r"^auth_type = hba$", common, re.M)
    ignored = re.search(r"^ignore_startup_parameters = (.+)$", common, re.M).group(1).split(",")
    assert {"extra_float_digits", "options", "statement_timeout"} <= set(ignored)
    docker_ini = (INFRA / "docker/pgbouncer.ini").read_text()
    assert "%include /etc/stockula/pgbouncer.common.ini" in docker_ini
    # Only the market database goes through the pooler; Dagster connects directly.
    databases = docker_ini.split("[databases]")[1].split("%include")[0]
    assert re.findall(r"^(\w+) =", databases, re.M) == ["stockula"]


def test_prometheus_scrapes_the_same_jobs_in_both_stacks(raw: dict) -> None:
    config = yaml.safe_load((INFRA / "config/prometheus.yml").read_text())
    jobs = {job["job_name"]: job["file_sd_configs"][0]["files"][0] for job in config["scrape_configs"]}
    assert set(jobs) == {"prometheus", "postgres_exporter"}
    for job, sd_file in jobs.items():
        targets = json.loads((INFRA / "docker" / "prometheus-targets" / Path(sd_file).name).read_text())
        host = targets[0]["targets"][0].split(":")[0]
        assert host in raw["services"], (job, host)
    exporter_env = raw["services"]["postgres_exporter"]["environment"]
    assert exporter_env["DATA_SOURCE_USER"].startswith("${STOCKULA_MONITOR_USER")
    assert exporter_env["DATA_SOURCE_PASS"].startswith("${STOCKULA_MONITOR_PASSWORD:?")


def test_prometheus_config_and_rules_pass_promtool(tmp_path: Path) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool not installed (apt package prometheus)")
    rules = subprocess.run([promtool, "check", "rules", str(INFRA / "config/alerts.yml")],
                           capture_output=True, text=True)
    assert rules.returncode == 0, rules.stdout + rules.stderr
    for name in ("prometheus.yml", "alerts.yml"):
        shutil.copy(INFRA / "config" / name, tmp_path / name)
    shutil.copytree(INFRA / "docker/prometheus-targets", tmp_path / "targets")
    config = subprocess.run([promtool, "check", "config", str(tmp_path / "prometheus.yml")],
                            capture_output=True, text=True)
    assert config.returncode == 0, config.stdout + config.stderr
    alerts = {r["alert"] for g in yaml.safe_load((INFRA / "config/alerts.yml").read_text())["groups"]
              for r in g["rules"]}
    assert {"PostgresDown", "PostgresConnectionsHigh", "PostgresConnectionsCritical",
            "PostgresLongRunningQuery", "BackupFailed"} <= alerts


def test_dagster_services_build_the_project_and_bypass_pgbouncer(raw: dict) -> None:
    for name in ("dagster_webserver", "dagster_daemon"):
        service = raw["services"][name]
        assert service["build"]["dockerfile"] == "infra/dagster/Dockerfile"
        assert service["environment"]["DAGSTER_PG_HOST"] == "timescaledb"
        assert service["environment"]["DAGSTER_PG_PORT"] == "5432"
        # Dagster's storage logs in as its own role, never as the admin.
        assert service["environment"]["DAGSTER_PG_USER"] == "${STOCKULA_DAGSTER_USER:-stockula_dagster}"
        assert service["environment"]["DAGSTER_PG_PASSWORD"].startswith("${STOCKULA_DAGSTER_PASSWORD:?")
    dockerfile = (INFRA / "dagster/Dockerfile").read_text()
    assert "pip install ." in dockerfile and "DAGSTER_HOME" in dockerfile
    datasources = yaml.safe_load((INFRA / "grafana/provisioning/datasources/stockula.yml").read_text())
    assert {d["type"] for d in datasources["datasources"]} == {"prometheus", "postgres"}
    json.loads((INFRA / "grafana/dashboards/stockula-database.json").read_text())


def test_the_backup_repository_is_a_volume_and_its_key_is_required(raw: dict, tmp_path: Path) -> None:
    db = raw["services"]["timescaledb"]
    assert _mounts(db)["/var/lib/pgbackrest"] == "pgbackrest" and "pgbackrest" in raw["volumes"]
    assert _mounts(db)["/etc/pgbackrest/pgbackrest.conf"] == "./docker/pgbackrest.conf"
    assert db["environment"]["PGBACKREST_REPO1_CIPHER_PASS"].startswith("${STOCKULA_BACKUP_CIPHER_PASS:?")
    exporter = raw["services"]["postgres_exporter"]
    assert any("--extend.query-path=" in arg for arg in exporter["command"])
    env_file = tmp_path / "no-cipher.env"
    env_file.write_text("".join(f"STOCKULA_{r}_PASSWORD=x\n" for r in SECRETS))
    proc = subprocess.run([_docker_compose(), "--env-file", str(env_file), "-f", str(COMPOSE), "config"],
                          capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"}, cwd=tmp_path, timeout=60)
    assert proc.returncode != 0 and "set STOCKULA_BACKUP_CIPHER_PASS" in proc.stderr
    dockerfile = (INFRA / "dagster/Dockerfile").read_text()
    assert "COPY dbt_like_models" in dockerfile and "postgresql-client-15" in dockerfile


# The secrets each compose service is handed, and no others: a service holds only what it uses.
SECRETS_OF = {
    # creates every role (as SCRAM verifiers) and holds the backup repository's key
    "timescaledb": {"STOCKULA_ADMIN_PASSWORD", "STOCKULA_WRITER_PASSWORD", "STOCKULA_ANALYST_PASSWORD",
                    "STOCKULA_BACKUP_PASSWORD", "STOCKULA_MONITOR_PASSWORD", "STOCKULA_DAGSTER_PASSWORD",
                    "STOCKULA_REPLICATOR_PASSWORD", "POSTGRES_PASSWORD", "PGBACKREST_REPO1_CIPHER_PASS"},
    # the read replica: only the replication role's password
    "timescaledb-replica": {"STOCKULA_REPLICATOR_PASSWORD"},
    "pgbouncer": {"STOCKULA_WRITER_PASSWORD", "STOCKULA_ANALYST_PASSWORD", "STOCKULA_PGBOUNCER_ADMIN_PASSWORD"},
    "redis": {"STOCKULA_REDIS_PASSWORD"},
    "postgres_exporter": {"DATA_SOURCE_PASS"},
    "prometheus": set(),
    "grafana": {"STOCKULA_ANALYST_PASSWORD", "GF_SECURITY_ADMIN_PASSWORD"},
    # the pipeline (writer), its storage (dagster), backups, health, the cache; the admin only for the
    # operations jobs (VACUUM/REINDEX, drills) that lib/maintenance and lib/backup still run as it
    "dagster_webserver": {"STOCKULA_WRITER_PASSWORD", "STOCKULA_BACKUP_PASSWORD", "STOCKULA_MONITOR_PASSWORD",
                          "STOCKULA_ADMIN_PASSWORD", "STOCKULA_PGBOUNCER_ADMIN_PASSWORD", "STOCKULA_REDIS_PASSWORD",
                          "DAGSTER_PG_PASSWORD", "STOCKULA_BROKER_REDIS_PASSWORD"},
    # Celery's broker Redis holds its own ACL user's password only
    "celery_redis": {"STOCKULA_BROKER_REDIS_PASSWORD"},
}
SECRETS_OF["dagster_daemon"] = SECRETS_OF["dagster_webserver"]
SECRETS_OF["celery_worker"] = SECRETS_OF["dagster_webserver"]  # runs the daemon's steps: the same secrets
SECRET_NAME = re.compile(r"(PASSWORD|_PASS|CIPHER|SECRET|TOKEN|_KEY)")


def test_each_service_gets_only_its_own_secrets(resolved: dict) -> None:
    assert set(SECRETS_OF) == set(resolved["services"])
    for name, service in resolved["services"].items():
        given = {k for k in (service.get("environment") or {}) if SECRET_NAME.search(k)}
        assert given == SECRETS_OF[name], f"{name}: {sorted(given ^ SECRETS_OF[name])}"


def test_grafana_signs_in_with_its_own_password(resolved: dict) -> None:
    env = resolved["services"]["grafana"]["environment"]
    assert env["GF_SECURITY_ADMIN_PASSWORD"] == "dummy-grafana_admin"
    assert "dummy-admin" not in env.values()
    db = resolved["services"]["timescaledb"]["environment"]
    assert env["GF_SECURITY_ADMIN_PASSWORD"] not in db.values()


def test_redis_requires_its_acl_user(raw: dict) -> None:
    from stockula_pipelines.stack.services import REDIS_CACHE_PERMISSIONS, REDIS_DEFAULT_USER

    redis = raw["services"]["redis"]
    assert "--protected-mode" not in " ".join(map(str, redis.get("command") or []))
    assert redis["entrypoint"] == ["/bin/sh", "/etc/stockula/redis-entrypoint.sh"]
    assert _mounts(redis)["/etc/stockula/redis-entrypoint.sh"] == "./docker/redis-entrypoint.sh"
    assert "REDISCLI_AUTH" in redis["healthcheck"]["test"][1]
    script = (INFRA / "docker/redis-entrypoint.sh").read_text()
    # The same rules as the native stack's ACL file, and only a hash of the password on disk.
    assert f'echo "{REDIS_DEFAULT_USER}"' in script
    assert f"#$digest {REDIS_CACHE_PERMISSIONS}" in script
    assert "--aclfile /tmp/redis/users.acl" in script and "sha256sum" in script
    assert re.search(r"^protected-mode yes$", (INFRA / "config/redis.common.conf").read_text(), re.M)
    assert subprocess.run(["sh", "-n", str(INFRA / "docker/redis-entrypoint.sh")]).returncode == 0


def test_pgbouncer_serves_only_the_application_roles(raw: dict) -> None:
    hba_lines = [line.split() for line in (INFRA / "docker/pgbouncer_hba.conf").read_text().splitlines()
                 if line.strip() and not line.startswith("#")]
    assert [(db, users) for _, db, users, *_ in hba_lines] == [("pgbouncer", "@CONSOLE@"),
                                                               ("@DB@", "@WRITER@,@ANALYST@")]
    assert all(line[-1] == "scram-sha-256" for line in hba_lines)
    entrypoint = (INFRA / "docker/pgbouncer-entrypoint.sh").read_text()
    assert "STOCKULA_ADMIN" not in entrypoint and "MONITOR" not in entrypoint
    ini = (INFRA / "docker/pgbouncer.ini").read_text()
    assert re.search(r"^admin_users = stockula_pgbouncer$", ini, re.M)
    assert re.search(r"^auth_hba_file = /tmp/pgbouncer/pgbouncer_hba.conf$", ini, re.M)
    assert _mounts(raw["services"]["pgbouncer"])["/etc/stockula/pgbouncer_hba.conf"] == "./docker/pgbouncer_hba.conf"


def test_the_read_replica_is_an_optional_standby_of_the_primary(raw: dict) -> None:
    replica, primary = raw["services"]["timescaledb-replica"], raw["services"]["timescaledb"]
    assert replica["profiles"] == ["replica"] and "profiles" not in primary
    assert replica["image"] == primary["image"]
    assert replica["depends_on"]["timescaledb"]["condition"] == "service_healthy"
    mounts = _mounts(replica)
    assert mounts["/home/postgres/pgdata"] == "replica-pgdata" and "replica-pgdata" in raw["volumes"]
    # The copied postgresql.conf includes the shared files at the primary's paths.
    for target in ("/etc/stockula/postgresql.common.conf", "/etc/stockula/postgresql.docker.conf"):
        assert mounts[target] == _mounts(primary)[target]
    script = (INFRA / "docker/replica-entrypoint.sh").read_text()
    assert replica["entrypoint"] == ["/bin/bash", "/etc/stockula/replica-entrypoint.sh"]
    assert mounts["/etc/stockula/replica-entrypoint.sh"] == "./docker/replica-entrypoint.sh"
    assert "pg_basebackup" in script and "-S \"$slot\"" in script and "standby.signal" in script
    # The password reaches a passfile only, and leaves the environment before PostgreSQL starts.
    assert "passfile=$passfile" in script and "unset STOCKULA_REPLICATOR_PASSWORD" in script
    assert script.index("unset STOCKULA_REPLICATOR_PASSWORD") < script.index('exec "$bin/postgres"')
    assert "PGPASSWORD" not in script
    # The primary creates the role and lets it open replication connections only.
    roles = (INFRA / "docker/initdb/20-stockula-roles.sh").read_text()
    assert re.search(r"replicator_user', +'NOSUPERUSER NOCREATEDB NOCREATEROLE REPLICATION'", roles)
    assert _mounts(primary)["/docker-entrypoint-initdb.d/930_stockula_replication.sh"] == \
        "./docker/initdb/40-stockula-replication.sh"
    hba = (INFRA / "docker/initdb/40-stockula-replication.sh").read_text()
    assert 'echo "host    all          $user  all  reject"' in hba and 'cat "$hba"' in hba
    assert hba.index("reject") < hba.index('cat "$hba"')  # before the entrypoint's catch-all line
def test_celery_broker_redis_has_its_own_acl_config_and_volume(raw: dict) -> None:
    """Issue 15: Celery's Redis in compose keeps the native stack's rules (stack/broker.py)."""
    from stockula_pipelines.stack.broker import BROKER_PERMISSIONS, DEFAULT_USER

    service = raw["services"]["celery_redis"]
    assert _mounts(service)["/usr/local/etc/redis/redis.conf"] == "./config/redis.broker.conf"
    assert _mounts(service)["/data"] == "celery-redis-data" and "celery-redis-data" in raw["volumes"]
    script = (INFRA / "docker/redis-broker-entrypoint.sh").read_text()
    assert f'echo "{DEFAULT_USER}"' in script and f"#$digest {BROKER_PERMISSIONS}" in script
    assert subprocess.run(["sh", "-n", str(INFRA / "docker/redis-broker-entrypoint.sh")]).returncode == 0
    worker = raw["services"]["celery_worker"]
    assert worker["command"][:3] == ["stockula", "celery", "worker"] and worker["profiles"] == ["celery"]
    # Steps on a worker hand outputs and logs to the webserver and the other containers: one volume.
    for name in ("dagster_webserver", "dagster_daemon", "celery_worker"):
        assert _mounts(raw["services"][name])["/opt/stockula/.stack/dagster"] == "dagster-data", name
