"""normalize(): each field through its own library; bad values become flags with the raw value kept."""

from __future__ import annotations

import json
import random
from pathlib import Path

import phonenumbers
import pytest
from email_validator import EmailNotValidError, validate_email

from connector.mapping import load_source_mapping, map_payload
from connector.model import Company, Identity, Intent, Lead, Role
from connector.normalize import (
    country_code,
    department_of,
    fix_name_case,
    normalize,
    normalize_email,
    region_code,
    seniority_of,
)
from connector.normalize.people import _capitalized, _capitalized_by_nameparser
from connector.normalize.phones import _nanp

ROOT = Path(__file__).resolve().parents[2]


def lead(**groups: object) -> Lead:
    return Lead(**groups)  # type: ignore[arg-type]


def person(**fields: str | None) -> Lead:
    return Lead(identity=Identity(**fields))


# ---- email --------------------------------------------------------------------------------------------------------


def test_email_is_validated_and_lower_cased() -> None:
    out = normalize(person(email="  Dana.Whitfield@Brightwave-Health.COM "))
    assert out.identity.email == "dana.whitfield@brightwave-health.com"
    assert out.flags == ()
    assert out.company.domain == "brightwave-health.com"  # a company address names the company


@pytest.mark.parametrize(
    "bad", ["dana@", "no-at-sign", "a@b", "two@@ats.com", "x@localhost", "me@host.local", "a b@c.com"]
)
def test_invalid_email_is_flagged_and_kept_raw(bad: str) -> None:
    out = normalize(person(email=bad))
    assert out.identity.email is None
    assert out.flags == ("email_invalid",)
    assert out.extra == {"raw.identity.email": bad}


def test_free_disposable_and_role_addresses() -> None:
    free = normalize(person(email="dana.w@gmail.com"))
    assert free.flags == ("email_free",)
    assert free.company.domain is None  # gmail.com is not the company's domain
    assert normalize(person(email="x@yahoo.co.uk")).flags == ("email_free",)
    assert normalize(person(email="x@gmx.at")).flags == ("email_free",)
    assert normalize(person(email="x@mailinator.com")).flags == ("email_disposable",)
    assert normalize(person(email="sales@acme.com")).flags == ("email_role",)


@pytest.mark.parametrize(
    "address",
    ["a@b.co", "first.last+tag@sub.example.org", "O'Brien@Acme.IE", "x@xn--bcher-kva.de", "x@bücher.de",
     "user@a--b.com", "user@ab--cd.com", "user@1.2.3.4", "user@ex.123", "u@-bad.com", "u@bad-.com", "u@a..b.com",
     "jörg@example.de", "\"quoted\"@example.com", "u@" + "a" * 64 + ".com", "u@foo.onion", "u@foo.arpa"],
)
def test_email_fast_path_agrees_with_email_validator(address: str) -> None:
    try:
        expected: str | None = validate_email(address, check_deliverability=False).normalized.lower()
    except EmailNotValidError:
        expected = None
    assert normalize_email(address) == expected


# ---- phone --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("written", ["(617) 555-0148", "617.555.0148", "+1 617 555 0148", "1-617-555-0148"])
def test_us_phone_to_e164(written: str) -> None:
    out = normalize(lead(identity=Identity(phone=written), company=Company(country="United States")))
    assert out.identity.phone == "+16175550148"
    assert out.flags == ()


def test_phone_region_from_country_or_default() -> None:
    uk = normalize(lead(identity=Identity(phone="020 7946 0321"), company=Company(country="UK")))
    assert uk.identity.phone == "+442079460321"
    by_default = normalize(person(phone="030 901820"), default_country="DE")
    assert by_default.identity.phone == "+4930901820"
    assert by_default.company.country is None  # the default reads the phone; it is not a fact about the lead


def test_bad_phone_is_flagged_and_kept_raw() -> None:
    out = normalize(lead(identity=Identity(phone="555-CALL-NOW!!"), company=Company(country="US")))
    assert out.identity.phone is None
    assert out.flags == ("phone_invalid",)
    assert out.extra == {"raw.identity.phone": "555-CALL-NOW!!"}


def test_national_phone_without_any_country_is_kept_unverified() -> None:
    out = normalize(person(phone="(617) 555-0148"))
    assert out.identity.phone == "(617) 555-0148"
    assert out.flags == ("phone_unverified",)


def test_nanp_shortcut_agrees_with_phonenumbers() -> None:
    rnd = random.Random(11)
    checked = 0
    for _ in range(3000):
        digits = "".join(rnd.choice("0123456789") for _ in range(10))
        raw = rnd.choice(["{}", "({}) {}-{}", "+1 {}.{}.{}", "1-{}-{}-{}"])
        raw = raw.format(digits) if raw == "{}" else raw.format(digits[:3], digits[3:6], digits[6:])
        region = rnd.choice(["US", "CA", None])
        fast = _nanp(raw, region)
        if fast is None:
            continue
        checked += 1
        try:
            number = phonenumbers.parse(raw, region)
            slow = phonenumbers.format_number(number, 0) if phonenumbers.is_valid_number(number) else ""
        except phonenumbers.NumberParseException:
            slow = ""
        assert fast == slow, raw
    assert checked > 1000


# ---- country and region -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("written", "code"),
    [("United States", "US"), ("USA", "US"), ("u.s.a.", "US"), ("United Kingdom", "GB"), ("UK", "GB"),
     ("GBR", "GB"), ("gb", "GB"), ("Deutschland", "DE"), ("Germany", "DE"), ("Côte d'Ivoire", "CI"),
     ("Ivory Coast", "CI"), ("South Korea", "KR"), ("Türkiye", "TR"), ("Turkey", "TR"), ("nl", "NL")],
)
def test_country_codes(written: str, code: str) -> None:
    assert country_code(written) == code


def test_unknown_country_is_flagged() -> None:
    out = normalize(lead(company=Company(country="Narnia")))
    assert out.company.country is None
    assert out.flags == ("country_unknown",)
    assert out.extra == {"raw.company.country": "Narnia"}


@pytest.mark.parametrize(("written", "country", "code"), [
    ("NY", "US", "US-NY"), ("New York", "US", "US-NY"), ("us-ny", "US", "US-NY"), ("California", "US", "US-CA"),
    ("ON", "CA", "CA-ON"), ("Bayern", "DE", "DE-BY"), ("Île-de-France", "FR", "FR-IDF"), ("US-TX", None, "US-TX"),
])
def test_region_codes(written: str, country: str | None, code: str) -> None:
    assert region_code(written, country) == code


def test_region_in_context() -> None:
    out = normalize(lead(company=Company(country="United States", region="Massachusetts")))
    assert (out.company.country, out.company.region) == ("US", "US-MA")
    implied = normalize(lead(company=Company(region="US-NY")))
    assert (implied.company.country, implied.company.region) == ("US", "US-NY")
    by_default = normalize(lead(company=Company(region="NY")), default_country="US")
    assert (by_default.company.country, by_default.company.region) == ("US", "US-NY")
    unknown = normalize(lead(company=Company(country="US", region="Gotham")))
    assert unknown.company.region is None and unknown.flags == ("region_unknown",)
    assert unknown.extra == {"raw.company.region": "Gotham"}
    bare = normalize(lead(company=Company(region="NY")))
    assert bare.flags == ("region_unknown",)  # no country to read "NY" in


# ---- names, role, company -----------------------------------------------------------------------------------------


def test_names() -> None:
    out = normalize(person(full_name="  ana  DE LA cruz "))
    assert out.identity.full_name == "ana DE LA cruz"
    assert (out.identity.first_name, out.identity.last_name) == ("Ana", "DE LA cruz")  # mixed case: as written
    caps = normalize(person(first_name="JOHN", last_name="MCDONALD"))
    assert (caps.identity.first_name, caps.identity.last_name) == ("John", "McDonald")
    lower = normalize(person(first_name="mary", last_name="o'neil"))
    assert (lower.identity.first_name, lower.identity.last_name) == ("Mary", "O'Neil")
    kept = normalize(person(first_name="DeShawn", last_name="van Buren", full_name="Someone Else"))
    assert (kept.identity.first_name, kept.identity.last_name) == ("DeShawn", "van Buren")
    assert fix_name_case("VAN DER BERG", last=True) == "van der Berg"


def test_capitalisation_shortcut_agrees_with_nameparser() -> None:
    words = ["JOHN", "mary", "SMITH", "MACDONALD", "mcintyre", "VAN", "de", "III", "JR", "O'NEIL", "ANNE-MARIE",
             "ZOË", "li", "NG", "DR", "PHD", "bsc", "ESQ"]
    for word in words:
        for last in (False, True):
            assert _capitalized(word, last) == _capitalized_by_nameparser(word, last), word


@pytest.mark.parametrize(("title", "seniority", "department"), [
    ("Chief Revenue Officer", "c_level", "sales"),
    ("CEO & Co-Founder", "c_level", "executive"),
    ("VP of Marketing", "vp", "marketing"),
    ("Senior Vice President, Engineering", "vp", "engineering"),
    ("Head of RevOps", "director", "operations"),
    ("Director of IT", "director", "it"),
    ("Sales Operations Manager", "manager", "sales"),
    ("Product Owner", "individual", "product"),
    ("Software Engineer", "individual", "engineering"),
    ("Accountant", "individual", "finance"),
])
def test_title_to_seniority_and_department(title: str, seniority: str, department: str) -> None:
    assert seniority_of(title) == seniority
    assert department_of(title) == department


def test_role_given_seniority_is_respected() -> None:
    out = normalize(lead(role=Role(title="Engineer", seniority="VP")))
    assert out.role.seniority == "vp"
    odd = normalize(lead(role=Role(title="Engineer", seniority="Senior")))
    assert odd.role.seniority == "Senior"  # not ours to guess; kept as written
    derived = normalize(lead(role=Role(title="  VP   Sales ")))
    assert (derived.role.title, derived.role.seniority, derived.role.department) == ("VP Sales", "vp", "sales")


def test_company_key_and_domain() -> None:
    out = normalize(lead(company=Company(name=" I.B.M. Corp. ", website="https://www.IBM.com/about")))
    assert out.company.name == "I.B.M. Corp."
    assert out.company.normalized_name == "ibm"
    assert out.company.domain == "ibm.com"
    uk = normalize(lead(company=Company(domain="shop.Acme.co.uk")))
    assert uk.company.domain == "acme.co.uk"
    bad = normalize(lead(company=Company(domain="not a domain")))
    assert bad.company.domain is None and bad.flags == ("domain_invalid",)


def test_a_free_mail_domain_never_stands_for_the_company() -> None:
    # keys.company_domain, the rule match uses too: given as the company's domain it is kept raw and flagged ...
    given = normalize(lead(company=Company(domain="gmail.com", website="https://acme.com")))
    assert given.company.domain == "acme.com" and given.flags == ("domain_invalid",)
    assert given.extra == {"raw.company.domain": "gmail.com"}
    # ... as the website it is simply not the company's domain (the website itself is kept)
    site = normalize(lead(company=Company(website="https://www.yahoo.com/")))
    assert site.company.domain is None and site.company.website == "https://www.yahoo.com/" and site.flags == ()


def test_intent_and_postal_code_tidied() -> None:
    out = normalize(lead(intent=Intent(requests=(" Demo", "demo", "PRICING")), company=Company(postal_code="sw1a 1aa")))
    assert out.intent.requests == ("demo", "pricing")
    assert out.company.postal_code == "SW1A 1AA"


def test_existing_flags_and_extra_are_kept() -> None:
    before = Lead(identity=Identity(email="bad@"), flags=("company.size_unparsed",), extra={"gclid": "x"})
    out = normalize(before)
    assert out.flags == ("company.size_unparsed", "email_invalid")
    assert out.extra == {"gclid": "x", "raw.identity.email": "bad@"}
    assert normalize(out) == out


# ---- the shipped fixtures end to end ------------------------------------------------------------------------------


@pytest.mark.parametrize(("mapping", "fixture", "expect"), [
    ("website", "website_form", {"email": "dana.whitfield@brightwave-health.com", "phone": "+16175550148",
                                 "country": "US", "region": "US-MA", "domain": "brightwave-health.com",
                                 "key": "brightwavehealth", "seniority": "vp"}),
    ("typeform_demo", "typeform_form_response", {"email": "lukas.brandt@kessler-logistik.de",
                                                 "phone": "+4930901820", "country": "DE", "region": None,
                                                 "domain": "kessler-logistik.de", "key": "kesslerlogistik",
                                                 "seniority": "director"}),
    ("hubspot_contact", "hubspot_contact", {"email": "mreyes@harborpointsoftware.com", "phone": "+14155550133",
                                            "country": "US", "region": "US-CA", "domain": "harborpointsoftware.com",
                                            "key": "harborpointsoftware", "seniority": "director"}),
    ("salesforce_lead", "salesforce_lead", {"email": "priya.raman@meridianbank.co.uk", "phone": "+442079460321",
                                            "country": "GB", "region": "GB-LND", "domain": "meridianbank.co.uk",
                                            "key": "meridianbank", "seniority": "c_level"}),
])
def test_fixtures_normalize(mapping: str, fixture: str, expect: dict[str, str | None]) -> None:
    payload = json.loads((ROOT / "tests" / "fixtures" / f"{fixture}.json").read_text(encoding="utf-8"))
    out = normalize(map_payload(payload, load_source_mapping(ROOT / "mappings" / "sources" / f"{mapping}.yaml")))
    got = {"email": out.identity.email, "phone": out.identity.phone, "country": out.company.country,
           "region": out.company.region, "domain": out.company.domain, "key": out.company.normalized_name,
           "seniority": out.role.seniority}
    assert got == expect
    assert out.flags == ()
    assert normalize(out) == out
