"""Proposals: a YAML value changed with comments and layout kept, and what the PR says."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from healer.domain.model import (
    Cause,
    Diagnosis,
    EventKind,
    Evidence,
    Hypothesis,
    Incident,
    IncidentStatus,
    Plan,
    Risk,
    ServiceRef,
)
from healer.errors import ActionFailed, PermanentError
from healer.pipeline.proposal import (
    Proposal,
    branch_for,
    desired_setting,
    propose,
    pull_request_event,
    set_value,
)

NOW = datetime(2025, 3, 4, 5, 6, tzinfo=UTC)
CHECKOUT = ServiceRef("shop", "checkout")

VALUES = """\
# Helm values for checkout
replicaCount: 2   # raised by hand in March

image:
  repository: ghcr.io/acme/checkout
  tag: "1.4.2"

resources:
  pool:
    size: 10 # per replica
  limits: {cpu: 500m}
  notes: |
    replicaCount: 99
    size: 5
env:
  - name: POOL_SIZE
    value: "10"
"""


def incident(evidence: tuple[Evidence, ...] = ()) -> Incident:
    hypothesis = Hypothesis(CHECKOUT, Cause.POOL_EXHAUSTION, 0.91, evidence)
    return Incident(
        id="inc-42",
        title="checkout p99 latency 4.1s",
        opened_at=NOW,
        updated_at=NOW,
        status=IncidentStatus.MITIGATING,
        services={CHECKOUT, ServiceRef("shop", "frontend")},
        anomalies=[],
        diagnosis=Diagnosis(NOW, (hypothesis,), frozenset({CHECKOUT})),
        plan=Plan("tune_pool", CHECKOUT, {"pool_size": 20}, Risk.LOW, "pool waits", "rules"),
    )


def proposal_for(case: Incident, key: str = "replicaCount", value: int = 3) -> Proposal:
    return propose(
        case, repository="acme/checkout", path="charts/checkout/values.yaml", text=VALUES,
        key=key, value=value, timeline_url="https://healer.example/",
    )  # fmt: skip


def test_a_top_level_value_changes_and_everything_else_stays() -> None:
    change = set_value(VALUES, path="values.yaml", key="replicaCount", value=4)
    assert (change.old, change.new, change.line) == ("2", "4", 2)
    assert change.text == VALUES.replace("replicaCount: 2   #", "replicaCount: 4   #", 1)


def test_a_nested_value_keeps_its_comment() -> None:
    change = set_value(VALUES, path="values.yaml", key="resources.pool.size", value=20)
    assert "    size: 20 # per replica\n" in change.text
    assert change.text.count("\n") == VALUES.count("\n")
    assert "    size: 5\n" in change.text  # the block scalar's text is not a key


def test_a_quoted_value_stays_quoted() -> None:
    change = set_value(VALUES, path="values.yaml", key="image.tag", value="1.4.3")
    assert change.old == "1.4.2"
    assert '  tag: "1.4.3"\n' in change.text


def test_a_kustomize_patch_sets_spec_replicas_in_its_document() -> None:
    patch = (
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: checkout\n"
        "spec:\n  replicas: 3\n---\napiVersion: v1\nkind: Service\nmetadata:\n  name: x\n"
    )
    change = set_value(patch, path="overlays/prod/replicas.yaml", key="spec.replicas", value=6)
    assert change.text == patch.replace("replicas: 3", "replicas: 6")


def test_crlf_line_endings_are_kept() -> None:
    change = set_value("a:\r\n  b: 1\r\n", path="v.yaml", key="a.b", value=2)
    assert change.text == "a:\r\n  b: 2\r\n"


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        ("replicas", "key 'replicas' not found"),
        ("resources.pool.max", "key 'resources.pool.max' not found"),
        ("env.name", "key 'env.name' not found"),  # inside a sequence: not addressable
        ("resources.notes.size", "not found"),  # inside a block scalar
        ("resources.pool", "is empty or a mapping"),
        ("resources.limits", "not a plain scalar"),
        ("resources.notes", "not a plain scalar"),
    ],
)
def test_a_key_that_cannot_be_set_is_refused_naming_file_and_key(key: str, reason: str) -> None:
    with pytest.raises(ActionFailed) as refused:
        set_value(VALUES, path="charts/checkout/values.yaml", key=key, value=3)
    assert str(refused.value).startswith("charts/checkout/values.yaml: key ")
    assert reason in str(refused.value)
    assert isinstance(refused.value, PermanentError)


def test_a_key_in_two_documents_is_ambiguous() -> None:
    text = "spec:\n  replicas: 1\n---\nspec:\n  replicas: 2\n"
    with pytest.raises(ActionFailed, match=r"appears more than once \(lines 2, 5\)"):
        set_value(text, path="p.yaml", key="spec.replicas", value=3)


def test_an_empty_value_is_refused() -> None:
    with pytest.raises(ActionFailed, match=r"'a\.b' is empty"):
        set_value("a:\n  b:\n", path="v.yaml", key="a.b", value=3)


def test_the_setting_comes_from_the_plan() -> None:
    scale = Plan("scale", CHECKOUT, {"replicas": 5}, Risk.LOW, "", "rules")
    rollback = Plan("rollback", CHECKOUT, {}, Risk.LOW, "", "rules")
    assert desired_setting(scale) == ("replicas", 5)
    assert desired_setting(incident().plan) == ("pool", 20)  # type: ignore[arg-type]
    assert desired_setting(rollback) is None


def test_branch_names_are_valid_git_refs() -> None:
    assert branch_for("inc-42") == "healer/inc-42"
    assert branch_for("a b..c~^:d") == "healer/a-b.c-d"


def test_the_body_carries_summary_change_evidence_and_the_timeline_link() -> None:
    evidence = (
        Evidence("metrics", "pool pending 37 (baseline 0)", 2.0, 37.0, 0.0),
        Evidence("logs", "QueuePool limit of size 10 overflow 0 reached", 1.5),
    )
    proposal = proposal_for(incident(evidence), "resources.pool.size", 20)
    assert proposal.branch == "healer/inc-42"
    assert proposal.title == "healer: set resources.pool.size 10 → 20 for shop/checkout (inc-42)"
    body = proposal.body
    assert "`checkout p99 latency 4.1s`" in body
    assert "`pool_exhaustion` on `shop/checkout`" in body
    assert "line 10: `resources.pool.size` `10` → `20`" in body
    assert "[metrics] pool pending 37 (baseline 0) (value 37, baseline 0)" in body
    assert "[logs] QueuePool limit of size 10 overflow 0 reached" in body
    assert "[Incident timeline](https://healer.example/incidents/inc-42)" in body
    assert (
        proposal.message == "Set resources.pool.size to 20 in charts/checkout/values.yaml "
        "for incident inc-42"
    )


def test_log_lines_cannot_inject_markdown_or_mentions() -> None:
    hostile = "boom @oncall-team ``` [click](https://evil.example) ![x](https://evil.example/i.png)"
    proposal = proposal_for(incident((Evidence("logs", hostile, 1.0),)))
    body = proposal.body
    fence = "````"  # longer than the run of backticks in the line
    start = body.index(f"{fence}text\n")
    end = body.index(f"\n{fence}\n", start)
    assert hostile in body[start:end]  # verbatim, inside the fence
    outside = body[:start] + body[end:]
    assert "@oncall" not in outside and "evil.example" not in outside


def test_untrusted_inline_text_is_a_code_span() -> None:
    case = incident()
    case.title = "latency `x` @admin [a](b)"
    proposal = proposal_for(case)
    assert "``latency `x` @admin [a](b)``" in proposal.body


def test_the_pull_request_goes_on_the_timeline() -> None:
    event = pull_request_event(
        incident(), number=7, url="https://gh/acme/checkout/pull/7", branch="healer/inc-42",
        created=False, at=NOW,
    )  # fmt: skip
    assert event.kind is EventKind.ACTION_SUCCEEDED
    assert event.summary == "pull request #7 already open: https://gh/acme/checkout/pull/7"
    assert event.data["number"] == 7 and event.data["created"] is False
