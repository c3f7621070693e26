"""Least privilege, role by role: each login can do its job, and the next step beyond it is refused.

Everything runs on the session's freshly migrated test database through the real stack (the writer and
the analyst through PgBouncer, as the pipeline and analysts connect). A refused operation must fail with
InsufficientPrivilege, not merely fail.
"""

from __future__ import annotations

import psycopg
import pytest
from psycopg import errors, sql

from stockula_pipelines.settings import Role
from stockula_pipelines.stack.layout import StackLayout

pytestmark = pytest.mark.integration

DENIED = errors.InsufficientPrivilege


def refused(conn: psycopg.Connection, statement: str | sql.Composable, params: object = None) -> None:
    with pytest.raises(DENIED):
        conn.execute(statement, params)


def _attributes(test_db, role: Role) -> tuple[bool, bool, bool, bool]:
    with test_db.connect(Role.admin, direct=True) as conn:
        return conn.execute(
            "SELECT rolsuper, rolcreaterole, rolcreatedb, rolbypassrls FROM pg_roles WHERE rolname = %s",
            (test_db.settings.user_for(role),)).fetchone()


@pytest.mark.parametrize("role", [r for r in Role if r is not Role.admin])
def test_no_application_role_is_privileged(test_db, role):
    assert _attributes(test_db, role) == (False, False, False, False)


# The replication role cannot open a session in any database at all (test_replication_role_only_replicates).
@pytest.mark.parametrize("role", [r for r in Role if r not in (Role.admin, Role.replicator)])
def test_no_application_role_reads_secrets_or_the_server_files(test_db, role):
    with test_db.connect(role, direct=True, autocommit=True) as conn:
        if role is not Role.backup:  # see test_backup_role_cannot_read_password_verifiers
            refused(conn, "SELECT rolpassword FROM pg_catalog.pg_authid")
        refused(conn, "SELECT pg_catalog.pg_read_file('postgresql.conf')")
        refused(conn, "SELECT pg_catalog.pg_ls_dir('.')")
        refused(conn, sql.SQL("CREATE ROLE {}").format(sql.Identifier("stockula_should_not_exist")))
        refused(conn, sql.SQL("ALTER ROLE {} SUPERUSER").format(sql.Identifier(test_db.settings.user_for(role))))


def test_replication_role_only_replicates(test_db):
    """The read replica's role (issue 15): REPLICATION LOGIN with a SCRAM verifier, and pg_hba.conf lets it
    open replication connections only, over TCP or the socket."""
    s = test_db.settings
    with test_db.connect(Role.admin, direct=True) as conn:
        row = conn.execute("SELECT rolreplication, rolcanlogin, rolpassword LIKE 'SCRAM-SHA-256$%%', "
                           "(SELECT count(*) FROM pg_auth_members WHERE member = r.oid) "
                           "FROM pg_authid AS r WHERE rolname = %s", (s.replicator_user,)).fetchone()
    assert row == (True, True, True, 0), "REPLICATION LOGIN, a SCRAM verifier, member of no role"
    password = s.password_for(Role.replicator)
    for host in (s.pg_host, str(StackLayout.from_settings(s).run)):
        for dbname in (test_db.name, "postgres"):
            with pytest.raises(psycopg.OperationalError, match="pg_hba.conf rejects connection"):
                psycopg.connect(host=host, port=s.pg_port, user=s.replicator_user, password=password,
                                dbname=dbname, connect_timeout=5).close()
    # What it is for: a physical replication connection (IDENTIFY_SYSTEM is the handshake of a standby).
    with psycopg.connect(host=s.pg_host, port=s.pg_port, user=s.replicator_user, password=password,
                         dbname="replication", replication="true", autocommit=True, connect_timeout=5) as conn:
        system_id, timeline, *_ = conn.execute("IDENTIFY_SYSTEM").fetchone()
    assert int(system_id) > 0 and int(timeline) >= 1


def test_writer_loads_and_models_but_owns_nothing(clean_db):
    s = clean_db.settings
    with clean_db.connect(Role.writer, autocommit=True) as conn:
        assert s.through_pgbouncer(clean_db.dsn(Role.writer))
        # Its job: DML on the data, scratch tables in staging, models in curated.
        conn.execute("INSERT INTO market.stocks (symbol, name) VALUES ('ZZSEC', 'Role test')")
        conn.execute("UPDATE market.stocks SET name = 'Role test 2' WHERE symbol = 'ZZSEC'")
        conn.execute("DELETE FROM market.stocks WHERE symbol = 'ZZSEC'")
        conn.execute("CREATE TABLE staging.role_test_scratch (x int)")
        conn.execute("DROP TABLE staging.role_test_scratch")
        conn.execute("CREATE TABLE curated.role_test_model AS SELECT 1 AS x")
        conn.execute("DROP TABLE curated.role_test_model")
        # Nothing more: the schema is the owner's.
        refused(conn, "CREATE TABLE market.role_test (x int)")
        refused(conn, "CREATE TABLE public.role_test (x int)")
        refused(conn, "DROP TABLE market.price_history")
        refused(conn, "ALTER TABLE market.price_history ADD COLUMN role_test int")
        refused(conn, "TRUNCATE market.price_history")
        refused(conn, "DROP SCHEMA staging")
        refused(conn, "SELECT rolpassword FROM pg_catalog.pg_authid")
    with clean_db.connect(Role.writer, direct=True, autocommit=True) as conn:
        refused(conn, sql.SQL("CREATE DATABASE {}").format(sql.Identifier("stockula_role_test")))
        # The owner-only step it may ask for is narrow: chunks of market hypertables, nothing else.
        refused(conn, "SELECT ops.decompress_market_chunk('market.stocks'::regclass)")
        refused(conn, "SELECT ops.decompress_market_chunk('ops.ingest_log'::regclass)")


def test_analyst_reads_the_published_schemas_and_writes_nothing(clean_db):
    with clean_db.connect(Role.analyst, autocommit=True) as conn:
        for table in ("market.price_history", "market.stocks", "aggregates.price_history_daily",
                      "analytics.market_summary_daily", "quality.quarantine_summary",
                      "quality.data_quality_results"):
            conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.SQL(table))).fetchone()
        curated = conn.execute(
            "SELECT count(*) FROM information_schema.schemata WHERE schema_name = 'curated'").fetchone()[0]
        assert curated == 1
        conn.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'curated'")
        # Not the rejected rows, the bookkeeping or the loader's scratch space.
        refused(conn, "SELECT count(*) FROM quality.quarantine")
        refused(conn, "SELECT count(*) FROM ops.ingest_log")
        refused(conn, "SELECT count(*) FROM ops.schema_migrations")
        refused(conn, "CREATE TABLE staging.role_test (x int)")
        # And nothing written anywhere.
        refused(conn, "INSERT INTO market.stocks (symbol, name) VALUES ('ZZSEC', 'x')")
        refused(conn, "UPDATE market.price_history SET volume = 0")
        refused(conn, "DELETE FROM market.price_history")
        refused(conn, "DELETE FROM aggregates.price_history_daily")
        refused(conn, "CREATE TABLE curated.role_test (x int)")
        refused(conn, "SELECT ops.decompress_market_chunk('market.stocks'::regclass)")


def test_analyst_reads_what_the_writer_models_in_curated(clean_db):
    with clean_db.connect(Role.writer, autocommit=True) as conn, conn.transaction():
        # As lib/models materialises: as the writer's group, whose default privileges publish to analysts.
        conn.execute("SET LOCAL ROLE stockula_write")
        conn.execute("CREATE TABLE curated.role_test_published AS SELECT 42 AS answer")
    try:
        with clean_db.connect(Role.analyst, autocommit=True) as conn:
            assert conn.execute("SELECT answer FROM curated.role_test_published").fetchone() == (42,)
            refused(conn, "DELETE FROM curated.role_test_published")
    finally:
        with clean_db.connect(Role.writer, autocommit=True) as conn, conn.transaction():
            conn.execute("SET LOCAL ROLE stockula_write")
            conn.execute("DROP TABLE curated.role_test_published")


def test_backup_role_reads_everything_and_changes_nothing(clean_db):
    with clean_db.connect(Role.admin, direct=True, autocommit=True) as conn:
        conn.execute("INSERT INTO market.stocks (symbol, name) VALUES ('ZZBAK', 'Backup test')")
    with clean_db.connect(Role.backup, direct=True, autocommit=True) as conn:
        # A dump needs every row, the quarantine and the bookkeeping included, and replication for WAL.
        assert conn.execute("SELECT name FROM market.stocks WHERE symbol = 'ZZBAK'").fetchone() == ("Backup test",)
        conn.execute("SELECT count(*) FROM quality.quarantine").fetchone()
        conn.execute("SELECT count(*) FROM ops.ingest_log").fetchone()
        assert conn.execute("SELECT rolreplication FROM pg_roles WHERE rolname = current_user").fetchone() == (True,)
        refused(conn, "INSERT INTO market.stocks (symbol, name) VALUES ('ZZBK2', 'x')")
        refused(conn, "DELETE FROM market.stocks")
        refused(conn, "UPDATE ops.ingest_log SET rows_loaded = 0")
        refused(conn, "CREATE TABLE staging.role_test (x int)")
        refused(conn, "TRUNCATE quality.quarantine")


@pytest.mark.xfail(strict=True, reason="known gap: lib/db/migrate.py grants the backup login pg_read_all_data, "
                   "which includes SELECT on pg_catalog.pg_authid (every role's SCRAM verifier); the fix is "
                   "explicit read grants on the application schemas instead")
def test_backup_role_cannot_read_password_verifiers(test_db):
    with test_db.connect(Role.backup, direct=True, autocommit=True) as conn:
        refused(conn, "SELECT rolpassword FROM pg_catalog.pg_authid")


def test_monitor_sees_statistics_but_no_data(test_db):
    with test_db.connect(Role.monitor, direct=True, autocommit=True) as conn:
        # pg_monitor: other sessions' queries, statement statistics, the exporter's metric functions.
        assert conn.execute("SELECT pg_has_role(current_user, 'pg_monitor', 'MEMBER')").fetchone() == (True,)
        others = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE usename <> current_user "
                              "AND query IS NOT NULL AND query NOT LIKE '<insufficient privilege>'").fetchone()[0]
        assert others >= 1  # at least the session's admin/writer connections
        conn.execute("SELECT count(*) FROM pg_stat_statements").fetchone()
        conn.execute("SELECT * FROM ops.metrics_backups()").fetchall()
        conn.execute("SELECT * FROM ops.metrics_stocks()").fetchall()
        # No table of the data itself, nothing written.
        refused(conn, "SELECT count(*) FROM market.price_history")
        refused(conn, "SELECT count(*) FROM ops.backups")
        refused(conn, "SELECT count(*) FROM quality.quarantine")
        refused(conn, "INSERT INTO ops.maintenance_log (task) VALUES ('x')")
        refused(conn, "SELECT ops.decompress_market_chunk('market.stocks'::regclass)")


def test_dagster_storage_role_owns_its_database_and_nothing_else(test_db):
    s = test_db.settings
    with psycopg.connect(s.dsn(Role.dagster), autocommit=True) as conn:
        assert conn.info.dbname == s.dagster_db_name
        with conn.transaction(force_rollback=True):  # its job: tables of its own (rolled back here)
            conn.execute("CREATE TABLE public.stockula_role_test (x int)")
            conn.execute("INSERT INTO public.stockula_role_test VALUES (1)")
        owners = conn.execute(
            "SELECT DISTINCT pg_get_userbyid(relowner) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'S', 'v')").fetchall()
        assert {o for (o,) in owners} <= {s.dagster_user}, "Dagster's tables belong to its role"
        refused(conn, sql.SQL("CREATE DATABASE {}").format(sql.Identifier("stockula_role_test")))
    # In the market database it is a stranger.
    with test_db.connect(Role.dagster, direct=True, autocommit=True) as conn:
        refused(conn, "SELECT count(*) FROM market.price_history")
        refused(conn, "SELECT count(*) FROM ops.ingest_log")
        refused(conn, "CREATE TABLE public.role_test (x int)")
    # Nobody else connects to Dagster's database, the writer included.
    with pytest.raises(psycopg.OperationalError, match="permission denied for database"):
        psycopg.connect(s.dsn(Role.writer, direct=True, dbname=s.dagster_db_name), connect_timeout=5).close()


@pytest.mark.parametrize("role", [Role.admin, Role.backup, Role.monitor, Role.dagster])
def test_pgbouncer_serves_only_the_writer_and_the_analyst(test_db, role):
    s = test_db.settings
    with pytest.raises(psycopg.OperationalError, match="login rejected"):
        psycopg.connect(host=s.pgbouncer_host, port=s.pgbouncer_port, user=s.user_for(role),
                        password=s.password_for(role), dbname=test_db.name, connect_timeout=5).close()


@pytest.mark.parametrize("database", ["postgres", "template1", "dagster_db_name"])
def test_pgbouncer_refuses_the_servers_own_databases(test_db, database):
    s = test_db.settings
    dbname = getattr(s, database, database)
    with pytest.raises(psycopg.OperationalError, match="login rejected"):
        psycopg.connect(host=s.pgbouncer_host, port=s.pgbouncer_port, user=s.writer_user,
                        password=s.password_for(Role.writer), dbname=dbname, connect_timeout=5).close()


def test_pgbouncer_console_identity_reaches_only_the_console(test_db):
    from stockula_pipelines.stack.console import console_connection

    s = test_db.settings
    with console_connection(s) as conn:
        assert conn.execute("SHOW POOLS").fetchall()
    with pytest.raises(psycopg.OperationalError, match="login rejected"):
        psycopg.connect(host=s.pgbouncer_host, port=s.pgbouncer_port, user=s.pgbouncer_admin_user,
                        password=s.secret("pgbouncer_admin_password"), dbname=test_db.name, connect_timeout=5).close()
    with pytest.raises(psycopg.OperationalError):  # the writer may not reach the console
        psycopg.connect(host=s.pgbouncer_host, port=s.pgbouncer_port, user=s.writer_user,
                        password=s.password_for(Role.writer), dbname="pgbouncer", connect_timeout=5).close()
    # And no PostgreSQL role carries the console's name.
    with test_db.connect(Role.admin, direct=True) as conn:
        assert conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (s.pgbouncer_admin_user,)).fetchone() is None


def test_redis_serves_only_the_cache_user_and_its_key_space(stack_settings):
    import redis

    s = stack_settings
    anonymous = redis.Redis(host=s.redis_host, port=s.redis_port, socket_timeout=3)
    with pytest.raises(redis.AuthenticationError):
        anonymous.ping()
    anonymous.close()
    wrong = redis.Redis(host=s.redis_host, port=s.redis_port, username=s.redis_user, password="not-the-password",
                        socket_timeout=3)
    with pytest.raises(redis.AuthenticationError):
        wrong.ping()
    wrong.close()
    client = redis.Redis.from_url(s.redis_url, socket_timeout=3)
    try:
        assert client.set("stockula:role-test", "ok", ex=30) and client.get("stockula:role-test") == b"ok"
        client.delete("stockula:role-test")
        with pytest.raises(redis.exceptions.NoPermissionError):
            client.set("elsewhere:role-test", "x")
        for command in (("FLUSHALL",), ("CONFIG", "SET", "appendonly", "yes"), ("ACL", "LIST"), ("KEYS", "*")):
            with pytest.raises(redis.exceptions.NoPermissionError):
                client.execute_command(*command)
    finally:
        client.close()
