"""NAB's scoring rules: how much a file's detections are worth under each profile.

Rows in the probation period (the first 15% of a file, at most 750 rows) are not
scored. Inside a window only the first detection counts, worth more the earlier it
comes; a detection outside every window costs the profile's false-positive weight, less
when it falls just after a window; a window nobody detected costs the false-negative
weight. Raw scores are summed over files, then normalised between a detector that
never fires (0) and one that fires at every window's left edge (100).
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from healer.bench.nab.corpus import Window

PROBATION_SHARE = 0.15
PROBATION_CAP = 750  # rows: 15% of NAB's 5,000-row reference file
# Beyond 3 window-widths past a window a detection is simply a false positive.
FAR_PAST = 3.0


@dataclass(frozen=True, slots=True)
class Profile:
    """The weights of a true positive, a false positive and a missed window."""

    name: str
    tp: float
    fp: float
    fn: float


PROFILES = (
    Profile("standard", tp=1.0, fp=0.11, fn=1.0),
    Profile("reward_low_FP_rate", tp=1.0, fp=0.22, fn=1.0),
    Profile("reward_low_FN_rate", tp=1.0, fp=0.11, fn=2.0),
)


@dataclass(frozen=True, slots=True)
class FileScore:
    """One file under one profile: its raw score and what made it."""

    raw: float
    null: float  # the raw score of a detector that never fires
    perfect: float  # every window detected at its left edge
    detected: int  # windows with a scored detection
    missed: int  # scored windows without one
    false_positives: int  # scored detections outside every window


def probation_rows(rows: int) -> int:
    """How many leading rows of a file of `rows` rows are not scored."""
    return min(math.floor(PROBATION_SHARE * rows), PROBATION_CAP)


def scaled_sigmoid(position: float) -> float:
    """+0.987 at a window's left edge (-1), 0 at its right edge (0), towards -1 past it."""
    if position >= FAR_PAST:
        return -1.0
    return 2.0 / (1.0 + math.exp(5.0 * position)) - 1.0


# A detection at the left edge earns exactly the profile's tp weight: NAB divides by
# the sigmoid's value there, which is what makes "perfect" tp × windows.
_LEFT_EDGE = scaled_sigmoid(-1.0)


def score_file(
    rows: int, windows: Sequence[Window], detections: Iterable[int], profile: Profile
) -> FileScore:
    """Score the rows at which a detector fired (indexes into the file's rows)."""
    start = probation_rows(rows)
    firsts = [w.first for w in windows]
    best: dict[int, float] = {i: -profile.fn for i, w in enumerate(windows) if w.last >= start}
    fp_total, fp_count = 0.0, 0
    for row in sorted({d for d in detections if start <= d < rows}):
        index = bisect_right(firsts, row) - 1  # the last window starting at or before row
        if index >= 0 and row <= windows[index].last:
            gain = _true_positive(row, windows[index], profile)
            best[index] = max(best[index], gain)
        else:
            fp_total += _false_positive(row, windows[index] if index >= 0 else None, profile)
            fp_count += 1
    detected = sum(1 for value in best.values() if value > -profile.fn)
    return FileScore(
        raw=sum(best.values()) + fp_total,
        null=-profile.fn * len(best),
        perfect=profile.tp * len(windows),
        detected=detected,
        missed=len(best) - detected,
        false_positives=fp_count,
    )


def _true_positive(row: int, window: Window, profile: Profile) -> float:
    # -1 at the window's first row, just below 0 at its last: NAB counts the row itself.
    position = -(window.last - row + 1) / window.rows
    return profile.tp * scaled_sigmoid(position) / _LEFT_EDGE


def _false_positive(row: int, before: Window | None, profile: Profile) -> float:
    if before is None:
        return -profile.fp
    # Distance past the window in window-widths, so a slightly late detection costs little.
    position = (row - before.last) / max(before.rows - 1, 1)
    return profile.fp * scaled_sigmoid(position)


def normalised(scores: Sequence[FileScore]) -> float:
    """100 × (raw − null) / (perfect − null), each summed over the files first."""
    raw = sum(s.raw for s in scores)
    null = sum(s.null for s in scores)
    perfect = sum(s.perfect for s in scores)
    if perfect == null:
        # No window anywhere: only false positives can be scored, so any is a failure.
        return 100.0 if raw == 0 else 0.0
    return 100.0 * (raw - null) / (perfect - null)
