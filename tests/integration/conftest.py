from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import time_machine

from sandbox.server import SandboxServer
from tests.integration.clock import ENV_ON, LIBFAKETIME, business_moment
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


@pytest.fixture
def business_hours(monkeypatch: pytest.MonkeyPatch) -> Iterator[datetime]:
    """This test runs on a working Tuesday at 11:00 UTC (``tests.integration.clock``), and so do the processes it
    starts with ``env_for``."""
    at = business_moment(datetime.now(UTC).date())
    assert LIBFAKETIME, "libfaketime is needed to give the test's processes its clock: apt-get install libfaketime"
    with time_machine.travel(at, tick=True):
        # only the processes it starts get libfaketime's variables (env_for): set in this process's own environment
        # they would reach the libfaketime a whole-suite `faketime` run preloads here, which re-reads them
        monkeypatch.setenv(ENV_ON, "1")
        yield at
