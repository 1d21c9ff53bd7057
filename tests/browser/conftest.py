"""The browser every test module of the console shares (one Chromium per module).

Without Chromium on PATH the console's tests are skipped, reported as one line (a fresh machine still runs the rest
of the suite); ``LEADRELAY_REQUIRE_BROWSER=1`` (set by .ci/run, which installs Chromium) turns that skip into a
failure."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser.helpers import CHROMIUM_ARGS

NO_CHROMIUM = "chromium not on PATH: apt-get install chromium (Debian's package; Playwright drives it)"


def pytest_runtest_setup(item: pytest.Item) -> None:
    # before the tests' fixtures (no console is started for nothing); raised here, not in a fixture, so that every
    # test's skip has this one location and -ra folds them into one line
    if shutil.which("chromium") is None:
        if os.environ.get("LEADRELAY_REQUIRE_BROWSER") == "1":
            pytest.fail(f"{NO_CHROMIUM}; LEADRELAY_REQUIRE_BROWSER=1 requires it", pytrace=False)
        pytest.skip(NO_CHROMIUM)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=shutil.which("chromium"), headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()
