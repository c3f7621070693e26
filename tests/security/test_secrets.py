"""No secret where others can read it: statement texts the monitor role sees, the stack's logs, the text
of connection errors. The stack sends passwords to PostgreSQL only as SCRAM verifiers made client-side.
"""

from __future__ import annotations

import logging
import secrets
import socket
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from stockula_pipelines.settings import Role, Settings
from stockula_pipelines.stack import postgres, scram, stack_up
from stockula_pipelines.stack.envfile import SERVICE_SECRETS
from stockula_pipelines.stack.layout import RunAs, StackLayout

pytestmark = pytest.mark.integration


def all_secrets(s: Settings) -> dict[str, str]:
    values = {f"{r.value} password": s.password_for(r) for r in Role}
    values |= {field: s.secret(field) for field in SERVICE_SECRETS}
    values["backup cipher pass"] = s.secret("backup_cipher_pass")
    assert all(len(v) >= 16 for v in values.values()), "generated secrets are long random tokens"
    return values


def statement_texts_seen_by_the_monitor(s: Settings) -> list[str]:
    with psycopg.connect(s.dsn(Role.monitor, direct=True), autocommit=True) as conn:
        statements = [q for (q,) in conn.execute("SELECT query FROM pg_stat_statements")]
        activity = [q for (q,) in conn.execute("SELECT query FROM pg_stat_activity WHERE query IS NOT NULL")]
    return statements + activity


def leaks(texts: list[str], values: dict[str, str]) -> list[str]:
    return [f"{name} in: {text[:80]!r}" for text in texts for name, value in values.items() if value in text]


@pytest.fixture(scope="module")
def restarted(stack_settings: Settings) -> Settings:
    """`stack up` again in this process: the bootstrap (roles, passwords) has just run."""
    return stack_up(stack_settings, log=lambda line: None).settings


def test_after_stack_up_the_monitor_reads_no_password(restarted):
    values = all_secrets(restarted)
    texts = statement_texts_seen_by_the_monitor(restarted)
    # The monitor does read other roles' statement texts (so a password there would be exposed) ...
    others = [t for t in texts if t and t != "<insufficient privilege>"]
    assert len(others) > 10
    assert any("pg_authid" in t for t in others), "the bootstrap's own statements are visible to the monitor"
    # ... and none of them holds a secret.
    assert leaks(texts, values) == []


def test_a_password_change_sends_only_a_verifier(restarted):
    """Watch the statement that sets a new password: the monitor sees it, and it holds a verifier."""
    s = restarted
    probe = s.model_copy(update={"writer_user": "stockula_security_probe"})
    password = secrets.token_urlsafe(24)
    layout, run_as = StackLayout.from_settings(s), RunAs.for_current_process()

    with postgres.superuser_connection(s, layout, run_as) as conn:
        try:
            postgres._ensure_role(conn, probe, Role.writer, password)
            texts = statement_texts_seen_by_the_monitor(s)
            setting = [t for t in texts if "stockula_security_probe" in t and "PASSWORD" in t.upper()]
            assert setting, "the password-setting statement is visible to the monitor (the channel is real)"
            assert all("SCRAM-SHA-256$4096:" in t for t in setting)
            assert leaks(texts, {"probe password": password}) == []
            stored = conn.execute(postgres._ROLE_PASSWORD, ("stockula_security_probe",)).fetchone()[0]
            assert scram.matches(stored, password) and not scram.matches(stored, password + "x")
            # The verifier is the real thing: SCRAM login over TCP with the password works.
            with psycopg.connect(host=s.pg_host, port=s.pg_port, user="stockula_security_probe", password=password,
                                 dbname="postgres", connect_timeout=5) as login:
                assert login.execute("SELECT current_user").fetchone() == ("stockula_security_probe",)
            # A second bootstrap with the same password sends nothing: the stored verifier matches.
            before = stored
            postgres._ensure_role(conn, probe, Role.writer, password)
            assert conn.execute(postgres._ROLE_PASSWORD, ("stockula_security_probe",)).fetchone()[0] == before
        finally:
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier("stockula_security_probe")))


def test_scram_verifiers_agree_with_libpq(restarted):
    password = secrets.token_urlsafe(24)
    with psycopg.connect(restarted.dsn(Role.monitor, direct=True)) as conn:
        from_libpq = scram.make_verifier(conn, "anyone", password)
    assert from_libpq.startswith("SCRAM-SHA-256$4096:")
    assert scram.matches(from_libpq, password)
    assert not scram.matches(from_libpq, password[:-1])
    ours = scram.verifier(password)
    assert scram.matches(ours, password) and ours != from_libpq  # fresh salt each time
    salt = b"0123456789abcdef"
    assert scram.verifier(password, salt=salt) == scram.verifier(password, salt=salt)
    assert not scram.matches("md5" + "0" * 32, password) and not scram.matches(None, password)


def test_the_docker_init_script_computes_valid_verifiers(tmp_path):
    """The compose stack's init script hashes with its own Python snippet: it must agree with ours."""
    import re
    import subprocess

    from stockula_pipelines.settings import project_dir

    script = (project_dir() / "infra/docker/initdb/20-stockula-roles.sh").read_text()
    snippet = re.search(r"<<'PY'\n(.*?)\nPY\n", script, re.S).group(1)
    password = secrets.token_urlsafe(24)
    proc = subprocess.run(["python3", "-", "TEST_PASSWORD"], input=snippet, capture_output=True, text=True,
                          env={"PATH": "/usr/bin:/bin", "TEST_PASSWORD": password}, timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert scram.matches(proc.stdout.strip(), password)
    assert password not in script


def test_the_stacks_logs_hold_no_secret(restarted):
    values = all_secrets(restarted)
    logs = sorted(Path(StackLayout.from_settings(restarted).log).glob("*.log"))
    assert {p.name for p in logs} >= {"postgresql.log", "pgbouncer.log", "redis.log"}
    for path in logs:
        text = path.read_text(errors="replace")
        found = [name for name, value in values.items() if value in text]
        assert found == [], f"{path.name} holds {found}"


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_connection_errors_name_no_password(restarted, caplog):
    s = restarted
    real = s.password_for(Role.writer)
    wrong = secrets.token_urlsafe(24)
    # A wrong password, through PgBouncer and straight to PostgreSQL.
    for host, port in ((s.pgbouncer_host, s.pgbouncer_port), (s.pg_host, s.pg_port)):
        with pytest.raises(psycopg.OperationalError) as excinfo:
            psycopg.connect(host=host, port=port, user=s.writer_user, password=wrong, dbname=s.db_name,
                            connect_timeout=5)
        text = f"{excinfo.value!s} {excinfo.value!r}"
        assert "authentication failed" in text or "password" in text.lower()
        assert wrong not in text and real not in text
    # The right password in a DSN whose server is down: the error names host and port, not the password.
    dead = s.model_copy(update={"pgbouncer_port": _closed_port()})
    with pytest.raises(psycopg.OperationalError) as excinfo:
        psycopg.connect(dead.dsn(Role.writer), connect_timeout=3)
    assert str(dead.pgbouncer_port) in str(excinfo.value)
    assert real not in str(excinfo.value) and real not in repr(excinfo.value)

    # The pipeline's resource (a pool, which logs its failed attempts) on the same dead DSN.
    from stockula_pipelines.resources.timescale import DatabaseUnreachable, TimescaleResource

    resource = TimescaleResource(dsn=dead.dsn(Role.writer), pool_timeout_s=1.5)
    caplog.set_level(logging.DEBUG)
    try:
        with pytest.raises(DatabaseUnreachable) as excinfo, resource.connection():
            pass
    finally:
        resource.close()
    assert str(dead.pgbouncer_port) in str(excinfo.value)  # it says where
    assert real not in str(excinfo.value) and real not in repr(excinfo.value)
    assert real not in caplog.text
    assert any("connect" in r.getMessage().lower() for r in caplog.records), "the pool did log its failures"


def test_settings_never_print_their_secrets(restarted):
    text = f"{restarted!r} {restarted!s}"
    for name, value in all_secrets(restarted).items():
        assert value not in text, name
