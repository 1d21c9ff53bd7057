"""The HubSpot sandbox's outbound webhooks: signed v3, batched <= 100 events, retried after a failure."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from adapters.hubspot.client import HubSpotCrm
from connector.ports import WriteItem
from sandbox.hubspot_webhooks import sign_v3
from sandbox.server import SandboxServer

TOKEN = "pat-webhook-test"
SECRET = "client-secret-for-tests"
APP_ID = 424242


class Receiver:
    """A plain HTTP endpoint on loopback that records deliveries; answers ``fail_first`` of them with 500."""

    def __init__(self, fail_first: int = 0) -> None:
        self.requests: list[dict[str, Any]] = []
        self.fail_first = fail_first
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                failing = len(receiver.requests) <= receiver.fail_first
                self.send_response(500 if failing else 204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks/hubspot?tenant=demo"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def events(self) -> list[dict[str, Any]]:
        return [e for r in self.requests for e in json.loads(r["body"])]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.server.shutdown()


def _sandbox(url: str, **extra: Any) -> SandboxServer:
    return SandboxServer(hubspot={"token": TOKEN, "webhook_url": url, "client_secret": SECRET, "app_id": APP_ID,
                                  "webhook_properties": ["lifecyclestage", "hubspot_owner_id"], **extra})


def test_api_writes_arrive_as_signed_v3_webhooks_marked_with_our_app_id(receiver: Receiver) -> None:
    with _sandbox(receiver.url) as s:
        crm = HubSpotCrm(token=TOKEN, base_url=s.url, ca_bundle=str(s.ca_path))
        out = crm.write([WriteItem(key="k1", fields={"email": "ana@acme.example", "lifecyclestage": "lead"})])
        crm.write([WriteItem(key="k1", fields={"email": "ana@acme.example", "lifecyclestage": "salesqualifiedlead"})])
        assert s.hubspot.webhooks.idle(10)
        record_id = int(out[0].record_id or 0)
        s.hubspot.ui_update(str(record_id), {"hubspot_owner_id": "77"}, user_id=9)
        assert s.hubspot.webhooks.idle(10)
    for r in receiver.requests:
        ts = r["headers"]["X-HubSpot-Request-Timestamp"]
        assert r["headers"]["X-HubSpot-Signature-v3"] == sign_v3(SECRET, "POST", receiver.url, r["body"], ts)
        assert abs(int(ts) / 1000 - time.time()) < 300
    events = receiver.events()
    kinds = [(e["subscriptionType"], e.get("propertyName"), e.get("propertyValue")) for e in events]
    assert kinds == [("contact.creation", None, None), ("contact.propertyChange", "lifecyclestage", "lead"),
                     ("contact.propertyChange", "lifecyclestage", "salesqualifiedlead"),
                     ("contact.propertyChange", "hubspot_owner_id", "77")]
    assert {e["objectId"] for e in events} == {record_id}
    assert [(e["changeSource"], e["sourceId"]) for e in events[:3]] == [("INTEGRATION", str(APP_ID))] * 3
    assert (events[3]["changeSource"], events[3]["sourceId"]) == ("CRM_UI", "userId:9")
    assert len({e["eventId"] for e in events}) == 4


def test_events_come_in_arrays_of_at_most_100(receiver: Receiver) -> None:
    with _sandbox(receiver.url) as s:
        crm = HubSpotCrm(token=TOKEN, base_url=s.url, ca_bundle=str(s.ca_path))
        crm.write([WriteItem(key=f"k{i}", fields={"email": f"p{i}@acme.example", "lifecyclestage": "lead"})
                   for i in range(100)])
        assert s.hubspot.webhooks.idle(10)
    sizes = [len(json.loads(r["body"])) for r in receiver.requests]
    assert sum(sizes) == 200  # a creation and a lifecyclestage change per contact
    assert max(sizes) <= 100 and len(sizes) >= 2


def test_a_failed_delivery_is_retried_with_the_next_attempt_number() -> None:
    receiver = Receiver(fail_first=2)
    try:
        with _sandbox(receiver.url, webhook_retry_delays=(0.05, 0.05, 0.05)) as s:
            crm = HubSpotCrm(token=TOKEN, base_url=s.url, ca_bundle=str(s.ca_path))
            crm.write([WriteItem(key="k", fields={"email": "retry@acme.example"})])
            assert s.hubspot.webhooks.idle(10)
    finally:
        receiver.server.shutdown()
    attempts = [[e["attemptNumber"] for e in json.loads(r["body"])] for r in receiver.requests]
    assert attempts == [[0], [1], [2]]
