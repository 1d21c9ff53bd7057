"""Standard Webhooks signatures and website form parsing (JSON and urlencoded), through the real mapping."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlencode

import pytest

from adapters.forms import standard_webhooks as sw
from adapters.forms.form import form_delivery, parse_form
from connector.config import Config
from connector.errors import InputError, SignatureError
from connector.pipeline import ingest, ingest_delivery

ROOT = Path(__file__).resolve().parents[3]
FIXTURE = (ROOT / "tests" / "fixtures" / "website_form.json").read_bytes()
SECRET = "whsec_" + base64.b64encode(b"a-32-byte-key-for-form-webhooks!").decode()
NOW = 1_726_000_000
WHEN = datetime(2024, 9, 17, 14, 5, tzinfo=UTC)



# ---- Standard Webhooks ---------------------------------------------------------------------------------------


def test_signed_delivery_verifies_and_returns_the_webhook_id() -> None:
    headers = sw.sign(SECRET, "msg_2Lz", NOW, FIXTURE)
    assert set(headers) == {"webhook-id", "webhook-timestamp", "webhook-signature"}
    assert headers["webhook-signature"].startswith("v1,")
    assert sw.verify(SECRET, headers, FIXTURE, now=NOW + 5) == "msg_2Lz"


def test_known_vector_from_the_standard_webhooks_spec() -> None:
    # the reference libraries' test vector (standard-webhooks, python/tests)
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    body = b'{"test": 2432232314}'
    headers = sw.sign(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body)
    assert headers["webhook-signature"] == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_header_lookup_ignores_case() -> None:
    headers = {k.title(): v for k, v in sw.sign(SECRET, "msg_1", NOW, FIXTURE).items()}
    assert sw.verify(SECRET, headers, FIXTURE, now=NOW) == "msg_1"


def test_rotation_list_any_matching_signature_passes() -> None:
    good = sw.sign(SECRET, "msg_1", NOW, FIXTURE)
    old = sw.sign("whsec_" + base64.b64encode(b"old-key").decode(), "msg_1", NOW, FIXTURE)
    headers = {**good, "webhook-signature": f"{old['webhook-signature']} v1a,xyz {good['webhook-signature']}"}
    assert sw.verify(SECRET, headers, FIXTURE, now=NOW) == "msg_1"


def test_raw_secret_without_prefix_is_utf8_key() -> None:
    headers = sw.sign("plain-secret", "msg_1", NOW, FIXTURE)
    assert sw.verify("plain-secret", headers, FIXTURE, now=NOW) == "msg_1"
    with pytest.raises(SignatureError):
        sw.verify("whsec_" + base64.b64encode(b"plain-secret").decode() + "x", headers, FIXTURE, now=NOW)


def test_wrong_secret_fails() -> None:
    headers = sw.sign(SECRET, "msg_1", NOW, FIXTURE)
    with pytest.raises(SignatureError, match="no webhook-signature matches"):
        sw.verify("whsec_" + base64.b64encode(b"another key").decode(), headers, FIXTURE, now=NOW)


def test_tampered_body_fails() -> None:
    headers = sw.sign(SECRET, "msg_1", NOW, FIXTURE)
    with pytest.raises(SignatureError):
        sw.verify(SECRET, headers, FIXTURE.replace(b"Dana", b"Dina"), now=NOW)


def test_tampered_id_or_timestamp_fails() -> None:
    headers = sw.sign(SECRET, "msg_1", NOW, FIXTURE)
    with pytest.raises(SignatureError):
        sw.verify(SECRET, {**headers, "webhook-id": "msg_2"}, FIXTURE, now=NOW)
    with pytest.raises(SignatureError):
        sw.verify(SECRET, {**headers, "webhook-timestamp": str(NOW + 1)}, FIXTURE, now=NOW)


def test_stale_timestamp_fails() -> None:
    headers = sw.sign(SECRET, "msg_1", NOW, FIXTURE)
    assert sw.verify(SECRET, headers, FIXTURE, now=NOW + 300) == "msg_1"
    with pytest.raises(SignatureError, match="stale"):
        sw.verify(SECRET, headers, FIXTURE, now=NOW + 301)
    with pytest.raises(SignatureError, match="stale"):
        sw.verify(SECRET, headers, FIXTURE, now=NOW + 61, tolerance_s=60)


def test_future_timestamp_fails() -> None:
    headers = sw.sign(SECRET, "msg_1", NOW, FIXTURE)
    with pytest.raises(SignatureError, match="future"):
        sw.verify(SECRET, headers, FIXTURE, now=NOW - 301)


@pytest.mark.parametrize("drop", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_missing_header_fails(drop: str) -> None:
    headers = sw.sign(SECRET, "msg_1", NOW, FIXTURE)
    del headers[drop]
    with pytest.raises(SignatureError, match=drop):
        sw.verify(SECRET, headers, FIXTURE, now=NOW)


@pytest.mark.parametrize("sig", ["", "v1,", "v1,not base64!!", "v2,abc", "garbage"])
def test_malformed_signature_header_fails(sig: str) -> None:
    headers = {**sw.sign(SECRET, "msg_1", NOW, FIXTURE), "webhook-signature": sig}
    with pytest.raises(SignatureError):
        sw.verify(SECRET, headers, FIXTURE, now=NOW)


def test_non_numeric_timestamp_fails() -> None:
    headers = {**sw.sign(SECRET, "msg_1", NOW, FIXTURE), "webhook-timestamp": "yesterday"}
    with pytest.raises(SignatureError, match="timestamp"):
        sw.verify(SECRET, headers, FIXTURE, now=NOW)


# ---- form bodies ----------------------------------------------------------------------------------------------


def test_json_fixture_parses_and_ingests_with_the_website_mapping(config: Config) -> None:
    d = form_delivery("website", FIXTURE, "application/json; charset=utf-8", delivery_id="msg_1", received_at=WHEN)
    assert (d.source, d.form, d.delivery_id, d.received_at) == ("form", "website", "msg_1", WHEN)
    assert d.payload == json.loads(FIXTURE)
    lead = ingest(d.payload, config, mapping="website")
    assert lead.identity.email == "dana.whitfield@brightwave-health.com"
    assert ingest_delivery(d, config).origin.delivery_id == "msg_1"


def test_urlencoded_body_ingests_the_same_lead(config: Config) -> None:
    data = json.loads(FIXTURE)
    body = urlencode(data).encode()
    payload = parse_form(body, "application/x-www-form-urlencoded")
    assert payload == data
    assert ingest(payload, config, mapping="website").identity.email == "dana.whitfield@brightwave-health.com"


def test_urlencoded_repeated_keys_become_a_list_and_blanks_are_kept() -> None:
    body = b"email=a%40b.example&interest=demo&interest=pricing&interest=trial&notes=&name=J%C3%BCrgen+M"
    assert parse_form(body, "application/x-www-form-urlencoded; charset=UTF-8") == {
        "email": "a@b.example", "interest": ["demo", "pricing", "trial"], "notes": "", "name": "Jürgen M"}


def test_unsigned_resubmission_gets_the_same_id_and_a_different_body_does_not() -> None:
    a = form_delivery("website", FIXTURE, "application/json", delivery_id=None, received_at=WHEN)
    b = form_delivery("website", FIXTURE, "application/json", delivery_id=None, received_at=datetime.now(UTC))
    c = form_delivery("website", FIXTURE + b" ", "application/json", delivery_id=None, received_at=WHEN)
    other_form = form_delivery("pricing", FIXTURE, "application/json", delivery_id=None, received_at=WHEN)
    assert a.delivery_id == b.delivery_id
    assert len(a.delivery_id) == 64
    assert len({a.delivery_id, c.delivery_id, other_form.delivery_id}) == 3


def test_signed_redelivery_keeps_the_webhook_id() -> None:
    headers = sw.sign(SECRET, "msg_same", NOW, FIXTURE)
    ids = {form_delivery("website", FIXTURE, "application/json", received_at=WHEN,
                         delivery_id=sw.verify(SECRET, headers, FIXTURE, now=NOW + i)).delivery_id for i in range(3)}
    assert ids == {"msg_same"}


@pytest.mark.parametrize("body", [b"[1, 2]", b'"text"', b"null", b"{not json", b"", b'{"a": "\xff"}'])
def test_bad_json_body_is_an_input_error_on_body(body: bytes) -> None:
    with pytest.raises(InputError) as err:
        parse_form(body, "application/json")
    assert err.value.field == "body"


def test_bad_urlencoded_utf8_is_an_input_error_on_body() -> None:
    for body in (b"name=%FF%FE", b"name=\xff"):
        with pytest.raises(InputError) as err:
            parse_form(body, "application/x-www-form-urlencoded")
        assert err.value.field == "body"


@pytest.mark.parametrize("ctype", ["", "text/plain", "multipart/form-data; boundary=x", "application/xml"])
def test_unsupported_content_type_names_the_header(ctype: str) -> None:
    with pytest.raises(InputError) as err:
        form_delivery("website", FIXTURE, ctype, delivery_id=None, received_at=WHEN)
    assert err.value.field == "content-type"


# ---- webhook-id (issue 17): the sender's id is an idempotency key, a Redis key part and, in a dead letter's replay
# command, text an operator pastes into a shell; only [A-Za-z0-9_.:-]{1,128} is taken ----------------------------


@pytest.mark.parametrize("msg_id", ["m" * 129, "msg 1", "msg;rm -rf ~", "$(touch /tmp/x)", "msg_1\n", "msg'1",
                                    "msg/1", "mség"])
def test_a_webhook_id_outside_the_allowed_shape_is_400_naming_the_header(msg_id: str) -> None:
    headers = sw.sign(SECRET, msg_id, NOW, FIXTURE)
    with pytest.raises(InputError) as refused:
        sw.verify(SECRET, headers, FIXTURE, now=NOW)
    assert refused.value.field == "webhook-id"
    assert "webhook-id" in refused.value.message


def test_a_webhook_id_of_the_allowed_shape_is_taken() -> None:
    msg_id = "msg_2Lz.A-b:" + "z" * 116
    assert len(msg_id) == 128
    assert sw.verify(SECRET, sw.sign(SECRET, msg_id, NOW, FIXTURE), FIXTURE, now=NOW) == msg_id
