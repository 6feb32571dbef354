"""The Loghub benchmark's scores on hand-made data with known answers, and the command's
document on a tiny folder laid out like Loghub's."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path

import pytest
from rich.console import Console

from healer.adapters.drain import DrainMiner, VarietyMiner
from healer.bench.loghub import (
    grouping_accuracy,
    normalise_template,
    parsing_accuracy,
    read_loghub,
    run_loghub,
    table,
)
from healer.errors import ConfigError

# --- grouping accuracy -------------------------------------------------------------


def test_identical_grouping_under_other_names_is_perfect() -> None:
    assert grouping_accuracy([7, 7, 3, 9], ["A", "A", "B", "C"]) == 1.0


def test_a_split_event_costs_all_its_lines() -> None:
    # A is whole (2 lines), B is split in two (both lines wrong), C is whole.
    assert grouping_accuracy([1, 1, 2, 3, 4], ["A", "A", "B", "B", "C"]) == pytest.approx(3 / 5)


def test_a_merged_group_costs_every_event_in_it() -> None:
    assert grouping_accuracy([1, 1, 1, 2], ["A", "A", "B", "C"]) == pytest.approx(1 / 4)


def test_nothing_right_scores_zero() -> None:
    assert grouping_accuracy([1, 1, 1], ["A", "B", "C"]) == 0.0


def test_grouping_of_nothing_is_zero_and_lengths_must_match() -> None:
    assert grouping_accuracy([], []) == 0.0
    with pytest.raises(ValueError, match="2 predictions for 3 lines"):
        grouping_accuracy([1, 2], ["A", "B", "C"])


# --- parsing accuracy --------------------------------------------------------------


@pytest.mark.parametrize(
    ("mine", "truth"),
    [
        ("Took <NUM> seconds", "Took <*> seconds"),
        ("Took   <*>  seconds ", "Took <*> seconds"),
        ("Deleting block blk_<*> file <*>", "Deleting block <*> file <*>"),
        ("Received connection request <*>", "Received connection request /<*>:<*>"),
    ],
)
def test_templates_equal_after_normalising_wildcards_and_spaces(mine: str, truth: str) -> None:
    assert normalise_template(mine) == normalise_template(truth)


@pytest.mark.parametrize(
    ("mine", "truth"),
    [
        ("session closed for user root", "session closed for user <*>"),
        ("Took <*> <*> seconds", "Took <*> seconds"),
        ("VM Started", "VM Stopped"),
    ],
)
def test_templates_that_differ_stay_different(mine: str, truth: str) -> None:
    assert normalise_template(mine) != normalise_template(truth)


def test_parsing_accuracy_counts_lines_not_templates() -> None:
    mine = ["a <*>", "a <*>", "a <*>", "b c"]
    truth = ["a <*>", "a <*>", "a <*>", "b <*>"]
    assert parsing_accuracy(mine, truth) == pytest.approx(3 / 4)
    with pytest.raises(ValueError):
        parsing_accuracy(mine, truth[:2])


# --- the command on a tiny folder --------------------------------------------------

# (Content, EventId, EventTemplate): two events told apart by a word, one by its numbers.
TINY = [
    ("Connection closed by 10.0.0.1 port 22", "E1", "Connection closed by <*> port <*>"),
    ("Connection refused by 10.0.0.2 port 23", "E2", "Connection refused by <*> port <*>"),
    ("Connection closed by 10.0.0.3 port 2222", "E1", "Connection closed by <*> port <*>"),
    ("Took 1.5 seconds to spawn", "E3", "Took <*> seconds to spawn"),
    ("Took 12 seconds to spawn", "E3", "Took <*> seconds to spawn"),
]


def write_system(root: Path, name: str, rows: list[tuple[str, str, str]]) -> None:
    folder = root / name
    folder.mkdir(parents=True)
    (folder / f"{name}_2k.log").write_text("\n".join(r[0] for r in rows) + "\n")
    with (folder / f"{name}_2k.log_structured_corrected.csv").open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["LineId", "Level", "Content", "EventId", "EventTemplate"])
        for number, (content, event, template) in enumerate(rows, start=1):
            writer.writerow([number, "INFO", content, event, template])


@dataclass(frozen=True)
class Mined:
    id: int
    text: str


class FirstWordMiner:
    """Groups by first word and answers `<word> <*>`: scores that are easy to work out."""

    def __init__(self) -> None:
        self.ids: dict[str, int] = {}

    def add(self, message: str) -> Mined:
        word = message.split(maxsplit=1)[0]
        return Mined(self.ids.setdefault(word, len(self.ids)), f"{word} <*>")


def test_run_loghub_scores_each_system_with_a_fresh_miner(tmp_path: Path) -> None:
    write_system(tmp_path, "Tiny", TINY)
    write_system(tmp_path, "Other", TINY[3:])
    (tmp_path / "notes.txt").write_text("not a system")

    result = run_loghub(tmp_path, FirstWordMiner)

    assert list(result) == ["systems", "avg_ga", "avg_pa", "lines_per_s"]
    # Tiny: "Connection" holds E1 and E2 (3 lines wrong), "Took" is exactly E3.
    assert result["systems"]["Tiny"] == {"ga": 0.4, "pa": 0.0, "lines": 5}
    assert result["systems"]["Other"] == {"ga": 1.0, "pa": 0.0, "lines": 2}
    assert list(result["systems"]) == ["Other", "Tiny"]
    assert result["avg_ga"] == 0.7
    assert result["avg_pa"] == 0.0
    assert result["lines_per_s"] > 0
    json.dumps(result)


@pytest.mark.parametrize("miner", [VarietyMiner, DrainMiner])
def test_the_real_miners_get_the_tiny_system_right(tmp_path: Path, miner: type) -> None:
    write_system(tmp_path, "Tiny", TINY)

    result = run_loghub(tmp_path, miner)

    assert result["systems"]["Tiny"] == {"ga": 1.0, "pa": 1.0, "lines": 5}


def test_progress_is_reported_per_system(tmp_path: Path) -> None:
    write_system(tmp_path, "Tiny", TINY)
    seen: list[str] = []

    run_loghub(tmp_path, FirstWordMiner, progress=lambda score: seen.append(score.name))

    assert seen == ["Tiny"]


def test_table_shows_every_system_and_the_average(tmp_path: Path) -> None:
    write_system(tmp_path, "Tiny", TINY)
    result = run_loghub(tmp_path, FirstWordMiner)
    out = io.StringIO()

    Console(file=out, width=100).print(table(result))

    text = out.getvalue()
    assert "Tiny" in text
    assert "average" in text
    assert "0.400" in text
    assert "lines/s" in text


def test_a_folder_without_systems_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no <System>"):
        read_loghub(tmp_path)
    with pytest.raises(ConfigError, match="not a folder"):
        read_loghub(tmp_path / "missing")


def test_a_ground_truth_file_without_its_columns_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "Broken"
    folder.mkdir()
    (folder / "Broken_2k.log_structured.csv").write_text("LineId,Content\n1,hello\n")

    with pytest.raises(ConfigError, match="EventId: missing column"):
        read_loghub(tmp_path)


def test_lines_are_read_in_file_order_with_commas_and_quotes(tmp_path: Path) -> None:
    rows = [('GET "/a, b" status: 200', "E1", 'GET "<*>" status: <*>'), ("x", "E2", "x")]
    write_system(tmp_path, "Quoted", rows)

    (system,) = read_loghub(tmp_path)

    assert system.name == "Quoted"
    assert system.contents == ('GET "/a, b" status: 200', "x")
    assert system.events == ("E1", "E2")
