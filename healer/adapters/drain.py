"""Log template miners for the detector, and the store-backed state that keeps their ids.

`VarietyMiner` (the fast default) and `DrainMiner` (drain3, the maintained
`drain3-improved` fork) both implement `healer.ports.TemplateMiner` over the same masks
(timestamps, paths, UUIDs, IPs with ports, hex, numbers with units). Both can
`snapshot()` and `restore()` their state; `PersistentMiner` keeps it in the store.
"""

from __future__ import annotations

import json
import logging
import re
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from drain3 import TemplateMiner as Drain3Miner
from drain3.drain import LogCluster, Node
from drain3.masking import MaskingInstruction
from drain3.template_miner_config import TemplateMinerConfig

from healer.detect.logpatterns import headline
from healer.ports import MinedTemplate, TemplateMiner

log = logging.getLogger(__name__)

WILDCARD = "<*>"

_UNIT = r"(?:[KMGT]i?B|B|[mun]s|s|sec|min|h|[kMG]?Hz|%)?"
_MONTH = r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)"
_DAY = r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)"
# Alternatives are tried left to right at each position, so the longer, more specific
# shapes come first: a timestamp is one variable, not four numbers.
MASK_PATTERNS: tuple[str, ...] = (
    rf"(?:{_DAY} )?{_MONTH} +\d{{1,2}} \d{{2}}:\d{{2}}:\d{{2}}(?: \d{{4}})?",
    r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?)?",
    r"(?<![\w/.])/[\w.\-~%+*@]+(?:/[\w.\-~%+*@]*)+",
    r"[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}",
    r"\d{1,3}(?:\.\d{1,3}){3}(?::\d{1,5})?",
    r"0[xX][0-9a-fA-F]+",
    r"(?=[0-9a-fA-F]*\d)(?=[0-9a-fA-F]*[a-fA-F])[0-9a-fA-F]{8,}",
    rf"[-+]?\d+(?:\.\d+)*{_UNIT}",
)
# One combined pass: several sequential passes cost several times as much per line.
MASK_REGEX = r"(?<![A-Za-z0-9])(?:" + "|".join(MASK_PATTERNS) + r")(?![A-Za-z0-9])"
_MASK = re.compile(MASK_REGEX)
# A token with a digit or a masked part is most likely a variable; a plain word is
# most likely part of the message's wording.
_VARIABLE = re.compile(r"\d|<\*>")
# Units change with the magnitude they follow (KB then MB), so they may differ freely.
_UNITS = frozenset(
    {"B", "KB", "MB", "GB", "TB", "KiB", "MiB", "GiB", "TiB", "bytes"}
    | {"ns", "us", "ms", "s", "sec", "secs", "seconds", "min", "minutes"}
)


def mask(line: str) -> str:
    """`line` with its variable parts (ids, addresses, numbers...) replaced by `<*>`."""
    return _MASK.sub(WILDCARD, line)


def _first_line(message: str) -> str:
    return message if "\n" not in message else headline(message)


class StatefulMiner(TemplateMiner, Protocol):
    """A miner whose state can be saved and loaded, so its ids outlive the process."""

    @property
    def revision(self) -> int:
        """Grows whenever the state changes; unchanged means nothing to save."""
        ...

    def snapshot(self) -> bytes: ...

    def restore(self, data: bytes) -> None:
        """Replace the state with a snapshot's; ValueError if `data` is not one."""
        ...


class LogTemplate:
    """A template as `VarietyMiner` hands it out: it follows merges, so it stays current."""

    __slots__ = ("merged_into", "own_id", "tokens")

    def __init__(self, own_id: int, tokens: list[str]) -> None:
        self.own_id = own_id
        self.tokens = tokens
        self.merged_into: LogTemplate | None = None

    @property
    def root(self) -> LogTemplate:
        template = self
        while template.merged_into is not None:
            template = template.merged_into
        return template

    @property
    def id(self) -> int:
        return self.root.own_id

    @property
    def text(self) -> str:
        return " ".join(self.root.tokens)


class VarietyMiner:
    """A Drain-style streaming miner in which words are constants until they vary.

    Lines are bucketed by token count and first word. A line joins a template of its
    bucket only where they differ in variable-looking tokens (digits, masks, units);
    a differing word makes a new template. Once `variety` templates differ only by the
    word at one position, that position is a variable and they merge into the oldest.
    """

    FORMAT = "variety/1"

    def __init__(self, *, variety: int = 4, max_per_bucket: int = 500) -> None:
        self.variety = variety
        self.max_per_bucket = max_per_bucket
        self._clear()

    def _clear(self) -> None:
        self._templates: dict[int, LogTemplate] = {}
        self._buckets: dict[tuple[int, str], list[LogTemplate]] = {}
        # A template's words with one left blank -> the words seen there -> template id.
        self._seen: dict[tuple[str, ...], dict[str, int]] = {}
        # Masked line -> its template; only valid until the next change, then cleared.
        self._memo: dict[str, LogTemplate] = {}
        self._revision = 0

    @property
    def revision(self) -> int:
        return self._revision

    @property
    def templates(self) -> list[LogTemplate]:
        return [t for t in self._templates.values() if t.merged_into is None]

    def add(self, message: str) -> LogTemplate:
        line = message if "\n" not in message else headline(message)
        masked = _MASK.sub(WILDCARD, line)
        known = self._memo.get(masked)
        if known is None:
            known = self._place(masked.split())
            if len(self._memo) >= 10_000:
                self._memo.clear()
            self._memo[masked] = known
        return known

    def _place(self, tokens: list[str]) -> LogTemplate:
        bucket = self._buckets.setdefault(_bucket_key(tokens), [])
        best, best_score = None, -1
        for template in bucket:
            score = _agreement(template.tokens, tokens)
            if score > best_score:
                best, best_score = template, score
        if best is None and len(bucket) >= self.max_per_bucket:
            # Free text would grow a bucket without end; past the cap, generalise.
            best = max(bucket, key=lambda t: _same(t.tokens, tokens))
        if best is None:
            return self._create(bucket, tokens)
        merged = _generalise(best.tokens, tokens)
        if merged != best.tokens:
            best.tokens = merged
            self._changed()
        return best

    def _create(self, bucket: list[LogTemplate], tokens: list[str]) -> LogTemplate:
        template = LogTemplate(len(self._templates) + 1, tokens)
        self._templates[template.own_id] = template
        bucket.append(template)
        self._changed()
        return self._learn_variety(bucket, template)

    def _changed(self) -> None:
        self._memo.clear()
        self._revision += 1

    def _learn_variety(self, bucket: list[LogTemplate], template: LogTemplate) -> LogTemplate:
        words = _words(template.tokens)
        # The first word picks the bucket, so it never varies inside one (as in Drain).
        for position in range(1, len(words)):
            if words[position] == WILDCARD:
                continue
            skeleton = (*words[:position], "", *words[position + 1 :])
            seen = self._seen.setdefault(skeleton, {})
            seen.setdefault(words[position], template.own_id)
            if len(seen) >= self.variety:
                return self._merge(bucket, list(seen.values()), position)
        return template

    def _merge(self, bucket: list[LogTemplate], ids: list[int], position: int) -> LogTemplate:
        roots = sorted({self._templates[i].root for i in ids}, key=lambda t: t.own_id)
        head = roots[0]
        head.tokens = [WILDCARD if i == position else t for i, t in enumerate(head.tokens)]
        for other in roots[1:]:
            _absorb(bucket, head, other)
        # The new wildcard may cover templates made before it, with digits in that place.
        for other in [t for t in bucket if t is not head]:
            if _agreement(head.tokens, other.tokens) >= 0:
                _absorb(bucket, head, other)
        self._changed()
        return head

    def snapshot(self) -> bytes:
        document = {
            "format": self.FORMAT,
            "templates": [
                [t.own_id, t.tokens, t.merged_into.own_id if t.merged_into else None]
                for t in self._templates.values()
            ],
            "seen": [[list(skeleton), seen] for skeleton, seen in self._seen.items()],
        }
        return _pack(document)

    def restore(self, data: bytes) -> None:
        document = _unpack(data, self.FORMAT)
        try:
            templates = _load_templates(document["templates"])
            seen = {
                tuple(map(str, skeleton)): {str(w): int(i) for w, i in words.items()}
                for skeleton, words in document["seen"]
            }
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ValueError(f"not a {self.FORMAT} snapshot: {exc!r}") from exc
        self._clear()
        self._templates, self._seen = templates, seen
        # Buckets in id order, as they were built: ties go to the oldest template.
        for template in sorted(self.templates, key=lambda t: t.own_id):
            self._buckets.setdefault(_bucket_key(template.tokens), []).append(template)


def _load_templates(rows: list[Any]) -> dict[int, LogTemplate]:
    templates = {int(i): LogTemplate(int(i), [str(t) for t in tokens]) for i, tokens, _ in rows}
    for i, _, into in rows:
        if into is not None:
            templates[int(i)].merged_into = templates[int(into)]
    return templates


def _bucket_key(tokens: list[str]) -> tuple[int, str]:
    first = tokens[0] if tokens and not _VARIABLE.search(tokens[0]) else WILDCARD
    return (len(tokens), first)


def _words(tokens: list[str]) -> list[str]:
    return [WILDCARD if _VARIABLE.search(t) else t for t in tokens]


def _agreement(template: list[str], tokens: list[str]) -> int:
    """How many tokens are equal, or -1 where a word differs (a different message)."""
    same = 0
    for mine, theirs in zip(template, tokens, strict=True):
        if mine == theirs:
            same += 1
        elif mine != WILDCARD and not _interchangeable(mine, theirs):
            return -1
    return same


def _interchangeable(mine: str, theirs: str) -> bool:
    # Both must look variable: "user admin" against "user 42" is left to the variety
    # rule, or a one-off word would be swallowed by a template full of numbers.
    if _VARIABLE.search(mine) and _VARIABLE.search(theirs):
        return True
    return mine.rstrip(",.;:)") in _UNITS and theirs.rstrip(",.;:)") in _UNITS


def _same(template: list[str], tokens: list[str]) -> int:
    return sum(1 for a, b in zip(template, tokens, strict=True) if a == b)


def _generalise(template: list[str], tokens: list[str]) -> list[str]:
    return [a if a == b else WILDCARD for a, b in zip(template, tokens, strict=True)]


def _absorb(bucket: list[LogTemplate], head: LogTemplate, other: LogTemplate) -> None:
    head.tokens = _generalise(head.tokens, other.tokens)
    other.merged_into = head
    bucket.remove(other)


def _pack(document: dict[str, Any]) -> bytes:
    return zlib.compress(json.dumps(document, separators=(",", ":")).encode())


def _unpack(data: bytes, expected: str) -> dict[str, Any]:
    try:
        document = json.loads(zlib.decompress(data))
    except (zlib.error, ValueError) as exc:
        raise ValueError(f"not a {expected} snapshot: {exc}") from exc
    if not isinstance(document, dict) or document.get("format") != expected:
        found = document.get("format") if isinstance(document, dict) else type(document).__name__
        raise ValueError(f"not a {expected} snapshot (found {found!r})")
    return document


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


class MinerStateStore(Protocol):
    """Where miner state is kept (`SqlStore` implements it)."""

    def load_miner_state(self, name: str) -> bytes | None: ...

    def save_miner_state(self, name: str, data: bytes, *, at: datetime) -> None: ...


class PersistentMiner:
    """A miner whose state lives in the store under `name`, so a pattern keeps its id.

    `load()` once at start, `save(now)` after each poll: it writes only when the miner
    learned something since the last save.
    """

    def __init__(self, miner: StatefulMiner, *, store: MinerStateStore, name: str = "logs") -> None:
        self.miner = miner
        self.name = name
        self._store = store
        self._saved: int | None = None

    def add(self, message: str) -> MinedTemplate:
        return self.miner.add(message)

    def load(self) -> bool:
        """Restore the saved state; False (and a fresh miner) if there is none usable."""
        data = self._store.load_miner_state(self.name)
        if data is None:
            return False
        try:
            self.miner.restore(data)
        except ValueError as exc:
            # Unreadable state costs the old ids (patterns look new once), not the daemon.
            log.warning("ignoring the saved %s miner state: %s", self.name, exc)
            return False
        self._saved = self.miner.revision
        return True

    def save(self, at: datetime) -> bool:
        """Save the state if it changed since the last load or save; True if written."""
        if self._saved == self.miner.revision:
            return False
        self._store.save_miner_state(self.name, self.miner.snapshot(), at=at)
        self._saved = self.miner.revision
        return True
