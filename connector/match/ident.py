"""Prepared identities and identity keys: a lead, a record or a row folded once, compared many times.

Identity keys (``identity_keys`` / ``record_keys``) are stable strings such as ``email:jsmith@gmail.com`` or
``person:acme:j:smith``, which the service stores in Redis and ``IdentityIndex`` keeps in memory: two records are
compared only when they share one.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import NamedTuple

from connector.keys import company_domain, company_key, email_key, fold
from connector.model import CrmRecord, Lead
from connector.nicknames import formal_names

_NON_ALNUM = re.compile(r"[^0-9a-z]+")
_PART_SPLIT = re.compile(r"[\s\-']+")
_EXTENSION = re.compile(r"(?:ext\.?|x|#)\s*\d+\s*$", re.IGNORECASE)


class Ident(NamedTuple):
    """The comparable form of a lead, a record or a CSV row: folded once, compared many times."""

    email: str | None
    phone: str | None
    first: str  # folded letters only: "Mary-Ann" -> "maryann"
    last: str
    last_parts: tuple[str, ...]  # "Garcia-Lopez" -> ("garcia", "lopez")
    company: str | None  # company key
    domain: str | None  # registrable domain, never a free-mail one


@lru_cache(maxsize=65536)
def name_key(text: str | None) -> str:
    """A name folded to ASCII letters and digits: "  O'Brien " -> "obrien"."""
    return _NON_ALNUM.sub("", fold(text)) if text else ""


@lru_cache(maxsize=65536)
def _last_parts(text: str) -> tuple[str, ...]:
    parts = tuple(p for p in (name_key(x) for x in _PART_SPLIT.split(text)) if p)
    return parts if len(parts) > 1 else ()


@lru_cache(maxsize=65536)
def phone_match_key(phone: str | None) -> str | None:
    """The last 10 digits of a phone (all of them when 7-9), so "+1 415-555-2671" and "(415) 555 2671" agree."""
    if not phone:
        return None
    digits = "".join(c for c in _EXTENSION.sub("", phone) if c.isdigit())
    if len(digits) < 7:
        return None
    return digits[-10:]


@lru_cache(maxsize=65536)
def _names(first_name: str | None, last_name: str | None) -> tuple[str, str, tuple[str, ...]]:
    return name_key(first_name), name_key(last_name), _last_parts(last_name) if last_name else ()


def ident(
    *,
    email: str | None = None,
    phone: str | None = None,
    first_name: str | None = None,
    last_name: str | None = None,
    company: str | None = None,
    domain: str | None = None,
) -> Ident:
    """Prepare one identity from plain values (as written or normalized)."""
    e = email_key(email) if email else None
    d = company_domain(domain) if domain else None
    if d is None and e:
        d = company_domain(e.rpartition("@")[2])
    first, last, parts = _names(first_name, last_name)
    # no company name: a company domain stands for it ("jo@acme.com" works at "acme")
    c = company_key(company) if company else None
    if c is None and d is not None:
        c = company_key(d)
    return Ident(e, phone_match_key(phone) if phone else None, first, last, parts, c, d)


def lead_ident(lead: Lead) -> Ident:
    """The comparable form of a canonical lead."""
    i, c = lead.identity, lead.company
    prepared = ident(
        email=i.email,
        phone=i.phone,
        first_name=i.first_name,
        last_name=i.last_name,
        company=c.name,
        domain=c.domain or c.website,
    )
    if not c.name and c.normalized_name:
        # only the key survived (a lead from the index): it already is a company key
        prepared = prepared._replace(company=c.normalized_name)
    return prepared


def record_ident(record: CrmRecord) -> Ident:
    """The comparable form of a known record."""
    return ident(
        email=record.email,
        phone=record.phone,
        first_name=record.first_name,
        last_name=record.last_name,
        company=record.company,
        domain=record.domain,
    )


@lru_cache(maxsize=65536)
def _first_forms(first: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(initials, formal names) a first name blocks under: "bob" -> (("b", "r"), ("robert",))."""
    formals = formal_names(first) if len(first) > 1 else frozenset()
    return tuple(sorted({first[0], *(f[0] for f in formals)})), tuple(sorted(formals))


def person_keys(p: Ident) -> list[str]:
    """Blocks for fuzzy person matching: (scope, first initial, last name) and (scope, formal first, last initial).

    One key survives a typo in the first name, the other a typo in the last; nicknames share the formal name.
    """
    first, last = p.first, p.last
    if not first or not last:
        return []
    initials, formals = _first_forms(first)
    keys: list[str] = []
    for scope in (p.company, p.domain):
        if scope:
            for initial in initials:
                keys.append(f"person:{scope}:{initial}:{last}")
            for formal in formals:
                keys.append(f"person:{scope}:{formal}:{last[0]}")
    return keys


def ident_keys(p: Ident, *, person: bool, company: bool) -> list[str]:
    keys: list[str] = []
    if person:
        if p.email:
            keys.append(f"email:{p.email}")
        if p.phone:
            keys.append(f"phone:{p.phone}")
        keys.extend(person_keys(p))
    if company:
        if p.domain:
            keys.append(f"domain:{p.domain}")
        if p.company:
            keys.append(f"company:{p.company}")
    return keys


def identity_keys(lead: Lead) -> list[str]:
    """Index keys of a lead: ``email:``, ``phone:``, ``person:<scope>:…``, ``domain:``, ``company:``.

    Stable strings: the service stores the same keys in Redis as its identity index.
    """
    return ident_keys(lead_ident(lead), person=True, company=True)


def record_keys(record: CrmRecord) -> list[str]:
    """Index keys of a known record. Accounts are found by ``domain:``/``company:``, people by the rest.

    People carry no company-wide keys: a domain shared by thousands of contacts would make every lead
    from that company a candidate for all of them.
    """
    return prepared_record_keys(record, record_ident(record))


def prepared_record_keys(record: CrmRecord, prepared: Ident) -> list[str]:
    account = record.kind == "account"
    return ident_keys(prepared, person=not account, company=account)
