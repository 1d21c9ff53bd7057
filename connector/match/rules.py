"""The match rules: when two prepared identities are the same person, or a lead belongs to an account.

From the most to the least certain: ``email_exact`` (normalized email), ``phone_exact``, ``person_fuzzy`` (a close
name within the same company), then for accounts ``account_domain`` and ``account_name_fuzzy``.
"""

from __future__ import annotations

from rapidfuzz import fuzz
from rapidfuzz.distance import OSA

from connector.match.config import DEFAULT, MatchConfig, PersonRules
from connector.match.ident import Ident
from connector.nicknames import formal_names


def _one_edit(a: str, b: str, min_substitution_len: int) -> bool:
    """One insertion, deletion, or swap of neighbours; a substitution only in longer names (Joan/John differ)."""
    if abs(len(a) - len(b)) > 1 or OSA.distance(a, b, score_cutoff=1) != 1:
        return False
    if len(a) != len(b):
        return min(len(a), len(b)) >= min_substitution_len - 1
    if sorted(a) == sorted(b):  # a transposition ("jonh")
        return min(len(a), len(b)) >= 3
    return len(a) >= min_substitution_len


def first_name_score(a: str, b: str, rules: PersonRules = DEFAULT.person) -> float:
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


def last_name_score(a: Ident, b: Ident, rules: PersonRules = DEFAULT.person) -> float:
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


def person_score(a: Ident, b: Ident, rules: PersonRules = DEFAULT.person) -> float:
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


def person_rule(a: Ident, b: Ident, config: MatchConfig = DEFAULT) -> tuple[str, float] | None:
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


def account_rule(lead: Ident, account: Ident, config: MatchConfig = DEFAULT) -> tuple[str, float] | None:
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
