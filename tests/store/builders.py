"""Domain values for the store tests, from the barest incident to a fully populated one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from healer.domain.model import (
    ActionResult,
    Anomaly,
    AnomalyKind,
    Cause,
    Decision,
    Diagnosis,
    Evidence,
    Hypothesis,
    Incident,
    IncidentStatus,
    Outcome,
    Plan,
    Risk,
    ServiceRef,
    Verification,
)

T0 = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
API = ServiceRef("shop", "api")
CHECKOUT = ServiceRef("shop", "checkout")
DB_PROXY = ServiceRef("data", "pgbouncer")


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def anomaly(service: ServiceRef = API, minutes: float = 0) -> Anomaly:
    return Anomaly(
        service=service,
        kind=AnomalyKind.LATENCY,
        since=at(minutes - 3),
        at=at(minutes),
        value=2.4,
        baseline=0.2,
        threshold=0.9,
        score=11.5,
    )


def incident(
    incident_id: str = "inc-1",
    *,
    minutes: float = 0,
    status: IncidentStatus = IncidentStatus.OPEN,
) -> Incident:
    return Incident(
        id=incident_id,
        title=f"latency on {API}",
        opened_at=at(minutes),
        updated_at=at(minutes),
        status=status,
        services={API},
        anomalies=[anomaly(minutes=minutes)],
    )


def full_incident() -> Incident:
    """Every field set, nested values included, times in more than one zone."""
    cest = timezone(timedelta(hours=2))
    pool = Evidence("metrics", "pool pending 40 (baseline 0)", 0.8, value=40.0, baseline=0.0)
    logs = Evidence("logs", "'connection pool timeout' x 312", 0.6)
    weak = Evidence("cluster", "no deploy in the last hour", -0.2, value=None, baseline=1.5)
    diagnosis = Diagnosis(
        at=at(4),
        ranked=(
            Hypothesis(CHECKOUT, Cause.POOL_EXHAUSTION, 0.82, (pool, logs)),
            Hypothesis(DB_PROXY, Cause.DB_MAX_CONNECTIONS, 0.31, (weak,)),
        ),
        affected=frozenset({API, CHECKOUT}),
    )
    log_anomaly = Anomaly(
        service=CHECKOUT,
        kind=AnomalyKind.LOG_PATTERN,
        since=datetime(2026, 3, 1, 11, 29, tzinfo=cest),
        at=at(2),
        value=312.0,
        baseline=1.0,
        threshold=20.0,
        score=15.6,
        template="connection pool timeout after <*> ms",
        detail="new template",
    )
    return Incident(
        id="inc-full",
        title="checkout connection pool exhausted",
        opened_at=at(0),
        updated_at=at(9),
        status=IncidentStatus.RESOLVED,
        services={API, CHECKOUT},
        anomalies=[anomaly(API, 0), log_anomaly],
        diagnosis=diagnosis,
        plan=Plan(
            playbook="raise-pool-size",
            target=CHECKOUT,
            params={"pool_size": 30, "headroom": 0.25, "variable": "DB_POOL_MAX"},
            risk=Risk.MEDIUM,
            rationale="pool saturated while the database has spare connections",
            planner="claude-sonnet",
        ),
        decision=Decision(
            outcome=Outcome.ASK,
            reason="medium risk in production",
            rule="prod-medium",
            approvers_required=1,
            dry_run=True,
        ),
        attempts=1,
        actions=[
            ActionResult(
                key="inc-full/1/set_env",
                action="set_env",
                target=CHECKOUT,
                ok=True,
                detail="DB_POOL_MAX=30",
                before={"DB_POOL_MAX": "10", "replicas": 3},
                after={"DB_POOL_MAX": "30", "nested": {"list": [1, 2.5, None, True]}},
            )
        ],
        verification=Verification(started_at=at(6), polls=4, healthy_streak=3),
        resolved_at=at(9),
        healthy_streak=2,
    )
