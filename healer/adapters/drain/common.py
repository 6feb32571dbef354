"""What both miners share: masking of variable parts, and packing of saved state."""

from __future__ import annotations

import json
import re
import zlib
from typing import Any, Protocol

from healer.detect.logpatterns import headline
from healer.ports import TemplateMiner

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
