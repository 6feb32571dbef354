"""Reading a folder laid out like NAB's: `data/<category>/<file>.csv` and the windows.

A file is its timestamps and values in row order; its labelled anomaly windows are
turned into inclusive row ranges here, once, so the scorer only ever sees row indexes.
"""

from __future__ import annotations

import csv
import json
import math
from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from healer.errors import ConfigError

# Where the windows live: the shared data's own layout first, then the NAB repository's.
WINDOW_FILES = ("windows.json", "labels/combined_windows.json")


@dataclass(frozen=True, slots=True)
class Window:
    """One labelled anomaly window as inclusive row indexes."""

    first: int
    last: int

    @property
    def rows(self) -> int:
        return self.last - self.first + 1


@dataclass(frozen=True, slots=True)
class NabFile:
    """One data file: `name` is `<category>/<file>.csv`, as in the windows file."""

    name: str
    timestamps: tuple[str, ...]
    values: tuple[float, ...]
    windows: tuple[Window, ...]


def read_corpus(path: Path) -> list[NabFile]:
    """Every data file under `path/data`, with its windows, in name order."""
    data = path / "data"
    if not data.is_dir():
        raise ConfigError(str(path), None, "path", "no data/<category>/<file>.csv folder")
    labels = _read_windows(path)
    files = []
    for csv_path in sorted(data.glob("*/*.csv")):
        name = csv_path.relative_to(data).as_posix()
        if name not in labels:
            raise ConfigError(str(csv_path), None, "windows", "file has no entry in the windows")
        files.append(read_file(name, csv_path, labels[name]))
    if not files:
        raise ConfigError(str(data), None, "path", "no <category>/<file>.csv found")
    return files


def _read_windows(path: Path) -> dict[str, list[list[str]]]:
    for candidate in WINDOW_FILES:
        found = path / candidate
        if found.is_file():
            loaded = json.loads(found.read_text(encoding="utf-8"))
            if not isinstance(loaded, dict):
                raise ConfigError(str(found), None, "windows", "not an object of file names")
            return loaded
    raise ConfigError(str(path), None, "windows", f"none of {', '.join(WINDOW_FILES)}")


def read_file(name: str, csv_path: Path, limits: list[list[str]]) -> NabFile:
    """One file's rows, and its windows located among them."""
    timestamps: list[str] = []
    values: list[float] = []
    with csv_path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        for line, row in enumerate(reader, start=2):
            value = _number(row.get("value"))
            if row.get("timestamp") is None or value is None:
                raise ConfigError(str(csv_path), line, "value", "needs a timestamp and a number")
            timestamps.append(row["timestamp"])
            values.append(value)
    times = [_time(t, csv_path) for t in timestamps]
    located = (_locate(limit, times, csv_path) for limit in limits)
    windows = tuple(sorted(located, key=lambda w: w.first))
    return NabFile(name, tuple(timestamps), tuple(values), windows)


def _number(text: str | None) -> float | None:
    try:
        value = float(text) if text is not None else math.nan
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _time(text: str, where: Path) -> datetime:
    try:
        return datetime.fromisoformat(text.strip())
    except ValueError as exc:
        raise ConfigError(str(where), None, "timestamp", f"not a timestamp: {text!r}") from exc


def _locate(limit: list[str], times: list[datetime], where: Path) -> Window:
    """The rows from the window's start to its end; NAB's labels fall on row timestamps,
    but any that do not still cover the rows between them."""
    if len(limit) != 2:
        raise ConfigError(str(where), None, "windows", f"a window is [start, end], not {limit}")
    start, end = (_time(t, where) for t in limit)
    first, last = bisect_left(times, start), bisect_right(times, end) - 1
    if first > last:
        raise ConfigError(str(where), None, "windows", f"window {limit} holds no rows")
    return Window(first, last)
