"""Log template mining: group lines that differ only in their variable parts.

A simplified fixed-depth parse tree in the spirit of Drain: mask the obvious variables
(numbers, ids, addresses, durations), bucket lines by token count and leading token,
then merge a line into the most similar template of its bucket, turning the positions
that differ into `<*>`. Cheap, streaming, and good enough to tell a new error from an
old one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

WILDCARD = "<*>"

# Ordered: the more specific patterns first, so an IP is not masked as two numbers.
_MASKS: tuple[re.Pattern[str], ...] = tuple(
    re.compile(p)
    for p in (
        r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}",
        r"\b\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?\b",
        r"\b0x[0-9a-fA-F]+\b",
        r"\b[0-9a-fA-F]{12,}\b",
        r"(?<![\w.])[-+]?\d+(?:\.\d+)?(?:ms|s|us|ns|m|h|%|KB|MB|GB|B)?\b",
    )
)


def mask(line: str) -> str:
    for pattern in _MASKS:
        line = pattern.sub(WILDCARD, line)
    return line


def headline(message: str) -> str:
    """Stack traces are grouped by their headline, not by their frames.

    Java and Go put the error first; Python's traceback puts it last.
    """
    lines = [line.strip() for line in message.strip().splitlines() if line.strip()]
    if not lines:
        return ""
    if lines[0].startswith("Traceback (most recent call last)"):
        return lines[-1]
    return lines[0]


@dataclass
class Template:
    id: int
    tokens: list[str]
    count: int = 0

    @property
    def text(self) -> str:
        return " ".join(self.tokens)


@dataclass
class PatternMiner:
    """Streaming template miner; `add` returns the template a line belongs to."""

    similarity: float = 0.5
    max_templates_per_bucket: int = 200
    _buckets: dict[tuple[int, str], list[Template]] = field(default_factory=dict)
    _templates: list[Template] = field(default_factory=list)

    @property
    def templates(self) -> list[Template]:
        return list(self._templates)

    def add(self, message: str) -> Template:
        tokens = mask(headline(message)).split()
        bucket = self._buckets.setdefault(_bucket_key(tokens), [])
        best, best_score = None, -1.0
        for template in bucket:
            score = _similarity(template.tokens, tokens)
            if score > best_score:
                best, best_score = template, score
        if best is not None and (
            best_score >= self.similarity or len(bucket) >= self.max_templates_per_bucket
        ):
            best.tokens = _merge(best.tokens, tokens)
        else:
            best = Template(id=len(self._templates), tokens=tokens)
            bucket.append(best)
            self._templates.append(best)
        best.count += 1
        return best


def _bucket_key(tokens: list[str]) -> tuple[int, str]:
    lead = tokens[0] if tokens and not any(c.isdigit() for c in tokens[0]) else WILDCARD
    return (len(tokens), lead)


def _similarity(template: list[str], tokens: list[str]) -> float:
    if not tokens:
        return 1.0
    same = sum(1 for a, b in zip(template, tokens, strict=True) if a == b)
    return same / len(tokens)


def _merge(template: list[str], tokens: list[str]) -> list[str]:
    return [a if a == b else WILDCARD for a, b in zip(template, tokens, strict=True)]
