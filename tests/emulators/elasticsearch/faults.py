"""Failures a test injects for the next N requests, and the responses they produce.

Kinds: `429` (es_rejected_execution_exception), `503` (no shard available), `401` and
`403` (security_exception), `400` (parsing_exception), `timeout` (answer late), `disconnect`
(close without answering), `garbage` (200 with a body that is not JSON), `wrong_shape`
(200 with JSON that is not a search answer), `not_elasticsearch` (200 without the product
header). An `endpoint` (a path fragment such as `_search`) limits a fault to some requests.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from .errors import NODE_ID, EsError, all_shards_failed, parsing

KINDS = (
    "429", "503", "401", "403", "400",
    "timeout", "disconnect", "garbage", "wrong_shape", "not_elasticsearch",
)  # fmt: skip
AUTHENTICATE = ['Basic realm="security", charset="UTF-8"', 'Bearer realm="security"', "ApiKey"]


@dataclass
class Fault:
    kind: str
    remaining: int
    endpoint: str | None
    delay: float


class Faults:
    """A queue of injected failures, consumed one request at a time, oldest first."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: list[Fault] = []

    def inject(
        self, kind: str, count: int = 1, *, endpoint: str | None = None, delay: float = 2.0
    ) -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown fault {kind!r}; one of {', '.join(KINDS)}")
        with self._lock:
            self._queue.append(Fault(kind, count, endpoint, delay))

    def clear(self) -> None:
        with self._lock:
            self._queue.clear()

    def pending(self) -> int:
        with self._lock:
            return sum(f.remaining for f in self._queue)

    def take(self, path: str) -> Fault | None:
        """The fault this request suffers, if any (and one fewer left of it)."""
        with self._lock:
            for fault in self._queue:
                if fault.endpoint is None or fault.endpoint in path:
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        self._queue.remove(fault)
                    return fault
        return None


def error_for(kind: str, path: str) -> EsError:
    """The error response of an injected status fault, as the server words it."""
    searching = "_search" in path or "_count" in path
    if kind == "429":
        pool = "search" if searching else "write"
        return EsError(
            429,
            "es_rejected_execution_exception",
            f"rejected execution of TimedRunnable on TaskExecutionTimeTrackingEsThreadPoolExecutor"
            f"[name = {NODE_ID}/{pool}, queue capacity = 1000, active threads = 13, "
            "queued tasks = 1000, completed tasks = 4242]",
        )
    if kind == "503":
        if searching:
            return all_shards_failed(503, [])
        return EsError(503, "master_not_discovered_exception", None)
    if kind == "401":
        return unauthenticated(f"missing authentication credentials for REST request [{path}]")
    if kind == "403":
        return EsError(
            403,
            "security_exception",
            f"action [indices:data/read/search] is unauthorized for user [healer] with effective "
            f"roles [viewer] on indices [{path.split('/')[1]}], this action is granted by the "
            "index privileges [read,all]",
        )
    return parsing(
        "unknown query [emulator_injected]",
        caused_by={
            "type": "named_object_not_found_exception",
            "reason": "[1:1] unknown field [emulator_injected]",
        },
    )


def unauthenticated(reason: str) -> EsError:
    return EsError(
        401,
        "security_exception",
        reason,
        headers={"WWW-Authenticate": AUTHENTICATE},
        header={"WWW-Authenticate": AUTHENTICATE},
    )
