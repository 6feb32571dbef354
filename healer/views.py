"""How incidents and their timelines look to an on-call engineer: tables and JSON."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from healer.domain.model import EventKind, Incident, IncidentStatus, TimelineEvent

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
