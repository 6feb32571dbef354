"""NAB's scoring rules on hand-made cases with known answers, and the command's document
on a tiny folder laid out like NAB's."""

from __future__ import annotations

import csv
import io
import json
import math
import random
from pathlib import Path

import pytest
from rich.console import Console

from healer.bench.nab.corpus import Window, read_corpus
from healer.bench.nab.runner import detect_file, run_nab, table
from healer.bench.nab.scoring import (
    PROFILES,
    FileScore,
    normalised,
    probation_rows,
    scaled_sigmoid,
    score_file,
)
from healer.errors import ConfigError

STANDARD, LOW_FP, LOW_FN = PROFILES
# 1,000 rows: the first 150 are probation. One window of 100 rows, 400..499.
ROWS = 1000
WINDOW = (Window(400, 499),)
# The sigmoid's value at a window's left edge: 2 / (1 + e^-5) - 1.
LEFT_EDGE = 0.9866143


def score(detections: list[int], profile: str = "standard") -> FileScore:
    chosen = next(p for p in PROFILES if p.name == profile)
    return score_file(ROWS, WINDOW, detections, chosen)


# --- the rules, one at a time --------------------------------------------------------


def test_probation_is_15_percent_capped_at_750_rows() -> None:
    assert probation_rows(1000) == 150
    assert probation_rows(4032) == 604  # floor(604.8)
    assert probation_rows(5000) == 750
    assert probation_rows(15902) == 750


def test_the_sigmoid_at_the_edges() -> None:
    assert scaled_sigmoid(-1.0) == pytest.approx(LEFT_EDGE, abs=1e-6)
    assert scaled_sigmoid(0.0) == 0.0
    assert scaled_sigmoid(1.0) == pytest.approx(-LEFT_EDGE, abs=1e-6)
    assert scaled_sigmoid(3.0) == -1.0  # far past a window: a plain false positive


def test_a_detection_at_the_left_edge_earns_the_full_true_positive_weight() -> None:
    result = score([400])
    assert result.raw == pytest.approx(1.0)
    assert (result.detected, result.missed, result.false_positives) == (1, 0, 0)


def test_a_late_detection_earns_less() -> None:
    # Row 449: position -(499 - 449 + 1) / 100 = -0.51;
    # 2 / (1 + e^(5 × -0.51)) - 1 = 0.855146, divided by the left edge's 0.986614.
    assert score([449]).raw == pytest.approx(0.855146 / LEFT_EDGE, abs=1e-5)
    # The last row of the window: position -1/100, 2 / (1 + e^-0.05) - 1 = 0.024995.
    assert score([499]).raw == pytest.approx(0.024995 / LEFT_EDGE, abs=1e-5)


def test_only_the_first_detection_in_a_window_counts() -> None:
    assert score([449, 400, 450, 498]).raw == pytest.approx(1.0)
    assert score([449, 450]).raw == score([449]).raw


def test_a_false_positive_before_every_window_costs_the_fp_weight() -> None:
    # Row 200 is outside every window and before all of them; the window is missed.
    result = score([200])
    assert result.raw == pytest.approx(-0.11 - 1.0)
    assert (result.detected, result.missed, result.false_positives) == (0, 1, 1)
    assert score([200], "reward_low_FP_rate").raw == pytest.approx(-0.22 - 1.0)


def test_a_false_positive_just_after_a_window_costs_less() -> None:
    # Row 550: (550 - 499) / (100 - 1) = 0.51515 window-widths past the window;
    # 2 / (1 + e^(5 × 0.51515)) - 1 = -0.858570, times the FP weight 0.11.
    assert score([400, 550]).raw == pytest.approx(1.0 - 0.11 * 0.858570, abs=1e-5)
    # Three or more widths past the window it is a plain false positive.
    assert score([400, 900]).raw == pytest.approx(1.0 - 0.11)


def test_a_missed_window_costs_the_fn_weight() -> None:
    assert score([]).raw == -1.0
    assert score([], "reward_low_FN_rate").raw == -2.0
    assert score([]).null == -1.0 and score([]).perfect == 1.0


def test_detections_in_the_probation_period_are_not_scored() -> None:
    result = score([10, 149])
    assert result.raw == -1.0 and result.false_positives == 0


def test_a_window_inside_the_probation_period_is_neither_missed_nor_detected() -> None:
    early = (Window(20, 60), *WINDOW)
    result = score_file(ROWS, early, [400], STANDARD)
    assert result.raw == pytest.approx(1.0)
    assert result.null == -1.0  # the early window is not scored...
    assert result.perfect == 2.0  # ...but counts among the windows, as NAB counts labels


# --- normalisation -------------------------------------------------------------------


def test_null_and_perfect_detectors_score_0_and_100_under_every_profile() -> None:
    for profile in PROFILES:
        files = [
            score_file(ROWS, WINDOW, [], profile),
            score_file(2000, (Window(900, 999), Window(1500, 1599)), [], profile),
        ]
        assert normalised(files) == 0.0
        perfect = [
            score_file(ROWS, WINDOW, [400], profile),
            score_file(2000, (Window(900, 999), Window(1500, 1599)), [900, 1500], profile),
        ]
        assert normalised(perfect) == pytest.approx(100.0)


def test_normalisation_sums_over_files_before_dividing() -> None:
    # File A: detected at the left edge (+1); file B: one window missed (-1) and one FP
    # before it (-0.11). Raw -0.11, null -2, perfect +2: 100 × 1.89 / 4 = 47.25.
    a = score_file(ROWS, WINDOW, [400], STANDARD)
    b = score_file(ROWS, WINDOW, [200], STANDARD)
    assert normalised([a, b]) == pytest.approx(47.25)


# --- reading a NAB folder ------------------------------------------------------------


def write_nab(root: Path, series: dict[str, list[float]], windows: dict[str, list[int]]) -> Path:
    """A NAB-layout folder: one row every 5 minutes; windows given as (first, last) rows."""
    labels: dict[str, list[list[str]]] = {}
    for name, values in series.items():
        stamps = [_stamp(i) for i in range(len(values))]
        path = root / "data" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(("timestamp", "value"))
            writer.writerows(zip(stamps, values, strict=True))
        bounds = windows.get(name, [])
        labels[name] = [
            [_stamp(first) + ".000000", _stamp(last) + ".000000"]
            for first, last in zip(bounds[::2], bounds[1::2], strict=True)
        ]
    (root / "windows.json").write_text(json.dumps(labels))
    return root


def _stamp(row: int) -> str:
    minutes = 5 * row
    return f"2014-04-{1 + minutes // 1440:02d} {minutes // 60 % 24:02d}:{minutes % 60:02d}:00"


def noise(seed: int, rows: int) -> list[float]:
    rng = random.Random(seed)
    return [round(50 + rng.gauss(0, 2), 3) for _ in range(rows)]


def tiny_corpus(root: Path) -> Path:
    spiky = noise(1, 1200)
    spiky[700] = 90.0  # a spike in the middle of its window
    shifted = noise(2, 1300)
    shifted[800:] = [v - 20 for v in shifted[800:]]  # a level drop that stays
    return write_nab(
        root,
        {
            "synthetic/spike.csv": spiky,
            "synthetic/drop.csv": shifted,
            "quiet/none.csv": noise(3, 900),
        },
        {"synthetic/spike.csv": [650, 750], "synthetic/drop.csv": [750, 850]},
    )


def test_windows_are_located_among_the_rows(tmp_path: Path) -> None:
    files = {f.name: f for f in read_corpus(tiny_corpus(tmp_path))}
    assert list(files) == ["quiet/none.csv", "synthetic/drop.csv", "synthetic/spike.csv"]
    assert files["synthetic/spike.csv"].windows == (Window(650, 750),)
    assert files["quiet/none.csv"].windows == ()
    assert files["synthetic/spike.csv"].values[700] == 90.0


def test_a_file_without_windows_or_a_folder_without_data_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="data"):
        read_corpus(tmp_path)
    root = tiny_corpus(tmp_path)
    (root / "windows.json").write_text(json.dumps({"synthetic/spike.csv": []}))
    with pytest.raises(ConfigError, match="no entry"):
        read_corpus(root)


# --- the command's document ----------------------------------------------------------


class FiresAt:
    """A stand-in detector that fires at fixed rows."""

    def __init__(self, rows: set[int]) -> None:
        self._rows = rows
        self._row = -1
        self.fired = False

    def update(self, value: float) -> float:
        self._row += 1
        self.fired = self._row in self._rows
        return 1.0 if self.fired else 0.0


def at_left_edges(probation: int) -> FiresAt:
    # The files differ in length, so in probation: 1,200 rows → 180, 1,300 → 195.
    return FiresAt({180: {650}, 195: {750}}.get(probation, set()))


def test_a_detector_at_every_left_edge_scores_100_and_one_that_never_fires_0(
    tmp_path: Path,
) -> None:
    root = tiny_corpus(tmp_path)
    perfect = run_nab(root, new_detector=at_left_edges)
    assert [perfect[p.name] for p in PROFILES] == [100.0, 100.0, 100.0]
    null = run_nab(root, new_detector=lambda probation: FiresAt(set()))
    assert [null[p.name] for p in PROFILES] == [0.0, 0.0, 0.0]
    assert null["files"]["synthetic/drop.csv"]["standard"]["missed"] == 1


def test_the_healers_detector_finds_the_spike_and_the_drop(tmp_path: Path) -> None:
    out = tmp_path / "detections"
    result = run_nab(tiny_corpus(tmp_path / "nab"), detections=out)
    assert set(result) == {"files", "standard", "reward_low_FP_rate", "reward_low_FN_rate"}
    assert set(result["files"]) == {"quiet/none.csv", "synthetic/drop.csv", "synthetic/spike.csv"}
    for name in ("synthetic/spike.csv", "synthetic/drop.csv"):
        assert result["files"][name]["standard"]["detected"] == 1
    assert result["standard"] > 50
    json.dumps(result)  # the document is plain JSON


def test_detections_are_written_in_nabs_results_layout(tmp_path: Path) -> None:
    out = tmp_path / "detections"
    run_nab(tiny_corpus(tmp_path / "nab"), detections=out)
    with (out / "synthetic" / "spike.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["timestamp", "value", "anomaly_score", "label"]
    assert len(rows) == 1200 and rows[700]["value"] == "90.0"
    scores = [float(r["anomaly_score"]) for r in rows]
    assert all(0.0 <= s <= 1.0 for s in scores)
    # The labels are exactly the scores at or above 0.5: another scorer can use either.
    assert [r["label"] == "1" for r in rows] == [s >= 0.5 for s in scores]
    assert rows[700]["label"] == "1"


def test_a_file_is_fed_in_row_order(tmp_path: Path) -> None:
    file = next(f for f in read_corpus(tiny_corpus(tmp_path)) if f.name.endswith("spike.csv"))
    run = detect_file(file, FiresAt({3, 700}))
    assert run.fired == (3, 700)
    assert len(run.scores) == len(file.values)
    assert run.scored()["standard"].detected == 1


def test_the_table_shows_each_file_and_the_normalised_scores(tmp_path: Path) -> None:
    result = run_nab(tiny_corpus(tmp_path))
    console = Console(file=io.StringIO(), width=160)
    console.print(table(result))
    text = console.file.getvalue()  # type: ignore[attr-defined]
    assert "synthetic/spike.csv" in text and "quiet/none.csv" in text
    assert f"standard {result['standard']:.1f}" in text


# --- the real data, when it is beside the checkout -----------------------------------

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data" / "nab"


@pytest.mark.skipif(not SHARED.is_dir(), reason=f"NAB data not found at {SHARED}")
def test_the_shared_windows_fall_on_rows() -> None:
    for file in read_corpus(SHARED):
        for window in file.windows:
            assert 0 <= window.first <= window.last < len(file.values), file.name
        assert not math.isnan(sum(file.values))
