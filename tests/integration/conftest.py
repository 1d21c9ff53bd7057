import pytest

from sandbox.server import SandboxServer
from tests.integration.harness import FORM_SECRET, TYPEFORM_SECRET


@pytest.fixture
def signing_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    """The form and Typeform signing secrets the mappings name (inbound.secret_env), set for one test."""
    monkeypatch.setenv("LEADRELAY_FORM_SECRET_WEBSITE", FORM_SECRET)
    monkeypatch.setenv("LEADRELAY_TYPEFORM_SECRET", TYPEFORM_SECRET)


@pytest.fixture
def sandbox(server: SandboxServer) -> SandboxServer:
    """The module's ``server`` (a CRM sandbox it starts once), reset for one test."""
    server.reset()
    return server
