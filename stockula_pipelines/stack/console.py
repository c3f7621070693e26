"""PgBouncer's admin console."""

from __future__ import annotations

import psycopg

from stockula_pipelines.settings import Settings


def console_connection(settings: Settings, *, connect_timeout: int = 5) -> psycopg.Connection:
    """PgBouncer's console as its own admin identity (STOCKULA_PGBOUNCER_ADMIN_*), which no PostgreSQL
    role shares. The console speaks only the simple query protocol, hence the client-side cursor."""
    return psycopg.connect(
        host=settings.pgbouncer_host, port=settings.pgbouncer_port, dbname="pgbouncer",
        user=settings.pgbouncer_admin_user, password=settings.secret("pgbouncer_admin_password", "PgBouncer's console"),
        autocommit=True, prepare_threshold=None, cursor_factory=psycopg.ClientCursor, connect_timeout=connect_timeout,
    )


def pgbouncer_reconnect(settings: Settings) -> None:
    """Close pooled server connections as they become idle, so new role settings (search_path) apply."""
    with console_connection(settings) as conn:
        conn.execute("RECONNECT")
