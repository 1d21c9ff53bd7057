"""Redaction of emails and phones, in free text and in real structlog/stdlib output."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
import structlog
from hypothesis import given
from hypothesis import strategies as st

from connector.logs import configure_logging, redact, redact_processor


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """Put structlog and the root logger back as they were, so other tests see no difference."""
    config = structlog.get_config()
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    structlog.configure(**config)
    for h in root.handlers[:]:
        if h not in handlers:
            root.removeHandler(h)
    root.setLevel(level)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("jane.doe@acme.com", "j***@acme.com"),
        ("mail <jane.doe@acme.com>, thanks.", "mail <j***@acme.com>, thanks."),
        ("mailto:x.y+tag@sub.acme.co.uk", "mailto:x***@sub.acme.co.uk"),
        ("4155550123@sms.example.com", "4***@sms.example.com"),
        ("+14155550123", "+***23"),
        ("call +14155550123.", "call +***23."),
        ("tel:+14155550123", "tel:+***23"),
        ("(415) 555-0123", "+***23"),
        ("+44 20 7946 0958", "+***58"),
        ("+1 (415) 555-0123 now", "+***23 now"),
        ("415-555-0123 or 555-0199", "+***23 or +***99"),
        ("020 7946 0958", "+***58"),
        ("+14155550123 42 times", "+***23 42 times"),
        ("+49 (0)30 1234567", "+***67"),
        ("Hi jöhn.doe@acme.com", "Hi j***@acme.com"),
    ],
)
def test_redacts_examples(text: str, expected: str) -> None:
    assert redact(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # formats that leaked before (issue 11, point 8)
        ("415.555.0123", "+***23"),
        ("call 4155550123 today", "call +***23 today"),
        ("ts 1700000000 id 4155550123", "ts 1700000000 id +***23"),
        ("1-415-555-0123", "+***23"),
        ("+1.415.555.0123", "+***23"),
        ("0049 30 12345678", "+***78"),
        ("06 12 34 56 78", "+***78"),
        ("06.12.34.56.78", "+***78"),
        ("0612345678", "+***78"),
        ("email=jane%40acme.com&x=1", "email=j***%40acme.com&x=1"),
        ("to jane%2Bnews%40acme.com", "to j***%40acme.com"),
        ('"jane doe"@acme.com wrote', "***@acme.com wrote"),
    ],
)
def test_redacts_the_formats_that_used_to_leak(text: str, expected: str) -> None:
    assert redact(text) == expected


def test_keys_naming_a_phone_or_email_are_masked_whole() -> None:
    event = {"mobile_phone": "0612345678", "phone_number": "4155550123", "work_email": "jane@acme.com",
             "lead": {"alt_email": "bob@x.org", "PhoneNumber": "ext. 12"}, "emails_sent": 3}
    assert redact_processor(None, "info", event) == {
        "mobile_phone": "+***78", "phone_number": "+***23", "work_email": "j***@acme.com",
        "lead": {"alt_email": "b***@x.org", "PhoneNumber": "+***12"}, "emails_sent": 3}


@pytest.mark.parametrize(
    "text",
    [
        "2024-05-01T12:30:00Z",
        "2024-05-01T12:30:00.123456+00:00",
        "2024-05-01 12:30:00",
        "on 2024-05-01 at 09:15",
        "123e4567-e89b-12d3-a456-426614174000",
        "12345678-1234-1234-1234-123456789012",
        "status 200 after 1234 ms",
        "took 12.5s",
        "ts 1700000000 id 98765",
        "epoch 1700000000123 amount 100000000",
        "on 01.02.2024",
        "client 192.168.100.200 port 8080",
        "version 1.2.3",
        "+1234",
        "lead:webform:00000000-0000-0000-0000-000000000000",
        "",
    ],
)
def test_leaves_non_pii_alone(text: str) -> None:
    assert redact(text) == text


_local = st.text("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._+-", min_size=3, max_size=30)


@given(email=st.emails(), prefix=st.sampled_from(["", "to ", "<", "email: ", "note=", "("]))
def test_hypothesis_emails_lose_their_local_part(email: str, prefix: str) -> None:
    local, _, domain = email.rpartition("@")
    out = redact(f"{prefix}{email} ok")
    # exact: the local part is gone (only its first char stays) and the domain is kept
    if prefix == "note=":  # "=" is legal in a local part, so the key glues on; still masked
        assert out == f"n***@{domain} ok"
    else:
        assert out == f"{prefix}{local[:1]}***@{domain} ok"
    if len(local) >= 3:
        assert local not in out.replace(domain, "")


@given(local=_local, domain=st.sampled_from(["acme.com", "mail.example.co.uk", "x-y.io"]))
def test_dotted_local_parts_are_masked(local: str, domain: str) -> None:
    out = redact(f"contact {local}@{domain} today")
    assert out == f"contact {local[0]}***@{domain} today"


def test_processor_masks_keys_and_nested_values() -> None:
    event = {
        "event": "lead from jane.doe@acme.com",
        "email": "Jane.Doe@Acme.com",
        "phone": "4155550123",  # not phone-shaped as text, but the key says what it is
        "Mobile": 4155550199,
        "lead": {"email": "bob@x.org", "notes": ["ring +14155550123", {"deep": "(415) 555-0123"}]},
        "emails": ("a.b@c.com",),
        "status": 200,
        "duration": 12.5,
    }
    out = redact_processor(None, "info", event)
    assert out == {
        "event": "lead from j***@acme.com",
        "email": "J***@Acme.com",
        "phone": "+***23",
        "Mobile": "+***99",
        "lead": {"email": "b***@x.org", "notes": ["ring +***23", {"deep": "+***23"}]},
        "emails": ("a***@c.com",),
        "status": 200,
        "duration": 12.5,
    }
    assert event["email"] == "Jane.Doe@Acme.com"  # the caller's dict is not modified


def test_real_structlog_json_output_has_no_raw_pii(restore_logging: None) -> None:
    buf = io.StringIO()
    configure_logging(json=True, level="INFO", stream=buf)
    configure_logging(json=True, level="INFO", stream=buf)  # twice: idempotent
    log = structlog.get_logger("test")
    log.info("lead", email="jane.doe@acme.com", phone="+14155550123", note="call jane.doe@acme.com")
    log.debug("hidden at INFO", email="jane.doe@acme.com")

    lines = buf.getvalue().splitlines()
    assert len(lines) == 1
    raw = lines[0]
    assert "jane.doe" not in raw
    assert "4155550123" not in raw
    data = json.loads(raw)
    assert data["event"] == "lead"
    assert data["email"] == "j***@acme.com"
    assert data["phone"] == "+***23"
    assert data["note"] == "call j***@acme.com"
    assert data["level"] == "info"
    assert data["timestamp"].endswith("Z")


def test_stdlib_loggers_go_through_the_same_pipeline(restore_logging: None) -> None:
    uvicorn = logging.getLogger("uvicorn.error")
    uvicorn.addHandler(logging.NullHandler())
    uvicorn.propagate = False  # what uvicorn's own config does
    buf = io.StringIO()
    configure_logging(json=True, level="WARNING", stream=buf)
    configure_logging(json=True, level="WARNING", stream=buf)

    uvicorn.warning("bad request from %s", "jane.doe@acme.com")
    logging.getLogger("arq.worker").info("below the level")
    try:
        raise RuntimeError("lookup failed for +14155550123")
    except RuntimeError:
        logging.getLogger("leadrelay.test").exception("job failed")

    lines = [json.loads(line) for line in buf.getvalue().splitlines()]
    assert len(lines) == 2  # one handler only, despite two configure calls; INFO filtered out
    assert lines[0]["event"] == "bad request from j***@acme.com"
    assert lines[0]["logger"] == "uvicorn.error"
    assert lines[0]["level"] == "warning"
    assert "RuntimeError" in lines[1]["exception"]
    assert "4155550123" not in lines[1]["exception"]


def test_console_renderer_redacts_too(restore_logging: None) -> None:
    buf = io.StringIO()
    configure_logging(json=False, level="DEBUG", stream=buf)
    structlog.get_logger().debug("lead", email="jane.doe@acme.com")
    out = buf.getvalue()
    assert "j***@acme.com" in out
    assert "jane.doe" not in out


def test_unknown_level_is_an_error() -> None:
    with pytest.raises(ValueError, match="level"):
        configure_logging(level="LOUD")


# ---- URL secrets (issue 17): a Slack hook URL is the credential itself ------------------------------------------

HOOK = "https://hooks.slack.com/services/T0ABCDEF/B0GHIJKL/s3cr3tHookToken42"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"POST {HOOK} 200", "POST https://hooks.slack.com/services/*** 200"),
        ("hooks.slack.com/workflows/T01/A02/123/abcSecret", "hooks.slack.com/workflows/***"),
        ("http://127.0.0.1:8080/services/T1/B1/x ok", "http://127.0.0.1:8080/services/*** ok"),
        ("GET https://api.example/v1?limit=5&token=abc123&x=1", "GET https://api.example/v1?limit=5&token=***&x=1"),
        ("https://x.example/a?hapikey=k1&access_token=t2#top", "https://x.example/a?hapikey=***&access_token=***#top"),
        ("https://ana:hunter2@redis.example:6380/0", "https://***@redis.example:6380/0"),
        ("redis://:pa55@localhost:6379/1 down", "redis://***@localhost:6379/1 down"),
        ("https://crm.example/records/L-1?tab=notes", "https://crm.example/records/L-1?tab=notes"),
        ("/signup?design=x&keyboard=1", "/signup?design=x&keyboard=1"),  # names that only contain a secret word
    ],
)
def test_url_secrets_are_redacted(text: str, expected: str) -> None:
    assert redact(text) == expected


def test_a_slack_send_logs_no_hook_url(restore_logging: None, capsys: pytest.CaptureFixture[str],
                                       caplog: pytest.LogCaptureFixture) -> None:
    """httpx logs every request's URL at INFO: with a Slack hook that is the credential, in the clear."""
    import asyncio

    import httpx
    import respx

    from adapters.notify.notice import Notice
    from adapters.notify.slack import send_slack

    configure_logging(json=True, level="INFO")  # what `leadrelay worker` does: stdout, INFO
    caplog.set_level(logging.INFO)

    async def send() -> None:
        with respx.mock:
            respx.post(HOOK).mock(return_value=httpx.Response(200, text="ok"))
            async with httpx.AsyncClient() as client:
                await send_slack(client, HOOK, Notice(lead_id="L-1", name="Ada"))
        structlog.get_logger("leadrelay.worker").info("notification_sent", url=HOOK)

    asyncio.run(send())
    out = capsys.readouterr().out + "".join(r.getMessage() for r in caplog.records)
    assert "notification_sent" in out  # the logging works; only the secret is gone
    assert "s3cr3tHookToken42" not in out and "B0GHIJKL" not in out
    assert "HTTP Request" not in out  # httpx's line per request: quiet below WARNING
    assert "hooks.slack.com/services/***" in out  # our own line names the hook, redacted
