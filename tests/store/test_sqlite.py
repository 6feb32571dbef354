"""SQLite specifics: the store sets the pragmas the schema and the web app rely on."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from healer.adapters.store import upgrade
from healer.adapters.store.engine import create_store_engine


def test_foreign_keys_and_wal_are_on(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'healer.db'}"
    upgrade(url)
    engine = create_store_engine(url)
    try:
        with engine.connect() as connection:
            assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1
            assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
    finally:
        engine.dispose()
