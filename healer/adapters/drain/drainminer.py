"""drain3's Drain over the shared masks, with its state saved as plain JSON."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from drain3 import TemplateMiner as Drain3Miner
from drain3.drain import LogCluster, Node
from drain3.masking import MaskingInstruction
from drain3.template_miner_config import TemplateMinerConfig

from healer.adapters.drain.common import (
    MASK_REGEX,
    WILDCARD,
    _first_line,
    _pack,
    _unpack,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class DrainTemplate:
    id: int
    text: str


# drain3 counts a `<*>` in a message as a parameter, not as a match, so masking to
# `<*>` would lower every masked line's similarity; a named mask counts as a match.
_DRAIN_MASK = "VAR"


def drain_config(
    *, similarity: float = 0.78, depth: int = 5, max_children: int = 100
) -> TemplateMinerConfig:
    """drain3's settings, built here rather than read from a `drain3.ini`."""
    config = TemplateMinerConfig()
    config.drain_sim_th = similarity
    config.drain_depth = depth
    config.drain_max_children = max_children
    config.parametrize_numeric_tokens = True
    config.masking_instructions = [MaskingInstruction(MASK_REGEX, _DRAIN_MASK)]
    config.mask_prefix, config.mask_suffix = "<", ">"
    return config


class DrainMiner:
    """drain3's Drain over the shared masks, with its state saved as plain JSON.

    drain3's own persistence is not used: it snapshots on every new template (a store
    write per line while it learns) and as jsonpickle, which builds whatever objects
    the stored text names. Ours holds only ids, tokens and the search tree, and
    `PersistentMiner` writes it at most once per poll.
    """

    FORMAT = "drain3/1"

    def __init__(
        self, *, similarity: float = 0.78, depth: int = 5, max_children: int = 100
    ) -> None:
        config = drain_config(similarity=similarity, depth=depth, max_children=max_children)
        self._miner = Drain3Miner(config=config)
        self._revision = 0

    @property
    def revision(self) -> int:
        return self._revision

    def add(self, message: str) -> DrainTemplate:
        result = self._miner.add_log_message(_first_line(message))
        if result["change_type"] != "none":
            self._revision += 1
        text = str(result["template_mined"]).replace(f"<{_DRAIN_MASK}>", WILDCARD)
        return DrainTemplate(int(result["cluster_id"]), text)

    def snapshot(self) -> bytes:
        drain = self._miner.drain
        clusters = [[c.cluster_id, list(c.log_template_tokens), c.size] for c in drain.clusters]
        document = {
            "format": self.FORMAT,
            "counter": drain.clusters_counter,
            "clusters": clusters,
            "tree": _dump_node(drain.root_node),
        }
        return _pack(document)

    def restore(self, data: bytes) -> None:
        document = _unpack(data, self.FORMAT)
        try:
            clusters = {
                int(i): _cluster(int(i), tokens, int(size))
                for i, tokens, size in document["clusters"]
            }
            root = _load_node(document["tree"])
            counter = int(document["counter"])
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ValueError(f"not a {self.FORMAT} snapshot: {exc}") from exc
        drain = self._miner.drain
        drain.id_to_cluster = dict(clusters)
        drain.root_node = root
        drain.clusters_counter = counter


def _cluster(cluster_id: int, tokens: Iterable[str], size: int) -> LogCluster:
    cluster = LogCluster([str(t) for t in tokens], cluster_id)
    cluster.size = size
    return cluster


def _dump_node(node: Node) -> list[Any]:
    children = {token: _dump_node(child) for token, child in node.key_to_child_node.items()}
    return [children, list(node.cluster_ids)]


def _load_node(document: list[Any]) -> Node:
    children, cluster_ids = document
    node = Node()
    node.key_to_child_node = {str(k): _load_node(v) for k, v in children.items()}
    node.cluster_ids = [int(i) for i in cluster_ids]
    return node
