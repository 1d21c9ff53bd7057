"""Live matching: the best known record for one lead, among candidates or from the in-memory index.

A person match (email, phone, fuzzy name in the same company) wins over an account match and carries the account
it belongs to, so routing can give the lead to the account owner.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from connector.decision import MatchResult
from connector.match.config import DEFAULT, MatchConfig
from connector.match.ident import Ident, ident_keys, identity_keys, lead_ident, prepared_record_keys, record_ident
from connector.match.rules import account_rule, person_rule
from connector.model import CrmRecord, Lead

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


def match(lead: Lead, candidates: Sequence[CrmRecord], *, config: MatchConfig = DEFAULT) -> MatchResult | None:
    """The best existing record for ``lead`` among ``candidates``, or None.

    A person match (email, phone, fuzzy name in the same company) wins over an account match and carries
    the account's id and owner; a lead with only an account match gets that account.
    """
    return _match_prepared(lead_ident(lead), ((r, record_ident(r)) for r in candidates), config)


class IdentityIndex:
    """Identity keys -> known records, in memory; what the service keeps in Redis, for simulate and benches."""

    def __init__(self, records: Iterable[CrmRecord] = (), *, config: MatchConfig = DEFAULT) -> None:
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
        keys = tuple(dict.fromkeys(prepared_record_keys(record, prepared)))
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
        keys = [k for k in ident_keys(prepared, person=True, company=True) if k in self._keys]
        if not keys:
            return None
        entries: Sequence[tuple[CrmRecord, Ident]]
        if len(keys) == 1:
            entries = self._compacted(keys[0])
        else:
            # first-seen order over the keys, as candidates() gives; an account left out of one key's
            # compacted entries has the identity of one seen before it, so it cannot win here either
            # by id(): a record may be unhashable (its ``fields`` dict), and every one is held by this index
            # for the whole call, so no two of them share an id
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
