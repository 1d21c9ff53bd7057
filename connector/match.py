"""Match: is this lead a person or company we already know? Dedupe and lead-to-account.

Rules, from the most to the least certain (thresholds in ``rules/matching.yaml``):
``email_exact`` (normalized email), ``phone_exact``, ``person_fuzzy`` (a close name within the same
company), then for accounts ``account_domain`` and ``account_name_fuzzy``. A person match carries the
account it belongs to, so routing can give the lead to the account owner.

Candidates come from identity keys (``identity_keys`` / ``record_keys``): stable strings such as
``email:jsmith@gmail.com`` or ``person:acme:j:smith`` that the service stores in Redis and that
``IdentityIndex`` keeps in memory. Everything here is pure; names are folded once per record.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

import msgspec
from rapidfuzz import fuzz
from rapidfuzz.distance import OSA

from connector.decision import MatchResult
from connector.keys import company_key, email_key, fold, is_free_mail, registrable_domain
from connector.model import CrmRecord, Lead
from connector.nicknames import formal_names
from connector.yamlconf import load_yaml

# ---- config -----------------------------------------------------------------------------------------------------


class PhoneRules(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    confidence: float = 0.95
    require_compatible_name: bool = True


class PersonRules(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    threshold: float = 0.88
    nickname_score: float = 0.95
    typo_score: float = 0.90
    initial_score: float = 0.85
    last_typo_score: float = 0.90
    last_part_score: float = 0.85
    max_confidence: float = 0.95


class AccountRules(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    domain_confidence: float = 0.95
    name_threshold: float = 0.92
    name_max_confidence: float = 0.90
    name_min_length: int = 5


class ClusterRules(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    max_block: int = 40


class MatchConfig(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """Thresholds of every match rule (``rules/matching.yaml``)."""

    phone: PhoneRules = PhoneRules()
    person: PersonRules = PersonRules()
    account: AccountRules = AccountRules()
    cluster: ClusterRules = ClusterRules()


def load_match_config(path: str | Path) -> MatchConfig:
    """Read ``rules/matching.yaml``; a bad value raises ConfigError with file:line and field."""
    return load_yaml(path, MatchConfig)


_DEFAULT = MatchConfig()

# ---- prepared identities ----------------------------------------------------------------------------------------

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
def company_domain(value: str | None) -> str | None:
    """Registrable domain of a website, domain or email address; None for free-mail providers."""
    domain = registrable_domain(value)
    return None if domain is None or is_free_mail(domain) else domain


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


# ---- identity keys ----------------------------------------------------------------------------------------------


@lru_cache(maxsize=65536)
def _first_forms(first: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(initials, formal names) a first name blocks under: "bob" -> (("b", "r"), ("robert",))."""
    formals = formal_names(first) if len(first) > 1 else frozenset()
    return tuple(sorted({first[0], *(f[0] for f in formals)})), tuple(sorted(formals))


def _person_keys(p: Ident) -> list[str]:
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


def _ident_keys(p: Ident, *, person: bool, company: bool) -> list[str]:
    keys: list[str] = []
    if person:
        if p.email:
            keys.append(f"email:{p.email}")
        if p.phone:
            keys.append(f"phone:{p.phone}")
        keys.extend(_person_keys(p))
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
    return _ident_keys(lead_ident(lead), person=True, company=True)


def record_keys(record: CrmRecord) -> list[str]:
    """Index keys of a known record. Accounts are found by ``domain:``/``company:``, people by the rest.

    People carry no company-wide keys: a domain shared by thousands of contacts would make every lead
    from that company a candidate for all of them.
    """
    return _record_keys(record, record_ident(record))


def _record_keys(record: CrmRecord, prepared: Ident) -> list[str]:
    account = record.kind == "account"
    return _ident_keys(prepared, person=not account, company=account)


# ---- scoring ----------------------------------------------------------------------------------------------------


def _one_edit(a: str, b: str, min_substitution_len: int) -> bool:
    """One insertion, deletion, or swap of neighbours; a substitution only in longer names (Joan/John differ)."""
    if abs(len(a) - len(b)) > 1 or OSA.distance(a, b, score_cutoff=1) != 1:
        return False
    if len(a) != len(b):
        return min(len(a), len(b)) >= min_substitution_len - 1
    if sorted(a) == sorted(b):  # a transposition ("jonh")
        return min(len(a), len(b)) >= 3
    return len(a) >= min_substitution_len


def first_name_score(a: str, b: str, rules: PersonRules = _DEFAULT.person) -> float:
    """How well two folded first names agree: 1 same, nickname, typo, initial, else 0."""
    if not a or not b:
        return 0.0
    if a == b:
        return 1.0
    if len(a) == 1 or len(b) == 1:
        initial, other = (a, b) if len(a) == 1 else (b, a)
        if other[0] == initial or any(f[0] == initial for f in formal_names(other)):
            return rules.initial_score
        return 0.0
    if not formal_names(a).isdisjoint(formal_names(b)):
        return rules.nickname_score
    if _one_edit(a, b, 5):
        return rules.typo_score
    return 0.0


def last_name_score(a: Ident, b: Ident, rules: PersonRules = _DEFAULT.person) -> float:
    """How well two last names agree: 1 same, one typo, one part of a double name, else 0."""
    if not a.last or not b.last:
        return 0.0
    if a.last == b.last:
        return 1.0
    if _one_edit(a.last, b.last, 4):
        return rules.last_typo_score
    pa = set(a.last_parts or (a.last,))
    pb = set(b.last_parts or (b.last,))
    if (pa < pb or pb < pa) and max(len(p) for p in pa & pb) >= 3:
        return rules.last_part_score
    return 0.0


def person_score(a: Ident, b: Ident, rules: PersonRules = _DEFAULT.person) -> float:
    """Name similarity of two people (0..1); 0 unless both first and last names agree somehow."""
    first = first_name_score(a.first, b.first, rules)
    if first == 0.0:
        return 0.0
    last = last_name_score(a, b, rules)
    if last == 0.0:
        return 0.0
    return (first + last) / 2


def _same_company(a: Ident, b: Ident) -> bool:
    return bool((a.company and a.company == b.company) or (a.domain and a.domain == b.domain))


def _phone_compatible(a: Ident, b: Ident, config: MatchConfig) -> bool:
    """A shared line (family, switchboard) is only the same person when the names do not disagree."""
    if not config.phone.require_compatible_name:
        return True
    if a.first and b.first and first_name_score(a.first, b.first, config.person) == 0.0:
        return False
    return not (a.last and b.last and last_name_score(a, b, config.person) == 0.0)


def person_rule(a: Ident, b: Ident, config: MatchConfig = _DEFAULT) -> tuple[str, float] | None:
    """The best rule by which two people are the same person, with its confidence; None if none holds."""
    if a.email and a.email == b.email:
        return "email_exact", 1.0
    if a.phone and a.phone == b.phone and _phone_compatible(a, b, config):
        return "phone_exact", config.phone.confidence
    if _same_company(a, b):
        score = person_score(a, b, config.person)
        if score >= config.person.threshold:
            return "person_fuzzy", round(score * config.person.max_confidence, 4)
    return None


def account_rule(lead: Ident, account: Ident, config: MatchConfig = _DEFAULT) -> tuple[str, float] | None:
    """Lead-to-account: same company domain, else a close company name."""
    rules = config.account
    if lead.domain and lead.domain == account.domain:
        return "account_domain", rules.domain_confidence
    a, b = lead.company, account.company
    if not a or not b:
        return None
    if a == b:
        return "account_name_fuzzy", rules.name_max_confidence
    if min(len(a), len(b)) < rules.name_min_length:
        return None
    ratio = fuzz.ratio(a, b, score_cutoff=rules.name_threshold * 100) / 100
    if ratio >= rules.name_threshold:
        return "account_name_fuzzy", round(ratio * rules.name_max_confidence, 4)
    return None


# ---- match ------------------------------------------------------------------------------------------------------

_RULE_RANK = {"email_exact": 3, "phone_exact": 2, "person_fuzzy": 1}
_KIND_RANK = {"contact": 2, "lead": 1}


def _match_prepared(
    lead: Ident,
    candidates: Iterable[tuple[CrmRecord, Ident]],
    config: MatchConfig,
    account_by_id: Callable[[str], CrmRecord | None] | None = None,
) -> MatchResult | None:
    """The best match among ``candidates``; ``account_by_id`` finds a person's own account among them
    (default: the last candidate account with that id)."""
    best_person: tuple[tuple[float, int, int], CrmRecord, str, float] | None = None
    best_account: tuple[float, CrmRecord, str] | None = None
    accounts: dict[str, CrmRecord] = {}
    collect = account_by_id is None
    for record, prepared in candidates:
        if record.kind == "account":
            if collect:
                accounts[record.id] = record
            hit = account_rule(lead, prepared, config)
            if hit and (best_account is None or hit[1] > best_account[0]):
                best_account = (hit[1], record, hit[0])
            continue
        hit = person_rule(lead, prepared, config)
        if hit:
            rank = (hit[1], _RULE_RANK[hit[0]], _KIND_RANK.get(record.kind, 0))
            if best_person is None or rank > best_person[0]:
                best_person = (rank, record, hit[0], hit[1])
    if best_person is not None:
        _, person, rule, confidence = best_person
        # The person's own account wins over one guessed by domain or name (its owner, if not among the
        # candidates, is for the caller to look up).
        guessed = best_account[1] if best_account else None
        own = person.account_id
        account = ((accounts.get(own) if account_by_id is None else account_by_id(own)) if own else guessed)
        return MatchResult(
            record_id=person.id,
            crm=person.crm,
            kind=person.kind,
            rule=rule,
            confidence=confidence,
            owner_id=person.owner_id,
            account_id=person.account_id or (account.id if account else None),
            account_owner_id=account.owner_id if account else None,
        )
    if best_account is not None:
        confidence, account, rule = best_account
        return MatchResult(
            record_id=account.id,
            crm=account.crm,
            kind=account.kind,
            rule=rule,
            confidence=confidence,
            owner_id=account.owner_id,
            account_id=account.id,
            account_owner_id=account.owner_id,
        )
    return None


def match(lead: Lead, candidates: Sequence[CrmRecord], *, config: MatchConfig = _DEFAULT) -> MatchResult | None:
    """The best existing record for ``lead`` among ``candidates``, or None.

    A person match (email, phone, fuzzy name in the same company) wins over an account match and carries
    the account's id and owner; a lead with only an account match gets that account.
    """
    return _match_prepared(lead_ident(lead), ((r, record_ident(r)) for r in candidates), config)


# ---- in-memory identity index -----------------------------------------------------------------------------------


class IdentityIndex:
    """Identity keys -> known records, in memory; what the service keeps in Redis, for simulate and benches."""

    def __init__(self, records: Iterable[CrmRecord] = (), *, config: MatchConfig = _DEFAULT) -> None:
        self.config = config
        self._keys: dict[str, list[str]] = {}
        self._entries: dict[str, tuple[CrmRecord, Ident]] = {}
        self._record_keys: dict[str, tuple[str, ...]] = {}
        # key -> its entries with repeated accounts left out (built on first use, dropped when the key changes)
        self._compact: dict[str, tuple[tuple[CrmRecord, Ident], ...]] = {}
        for record in records:
            self.add(record)

    def __len__(self) -> int:
        return len(self._entries)

    def add(self, record: CrmRecord) -> None:
        """Index a record (again): a record with the same crm and id replaces the old one."""
        uid = f"{record.crm}:{record.id}"
        if uid in self._entries:
            self.remove(record.crm, record.id)
        prepared = record_ident(record)
        keys = tuple(dict.fromkeys(_record_keys(record, prepared)))
        self._entries[uid] = (record, prepared)
        self._record_keys[uid] = keys
        for key in keys:
            self._keys.setdefault(key, []).append(uid)
            self._compact.pop(key, None)

    def remove(self, crm: str, record_id: str) -> None:
        """Forget a record (merged or deleted in the CRM)."""
        uid = f"{crm}:{record_id}"
        if self._entries.pop(uid, None) is None:
            return
        for key in self._record_keys.pop(uid):
            ids = self._keys.get(key)
            self._compact.pop(key, None)
            if ids is not None:
                ids.remove(uid)
                if not ids:
                    del self._keys[key]

    def _candidate_entries(self, keys: Iterable[str]) -> list[tuple[CrmRecord, Ident]]:
        found = self._keys.get
        uids: list[str] = []
        for key in keys:
            ids = found(key)
            if ids:
                uids += ids
        if not uids:
            return []
        entries = self._entries
        if len(uids) == 1:
            return [entries[uids[0]]]
        return [entries[uid] for uid in dict.fromkeys(uids)]

    def candidates(self, lead: Lead) -> list[CrmRecord]:
        """Every record sharing at least one identity key with the lead (first-seen order)."""
        return [record for record, _ in self._candidate_entries(identity_keys(lead))]

    def _compacted(self, key: str) -> tuple[tuple[CrmRecord, Ident], ...]:
        """The entries of ``key`` without an account whose identity an earlier account of the key already has.

        Such an account can never win (``account_rule`` depends only on the two identities, and ties go to
        the first), so the matcher need not look at it: a company key shared by hundreds of accounts of the
        same company costs one comparison instead of hundreds.
        """
        compact = self._compact.get(key)
        if compact is None:
            entries = self._entries
            seen: set[Ident] = set()
            kept: list[tuple[CrmRecord, Ident]] = []
            for uid in self._keys.get(key, ()):
                record, prepared = entries[uid]
                if record.kind == "account":
                    if prepared in seen:
                        continue
                    seen.add(prepared)
                kept.append((record, prepared))
            compact = self._compact[key] = tuple(kept)
        return compact

    def match(self, lead: Lead, *, config: MatchConfig | None = None) -> MatchResult | None:
        """``match(lead, candidates(lead))`` using the names prepared at ``add()`` time."""
        prepared = lead_ident(lead)
        keys = [k for k in _ident_keys(prepared, person=True, company=True) if k in self._keys]
        if not keys:
            return None
        entries: Sequence[tuple[CrmRecord, Ident]]
        if len(keys) == 1:
            entries = self._compacted(keys[0])
        else:
            # first-seen order over the keys, as candidates() gives; an account left out of one key's
            # compacted entries has the identity of one seen before it, so it cannot win here either
            seen: set[int] = set()
            merged: list[tuple[CrmRecord, Ident]] = []
            for key in keys:
                for entry in self._compacted(key):
                    if id(entry[0]) not in seen:
                        seen.add(id(entry[0]))
                        merged.append(entry)
            entries = merged

        def account_by_id(account_id: str) -> CrmRecord | None:
            # a person's own account, if among all the candidates (the last one with that id, as match() does)
            for record, _ in reversed(self._candidate_entries(keys)):
                if record.kind == "account" and record.id == account_id:
                    return record
            return None

        return _match_prepared(prepared, entries, config or self.config, account_by_id)


# ---- clustering (leadrelay dedupe) --------------------------------------------------------------------------------

ROW_FIELDS = ("first_name", "last_name", "email", "phone", "company", "domain")


def row_ident(row: Lead | Mapping[str, str | None]) -> Ident:
    """Prepare a canonical lead or a plain row with the ``ROW_FIELDS`` keys (missing keys are empty)."""
    if isinstance(row, Lead):
        return lead_ident(row)
    return ident(
        email=row.get("email") or None,
        phone=row.get("phone") or None,
        first_name=row.get("first_name") or None,
        last_name=row.get("last_name") or None,
        company=row.get("company") or None,
        domain=row.get("domain") or None,
    )


class _UnionFind:
    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def find(self, i: int) -> int:
        parent = self.parent
        root = i
        while parent[root] != root:
            root = parent[root]
        while parent[i] != root:
            parent[i], i = root, parent[i]
        return root

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            # the smaller row number becomes the root, so cluster order follows the input
            if ra < rb:
                self.parent[rb] = ra
            else:
                self.parent[ra] = rb


def cluster_idents(idents: Sequence[Ident], *, config: MatchConfig = _DEFAULT) -> list[int]:
    """Cluster ids (1, 2, … in order of first appearance) for prepared identities; see ``cluster_rows``."""
    n = len(idents)
    uf = _UnionFind(n)
    blocks: dict[str, list[int]] = {}
    for i, p in enumerate(idents):
        if p.email:
            blocks.setdefault(f"email:{p.email}", []).append(i)
        if p.phone:
            blocks.setdefault(f"phone:{p.phone}", []).append(i)
        for key in _person_keys(p):
            blocks.setdefault(key, []).append(i)
    window = max(2, config.cluster.max_block)
    for key, members in blocks.items():
        if len(members) < 2:
            continue
        if key.startswith("email:"):
            # same normalized email: the same person by definition, no comparison needed
            for j in members[1:]:
                uf.union(members[0], j)
            continue
        if len(members) > window:
            # a huge block (a switchboard number, "J. Smith" at a giant): compare neighbours by name only
            members = sorted(members, key=lambda k: (idents[k].last, idents[k].first))
        for x, a in enumerate(members):
            pa = idents[a]
            for b in members[x + 1 : x + window]:
                if uf.find(a) != uf.find(b) and person_rule(pa, idents[b], config) is not None:
                    uf.union(a, b)
    ids: dict[int, int] = {}
    out: list[int] = []
    for i in range(n):
        root = uf.find(i)
        if root not in ids:
            ids[root] = len(ids) + 1
        out.append(ids[root])
    return out


def cluster_rows(rows: Iterable[Lead | Mapping[str, str | None]], *, config: MatchConfig = _DEFAULT) -> list[int]:
    """Group rows that are the same person: one cluster id per row (1, 2, … in order of first appearance).

    Blocking, not all-pairs: rows are compared only when they share an email, a phone or a person key,
    by the same rules as ``match``; a block larger than ``cluster.max_block`` is compared as a sliding window.
    """
    return cluster_idents([row_ident(r) for r in rows], config=config)
