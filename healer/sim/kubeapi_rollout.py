"""What a new Deployment spec means for the simulation, and carrying it out.

A PUT or PATCH yields the whole Deployment the client wants. `plan` checks it the way the
API server would (422 with field causes) and reads it as the simulation's own changes:
replicas, a container env var, a new image, new template annotations (a restart), or the
template of an earlier revision, which, as in Kubernetes, brings that revision back (undo).
`carry_out` makes them through `SimKube`, so they are recorded like in-process actions.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from healer.errors import ActionFailed
from healer.sim.adapters import SimKube
from healer.sim.kubeapi_base import (
    DEPLOYMENTS,
    Cause,
    Obj,
    invalid,
    metadata,
    string_map,
    value_error,
)
from healer.sim.kubeapi_book import Book
from healer.sim.kubeapi_render import HASH_LABEL, RESTARTED_AT, REVISION, template
from healer.sim.workloads import Deployment, Revision

Record = Callable[..., None]  # (action, deployment, **args): notes a change made
CONTAINER = "spec.template.spec.containers[0]"
UNSUPPORTED = "the simulated cluster cannot change this field"


@dataclass(frozen=True)
class TemplateView:
    """The parts of a pod template the simulation models."""

    image: str
    env: dict[str, str]
    notes: dict[str, str]  # the template's annotations (kubectl.kubernetes.io/restartedAt)


@dataclass(frozen=True)
class Change:
    replicas: int
    labels: dict[str, str]
    annotations: dict[str, str]
    view: TemplateView
    undo_to: int | None  # the earlier revision whose template this is


def view_of(dep: Deployment, rev: Revision, book: Book) -> TemplateView:
    return TemplateView(rev.image, dict(rev.env), book.notes(dep, rev.number))


def plan(dep: Deployment, book: Book, current: Obj, body: Obj) -> Change:
    """The change `body` asks of `dep`; raises 422 `Invalid` for what cannot be."""
    causes: list[Cause] = []
    meta = metadata(body)
    labels, annotations = meta.get("labels") or {}, meta.get("annotations") or {}
    for field, value in (("labels", labels), ("annotations", annotations)):
        if not string_map(value):
            causes.append(Cause(f"metadata.{field}", value_error(value, "must be strings")))
    spec = body.get("spec")
    spec = spec if isinstance(spec, dict) else {}
    replicas = spec.get("replicas", 1)  # why: the API server defaults a missing count to 1
    causes += replica_causes(dep, replicas, "spec.replicas")
    if _normal(spec.get("selector")) != _normal(current["spec"]["selector"]):
        causes.append(Cause("spec.selector", "field is immutable"))
    causes += _other_fields(spec, current["spec"])
    view = _read_template(dep, book, spec.get("template"), causes)
    if causes or view is None:
        raise invalid(DEPLOYMENTS, dep.spec.name, causes)
    undo_to = _undo_target(dep, book, view)
    if undo_to is None:
        _check_env(dep, view, causes)
    if causes:
        raise invalid(DEPLOYMENTS, dep.spec.name, causes)
    notes = {k: v for k, v in annotations.items() if k != REVISION}
    return Change(replicas, dict(labels), notes, view, undo_to)


def replica_causes(dep: Deployment, replicas: object, field: str) -> list[Cause]:
    if isinstance(replicas, bool) or not isinstance(replicas, int):
        return [Cause(field, value_error(replicas, "must be an integer"))]
    if replicas < 0:
        return [Cause(field, value_error(replicas, "must be greater than or equal to 0"))]
    try:
        dep.check_scale(replicas)
    except ActionFailed as exc:  # why: the simulation has its own ceiling
        return [Cause(field, value_error(replicas, str(exc)))]
    return []


def carry_out(
    change: Change, dep: Deployment, *, book: Book, kube: SimKube, now: datetime, record: Record
) -> None:
    """Make the change; `SimKube` notes scaling, env and rollbacks, `record` the rest."""
    if change.replicas != dep.desired:
        kube.scale(dep.ref, change.replicas)
    before = view_of(dep, dep.current, book)
    if change.undo_to is not None:
        kube.rollback(dep.ref, change.undo_to)
    elif change.view != before:
        _roll_out(change.view, dep, kube, now, record)
    if change.view != before:
        book.set_notes(dep, dep.current.number, change.view.notes)
    book.labels[dep.spec.name] = change.labels
    book.annotations[dep.spec.name] = change.annotations


def _roll_out(
    view: TemplateView, dep: Deployment, kube: SimKube, now: datetime, record: Record
) -> None:
    number = dep.current.number
    if view.image != dep.current.image:
        dep.deploy(now, image=view.image)  # why: a new image is a new, healthy build
        record("deploy", dep, image=view.image)
    for name, value in view.env.items():
        if dep.current.env.get(name) != value:
            kube.set_env(dep.ref, name, value)
    if dep.current.number == number:
        # why: only the annotations changed (`kubectl rollout restart`): the same version
        # rolls out again, bugs and all, on fresh pods
        dep.restart(now, view.notes.get(RESTARTED_AT))
        record("restart", dep)


def _undo_target(dep: Deployment, book: Book, view: TemplateView) -> int | None:
    """The latest earlier revision with this very template, as the controller finds it."""
    if view == view_of(dep, dep.current, book):
        return None
    for rev in reversed(dep.history[:-1]):
        if view_of(dep, rev, book) == view:
            return rev.number
    return None


def _check_env(dep: Deployment, view: TemplateView, causes: list[Cause]) -> None:
    current = dep.current.env
    for i, (name, value) in enumerate(view.env.items()):
        if current.get(name) == value:
            continue
        try:
            dep.check_env(name, value)
        except ActionFailed as exc:  # why: the simulated app refuses it; so does its API
            causes.append(Cause(f"{CONTAINER}.env[{i}]", value_error(value, str(exc))))
    for name in current.keys() - view.env.keys():
        causes.append(
            Cause(f"{CONTAINER}.env", f"removing {name}: {UNSUPPORTED}", "FieldValueForbidden")
        )


# --- reading a pod template ---


def _read_template(
    dep: Deployment, book: Book, tmpl: object, causes: list[Cause]
) -> TemplateView | None:
    base = template(dep, dep.current, book)
    if not isinstance(tmpl, dict) or not isinstance(tmpl.get("spec"), dict):
        causes.append(Cause("spec.template", "Required value", "FieldValueRequired"))
        return None
    meta = tmpl.get("metadata") or {}
    labels = {k: v for k, v in (meta.get("labels") or {}).items() if k != HASH_LABEL}
    if labels.get("app") != dep.spec.name:
        why = "`selector` does not match template `labels`"
        causes.append(Cause("spec.template.metadata.labels", value_error(labels, why)))
    notes = meta.get("annotations") or {}
    if not string_map(notes):
        causes.append(
            Cause("spec.template.metadata.annotations", value_error(notes, "must be strings"))
        )
    containers = tmpl["spec"].get("containers")
    if (
        not isinstance(containers, list)
        or len(containers) != 1
        or not isinstance(containers[0], dict)
    ):
        causes.append(
            Cause(
                "spec.template.spec.containers",
                f"one container: {UNSUPPORTED}",
                "FieldValueForbidden",
            )
        )
        return None
    container = containers[0]
    image, env = container.get("image"), _read_env(container.get("env") or [], causes)
    if not isinstance(image, str) or not image:
        causes.append(Cause(f"{CONTAINER}.image", "Required value", "FieldValueRequired"))
    if labels != base["metadata"]["labels"] and "app" in labels:
        causes.append(Cause("spec.template.metadata.labels", UNSUPPORTED, "FieldValueForbidden"))
    for field in differences(_rest(tmpl), _rest(base), "spec.template"):
        causes.append(Cause(field, UNSUPPORTED, "FieldValueForbidden"))
    return TemplateView(str(image), env, dict(notes)) if string_map(notes) else None


def _read_env(items: object, causes: list[Cause]) -> dict[str, str]:
    env: dict[str, str] = {}
    if not isinstance(items, list):
        causes.append(Cause(f"{CONTAINER}.env", value_error(items, "must be a list")))
        return env
    for i, item in enumerate(items):
        field = f"{CONTAINER}.env[{i}]"
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            causes.append(Cause(f"{field}.name", "Required value", "FieldValueRequired"))
        elif "valueFrom" in item:
            causes.append(Cause(f"{field}.valueFrom", UNSUPPORTED, "FieldValueForbidden"))
        elif not isinstance(item.get("value", ""), str):
            causes.append(Cause(f"{field}.value", value_error(item["value"], "must be a string")))
        else:
            env[item["name"]] = item.get("value", "")
    return env


def _rest(tmpl: Obj) -> Any:
    """A pod template without what `TemplateView` reads, to compare the rest as a whole."""
    rest = copy.deepcopy(tmpl)
    for key in ("labels", "annotations", "creationTimestamp"):
        (rest.get("metadata") or {}).pop(key, None)
    for container in rest["spec"].get("containers") or []:
        for key in ("image", "env"):
            container.pop(key, None)
    return _normal(rest)


def differences(new: Any, old: Any, path: str) -> list[str]:
    """Where two JSON values differ, as field paths (`...containers[0].resources`)."""
    if isinstance(new, dict) and isinstance(old, dict):
        keys = sorted(new.keys() | old.keys())
        return [d for k in keys for d in differences(new.get(k), old.get(k), f"{path}.{k}")]
    if isinstance(new, list) and isinstance(old, list) and len(new) == len(old):
        return [
            d
            for i, (a, b) in enumerate(zip(new, old, strict=True))
            for d in differences(a, b, f"{path}[{i}]")
        ]
    return [] if new == old else [path]


def _other_fields(spec: Obj, current: Obj) -> list[Cause]:
    ours = ("replicas", "selector", "template")
    return [
        Cause(f"spec.{key}", UNSUPPORTED, "FieldValueForbidden")
        for key in sorted(spec.keys() | current.keys())
        if key not in ours and _normal(spec.get(key)) != _normal(current.get(key))
    ]


def _normal(value: Any) -> Any:
    """Without nulls and empty maps and lists: the client leaves out what Go writes as null."""
    if isinstance(value, dict):
        out = {k: _normal(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if v not in (None, {}, [])}
    if isinstance(value, list):
        return [_normal(v) for v in value]
    return value


def preview(current: Obj, body: Obj, change: Change) -> Obj:
    """What a dry run answers: the object as it would be stored, nothing carried out."""
    out = copy.deepcopy(current)
    meta = out["metadata"]
    meta["labels"] = change.labels
    meta["annotations"] = {**change.annotations, REVISION: meta["annotations"][REVISION]}
    out["spec"] = copy.deepcopy(body["spec"])
    if _normal(out["spec"]) != _normal(current["spec"]):
        meta["generation"] += 1
    return out
