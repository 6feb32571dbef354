"""The simulated cluster the demo, tests and benchmarks run the healer against.

`Simulation` bundles a scenario with a `SimCluster` and the in-process ports
(`SimMetrics`, `SimLogs`, `SimKube`); `load_scenario` and `builtin_scenarios` read
scenario files.
"""

from healer.sim.adapters import Mutation, SimKube, SimLogs, SimMetrics
from healer.sim.model import SIM_START, InjectedFault, SimCluster, TruthTick
from healer.sim.scenario import (
    FaultSpec,
    Scenario,
    builtin_scenarios,
    load_scenario,
    scenario_by_name,
)
from healer.sim.simulation import Simulation
from healer.sim.topology import TopologySpec, builtin_topology

__all__ = [
    "SIM_START",
    "FaultSpec",
    "InjectedFault",
    "Mutation",
    "Scenario",
    "SimCluster",
    "SimKube",
    "SimLogs",
    "SimMetrics",
    "Simulation",
    "TopologySpec",
    "TruthTick",
    "builtin_scenarios",
    "builtin_topology",
    "load_scenario",
    "scenario_by_name",
]
