"""`leadrelay admin hash-password`: the scrypt hash a console user's LEADRELAY_ADMIN_USERS entry holds."""

from __future__ import annotations

import sys

import typer

from leadrelay.api.auth import ROLES
from leadrelay.console.passwords import hash_password

admin_app = typer.Typer(help="Console users and sign-in.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(admin_app, name="admin")


@admin_app.command("hash-password")
def hash_password_cmd(
    user: str | None = typer.Option(None, help="Print the whole entry `name:role:hash` for this user."),
    role: str = typer.Option("admin", help=f"The user's role: {' or '.join(ROLES)}."),
    stdin: bool = typer.Option(False, "--stdin", help="Read the password from standard input (one line)."),
) -> None:
    """Hash a password for LEADRELAY_ADMIN_USERS (entries are `name:role:scrypt$N$r$p$salt$hash`, comma separated).
    The password is asked twice, hidden, unless --stdin."""
    if role not in ROLES:
        typer.echo(f"error: --role must be one of {', '.join(ROLES)}", err=True)
        raise typer.Exit(2)
    if stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    if len(password) < 10:
        typer.echo("error: use at least 10 characters", err=True)
        raise typer.Exit(2)
    hashed = hash_password(password)
    typer.echo(f"{user}:{role}:{hashed}" if user else hashed)
