"""How incidents and their timelines look to an on-call engineer: tables and JSON."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from healer.domain.model import EventKind, Incident, IncidentStatus, TimelineEvent
from healer.domain.playbook import Playbook, RevertMode, Step

STATUS_STYLE = {
    IncidentStatus.OPEN: "yellow",
    IncidentStatus.DIAGNOSED: "yellow",
    IncidentStatus.AWAITING_APPROVAL: "magenta",
    IncidentStatus.MITIGATING: "cyan",
    IncidentStatus.RESOLVED: "green",
    IncidentStatus.ESCALATED: "red",
}
EVENT_STYLE = {
    EventKind.DETECTED: "bold yellow",
    EventKind.DIAGNOSED: "bold",
    EventKind.ACTION_SUCCEEDED: "cyan",
    EventKind.ACTION_FAILED: "bold red",
    EventKind.RECOVERED: "green",
    EventKind.RESOLVED: "bold green",
    EventKind.ESCALATED: "bold red",
    EventKind.HELD: "red",
    EventKind.NOT_RECOVERED: "red",
    EventKind.REVERTED: "red",
}


def incidents_table(incidents: Sequence[Incident]) -> Table:
    table = Table(title="Incidents", title_justify="left")
    # The id and the time never wrap: people copy them into `healer incidents show`.
    table.add_column("id", no_wrap=True, min_width=12)
    table.add_column("opened (UTC)", no_wrap=True)
    for column in ("status", "root cause", "action", "title"):
        table.add_column(column)
    for incident in incidents:
        d = incident.diagnosis
        root = f"{d.root.name}: {d.cause}" if d else "—"
        action = incident.plan.playbook if incident.plan and incident.attempts else "—"
        table.add_row(
            incident.id,
            _time(incident.opened_at, date=True),
            Text(str(incident.status), style=STATUS_STYLE[incident.status]),
            root,
            action,
            incident.title,
        )
    return table


def timeline(incident: Incident, events: Sequence[TimelineEvent]) -> RenderableType:
    header = Text.assemble(
        (f"{incident.id} ", "bold"),
        (str(incident.status), STATUS_STYLE[incident.status]),
        f"  {incident.title}  (opened {_time(incident.opened_at, date=True)})",
    )
    table = Table(show_header=True, box=None, pad_edge=False)
    table.add_column("time", style="dim", no_wrap=True)
    table.add_column("step", no_wrap=True)
    table.add_column("what happened")
    for item in events:
        table.add_row(
            _time(item.at), Text(str(item.kind), EVENT_STYLE.get(item.kind, "")), item.summary
        )
    return Group(header, table)


def event_line(item: TimelineEvent) -> Text:
    return Text.assemble(
        (f"{_time(item.at)} ", "dim"),
        (f"{item.incident_id} ", "bold"),
        (f"{item.kind:<18} ", EVENT_STYLE.get(item.kind, "")),
        item.summary[:220],
    )


def incident_json(incident: Incident, events: Sequence[TimelineEvent]) -> dict[str, Any]:
    d = incident.diagnosis
    return {
        "id": incident.id,
        "title": incident.title,
        "status": str(incident.status),
        "opened_at": incident.opened_at.isoformat(),
        "resolved_at": incident.resolved_at.isoformat() if incident.resolved_at else None,
        "services": sorted(str(s) for s in incident.services),
        "root_cause": {"service": d.root.name, "cause": str(d.cause)} if d else None,
        "playbook": incident.plan.playbook if incident.plan else None,
        "timeline": [
            {"at": e.at.isoformat(), "kind": str(e.kind), "summary": e.summary} for e in events
        ],
    }


def _time(at: datetime, *, date: bool = False) -> str:
    return at.strftime("%Y-%m-%d %H:%M:%S" if date else "%H:%M:%S")


def playbook_text(playbook: Playbook) -> str:
    """A playbook as a reviewer reads it, every rule spelled out."""
    lines = [
        f"{playbook.name} ({playbook.risk} risk) — {playbook.source}",
        f"  {playbook.description}",
        f"  fixes: {', '.join(sorted(playbook.fixes))}",
    ]
    for spec in playbook.params:
        bounds = [f"≥ {spec.minimum:g}" if spec.minimum is not None else ""]
        bounds.append(f"≤ {spec.maximum:g}" if spec.maximum is not None else "")
        if spec.max_factor is not None:
            bounds.append(f"≤ {spec.max_factor:g}× current {spec.current}")
        if spec.choices:
            bounds.append(f"one of {', '.join(spec.choices)}")
        if spec.default is not None:
            bounds.append(f"default {spec.default}")
        shown = ", ".join(b for b in bounds if b)
        lines.append(f"  param {spec.name}: {spec.type}" + (f" ({shown})" if shown else ""))
    pre = playbook.preconditions
    for label, value in (
        ("rolled out within", pre.rolled_out_within),
        ("has an earlier revision", pre.previous_revision or None),
        ("ready pods at least", pre.min_ready_pods),
    ):
        if value is not None:
            lines.append(f"  precondition: {label} {value if value is not True else ''}".rstrip())
    lines += [f"  step {i + 1}: {_step_text(s)}" for i, s in enumerate(playbook.steps)]
    if playbook.revert_mode is RevertMode.STEPS:
        lines += [f"  revert {i + 1}: {_step_text(s)}" for i, s in enumerate(playbook.revert)]
    else:
        lines.append(f"  revert: {playbook.revert_mode}")
    verify = playbook.verify
    if verify is not None:
        lines.append(
            f"  verify: healthy {verify.healthy_polls} polls in a row within {verify.within_polls}"
        )
    if playbook.cooldown is not None:
        lines.append(f"  cooldown: {playbook.cooldown}")
    return "\n".join(lines)


def _step_text(step: Step) -> str:
    args = " ".join(f"{k}={v}" for k, v in step.args.items())
    return f"{step.action} {args}".rstrip()
