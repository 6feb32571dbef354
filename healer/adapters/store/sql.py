"""`SqlStore`: the incident store on SQLite or PostgreSQL, and where it lives by default."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from platformdirs import user_data_dir
from sqlalchemy.orm import Session, sessionmaker

from healer.adapters.store.engine import create_store_engine, translating
from healer.adapters.store.migrate import upgrade
from healer.adapters.store.unit import SqlUnitOfWork


def default_store_url() -> str:
    """A SQLite file in the user's data directory, e.g. ~/.local/share/healer/healer.db."""
    return f"sqlite:///{Path(user_data_dir('healer')) / 'healer.db'}"


class SqlStore:
    """Implements `healer.ports.IncidentStore`.

    Construction does not connect; the schema must exist (see `migrate()`).
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self._engine = create_store_engine(url)
        self._sessions = sessionmaker(self._engine)

    @contextmanager
    def unit(self) -> Iterator[SqlUnitOfWork]:
        """A unit of work that commits only on `commit()`; anything else is rolled back."""
        session = self._sessions()
        try:
            yield SqlUnitOfWork(session)
        finally:
            # Closing returns the connection to the pool, rolling back what was not
            # committed, whether the block ended normally or by an exception.
            _close(session)

    def save_miner_state(self, name: str, data: bytes, *, at: datetime) -> None:
        """Save a log template miner's state in a unit of its own."""
        with self.unit() as uow:
            uow.save_miner_state(name, data, at=at)
            uow.commit()

    def load_miner_state(self, name: str) -> bytes | None:
        with self.unit() as uow:
            return uow.load_miner_state(name)

    def migrate(self) -> None:
        """Bring the schema up to the newest migration."""
        upgrade(self.url)

    def close(self) -> None:
        """Close pooled connections (at shutdown, or before dropping the database)."""
        self._engine.dispose()


@translating
def _close(session: Session) -> None:
    session.close()
