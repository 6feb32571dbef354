"""A GitHub REST emulator on a loopback port, for tests that drive the real client.

It serves the endpoints the healer uses to propose a fix: the repository, git refs
(`GET .../git/ref/heads/{branch}`, `POST .../git/refs`), file contents (`GET`/`PUT
.../contents/{path}`) and pull requests (`GET`/`POST .../pulls`), with GitHub's status
codes, error bodies and headers, and can fail on purpose: `gh.inject("502", 2)`.

    with GitHubEmulator(tokens={"t0k3n"}) as gh:
        gh.add_repo("acme/shop", {"charts/values.yaml": "replicaCount: 2\\n"})
        client = GitHub("t0k3n", base_url=gh.url)
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

from .faults import KINDS as FAULT_KINDS
from .server import GitHubServer
from .state import Commit, Pull, Repo, State

__all__ = ["FAULT_KINDS", "Commit", "GitHubEmulator", "Pull", "Repo", "State"]


class GitHubEmulator:
    def __init__(
        self, *, tokens: Iterable[str] = ("ghp_emulator",), host: str = "127.0.0.1"
    ) -> None:
        self.host, self.port = host, 0
        self.tokens = frozenset(tokens)
        self.state = State()
        self._server: GitHubServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> GitHubEmulator:
        server = GitHubServer((self.host, self.port), self.state, self.tokens)
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, args=(0.02,), name=f"gh-emulator:{self.port}", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.stopping.set()
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def add_repo(
        self, full_name: str, files: dict[str, str], *, default_branch: str = "main"
    ) -> Repo:
        return self.state.add_repo(full_name, files, default_branch=default_branch)

    def repo(self, full_name: str) -> Repo:
        owner, _, name = full_name.partition("/")
        found = self.state.repo(owner, name)
        if found is None:
            raise KeyError(full_name)
        return found

    def file(self, full_name: str, path: str, branch: str) -> str:
        tree = self.repo(full_name).tree(branch)
        if tree is None:
            raise KeyError(branch)
        return tree[path].decode()

    def inject(
        self, kind: str, count: int = 1, *, endpoint: str | None = None, delay: float = 2.0
    ) -> None:
        """Fail the next `count` requests (whose path contains `endpoint`) with `kind`."""
        self._running().faults.add(kind, count, endpoint, delay)

    def pending_faults(self) -> int:
        return self._running().faults.pending()

    @property
    def requests(self) -> list[tuple[str, str]]:
        """(method, path and query) of every request served so far, faults included."""
        return list(self._running().requests)

    def _running(self) -> GitHubServer:
        if self._server is None:
            raise RuntimeError("the emulator is not running")
        return self._server

    def __enter__(self) -> GitHubEmulator:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()
