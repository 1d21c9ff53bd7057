"""The sandbox's Outbound Message sender: SOAP ``notifications`` to a listener URL, retried until Ack.

Follows Salesforce's outbound messaging documentation:
- Message shape (``notifications`` with OrganizationId, ActionId, SessionId, EnterpriseUrl, PartnerUrl and up to
  100 ``Notification`` elements, each an ``Id`` and an ``sObject`` of ``sf:`` fields), and the listener's
  ``notificationsResponse`` / ``Ack`` answer:
  https://developer.salesforce.com/docs/atlas.en-us.api.meta/api/sforce_api_om_outboundmessaging_wsdl.htm
- Delivery: notifications are queued and sent by a background process; several changes may be batched into one
  message; the *latest* record data is sent, not intermediate values; without an Ack the message is retried with
  exponentially growing intervals up to two hours, and dropped after 24 hours; delivery is at least once and may
  be out of order:
  https://developer.salesforce.com/docs/atlas.en-us.api.meta/api/sforce_api_om_outboundmessaging_notifications.htm
Time scales (retry base, cap, max age) are options so tests need not wait hours.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from xml.sax.saxutils import escape, quoteattr

import httpx

OUTBOUND_NS = "http://soap.sforce.com/2005/09/outbound"
SOBJECT_NS = "urn:sobject.enterprise.soap.sforce.com"
MAX_NOTIFICATIONS = 100


def _xml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    # REST datetimes look like 2024-09-15T08:22:10.000+0000; SOAP uses xsd:dateTime (…Z)
    if len(text) == 28 and text.endswith("+0000") and text[10] == "T":
        text = text[:-5] + "Z"
    return escape(text)


def build_notifications(
    *,
    organization_id: str,
    action_id: str,
    session_id: str | None,
    enterprise_url: str,
    partner_url: str,
    notifications: Sequence[tuple[str, str, dict[str, Any]]],
) -> bytes:
    """The SOAP envelope Salesforce posts: ``notifications`` = (notification id, sObject type, fields) triples.

    Fields with null values are left out, as Salesforce does; ``Id`` comes first.
    """
    if not 1 <= len(notifications) <= MAX_NOTIFICATIONS:
        raise ValueError("an outbound message carries 1 to 100 notifications")
    session = f"  <SessionId>{escape(session_id)}</SessionId>\n" if session_id else '  <SessionId xsi:nil="true"/>\n'
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>\n',
        '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
        'xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">\n',
        " <soapenv:Body>\n",
        f'  <notifications xmlns="{OUTBOUND_NS}">\n',
        f"   <OrganizationId>{escape(organization_id)}</OrganizationId>\n",
        f"   <ActionId>{escape(action_id)}</ActionId>\n",
        " " + session,
        f"   <EnterpriseUrl>{escape(enterprise_url)}</EnterpriseUrl>\n",
        f"   <PartnerUrl>{escape(partner_url)}</PartnerUrl>\n",
    ]
    for notification_id, sobject_type, fields in notifications:
        parts.append("   <Notification>\n")
        parts.append(f"    <Id>{escape(notification_id)}</Id>\n")
        parts.append(f'    <sObject xsi:type={quoteattr("sf:" + sobject_type)} xmlns:sf="{SOBJECT_NS}">\n')
        ordered = sorted(fields.items(), key=lambda kv: (kv[0] != "Id", 0))
        for name, value in ordered:
            if value is None or name == "attributes":
                continue
            parts.append(f"     <sf:{name}>{_xml_value(value)}</sf:{name}>\n")
        parts.append("    </sObject>\n")
        parts.append("   </Notification>\n")
    parts += ["  </notifications>\n", " </soapenv:Body>\n", "</soapenv:Envelope>\n"]
    return "".join(parts).encode("utf-8")


def is_ack(body: bytes) -> bool:
    """True when a listener answered ``<Ack>true</Ack>`` inside ``notificationsResponse``."""
    import defusedxml.ElementTree as DET  # a listener's answer is outside input

    try:
        root = DET.fromstring(body)
    except Exception:
        return False
    for el in root.iter():
        if el.tag.rsplit("}", 1)[-1] == "Ack":
            return (el.text or "").strip().lower() == "true"
    return False


@dataclass
class _Pending:
    notification_id: str
    sobject: str
    record_id: str
    queued_at: float
    attempts: int = 0
    due: float = 0.0


@dataclass
class OutboundSender:
    """Queues notifications and delivers them from a background thread, batching up to 100 per message."""

    url: str
    organization_id: str
    action_id: str
    enterprise_url: str
    partner_url: str
    snapshot: Callable[[str, str], dict[str, Any] | None]  # (sObject, id) -> latest fields, None if deleted
    session_id: str | None = None
    session: Callable[[], str | None] | None = None  # the SessionId as of sending (overrides ``session_id``)
    verify: bool | str = True
    batch_window_s: float = 0.05
    retry_base_s: float = 1.0
    retry_max_s: float = 7200.0
    max_age_s: float = 86400.0
    timeout_s: float = 10.0
    sent: list[bytes] = field(default_factory=list)  # every message body POSTed (for inspection)
    acked: list[str] = field(default_factory=list)  # notification ids acknowledged
    dropped: list[str] = field(default_factory=list)  # notification ids dropped after max_age_s
    _queue: list[_Pending] = field(default_factory=list)
    _cond: threading.Condition = field(default_factory=threading.Condition)
    _thread: threading.Thread | None = None
    _stop: bool = False

    def enqueue(self, notification_id: str, sobject: str, record_id: str) -> None:
        now = time.monotonic()
        with self._cond:
            self._queue.append(_Pending(notification_id, sobject, record_id, now, due=now + self.batch_window_s))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="sf-outbound", daemon=True)
                self._thread.start()
            self._cond.notify()

    def pending(self) -> int:
        with self._cond:
            return len(self._queue)

    def clear(self) -> None:
        with self._cond:
            self._queue.clear()
            self.sent.clear()
            self.acked.clear()
            self.dropped.clear()

    def close(self) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        if self._thread:
            self._thread.join(5)

    def _take_due(self) -> list[_Pending]:
        now = time.monotonic()
        expired = [p for p in self._queue if now - p.queued_at > self.max_age_s]
        for p in expired:
            self._queue.remove(p)
            self.dropped.append(p.notification_id)
        due = [p for p in self._queue if p.due <= now][:MAX_NOTIFICATIONS]
        for p in due:
            self._queue.remove(p)
        return due

    def _run(self) -> None:
        with httpx.Client(verify=self.verify, timeout=self.timeout_s) as client:
            while True:
                with self._cond:
                    while not self._stop:
                        batch = self._take_due()
                        if batch:
                            break
                        next_due = min((p.due for p in self._queue), default=None)
                        wait = None if next_due is None else max(0.0, next_due - time.monotonic())
                        self._cond.wait(wait)
                    else:
                        return
                self._deliver(client, batch)

    def _deliver(self, client: httpx.Client, batch: list[_Pending]) -> None:
        items = []
        for p in batch:
            fields = self.snapshot(p.sobject, p.record_id)
            if fields is not None:
                items.append((p.notification_id, p.sobject, fields))
        if not items:
            return
        body = build_notifications(
            organization_id=self.organization_id,
            action_id=self.action_id,
            session_id=self.session() if self.session is not None else self.session_id,
            enterprise_url=self.enterprise_url,
            partner_url=self.partner_url,
            notifications=items,
        )
        self.sent.append(body)
        ok = False
        try:
            resp = client.post(
                self.url, content=body, headers={"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '""'}
            )
            ok = resp.status_code == 200 and is_ack(resp.content)
        except httpx.HTTPError:
            ok = False
        with self._cond:
            if ok:
                self.acked.extend(p.notification_id for p in batch)
                return
            now = time.monotonic()
            for p in batch:
                p.attempts += 1
                p.due = now + min(self.retry_max_s, self.retry_base_s * 2 ** (p.attempts - 1))
                self._queue.append(p)
            self._cond.notify()
