"""The shipped `open_pr` playbook through the pipeline, the real GitHub adapter and the
GitHub REST emulator: a pull request per incident, found again rather than repeated."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from healer.adapters.github import GitHubCodeHost
from healer.bootstrap import REPO as HEALER
from healer.domain.clock import ManualClock
from healer.domain.codechange import CodeLocation
from healer.domain.model import Rollout, Workload
from healer.pipeline.execution import reconcile, run_playbook
from healer.pipeline.pull_requests import CodeChanges
from healer.playbooks import load_playbooks
from tests.emulators.github import GitHubEmulator
from tests.fakes import FakeCluster, MemoryStore
from tests.pipeline.test_proposal import CHECKOUT, VALUES, incident

TOKEN = "ghp_playbook_test_token"
REPO = "acme/checkout"
PATH = "charts/checkout/values.yaml"
OPEN_PR = load_playbooks(HEALER / "playbooks")["open_pr"]
WORKLOAD = Workload(
    CHECKOUT, 2, 1, "checkout:1", {}, (Rollout(1, "checkout:1", datetime(2026, 1, 1, tzinfo=UTC)),)
)


@pytest.fixture
def github() -> Iterator[GitHubEmulator]:
    with GitHubEmulator(tokens={TOKEN}) as gh:
        gh.add_repo(REPO, {PATH: VALUES})
        yield gh


def code(github: GitHubEmulator, token: str = TOKEN, mapped: bool = True) -> CodeChanges:
    host = GitHubCodeHost(token=token, base_url=github.url, timeout=2.0)
    where = {CHECKOUT: CodeLocation(REPO, PATH, {"replicas": "replicaCount"})} if mapped else {}
    return CodeChanges(host, where, "https://healer.example")


def run(changes: CodeChanges, store: MemoryStore, replicas: int = 5, attempts: int = 0) -> list:
    case = incident()
    case.attempts = attempts
    return run_playbook(
        case, playbook=OPEN_PR, params={"replicas": replicas}, target=CHECKOUT,
        cluster=FakeCluster({CHECKOUT: WORKLOAD}), store=store,
        clock=ManualClock(datetime(2026, 3, 1, tzinfo=UTC)), dry_run=False, code=changes,
    )  # fmt: skip


def test_open_pr_proposes_the_change_and_a_second_run_finds_the_same_pull_request(
    github: GitHubEmulator,
) -> None:
    store = MemoryStore()
    [first] = run(code(github), store)
    assert first.ok, first.detail
    assert first.detail == (
        "pull request #1 opened in acme/checkout: https://github.example/acme/checkout/pull/1"
    )
    assert first.before == {"replicaCount": "2"}
    assert github.file(REPO, PATH, "healer/inc-42").startswith(
        "# Helm values for checkout\nreplicaCount: 5   # raised by hand in March\n"
    )
    [again] = run(code(github), store, attempts=1)
    assert again.ok and "#1 already open" in again.detail
    assert len(github.repo(REPO).pulls) == 1
    assert len(github.repo(REPO).history("healer/inc-42")) == 2, "no second commit"
    (pull,) = github.repo(REPO).pulls
    assert "https://healer.example/incidents/inc-42" in pull.body


def test_a_pull_request_cut_short_by_a_crash_is_proposed_again_not_twice(
    github: GitHubEmulator,
) -> None:
    store = MemoryStore()
    run(code(github), store)  # opened, then a crash loses the result
    with store.unit() as uow:
        uow.add_incident(incident())
        uow.record_intent(
            key="inc-42:2:0", incident_id="inc-42", action="open_pr", target=CHECKOUT,
            args={"setting": "replicas", "to": 5}, before={}, at=datetime(2026, 3, 1, tzinfo=UTC),
        )  # fmt: skip
        uow.commit()
        pending = [p for p in uow.pending_intents() if p.key == "inc-42:2:0"]
    [(incident_id, result)] = reconcile(
        pending, cluster=FakeCluster({}), store=store,
        clock=ManualClock(datetime(2026, 3, 1, tzinfo=UTC)), code=code(github),
    )  # fmt: skip
    assert (incident_id, result.ok) == ("inc-42", True)
    assert "already open" in result.detail
    assert len(github.repo(REPO).pulls) == 1


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        (lambda gh: code(gh, mapped=False), "no repository is mapped for shop/checkout"),
        (lambda gh: code(gh, token="wrong"), "GitHub token refused"),
        (lambda gh: None, "no code host is configured"),
    ],
)
def test_what_stops_a_pull_request_is_the_steps_outcome(
    github: GitHubEmulator, changes: object, reason: str
) -> None:
    [result] = run(changes(github), MemoryStore())  # type: ignore[operator]
    assert not result.ok
    assert reason in result.detail
    assert github.repo(REPO).pulls == []
