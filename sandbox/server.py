"""One HTTPS server on loopback serving both CRM sandboxes, plus control endpoints.

TLS uses a throwaway CA made with ``trustme``; clients trust ``ca_path``.
Control endpoints (not part of any vendor API) live under ``/_sandbox``.
"""

from __future__ import annotations

import shutil
import socket
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import msgspec
import trustme
import uvicorn
from litestar import Litestar, Request, get, post, put
from litestar.exceptions import NotFoundException
from litestar.types import ASGIApp, Receive, Scope, Send

from sandbox.common import CallLog, FaultPlan, Faults
from sandbox.hubspot import HubSpotSandbox
from sandbox.salesforce import SalesforceSandbox

VENDOR_PREFIXES = {"/crm/": "hubspot", "/services/": "salesforce"}
ROUTES_HINT = "HubSpot: /crm/v3/...   Salesforce: /services/data/...   control: /_sandbox/calls, /_sandbox/reset"


def _call_log_middleware(calls: CallLog) -> Any:
    def factory(app: ASGIApp) -> ASGIApp:
        async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "http":
                await app(scope, receive, send)
                return
            status: dict[str, int] = {}

            def record(code: int) -> None:
                path = scope.get("path", "")
                vendor = next((v for p, v in VENDOR_PREFIXES.items() if path.startswith(p)), None)
                if vendor:
                    template = scope.get("path_template") or path
                    calls.record(vendor, f"{scope.get('method', 'GET')} {template}", code)

            async def send_wrapper(message: Any) -> None:
                if message["type"] == "http.response.start":
                    # count before the response leaves, so a client that reads the count right after its
                    # call already sees that call
                    status["code"] = message["status"]
                    record(message["status"])
                await send(message)

            try:
                await app(scope, receive, send_wrapper)
            finally:
                if "code" not in status:
                    record(0)

        return middleware

    return factory


class SandboxServer:
    """Both sandboxes on one HTTPS port. Use as a context manager, or start()/stop()."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        tls_dir: str | Path | None = None,
        hubspot: dict[str, Any] | None = None,
        salesforce: dict[str, Any] | None = None,
    ) -> None:
        self.host = host
        self.port = port or _free_port(host)
        # run-time files never go to the working tree: a temporary folder (removed on stop) unless one is named
        # (``leadrelay sandbox`` names the user's state folder, see sandbox.state)
        self._own_tls_dir = tls_dir is None
        self.tls_dir = Path(tls_dir or tempfile.mkdtemp(prefix="leadrelay-sandbox-"))
        self.tls_dir.mkdir(mode=0o700, parents=True, exist_ok=True)  # it holds the server's private key
        self.calls = CallLog()
        self.faults = {"hubspot": Faults(), "salesforce": Faults()}
        self.hubspot = HubSpotSandbox(self.faults["hubspot"], **(hubspot or {}))
        self.salesforce = SalesforceSandbox(self.faults["salesforce"], **(salesforce or {}))
        self.salesforce.server_url = self.url  # the org's instance, as its Outbound Messages name it
        self.ca_path = self.tls_dir / "ca.pem"
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.app = self._build_app()

    @property
    def url(self) -> str:
        return f"https://{self.host}:{self.port}"

    @property
    def netloc(self) -> str:
        return f"{self.host}:{self.port}"

    def reset(self) -> None:
        self.hubspot.reset()
        self.salesforce.reset()
        self.calls.reset()
        for f in self.faults.values():
            f.clear()

    def _build_app(self) -> Litestar:
        sandbox = self

        @get("/_sandbox/calls", sync_to_thread=False)
        def calls() -> list[dict[str, Any]]:
            return sandbox.calls.snapshot()

        @post("/_sandbox/reset", sync_to_thread=False, status_code=204)
        def reset() -> None:
            sandbox.reset()

        @put("/_sandbox/faults/{vendor:str}")
        async def set_faults(request: Request[Any, Any, Any]) -> FaultPlan:
            vendor = request.path_params["vendor"]
            if vendor not in sandbox.faults:
                raise NotFoundException(f"unknown vendor {vendor!r}: use hubspot or salesforce")
            plan = msgspec.json.decode(await request.body(), type=FaultPlan)
            sandbox.faults[vendor].set(plan)
            return plan

        @get("/_sandbox/records/{vendor:str}", sync_to_thread=False)
        def records(request: Request[Any, Any, Any]) -> dict[str, list[dict[str, Any]]]:
            vendor = request.path_params["vendor"]
            if vendor == "hubspot":
                return sandbox.hubspot.records()
            if vendor == "salesforce":
                return sandbox.salesforce.records()
            raise NotFoundException(f"unknown vendor {vendor!r}: use hubspot or salesforce")

        @get("/_sandbox/health", sync_to_thread=False)
        def health(request: Request[Any, Any, Any]) -> dict[str, str]:
            return {"status": "ok"}

        handlers: list[Any] = [calls, reset, set_faults, records, health]
        handlers += self.hubspot.route_handlers()
        handlers += self.salesforce.route_handlers()
        return Litestar(
            route_handlers=handlers,
            middleware=[_call_log_middleware(self.calls)],
            openapi_config=None,
            logging_config=None,  # leave the host process's logging alone
            debug=False,
        )

    def start(self, timeout: float = 15.0) -> SandboxServer:
        ca = trustme.CA()
        cert = ca.issue_cert("127.0.0.1", "localhost", "::1")
        ca.cert_pem.write_to_path(str(self.ca_path))
        chain = self.tls_dir / "server.pem"
        cert.private_key_and_cert_chain_pem.write_to_path(str(chain))
        config = uvicorn.Config(
            self.app,
            host=self.host,
            port=self.port,
            ssl_certfile=str(chain),
            log_level="warning",
            log_config=None,
            access_log=False,
            lifespan="on",
            timeout_keep_alive=30,
            timeout_graceful_shutdown=1,  # clients holding keep-alive TLS connections must not stall stop()
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="crm-sandbox", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError(f"CRM sandbox did not start on {self.netloc}")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        if self._server:
            self._server.should_exit = True
        if self._thread:
            self._thread.join(10)
        self.hubspot.close()
        self.salesforce.close()
        if self._own_tls_dir:
            shutil.rmtree(self.tls_dir, ignore_errors=True)

    def serve_forever(self) -> None:
        """Run in the foreground (for ``leadrelay sandbox``)."""
        self.start()
        try:
            while self._thread and self._thread.is_alive():
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


__all__ = ["SandboxServer"]
