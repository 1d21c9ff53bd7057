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


# ---- files that cost more to read than they say (issue 17) ------------------------------------------------------


def test_an_anchor_or_alias_is_refused_with_its_line(project: Path) -> None:
    """The shipped files use none; an alias bomb of 3.7 KB expands into gigabytes once its shared nodes are
    copied, so any anchor or alias is refused where it stands."""
    from bench.hostile import alias_bomb, first_anchor_line

    website = project / "mappings/sources/website.yaml"
    website.write_text(alias_bomb())
    result = runner.invoke(app, ["config", "validate", str(project)])
    assert result.exit_code == 1, result.output
    assert f"{website}:{first_anchor_line(alias_bomb())}:" in result.output
    assert "anchors and aliases" in result.output


def test_a_single_alias_is_refused_too(project: Path) -> None:
    team = project / "rules/team.yaml"
    text = team.read_text().replace("daily_cap: 25", "daily_cap: &cap 25", 1)
    text = text.replace("daily_cap: 25", "daily_cap: *cap", 1)
    team.write_text(text)
    result = runner.invoke(app, ["config", "validate", str(project)])
    assert result.exit_code == 1, result.output
    assert f"{team}:{_line_of(team, '&cap')}:" in result.output


def test_yaml_nested_too_deep_is_refused_with_its_line(project: Path) -> None:
    website = project / "mappings/sources/website.yaml"
    line = len(website.read_text().splitlines()) + 1
    website.write_text(website.read_text() + "  - {to: extra.deep, const: " + "[" * 5_000 + "]" * 5_000 + "}\n")
    result = runner.invoke(app, ["config", "validate", str(project)])
    assert result.exit_code == 1, result.output
    assert f"{website}:{line}:" in result.output and "nested deeper" in result.output
