"""Suite-level numbers over scenario records, and the table a human reads."""

from __future__ import annotations

from collections.abc import Sequence
from statistics import median
from typing import Any

from rich.table import Table


def summarise(records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    faulty = [row for r in records for row in per_fault(r) if row.get("detected") is not None]
    ttd = sorted(r["ttd_s"] for r in faulty if r.get("ttd_s") is not None)
    ttm = sorted(r["ttm_s"] for r in faulty if r.get("ttm_s") is not None)
    return {
        "recall": _share(faulty, "detected"),
        "median_ttd_s": median(ttd) if ttd else None,
        "p95_ttd_s": _p95(ttd),
        "rca_at1": _share(faulty, "root_cause_at1"),
        # why apart: a fault no playbook can cure is handled well by a prompt escalation
        "mitigated_rate": _share([r for r in faulty if _curable(r)], "mitigated"),
        "escalated_rate": _share([r for r in faulty if not _curable(r)], "escalated"),
        "median_ttm_s": median(ttm) if ttm else None,
        "false_incidents": sum(r.get("false_incidents", 0) for r in records),
        "unsafe_actions": sum(r.get("unsafe_actions", 0) for r in records),
        "baselines": {rule: _baseline(records, rule) for rule in ("static_rule", "burn_rate")},
    }


def per_fault(record: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per injected fault: a scenario with two faults counts twice in recall."""
    return list(record.get("faults") or [record])


def _baseline(records: Sequence[dict[str, Any]], rule: str) -> dict[str, Any]:
    rows = [r["baselines"][rule] for r in records if rule in r.get("baselines", {})]
    faulty = [row for row in rows if row.get("detected") is not None]
    ttd = sorted(row["ttd_s"] for row in faulty if row.get("ttd_s") is not None)
    return {
        "recall": _share(faulty, "detected"),
        "median_ttd_s": median(ttd) if ttd else None,
        "false_alerts": sum(row.get("false_alerts", 0) for row in rows),
    }


def _curable(row: dict[str, Any]) -> bool:
    return bool(row.get("expected", {}).get("remediation", True))


def _share(rows: Sequence[dict[str, Any]], key: str) -> float | None:
    return round(sum(1 for r in rows if r.get(key)) / len(rows), 3) if rows else None


def _p95(values: list[float]) -> float | None:
    if not values:
        return None
    return values[min(len(values) - 1, round(0.95 * (len(values) - 1)))]


def table(records: Sequence[dict[str, Any]], summary: dict[str, Any]) -> Table:
    out = Table(title="Scenarios", title_justify="left")
    columns = (
        "name",
        "detected",
        "ttd_s",
        "root_cause_at1",
        "playbook",
        "mitigated",
        "ttm_s",
        "false_incidents",
        "unsafe_actions",
    )
    for column in columns:
        out.add_column(column)
    out.add_column("static rule ttd_s")
    out.add_column("burn rate ttd_s")
    for r in records:
        base = r.get("baselines", {})
        out.add_row(
            *(str(r.get(c)) for c in columns),
            str(base.get("static_rule", {}).get("ttd_s")),
            str(base.get("burn_rate", {}).get("ttd_s")),
        )
    out.caption = ", ".join(f"{k}={v}" for k, v in summary.items() if k != "baselines")
    return out
