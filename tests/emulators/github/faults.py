"""Failures injected for the next N requests, and the answers GitHub gives in those cases.

Kinds: `500`, `502`, `503` (server errors), `rate_limit` (403, primary limit spent:
`X-RateLimit-Remaining: 0`), `secondary_rate_limit` (403 with `Retry-After`), `429`, and
`timeout` (answer only after `delay` seconds). `endpoint` limits a fault to paths
containing that fragment.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from .errors import GitHubError

KINDS = ("500", "502", "503", "rate_limit", "secondary_rate_limit", "429", "timeout")
DOCS_RATE = "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"


@dataclass
class Fault:
    kind: str
    left: int
    endpoint: str | None
    delay: float


class FaultQueue:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def add(self, kind: str, count: int, endpoint: str | None, delay: float) -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown fault {kind!r}; one of {', '.join(KINDS)}")
        with self._lock:
            self._faults.append(Fault(kind, count, endpoint, delay))

    def pending(self) -> int:
        with self._lock:
            return sum(f.left for f in self._faults)

    def next_for(self, path: str) -> Fault | None:
        with self._lock:
            fault = next(
                (f for f in self._faults if f.endpoint is None or f.endpoint in path), None
            )
            if fault is not None:
                fault.left -= 1
                if fault.left == 0:
                    self._faults.remove(fault)
            return fault


def answer_for(fault: Fault) -> GitHubError:
    """The error an injected status fault answers with."""
    if fault.kind == "rate_limit":
        reset = int(time.time()) + 3600
        return GitHubError(
            403,
            "API rate limit exceeded for user ID 4242. If you reach out to GitHub Support for "
            "help, please include the request ID ABCD:1234:5678.",
            docs=DOCS_RATE,
            headers={"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(reset)},
        )
    if fault.kind == "secondary_rate_limit":
        return GitHubError(
            403,
            "You have exceeded a secondary rate limit. Please wait a few minutes before you "
            "try again.",
            docs=DOCS_RATE,
            headers={"Retry-After": "60"},
        )
    if fault.kind == "429":
        return GitHubError(429, "Too Many Requests", docs=DOCS_RATE, headers={"Retry-After": "30"})
    status = int(fault.kind)
    message = {500: "Server Error", 502: "Server Error", 503: "Service Unavailable"}[status]
    return GitHubError(status, message)
