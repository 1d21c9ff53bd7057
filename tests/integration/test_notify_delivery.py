"""Notifications arrive for real: a local HTTP receiver gets the Slack payload and the signed webhook (checked with
``standard_webhooks.verify``), and a local SMTP server (aiosmtpd) gets the email."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller

from adapters.forms.standard_webhooks import verify
from adapters.notify.email import SmtpSettings, send_email
from adapters.notify.notice import Notice, Reason
from adapters.notify.slack import payload, send_slack
from adapters.notify.webhook import send_webhook
from connector.errors import FatalError, RetryableError

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
NOTICE = Notice(lead_id="L-9", name="Grace Hopper", email="grace@navy.example", company="Navy", title="Admiral",
                score=88, grade="hot", owner_id="sarah_chen", owner_name="Sarah Chen", rule="northeast",
                reasons=(Reason(rule="demo_request", points=30, text="asked for a demo"),),
                route_reason="northeast territory, round robin", answers={"team_size": "200+"},
                crm_url="https://crm.example/records/L-9")


class Received:
    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, str], bytes]] = []
        self.status = 200


def _handler(received: Received) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            received.requests.append((self.path, {k.lower(): v for k, v in self.headers.items()}, body))
            self.send_response(received.status)
            self.send_header("content-type", "text/plain")
            self.end_headers()
            self.wfile.write(b"ok" if received.status == 200 else b"no")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture
def receiver() -> Iterator[tuple[str, Received]]:
    received = Received()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(received))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", received
    finally:
        server.shutdown()
        server.server_close()


async def test_slack_payload_arrives(receiver: tuple[str, Received]) -> None:
    base, received = receiver
    async with httpx.AsyncClient() as client:
        await send_slack(client, f"{base}/services/T/B/X", NOTICE)
    [(path, headers, body)] = received.requests
    assert path == "/services/T/B/X" and headers["content-type"] == "application/json"
    assert json.loads(body) == payload(NOTICE)


async def test_signed_webhook_arrives_and_verifies(receiver: tuple[str, Received]) -> None:
    base, received = receiver
    async with httpx.AsyncClient() as client:
        msg_id = await send_webhook(client, f"{base}/hooks/leads", SECRET, NOTICE)
    [(_, headers, body)] = received.requests
    assert verify(SECRET, headers, body, now=time.time()) == msg_id
    envelope = json.loads(body)
    assert envelope["type"] == "lead.routed" and envelope["data"]["lead_id"] == "L-9"
    assert envelope["data"]["reasons"] == [{"rule": "demo_request", "points": 30, "text": "asked for a demo"}]


async def test_receiver_errors_are_classified(receiver: tuple[str, Received]) -> None:
    base, received = receiver
    async with httpx.AsyncClient() as client:
        received.status = 503
        with pytest.raises(RetryableError):
            await send_webhook(client, f"{base}/hooks", SECRET, NOTICE)
        received.status = 422
        with pytest.raises(FatalError):
            await send_slack(client, f"{base}/hooks", NOTICE)


class Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], Message]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), message_from_bytes(envelope.content)))
        return "250 Message accepted for delivery"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def smtp() -> Iterator[tuple[SmtpSettings, Inbox]]:
    inbox = Inbox()
    port = _free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield SmtpSettings(host="127.0.0.1", port=port, sender="leadrelay@example.com", starttls=False), inbox
    finally:
        controller.stop()


async def test_email_arrives(smtp: tuple[SmtpSettings, Inbox]) -> None:
    settings, inbox = smtp
    await send_email(settings, ["dana.whitfield@example.com"], NOTICE)
    [(sender, to, msg)] = inbox.messages
    assert (sender, to) == ("leadrelay@example.com", ["dana.whitfield@example.com"])
    assert msg["Subject"] == "New hot lead: Grace Hopper (Navy), score 88"
    raw = msg.get_payload(decode=True)
    assert isinstance(raw, bytes)
    text = raw.decode()
    assert "Owner: Sarah Chen  (rule: northeast)" in text and "  - asked for a demo (+30)" in text
    assert "Why this rep: northeast territory, round robin" in text and "https://crm.example/records/L-9" in text


async def test_email_to_a_closed_port_is_retryable() -> None:
    settings = SmtpSettings(host="127.0.0.1", port=_free_port(), sender="x@example.com", starttls=False, timeout_s=2)
    with pytest.raises(RetryableError):
        await send_email(settings, ["a@example.com"], NOTICE)
