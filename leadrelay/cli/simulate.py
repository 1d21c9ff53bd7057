"""`leadrelay simulate`: run the decision core over a file of leads, and compare two rule sets."""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from adapters.crm import load_config
from connector.config import Config
from connector.errors import ConfigError, InputError
from connector.model import CrmRecord
from connector.simulate import Run, changes_between, run

DEFAULT_LEADS = Path("samples/leads.jsonl")
DEFAULT_RECORDS = Path("samples/crm_records.jsonl")


def register(app: typer.Typer) -> None:
    app.command("simulate")(simulate)


def read_leads(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, payload) from JSON Lines or CSV; CSV cells holding JSON lists are decoded."""
    if path.suffix.lower() in {".jsonl", ".ndjson", ".json"}:
        with path.open(encoding="utf-8") as fh:
            for n, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise InputError(f"{path}:{n}: not JSON: {exc.msg}", field=f"line {n}") from exc
                if not isinstance(row, dict):
                    raise InputError(f"{path}:{n}: expected an object per line", field=f"line {n}")
                yield n, row
        return
    with path.open(encoding="utf-8", newline="") as fh:
        yield from csv_rows(fh, str(path))


def csv_rows(lines: Iterable[str], label: str = "csv") -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, payload) per CSV row under a header line; cells holding JSON lists are decoded (the
    console's backtest reads an uploaded CSV with this too)."""
    reader = csv.DictReader(lines)
    try:
        for row in reader:
            payload: dict[str, Any] = {}
            for k, v in row.items():
                if k is None:
                    raise InputError(f"{label}:{reader.line_num}: more cells than header columns", field="row")
                if v and v[:1] == "[":
                    try:
                        payload[k] = json.loads(v)
                        continue
                    except json.JSONDecodeError:
                        pass
                payload[k] = v
            yield reader.line_num, payload
    except csv.Error as exc:
        raise InputError(f"{label}:{reader.line_num}: not CSV: {exc}", field="csv") from exc


def read_records(path: Path | None) -> list[CrmRecord]:
    if path is None or not path.exists():
        return []
    with path.open(encoding="utf-8") as fh:
        return [msgspec.convert(json.loads(line), CrmRecord) for line in fh if line.strip()]


def _bar(count: int, top: int, width: int = 30) -> str:
    return "█" * max(1, round(width * count / top)) if count else ""


def _print_summary(console: Console, run_: Run) -> None:
    s = run_.summary()
    names = {r.id: r.name for r in run_.config.team.reps}
    table = Table(title=f"Leads per owner — {s['leads']} leads, config {s['config_version']}")
    table.add_column("owner")
    table.add_column("leads", justify="right")
    table.add_column("")
    top = max(s["owners"].values(), default=1)
    for owner, count in s["owners"].items():
        label = names.get(owner, owner)
        table.add_row(label, str(count), f"[cyan]{_bar(count, top)}[/]")
    console.print(table)
    rules = Table(title="Routing rule hits")
    rules.add_column("rule")
    rules.add_column("leads", justify="right")
    for rule in run_.config.routing.rules:
        rules.add_row(rule.name, str(s["rules"].get(rule.name, 0)))
    for other in sorted(set(s["rules"]) - {r.name for r in run_.config.routing.rules}):
        rules.add_row(f"[dim]{other}[/]", str(s["rules"][other]))
    console.print(rules)
    grades = ", ".join(f"{g} {c}" for g, c in s["grades"].items())
    console.print(f"Grades: {grades}.  Unassigned (queues): [bold]{s['unassigned_share']:.1%}[/].  "
                  f"Held for business hours: {s['held']}.")
    if s["rules_never_hit"]:
        console.print(f"[yellow]Rules no lead reached:[/] {', '.join(s['rules_never_hit'])}")


def _load(path: Path, mappings: Path | None, console: Console) -> Config:
    try:
        return load_config(path, mappings=mappings)
    except ConfigError as exc:
        console.print(f"[red]error:[/] {escape(str(exc))}", soft_wrap=True)
        raise typer.Exit(1) from exc


def simulate(
    leads: Path = typer.Argument(DEFAULT_LEADS, help="Leads as JSON Lines or CSV (website-form fields)."),
    rules: Path = typer.Option(Path("rules"), "--rules", help="Rules folder (or a project root with rules/)."),
    mappings: Path | None = typer.Option(None, help="Mappings folder; default: mappings/ beside the rules."),
    baseline: Path | None = typer.Option(None, help="Another rules folder: show which leads would change owner."),
    records: Path | None = typer.Option(DEFAULT_RECORDS, help="Known CRM records (JSON Lines) to match against."),
    mapping: str = typer.Option("website", help="Source mapping that reads each row."),
    now: datetime | None = typer.Option(None, help="Decide every lead at this time (default: its submitted_at)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of tables."),
) -> None:
    """Run the decision core over a file of leads: per-owner counts, per-rule hits, unassigned share.

    With --baseline, runs both rule sets over the same leads and lists every lead that would change
    owner and why — preview a rules change before it goes live. Nothing is written anywhere.
    """
    console = Console(stderr=as_json)
    if not leads.exists():
        console.print(f"[red]error:[/] {escape(str(leads))}: no such file", soft_wrap=True)
        raise typer.Exit(1)
    config = _load(rules, mappings, console)
    base_config = _load(baseline, None, console) if baseline else None
    try:
        rows = list(read_leads(leads))
        known = read_records(records)
    except (InputError, msgspec.ValidationError, json.JSONDecodeError) as exc:
        console.print(f"[red]error:[/] {escape(str(exc))}", soft_wrap=True)
        raise typer.Exit(1) from exc
    aware_now = now.replace(tzinfo=UTC) if now is not None and now.tzinfo is None else now
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=console, transient=True, disable=as_json or not console.is_terminal) as progress:
        try:
            task = progress.add_task("deciding", total=len(rows))
            new = run(config, rows, known, mapping=mapping, now=aware_now, on_lead=lambda: progress.advance(task))
            base = None
            if base_config:
                task_b = progress.add_task("baseline", total=len(rows))
                base = run(base_config, rows, known, mapping=mapping, now=aware_now,
                           on_lead=lambda: progress.advance(task_b))
        except InputError as exc:
            console.print(f"[red]error:[/] {escape(str(exc))}", soft_wrap=True)
            raise typer.Exit(1) from exc
    moved = changes_between(base, new) if base else None
    if as_json:
        out: dict[str, Any] = {"summary": new.summary()}
        if base is not None:
            out["baseline"] = base.summary()
            out["changed_owner"] = moved
        sys.stdout.write(json.dumps(out, indent=2, default=str) + "\n")
        return
    _print_summary(console, new)
    if moved is not None:
        table = Table(title=f"{len(moved)} of {len(rows)} leads would change owner")
        for col in ("lead", "email", "before", "after", "new rule"):
            table.add_column(col)
        for m in moved[:50]:
            table.add_row(m["lead"], m["email"] or "", f"{m['before']} ({m['before_rule']})", m["after"],
                          m["after_rule"])
        console.print(table)
        if len(moved) > 50:
            console.print(f"... and {len(moved) - 50} more (use --json for all)")
