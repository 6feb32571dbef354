"""An Elasticsearch emulator on a loopback port, for tests that drive the real client.

It speaks the REST API subset the healer uses (info, index create/delete/get, `_bulk`,
`_search` and `_count` with bool/term/terms/range/exists queries, sorting, `_source`
filtering and terms/date_histogram aggregations) with the server's headers and error
bodies, and can fail on purpose: `emulator.inject("429", 2)` fails the next two requests.

    with ElasticsearchEmulator() as es:
        client = Elasticsearch(es.url)
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from types import TracebackType

from .faults import KINDS as FAULT_KINDS
from .server import Auth, EmulatorServer
from .store import Store

__all__ = ["FAULT_KINDS", "ElasticsearchEmulator", "Store"]


class ElasticsearchEmulator:
    """One emulated single-node cluster; `stop()` and a new emulator on the same port and
    store act out a restart."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        store: Store | None = None,
        api_keys: frozenset[str] = frozenset(),
        users: Mapping[str, str] | None = None,
        version: str = "8.19.0",
    ) -> None:
        self.host, self.port = host, port
        self.store = store or Store()
        self.auth = Auth(api_keys, dict(users or {}))
        self.version = version
        self._server: EmulatorServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> ElasticsearchEmulator:
        server = EmulatorServer((self.host, self.port), self.store, self.auth, self.version)
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            args=(0.02,),  # why: stop() waits up to one poll interval
            name=f"es-emulator:{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening and cut every open connection, as a stopped process would."""
        server, self._server = self._server, None
        if server is None:
            return
        server.stopping.set()
        server.shutdown()
        server.cut_connections()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def inject(
        self, kind: str, count: int = 1, *, endpoint: str | None = None, delay: float = 2.0
    ) -> None:
        """Fail the next `count` requests (matching `endpoint`, a path fragment) with `kind`."""
        self._running().faults.inject(kind, count, endpoint=endpoint, delay=delay)

    @property
    def requests(self) -> list[tuple[str, str]]:
        """(method, path) of every request served so far, faults included."""
        return list(self._running().requests)

    def pending_faults(self) -> int:
        return self._running().faults.pending()

    def _running(self) -> EmulatorServer:
        if self._server is None:
            raise RuntimeError("the emulator is not running")
        return self._server

    def __enter__(self) -> ElasticsearchEmulator:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop()
