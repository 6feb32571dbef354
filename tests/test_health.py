"""Health endpoints: what live and ready mean for a leader and for a follower."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from healer.health import Health, HealthServer, PollStatus, judge


def status(**fields: float | int | None) -> PollStatus:
    found = PollStatus(interval=10.0)
    for name, value in fields.items():
        setattr(found, name, value)
    return found


def test_a_leader_polling_on_time_is_live_and_ready() -> None:
    health = judge(status(last_started=995.0, last_finished=996.0), leading=True, now=1000.0)
    assert (health.live, health.ready) == (True, True)


def test_a_leader_whose_polls_stopped_is_not_ready() -> None:
    health = judge(status(last_started=900.0, last_finished=901.0), leading=True, now=1000.0)
    assert (health.live, health.ready) == (True, False)
    assert health.detail["stale"] is True


def test_a_leader_stuck_in_one_poll_is_not_live() -> None:
    health = judge(status(last_started=850.0, last_finished=840.0), leading=True, now=1000.0)
    assert (health.live, health.ready) == (False, False)


def test_a_leader_failing_poll_after_poll_is_not_ready() -> None:
    found = status(last_started=998.0, last_finished=999.0, failures=3)
    assert judge(found, leading=True, now=1000.0).ready is False


def test_a_follower_that_never_polls_is_live_and_ready() -> None:
    health = judge(status(), leading=False, now=1000.0)
    assert (health.live, health.ready) == (True, True)
    assert health.detail["leading"] is False


def test_finishing_a_poll_counts_it_and_clears_failures() -> None:
    found = status(failures=2)
    found.started()
    found.finished(ok=True, held="metrics source down")
    assert (found.polls, found.failures, found.held) == (1, 0, "metrics source down")
    found.finished(ok=False)
    assert (found.polls, found.failures) == (1, 1)


def get(url: str) -> tuple[int, dict[str, object]]:
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.mark.parametrize("ready", [True, False])
def test_the_endpoints_answer_as_probes_expect(ready: bool) -> None:
    server = HealthServer("127.0.0.1", 0, lambda: Health(True, ready, {"polls": 7})).start()
    try:
        base = f"http://127.0.0.1:{server.port}"
        assert get(f"{base}/healthz") == (200, {"live": True})
        assert get(f"{base}/readyz") == (200 if ready else 503, {"ready": ready})
        assert get(f"{base}/status") == (200, {"live": True, "ready": ready, "polls": 7})
        assert get(f"{base}/nope")[0] == 404
    finally:
        server.stop()
