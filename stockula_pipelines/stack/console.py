"""PgBouncer's admin console."""

from __future__ import annotations

import psycopg

from stockula_pipelines.settings import Role, Settings


def pgbouncer_reconnect(settings: Settings) -> None:
    """Close pooled server connections as they become idle, so new role settings (search_path) apply.

    The console speaks only the simple query protocol, hence the client-side cursor.
    """
    with psycopg.connect(
        host=settings.pgbouncer_host, port=settings.pgbouncer_port, dbname="pgbouncer",
        user=settings.admin_user, password=settings.password_for(Role.admin),
        autocommit=True, prepare_threshold=None, cursor_factory=psycopg.ClientCursor, connect_timeout=5,
    ) as conn:
        conn.execute("RECONNECT")
