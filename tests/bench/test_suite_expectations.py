"""The shipped suite's expectations agree with the simulator's ground truth: every fault
expects the cause a perfect diagnosis would name for its kind, on the faulty service."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from healer.bootstrap import REPO
from healer.sim import faults, load_scenario

SUITE = sorted((REPO / "bench" / "scenarios").glob("*.yaml"))


def entries(doc: dict[str, Any]) -> list[dict[str, Any]]:
    expect = doc.get("expect", {})
    return list(expect.get("incidents") or ([expect] if "root_cause" in expect else []))


@pytest.mark.parametrize("path", SUITE, ids=[p.stem for p in SUITE])
def test_each_fault_expects_its_kinds_cause(path: Path) -> None:
    load_scenario(path)  # refused with file and field if malformed
    doc = yaml.safe_load(path.read_text())
    expected = {e["root_cause"]["service"]: e["root_cause"]["cause"] for e in entries(doc)}
    for fault in doc.get("faults", []):
        assert expected.get(fault["target"]) == str(faults.cause(fault["kind"])), fault


def test_the_suite_is_as_large_and_varied_as_promised() -> None:
    docs = [yaml.safe_load(p.read_text()) for p in SUITE]
    kinds = {f["kind"] for d in docs for f in d.get("faults", [])}
    assert len(SUITE) >= 40
    assert kinds >= {
        "cpu_saturation", "traffic_surge", "pool_exhaustion", "db_max_connections",
        "bad_deploy", "slow_dependency", "dependency_errors", "memory_leak", "latency_injection",
    }  # fmt: skip
    assert sum(len(d.get("faults", [])) >= 2 for d in docs) >= 2, "overlapping faults"
