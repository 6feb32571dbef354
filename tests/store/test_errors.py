"""Database failures reach the healer as StoreError, whatever the driver raised."""

from __future__ import annotations

from pathlib import Path

import pytest

from healer.adapters.store import SqlStore, default_store_url, upgrade
from healer.errors import StoreError

from .builders import incident


def test_a_malformed_url_is_a_store_error() -> None:
    with pytest.raises(StoreError, match="not a database URL"):
        SqlStore("not a url at all")


def test_an_unsupported_database_is_a_store_error() -> None:
    with pytest.raises(StoreError, match="unsupported database 'mysql'"):
        SqlStore("mysql://healer@localhost/healer")


def test_an_unknown_driver_is_a_store_error() -> None:
    with pytest.raises(StoreError, match="cannot use"):
        SqlStore("postgresql+nosuchdriver://healer@localhost/healer")


def test_an_unreachable_server_fails_on_first_use_not_on_construction() -> None:
    # Port 1 on loopback: nothing listens there, so the connection is refused at once.
    store = SqlStore("postgresql+psycopg://healer:secret@127.0.0.1:1/healer")
    try:
        with pytest.raises(StoreError) as raised, store.unit() as uow:
            uow.add_incident(incident())
    finally:
        store.close()
    assert "add_incident" in str(raised.value)
    assert "secret" not in str(raised.value)


def test_an_unreachable_server_fails_migration_with_a_store_error() -> None:
    with pytest.raises(StoreError, match="migrating the store failed"):
        upgrade("postgresql+psycopg://healer@127.0.0.1:1/healer")


def test_a_sqlite_file_where_no_directory_can_be_made_is_a_store_error(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    with pytest.raises(StoreError, match="cannot create the directory"):
        SqlStore(f"sqlite:///{blocker / 'healer.db'}")


def test_the_default_store_is_a_sqlite_file_named_healer_db() -> None:
    url = default_store_url()
    assert url.startswith("sqlite:///")
    assert url.endswith("healer.db")
    assert Path(url.removeprefix("sqlite:///")).is_absolute()
