"""The Loghub-2k benchmark: how well a template miner groups and parses real logs.

Reads a Loghub folder (one sub-folder per system with its ground truth), feeds each
system's `Content` lines through a fresh miner in file order, and scores grouping
accuracy (GA), parsing accuracy (PA) and lines mined per second; `table` renders it.
"""

from __future__ import annotations

import csv
import re
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.table import Table

from healer.adapters.drain import DrainMiner, VarietyMiner
from healer.detect.logpatterns import PatternMiner
from healer.errors import ConfigError
from healer.ports import MinedTemplate, TemplateMiner

# The corrected labels (Loghub's fixes to the original annotation) when present.
GROUND_TRUTH_SUFFIXES = ("_structured_corrected.csv", "_structured.csv")
COLUMNS = ("Content", "EventId", "EventTemplate")

Progress = Callable[["SystemScore"], None]

# The miners the benchmark can compare, by the name a `--miner` option would take.
MINERS: dict[str, Callable[[], TemplateMiner]] = {
    "variety": VarietyMiner,
    "drain3": DrainMiner,
    "pattern": PatternMiner,
}


@dataclass(frozen=True, slots=True)
class LoghubSystem:
    """One system's lines in file order, with each line's true event and template."""

    name: str
    contents: tuple[str, ...]
    events: tuple[str, ...]
    templates: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class SystemScore:
    name: str
    ga: float
    pa: float
    lines: int
    seconds: float


def read_loghub(path: Path) -> list[LoghubSystem]:
    """Every system under `path` (`<System>/<System>_2k.log_structured_corrected.csv`)."""
    if not path.is_dir():
        raise ConfigError(str(path), None, "path", "not a folder of Loghub systems")
    systems = [
        read_system(folder.name, found)
        for folder in sorted(path.iterdir())
        if folder.is_dir() and (found := _ground_truth_file(folder)) is not None
    ]
    if not systems:
        raise ConfigError(
            str(path), None, "path", "no <System>/<System>_2k.log_structured*.csv found"
        )
    return systems


def _ground_truth_file(folder: Path) -> Path | None:
    for suffix in GROUND_TRUTH_SUFFIXES:
        found = sorted(folder.glob(f"*{suffix}"))
        if found:
            return found[0]
    return None


def read_system(name: str, csv_path: Path) -> LoghubSystem:
    with csv_path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise ConfigError(str(csv_path), 1, missing[0], "missing column")
        rows = [(row["Content"], row["EventId"], row["EventTemplate"]) for row in reader]
    contents, events, templates = zip(*rows, strict=True) if rows else ((), (), ())
    return LoghubSystem(name, tuple(contents), tuple(events), tuple(templates))


def grouping_accuracy(predicted: Sequence[Hashable], truth: Sequence[Hashable]) -> float:
    """Share of lines whose predicted group has exactly the members of their true group.

    A true group counts (all its lines) only when all its lines went to one predicted
    group and that group holds nothing else, so splitting or merging costs every line.
    """
    _same_length(predicted, truth)
    if not truth:
        return 0.0
    predicted_size = Counter(predicted)
    members: dict[Hashable, set[Hashable]] = defaultdict(set)
    for group, event in zip(predicted, truth, strict=True):
        members[event].add(group)
    true_size = Counter(truth)
    correct = sum(
        true_size[event]
        for event, groups in members.items()
        if len(groups) == 1 and predicted_size[next(iter(groups))] == true_size[event]
    )
    return correct / len(truth)


def parsing_accuracy(predicted: Sequence[str], truth: Sequence[str]) -> float:
    """Share of lines whose predicted template equals the true one, both normalised."""
    _same_length(predicted, truth)
    if not truth:
        return 0.0
    normal: dict[str, str] = {}
    correct = 0
    for mine, theirs in zip(predicted, truth, strict=True):
        for text in (mine, theirs):
            if text not in normal:
                normal[text] = normalise_template(text)
        correct += normal[mine] == normal[theirs]
    return correct / len(truth)


# Any named mask a miner may leave (<NUM>, <IP>, <*>) is the same wildcard.
_MASK = re.compile(r"<[A-Za-z_*]+>")
# A whitespace-separated token holding a wildcard among other characters (blk_<*>,
# /<*>, <*>:<*>) is itself a variable: labellers and miners cut such tokens differently.
_GLUED = re.compile(r"\S*<\*>\S*")
_WILDCARD = "<*>"


def normalise_template(text: str) -> str:
    """A template in the form two templates are compared in for PA.

    Whitespace runs become one space, every mask is `<*>`, and a token that contains
    a wildcard becomes one wildcard. Wildcards apart by whitespace stay apart: the
    number of words is part of a template.
    """
    text = _MASK.sub(_WILDCARD, " ".join(text.split()))
    return _GLUED.sub(_WILDCARD, text)


def _same_length(predicted: Sequence[Any], truth: Sequence[Any]) -> None:
    if len(predicted) != len(truth):
        raise ValueError(f"{len(predicted)} predictions for {len(truth)} lines")


def mine_system(system: LoghubSystem, miner: TemplateMiner) -> SystemScore:
    """Run `miner` over the system's lines, timing only the mining.

    Each line is judged by the group and template it ended in, as Loghub judges a
    parser's final output: a miner may merge groups and generalise templates as it learns.
    """
    mined: list[MinedTemplate] = []
    add = miner.add
    started = time.perf_counter()
    for line in system.contents:
        mined.append(add(line))
    seconds = time.perf_counter() - started
    ids = [template.id for template in mined]
    # Templates generalise as lines arrive: judge each line by where its group ended.
    final = {template.id: template.text for template in mined}
    texts = [final[i] for i in ids]
    return SystemScore(
        name=system.name,
        ga=grouping_accuracy(ids, system.events),
        pa=parsing_accuracy(texts, system.templates),
        lines=len(ids),
        seconds=seconds,
    )


def run_loghub(
    path: Path, new_miner: Callable[[], TemplateMiner], progress: Progress | None = None
) -> dict[str, Any]:
    """The `healer bench loghub --json` document: a fresh miner per system."""
    scores = []
    for system in read_loghub(path):
        score = mine_system(system, new_miner())
        scores.append(score)
        if progress is not None:
            progress(score)
    return summarise(scores)


def summarise(scores: Sequence[SystemScore]) -> dict[str, Any]:
    lines = sum(s.lines for s in scores)
    seconds = sum(s.seconds for s in scores)
    return {
        "systems": {s.name: {"ga": _r(s.ga), "pa": _r(s.pa), "lines": s.lines} for s in scores},
        "avg_ga": _r(sum(s.ga for s in scores) / len(scores)) if scores else None,
        "avg_pa": _r(sum(s.pa for s in scores) / len(scores)) if scores else None,
        "lines_per_s": round(lines / seconds) if seconds > 0 else None,
    }


def _r(value: float) -> float:
    return round(value, 4)


def table(result: dict[str, Any], title: str = "Loghub-2k") -> Table:
    """The human-readable form of `run_loghub`'s document."""
    out = Table(title=title, title_justify="left")
    for column in ("system", "GA", "PA", "lines"):
        out.add_column(column, justify="left" if column == "system" else "right")
    for name, row in result["systems"].items():
        out.add_row(name, f"{row['ga']:.3f}", f"{row['pa']:.3f}", str(row["lines"]))
    out.add_section()
    out.add_row("average", _shown(result["avg_ga"]), _shown(result["avg_pa"]), "")
    out.caption = f"{result['lines_per_s']} lines/s (mining only)"
    return out


def _shown(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"
