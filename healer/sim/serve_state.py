"""What `GET /-/state` answers: the simulation as ground truth, for tests and debugging."""

from __future__ import annotations

from healer.sim.adapters import Mutation
from healer.sim.model import InjectedFault
from healer.sim.simulation import Simulation


def describe(simulation: Simulation) -> dict[str, object]:
    """Sim time, active faults, each service's replicas and version, and every change
    made to the cluster (through its API or the in-process port). Take the lock first."""
    cluster = simulation.cluster
    return {
        "scenario": simulation.scenario.name,
        "now": cluster.now.isoformat(),
        "start": cluster.start.isoformat(),
        "tick_s": cluster.tick_s,
        "ticks": cluster.ticks,
        "finished": simulation.finished,  # the scenario's duration is over
        "faults": [_fault(f) for f in cluster.active_faults()],
        "services": {
            name: {
                "namespace": dep.spec.namespace,
                "replicas": dep.desired,
                "ready": len(dep.pods),
                "revision": dep.current.number,
                "image": dep.current.image,
            }
            for name, dep in cluster.deployments.items()
        },
        "changes": [_change(m) for m in simulation.kube.mutations],
    }


def _change(mutation: Mutation) -> dict[str, object]:
    return {
        "at": mutation.at.isoformat(),
        "action": mutation.action,
        "namespace": mutation.service.namespace,
        "service": mutation.service.name,
        "args": {k: _plain(v) for k, v in mutation.args.items()},
    }


def _plain(value: object) -> object:
    return value if isinstance(value, int | float | str) or value is None else str(value)


def _fault(fault: InjectedFault) -> dict[str, object]:
    return {
        "kind": fault.fault.kind,
        "namespace": fault.service.namespace,
        "service": fault.service.name,
        "onset": fault.onset.isoformat(),
        "params": dict(fault.fault.params),
    }
