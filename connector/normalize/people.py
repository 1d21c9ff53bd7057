"""People: the case of a name ("JOHN" -> "John", "MCDONALD" -> "McDonald") and what a job title says.

nameparser (~100 µs) only runs on words whose capitalisation is its own ("McDonald", "van", "III").
"""

from __future__ import annotations

import re
from functools import lru_cache

from nameparser import HumanName
from nameparser.config import CONSTANTS

from connector.keys import fold
from connector.limits import NAME
from connector.transforms import NAME_WORDS as _NAME_WORDS

# Words nameparser capitalizes in its own way ("McDonald", "van", "III"); every other plain ASCII word comes out
# of it as str.capitalize() does, which costs ~0.1 µs instead of ~85 µs.
_SPECIAL_WORDS = _NAME_WORDS | frozenset(CONSTANTS.capitalization_exceptions)


def _capitalized(part: str, last: bool) -> str:
    lowered = part.lower()
    if part.isascii() and part.isalpha() and not lowered.startswith(("mc", "mac", "fitz")) and (
        lowered not in _SPECIAL_WORDS
    ):
        return part.capitalize()
    if len(part) > NAME:  # no one's name: nameparser's time grows with the text (~6 s a megabyte)
        return part
    return _capitalized_by_nameparser(part, last)


@lru_cache(maxsize=16384)
def _capitalized_by_nameparser(part: str, last: bool) -> str:
    try:
        human = HumanName(last=part) if last else HumanName(first=part)
        human.capitalize(force=True)
        fixed = str(human.last if last else human.first)
    except Exception:  # nameparser is heuristic; never let it stop a lead
        return part
    return fixed if fixed.strip() else part


def fix_name_case(part: str | None, *, last: bool = False) -> str | None:
    """ "JOHN" / "john" -> "John", "MCDONALD" -> "McDonald"; mixed case is left as the person wrote it."""
    if not part or not (part.isupper() or part.islower()):
        return part
    fixed = _capitalized(part, last)
    if (fixed.isupper() or fixed.islower()) and _capitalized(fixed, last) != fixed:
        return part  # no stable capitalisation: keep what was written
    return fixed


_SENIORITY = [
    ("vp", r"\b(?:vice[\s-]*president|s?e?vp|avp)\b"),
    ("c_level", r"\b(?:chief|c[aefimoprst]o|ciso|chro|founder|co-?founder|president|owner|managing director|"
                r"general manager|gm|executive director|partner|principal)\b"),
    ("director", r"\b(?:director|head of|head|directeur|direktor|leiter)\b"),
    ("manager", r"\b(?:manager|mgr|lead|supervisor|team lead|teamleiter)\b"),
]
_SENIORITY_RE = [(name, re.compile(pattern)) for name, pattern in _SENIORITY]
_OWNER_LIKE = re.compile(r"\b(?:product|process|data|service|account|content) owner\b")
SENIORITIES = frozenset({"c_level", "vp", "director", "manager", "individual"})

_DEPARTMENTS = [
    ("sales", r"\b(?:sales|account executive|business development|bdr|sdr|ae|revenue|cro|partnerships?)\b"),
    ("marketing", r"\b(?:marketing|cmo|growth|demand gen\w*|brand|content|seo|communications|pr)\b"),
    ("it", r"\b(?:cio|ciso|it|information technology|security|infrastructure|systems|sysadmin|network)\b"),
    ("engineering", r"\b(?:cto|engineer\w*|developer|software|devops|architect|programmer|r&d)\b"),
    ("product", r"\b(?:cpo|product)\b"),
    ("finance", r"\b(?:cfo|finance|financial|accounting|accountant|controller|treasurer|procurement)\b"),
    ("operations", r"\b(?:coo|operations|ops|revops|logistics|supply chain)\b"),
    ("hr", r"\b(?:chro|hr|human resources|people|talent|recruit\w*)\b"),
    ("customer_success", r"\b(?:customer success|customer support|support|customer service|cs)\b"),
    ("legal", r"\b(?:legal|counsel|compliance|attorney|lawyer|privacy)\b"),
    # last: "VP Engineering" is engineering, "Product Owner" is product
    ("executive", r"\b(?:ceo|chief executive|founder|co-?founder|president|owner|managing director|general manager)\b"),
]
_DEPARTMENT_RE = [(name, re.compile(pattern)) for name, pattern in _DEPARTMENTS]
DEPARTMENTS = frozenset(name for name, _ in _DEPARTMENTS)


@lru_cache(maxsize=16384)
def seniority_of(title: str) -> str | None:
    """Job title -> c_level / vp / director / manager / individual (None for an empty title)."""
    text = fold(title)
    if not text.strip():
        return None
    for name, pattern in _SENIORITY_RE:
        if pattern.search(text) and not (name == "c_level" and _OWNER_LIKE.search(text) and "chief" not in text):
            return name
    return "individual"


@lru_cache(maxsize=16384)
def department_of(title: str) -> str | None:
    text = fold(title)
    for name, pattern in _DEPARTMENT_RE:
        if pattern.search(text):
            return name
    return None
