"""Store fixtures: every store test runs on SQLite and on PostgreSQL.

PostgreSQL runs are isolated by database: each test gets a freshly created database
with a unique name on the server at HEALER_TEST_POSTGRES_URL, dropped afterwards, so
parallel runs never share rows and a killed run's leftovers collide with nothing.
An unreachable server fails the PostgreSQL tests unless HEALER_SKIP_POSTGRES=1.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from healer.adapters.store import SqlStore, upgrade

DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"

BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def postgres_url() -> str:
    return os.environ.get("HEALER_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[Engine]:
    """An autocommit connection to the test server, where databases are created."""
    if os.environ.get("HEALER_SKIP_POSTGRES") == "1":
        pytest.skip("HEALER_SKIP_POSTGRES=1")
    url = postgres_url()
    engine = create_engine(url, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 5})
    problem = reachability_problem(engine)
    if problem is not None:
        engine.dispose()
        shown = make_url(url).render_as_string(hide_password=True)
        pytest.fail(
            f"PostgreSQL is unreachable at {shown}: {problem}\nCI runs the store tests "
            "on both databases: start PostgreSQL, point HEALER_TEST_POSTGRES_URL at one, "
            "or set HEALER_SKIP_POSTGRES=1 to skip them on this machine.",
            pytrace=False,
        )
    yield engine
    engine.dispose()


def reachability_problem(engine: Engine) -> str | None:
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except OperationalError as exc:
        return str(exc.orig).strip()
    return None


@pytest.fixture
def postgres_database_url(postgres_server: Engine) -> Iterator[str]:
    """The URL of a new, empty database of its own, dropped after the test."""
    name = f"healer_test_{uuid.uuid4().hex[:16]}"
    with postgres_server.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        url = make_url(postgres_url()).set(database=name)
        yield url.render_as_string(hide_password=False)
    finally:
        with postgres_server.connect() as connection:
            # FORCE: a test that failed midway may still hold connections.
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(params=BACKENDS)
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database of the test's own, on each backend; no schema yet."""
    if request.param == "sqlite":
        # A directory that does not exist yet: the store must create it.
        return f"sqlite:///{tmp_path / 'state' / 'healer.db'}"
    url: str = request.getfixturevalue("postgres_database_url")
    return url


@pytest.fixture
def sql_store_url(empty_database_url: str) -> str:
    """A database of the test's own, migrated to the newest schema, on each backend."""
    upgrade(empty_database_url)
    return empty_database_url


@pytest.fixture
def sql_store(sql_store_url: str) -> Iterator[SqlStore]:
    store = SqlStore(sql_store_url)
    yield store
    store.close()
