"""The daemon's schedule: polls run, a failing poll does not stop the next, stop is clean."""

from __future__ import annotations

import threading

from healer.daemon import run


def test_runs_the_requested_number_of_polls() -> None:
    calls: list[int] = []
    done = run(lambda: calls.append(1), interval=0.01, max_polls=3)
    assert done == 3
    assert len(calls) == 3


def test_a_failing_poll_does_not_stop_the_daemon() -> None:
    calls: list[int] = []

    def poll() -> None:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("prometheus exploded")

    stop = threading.Event()
    timer = threading.Timer(2.0, stop.set)  # a safety net; the assertion is on the count
    timer.start()
    try:
        done = run(poll, interval=0.01, max_polls=2, stop=stop)
    finally:
        timer.cancel()
    assert len(calls) >= 3, "the poll after the failure ran"
    assert done == 2, "only successful polls count"


def test_stop_event_ends_the_loop() -> None:
    stop = threading.Event()
    stop.set()
    assert run(lambda: None, interval=10, stop=stop) == 0
