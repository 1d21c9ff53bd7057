"""arq ignores WorkerSettings keys it does not know: every key we pass must be a real arq.Worker parameter."""

import inspect

from arq.worker import Worker

from connector.settings import load_settings
from worker.settings import worker_settings


def test_every_worker_setting_is_an_arq_parameter() -> None:
    known = set(inspect.signature(Worker.__init__).parameters)
    ours = set(worker_settings(load_settings({}, redis_url="redis://127.0.0.1:1/0")))
    assert ours <= known, f"not arq.Worker parameters (typo?): {sorted(ours - known)}"
    assert {"functions", "poll_delay", "job_timeout", "max_tries", "queue_name"} <= ours


def test_job_names_match_what_the_api_and_worker_enqueue() -> None:
    names = {f.name for f in worker_settings(load_settings({}, redis_url="redis://127.0.0.1:1/0"))["functions"]}
    assert names == {"process_delivery", "write_back", "notify", "sla_step", "hold_release"}


def test_tries_fit_the_job_timeout() -> None:
    s = load_settings({}, redis_url="redis://127.0.0.1:1/0")
    assert s.max_tries >= 3 and s.job_timeout_s >= 10
