"""A miner whose state lives in the store, so a pattern keeps its id across restarts."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Protocol

from healer.adapters.drain.common import (
    StatefulMiner,
)
from healer.ports import MinedTemplate

log = logging.getLogger(__name__)


class MinerStateStore(Protocol):
    """Where miner state is kept (`SqlStore` implements it)."""

    def load_miner_state(self, name: str) -> bytes | None: ...

    def save_miner_state(self, name: str, data: bytes, *, at: datetime) -> None: ...


class PersistentMiner:
    """A miner whose state lives in the store under `name`, so a pattern keeps its id.

    `load()` once at start, `save(now)` after each poll: it writes only when the miner
    learned something since the last save.
    """

    def __init__(self, miner: StatefulMiner, *, store: MinerStateStore, name: str = "logs") -> None:
        self.miner = miner
        self.name = name
        self._store = store
        self._saved: int | None = None

    def add(self, message: str) -> MinedTemplate:
        return self.miner.add(message)

    def load(self) -> bool:
        """Restore the saved state; False (and a fresh miner) if there is none usable."""
        data = self._store.load_miner_state(self.name)
        if data is None:
            return False
        try:
            self.miner.restore(data)
        except ValueError as exc:
            # Unreadable state costs the old ids (patterns look new once), not the daemon.
            log.warning("ignoring the saved %s miner state: %s", self.name, exc)
            return False
        self._saved = self.miner.revision
        return True

    def save(self, at: datetime) -> bool:
        """Save the state if it changed since the last load or save; True if written."""
        if self._saved == self.miner.revision:
            return False
        self._store.save_miner_state(self.name, self.miner.snapshot(), at=at)
        self._saved = self.miner.revision
        return True
