"""The speed-ups of the core give the answers of the plain code they replace.

Each shortcut (compacted index keys, the plain-host suffix lookup, the ASCII fold, a rep's local facts
remembered per ``now``) is checked against the general path on inputs that exercise its edges.
"""

import json
import random
import unicodedata
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import phonenumbers
import pytest
from phonenumbers import PhoneNumberType

from connector import keys
from connector.config import load_config
from connector.mapping import load_source_mapping, map_payload
from connector.mapping.rules import compile_mapping
from connector.match import IdentityIndex, match
from connector.model import Company, CrmRecord, Identity, Lead
from connector.normalize.phones import _valid, _valid_for_region
from connector.team import OutOfOffice, Rep, is_out_of_office, is_working, local_state, working_at

ROOT = Path(__file__).resolve().parents[2]


# ---- the index: accounts with the same identity are compared once ---------------------------------------------


def _account(rid: str, company: str, domain: str | None, owner: str = "o") -> CrmRecord:
    return CrmRecord(crm="hubspot", id=rid, kind="account", company=company, domain=domain, owner_id=owner + rid)


def _records() -> list[CrmRecord]:
    records: list[CrmRecord] = []
    for i in range(30):  # many accounts of one company, two identities (with and without a domain)
        records.append(_account(f"a{i}", "Globex Corporation", "globex.com" if i % 3 else None))
    records += [
        _account("b1", "Globex Corp", None),  # a close name, another identity
        _account("b2", "Initech", "initech.com"),
        CrmRecord(crm="hubspot", id="c1", kind="contact", email="ann@globex.com", first_name="Ann", last_name="Lee",
                  company="Globex Corporation", account_id="a7", owner_id="oc1"),  # a7 repeats a1's identity
        CrmRecord(crm="hubspot", id="c2", kind="contact", first_name="Bob", last_name="Stone",
                  company="Globex Corporation", owner_id="oc2"),
        CrmRecord(crm="salesforce", id="c2", kind="lead", first_name="Robert", last_name="Stone",
                  company="Globex Corporation", owner_id="os2"),
    ]
    return records


def _lead(first: str | None, last: str | None, email: str | None, company: str | None, domain: str | None) -> Lead:
    return Lead(identity=Identity(email=email, first_name=first, last_name=last),
                company=Company(name=company, domain=domain))


LEADS = [
    _lead("Ann", "Lee", "ann@globex.com", "Globex Corporation", "globex.com"),
    _lead("Bob", "Stone", "bob@globex.com", "Globex Corporation", None),
    _lead("Robert", "Ston", None, "Globex", "globex.com"),
    _lead("Zed", "Zee", "zed@gmail.com", "Globex Corporation", None),
    _lead("Zed", "Zee", "zed@initech.com", None, None),
    _lead(None, None, "x@nowhere.example", "Unknown Co", None),
    _lead("Ann", "Lee", None, "Globex Corp", None),
]


def test_index_match_equals_match_over_all_candidates() -> None:
    index = IdentityIndex(_records())
    for lead in LEADS:
        assert index.match(lead) == match(lead, index.candidates(lead)), lead


def test_a_persons_own_account_is_found_even_when_its_identity_repeats() -> None:
    index = IdentityIndex(_records())
    found = index.match(LEADS[0])
    assert found is not None and found.record_id == "c1"
    assert found.account_id == "a7" and found.account_owner_id == "oa7"


def test_index_changes_drop_the_compacted_keys() -> None:
    index = IdentityIndex(_records())
    before = index.match(LEADS[3])
    assert before is not None and before.record_id == "a0"
    index.remove("hubspot", "a0")  # the first account of the company goes: the next one wins
    after = index.match(LEADS[3])
    assert after is not None and after.record_id == "a1"
    index.add(_account("a0", "Globex Corporation", None, owner="new"))  # back, now last in the key
    for lead in LEADS:
        assert index.match(lead) == match(lead, index.candidates(lead))
    assert index.match(LEADS[3]) == after


# ---- registrable domains and free mail without tldextract's URL parsing ------------------------------------------

HOSTS = [
    "acme.com", "www.acme.co.uk", "sales.acme.co.uk", "bbc.co.uk", "co.uk", "uk", "foo.ck", "www.ck", "a.github.io",
    "1.2.3.4", "localhost", "a..b.com", "-a.com", "a-.com", "xn--mller-kva.de", "city.kawasaki.jp",
    "x.city.kawasaki.jp", "foo.bar.", "https://www.acme.co.uk/", "http://acme.com", "https://acme.com:8080/",
    "ftp://acme.com/", "https://acme.com/about", "jo@sales.acme.co.uk", "gmail.com", "mail.gmx.co.uk", "gmx.at",
    "yahoo.co.uk", "outlook.com", "sub.hotmail.fr", "googlemail.com", "mail.yandex.ru", "gmail.com.evil.example",
]


@pytest.mark.parametrize("host", HOSTS)
def test_registrable_domain_matches_tldextract(host: str) -> None:
    value = host.strip().lower().rpartition("@")[2]
    ext = keys._extract(value)
    expected = f"{ext.domain}.{ext.suffix}" if ext.domain and ext.suffix else None
    assert keys.registrable_domain.__wrapped__(host) == expected


@pytest.mark.parametrize("host", HOSTS)
def test_is_free_mail_matches_the_registrable_domain_rule(host: str) -> None:
    value = host.strip().lower().rpartition("@")[2]
    registrable = keys.registrable_domain(value) or value
    expected = (value in keys.FREE_MAIL_DOMAINS or registrable in keys.FREE_MAIL_DOMAINS
                or registrable.partition(".")[0] in keys.FREE_MAIL_LABELS)
    assert keys.is_free_mail.__wrapped__(host) == expected


@pytest.mark.parametrize("text", ["Müller", "ACME Corp", "Ångström AB", "plain", "ǅemal", "ﬁnance", "İstanbul", ""])
def test_fold_is_nfkd_without_marks_lower_cased(text: str) -> None:
    decomposed = unicodedata.normalize("NFKD", text)
    assert keys.fold(text) == "".join(c for c in decomposed if not unicodedata.combining(c)).lower()


# ---- compiled mapping rules ----------------------------------------------------------------------------------------


def _payloads() -> list[dict[str, Any]]:
    fixtures = [json.loads(p.read_text()) for p in sorted((ROOT / "tests" / "fixtures").glob("*.json"))]
    leads = [json.loads(line) for line in (ROOT / "samples" / "leads.jsonl").read_text().splitlines()[:60]]
    odd: list[dict[str, Any]] = [
        {"email": 42, "work_email": "x@y.com", "first_name": ["Ann"], "phone": "", "mobile": "  +1 555  ",
         "company": "  Acme   Inc ", "utm_source": "  GOOGLE ", "company_size": "lots", "consent": "maybe"},
        {"email": "   ", "email_address": "z@z.com", "name": "DR. ANA DE LA CRUZ", "interest": ["demo", "quote"],
         "state": None, "language": " DE ", "events": "not a list", "submitted_at": 1700000000000},
        {"Email": "A@B.COM", "FirstName": "  ", "Company": 7, "Id": "", "properties": {"email": "p@q.com"}},
        {},
    ]
    return fixtures + leads + odd


def test_shipped_mappings_read_every_payload() -> None:
    mappings = [load_source_mapping(p) for p in sorted((ROOT / "mappings" / "sources").glob("*.yaml"))]
    assert mappings
    for mapping in mappings:
        for payload in _payloads():
            assert isinstance(map_payload(payload, mapping), Lead), (mapping.name, payload)


def test_config_mappings_compile_once() -> None:
    config = load_config(ROOT)
    for mapping in config.sources.values():
        compiled = compile_mapping(mapping)
        assert compiled.mapping is mapping and compiled.rules
        assert compile_mapping(mapping) is compiled  # kept for the mapping's lifetime


# ---- a rep's local facts, remembered per now ----------------------------------------------------------------------


def test_local_state_follows_now() -> None:
    rep = Rep(id="r", name="R", email="r@x.com", role="ae", timezone="America/Los_Angeles", country="US",
              out_of_office=[OutOfOffice(start=date(2026, 11, 18), end=date(2026, 11, 18))])
    start = datetime(2026, 11, 18, 6, 0, tzinfo=UTC)  # still the 17th in Los Angeles
    for hours in range(0, 48, 5):
        now = start + timedelta(hours=hours)
        for _ in range(2):  # the second call is answered from the remembered facts
            day, iso, away = local_state(rep, now)
            local = now.astimezone(rep.tz).date()
            assert (day, iso, away) == (local, local.isoformat(), is_out_of_office(rep, local))
            assert working_at(rep, now) == is_working(rep, now)


# ---- phone validity, with the common number types tried first ---------------------------------------------------


def test_phone_validity_matches_phonenumbers_for_every_region() -> None:
    rng = random.Random(7)
    numbers: list[phonenumbers.PhoneNumber] = [phonenumbers.PhoneNumber(national_number=12345)]
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        for kind in (PhoneNumberType.FIXED_LINE, PhoneNumberType.MOBILE, PhoneNumberType.TOLL_FREE,
                     PhoneNumberType.PREMIUM_RATE, PhoneNumberType.VOIP, PhoneNumberType.UAN):
            example = phonenumbers.example_number_for_type(region, kind)
            if example is None:
                continue
            digits = str(example.national_number)
            variants = [digits, digits[:-1] or "1", digits + "5", str(rng.randrange(10**len(digits)))]
            numbers += [phonenumbers.PhoneNumber(country_code=example.country_code, national_number=int(v),
                                                 italian_leading_zero=example.italian_leading_zero) for v in variants]
    numbers += [phonenumbers.PhoneNumber(country_code=999, national_number=2125550100)]
    assert sum(phonenumbers.is_valid_number(n) for n in numbers) > 500  # both answers are well represented
    for n in numbers:
        assert _valid(n) == phonenumbers.is_valid_number(n), n
        for where in ("US", "GB", "001", None, phonenumbers.region_code_for_number(n)):
            expected = phonenumbers.is_valid_number_for_region(n, where)  # type: ignore[arg-type]  # None: False
            assert _valid_for_region(n, where) == expected, (n, where)
