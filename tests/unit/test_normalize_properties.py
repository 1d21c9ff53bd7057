"""Property tests: normalize never raises on any text in any field, and normalizing twice changes nothing."""

from __future__ import annotations

from typing import Any

from email_validator import EmailNotValidError, validate_email
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connector.mapping import load_source_mapping, map_payload
from connector.model import Company, Consent, Identity, Intent, Lead, Origin, Role
from connector.normalize import normalize, normalize_email
from connector.normalize.people import _capitalized, _capitalized_by_nameparser

SETTINGS = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Arbitrary text, mixed with values shaped like the real thing so the interesting paths run too.
anything = st.text(max_size=40)
maybe_text = st.none() | anything
emails = st.none() | anything | st.emails().map(str) | st.builds(
    lambda a, b: f"{a}@{b}", st.text(max_size=12), st.sampled_from(["gmail.com", "Acme.CO.uk", "bücher.de", "x", ""])
)
phones = st.none() | anything | st.from_regex(r"\+?[0-9 ()\-.]{4,20}", fullmatch=True) | st.sampled_from(
    ["(617) 555-0148", "+44 20 7946 0321", "030 901820", "+1 415 555 0133 ext. 12", "00 33 1 23 45 67 89"]
)
countries = st.none() | anything | st.sampled_from(["US", "USA", "United Kingdom", "uk", "Deutschland", "GBR", "xx"])
regions = st.none() | anything | st.sampled_from(["NY", "New York", "US-CA", "Bayern", "ON", "gb-lnd", "-", "US-"])
names = st.none() | anything | st.sampled_from(["JOHN", "mcdonald", "o'neil", "VAN DER BERG", "ǅemal", "ß", "İ"])
websites = st.none() | anything | st.sampled_from(["https://www.Acme.com/x", "acme.co.uk", "localhost", "http://"])

leads = st.builds(
    Lead,
    identity=st.builds(Identity, email=emails, phone=phones, first_name=names, last_name=names, full_name=maybe_text),
    company=st.builds(
        Company, name=maybe_text, normalized_name=maybe_text, domain=websites, website=websites,
        industry=maybe_text, country=countries, region=regions, postal_code=maybe_text, city=maybe_text,
        size=st.none() | st.integers(), revenue=st.none() | st.floats(allow_nan=False),
    ),
    role=st.builds(Role, title=maybe_text, seniority=maybe_text, department=maybe_text),
    origin=st.builds(Origin, utm_source=maybe_text, utm_medium=maybe_text, utm_campaign=maybe_text,
                     referrer=maybe_text),
    consent=st.builds(Consent, basis=maybe_text),
    intent=st.builds(Intent, requests=st.lists(anything, max_size=3).map(tuple), message=maybe_text),
    extra=st.dictionaries(st.text(max_size=10), st.text(max_size=10), max_size=2),
    flags=st.lists(st.sampled_from(["email_invalid", "company.size_unparsed"]), unique=True).map(tuple),
)
default_countries = st.none() | st.sampled_from(["US", "GB", "DE", "CA", "ZZ"])


@SETTINGS
@given(leads, default_countries)
def test_normalize_never_raises_and_is_idempotent(lead: Lead, default_country: str | None) -> None:
    once = normalize(lead, default_country=default_country)
    assert normalize(once, default_country=default_country) == once
    # nothing the sender gave is dropped: a cleared email/phone/country is kept under raw.*
    for path, value in (("identity.email", lead.identity.email), ("identity.phone", lead.identity.phone),
                        ("company.country", lead.company.country)):
        group, _, field = path.partition(".")
        if value is not None and value.strip() and getattr(getattr(once, group), field) is None:
            assert value in once.extra.values()


@SETTINGS
@given(st.emails().map(str) | st.from_regex(r"[A-Za-z0-9.+_'-]{1,20}@[A-Za-z0-9.-]{1,30}", fullmatch=True))
def test_email_fast_path_gives_email_validators_verdict(address: str) -> None:
    try:
        expected: str | None = validate_email(address, check_deliverability=False).normalized.lower()
    except EmailNotValidError:
        expected = None
    assert normalize_email(address) == expected


@SETTINGS
@given(st.from_regex(r"[A-Za-z]{1,12}", fullmatch=True), st.booleans())
def test_capitalisation_shortcut_gives_nameparsers_answer(word: str, last: bool) -> None:
    for variant in (word.upper(), word.lower()):
        assert _capitalized(variant, last) == _capitalized_by_nameparser(variant, last)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=10,
)
WEBSITE = load_source_mapping("mappings/sources/website.yaml")
TYPEFORM = load_source_mapping("mappings/sources/typeform_demo.yaml")
keys = st.sampled_from(["email", "name", "phone", "company_size", "consent", "interest", "submitted_at", "country",
                        "annual_revenue", "first_name", "x"]) | st.text(max_size=8)


@SETTINGS
@given(st.dictionaries(keys, json_values, max_size=8))
def test_map_then_normalize_never_raises_on_any_json(payload: dict[str, Any]) -> None:
    for mapping in (WEBSITE, TYPEFORM):
        out = normalize(map_payload(payload, mapping))
        assert normalize(out) == out
