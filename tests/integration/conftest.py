from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import time_machine

from tests.integration.clock import ENV_ON, LIBFAKETIME, business_moment, process_clock
from tests.integration.harness import FORM_SECRET, TYPEFORM_SECRET


@pytest.fixture
def signing_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    """The form and Typeform signing secrets the mappings name (inbound.secret_env), set for one test."""
    monkeypatch.setenv("LEADRELAY_FORM_SECRET_WEBSITE", FORM_SECRET)
    monkeypatch.setenv("LEADRELAY_TYPEFORM_SECRET", TYPEFORM_SECRET)


@pytest.fixture
def business_hours(monkeypatch: pytest.MonkeyPatch) -> Iterator[datetime]:
    """This test runs on a working Tuesday at 11:00 UTC (``tests.integration.clock``), and so do the processes it
    starts (``env_for``, or ``os.environ`` for those given no environment)."""
    at = business_moment(datetime.now(UTC).date())
    assert LIBFAKETIME, "libfaketime is needed to give the test's processes its clock: apt-get install libfaketime"
    with time_machine.travel(at, tick=True):
        monkeypatch.setenv(ENV_ON, "1")
        for name, value in process_clock().items():
            monkeypatch.setenv(name, value)
        monkeypatch.delenv("FAKETIME_SHARED", raising=False)
        yield at
