"""The variety miner: templates split on words and merged once a position proves variable."""

from __future__ import annotations

import logging
from typing import Any

from healer.adapters.drain.common import (
    _MASK,
    _UNITS,
    _VARIABLE,
    WILDCARD,
    _pack,
    _unpack,
)
from healer.detect.logpatterns import headline

log = logging.getLogger(__name__)


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
