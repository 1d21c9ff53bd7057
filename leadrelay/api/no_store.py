"""``Cache-Control: no-store`` on every ``/api/*`` answer: they carry people's names, emails and phones, and no
browser, proxy or disk cache may keep them. A ``before_send`` hook, so errors and unmatched paths get it too."""

from __future__ import annotations

from litestar.datastructures import MutableScopeHeaders
from litestar.types import Message, Scope


def no_store(message: Message, scope: Scope) -> None:
    """Before-send hook: mark an ``/api/*`` response as not to be stored."""
    if message["type"] == "http.response.start" and scope["path"].startswith("/api/"):
        MutableScopeHeaders.from_message(message)["Cache-Control"] = "no-store"
