"""What each playbook step does to the cluster, how to see whether it landed, and its undo.

Every action is absolute (scale *to* N, set *to* V, roll back *to* revision R, restart
*with* the stamp T, delete *the pod* P), so re-sending one that never landed cannot
apply it twice: `resolve` pins the stamp or the pod before the intent is written.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from healer.domain.model import JSON, Pod, ServiceRef, Workload
from healer.domain.playbook import ActionKind, ParamValue
from healer.errors import ActionFailed
from healer.ports import Cluster


def describe(action: ActionKind, target: ServiceRef, args: Mapping[str, ParamValue]) -> str:
    if action is ActionKind.SCALE:
        return f"scale {target} to {args['replicas']} replicas"
    if action is ActionKind.SET_ENV:
        return f"set {args['name']}={args['value']} on {target}"
    if action is ActionKind.RESTART:
        return f"restart every pod of {target}"
    if action is ActionKind.OPEN_PR:
        return f"propose {args['setting']}={args['to']} for {target} in a pull request"
    if action is ActionKind.DELETE_POD:
        return (
            f"delete pod {args['pod']} of {target}"
            if args.get("pod")
            else f"delete a pod of {target}"
        )
    revision = args.get("to_revision")
    return f"roll back {target}" + (f" to revision {revision}" if revision else "")


def resolve(
    action: ActionKind, workload: Workload, args: Mapping[str, ParamValue], now: datetime
) -> dict[str, ParamValue]:
    """Make implicit arguments explicit before the intent is written (e.g. which revision)."""
    out = dict(args)
    if action is ActionKind.RESTART:
        # why: the stamp is the restart's identity; sent twice, it restarts once
        out["at"] = now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")  # as kubectl writes it
    if action is ActionKind.DELETE_POD:
        out["pod"] = choose_pod(workload, str(out["pod"]) if out.get("pod") else None).name
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
    if action is ActionKind.RESTART:
        return {"restarted_at": workload.restarted_at}
    if action is ActionKind.DELETE_POD:
        return {"pods": sorted(p.name for p in workload.pods)}
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
    elif action is ActionKind.RESTART:
        cluster.restart(target, at=str(args["at"]), dry_run=dry_run)
    elif action is ActionKind.DELETE_POD:
        cluster.delete_pod(target, str(args["pod"]), dry_run=dry_run)
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
    if action is ActionKind.RESTART:
        return workload.restarted_at == str(args["at"])
    if action is ActionKind.DELETE_POD:
        return all(p.name != args["pod"] for p in workload.pods)
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
    if action in (ActionKind.RESTART, ActionKind.DELETE_POD, ActionKind.OPEN_PR):
        return None  # why: fresh pods cannot be made old again; nothing was lost either
    return ActionKind.ROLLBACK, {"to_revision": int(before["revision"])}


def choose_pod(workload: Workload, wanted: str | None) -> Pod:
    """`wanted`, or the least healthy pod; never the last ready one (that is an outage)."""
    if wanted is not None:
        found = [p for p in workload.pods if p.name == wanted]
        if not found:
            raise ActionFailed(f"{workload.service} has no pod {wanted}")
        chosen = found[0]
    elif not workload.pods:
        raise ActionFailed(f"{workload.service} has no pods to delete")
    else:
        chosen = max(workload.pods, key=lambda p: (not p.ready, p.oom_killed, p.restarts, p.name))
    ready = [p for p in workload.pods if p.ready]
    if chosen.ready and len(ready) <= 1:
        raise ActionFailed(
            f"{workload.service}: {chosen.name} is its only ready pod; deleting it would "
            "take the service down"
        )
    return chosen
