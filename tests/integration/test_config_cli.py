"""`leadrelay config export / import / versions / rollback` against a real Redis: a version round-trips through a
folder byte for byte (a git working copy shows no change), an edit becomes the next version, an invalid file
publishes nothing and names file:line, and a rollback restores an earlier version's files as a new version."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis
from typer.testing import CliRunner

from connector.config import read_files
from leadrelay.cli import app
from tests.integration.harness import PREFIX, ROOT
from worker.configs import ConfigStore, ConfigVersion

runner = CliRunner()


@pytest.fixture
def cli_env(redis_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    for name in ("REDIS_URL", "LEADRELAY_REDIS_URL", "LEADRELAY_KEY_PREFIX", "USER"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LEADRELAY_REDIS_URL", redis_url)
    monkeypatch.setenv("LEADRELAY_KEY_PREFIX", PREFIX)
    monkeypatch.setenv("USER", "pat")
    monkeypatch.setenv("COLUMNS", "200")
    yield redis_url


def store_call(redis_url: str, fn: Any) -> Any:
    async def go() -> Any:
        r = Redis.from_url(redis_url)
        try:
            return await fn(ConfigStore(r, PREFIX))
        finally:
            await r.aclose()

    return asyncio.run(go())


def seed(redis_url: str) -> ConfigVersion:
    files = read_files(ROOT)
    return store_call(redis_url, lambda s: s.seed(files))  # type: ignore[no-any-return]


def cli(*args: str) -> Any:
    return runner.invoke(app, ["config", *args])


def tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def shipped() -> dict[str, bytes]:
    return {k: v for k, v in tree(ROOT).items() if k in read_files(ROOT)}


def test_export_writes_the_version_byte_for_byte_and_import_of_it_is_unchanged(cli_env: str, tmp_path: Path) -> None:
    seed(cli_env)
    out = tmp_path / "cfg"
    result = cli("export", str(out))
    assert result.exit_code == 0, result.output
    assert "exported version 1" in result.output
    assert tree(out) == {k: (ROOT / k).read_bytes() for k in read_files(ROOT)}  # exactly the config files
    assert tree(out) == shipped()
    result = cli("import", str(out), "-m", "no change")
    assert result.exit_code == 0, result.output
    assert "unchanged" in result.output
    assert store_call(cli_env, lambda s: s.current_number()) == 1


def test_an_edited_file_becomes_version_2_and_exports_back_identical(cli_env: str, tmp_path: Path) -> None:
    seed(cli_env)
    work = tmp_path / "review"
    assert cli("export", str(work)).exit_code == 0
    git = ["git", "-C", str(work), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "v1"], check=True)
    routing = work / "rules/routing.yaml"
    text = routing.read_text(encoding="utf-8")
    assert "fallback_queue: unassigned" in text
    routing.write_text(text.replace("fallback_queue: unassigned", "fallback_queue: unassigned  # reviewed"),
                       encoding="utf-8")
    edited = tree(work / "rules")
    result = cli("import", str(work), "--message", "note the fallback", "--author", "ana")
    assert result.exit_code == 0, result.output
    assert "published version 2" in result.output
    assert "changed rules/routing.yaml (+1 -1)" in result.output
    v2 = store_call(cli_env, lambda s: s.current())
    assert (v2.number, v2.author, v2.message) == (2, "ana", "note the fallback")
    subprocess.run([*git, "commit", "-qam", "v2"], check=True)
    fresh = tmp_path / "fresh"
    assert cli("export", str(fresh)).exit_code == 0
    assert tree(fresh / "rules") == edited and tree(fresh / "mappings") == tree(work / "mappings")
    assert cli("export", str(work), "--version", "1").exit_code == 0
    diff = subprocess.run([*git, "diff", "--stat"], check=True, capture_output=True, text=True).stdout
    assert "rules/routing.yaml | 2 +-" in diff and "1 file changed" in diff, diff
    assert cli("export", str(work)).exit_code == 0
    status = subprocess.run([*git, "status", "--porcelain"], check=True, capture_output=True, text=True).stdout
    assert status == "", status  # the published version, exported into the reviewed copy: no change at all
    listing = cli("versions")
    assert listing.exit_code == 0, listing.output
    assert "2 *" in listing.output and "ana" in listing.output and "note the fallback" in listing.output
    assert v2.hash in listing.output


def test_an_invalid_file_names_file_line_and_field_and_publishes_nothing(cli_env: str, tmp_path: Path) -> None:
    seed(cli_env)
    work = tmp_path / "cfg"
    assert cli("export", str(work)).exit_code == 0
    team = work / "rules/team.yaml"
    team.write_text(team.read_text().replace("daily_cap: 25", "daily_cap: lots", 1))
    line = next(i for i, s in enumerate(team.read_text().splitlines(), 1) if "daily_cap: lots" in s)
    result = cli("import", str(work), "-m", "broken")
    assert result.exit_code == 1, result.output
    assert f"{team}:{line}:" in result.output and "daily_cap" in result.output
    assert store_call(cli_env, lambda s: s.current_number()) == 1
    assert [v.number for v in store_call(cli_env, lambda s: s.history())] == [1]


def test_an_alias_bomb_is_not_imported(cli_env: str, tmp_path: Path) -> None:
    from bench.hostile import alias_bomb, first_anchor_line

    seed(cli_env)
    work = tmp_path / "cfg"
    assert cli("export", str(work)).exit_code == 0
    website = work / "mappings/sources/website.yaml"
    website.write_text(alias_bomb())
    result = cli("import", str(work), "-m", "bomb")
    assert result.exit_code == 1, result.output
    assert f"{website}:{first_anchor_line(alias_bomb())}:" in result.output and "aliases" in result.output
    assert [v.number for v in store_call(cli_env, lambda s: s.history())] == [1]


def test_rollback_restores_an_earlier_version_as_a_new_one(cli_env: str, tmp_path: Path) -> None:
    v1 = seed(cli_env)
    work = tmp_path / "cfg"
    assert cli("export", str(work)).exit_code == 0
    (work / "mappings/sources/website.yaml").unlink()  # a source taken out
    assert cli("import", str(work), "-m", "no website form").exit_code == 0
    result = cli("rollback", "1", "--author", "lee")
    assert result.exit_code == 0, result.output
    assert "published version 3" in result.output and "added mappings/sources/website.yaml" in result.output
    v3 = store_call(cli_env, lambda s: s.current())
    assert (v3.number, v3.restored_from, v3.author, v3.files, v3.hash) == (3, 1, "lee", v1.files, v1.hash)
    assert cli("export", str(work)).exit_code == 0
    assert tree(work) == shipped()
    assert "(restores 1)" in cli("versions").output
    missing = cli("rollback", "9")
    assert missing.exit_code == 1 and "no config version 9" in missing.output
    assert store_call(cli_env, lambda s: s.current_number()) == 3


def test_export_keeps_the_folder_exactly_the_version(cli_env: str, tmp_path: Path) -> None:
    seed(cli_env)
    work = tmp_path / "cfg"
    shutil.copytree(ROOT / "rules", work / "rules")
    shutil.copytree(ROOT / "mappings", work / "mappings")
    (work / "mappings/sources/old_form.yaml").write_text("name: old_form\n")
    (work / "README.md").write_text("our config\n")
    result = cli("export", str(work))
    assert result.exit_code == 0, result.output
    assert "removed mappings/sources/old_form.yaml" in result.output
    assert (work / "README.md").read_text() == "our config\n"  # not config files: left alone
    assert (work / "rules/notify.yaml").read_bytes() == (ROOT / "rules/notify.yaml").read_bytes()
    assert {k: v for k, v in tree(work).items() if k != "README.md"} == shipped()


def test_import_into_an_empty_store_publishes_version_1_and_export_needs_a_version(cli_env: str,
                                                                                      tmp_path: Path) -> None:
    nothing = cli("export", str(tmp_path / "x"))
    assert nothing.exit_code == 1 and "nothing published yet" in nothing.output
    result = cli("import", str(ROOT))
    assert result.exit_code == 0, result.output
    assert "published version 1" in result.output and "by pat" in result.output
    assert store_call(cli_env, lambda s: s.current()).files == read_files(ROOT)
    assert cli("export", str(tmp_path / "x"), "--version", "7").exit_code == 1
