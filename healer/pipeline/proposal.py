"""A fix proposed as a pull request: one value changed in a YAML file with its comments and
layout kept, and the title, body and commit message that explain it from the incident.

Pure: the caller reads the file through the `CodeHost` and sends what this returns.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote

from healer.domain.model import EventKind, Incident, Plan, TimelineEvent
from healer.errors import ActionFailed

# `key: value  # comment`, the key plain or quoted; sequence items are told apart first.
_ENTRY = re.compile(
    r"(?P<indent> *)(?P<key>\"[^\"]*\"|'[^']*'|[^\s#\"'{}\[\]][^:#]*?) *:(?P<rest>(?:[ \t].*)?)$"
)
_COMMENT = re.compile(r"\s+#")
# What a playbook parameter sets in a service's repository, by the config mapping's name.
_SETTINGS = {"replicas": "replicas", "pool_size": "pool"}


@dataclass(frozen=True)
class Change:
    """One scalar changed in one file: where, from what, to what, and the whole new text."""

    path: str
    key: str
    old: str
    new: str
    line: int  # 1-based, as an editor shows it
    text: str


@dataclass(frozen=True)
class Proposal:
    branch: str
    title: str
    body: str
    message: str  # the commit message
    change: Change


def desired_setting(plan: Plan) -> tuple[str, int] | None:
    """("replicas" | "pool", value) a plan asks for, or None when it is not a setting in git."""
    for param, setting in _SETTINGS.items():
        value = plan.params.get(param)
        if isinstance(value, int):
            return setting, value
    return None


def branch_for(incident_id: str) -> str:
    # Git refuses some characters and sequences in ref names; incident ids are ours, but
    # keep the branch valid whatever they look like.
    safe = re.sub(r"\.{2,}", ".", re.sub(r"[^A-Za-z0-9._-]+", "-", incident_id)).strip(".-")
    return f"healer/{safe or 'incident'}"


def set_value(text: str, *, path: str, key: str, value: int | str) -> Change:
    """Set the scalar at dotted `key` to `value`, touching only that value on its line."""
    lines = text.splitlines(keepends=True)
    found = _find(lines, key.split("."))
    if not found:
        raise ActionFailed(f"{path}: key {key!r} not found")
    if len(found) > 1:
        numbers = ", ".join(str(n + 1) for n in found)
        raise ActionFailed(f"{path}: key {key!r} appears more than once (lines {numbers})")
    number = found[0]
    old, new_line = _replace(lines[number], str(value), path=path, key=key)
    lines[number] = new_line
    return Change(path, key, old, str(value), number + 1, "".join(lines))


def _find(lines: list[str], target: list[str]) -> list[int]:
    """Indices of the lines whose mapping key path is `target`, outside sequences."""
    stack: list[tuple[int, str | None]] = []  # (indent, key); None marks a sequence item
    block_indent: int | None = None  # inside a `|` or `>` block scalar started at this indent
    found: list[int] = []
    for number, line in enumerate(lines):
        body = line.rstrip("\r\n")
        indent = len(body) - len(body.lstrip(" "))
        stripped = body.strip()
        if block_indent is not None and (not stripped or indent > block_indent):
            continue
        block_indent = None
        if not stripped or stripped.startswith("#"):
            continue
        if body.startswith(("---", "...")):
            stack.clear()  # a new document in a multi-document kustomize patch
            continue
        key: str | None = None
        if not (stripped == "-" or stripped.startswith("- ")):
            entry = _ENTRY.match(body)
            if entry is None:
                continue  # a continuation of a multi-line plain scalar
            key = entry["key"].strip("\"'")
            if _value(entry["rest"]).startswith(("|", ">")):
                block_indent = indent
        stack = [(i, k) for i, k in stack if i < indent] + [(indent, key)]
        if [k for _, k in stack] == target:
            found.append(number)
    return found


def _value(rest: str) -> str:
    return _COMMENT.split(rest, maxsplit=1)[0].strip() if not rest.lstrip().startswith("#") else ""


def _replace(line: str, new: str, *, path: str, key: str) -> tuple[str, str]:
    """(old value, the line with the new value), keeping quotes, spacing and comment."""
    entry = _ENTRY.match(line.rstrip("\r\n"))
    assert entry is not None  # why: _find matched this very line
    old = _value(entry["rest"])
    if not old or old[0] in "|>{[&*!":
        shape = "empty or a mapping" if not old else f"not a plain scalar ({old[:20]!r})"
        raise ActionFailed(f"{path}: key {key!r} is {shape}; only a scalar value can be set")
    start = entry.start("rest") + entry["rest"].index(old)
    if len(old) >= 2 and old[0] == old[-1] and old[0] in "\"'":
        bare, written = old[1:-1], f"{old[0]}{new}{old[0]}"  # keep the file's quoting
    else:
        bare, written = old, new
    return bare, line[:start] + written + line[start + len(old) :]


def propose(
    incident: Incident, *, repository: str, path: str, text: str, key: str, value: int,
    timeline_url: str,
) -> Proposal:  # fmt: skip
    """Everything a pull request for this incident says and changes."""
    change = set_value(text, path=path, key=key, value=value)
    link = f"{timeline_url.rstrip('/')}/incidents/{quote(incident.id, safe='')}"
    root = _plain(str(incident.diagnosis.root)) if incident.diagnosis else "unknown service"
    title = f"healer: set {key} {change.old} → {change.new} for {root} ({_plain(incident.id)})"
    message = f"Set {key} to {change.new} in {path} for incident {_plain(incident.id)}"
    body = render_body(incident, repository=repository, change=change, timeline_link=link)
    return Proposal(branch_for(incident.id), title, body, message, change)


def render_body(incident: Incident, *, repository: str, change: Change, timeline_link: str) -> str:
    """Markdown for the pull request; everything read from telemetry is shown, never rendered."""
    services = ", ".join(_code(str(s)) for s in sorted(incident.services))
    parts = [
        f"The healer opened incident {_code(incident.id)} at "
        f"{incident.opened_at.isoformat()} for {services}: {_code(incident.title)}.",
        "",
        *_diagnosis_lines(incident),
        "### Change",
        "",
        f"- {_code(change.path)} in {_code(repository)}, line {change.line}: "
        f"{_code(change.key)} {_code(change.old)} → {_code(change.new)}",
        "",
        "### Evidence",
        "",
        *_evidence_block(incident),
        "",
        f"[Incident timeline]({timeline_link})",
        "",
    ]
    return "\n".join(parts)


def _diagnosis_lines(incident: Incident) -> list[str]:
    lines = []
    if incident.diagnosis is not None:
        top = incident.diagnosis.ranked[0]
        lines.append(
            f"- **Diagnosis:** {_code(top.cause.value)} on {_code(str(top.service))} "
            f"(score {top.score:.2f})"
        )
    if incident.plan is not None:
        plan = incident.plan
        lines.append(
            f"- **Plan:** {_code(plan.playbook)} by {_code(plan.planner)}, risk "
            f"{_code(plan.risk.value)}: {_code(plan.rationale)}"
        )
    return [*lines, ""] if lines else []


def _evidence_block(incident: Incident) -> list[str]:
    evidence = incident.diagnosis.evidence if incident.diagnosis else ()
    if not evidence:
        return ["No evidence was recorded."]
    rows = [f"[{e.source}] {_flat(e.summary)}" + _measured(e.value, e.baseline) for e in evidence]
    # why: log lines are untrusted; a fence longer than any backtick run inside them keeps
    # them verbatim, so they cannot close it to add links, mentions or images.
    fence = "`" * max(3, _longest_backticks("\n".join(rows)) + 1)
    return [
        "Copied from metrics and logs as observed (untrusted text, not rendered):",
        "",
        f"{fence}text",
        *rows,
        fence,
    ]


def _measured(value: float | None, baseline: float | None) -> str:
    if value is None:
        return ""
    return f" (value {value:g}" + (f", baseline {baseline:g})" if baseline is not None else ")")


def pull_request_event(
    incident: Incident, *, number: int, url: str, branch: str, created: bool, at: datetime
) -> TimelineEvent:
    """The timeline's record of the pull request, whether opened now or found open."""
    verb = "opened" if created else "already open"
    return TimelineEvent(
        incident.id,
        at,
        EventKind.ACTION_SUCCEEDED,
        f"pull request #{number} {verb}: {url}",
        {"action": "pull_request", "number": number, "url": url, "branch": branch,
         "created": created},
    )  # fmt: skip


def _code(text: str) -> str:
    """An inline code span: GitHub renders no link, mention or emphasis inside one."""
    flat = _flat(text)
    ticks = "`" * (_longest_backticks(flat) + 1)
    pad = " " if flat.startswith("`") or flat.endswith("`") or not flat else ""
    return f"{ticks}{pad}{flat}{pad}{ticks}"


def _flat(text: str) -> str:
    return " ".join(text.split())


def _plain(text: str) -> str:
    # A pull request title is plain text, but GitHub still links `#123` and `@name` in it.
    return re.sub(r"[^A-Za-z0-9._/-]+", "-", text)


def _longest_backticks(text: str) -> int:
    return max((len(run) for run in re.findall(r"`+", text)), default=0)
