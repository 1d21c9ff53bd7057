"""`leadrelay sandbox`: the local HubSpot + Salesforce emulator over HTTPS."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console


def register(app: typer.Typer) -> None:
    app.command("sandbox")(sandbox)


def sandbox(
    host: str = typer.Option("127.0.0.1", help="Address to listen on (loopback by default)."),
    port: int = typer.Option(8443, help="HTTPS port for both vendors' APIs and /_sandbox control endpoints."),
    tls_dir: Path | None = typer.Option(
        None,
        help="Where the throwaway CA (ca.pem) and server cert are written (default: sandbox-tls in the user's "
        "state folder, e.g. ~/.local/state/leadrelay/sandbox-tls; never the working tree).",
    ),
    hubspot_token: str | None = typer.Option(
        None, envvar="LEADRELAY_HUBSPOT_TOKEN", help="Private-app token the sandbox accepts (default: its own)."
    ),
    latency_ms: float = typer.Option(0.0, help="Added latency on every CRM call."),
    error_share: float = typer.Option(0.0, help="Share (0..1) of calls answered with the vendor's 429/5xx."),
) -> None:
    """Run the CRM sandbox: HubSpot CRM v3 and Salesforce REST emulated on one HTTPS port.

    Point the adapters at it with LEADRELAY_HUBSPOT_BASE_URL / LEADRELAY_SALESFORCE_INSTANCE_URL =
    https://HOST:PORT and LEADRELAY_CA_BUNDLE = TLS_DIR/ca.pem. Faults can be changed while it runs:
    PUT /_sandbox/faults/{hubspot|salesforce}; calls are counted at GET /_sandbox/calls. Both start as a fresh
    portal / org, without the custom fields leadrelay writes: `leadrelay crm check` lists them, `leadrelay crm
    setup` creates them.
    """
    from sandbox.common import FaultPlan
    from sandbox.server import ROUTES_HINT, SandboxServer
    from sandbox.state import default_tls_dir

    console = Console()
    server = SandboxServer(host=host, port=port, tls_dir=tls_dir or default_tls_dir(),
                           hubspot={"token": hubspot_token} if hubspot_token else None)
    plan = FaultPlan(latency_ms=latency_ms, rate_limit_share=error_share / 2, server_error_share=error_share / 2)
    for faults in server.faults.values():
        faults.set(plan)
    console.print(f"[bold green]CRM sandbox[/] on [cyan]{server.url}[/]  (CA: {server.ca_path})")
    console.print(ROUTES_HINT)
    console.print("Ctrl-C to stop.")
    server.serve_forever()
