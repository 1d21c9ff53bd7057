"""Real local receivers for notifications: an HTTP server (a Slack incoming webhook stand-in) in a thread, and an
SMTP server (aiosmtpd). Tests read what arrived from them."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller


class Post:
    """One request the receiver got, and what it answered."""

    def __init__(self, path: str, headers: dict[str, str], body: bytes, status: int, at: float) -> None:
        self.path, self.headers, self.body, self.status, self.at = path, headers, body, status, at

    @property
    def json(self) -> Any:
        return json.loads(self.body)


class HttpReceiver:
    """POSTs to ``url + path`` are recorded; ``status`` (a number, or a function of the path) is the answer."""

    def __init__(self) -> None:
        self.posts: list[Post] = []
        self.status: int | Callable[[str], int] = 200
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                status = receiver.status(self.path) if callable(receiver.status) else receiver.status
                with receiver._lock:
                    receiver.posts.append(Post(self.path, {k.lower(): v for k, v in self.headers.items()}, body,
                                               status, time.time()))
                self.send_response(status)
                self.send_header("content-type", "text/plain")
                self.end_headers()
                self.wfile.write(b"ok" if status == 200 else b"no")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def delivered(self, path: str | None = None) -> list[Post]:
        """The posts answered 200 (to ``path``, if given)."""
        with self._lock:
            return [p for p in self.posts if p.status == 200 and (path is None or p.path == path)]

    def __enter__(self) -> HttpReceiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Inbox:
    """A local SMTP server (aiosmtpd) keeping every message: (sender, recipients, message)."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], Message]] = []
        self.port = free_port()
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), message_from_bytes(envelope.content)))
        return "250 Message accepted for delivery"

    def __enter__(self) -> Inbox:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()


def text_of(msg: Message) -> str:
    raw = msg.get_payload(decode=True)
    assert isinstance(raw, bytes)
    return raw.decode()
