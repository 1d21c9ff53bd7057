"""Entry point: builds the Typer app from the command modules (each has ``register(app)``)."""

from __future__ import annotations

import typer

from leadrelay.cli import admin, config, crm, dedupe, demo, sandbox, service, simulate

app = typer.Typer(
    name="leadrelay",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="rich",
)


@app.callback()
def _root() -> None:  # its docstring is the app's --help
    """leadrelay: canonical leads, dedupe, scoring and routing, written back to Salesforce or HubSpot."""


for _module in (demo, service, config, crm, dedupe, sandbox, simulate, admin):
    _module.register(app)
