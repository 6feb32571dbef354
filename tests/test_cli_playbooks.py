"""`healer playbooks validate | show`: every malformed example is refused precisely."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from healer.bootstrap import REPO
from healer.cli import app
from healer.errors import PlaybookError
from healer.playbooks import load_playbook

runner = CliRunner()
MALFORMED = sorted((REPO / "examples" / "playbooks-malformed").glob("*.yaml"))


def expected(path: Path) -> tuple[int, str, str]:
    """The file's own `# expect: LINE: FIELD: REASON` header."""
    header = path.read_text().splitlines()[0].removeprefix("# expect: ")
    line, field, reason = header.split(": ", 2)
    return int(line), field, reason


@pytest.mark.parametrize("path", MALFORMED, ids=[p.stem for p in MALFORMED])
def test_each_malformed_example_is_refused_with_file_line_and_field(path: Path) -> None:
    line, field, reason = expected(path)
    with pytest.raises(PlaybookError) as caught:
        load_playbook(path)
    assert (caught.value.path, caught.value.line, caught.value.field) == (str(path), line, field)
    assert reason in caught.value.reason
    result = runner.invoke(app, ["playbooks", "validate", str(path)], env={"COLUMNS": "400"})
    assert result.exit_code == 1
    assert f"{path}:{line}: {field}: " in result.output.replace("\n", "")


def test_enough_malformed_examples_cover_the_format() -> None:
    assert len(MALFORMED) >= 10


def test_validate_passes_the_shipped_playbooks_and_fails_a_folder_with_one_bad(
    tmp_path: Path,
) -> None:
    good = runner.invoke(app, ["playbooks", "validate", str(REPO / "playbooks")])
    assert good.exit_code == 0, good.output
    assert good.output.count("ok ") == len(list((REPO / "playbooks").glob("*.yaml")))
    (tmp_path / "a.yaml").write_text((REPO / "playbooks" / "scale.yaml").read_text())
    (tmp_path / "b.yaml").write_text(MALFORMED[0].read_text())
    mixed = runner.invoke(app, ["playbooks", "validate", str(tmp_path)], env={"COLUMNS": "400"})
    assert mixed.exit_code == 1
    assert "ok " in mixed.output and "invalid" in mixed.output


def test_show_spells_out_a_playbook_and_refuses_an_unknown_name() -> None:
    shown = runner.invoke(app, ["playbooks", "show", "scale"])
    assert shown.exit_code == 0, shown.output
    assert "param replicas: integer (≥ 1, ≤ 50, ≤ 3× current replicas)" in shown.output
    assert "step 1: scale replicas={replicas}" in shown.output
    missing = runner.invoke(app, ["playbooks", "show", "teleport"])
    assert missing.exit_code == 2
