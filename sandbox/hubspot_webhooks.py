"""The sandbox's outbound webhooks: HubSpot Webhooks API v3 deliveries, signed, batched, retried.

- Payload: a JSON array of events (eventId, subscriptionId, portalId, appId, occurredAt, subscriptionType,
  attemptNumber, objectId, changeSource, sourceId, and propertyName/propertyValue for propertyChange;
  changeFlag for creation), up to 100 events per request.
  https://developers.hubspot.com/docs/api/webhooks (payload and batching), example payload:
  https://prismatic.io/docs/example-payloads/hubspot/triggers/eventTypeSubscription.json
- Changes made through the API carry ``changeSource: "INTEGRATION"`` and the acting app's id in ``sourceId``
  (changes in the UI: ``CRM_UI`` and ``userId:<id>``) — what lets an app recognise its own writes.
- Signature v3: base64(HMAC-SHA256(client secret, method + URI + body + timestamp)) in
  ``X-HubSpot-Signature-v3``, the millisecond timestamp in ``X-HubSpot-Request-Timestamp``.
  https://developers.hubspot.com/docs/apps/developer-platform/build-apps/authentication/request-validation
  https://developers.hubspot.com/changelog/introducing-version-3-of-webhook-signatures
- Retries: HubSpot retries a failed delivery (connection failure, timeout after 5 s, 5xx, 429) up to 10
  times spread over 24 hours; the sandbox keeps the 10 attempts but compresses the schedule to seconds.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

MAX_EVENTS_PER_REQUEST = 100


def sign_v3(secret: str, method: str, uri: str, body: bytes | str, timestamp: str) -> str:
    """HubSpot's v3 request signature."""
    raw = body.decode() if isinstance(body, bytes) else body
    message = f"{method}{uri}{raw}{timestamp}".encode()
    return base64.b64encode(hmac.new(secret.encode(), message, hashlib.sha256).digest()).decode()


@dataclass
class _Pending:
    events: list[dict[str, Any]]
    attempt: int = 0
    due: float = field(default_factory=time.monotonic)


class WebhookEmitter:
    """Queues events and delivers them from one background thread."""

    def __init__(
        self,
        url: str | None,
        client_secret: str,
        *,
        batch_window_s: float = 0.05,
        retry_delays: tuple[float, ...] = (0.5, 1, 2, 4, 8, 15, 30, 30, 30),
        timeout_s: float = 5.0,
        verify: bool | str = True,
    ) -> None:
        self.url = url
        self.client_secret = client_secret
        self.batch_window_s = batch_window_s
        self.retry_delays = retry_delays
        self.timeout_s = timeout_s
        self.verify = verify
        self.log: list[dict[str, Any]] = []  # one entry per delivery attempt, for tests and the demo
        self._queue: queue.Queue[dict[str, Any]] = queue.Queue()
        self._retries: list[_Pending] = []
        self._busy = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def emit(self, event: dict[str, Any]) -> None:
        if not self.url:
            return
        with self._lock:
            self._busy += 1
        self._queue.put(event)
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="hubspot-webhooks", daemon=True)
            self._thread.start()

    def idle(self, timeout: float = 10.0) -> bool:
        """Wait until every queued event was delivered or given up; True when idle."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if self._busy == 0:
                    return True
            time.sleep(0.02)
        return False

    def close(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(5)

    def clear(self) -> None:
        with self._lock:
            self.log.clear()

    def _run(self) -> None:
        with httpx.Client(timeout=self.timeout_s, verify=self.verify) as http:
            while not self._stop.is_set():
                batch = self._collect()
                if batch:
                    self._deliver(http, _Pending(batch))
                now = time.monotonic()
                due = [p for p in self._retries if p.due <= now]
                for p in due:
                    self._retries.remove(p)
                    self._deliver(http, p)

    def _collect(self) -> list[dict[str, Any]]:
        try:
            first = self._queue.get(timeout=0.02)
        except queue.Empty:
            return []
        batch = [first]
        until = time.monotonic() + self.batch_window_s
        while len(batch) < MAX_EVENTS_PER_REQUEST:
            try:
                batch.append(self._queue.get(timeout=max(0.0, until - time.monotonic())))
            except queue.Empty:
                break
        return batch

    def _deliver(self, http: httpx.Client, pending: _Pending) -> None:
        assert self.url
        events = [{**e, "attemptNumber": pending.attempt} for e in pending.events]
        body = json.dumps(events, separators=(",", ":"))
        timestamp = str(int(time.time() * 1000))
        headers = {
            "Content-Type": "application/json",
            "X-HubSpot-Signature-v3": sign_v3(self.client_secret, "POST", self.url, body, timestamp),
            "X-HubSpot-Request-Timestamp": timestamp,
        }
        status: int | None = None
        error: str | None = None
        try:
            status = http.post(self.url, content=body, headers=headers).status_code
        except httpx.HTTPError as exc:
            error = type(exc).__name__
        retry = status is None or status >= 500 or status == 429
        with self._lock:
            self.log.append({"attempt": pending.attempt, "events": len(events), "status": status, "error": error})
        if retry and pending.attempt < len(self.retry_delays):
            pending.due = time.monotonic() + self.retry_delays[pending.attempt]
            pending.attempt += 1
            self._retries.append(pending)
            return
        with self._lock:
            self._busy -= len(pending.events)
