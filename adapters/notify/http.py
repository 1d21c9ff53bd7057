"""One outbound POST for the notification senders, its failures classified into the project's errors.

429 and 5xx -> ``RetryableError`` (``retry_after`` from the Retry-After header, else a default), a timeout or a
connection error -> ``RetryableError``, 401/403 -> ``AuthError``, any other 4xx -> ``FatalError``.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from email.utils import parsedate_to_datetime

import httpx

from connector.errors import AuthError, FatalError, RetryableError

DEFAULT_RETRY_AFTER = 1.0
MAX_RETRY_AFTER = 3600.0
TIMEOUT = httpx.Timeout(10.0, connect=5.0)


def retry_after(headers: Mapping[str, str], *, now: float | None = None, default: float = DEFAULT_RETRY_AFTER) -> float:
    """Seconds a ``Retry-After`` header asks for (delta-seconds or an HTTP date); ``default`` when absent or bad."""
    value = headers.get("retry-after", "").strip()
    if not value:
        return default
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return default
        seconds = when.timestamp() - (time.time() if now is None else now)
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


def classify(response: httpx.Response, what: str) -> None:
    """Raise for a failed answer; return for a 2xx."""
    status = response.status_code
    if 200 <= status < 300:
        return
    detail = response.text[:200].strip()
    message = f"{what}: HTTP {status}" + (f": {detail}" if detail else "")
    if status == 429 or status >= 500:
        raise RetryableError(message, retry_after=retry_after(response.headers))
    if status in (401, 403):
        raise AuthError(message, hint="check the channel's URL or credentials")
    raise FatalError(message, hint="the receiver refused this payload; it will fail the same way again")


async def post(client: httpx.AsyncClient, url: str, *, content: bytes, headers: Mapping[str, str],
               what: str) -> httpx.Response:
    """POST ``content`` to ``url``; a classified error on failure, the response on success."""
    try:
        response = await client.post(url, content=content, headers=dict(headers), timeout=TIMEOUT)
    except httpx.TimeoutException as exc:
        raise RetryableError(f"{what}: timed out", retry_after=DEFAULT_RETRY_AFTER) from exc
    except httpx.TransportError as exc:
        raise RetryableError(f"{what}: cannot connect: {type(exc).__name__}", retry_after=DEFAULT_RETRY_AFTER) from exc
    classify(response, what)
    return response
