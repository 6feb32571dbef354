"""Runs the Alembic migrations in the checkout's `migrations/` from Python.

The schema comes only from these migrations; the daemon, the tests and `healer`
commands all upgrade through here, on the same engine setup the store uses.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.util import CommandError
from sqlalchemy import Connection, text
from sqlalchemy.exc import SQLAlchemyError

from healer.adapters.store.engine import create_store_engine, describe
from healer.errors import StoreError

log = logging.getLogger(__name__)

# healer/adapters/store/migrate.py -> the repository root, where the package is
# installed from (editable) and where alembic.ini and migrations/ live.
MIGRATIONS = Path(__file__).resolve().parents[3] / "migrations"
MIGRATION_LOCK = 0x6865616C6572  # "healer": the advisory lock key every replica agrees on


def upgrade(url: str, revision: str = "head") -> None:
    """Migrate the database at `url` up to `revision`."""
    log.info("upgrading the incident store to %s", revision)
    _run(url, lambda config: command.upgrade(config, revision))


def downgrade(url: str, revision: str) -> None:
    """Migrate the database at `url` down to `revision` ("base" drops every table)."""
    log.info("downgrading the incident store to %s", revision)
    _run(url, lambda config: command.downgrade(config, revision))


def migrations_directory() -> Path:
    if not (MIGRATIONS / "env.py").is_file():
        raise StoreError(
            f"the store's migrations are missing: no {MIGRATIONS / 'env.py'}; "
            "run the healer from its source checkout (pip install -e .)"
        )
    return MIGRATIONS


def _run(url: str, migrate: Callable[[Config], None]) -> None:
    directory = migrations_directory()
    engine = create_store_engine(url)
    try:
        # One transaction for the whole run: on PostgreSQL (and SQLite, which the
        # engine puts in explicit transactions) a failed migration leaves nothing half done.
        immediate = engine.connect().execution_options(sqlite_begin="BEGIN IMMEDIATE")
        with immediate as connection, connection.begin():
            _one_at_a_time(connection)
            migrate(_config(directory, connection))
    except SQLAlchemyError as exc:
        raise StoreError(f"migrating the store failed: {describe(exc)}") from exc
    except CommandError as exc:
        raise StoreError(f"migrating the store failed: {exc}") from exc
    finally:
        engine.dispose()


def _one_at_a_time(connection: Connection) -> None:
    """Replicas starting together must not migrate the same database at once: the
    second waits for the first to commit, then finds the schema current. PostgreSQL: a
    transaction-scoped advisory lock; SQLite: the transaction began IMMEDIATE."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})


def _config(directory: Path, connection: Connection) -> Config:
    config = Config()
    # Config values go through configparser interpolation, where % is special.
    config.set_main_option("script_location", str(directory).replace("%", "%%"))
    config.set_main_option("path_separator", "os")
    # env.py migrates this connection instead of opening its own from a URL.
    config.attributes["connection"] = connection
    return config
