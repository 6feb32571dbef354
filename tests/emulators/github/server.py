"""The HTTP face of the GitHub emulator: token check, API version, rate-limit headers,
injected faults, JSON replies with the headers GitHub sends."""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from . import contents, pulls  # noqa: F401  (importing them registers their routes)
from .endpoints import Call, dispatch
from .errors import GitHubError
from .faults import FaultQueue, answer_for
from .state import State

log = logging.getLogger(__name__)

API_VERSIONS = ("2022-11-28", "2026-03-10")
RATE_LIMIT = 5000


class GitHubServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], state: State, tokens: frozenset[str]) -> None:
        super().__init__(address, _Handler)
        self.state, self.tokens = state, tokens
        self.faults = FaultQueue()
        self.requests: list[tuple[str, str]] = []  # (method, path with query) served
        self.used: dict[str, int] = {}  # requests per token this hour, for X-RateLimit-*
        self.stopping = threading.Event()

    def count(self, token: str) -> int:
        with self.state.lock:
            self.used[token] = self.used.get(token, 0) + 1
            return self.used[token]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: GitHubServer
    server_version = "github.com"

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def _handle(self) -> None:
        url = urlsplit(self.path)
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.requests.append((self.command, self.path))
        extra: dict[str, str] = {}
        try:
            token = self._authenticate()
            extra = self._rate_headers(token)
            self._suffer(url.path)
            self._check_version()
            status, answer = dispatch(self._call(url.path, url.query, body))
        except GitHubError as exc:
            status, answer = exc.status, exc.body()
            extra = {**extra, **exc.headers}
        except Exception as exc:  # why: a bug in the emulator must reach the test as a 500
            log.exception("emulator failed on %s %s", self.command, self.path)
            status, answer = 500, {"message": repr(exc)}
        self._reply(status, answer, extra)

    def _call(self, path: str, query: str, body: bytes) -> Call:
        host = self.headers.get("Host") or "127.0.0.1"
        return Call(
            method=self.command,
            path=unquote(path),
            params=dict(parse_qsl(query, keep_blank_values=True)),
            body=body,
            state=self.server.state,
            base_url=f"http://{host}",
        )

    def _authenticate(self) -> str:
        header = self.headers.get("Authorization")
        if not header:
            raise GitHubError(401, "Requires authentication")
        scheme, _, token = header.partition(" ")
        if scheme.lower() not in ("bearer", "token") or token not in self.server.tokens:
            raise GitHubError(401, "Bad credentials")
        return token

    def _rate_headers(self, token: str) -> dict[str, str]:
        used = self.server.count(token)
        return {
            "X-RateLimit-Limit": str(RATE_LIMIT),
            "X-RateLimit-Remaining": str(max(0, RATE_LIMIT - used)),
            "X-RateLimit-Reset": str(int(time.time()) + 3600),
            "X-RateLimit-Used": str(used),
            "X-RateLimit-Resource": "core",
        }

    def _suffer(self, path: str) -> None:
        fault = self.server.faults.next_for(path)
        if fault is None:
            return
        if fault.kind == "timeout":
            self.server.stopping.wait(fault.delay)  # then answer, too late for the client
            return
        raise answer_for(fault)

    def _check_version(self) -> None:
        version = self.headers.get("X-GitHub-Api-Version")
        if version is not None and version not in API_VERSIONS:
            raise GitHubError(
                400,
                f"API version '{version}' is not supported. Supported versions: "
                f"{', '.join(API_VERSIONS)}",
                docs="https://docs.github.com/rest/about-the-rest-api/api-versions",
            )

    def _reply(self, status: int, answer: Any, extra: dict[str, str]) -> None:
        payload = json.dumps(answer).encode()
        version = self.headers.get("X-GitHub-Api-Version") or API_VERSIONS[0]
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(payload)))
            self.send_header("X-GitHub-Media-Type", "github.v3; format=json")
            self.send_header("X-GitHub-Api-Version-Selected", version)
            self.send_header("X-GitHub-Request-Id", uuid.uuid4().hex[:20].upper())
            for name, value in extra.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)
        except OSError:
            self.close_connection = True  # why: the client gave up waiting (a timeout test)
