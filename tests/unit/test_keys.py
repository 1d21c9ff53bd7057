"""Identity keys: the normalized forms two records must share to be the same person or company."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connector.keys import (
    FREE_MAIL_DOMAINS,
    company_domain,
    company_key,
    email_key,
    fold,
    is_free_mail,
    registrable_domain,
)


@pytest.mark.parametrize(
    ("email", "key"),
    [
        ("J.Smith+news@GMail.com", "jsmith@gmail.com"),
        ("j.s.m.i.t.h@googlemail.com", "jsmith@gmail.com"),
        ("jo.smith+crm@outlook.com", "jo.smith@outlook.com"),  # Outlook: plus tags fold, dots matter
        ("Jo.Smith+sales@acme.com", "jo.smith+sales@acme.com"),  # a company server's rules are unknown
        ("  Jo@Acme.COM ", "jo@acme.com"),
    ],
)
def test_email_key_folds_only_what_the_provider_ignores(email: str, key: str) -> None:
    assert email_key(email) == key


@pytest.mark.parametrize("value", [None, "", "no-at-sign", "@acme.com", "jo@"])
def test_email_key_of_a_non_address_is_none(value: str | None) -> None:
    assert email_key(value) is None


@pytest.mark.parametrize(
    "variant",
    ["Acme Inc.", "ACME", "Acme Incorporated", "acme.com", "www.acme.com", "The Acme Corporation", "acme, llc"],
)
def test_company_name_variants_share_a_key(variant: str) -> None:
    assert company_key(variant) == "acme"


def test_acronyms_with_dots_fold() -> None:
    assert company_key("I.B.M.") == company_key("IBM Corp.") == company_key("ibm") == "ibm"


def test_different_companies_keep_different_keys() -> None:
    assert company_key("Acme Labs") != company_key("Acme")
    assert company_key("Smith & Jones") == company_key("Smith and Jones LLC") == "smithandjones"


@settings(max_examples=300)
@given(st.text(max_size=40))
def test_company_key_is_a_fixed_point(text: str) -> None:
    # the index stores keys; a key read back must key to itself
    key = company_key(text)
    if key is not None:
        assert company_key(key) == key


def test_registrable_domain_is_offline_and_strips_subdomains() -> None:
    assert registrable_domain("https://www.Acme.co.uk/about") == "acme.co.uk"
    assert registrable_domain("jo@sales.acme.com") == "acme.com"
    assert registrable_domain("localhost") is None


@pytest.mark.parametrize("domain", ["gmail.com", "GMAIL.COM", "yahoo.co.uk", "mail.gmx.at", "jo@hotmail.fr"])
def test_free_mail_providers_are_recognised(domain: str) -> None:
    assert is_free_mail(domain)


@pytest.mark.parametrize("domain", ["acme.com", "gmailing.com", "yahoo-finance-partner.com", None, ""])
def test_company_domains_are_not_free_mail(domain: str | None) -> None:
    assert not is_free_mail(domain)


def test_free_mail_list_is_the_one_list() -> None:
    assert {"gmail.com", "outlook.com", "icloud.com", "proton.me"} <= FREE_MAIL_DOMAINS


def test_fold_drops_marks() -> None:
    assert fold("Ærø Ñandú") == "ærø nandu"


def test_company_domain_is_the_registrable_domain_unless_free_mail() -> None:
    # the one rule normalize (company.domain) and match (lead and record domains) share
    assert company_domain("https://www.Acme.co.uk/about") == "acme.co.uk"
    assert company_domain("jo@sales.acme.com") == "acme.com"
    assert company_domain("acme.com") == "acme.com"
    assert company_domain("gmail.com") is None and company_domain("jo@yahoo.co.uk") is None
    assert company_domain("localhost") is None and company_domain("not a domain") is None
    assert company_domain(None) is None
