"""Stalled writes: a way for tests to catch a client in the middle of a change.

A crash between "the healer wrote its intent" and "the healer recorded the result" is
the case exactly-once execution must survive. To make it happen on purpose, the next
`writes` real (not dry-run) changes to workloads are held for `seconds`: with `apply`
the change is made first and only the answer is late (the request reached the API
server), without it the change is never made (the request was lost on the way) and the
answer is a 504. A test watches `holding` and kills the client meanwhile.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

STALLED_RESOURCES = frozenset({"deployments", "deployments/scale", "pods"})


@dataclass
class StallPlan:
    writes: int = 0  # how many more writes to hold
    seconds: float = 0.0
    apply: bool = True


class Stalls:
    """The plan, and the requests being held right now (for a test to wait on)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.plan = StallPlan()
        self.holding = 0
        self.held = 0  # writes held so far
        self._released = threading.Event()

    def set(self, plan: StallPlan) -> None:
        with self._lock:
            self.plan = plan
            self._released.clear()

    def release(self) -> None:
        """Let every held request answer now (a server stopping, a test done)."""
        self._released.set()

    def take(self, resource: str, verb: str, *, dry_run: bool) -> StallPlan | None:
        """The plan to hold this request by, or None to serve it as usual."""
        if dry_run or verb not in {"update", "patch", "delete"}:
            return None
        if resource not in STALLED_RESOURCES:
            return None
        with self._lock:
            if self.plan.writes <= 0:
                return None
            self.plan.writes -= 1
            self.held += 1
            return StallPlan(1, self.plan.seconds, self.plan.apply)

    def hold(self, seconds: float) -> None:
        with self._lock:
            self.holding += 1
        try:
            self._released.wait(seconds)
        finally:
            with self._lock:
                self.holding -= 1

    def state(self) -> dict[str, object]:
        with self._lock:
            plan = self.plan
            return {
                "writes": plan.writes,
                "seconds": plan.seconds,
                "apply": plan.apply,
                "holding": self.holding,
                "held": self.held,
            }
