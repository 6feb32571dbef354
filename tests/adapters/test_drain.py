"""Template mining: what the masks hide, how the miners group lines, and how their state
is saved and restored so that a pattern keeps its id."""

from __future__ import annotations

import json
import logging
import zlib
from datetime import UTC, datetime

import pytest

from healer.adapters.drain import DrainMiner, PersistentMiner, StatefulMiner, VarietyMiner, mask

NOW = datetime(2026, 1, 5, tzinfo=UTC)

# --- masking -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "masked"),
    [
        (
            "[instance: 96abccce-8d1f-4e07-b6d1-4b2ab87e23b4] VM Started",
            "[instance: <*>] VM Started",
        ),
        ("req-38101a0b-2096-447d-96ea-a692162415ae done", "req-<*> done"),
        ("from 173.234.31.186 port 22", "from <*> port <*>"),
        ("connect to /10.10.34.11:45307 failed", "connect to /<*> failed"),
        ("fault at 0x7f3a9c00 in worker", "fault at <*> in worker"),
        ("token 54fadb412c4e40cdbaed9335e4c35a9e expired", "token <*> expired"),
        ("took 0.2477829 s, wrote 1893 rows, -12 left", "took <*> s, wrote <*> rows, <*> left"),
        ("size 12.5KB in 300ms at 99%", "size <*> in <*> at <*>"),
        ("block blk_-6952295868487656571 of job_1445_0020", "block blk_<*> of job_<*>_<*>"),
        ("loaded /etc/httpd/conf/workers2.properties", "loaded <*>"),
        ("at Sun Jul 17 15:09:15 2005 from host", "at <*> from host"),
        ("since 2017-05-16T00:00:00.008Z ok", "since <*> ok"),
        ("version 2.6.5 of ssh2 via HTTP/1.1", "version <*> of ssh2 via HTTP/<*>"),
    ],
)
def test_masks_hide_ids_addresses_numbers_and_times(line: str, masked: str) -> None:
    assert mask(line) == masked


@pytest.mark.parametrize(
    "line",
    ["Instance destroyed successfully.", "deadline exceeded for cafe", "user admin logged in"],
)
def test_masks_leave_words_alone(line: str) -> None:
    assert mask(line) == line


# --- grouping ----------------------------------------------------------------------


def ids(miner: StatefulMiner, lines: list[str]) -> list[int]:
    return [miner.add(line).id for line in lines]


MINERS = [VarietyMiner, DrainMiner]


@pytest.mark.parametrize("make", MINERS)
def test_lines_that_differ_in_numbers_share_a_template(make: type[StatefulMiner]) -> None:
    miner = make()
    first = miner.add("Took 1.5 seconds to build instance 12.")
    second = miner.add("Took 22 seconds to build instance 7.")

    assert first.id == second.id
    assert second.text == "Took <*> seconds to build instance <*>."


def test_a_different_word_is_a_different_message() -> None:
    miner = VarietyMiner()

    started, stopped, paused = ids(
        miner, ["VM Started (event)", "VM Stopped (event)", "VM Paused (event)"]
    )

    assert len({started, stopped, paused}) == 3


def test_a_word_that_keeps_changing_becomes_a_variable() -> None:
    miner = VarietyMiner(variety=4)
    users = ["root", "admin", "oracle", "test", "guest"]
    lines = [f"Invalid user {user} from 10.0.0.{n}" for n, user in enumerate(users)]

    found = [miner.add(line) for line in lines]

    # The fourth user tips it: earlier lines' templates follow the merge.
    assert {template.id for template in found} == {found[0].id}
    assert found[0].text == "Invalid user <*> from <*>"
    assert len(miner.templates) == 1


def test_a_merge_also_takes_in_templates_the_new_wildcard_covers() -> None:
    miner = VarietyMiner(variety=3)
    numbered = miner.add("session closed for user test9")

    for user in ["root", "news", "cyrus"]:
        miner.add(f"session closed for user {user}")

    assert numbered.id == miner.add("session closed for user root").id


def test_units_may_differ_with_the_magnitude() -> None:
    miner = VarietyMiner()

    small = miner.add("stored block rdd_1 (size 384.0 B, free 2.1 GB)")
    large = miner.add("stored block rdd_2 (size 12.5 KB, free 2.0 GB)")

    assert small.id == large.id


def test_a_stack_trace_is_grouped_by_its_headline() -> None:
    miner = VarietyMiner()
    java = "java.io.IOException: pipe 3 broken\n\tat a.B.c(B.java:10)\n\tat d.E.f(E.java:20)"
    python = "Traceback (most recent call last):\n  File \"x.py\", line 3\nKeyError: 'k'"

    assert miner.add(java).id == miner.add("java.io.IOException: pipe 9 broken").id
    assert miner.add(python).text == "KeyError: 'k'"


def test_a_bucket_does_not_grow_without_end() -> None:
    miner = VarietyMiner(variety=10_000, max_per_bucket=5)

    for n in range(50):
        miner.add(f"free text word{chr(97 + n % 26)}{chr(97 + n // 26)} here")

    assert len(miner.templates) == 5


# --- snapshots ---------------------------------------------------------------------

BEFORE = [
    "Failed password for root from 1.2.3.4 port 22 ssh2",
    "Invalid user admin from 1.2.3.5",
    "Invalid user oracle from 1.2.3.6",
    "Invalid user test from 1.2.3.7",
    "Connection closed by 1.2.3.8 [preauth]",
    "Received disconnect from 1.2.3.9: 11: Bye Bye [preauth]",
]
AFTER = [
    "Invalid user guest from 1.2.3.10",
    "Failed password for root from 5.6.7.8 port 2222 ssh2",
    "Did not receive identification string from 9.9.9.9",
    "Connection closed by 4.4.4.4 [preauth]",
    "Invalid user admin from 1.2.3.5",
]


@pytest.mark.parametrize("make", MINERS)
def test_a_restored_miner_carries_on_exactly_like_the_original(make: type[StatefulMiner]) -> None:
    original = make()
    ids(original, BEFORE)

    restored = make()
    restored.restore(original.snapshot())

    assert ids(restored, AFTER + BEFORE) == ids(original, AFTER + BEFORE)


@pytest.mark.parametrize("make", MINERS)
def test_the_revision_moves_only_when_the_miner_learns(make: type[StatefulMiner]) -> None:
    miner = make()
    miner.add("Connection closed by 1.2.3.4 [preauth]")
    learned = miner.revision

    miner.add("Connection closed by 1.2.3.4 [preauth]")
    assert miner.revision == learned

    miner.add("Did not receive identification string from 9.9.9.9")
    assert miner.revision > learned


@pytest.mark.parametrize("make", MINERS)
@pytest.mark.parametrize("data", [b"", b"not compressed", b"x\x9c\x03\x00\x00\x00\x00\x01"])
def test_garbage_is_not_a_snapshot(make: type[StatefulMiner], data: bytes) -> None:
    with pytest.raises(ValueError, match="snapshot"):
        make().restore(data)


def test_a_snapshot_naming_a_missing_template_is_refused_and_changes_nothing() -> None:
    miner = VarietyMiner()
    known = miner.add("Connection closed by 1.2.3.4 [preauth]").id
    document = {"format": "variety/1", "templates": [[1, ["a"], 7]], "seen": []}

    with pytest.raises(ValueError, match="snapshot"):
        miner.restore(zlib.compress(json.dumps(document).encode()))

    assert miner.add("Connection closed by 5.6.7.8 [preauth]").id == known


def test_one_miners_snapshot_is_not_anothers() -> None:
    with pytest.raises(ValueError, match="drain3/1"):
        DrainMiner().restore(VarietyMiner().snapshot())


# --- persistence through a store ---------------------------------------------------


class MemoryStates:
    def __init__(self) -> None:
        self.rows: dict[str, bytes] = {}
        self.saves = 0

    def load_miner_state(self, name: str) -> bytes | None:
        return self.rows.get(name)

    def save_miner_state(self, name: str, data: bytes, *, at: datetime) -> None:
        self.rows[name] = data
        self.saves += 1


def test_nothing_saved_means_a_fresh_miner() -> None:
    persistent = PersistentMiner(VarietyMiner(), store=MemoryStates())

    assert persistent.load() is False
    assert persistent.add("hello 1").id == 1


def test_the_state_is_saved_only_when_it_changed() -> None:
    store = MemoryStates()
    persistent = PersistentMiner(VarietyMiner(), store=store, name="logs")

    persistent.add("Connection closed by 1.2.3.4 [preauth]")
    assert persistent.save(NOW) is True
    persistent.add("Connection closed by 5.6.7.8 [preauth]")
    assert persistent.save(NOW) is False
    persistent.add("Did not receive identification string from 9.9.9.9")
    assert persistent.save(NOW) is True

    assert store.saves == 2
    assert set(store.rows) == {"logs"}


@pytest.mark.parametrize("make", MINERS)
def test_ids_survive_a_restart(make: type[StatefulMiner]) -> None:
    store = MemoryStates()
    before = PersistentMiner(make(), store=store)
    first = ids(before.miner, BEFORE)
    before.save(NOW)

    after = PersistentMiner(make(), store=store)
    assert after.load() is True

    assert ids(after.miner, BEFORE) == first
    assert after.save(NOW) is False


def test_an_unreadable_state_is_ignored_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    store = MemoryStates()
    store.rows["logs"] = b"garbage"
    persistent = PersistentMiner(VarietyMiner(), store=store)

    with caplog.at_level(logging.WARNING, logger="healer.adapters.drain"):
        assert persistent.load() is False

    assert "ignoring the saved logs miner state" in caplog.text
    assert persistent.add("hello 1").id == 1
