"""Verification: did the action help? Recovered within N polls, or revert and escalate.

Recovered means every service of the incident looks healthy to the detector for
`healthy_polls` polls in a row. A poll without data counts as neither healthy nor
unhealthy: the streak waits, the deadline does not.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import StrEnum

from healer.domain.model import Incident, ServiceRef
from healer.domain.playbook import VerifySpec


class Progress(StrEnum):
    WAITING = "waiting"
    RECOVERED = "recovered"
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


def verify(
    incident: Incident, *, spec: VerifySpec, health: Mapping[ServiceRef, bool | None]
) -> Progress:
    check = incident.verification
    if check is None:
        raise ValueError(f"incident {incident.id} has no verification under way")
    check.polls += 1
    verdict = healthy(incident.services, health)
    if verdict is True:
        check.healthy_streak += 1
    elif verdict is False:
        check.healthy_streak = 0
    if check.healthy_streak >= spec.healthy_polls:
        return Progress.RECOVERED
    if check.polls >= spec.within_polls:
        return Progress.FAILED
    return Progress.WAITING
