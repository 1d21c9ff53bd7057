"""`leadrelay config validate` names file, line and field, and exits 1 on the first bad file."""

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from connector.config import load_config
from leadrelay.cli import app

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


@pytest.fixture
def project(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "rules", tmp_path / "rules")
    shutil.copytree(ROOT / "mappings", tmp_path / "mappings")
    return tmp_path


def _line_of(path: Path, needle: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if needle in line)


def test_shipped_config_validates() -> None:
    result = runner.invoke(app, ["config", "validate", str(ROOT)])
    assert result.exit_code == 0, result.output
    assert load_config(ROOT).version in result.output


def test_wrong_type_names_file_line_and_field(project: Path) -> None:
    team = project / "rules/team.yaml"
    text = team.read_text().replace("daily_cap: 25", "daily_cap: lots", 1)
    team.write_text(text)
    line = _line_of(team, "daily_cap: lots")
    result = runner.invoke(app, ["config", "validate", str(project)])
    assert result.exit_code == 1
    assert f"{team}:{line}:" in result.output
    assert "daily_cap" in result.output and "int" in result.output


def test_typo_in_a_key_is_refused_with_its_line(project: Path) -> None:
    scoring = project / "rules/scoring.yaml"
    lines = scoring.read_text().splitlines()
    i = next(i for i, s in enumerate(lines) if s.strip().startswith("- name:"))
    indent = lines[i][: len(lines[i]) - len(lines[i].lstrip())] + "  "
    lines.insert(i + 1, f"{indent}pionts: 5")
    scoring.write_text("\n".join(lines) + "\n")
    result = runner.invoke(app, ["config", "validate", str(project)])
    assert result.exit_code == 1
    assert f"{scoring}:{i + 2}:" in result.output
    assert "pionts" in result.output


def test_broken_mapping_file_is_reported(project: Path) -> None:
    website = project / "mappings/sources/website.yaml"
    website.write_text(website.read_text() + "  - {to: identity.emial, from: email}\n")
    result = runner.invoke(app, ["config", "validate", str(project)])
    assert result.exit_code == 1
    assert str(website) in result.output
    assert "identity.emial" in result.output
