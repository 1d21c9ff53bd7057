"""Match: dedupe rules, lead-to-account, identity keys, the in-memory index and clustering."""

from pathlib import Path

import msgspec
import pytest

from bench.dedupe_quality import pair_scores
from bench.synthetic_people import generate
from connector.errors import ConfigError
from connector.match import (
    IdentityIndex,
    MatchConfig,
    PersonRules,
    PhoneRules,
    cluster_rows,
    identity_keys,
    load_match_config,
    match,
    record_keys,
)
from connector.model import Company, CrmRecord, Identity, Lead

ROOT = Path(__file__).resolve().parents[2]


def lead(
    first: str | None = None,
    last: str | None = None,
    *,
    email: str | None = None,
    phone: str | None = None,
    company: str | None = None,
    domain: str | None = None,
) -> Lead:
    return Lead(
        identity=Identity(email=email, phone=phone, first_name=first, last_name=last),
        company=Company(name=company, domain=domain),
    )


def contact(rid: str, first: str | None = None, last: str | None = None, **kw: str | None) -> CrmRecord:
    return CrmRecord(crm="hubspot", id=rid, kind=kw.pop("kind", None) or "contact", first_name=first,
                     last_name=last, owner_id=kw.pop("owner_id", None) or f"owner-{rid}", **kw)


def account(rid: str, company: str, domain: str | None = None, owner: str = "ae-1") -> CrmRecord:
    return CrmRecord(crm="salesforce", id=rid, kind="account", company=company, domain=domain, owner_id=owner)


# ---- person rules ------------------------------------------------------------------------------------------------


def test_email_exact_folds_gmail_for_the_key_only() -> None:
    new = lead("Jo", "Smith", email="J.O.Smith+webinar@gmail.com")
    result = match(new, [contact("c1", "Joanna", "Smyth", email="josmith@gmail.com")])
    assert result is not None
    assert (result.record_id, result.rule, result.confidence, result.owner_id) == ("c1", "email_exact", 1.0, "owner-c1")
    assert new.identity.email == "J.O.Smith+webinar@gmail.com"  # the lead keeps what the sender wrote
    assert "email:josmith@gmail.com" in identity_keys(new)


def test_phone_exact_across_formats() -> None:
    result = match(lead("Ann", "Lee", phone="+14155552671"), [contact("c2", "Ann", "Lee", phone="(415) 555-2671")])
    assert result is not None
    assert (result.rule, result.confidence) == ("phone_exact", MatchConfig().phone.confidence)


def test_shared_phone_with_a_different_name_is_family_not_a_match() -> None:
    # family members sharing a surname and a home line
    assert match(lead("Mary", "Olsen", phone="+14155552671"), [contact("c3", "Peter", "Olsen",
                                                                        phone="415.555.2671")]) is None


def test_shared_phone_rule_can_be_relaxed() -> None:
    config = MatchConfig(phone=PhoneRules(confidence=0.8, require_compatible_name=False))
    result = match(lead("Mary", "Olsen", phone="+14155552671"),
                   [contact("c3", "Peter", "Olsen", phone="415.555.2671")], config=config)
    assert result is not None and (result.rule, result.confidence) == ("phone_exact", 0.8)


@pytest.mark.parametrize(
    ("nick", "formal"),
    [("Bob", "Robert"), ("Bill", "William"), ("Liz", "Elizabeth"), ("Jim", "James"), ("Kate", "Katherine"),
     ("Mike", "Michael"), ("Peggy", "Margaret"), ("Ted", "Edward"), ("Chris", "Christina")],
)
def test_nicknames_match_within_the_same_company(nick: str, formal: str) -> None:
    result = match(lead(nick, "Hartley", company="Acme Inc.", email=f"{nick}@gmail.com"),
                   [contact("c4", formal, "Hartley", company="ACME", email="other@acme.com")])
    assert result is not None
    assert result.rule == "person_fuzzy"
    assert 0.85 < result.confidence < 1.0


@pytest.mark.parametrize(
    ("first", "last"),
    [("Jonathan", "Smiht"), ("Jonahtan", "Smith"), ("Jonathon", "Smith"), ("J.", "Smith"), ("jonathan ", "SMITH"),
     ("Jonathan", "Smith-Barnes")],
)
def test_typos_transpositions_initials_and_case(first: str, last: str) -> None:
    result = match(lead(first, last, company="Globex"), [contact("c5", "Jonathan", "Smith", domain="globex.com",
                                                                 company="Globex Corporation")])
    assert result is not None and result.rule == "person_fuzzy"


def test_the_company_can_be_known_by_its_email_domain() -> None:
    result = match(lead("Dana", "Kowalski", email="dana.k@initech.io"),
                   [contact("c6", "Dana", "Kowalsky", email="dkowalski@initech.io")])
    assert result is not None and result.rule == "person_fuzzy"


@pytest.mark.parametrize(
    ("new", "known"),
    [
        (lead("John", "Smith", company="Acme"), contact("n1", "John", "Smith", company="Globex")),  # other company
        (lead("Jane", "Smith", company="Acme"), contact("n2", "John", "Smith", company="Acme")),  # other person
        (lead("Joan", "Smith", company="Acme"), contact("n3", "John", "Smith", company="Acme")),  # one letter apart
        (lead("John", "Smith"), contact("n4", "John", "Smith")),  # no company on either side: a name is not enough
        (lead("John", "Smith", email="john@gmail.com"), contact("n5", "John", "Smith", email="js@gmail.com")),
        (lead("Priya", "Patel", company="Acme"), contact("n6", "Priya", "Shah", company="Acme")),
    ],
)
def test_hard_negatives_do_not_match(new: Lead, known: CrmRecord) -> None:
    assert match(new, [known]) is None


def test_threshold_decides_fuzzy_matches() -> None:
    new, known = lead("Bob", "Smith", company="Acme"), contact("c7", "Robert", "Smith", company="Acme")
    assert match(new, [known]) is not None
    strict = MatchConfig(person=PersonRules(threshold=0.99))
    assert match(new, [known], config=strict) is None
    assert match(lead("Robert", "Smith", company="Acme"), [known], config=strict) is not None


def test_the_most_certain_rule_wins() -> None:
    new = lead("Sam", "Ortiz", email="sam@acme.com", phone="+14155550000", company="Acme")
    candidates = [
        contact("fuzzy", "Samuel", "Ortiz", company="Acme"),
        contact("phone", "Sam", "Ortiz", phone="4155550000"),
        contact("email", "S", "Ortiz", email="SAM@acme.com"),
    ]
    for order in (candidates, candidates[::-1]):
        result = match(new, order)
        assert result is not None and (result.record_id, result.rule) == ("email", "email_exact")


def test_no_candidates_no_match() -> None:
    assert match(lead("A", "B", email="a@b.com"), []) is None


# ---- lead-to-account ---------------------------------------------------------------------------------------------


def test_lead_to_account_by_domain() -> None:
    result = match(lead("Ola", "Berg", email="ola@eu.acme.com"), [account("a1", "Acme Holdings", "acme.com")])
    assert result is not None
    assert (result.rule, result.kind, result.account_id, result.account_owner_id) == (
        "account_domain", "account", "a1", "ae-1")


def test_lead_to_account_by_fuzzy_company_name() -> None:
    result = match(lead("Ola", "Berg", email="ola@gmail.com", company="Wayne Enterprise Inc"),
                   [account("a2", "Wayne Enterprises", "wayne.com"), account("a3", "Wayland Freight", "wf.com")])
    assert result is not None
    assert (result.rule, result.record_id) == ("account_name_fuzzy", "a2")
    assert 0.8 < result.confidence <= MatchConfig().account.name_max_confidence


def test_company_name_variants_reach_the_account() -> None:
    result = match(lead("Ola", "Berg", company="acme.com"), [account("a4", "ACME Incorporated")])
    assert result is not None and result.rule == "account_name_fuzzy"


def test_short_or_distant_company_names_do_not_match_accounts() -> None:
    assert match(lead("Ola", "Berg", company="IBX"), [account("a5", "IBM")]) is None
    assert match(lead("Ola", "Berg", company="Acme Labs"), [account("a6", "Acme Foods")]) is None


def test_free_mail_domains_never_match_accounts() -> None:
    new = lead("Ola", "Berg", email="ola.berg@gmail.com", domain="gmail.com")
    assert match(new, [account("a7", "Google Mail users", "gmail.com")]) is None
    assert not [k for k in identity_keys(new) if k.startswith("domain:")]
    assert not [k for k in record_keys(account("a7", "Gmail", "gmail.com")) if k.startswith("domain:")]


def test_person_match_carries_the_account_and_its_owner() -> None:
    new = lead("Bill", "Ng", email="bill@acme.com", company="Acme")
    known = [account("a8", "Acme", "acme.com", owner="ae-7"), contact("c8", "William", "Ng", company="Acme")]
    result = match(new, known)
    assert result is not None
    assert (result.rule, result.record_id, result.owner_id) == ("person_fuzzy", "c8", "owner-c8")
    assert (result.account_id, result.account_owner_id) == ("a8", "ae-7")


def test_the_persons_own_account_wins_over_a_domain_guess() -> None:
    new = lead("Bill", "Ng", email="bill@acme.com")
    candidates = [account("by-domain", "Acme", "acme.com", owner="ae-1"),
                  account("own", "Acme EMEA", "acme.de", owner="ae-2"),
                  contact("c9", "Bill", "Ng", email="bill@acme.com", account_id="own")]
    result = match(new, candidates)
    assert result is not None and (result.account_id, result.account_owner_id) == ("own", "ae-2")
    # its own account not among the candidates: still its own, the owner left for the caller to look up
    result = match(new, [candidates[0], candidates[2]])
    assert result is not None and (result.account_id, result.account_owner_id) == ("own", None)


# ---- identity keys and the index ---------------------------------------------------------------------------------


def test_identity_keys_are_stable_strings() -> None:
    new = lead("Bob", "O'Neil", email="Bob.ONeil+x@GMAIL.com", phone="+1 415 555 2671", company="Acme, Inc.",
               domain="https://www.acme.com/")
    assert identity_keys(new) == [
        "email:boboneil@gmail.com",
        "phone:4155552671",
        "person:acme:b:oneil",
        "person:acme:r:oneil",
        "person:acme:robert:o",
        "person:acme.com:b:oneil",
        "person:acme.com:r:oneil",
        "person:acme.com:robert:o",
        "domain:acme.com",
        "company:acme",
    ]
    assert identity_keys(new) == identity_keys(msgspec.json.decode(msgspec.json.encode(new), type=Lead))


def test_record_keys_split_people_and_accounts() -> None:
    person = contact("c10", "Ann", "Lee", email="ann@acme.com", company="Acme")
    assert record_keys(person) == ["email:ann@acme.com", "person:acme:a:lee", "person:acme:ann:l",
                                   "person:acme.com:a:lee", "person:acme.com:ann:l"]
    assert record_keys(account("a9", "Acme Inc", "acme.com")) == ["domain:acme.com", "company:acme"]


def test_index_finds_candidates_by_any_key_and_matches_like_match() -> None:
    records = [contact("c11", "Robert", "Smith", company="Acme"), contact("c12", "Ann", "Lee", phone="4155552671"),
               account("a10", "Acme", "acme.com"), contact("c13", "Zed", "Zulu", email="zz@zulu.com")]
    index = IdentityIndex(records)
    assert len(index) == 4
    new = lead("Bob", "Smith", email="bob@acme.com", phone="+14155552671")
    found = {r.id for r in index.candidates(new)}
    assert found == {"c11", "c12", "a10"}
    assert index.match(new) == match(new, index.candidates(new))
    result = index.match(new)
    assert result is not None and result.record_id == "c11" and result.account_id == "a10"


def test_index_replaces_and_removes_records() -> None:
    index = IdentityIndex([contact("c14", "Ann", "Lee", email="ann@acme.com")])
    index.add(contact("c14", "Ann", "Lee", email="ann.lee@acme.com"))
    assert len(index) == 1
    assert index.candidates(lead(email="ann@acme.com")) == []
    assert [r.id for r in index.candidates(lead(email="ann.lee@acme.com"))] == ["c14"]
    index.remove("hubspot", "c14")
    assert len(index) == 0 and index.match(lead(email="ann.lee@acme.com")) is None


# ---- config ------------------------------------------------------------------------------------------------------


def test_shipped_matching_rules_load_and_equal_the_defaults() -> None:
    assert load_match_config(ROOT / "rules" / "matching.yaml") == MatchConfig()


def test_a_typo_in_matching_rules_names_file_line_and_field(tmp_path: Path) -> None:
    bad = tmp_path / "matching.yaml"
    bad.write_text("phone:\n  confidence: 0.9\nperson:\n  treshold: 0.9\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_match_config(bad)
    assert info.value.line == 4 and info.value.field == "person.treshold"


# ---- clustering --------------------------------------------------------------------------------------------------


def test_cluster_rows_groups_the_same_person() -> None:
    rows = [
        {"first_name": "Robert", "last_name": "Smith", "email": "rsmith@acme.com", "company": "Acme Inc."},
        {"first_name": "Bob", "last_name": "Smith", "email": "bob.smith@gmail.com", "company": "ACME"},
        {"first_name": "Ann", "last_name": "Lee", "email": "ann.lee+x@gmail.com"},
        {"first_name": "ANN", "last_name": "LEE", "email": "annlee@gmail.com", "phone": "(415) 555-2671"},
        {"first_name": "Robert", "last_name": "Smith", "company": "Globex"},
        {"first_name": "Jane", "last_name": "Smith", "company": "acme.com"},
        {"first_name": "Annie", "last_name": "Lee", "phone": "+1 415 555 2671"},
    ]
    assert cluster_rows(rows) == [1, 1, 2, 2, 3, 4, 5]


def test_cluster_rows_takes_leads_too() -> None:
    leads = [lead("Bob", "Smith", company="Acme"), lead("Robert", "Smith", company="Acme Corp")]
    assert cluster_rows(leads) == [1, 1]


def test_oversized_blocks_are_windowed_not_skipped() -> None:
    # one switchboard number for 300 different people, and 300 copies of one person
    firsts = ["Ava", "Ben", "Carla", "Dmitri", "Elena", "Farid", "Greta", "Hiro", "Ines", "Jonas", "Kofi", "Lucia",
              "Marco", "Nadia", "Oscar", "Priya", "Quentin", "Rosa", "Sven", "Tariq"]
    lasts = ["Abbott", "Brennan", "Castillo", "Dubois", "Eriksen", "Fischer", "Gomez", "Hughes", "Ivanova", "Jensen",
             "Kowalczyk", "Lindqvist", "Moreau", "Nakamura", "Okafor"]
    people = [{"first_name": f, "last_name": la, "phone": "212-555-0100", "company": "Acme"} for f in firsts
              for la in lasts]
    copies = [{"first_name": "Eve", "last_name": "Adams", "phone": "212-555-0199", "company": "Acme"}] * 300
    clusters = cluster_rows(people + copies, config=MatchConfig())
    assert len(set(clusters[:300])) == 300
    assert len(set(clusters[300:])) == 1


def test_dedupe_quality_on_a_labelled_set() -> None:
    rows = generate(2000, seed=2024)
    clusters = cluster_rows(rows)
    precision, recall, _, predicted, actual = pair_scores([r["entity_id"] for r in rows], clusters)
    print(f"\ndedupe quality on 2,000 labelled rows: precision={precision:.4f} recall={recall:.4f} "
          f"(pairs: true={actual}, predicted={predicted})")
    assert actual > 300  # the set really has duplicates to find
    assert precision >= 0.98
    assert recall >= 0.90
