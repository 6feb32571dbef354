"""Log template miners for the detector, and the store-backed state that keeps their ids.

`VarietyMiner` (the fast default) and `DrainMiner` (drain3, the maintained
`drain3-improved` fork) both implement `healer.ports.TemplateMiner` over the same masks
(timestamps, paths, UUIDs, IPs with ports, hex, numbers with units). Both can
`snapshot()` and `restore()` their state; `PersistentMiner` keeps it in the store.
"""

from healer.adapters.drain.common import MASK_PATTERNS, MASK_REGEX, WILDCARD, StatefulMiner, mask
from healer.adapters.drain.drainminer import DrainMiner, DrainTemplate, drain_config
from healer.adapters.drain.persistent import MinerStateStore, PersistentMiner
from healer.adapters.drain.variety import LogTemplate, VarietyMiner

__all__ = [
    "MASK_PATTERNS",
    "MASK_REGEX",
    "WILDCARD",
    "DrainMiner",
    "DrainTemplate",
    "LogTemplate",
    "MinerStateStore",
    "PersistentMiner",
    "StatefulMiner",
    "VarietyMiner",
    "drain_config",
    "mask",
]
