"""A missing or wrong setting stops ``leadrelay demo | serve | worker`` with one line saying what to set and exit
code 1, never a traceback (issue 11, point 11b). Run as a user runs them: the installed ``leadrelay`` script."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.harness import FORM_SECRET, TYPEFORM_SECRET
from tests.tokens import API_TOKENS
from worker.redis_server import free_port

ROOT = Path(__file__).resolve().parents[2]
LEADRELAY = str(Path(sys.executable).parent / "leadrelay")


def _env(**extra: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items()
            if not k.startswith("LEADRELAY_") and k not in {"REDIS_URL", "HUBSPOT_CLIENT_SECRET"}}
    return {**base, "COLUMNS": "80", **extra}


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([LEADRELAY, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)


def _one_line_naming(proc: subprocess.CompletedProcess[str], variable: str) -> None:
    where = f"exit {proc.returncode}\nstdout: {proc.stdout[-1500:]}\nstderr: {proc.stderr[-3000:]}"
    assert proc.returncode == 1, where
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert 1 <= len(lines) <= 2, where
    assert variable in proc.stderr, where
    assert "Traceback" not in proc.stderr + proc.stdout, where


@pytest.fixture(scope="module")
def nowhere() -> str:
    return f"redis://127.0.0.1:{free_port()}/0"  # a closed port


@pytest.mark.parametrize("args", [["demo", "--once"], ["serve"], ["worker"]], ids=["demo", "serve", "worker"])
def test_redis_url_pointing_nowhere(args: list[str], nowhere: str) -> None:
    env = _env(REDIS_URL=nowhere, LEADRELAY_API_TOKENS=",".join(API_TOKENS),
               LEADRELAY_HUBSPOT_TOKEN="some-token", LEADRELAY_FORM_SECRET_WEBSITE=FORM_SECRET,
               LEADRELAY_TYPEFORM_SECRET=TYPEFORM_SECRET, LEADRELAY_HUBSPOT_WEBHOOK_SECRET="hs-secret")
    _one_line_naming(_run(args, env), "REDIS_URL")


def test_worker_without_a_crm_token(redis_url: str) -> None:
    _one_line_naming(_run(["worker"], _env(REDIS_URL=redis_url)), "LEADRELAY_HUBSPOT_TOKEN")


def test_serve_without_a_form_signing_secret(redis_url: str) -> None:
    env = _env(REDIS_URL=redis_url, LEADRELAY_API_TOKENS=",".join(API_TOKENS), LEADRELAY_HUBSPOT_TOKEN="t",
               LEADRELAY_TYPEFORM_SECRET=TYPEFORM_SECRET, LEADRELAY_HUBSPOT_WEBHOOK_SECRET="hs-secret")
    _one_line_naming(_run(["serve", "--port", str(free_port())], env), "LEADRELAY_FORM_SECRET_WEBSITE")


def test_serve_without_api_tokens_refuses_unless_dev(redis_url: str) -> None:
    env = _env(REDIS_URL=redis_url, LEADRELAY_FORM_SECRET_WEBSITE=FORM_SECRET,
               LEADRELAY_TYPEFORM_SECRET=TYPEFORM_SECRET, LEADRELAY_HUBSPOT_WEBHOOK_SECRET="hs-secret")
    _one_line_naming(_run(["serve", "--port", str(free_port())], env), "LEADRELAY_API_TOKENS")


def test_serve_dev_starts_without_tokens_and_prints_one(redis_url: str) -> None:
    import re
    import signal
    import time

    import httpx

    port = free_port()
    proc = subprocess.Popen([LEADRELAY, "serve", "--dev", "--port", str(port)], cwd=ROOT, text=True,
                            env=_env(REDIS_URL=redis_url), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()  # the first thing it says
        found = re.search(r"admin token for this run: (\S+)", line)
        assert found, line
        deadline = time.monotonic() + 30
        while True:
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/ready", headers={"Authorization": f"Bearer {found[1]}"})
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline and proc.poll() is None, "serve --dev did not start"
                time.sleep(0.2)
        assert r.status_code == 200 and r.json()["checks"] == {"redis": "ok"}, r.text
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_serve_with_a_plain_password_for_a_console_user(redis_url: str) -> None:
    """LEADRELAY_ADMIN_USERS holds scrypt hashes only: a plain password is refused before anything starts."""
    env = _env(REDIS_URL=redis_url, LEADRELAY_API_TOKENS=",".join(API_TOKENS), LEADRELAY_HUBSPOT_TOKEN="t",
               LEADRELAY_FORM_SECRET_WEBSITE=FORM_SECRET, LEADRELAY_TYPEFORM_SECRET=TYPEFORM_SECRET,
               LEADRELAY_HUBSPOT_WEBHOOK_SECRET="hs-secret", LEADRELAY_ADMIN_USERS="ana:admin:hunter2-plain")
    proc = _run(["serve", "--port", str(free_port())], env)
    _one_line_naming(proc, "LEADRELAY_ADMIN_USERS")
    assert "hash-password" in proc.stderr and "hunter2" not in proc.stderr


# ---- secrets (issue 17): required outside --dev, at least 32 characters, never echoed ------------------------------

SESSION_SECRET = "session-secret-for-the-cli-tests-0123456789"
LEAD_ID_SECRET = "lead-id-secret-for-the-cli-tests-0123456789"


def _serve_env(redis_url: str, **extra: str) -> dict[str, str]:
    return _env(**{"REDIS_URL": redis_url, "LEADRELAY_API_TOKENS": ",".join(API_TOKENS),
                   "LEADRELAY_HUBSPOT_TOKEN": "t", "LEADRELAY_FORM_SECRET_WEBSITE": FORM_SECRET,
                   "LEADRELAY_TYPEFORM_SECRET": TYPEFORM_SECRET, "LEADRELAY_HUBSPOT_WEBHOOK_SECRET": "hs-secret",
                   **extra})


def _run_briefly(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Like _run, but a process that starts instead of refusing is stopped after 20 s (and fails the test)."""
    try:
        return subprocess.run([LEADRELAY, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=20)
    except subprocess.TimeoutExpired as exc:
        raise AssertionError(f"{args[0]} started instead of refusing: {exc.stderr!r}") from None


def test_serve_without_a_session_secret_refuses_unless_dev(redis_url: str) -> None:
    _one_line_naming(_run_briefly(["serve", "--port", str(free_port())], _serve_env(redis_url)),
                     "LEADRELAY_SESSION_SECRET")


def test_serve_with_a_short_session_secret_refuses_without_echoing_it(redis_url: str) -> None:
    proc = _run_briefly(["serve", "--port", str(free_port())],
                        _serve_env(redis_url, LEADRELAY_SESSION_SECRET="too-short-secret-123"))
    _one_line_naming(proc, "LEADRELAY_SESSION_SECRET")
    assert "32" in proc.stderr and "too-short" not in proc.stderr


def test_serve_with_a_token_entry_without_a_role_does_not_print_the_token(redis_url: str) -> None:
    token = "Zq8s9dJk2Lm4Np6Qr8St0Uv2Wx4Yz6Ab"
    proc = _run_briefly(["serve", "--port", str(free_port())],
                        _serve_env(redis_url, LEADRELAY_API_TOKENS=f"admin:{'a' * 24},{token}",
                                   LEADRELAY_SESSION_SECRET=SESSION_SECRET))
    _one_line_naming(proc, "LEADRELAY_API_TOKENS")
    assert token[:8].lower() not in proc.stderr.lower() and token[-8:].lower() not in proc.stderr.lower()


def test_worker_without_a_lead_id_secret_refuses(redis_url: str) -> None:
    env = _env(REDIS_URL=redis_url, LEADRELAY_HUBSPOT_TOKEN="some-token",
               LEADRELAY_HUBSPOT_BASE_URL=f"https://127.0.0.1:{free_port()}")
    _one_line_naming(_run_briefly(["worker"], env), "LEADRELAY_LEAD_ID_SECRET")
    short = _run_briefly(["worker"], {**env, "LEADRELAY_LEAD_ID_SECRET": "too-short-secret-123"})
    _one_line_naming(short, "LEADRELAY_LEAD_ID_SECRET")
    assert "too-short" not in short.stderr


def test_worker_upgraded_from_a_redis_kept_lead_id_secret_is_told_to_keep_it(redis_url: str) -> None:
    """Lead ids are the CRM upsert key: an installation whose secret was kept in Redis must set that one, not a new
    one (every lead would get a new id). The line names where it is, never the value."""
    import redis

    prefix = "upgraded-lr:"
    kept = "kept-in-redis-secret-0123456789abcdef"
    r = redis.Redis.from_url(redis_url)
    r.set(f"{prefix}secret:lead-id", kept)
    try:
        env = _env(REDIS_URL=redis_url, LEADRELAY_KEY_PREFIX=prefix, LEADRELAY_HUBSPOT_TOKEN="some-token",
                   LEADRELAY_HUBSPOT_BASE_URL=f"https://127.0.0.1:{free_port()}")
        proc = _run_briefly(["worker"], env)
    finally:
        r.delete(f"{prefix}secret:lead-id")
        r.close()
    _one_line_naming(proc, "LEADRELAY_LEAD_ID_SECRET")
    assert f"redis-cli GET {prefix}secret:lead-id" in proc.stderr and kept not in proc.stderr
