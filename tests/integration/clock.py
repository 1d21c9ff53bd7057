"""A business moment for tests whose outcome depends on the hour (a hot lead is held after hours, SLA clocks run in
business time): the test process travels there with time-machine, and the processes it starts (workers, the demo)
get the same clock through libfaketime (``apt-get install faketime libfaketime``; .ci/run installs it).

The moment is the next Tuesday, 11:00 UTC, that is a working day for every rep of the shipped roster: the EMEA pool
at work, the Americas' hot leads held for their first rep in, as on any working morning in Europe — whatever the
hour or day the suite runs at."""

from __future__ import annotations

import glob
import os
from datetime import UTC, date, datetime, time, timedelta

from connector.config import load_config
from connector.team import is_holiday, is_out_of_office
from tests.integration.harness import ROOT

TUESDAY = 1
AT = time(11, 0)
# Debian/Ubuntu's libfaketime, any architecture
LIBFAKETIME = next(iter(sorted(glob.glob("/usr/lib/*/faketime/libfaketime.so.1"))), None)
ENV_ON = "LEADRELAY_TEST_FAKETIME"  # set while a test travels: env_for gives the processes it starts the clock


def business_moment(today: date) -> datetime:
    """The first Tuesday after ``today`` with nobody of the shipped roster on a public holiday or out of office."""
    reps = load_config(ROOT).team.reps
    day = today + timedelta(days=1)
    while True:
        if day.weekday() == TUESDAY and not any(
            is_holiday(r.country, r.subdivision, day) or is_out_of_office(r, day) for r in reps
        ):
            return datetime.combine(day, AT, tzinfo=UTC)
        day += timedelta(days=1)


def process_clock() -> dict[str, str]:
    """Environment for a process started now, so that its clock reads what this process's does (the travelled
    time; empty when no test travels or libfaketime is missing)."""
    if not os.environ.get(ENV_ON) or LIBFAKETIME is None:
        return {}
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")
    # "@": the process's clock starts there and runs (FAKETIME_DONT_FAKE_MONOTONIC=1 would break sleeps: EINVAL)
    return {"LD_PRELOAD": LIBFAKETIME, "FAKETIME": f"@{now}", "TZ": "UTC"}

