"""The schema comes from the Alembic migrations, and they match the ORM models."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from healer.adapters.store import SqlStore, downgrade, migrate, upgrade
from healer.adapters.store.schema import Base
from healer.errors import StoreError

STORE_TABLES = {
    "incidents",
    "timeline_events",
    "actions",
    "approvals",
    "miner_state",
    "playbook_outcomes",
}


def tables(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return set(inspect(connection).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()


def differences(url: str) -> list[object]:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            return list(compare_metadata(context, Base.metadata))
    finally:
        engine.dispose()


def test_upgrade_downgrade_and_upgrade_again(empty_database_url: str) -> None:
    upgrade(empty_database_url)
    assert tables(empty_database_url) == STORE_TABLES

    downgrade(empty_database_url, "base")
    assert tables(empty_database_url) == set()

    upgrade(empty_database_url, "head")
    assert tables(empty_database_url) == STORE_TABLES


def test_migrated_schema_matches_the_models(sql_store_url: str) -> None:
    assert differences(sql_store_url) == []


def test_upgrading_twice_changes_nothing(sql_store_url: str) -> None:
    upgrade(sql_store_url)
    assert tables(sql_store_url) == STORE_TABLES


def test_store_migrate_creates_the_schema(empty_database_url: str) -> None:
    store = SqlStore(empty_database_url)
    try:
        store.migrate()
    finally:
        store.close()
    assert tables(empty_database_url) == STORE_TABLES


def test_store_does_not_create_tables_itself(empty_database_url: str) -> None:
    store = SqlStore(empty_database_url)
    try:
        with pytest.raises(StoreError, match="get_incident"), store.unit() as uow:
            uow.get_incident("inc-1")
    finally:
        store.close()
    assert tables(empty_database_url) == set()


def test_unknown_revision_is_a_store_error(empty_database_url: str) -> None:
    with pytest.raises(StoreError, match="migrating the store failed"):
        upgrade(empty_database_url, "nosuchrevision")


def test_missing_migrations_directory_is_a_clear_store_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(migrate, "MIGRATIONS", tmp_path / "migrations")
    with pytest.raises(StoreError, match="migrations are missing"):
        upgrade(f"sqlite:///{tmp_path / 'healer.db'}")


def test_replicas_migrating_together_all_succeed(empty_database_url: str) -> None:
    """Replicas start at once on an empty database (separate processes, as in a
    Deployment): one migrates, the others wait and find the schema current."""
    script = "import sys; from healer.adapters.store import upgrade; upgrade(sys.argv[1])"
    runs = [
        subprocess.Popen(
            [sys.executable, "-c", script, empty_database_url],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        for _ in range(3)
    ]
    outputs = [run.communicate(timeout=120)[0].decode() for run in runs]
    assert [run.returncode for run in runs] == [0, 0, 0], outputs
    assert differences(empty_database_url) == []
