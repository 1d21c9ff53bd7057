"""`leadrelay config`: check the mappings and rules, and move config versions between Redis and a folder.

- ``validate`` checks files before they go live;
- ``export DIR`` writes a published version as rules/*.yaml and mappings/{sources,crm}/*.yaml, byte for byte as
  stored (a version holds the files' texts verbatim), so a folder under git shows a console change as a clean diff;
- ``import DIR`` checks a folder as ``validate`` does and publishes it as a new version (nothing when unchanged);
- ``versions`` lists the history, ``rollback N`` publishes version N's files again as a new version.
"""

from __future__ import annotations

import asyncio
import difflib
import getpass
import os
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from adapters.crm import load_config, registry
from connector.config import CRMS, SOURCES, config_from_texts, is_config_file, read_files, resolve_dirs
from connector.errors import ConfigError

config_app = typer.Typer(help="Check the mappings and rules; export, import and roll back config versions.",
                         no_args_is_help=True)
T = TypeVar("T")


def register(app: typer.Typer) -> None:
    app.add_typer(config_app, name="config")


def _console() -> Console:
    return Console(highlight=False, soft_wrap=True)


def _config_error(console: Console, exc: ConfigError, again: str) -> typer.Exit:
    """Print a config error as ``validate`` does (file:line, the field, what was expected); the exit to raise."""
    console.print(f"[red]error:[/] {escape(str(exc))}", soft_wrap=True)
    console.print(f"Fix that file and run `{again}` again.")
    return typer.Exit(1)


@config_app.command("validate")
def validate(
    path: Path = typer.Argument(Path("."), help="Project folder holding rules/ and mappings/, or a rules folder."),
    mappings: Path | None = typer.Option(None, help="Mappings folder, when not beside the rules."),
) -> None:
    """Load and cross-check every file. On the first problem: print file:line, the field and what was
    expected, and exit 1 — nothing is half-applied."""
    console = _console()
    try:
        cfg = load_config(path, mappings=mappings)
    except ConfigError as exc:
        raise _config_error(console, exc, "leadrelay config validate") from exc
    console.print(f"[green]ok[/] config version [bold]{cfg.version}[/]")
    console.print(f"  sources: {', '.join(sorted(cfg.sources))}")
    console.print(f"  CRMs: {', '.join(sorted(cfg.crm))}")
    console.print(f"  team: {len(cfg.team.reps)} reps, {len(cfg.team.pools)} pools, {len(cfg.team.queues)} queues")
    console.print(f"  routing: {len(cfg.routing.rules)} rules, fallback queue {cfg.routing.fallback_queue!r}")


# ---- versions in Redis ------------------------------------------------------------------------------------------


def _with_configs(fn: Callable[[Any], Awaitable[T]]) -> T:
    """Run ``fn(ConfigStore)`` against the installation's Redis (LEADRELAY_REDIS_URL / REDIS_URL, key prefix)."""
    from leadrelay.cli import preflight
    from worker.configs import ConfigStore
    from worker.redis_clients import async_client

    settings = preflight.settings()
    preflight.need_installation_redis(settings)

    async def go() -> T:
        r = async_client(settings)
        try:
            return await fn(ConfigStore(r, settings.key_prefix))
        finally:
            await r.aclose()

    return asyncio.run(go())


def _author(author: str | None) -> str:
    if author:
        return author
    try:
        return os.environ.get("USER") or getpass.getuser()
    except Exception:  # no user name in this container: say where it came from
        return "cli"


def _when(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def diff_summary(before: Mapping[str, str], after: Mapping[str, str]) -> list[str]:
    """One line per file that differs: "added|removed|changed <key> (+added -removed lines)"."""
    out = []
    for key in sorted(set(before) | set(after)):
        a, b = before.get(key), after.get(key)
        if a == b:
            continue
        plus = minus = 0
        for line in difflib.unified_diff((a or "").splitlines(), (b or "").splitlines(), lineterm="", n=0):
            if line.startswith("+") and not line.startswith("+++"):
                plus += 1
            elif line.startswith("-") and not line.startswith("---"):
                minus += 1
        what = "added" if a is None else "removed" if b is None else "changed"
        out.append(f"{what} {key} (+{plus} -{minus})")
    return out


def _on_disk(root: Path) -> list[str]:
    """The bundle keys of the config files under ``root`` (rules/ and mappings/{sources,crm}/)."""
    found = [f"rules/{p.name}" for p in sorted((root / "rules").glob("*.yaml"))]
    for folder in (SOURCES, CRMS):
        found += [folder + p.name for p in sorted((root / folder).glob("*.yaml"))]
    return [key for key in found if is_config_file(key)]


def write_bundle(root: Path, files: Mapping[str, str]) -> tuple[list[str], list[str]]:
    """Write each file's text under ``root`` byte for byte, and remove config files the bundle does not hold (so
    the folder is exactly the version). Other files are left alone. Returns (written, removed) keys."""
    written = []
    for key in sorted(files):
        if not is_config_file(key):  # publishing refuses such keys; never write outside rules/ and mappings/
            raise ValueError(f"not a config file: {key!r}")
        path = root / key
        data = files[key].encode("utf-8")
        if not path.is_file() or path.read_bytes() != data:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            written.append(key)
    removed = [key for key in _on_disk(root) if key not in files]
    for key in removed:
        (root / key).unlink()
    return written, removed


def read_bundle(path: Path) -> dict[str, str]:
    """The config files of a folder as a bundle, checked as ``validate`` checks them (errors name the file on
    disk, its line and the field): raises ConfigError."""
    rules_dir, mappings_dir = resolve_dirs(path)
    files = read_files(rules_dir, mappings_dir)

    def label(key: str) -> str:
        if key.startswith("rules/"):
            return str(rules_dir / key[len("rules/"):])
        return str(mappings_dir / key[len("mappings/"):])

    config_from_texts(files, crm_read_only=registry.read_only_fields(), label=label)
    return files


@config_app.command("export")
def export(
    path: Path = typer.Argument(..., help="Folder to write rules/ and mappings/ into (created when missing)."),
    version: int | None = typer.Option(None, "--version", help="Version number (default: the published one)."),
) -> None:
    """Write a config version as rules/*.yaml and mappings/{sources,crm}/*.yaml, byte for byte as stored.
    Config files the version does not hold are removed; nothing else in the folder is touched."""
    console = _console()

    async def get(store: Any) -> Any:
        return await (store.get(version) if version is not None else store.current())

    found = _with_configs(get)
    if found is None:
        console.print(f"[red]error:[/] no config version {version}" if version is not None else
                      "[red]error:[/] nothing published yet (a worker or the API seeds version 1 on first start, "
                      "or run `leadrelay config import DIR`)")
        raise typer.Exit(1)
    written, removed = write_bundle(path, found.files)
    console.print(f"exported version [bold]{found.number}[/] ({found.hash}) to {escape(str(path))}: "
                  f"{len(found.files)} files, {len(written)} written, {len(removed)} removed")
    for key in removed:
        console.print(f"  removed {escape(key)}")


@config_app.command("import")
def import_(
    path: Path = typer.Argument(..., help="Folder holding rules/ and mappings/ (as `config export` writes it)."),
    message: str = typer.Option("", "--message", "-m", help="Why: shown in `config versions` and the console."),
    author: str | None = typer.Option(None, "--author", help="Who (default: $USER)."),
) -> None:
    """Check a folder as `config validate` does, then publish it as a new version: every worker and API process
    follows it within a second. An invalid file: file:line and field, exit 1, nothing published. Identical to the
    published version: "unchanged", exit 0."""
    from worker.configs import PublishConflict

    console = _console()
    try:
        files = read_bundle(path)
    except ConfigError as exc:
        raise _config_error(console, exc, f"leadrelay config import {path}") from exc
    who = _author(author)

    async def publish(store: Any) -> tuple[Any, Any]:
        current = await store.current()
        if current is not None and current.files == files:
            return current, None
        base = current.number if current is not None else 0
        return current, await store.publish(files, author=who, message=message or f"imported from {path}",
                                            base=base)

    try:
        current, published = _with_configs(publish)
    except PublishConflict as exc:
        console.print(f"[red]error:[/] {escape(str(exc))}", soft_wrap=True)
        raise typer.Exit(1) from exc
    if published is None:
        console.print(f"unchanged: version [bold]{current.number}[/] ({current.hash}) holds exactly these files")
        return
    console.print(f"published version [bold]{published.number}[/] ({published.hash}) by {escape(who)}")
    for line in diff_summary(current.files if current is not None else {}, files):
        console.print(f"  {escape(line)}")


@config_app.command("versions")
def versions(limit: int = typer.Option(20, help="How many, newest first.")) -> None:
    """The published versions, newest first: number, hash, author, time, message (* the one in use)."""
    console = _console()

    async def history(store: Any) -> tuple[int, list[Any]]:
        return await store.current_number(), await store.history(limit)

    current, entries = _with_configs(history)
    if not entries:
        console.print("nothing published yet")
        return
    table = Table(title="config versions")
    for col in ("number", "hash", "author", "time", "message"):
        table.add_column(col)
    for v in entries:
        note = f" (restores {v.restored_from})" if v.restored_from is not None else ""
        table.add_row(f"{v.number}{' *' if v.number == current else ''}", v.hash, Text(v.author), _when(v.at),
                      Text(v.message + note))
    console.print(table)


@config_app.command("rollback")
def rollback(
    number: int = typer.Argument(..., help="The version to restore (see `leadrelay config versions`)."),
    message: str = typer.Option("", "--message", "-m", help="Why (default: \"roll back to version N\")."),
    author: str | None = typer.Option(None, "--author", help="Who (default: $USER)."),
) -> None:
    """Publish version N's files again as a new version (the history keeps every step)."""
    console = _console()
    who = _author(author)

    async def restore(store: Any) -> tuple[Any, Any]:
        current = await store.current()
        return current, await store.rollback(number, author=who, message=message)

    try:
        current, published = _with_configs(restore)
    except (LookupError, ConfigError) as exc:
        console.print(f"[red]error:[/] {escape(str(exc))}", soft_wrap=True)
        raise typer.Exit(1) from exc
    console.print(f"published version [bold]{published.number}[/] ({published.hash}): version {number} restored")
    for line in diff_summary(current.files if current is not None else {}, published.files):
        console.print(f"  {escape(line)}")
