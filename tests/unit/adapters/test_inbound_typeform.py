"""Typeform webhooks: signature, payload shape checks, and the fixture through the typeform_demo mapping."""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from adapters.forms import typeform
from connector.config import Config
from connector.errors import InputError, SignatureError
from connector.pipeline import ingest, ingest_delivery

ROOT = Path(__file__).resolve().parents[3]
FIXTURE = (ROOT / "tests" / "fixtures" / "typeform_form_response.json").read_bytes()
SECRET = "tf-webhook-secret"
WHEN = datetime(2024, 9, 18, 9, 16, tzinfo=UTC)



def body_of(data: dict[str, Any]) -> bytes:
    return json.dumps(data).encode()


def fixture() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(FIXTURE)
    return data


def test_sign_is_base64_hmac_sha256_of_the_raw_body() -> None:
    expected = base64.b64encode(hmac.new(SECRET.encode(), FIXTURE, hashlib.sha256).digest()).decode()
    assert typeform.sign(SECRET, FIXTURE) == f"sha256={expected}"


def test_valid_signature_passes_with_any_header_case() -> None:
    sig = typeform.sign(SECRET, FIXTURE)
    typeform.verify(SECRET, {"Typeform-Signature": sig}, FIXTURE)
    typeform.verify(SECRET, {"typeform-signature": sig}, FIXTURE)


def test_wrong_secret_and_tampered_body_fail() -> None:
    sig = typeform.sign(SECRET, FIXTURE)
    with pytest.raises(SignatureError):
        typeform.verify("other", {"Typeform-Signature": sig}, FIXTURE)
    with pytest.raises(SignatureError):
        typeform.verify(SECRET, {"Typeform-Signature": sig}, FIXTURE.replace(b"Lukas", b"Lucas"))


@pytest.mark.parametrize("headers", [{}, {"Typeform-Signature": ""}, {"X-Other": "sha256=abc"}])
def test_missing_header_fails(headers: dict[str, str]) -> None:
    with pytest.raises(SignatureError, match="missing"):
        typeform.verify(SECRET, headers, FIXTURE)


def test_signature_without_scheme_prefix_fails() -> None:
    bare = typeform.sign(SECRET, FIXTURE).removeprefix("sha256=")
    with pytest.raises(SignatureError, match="sha256="):
        typeform.verify(SECRET, {"Typeform-Signature": bare}, FIXTURE)


def test_fixture_delivery_ingests_with_the_typeform_demo_mapping(config: Config) -> None:
    d = typeform.typeform_delivery("typeform_demo", FIXTURE, received_at=WHEN)
    assert (d.source, d.form, d.delivery_id) == ("typeform", "typeform_demo", "01J7Z3K9QW4T6M8R2V5X0B1C3D")
    assert d.payload == fixture()  # kept whole: the mapping reads event_id and form_response.*
    lead = ingest(d.payload, config, mapping="typeform_demo")
    assert lead.identity.email == "lukas.brandt@kessler-logistik.de"
    assert lead.identity.first_name == "Lukas"
    assert lead.company.name == "Kessler Logistik GmbH"
    assert ingest_delivery(d, config).origin.delivery_id == d.delivery_id


def test_redelivery_has_the_same_id() -> None:
    a = typeform.typeform_delivery("typeform_demo", FIXTURE, received_at=WHEN)
    b = typeform.typeform_delivery("typeform_demo", FIXTURE, received_at=datetime.now(UTC))
    assert a.delivery_id == b.delivery_id


def _broken(change: str) -> dict[str, Any]:
    data = fixture()
    if change == "no event_id":
        del data["event_id"]
    elif change == "empty event_id":
        data["event_id"] = ""
    elif change == "event_type":
        data["event_type"] = "form_partial_response"
    elif change == "no form_response":
        del data["form_response"]
    elif change == "answers dict":
        data["form_response"]["answers"] = {}
    elif change == "no answers":
        del data["form_response"]["answers"]
    elif change == "answer ref":
        del data["form_response"]["answers"][2]["field"]["ref"]
    elif change == "answer field":
        data["form_response"]["answers"][4]["field"] = "company"
    elif change == "answer type":
        del data["form_response"]["answers"][1]["type"]
    elif change == "answer scalar":
        data["form_response"]["answers"][0] = "Lukas"
    return data


@pytest.mark.parametrize(("change", "field"), [
    ("no event_id", "event_id"),
    ("empty event_id", "event_id"),
    ("event_type", "event_type"),
    ("no form_response", "form_response"),
    ("answers dict", "form_response.answers"),
    ("no answers", "form_response.answers"),
    ("answer ref", "form_response.answers[2].field.ref"),
    ("answer field", "form_response.answers[4].field"),
    ("answer type", "form_response.answers[1].type"),
    ("answer scalar", "form_response.answers[0]"),
])
def test_malformed_payload_names_the_field(change: str, field: str) -> None:
    with pytest.raises(InputError) as err:
        typeform.typeform_delivery("typeform_demo", body_of(_broken(change)), received_at=WHEN)
    assert err.value.field == field


@pytest.mark.parametrize("body", [b"", b"{", b"[]", b"\xff\xfe", b'"x"'])
def test_unparsable_body_is_an_input_error_on_body(body: bytes) -> None:
    with pytest.raises(InputError) as err:
        typeform.typeform_delivery("typeform_demo", body, received_at=WHEN)
    assert err.value.field == "body"


def test_empty_answers_list_is_accepted() -> None:
    data = copy.deepcopy(fixture())
    data["form_response"]["answers"] = []
    assert typeform.typeform_delivery("t", body_of(data), received_at=WHEN).payload["form_response"]["answers"] == []
