"""Verification: did the action help? Recovered within N polls, or revert and escalate.

Recovered means every service of the incident looks healthy to the detector for
`healthy_polls` polls in a row. A poll without data counts as neither healthy nor
unhealthy: the streak waits, the deadline does not. When the deadline comes with the
changed service itself healthy but others not, the action did its part: something else
ails the others (a second fault, say), and undoing a working fix would only add harm.
When it comes just as the changed service turned healthy, too recently to tell, the
window is granted once more (like a rollout's progress deadline, progress earns time).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import StrEnum

from healer.detect.detector import shown
from healer.domain.model import (
    Anomaly,
    AnomalyKind,
    Incident,
    MetricsSnapshot,
    ServiceRef,
    Signal,
)
from healer.domain.playbook import VerifySpec


class Progress(StrEnum):
    WAITING = "waiting"
    RECOVERED = "recovered"
    TARGET_RECOVERED = "target_recovered"  # the changed service is well; others are not
    EXTENDED = "extended"  # the deadline came as the changed service turned well: once more
    FAILED = "failed"


def healthy(
    services: Iterable[ServiceRef], health: Mapping[ServiceRef, bool | None]
) -> bool | None:
    """True if all are healthy, False if any is not, None if any cannot be told."""
    verdicts = [health.get(s) for s in services]
    if any(v is False for v in verdicts):
        return False
    if any(v is None for v in verdicts):
        return None
    return True


def judged_on(
    observation_health: Mapping[ServiceRef, bool | None],
    anomalies: Iterable[Anomaly],
    signals: frozenset[AnomalyKind],
) -> Mapping[ServiceRef, bool | None]:
    """Health as the playbook asks it to be judged: only anomalies of `signals` count
    against a service (a restart is judged on errors, say, not on a warming cache)."""
    if not signals:
        return observation_health
    sick = {a.service for a in anomalies if a.kind in signals}
    return {
        service: None if verdict is None else service not in sick
        for service, verdict in observation_health.items()
    }


def verify(
    incident: Incident,
    *,
    spec: VerifySpec,
    health: Mapping[ServiceRef, bool | None],
    target: ServiceRef | None = None,
) -> Progress:
    check = incident.verification
    if check is None:
        raise ValueError(f"incident {incident.id} has no verification under way")
    check.polls += 1
    check.healthy_streak = _streak(check.healthy_streak, healthy(incident.services, health))
    if target is not None:
        check.target_streak = _streak(check.target_streak, healthy([target], health))
    if check.healthy_streak >= spec.healthy_polls:
        return Progress.RECOVERED
    if check.polls >= spec.within_polls:
        if target is not None and check.target_streak >= spec.healthy_polls:
            return Progress.TARGET_RECOVERED
        if target is not None and check.target_streak > 0 and not check.extended:
            check.extended = True
            check.polls = 0
            return Progress.EXTENDED
        return Progress.FAILED
    return Progress.WAITING


def _streak(streak: int, verdict: bool | None) -> int:
    if verdict is None:
        return streak  # why: no data is no evidence either way
    return streak + 1 if verdict else 0


# A symptom at most this share of what it was has clearly moved the right way.
HELPED = 0.5
_MEASURED = {AnomalyKind.LATENCY: Signal.LATENCY_P99, AnomalyKind.ERRORS: Signal.ERROR_RATIO}


def helped(incident: Incident, target: ServiceRef, snapshot: MetricsSnapshot) -> list[str]:
    """How the changed service's own symptoms shrank since they were recorded, one line each;
    empty unless every one of them is at most half of what it was. A change that did that
    much but not enough is doing its part: undoing it would bring the worst back."""
    moved = []
    for anomaly in incident.anomalies:
        signal = _MEASURED.get(anomaly.kind)
        if anomaly.service != target or signal is None:
            continue
        now = snapshot.value(target, signal)
        if now is None or now > anomaly.value * HELPED:
            return []
        was, kind = shown(anomaly.kind, anomaly.value), anomaly.kind
        moved.append(f"{kind} {was} → {shown(kind, now)}")
    return moved
