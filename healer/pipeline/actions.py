"""What each playbook step does to the cluster, how to see whether it landed, and its undo.

Every action is absolute (scale *to* N, set *to* V, roll back *to* revision R), so
re-sending one that never landed cannot apply it twice.
"""

from __future__ import annotations

from collections.abc import Mapping

from healer.domain.model import JSON, ServiceRef, Workload
from healer.domain.playbook import ActionKind, ParamValue
from healer.errors import ActionFailed
from healer.ports import Cluster


def describe(action: ActionKind, target: ServiceRef, args: Mapping[str, ParamValue]) -> str:
    if action is ActionKind.SCALE:
        return f"scale {target} to {args['replicas']} replicas"
    if action is ActionKind.SET_ENV:
        return f"set {args['name']}={args['value']} on {target}"
    revision = args.get("to_revision")
    return f"roll back {target}" + (f" to revision {revision}" if revision else "")


def resolve(
    action: ActionKind, workload: Workload, args: Mapping[str, ParamValue]
) -> dict[str, ParamValue]:
    """Make implicit arguments explicit before the intent is written (e.g. which revision)."""
    out = dict(args)
    if action is ActionKind.ROLLBACK and not out.get("to_revision"):
        earlier = [r.revision for r in workload.history if r.revision < workload.revision]
        if not earlier:
            raise ActionFailed(f"{workload.service} has no earlier revision to roll back to")
        out["to_revision"] = max(earlier)
    return out


def capture(
    action: ActionKind, workload: Workload, args: Mapping[str, ParamValue]
) -> dict[str, JSON]:
    """The part of the workload's state this action changes, to undo or confirm it."""
    if action is ActionKind.SCALE:
        return {"replicas": workload.replicas}
    if action is ActionKind.SET_ENV:
        return {"name": str(args["name"]), "value": workload.env.get(str(args["name"]))}
    return {"revision": workload.revision, "image": workload.image}


def apply(
    cluster: Cluster,
    action: ActionKind,
    target: ServiceRef,
    args: Mapping[str, ParamValue],
    *,
    dry_run: bool,
) -> None:
    if action is ActionKind.SCALE:
        cluster.scale(target, int(args["replicas"]), dry_run=dry_run)
    elif action is ActionKind.SET_ENV:
        cluster.set_env(target, str(args["name"]), str(args["value"]), dry_run=dry_run)
    else:
        revision = args.get("to_revision")
        cluster.rollback(target, int(revision) if revision else None, dry_run=dry_run)


def landed(
    action: ActionKind,
    workload: Workload,
    args: Mapping[str, ParamValue],
    before: Mapping[str, object],
) -> bool:
    """Whether the cluster already shows this action's effect (after a crash, say)."""
    if action is ActionKind.SCALE:
        return workload.replicas == int(args["replicas"])
    if action is ActionKind.SET_ENV:
        return workload.env.get(str(args["name"])) == str(args["value"])
    old = before.get("revision")
    return isinstance(old, int) and workload.revision > old


def inverse(
    action: ActionKind, before: Mapping[str, JSON]
) -> tuple[ActionKind, dict[str, ParamValue]] | None:
    """The action that puts back what `before` recorded, or None if nothing can."""
    if action is ActionKind.SCALE:
        return ActionKind.SCALE, {"replicas": int(before["replicas"])}
    if action is ActionKind.SET_ENV:
        if before.get("value") is None:
            return None  # why: the variable was unset; removing env is not an action we take
        return ActionKind.SET_ENV, {"name": str(before["name"]), "value": str(before["value"])}
    return ActionKind.ROLLBACK, {"to_revision": int(before["revision"])}
