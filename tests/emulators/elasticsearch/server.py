"""The HTTP face of the emulator: headers, authentication, injected faults, replies.

Every response carries `X-Elastic-Product: Elasticsearch` and the content type the client
asked for (`application/vnd.elasticsearch+json;compatible-with=8`); errors use the server's
bodies and statuses. `/_emulator/faults` lets another process inject failures.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import re
import socket
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from .endpoints import BareError, Call, Reply, dispatch
from .errors import EsError, illegal_argument
from .faults import Fault, Faults, error_for, unauthenticated
from .store import Store

log = logging.getLogger(__name__)

_COMPAT = re.compile(r"compatible-with=(\d+)")


@dataclass(frozen=True)
class Auth:
    """Credentials the emulator accepts; with none configured it requires none."""

    api_keys: frozenset[str] = frozenset()  # as sent after `ApiKey `
    users: Mapping[str, str] = field(default_factory=dict)  # basic auth: user -> password

    @property
    def required(self) -> bool:
        return bool(self.api_keys or self.users)

    def check(self, header: str | None, uri: str) -> None:
        if not self.required:
            return
        if not header:
            raise unauthenticated(f"missing authentication credentials for REST request [{uri}]")
        scheme, _, credential = header.partition(" ")
        if scheme.lower() == "apikey" and credential in self.api_keys:
            return
        if scheme.lower() == "basic":
            user, _, password = _decode(credential).partition(":")
            if user in self.users and self.users[user] == password:
                return
            raise unauthenticated(f"unable to authenticate user [{user}] for REST request [{uri}]")
        raise unauthenticated(
            "unable to authenticate with provided credentials and anonymous access is not "
            "allowed for this request"
        )


def _decode(credential: str) -> str:
    try:
        return base64.b64decode(credential).decode()
    except ValueError:
        return ""


class EmulatorServer(ThreadingHTTPServer):
    """Keeps the emulated cluster's state and every open connection (to cut on stop)."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], store: Store, auth: Auth, version: str) -> None:
        super().__init__(address, Handler)
        self.store, self.auth, self.version = store, auth, version
        self.faults = Faults()
        self.requests: list[tuple[str, str]] = []  # (method, path) of every API request
        self.stopping = threading.Event()
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()

    def cut_connections(self) -> None:
        with self.connections_lock:
            for connection in self.connections:
                with contextlib.suppress(OSError):  # why: the peer may have closed it first
                    connection.shutdown(socket.SHUT_RDWR)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the client's connection pool expects
    disable_nagle_algorithm = True  # why: headers and body go out in two writes
    server: EmulatorServer
    server_version = "healer-es-emulator"

    def setup(self) -> None:
        super().setup()
        with self.server.connections_lock:
            self.server.connections.add(self.connection)

    def finish(self) -> None:
        with self.server.connections_lock:
            self.server.connections.discard(self.connection)
        super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    def do_HEAD(self) -> None:
        self._handle()

    def _handle(self) -> None:
        url = urlsplit(self.path)
        call = Call(
            method=self.command,
            path=unquote(url.path) or "/",
            params=dict(parse_qsl(url.query, keep_blank_values=True)),
            body=self.rfile.read(int(self.headers.get("Content-Length") or 0)),
            store=self.server.store,
            version=self.server.version,
        )
        try:
            answer = self._answer(call)
            if isinstance(answer, Reply):
                self._reply(answer.status, answer.body)
            else:
                self._reply(200, answer)
        except EsError as exc:
            self._reply(exc.status, exc.body(), exc.headers)
        except BareError as exc:
            self._reply(exc.status, exc.body())
        except _Answered:
            pass
        except Exception as exc:  # why: a bug in the emulator must reach the test as a 500
            log.exception("emulator failed on %s %s", self.command, self.path)
            self._reply(500, {"error": {"type": "exception", "reason": repr(exc)}, "status": 500})

    def _answer(self, call: Call) -> Any:
        if call.path.startswith("/_emulator/"):
            return self._control(call)
        self.server.requests.append((call.method, call.path))
        fault = self.server.faults.take(call.path)
        if fault is not None:
            self._suffer(fault, call)
        self.server.auth.check(self.headers.get("Authorization"), self.path)
        self._check_media_types()
        return dispatch(call)

    def _suffer(self, fault: Fault, call: Call) -> None:
        """Act out an injected fault: raise its error, or answer (or not) and stop."""
        if fault.kind == "timeout":
            self.server.stopping.wait(fault.delay)
            return  # then answer normally, too late for a client with a short timeout
        if fault.kind == "disconnect":
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            raise _Answered
        if fault.kind in ("garbage", "wrong_shape", "not_elasticsearch"):
            payload = b"{not json" if fault.kind == "garbage" else b'{"acknowledged":true}'
            self._send(200, payload, product=fault.kind != "not_elasticsearch")
            raise _Answered
        raise error_for(fault.kind, call.path)

    def _check_media_types(self) -> None:
        major = int(self.server.version.split(".")[0])
        for header in ("Accept", "Content-Type"):
            match = _COMPAT.search(self.headers.get(header) or "")
            if match and int(match.group(1)) not in (major - 1, major):
                raise EsError(
                    400,
                    "media_type_header_exception",
                    "Invalid media-type value on headers [Accept, Content-Type]",
                    caused_by={
                        "type": "status_exception",
                        "reason": f"Accept version must be either version {major} or "
                        f"{major - 1}, but found {match.group(1)}.",
                    },
                )

    def _control(self, call: Call) -> dict[str, Any]:
        faults = self.server.faults
        if call.method == "DELETE":
            faults.clear()
        elif call.method == "POST":
            spec = call.json()
            try:
                faults.inject(
                    str(spec["kind"]),
                    int(spec.get("count", 1)),
                    endpoint=spec.get("endpoint"),
                    delay=float(spec.get("delay", 2.0)),
                )
            except (KeyError, ValueError) as exc:
                raise illegal_argument(f"bad fault: {exc}") from None
        return {"pending": faults.pending()}

    def _reply(
        self, status: int, body: Any, headers: Mapping[str, list[str]] | None = None
    ) -> None:
        payload = b"" if body is None else json.dumps(body).encode()
        self._send(status, payload, headers=headers)

    def _send(
        self,
        status: int,
        payload: bytes,
        *,
        product: bool = True,
        headers: Mapping[str, list[str]] | None = None,
    ) -> None:
        try:
            self.send_response(status)
            if product:
                self.send_header("X-elastic-product", "Elasticsearch")
            self.send_header("Content-Type", self._content_type())
            self.send_header("Content-Length", str(len(payload)))
            for name, values in (headers or {}).items():
                for value in values:
                    self.send_header(name, value)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)
        except OSError:
            self.close_connection = True  # why: the client gave up (a timeout test)

    def _content_type(self) -> str:
        match = _COMPAT.search(self.headers.get("Accept") or "")
        if match:
            return f"application/vnd.elasticsearch+json;compatible-with={match.group(1)}"
        return "application/json"


class _Answered(Exception):
    """The fault already answered the request (or hung up on it)."""
