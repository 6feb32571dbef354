"""The long-running daemon: one poll on a schedule, and a clean stop on SIGTERM.

APScheduler 3 runs the poll with `coalesce` and `max_instances=1`: a slow poll delays
the next one instead of overlapping it, and missed runs collapse into one. A poll that
raises is logged and the next one runs anyway; the daemon never dies of a bad poll.
With several replicas, polls run only on the one that `leader()` says leads.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from types import FrameType

from apscheduler.events import EVENT_JOB_ERROR, JobExecutionEvent
from apscheduler.schedulers.background import BackgroundScheduler

log = logging.getLogger(__name__)


def run(
    poll: Callable[[], None],
    *,
    interval: float,
    startup_delay: float = 0.0,
    stop: threading.Event | None = None,
    max_polls: int | None = None,
    leader: Callable[[], bool] = lambda: True,
) -> int:
    """Run `poll` every `interval` seconds until SIGTERM/SIGINT or `stop`; return polls run.

    A poll is skipped (and not counted) while `leader()` is false.
    """
    stop = stop or threading.Event()
    count = _Counter(poll, stop, max_polls, leader)
    scheduler = BackgroundScheduler(timezone=UTC)
    scheduler.add_listener(_log_failure, EVENT_JOB_ERROR)
    first = datetime.now(UTC) + timedelta(seconds=startup_delay)
    scheduler.add_job(
        count,
        "interval",
        seconds=interval,
        next_run_time=first,
        coalesce=True,
        max_instances=1,
        id="poll",
        misfire_grace_time=max(1, int(interval)),
    )
    _on_signals(stop)
    scheduler.start()
    try:
        stop.wait()
    finally:
        # why: let a poll in flight finish, so its intents and results are both recorded
        scheduler.shutdown(wait=True)
    log.info("stopped after %d polls", count.done)
    return count.done


class _Counter:
    def __init__(
        self,
        poll: Callable[[], None],
        stop: threading.Event,
        limit: int | None,
        leader: Callable[[], bool],
    ) -> None:
        self._poll, self._stop, self._limit, self._leader = poll, stop, limit, leader
        self.done = 0

    def __call__(self) -> None:
        if self._stop.is_set():
            return
        if not self._leader():
            # why: another replica leads; acting here too would double every action
            log.debug("not the leader; poll skipped")
            return
        self._poll()
        self.done += 1
        if self._limit is not None and self.done >= self._limit:
            self._stop.set()


def _log_failure(event: JobExecutionEvent) -> None:
    log.error("poll failed; the next one runs as scheduled", exc_info=event.exception)


def _on_signals(stop: threading.Event) -> None:
    if threading.current_thread() is not threading.main_thread():
        return  # why: signal handlers can only be installed from the main thread

    def handler(signum: int, _frame: FrameType | None) -> None:
        log.info("received %s, finishing the current poll", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
