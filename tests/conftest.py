"""Shared fixtures: the real local stack and a freshly migrated test database.

Integration tests never touch the demo database (``stockula``): the session creates
``stockula_test`` from scratch, migrates it and hands out DSNs for each role. Unit tests need none of
this and run without the stack.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from psycopg import sql

from stockula_pipelines.settings import Role, Settings, get_settings

PROJECT_DIR = Path(__file__).resolve().parents[1]
TEST_DB = os.environ.get("STOCKULA_TEST_DB", "stockula_test")

# The fault suite reuses the deterministic loads of tests/integration/ops_support.py, which pytest
# puts on sys.path only when it collects that folder. (One conftest for the whole tree: a second one
# in a sub-folder would be imported under the same name and shadow ``from conftest import ...``.)
sys.path.insert(0, str(Path(__file__).resolve().parent / "integration"))

# The property suite (tests/property): a fixed seed (derandomize), bounded examples, no deadline
# (the machine is shared) and no example database written into the checkout.
# HYPOTHESIS_PROFILE=deep runs the same properties with more examples, still derandomised.
_HYPOTHESIS = {
    "derandomize": True,
    "deadline": None,
    "database": None,
    "print_blob": True,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture],
}
hypothesis_settings.register_profile("stockula", max_examples=100, **_HYPOTHESIS)
hypothesis_settings.register_profile("deep", max_examples=2000, **_HYPOTHESIS)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "stockula"))


@dataclass(frozen=True)
class TestDatabase:
    settings: Settings
    name: str

    __test__ = False  # not a test class

    def dsn(self, role: Role | str = Role.writer, *, direct: bool = False) -> str:
        return self.settings.dsn(role, direct=direct, dbname=self.name)

    def connect(self, role: Role | str = Role.writer, *, direct: bool = False, **kwargs) -> psycopg.Connection:
        kwargs.setdefault("prepare_threshold", None)
        return psycopg.connect(self.dsn(role, direct=direct), **kwargs)


@pytest.fixture(scope="session")
def stack_settings() -> Settings:
    from stockula_pipelines.stack import stack_status, stack_up

    settings = get_settings()
    if not all(s.up for s in stack_status(settings)):
        stack_up(settings)
    from stockula_pipelines.settings import reload_settings

    return reload_settings()  # the stack may just have written its passwords


def recreate_database(settings: Settings, name: str) -> None:
    with psycopg.connect(settings.dsn(Role.admin, direct=True, dbname="postgres"), autocommit=True) as conn:
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            (name,),
        )
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(name), sql.Identifier(settings.admin_user)))


def migrate_database(settings: Settings, name: str):
    from stockula_pipelines.lib.db.migrate import migrate

    return migrate(
        settings.dsn(Role.admin, direct=True, dbname=name),
        PROJECT_DIR / "sql",
        writer_user=settings.writer_user,
        analyst_user=settings.analyst_user,
        backup_user=settings.backup_user,
    )


@pytest.fixture(scope="session")
def test_db(stack_settings: Settings) -> TestDatabase:
    """A database migrated from empty at the start of the session."""
    recreate_database(stack_settings, TEST_DB)
    migrate_database(stack_settings, TEST_DB)
    return TestDatabase(stack_settings, TEST_DB)


def empty_data_tables(db: TestDatabase) -> None:
    """Empty every data table of ``db`` (schema, roles and the migration log untouched)."""
    with db.connect(Role.admin, direct=True, autocommit=True) as conn:
        tables = conn.execute(
            """
            SELECT schemaname, tablename FROM pg_tables
            WHERE schemaname IN ('market', 'analytics', 'quality', 'staging')
               OR (schemaname = 'ops' AND tablename <> 'schema_migrations')
               OR (schemaname = 'aggregates')
            """
        ).fetchall()
        if tables:
            conn.execute(sql.SQL("TRUNCATE {} CASCADE").format(sql.SQL(", ").join(sql.Identifier(s, t) for s, t in tables)))


@pytest.fixture()
def clean_db(test_db: TestDatabase) -> TestDatabase:
    """The test database with every data table emptied (schema and roles untouched)."""
    empty_data_tables(test_db)
    return test_db
