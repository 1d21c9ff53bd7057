"""`leadrelay crm check` / `leadrelay crm setup`: the CRM fields the mappings write, against the connected CRM.

``check`` lists every field or property the CRM mappings (``mappings/crm/*.yaml``) write and whether the CRM has it,
writable, of a fitting type, with the picklist values leadrelay sends; exit 0 when all are, else 1. ``setup``
creates the missing ones leadrelay owns (``custom:`` in the mapping) through the CRM's API; an existing field is
never changed — what an admin does instead is printed. The CRM is ``LEADRELAY_CRM`` (or ``--crm``); the talking to
it is its plugin's (``describe_fields`` / ``create_field`` / ``manual_steps``), the comparison is
``connector.mapping.fields``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from adapters.crm import registry
from adapters.crm.plugin import CrmPlugin
from connector.config import Config
from connector.errors import LeadrelayError
from connector.mapping.fields import FieldCheck, FieldSpec, clean, compare, needed_fields, objects_of
from connector.settings import Settings

crm_app = typer.Typer(help="Check and set up the CRM fields the mappings write.", no_args_is_help=True)
_STYLE = {"ok": "green", "missing": "red"}

CrmOption = Annotated[str | None, typer.Option("--crm", help="the CRM to check (default: LEADRELAY_CRM)")]
ConfigOption = Annotated[Path | None, typer.Option(
    "--config-dir", help="folder with rules/ and mappings/ (default: LEADRELAY_CONFIG_DIR)")]


def register(app: typer.Typer) -> None:
    app.add_typer(crm_app, name="crm")


def _console() -> Console:
    # a table read in a log or a pipe keeps its rows on one line each
    return Console(highlight=False, width=None if sys.stdout.isatty() else 160)


class Session:
    """One CRM, its client, and the fields its mappings need."""

    def __init__(self, settings: Settings, config: Config) -> None:
        self.settings = settings
        self.plugin: CrmPlugin = registry.plugin(settings.crm)
        mappings = [m for m in config.crm.values() if m.crm == settings.crm]
        self.needed: list[FieldSpec] = needed_fields(mappings)
        self.client: Any = self.plugin.build_client(settings, None, deadline_s=float(settings.job_timeout_s))

    def check(self) -> list[FieldCheck]:
        return compare(self.needed, self.plugin.describe_fields(self.client, objects_of(self.needed)))

    def close(self) -> None:
        if hasattr(self.client, "close"):
            self.client.close()


def _open(crm: str | None, config_dir: Path | None) -> Session:
    from leadrelay.cli import preflight

    s = preflight.settings(crm=crm, config_dir=str(config_dir) if config_dir else None)
    preflight.need_crm(s)
    config = preflight.load_config(s)
    if not any(m.crm == s.crm for m in config.crm.values()):
        preflight.fail(f"no CRM mapping for {s.crm!r} in {s.config_dir}/mappings/crm/: nothing to check")
    try:
        return Session(s, config)
    except LeadrelayError as exc:
        preflight.fail(str(exc))


def _needs(spec: FieldSpec) -> str:
    text = spec.kind + (", unique" if spec.unique else "")
    if spec.options:
        text += f" ({len(spec.options)} values)"
    return text + (", custom" if spec.custom else "")


def table(crm: str, checks: list[FieldCheck]) -> Table:
    """The check as a table: one row per field the mappings write."""
    out = Table(title=f"{crm}: fields the CRM mappings write", title_justify="left")
    for name in ("Object", "Field", "Writes", "Needs", "In CRM", "Status"):
        out.add_column(name, overflow="fold")
    for c in checks:
        style = _STYLE.get(c.status, "yellow")
        out.add_row(c.spec.object, c.spec.name, ", ".join(c.spec.sources), _needs(c.spec),
                    c.found.vendor_type if c.found else "—", f"[{style}]{c.status}[/]")
    return out


def report(console: Console, session: Session, checks: list[FieldCheck]) -> bool:
    """Print the table, each problem with its detail, and a closing line; True when clean."""
    console.print(table(session.settings.crm, checks))
    for c in checks:
        if not c.ok:
            console.print(f"  {c.spec.object}.{c.spec.name}: {c.status} — {c.detail}", soft_wrap=True)
    bad = [c for c in checks if not c.ok]
    if not bad:
        console.print(f"[green]ok[/]: all {len(checks)} fields are in {session.settings.crm}, writable and fitting")
        return True
    creatable = sum(c.creatable for c in bad)
    console.print(f"[red]{len(bad)} of {len(checks)} fields need attention[/]: run `leadrelay crm setup` "
                  f"(it creates the {creatable} missing custom fields and says what an admin does for the rest)",
                  soft_wrap=True)
    return False


@crm_app.command("check")
def check(crm: CrmOption = None, config_dir: ConfigOption = None) -> None:
    """List every field the CRM mappings write and whether the CRM has it, writable, of a fitting type, with the
    picklist values leadrelay sends. Exit 0 when all are, else 1 (then run `leadrelay crm setup`)."""
    from leadrelay.cli import preflight

    session = _open(crm, config_dir)
    try:
        checks = session.check()
    except LeadrelayError as exc:
        preflight.fail(f"could not read the fields of {session.settings.crm}: {exc}")
    finally:
        session.close()
    raise typer.Exit(0 if report(_console(), session, checks) else 1)


def _steps(console: Console, plugin: CrmPlugin, c: FieldCheck) -> None:
    for i, step in enumerate(plugin.manual_steps(c), start=1):
        console.print(f"      {i}. {step}", soft_wrap=True)


def apply(console: Console, session: Session, checks: list[FieldCheck], *, dry_run: bool) -> int:
    """Create each missing field leadrelay owns; say what an admin does for every other problem. Returns how many
    fields were created (or would be, with ``dry_run``)."""
    done = 0
    for c in checks:
        name = f"{c.spec.object}.{c.spec.name}"
        if c.creatable and dry_run:
            custom = c.spec.custom
            console.print(f"  would create {name}: {c.spec.kind} “{custom.label if custom else ''}”", soft_wrap=True)
            done += 1
        elif c.creatable:
            try:
                console.print(f"  [green]+[/] {session.plugin.create_field(session.client, c.spec)}", soft_wrap=True)
                done += 1
            except LeadrelayError as exc:
                console.print(f"  [red]![/] {name}: not created ({exc}); an admin creates it:", soft_wrap=True)
                _steps(console, session.plugin, c)
        elif not c.ok:
            console.print(f"  [yellow]![/] {name}: {c.status} — {c.detail}. leadrelay does not change existing "
                          "fields; an admin:", soft_wrap=True)
            _steps(console, session.plugin, c)
    return done


def run_setup(session: Session, console: Console, *, dry_run: bool = False) -> bool:
    """``setup`` on an open session: check, create, check again. True when the CRM is then clean."""
    checks = session.check()
    if clean(checks):
        console.print(f"[green]ok[/]: all {len(checks)} fields are already in {session.settings.crm}; nothing to do")
        return True
    verb = "would create" if dry_run else "creating"
    wanted = sum(c.creatable for c in checks)
    admin = sum(not c.ok and not c.creatable for c in checks)
    head = f"{verb} {wanted} missing custom field(s)" if wanted else "no custom field to create"
    console.print(f"{session.settings.crm}: {head}" + (f"; {admin} field(s) need an admin" if admin else ""),
                  soft_wrap=True)
    apply(console, session, checks, dry_run=dry_run)
    if dry_run:
        return clean(checks)
    after = session.check()
    console.print(f"check: {sum(c.ok for c in after)} of {len(after)} fields ok", soft_wrap=True)
    return clean(after)


def ensure_fields(settings: Settings, config: Config) -> list[str]:
    """Create the missing fields leadrelay owns, quietly (``leadrelay demo`` on its fresh sandbox CRM); returns a
    line per field created. A LeadrelayError when the CRM refuses one."""
    session = Session(settings, config)
    try:
        return [session.plugin.create_field(session.client, c.spec) for c in session.check() if c.creatable]
    finally:
        session.close()


@crm_app.command("setup")
def setup(
    crm: CrmOption = None,
    config_dir: ConfigOption = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="show what would be created; change nothing")] = False,
) -> None:
    """Create the missing custom fields the CRM mappings write (HubSpot: properties in group "leadrelay";
    Salesforce: custom fields, readable and editable by the integration user's profile). Existing fields are never
    changed: for a wrong type or missing picklist values the steps for an admin are printed. Exit 0 when every
    field is then there and fitting (with --dry-run: 0 unless describing fails)."""
    from leadrelay.cli import preflight

    session = _open(crm, config_dir)
    console = _console()
    try:
        ok = run_setup(session, console, dry_run=dry_run)
    except LeadrelayError as exc:
        preflight.fail(f"setup of {session.settings.crm} stopped: {exc}")
    finally:
        session.close()
    raise typer.Exit(0 if ok or dry_run else 1)
