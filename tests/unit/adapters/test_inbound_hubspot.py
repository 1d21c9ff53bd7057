"""HubSpot Webhooks v3: signature and replay window, event batch parsing, contact deliveries.

Events come from the HubSpot sandbox itself (its contact writes emit them), signed with its ``sign_v3``.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import msgspec
import pytest

from adapters.hubspot.webhook import HubSpotEvent, canonical_uri, event_deliveries, parse_events, verify
from connector.errors import InputError, SignatureError
from sandbox.common import Faults
from sandbox.hubspot import HubSpotSandbox
from sandbox.hubspot_webhooks import sign_v3

SECRET = "hubspot-client-secret"
URI = "https://relay.example.com/webhooks/hubspot"
NOW = 1_726_000_000.0
WHEN = datetime(2024, 9, 18, 9, 16, tzinfo=UTC)
APP_ID = 1234567


class Capture:
    """Stands in for the sandbox's HTTP emitter: keeps the events it would have POSTed."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def emit(self, event: dict[str, Any]) -> None:
        self.events.append({**event, "attemptNumber": 0})

    def clear(self) -> None:
        self.events.clear()

    def close(self) -> None:
        pass


def sandbox_events() -> list[dict[str, Any]]:
    """A contact created through the API, then edited in HubSpot's UI: creation + propertyChange events."""
    hs = HubSpotSandbox(Faults(), app_id=APP_ID)
    capture = Capture()
    hs.webhooks = capture  # type: ignore[assignment]
    rec = hs._create("contacts", {"email": "Ana@Example.com", "firstname": "Ana", "lastname": "Silva"})
    hs.ui_update(rec["id"], {"jobtitle": "CFO"}, user_id=42)
    return capture.events


def signed(body: bytes, *, uri: str = URI, at: float = NOW, method: str = "POST") -> dict[str, str]:
    stamp = str(int(at * 1000))
    return {"X-HubSpot-Signature-v3": sign_v3(SECRET, method, uri, body, stamp), "X-HubSpot-Request-Timestamp": stamp}


def body_of(events: list[dict[str, Any]]) -> bytes:
    return json.dumps(events, separators=(",", ":")).encode()  # as the sandbox's emitter sends them


@pytest.fixture(scope="module")
def events() -> list[dict[str, Any]]:
    return sandbox_events()


# ---- signature ------------------------------------------------------------------------------------------------


def test_sandbox_signed_request_verifies(events: list[dict[str, Any]]) -> None:
    body = body_of(events)
    verify(SECRET, "POST", URI, signed(body), body, now=NOW + 10)
    lower = {k.lower(): v for k, v in signed(body).items()}
    verify(SECRET, "POST", URI, lower, body, now=NOW)


def test_wrong_secret_method_or_uri_fails(events: list[dict[str, Any]]) -> None:
    body = body_of(events)
    with pytest.raises(SignatureError):
        verify("other-secret", "POST", URI, signed(body), body, now=NOW)
    with pytest.raises(SignatureError):
        verify(SECRET, "PUT", URI, signed(body), body, now=NOW)
    with pytest.raises(SignatureError):
        verify(SECRET, "POST", URI + "/x", signed(body), body, now=NOW)


def test_tampered_body_fails(events: list[dict[str, Any]]) -> None:
    body = body_of(events)
    with pytest.raises(SignatureError, match="does not match"):
        verify(SECRET, "POST", URI, signed(body), body.replace(b"CFO", b"CEO"), now=NOW)


def test_stale_timestamp_fails(events: list[dict[str, Any]]) -> None:
    body = body_of(events)
    verify(SECRET, "POST", URI, signed(body, at=NOW - 299), body, now=NOW)
    with pytest.raises(SignatureError, match="stale"):
        verify(SECRET, "POST", URI, signed(body, at=NOW - 301), body, now=NOW)


def test_future_timestamp_fails(events: list[dict[str, Any]]) -> None:
    body = body_of(events)
    with pytest.raises(SignatureError, match="future"):
        verify(SECRET, "POST", URI, signed(body, at=NOW + 301), body, now=NOW)


def test_replayed_signature_with_new_timestamp_fails(events: list[dict[str, Any]]) -> None:
    body = body_of(events)
    old = signed(body, at=NOW - 3600)
    replay = {**old, "X-HubSpot-Request-Timestamp": str(int(NOW * 1000))}
    with pytest.raises(SignatureError, match="does not match"):
        verify(SECRET, "POST", URI, replay, body, now=NOW)


@pytest.mark.parametrize("drop", ["X-HubSpot-Signature-v3", "X-HubSpot-Request-Timestamp"])
def test_missing_header_fails(events: list[dict[str, Any]], drop: str) -> None:
    body = body_of(events)
    headers = signed(body)
    del headers[drop]
    with pytest.raises(SignatureError, match="missing"):
        verify(SECRET, "POST", URI, headers, body, now=NOW)


def test_non_numeric_timestamp_fails(events: list[dict[str, Any]]) -> None:
    body = body_of(events)
    headers = {**signed(body), "X-HubSpot-Request-Timestamp": "soon"}
    with pytest.raises(SignatureError):
        verify(SECRET, "POST", URI, headers, body, now=NOW)


def test_uri_escapes_are_decoded_before_signing_as_hubspot_does() -> None:
    # HubSpot signs the decoded URI; a proxy or framework may hand us the %-encoded form
    assert canonical_uri("https://x.example/hook%3Fa?c=%40d%2C%2a%3B") == "https://x.example/hook?a?c=@d,*;"
    assert canonical_uri("https://x.example/p?q=a%20b%26c%3D") == "https://x.example/p?q=a%20b%26c%3D"  # not listed
    body = b"[]"
    headers = signed(body, uri="https://relay.example.com/webhooks/hubspot?portal=1:2&tag=a@b")
    verify(SECRET, "POST", "https://relay.example.com/webhooks/hubspot?portal=1%3A2&tag=a%40b", headers, body, now=NOW)


# ---- events ---------------------------------------------------------------------------------------------------


def test_sandbox_events_parse(events: list[dict[str, Any]]) -> None:
    parsed = parse_events(body_of(events))
    kinds = [e.subscription_type for e in parsed]
    assert kinds[0] == "contact.creation" and "contact.propertyChange" in kinds
    creation = parsed[0]
    assert creation.portal_id == 12345678 and creation.app_id == APP_ID
    assert (creation.change_source, creation.source_id) == ("INTEGRATION", str(APP_ID))
    ui = [e for e in parsed if e.property_name == "jobtitle"]
    assert len(ui) == 1 and ui[0].property_value == "CFO" and ui[0].source_id == "userId:42"
    assert all(e.object_id == creation.object_id for e in parsed)


def test_deliveries_one_per_contact_event_with_stable_ids(events: list[dict[str, Any]]) -> None:
    other = {**events[0], "eventId": 999, "subscriptionType": "company.creation"}
    parsed = parse_events(body_of([*events, other]))
    deliveries = event_deliveries(parsed, received_at=WHEN)
    assert len(deliveries) == len(events)  # the company event is ignored
    d = deliveries[0]
    assert (d.source, d.form, d.received_at) == ("hubspot", None, WHEN)
    assert d.delivery_id == f"{events[0]['eventId']}:{events[0]['occurredAt']}"
    assert msgspec.convert(d.payload, HubSpotEvent) == parsed[0]  # payload round-trips to the event
    # HubSpot's retry: same events, attemptNumber 1 -> the same delivery ids
    retried = parse_events(body_of([{**e, "attemptNumber": 1} for e in events]))
    assert [x.delivery_id for x in event_deliveries(retried, received_at=WHEN)] == [x.delivery_id for x in deliveries]
    assert len({x.delivery_id for x in deliveries}) == len(deliveries)


def test_prismatic_style_payload_parses() -> None:
    body = (b'[{"eventId":1,"subscriptionId":12345,"portalId":62515,"occurredAt":1564113600000,'
            b'"subscriptionType":"contact.creation","attemptNumber":0,"objectId":123,"changeSource":"CRM",'
            b'"changeFlag":"NEW","appId":54321}]')
    (e,) = parse_events(body)
    assert (e.event_id, e.object_id, e.occurred_at, e.property_name) == (1, 123, 1564113600000, None)


def test_more_than_100_events_is_an_input_error(events: list[dict[str, Any]]) -> None:
    many = [{**events[0], "eventId": i} for i in range(101)]
    with pytest.raises(InputError) as err:
        parse_events(body_of(many))
    assert err.value.field == "body"
    assert len(parse_events(body_of(many[:100]))) == 100


def test_wrong_type_names_the_event_and_field(events: list[dict[str, Any]]) -> None:
    batch = [dict(e) for e in events] + [{**events[0], "objectId": "abc"}]
    with pytest.raises(InputError) as err:
        parse_events(body_of(batch))
    assert err.value.field == f"[{len(events)}].objectId"


def test_missing_field_names_it(events: list[dict[str, Any]]) -> None:
    broken = {k: v for k, v in events[0].items() if k != "eventId"}
    with pytest.raises(InputError) as err:
        parse_events(body_of([events[0], broken]))
    assert err.value.field == "[1].eventId"


@pytest.mark.parametrize("body", [b"", b"[", b"{}", b'{"eventId": 1}', b"[]", b"\xff"])
def test_unparsable_or_empty_body_is_an_input_error_on_body(body: bytes) -> None:
    with pytest.raises(InputError) as err:
        parse_events(body)
    assert err.value.field == "body"
