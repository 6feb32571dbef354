"""Running a streaming detector over a NAB folder and scoring it, all three profiles.

Each file's values go to a fresh detector one at a time, in row order, exactly as a
live series would; the rows where it fired are scored with NAB's rules. With a
detections folder, every row's anomaly score and label is written in NAB's results
layout so another implementation of the scorer can check ours.
"""

from __future__ import annotations

import csv
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from rich.table import Table

from healer.bench.nab.corpus import NabFile, read_corpus
from healer.bench.nab.scoring import PROFILES, FileScore, normalised, probation_rows, score_file
from healer.detect.streaming import StreamingDetector


class PointDetector(Protocol):
    """A detector of one univariate series, fed a value at a time."""

    def update(self, value: float) -> float:
        """The value's anomaly score in [0, 1]."""
        ...

    @property
    def fired(self) -> bool:
        """Whether the last value raised a detection."""
        ...


# Given the file's probation length in rows: NAB tells every detector how long it may
# learn before it is scored, and that is all a detector knows about the file.
DetectorFactory = Callable[[int], PointDetector]


@dataclass(frozen=True, slots=True)
class FileRun:
    """One file after detection: every row's score and the rows where it fired."""

    file: NabFile
    scores: tuple[float, ...]
    fired: tuple[int, ...]
    seconds: float

    def scored(self) -> dict[str, FileScore]:
        rows = len(self.file.values)
        return {p.name: score_file(rows, self.file.windows, self.fired, p) for p in PROFILES}


Progress = Callable[[FileRun], None]


def streaming_detector(probation: int) -> PointDetector:
    """The healer's own streaming detector, learning through the probation period."""
    return StreamingDetector(warmup=probation)


def detect_file(file: NabFile, detector: PointDetector) -> FileRun:
    """Feed the file's values in order and record every score and every detection."""
    scores: list[float] = []
    fired: list[int] = []
    started = time.perf_counter()
    for row, value in enumerate(file.values):
        scores.append(detector.update(value))
        if detector.fired:
            fired.append(row)
    seconds = time.perf_counter() - started
    return FileRun(file, tuple(scores), tuple(fired), seconds)


def write_detections(run: FileRun, folder: Path) -> Path:
    """`folder/<category>/<file>.csv` with timestamp, value, anomaly_score and label."""
    target = folder / run.file.name
    target.parent.mkdir(parents=True, exist_ok=True)
    fired = set(run.fired)
    with target.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(("timestamp", "value", "anomaly_score", "label"))
        rows = zip(run.file.timestamps, run.file.values, run.scores, strict=True)
        for row, (stamp, value, score) in enumerate(rows):
            writer.writerow((stamp, repr(value), f"{score:.6f}", int(row in fired)))
    return target


def run_nab(
    path: Path,
    *,
    new_detector: DetectorFactory = streaming_detector,
    detections: Path | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """The `healer bench nab --json` document for the NAB-layout folder at `path`."""
    runs = []
    for file in read_corpus(path):
        run = detect_file(file, new_detector(probation_rows(len(file.values))))
        if detections is not None:
            write_detections(run, detections)
        if progress is not None:
            progress(run)
        runs.append(run)
    return summarise(runs)


def summarise(runs: Sequence[FileRun]) -> dict[str, Any]:
    """Per-file details, and each profile's normalised score over all files."""
    scored = [run.scored() for run in runs]
    document: dict[str, Any] = {
        "files": {run.file.name: _file_record(run, s) for run, s in zip(runs, scored, strict=True)}
    }
    for profile in PROFILES:
        document[profile.name] = round(normalised([s[profile.name] for s in scored]), 2)
    return document


def _file_record(run: FileRun, scored: dict[str, FileScore]) -> dict[str, Any]:
    return {
        "rows": len(run.file.values),
        "windows": len(run.file.windows),
        "detections": len(run.fired),
        "seconds": round(run.seconds, 3),
        **{
            name: {
                "raw": round(s.raw, 4),
                "detected": s.detected,
                "missed": s.missed,
                "false_positives": s.false_positives,
            }
            for name, s in scored.items()
        },
    }


def table(result: dict[str, Any], title: str = "NAB") -> Table:
    """The human-readable form of `run_nab`'s document (per file, the standard profile)."""
    out = Table(title=title, title_justify="left")
    for column in ("file", "windows", "detected", "missed", "false pos.", "raw"):
        out.add_column(column, justify="left" if column == "file" else "right")
    for name, row in result["files"].items():
        standard = row["standard"]
        out.add_row(
            name,
            str(row["windows"]),
            str(standard["detected"]),
            str(standard["missed"]),
            str(standard["false_positives"]),
            f"{standard['raw']:.2f}",
        )
    out.caption = "normalised: " + ", ".join(f"{p.name} {result[p.name]:.1f}" for p in PROFILES)
    return out
