"""`leadrelay config validate`: check every mapping and rule file before it goes live."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from adapters.crm import load_config
from connector.errors import ConfigError

config_app = typer.Typer(help="Check and inspect the mappings and rules.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(config_app, name="config")


@config_app.command("validate")
def validate(
    path: Path = typer.Argument(Path("."), help="Project folder holding rules/ and mappings/, or a rules folder."),
    mappings: Path | None = typer.Option(None, help="Mappings folder, when not beside the rules."),
) -> None:
    """Load and cross-check every file. On the first problem: print file:line, the field and what was
    expected, and exit 1 — nothing is half-applied."""
    console = Console(highlight=False, soft_wrap=True)
    try:
        cfg = load_config(path, mappings=mappings)
    except ConfigError as exc:
        console.print(f"[red]error:[/] {exc}")
        console.print("Fix that file and run `leadrelay config validate` again.")
        raise typer.Exit(1) from exc
    console.print(f"[green]ok[/] config version [bold]{cfg.version}[/]")
    console.print(f"  sources: {', '.join(sorted(cfg.sources))}")
    console.print(f"  CRMs: {', '.join(sorted(cfg.crm))}")
    console.print(f"  team: {len(cfg.team.reps)} reps, {len(cfg.team.pools)} pools, {len(cfg.team.queues)} queues")
    console.print(f"  routing: {len(cfg.routing.rules)} rules, fallback queue {cfg.routing.fallback_queue!r}")
