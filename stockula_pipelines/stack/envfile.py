"""Generated passwords and ports, kept in ``<stack_dir>/stack.env`` (mode 0600).

settings.py reads this file, and its variable names are the ones docker-compose expects in ``.env``,
so the same file can drive both stacks.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from stockula_pipelines.settings import Role, Settings


def read_env_file(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    if not path.exists():
        return values
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, value = line.split("=", 1)
        values[key.strip()] = value.strip()
    return values


def resolve_passwords(settings: Settings, env_file: Path) -> dict[Role, str]:
    """Passwords already configured (environment, .env, stack.env) win; missing ones are generated."""
    on_disk = read_env_file(env_file)
    passwords: dict[Role, str] = {}
    for role in Role:
        secret = getattr(settings, f"{role.value}_password")
        current = secret.get_secret_value() if secret is not None else ""
        current = current or on_disk.get(f"STOCKULA_{role.value.upper()}_PASSWORD", "")
        # token_urlsafe only yields [A-Za-z0-9_-]: safe unquoted in shell, .env, URIs and libpq.
        passwords[role] = current or secrets.token_urlsafe(24)
    return passwords


# Secrets of the stack's services that are not PostgreSQL roles: PgBouncer's console identity, Redis's
# ACL user and (compose only) Grafana's admin. Generated like the role passwords.
SERVICE_SECRETS = ("pgbouncer_admin_password", "redis_password", "grafana_admin_password")
# Celery's broker Redis (issue 15): its ACL user's password.
SERVICE_SECRETS += ("broker_redis_password",)


def resolve_service_secrets(settings: Settings, env_file: Path) -> dict[str, str]:
    on_disk = read_env_file(env_file)
    resolved: dict[str, str] = {}
    for field in SERVICE_SECRETS:
        secret = getattr(settings, field)
        current = secret.get_secret_value() if secret is not None else ""
        resolved[field] = current or on_disk.get(f"STOCKULA_{field.upper()}", "") or secrets.token_urlsafe(24)
    return resolved


def resolve_cipher_pass(settings: Settings, env_file: Path) -> str:
    """The backup repository's passphrase: configured, else the one on disk, else a new one.

    Changing it later makes the existing repository unreadable, so an existing value always wins.
    """
    secret = settings.backup_cipher_pass
    current = secret.get_secret_value() if secret is not None else ""
    return current or read_env_file(env_file).get("STOCKULA_BACKUP_CIPHER_PASS", "") or secrets.token_urlsafe(32)


def render_env(settings: Settings, passwords: dict[Role, str], cipher_pass: str | None = None,
               service_secrets: dict[str, str] | None = None) -> str:
    lines = [
        "# Written by `stockula stack up`. Secrets: keep this file private (mode 0600).",
        "# Also usable as docker-compose's env file: docker compose --env-file .stack/stack.env ...",
    ]
    lines += [f"STOCKULA_{role.value.upper()}_PASSWORD={passwords[role]}" for role in Role]
    lines += [f"STOCKULA_{field.upper()}={value}" for field, value in (service_secrets or {}).items()]
    if cipher_pass:
        lines.append(f"STOCKULA_BACKUP_CIPHER_PASS={cipher_pass}")
    lines += [
        f"STOCKULA_PG_PORT={settings.pg_port}",
        f"STOCKULA_PGBOUNCER_PORT={settings.pgbouncer_port}",
        f"STOCKULA_REDIS_PORT={settings.redis_port}",
        f"STOCKULA_BROKER_REDIS_PORT={settings.broker_redis_port}",  # Celery's broker (issue 15)
        f"STOCKULA_PROMETHEUS_PORT={settings.prometheus_port}",
        f"STOCKULA_POSTGRES_EXPORTER_PORT={settings.postgres_exporter_port}",
        f"STOCKULA_REPLICA_PORT={settings.replica_port}",  # read replica (issue 15)
        "# Dagster's run/event storage (dagster.yaml): straight to PostgreSQL, never through PgBouncer,",
        "# as its own role, which owns Dagster's database and nothing else.",
        f"DAGSTER_PG_HOST={settings.pg_host}",
        f"DAGSTER_PG_PORT={settings.pg_port}",
        f"DAGSTER_PG_USER={settings.dagster_user}",
        f"DAGSTER_PG_PASSWORD={passwords[Role.dagster]}",
        f"DAGSTER_PG_DB={settings.dagster_db_name}",
    ]
    return "\n".join(lines) + "\n"


def write_env_file(env_file: Path, content: str) -> bool:
    """Write atomically with mode 0600 from the start; returns True when the content changed."""
    if env_file.exists() and env_file.read_text() == content:
        env_file.chmod(0o600)
        return False
    tmp = env_file.with_suffix(".env.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(content)
    os.replace(tmp, env_file)
    return True
