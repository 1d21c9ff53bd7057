"""Value transforms the mapping engine applies: pure, per value, safe on any input.

A transform either returns a value or raises ``TransformError``; the engine turns
that into a flag on the lead (``company.size_unparsed``) and keeps the raw value in
``extra``. Anything a sender might repeat a lot (name splits, dates) is cached.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from dateutil import parser as date_parser
from nameparser import HumanName
from nameparser.config import CONSTANTS

from connector.limits import NAME


class TransformError(ValueError):
    """A value the transform cannot turn into what the field needs."""


class Range(tuple[int | float | None, int | float | None]):
    """A parsed number range: ``Range((50, 200))``; ``hi`` is None for open ranges ("1,000+")."""

    __slots__ = ()

    @property
    def lo(self) -> int | float | None:
        return self[0]

    @property
    def hi(self) -> int | float | None:
        return self[1]


class Name(tuple[str, str | None, str | None]):
    """A full name split into (full, first, last)."""

    __slots__ = ()

    @property
    def full(self) -> str:
        return self[0]

    @property
    def first(self) -> str | None:
        return self[1]

    @property
    def last(self) -> str | None:
        return self[2]


def is_empty(value: Any) -> bool:
    """None, "", whitespace, and empty lists/dicts carry nothing."""
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, (list, tuple, dict)):
        return len(value) == 0
    return False


# ---- text -------------------------------------------------------------------------------------------------------


def trim(value: Any) -> Any:
    if isinstance(value, str):
        return " ".join(value.split()) if "  " in value or "\n" in value or "\t" in value else value.strip()
    if isinstance(value, list):
        return [trim(v) for v in value]
    return value


def _text_op(op: Callable[[str], str]) -> Callable[[Any], Any]:
    def apply(value: Any) -> Any:
        if isinstance(value, str):
            return op(value)
        if isinstance(value, list):
            return [op(v) if isinstance(v, str) else v for v in value]
        return value

    return apply


lower = _text_op(str.lower)
upper = _text_op(str.upper)


@lru_cache(maxsize=64)
def _splitter(separators: str) -> re.Pattern[str]:
    return re.compile("[" + re.escape(separators) + "]")


def split_list(value: Any, separators: str = ",;") -> list[str]:
    """ "a, b; c" -> ["a", "b", "c"]; lists pass through with their items trimmed."""
    if isinstance(value, (list, tuple)):
        items: Iterable[Any] = value
    elif isinstance(value, str):
        items = _splitter(separators).split(value) if separators else [value]
    else:
        items = [value]
    return [s for s in (str(v).strip() for v in items if v is not None) if s]


# ---- booleans ---------------------------------------------------------------------------------------------------

_TRUE = frozenset({"true", "t", "yes", "y", "on", "1", "checked", "x", "opt-in", "opted in", "subscribed", "agree"})
_FALSE = frozenset({"false", "f", "no", "n", "off", "0", "unchecked", "", "opt-out", "opted out", "unsubscribed"})


def to_bool(value: Any) -> bool:
    """Checkbox and picklist spellings of yes/no; anything else is an error, not a guess."""
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    if isinstance(value, list) and len(value) == 1:
        return to_bool(value[0])
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    raise TransformError(f"not a yes/no value: {value!r}")


def negate(value: Any) -> bool:
    return not to_bool(value)


# ---- numbers and ranges -----------------------------------------------------------------------------------------

_MULT = {"": 1, "k": 1_000, "m": 1_000_000, "mm": 1_000_000, "mn": 1_000_000, "b": 1_000_000_000, "bn": 1_000_000_000}
_NUM = r"(\d[\d,]*(?:\.\d+)?|\.\d+)\s*(k|mm|mn|m|bn|b)?"
_RANGE_RE = re.compile(rf"^{_NUM}\s*(?:-|–|—|to)\s*{_NUM}$")
_PLUS_RE = re.compile(rf"^(?:>=?|over|more than|above|at least)?\s*{_NUM}\s*(\+|or more|and up|and above)?$")
_BELOW_RE = re.compile(rf"^(?:<=?|under|less than|below|up to|fewer than)\s*{_NUM}$")
# no "\s+$" here: the text is split and joined after, and that pattern, searched, is quadratic in a space run
_NOISE_RE = re.compile(r"[$€£¥]|\b(?:usd|eur|gbp|employees?|people|staff|ppl|emp|fte|persons?)\b")


def _number(digits: str, suffix: str | None) -> int | float:
    text = digits.replace(",", "")
    number = float(text) * _MULT[suffix or ""]
    return int(number) if number.is_integer() else number


@lru_cache(maxsize=4096)
def _parse_range_text(text: str) -> Range:
    cleaned = " ".join(_NOISE_RE.sub(" ", text.lower()).split())
    m = _RANGE_RE.match(cleaned)
    if m:
        lo, hi = _number(m.group(1), m.group(2)), _number(m.group(3), m.group(4))
        # "10-50k" means 10k-50k
        if m.group(2) is None and m.group(4) and lo < hi / _MULT[m.group(4)]:
            lo = _number(m.group(1), m.group(4))
        return Range((min(lo, hi), max(lo, hi)))
    m = _BELOW_RE.match(cleaned)
    if m:
        return Range((0, _number(m.group(1), m.group(2))))
    m = _PLUS_RE.match(cleaned)
    if m:
        n = _number(m.group(1), m.group(2))
        open_ended = bool(m.group(3)) or cleaned[:1] in "<>" or not cleaned[:1].isdigit()
        return Range((n, None if open_ended else n))
    raise TransformError(f"not a number or range: {text!r}")


def number_range(value: Any) -> Range:
    """ "50-200" -> (50, 200); "1,000+" -> (1000, None); "10k" -> (10000, 10000); 250 -> (250, 250)."""
    if isinstance(value, Range):
        return value
    if isinstance(value, bool):
        raise TransformError(f"not a number or range: {value!r}")
    if isinstance(value, (int, float)):
        return Range((value, value))
    if isinstance(value, str) and len(value) <= 64:
        return _parse_range_text(value)
    raise TransformError(f"not a number or range: {value!r}")


def to_number(value: Any) -> int | float:
    """A single number; ranges give their lower bound."""
    rng = number_range(value)
    if rng.lo is None:
        raise TransformError(f"not a number: {value!r}")
    return rng.lo


# ---- dates ------------------------------------------------------------------------------------------------------


def _aware(dt: datetime) -> datetime:
    # A time without a zone is taken as UTC: senders that omit it almost always mean server time in UTC.
    return dt if dt.tzinfo is not None else dt.replace(tzinfo=UTC)


@lru_cache(maxsize=4096)
def _parse_date_text(text: str, dayfirst: bool) -> datetime:
    try:
        return _aware(datetime.fromisoformat(text))
    except ValueError:
        pass
    if text.isdigit():
        return parse_date(int(text))
    try:
        return _aware(date_parser.parse(text, dayfirst=dayfirst))
    except (ValueError, OverflowError, date_parser.ParserError) as exc:
        raise TransformError(f"not a date: {text!r}") from exc


def parse_date(value: Any, dayfirst: bool = False) -> datetime:
    """ISO 8601, common written forms ("Jan 5, 2024", "05/01/2024") and epoch seconds/milliseconds -> aware datetime."""
    if isinstance(value, datetime):
        return _aware(value)
    if isinstance(value, bool):
        raise TransformError(f"not a date: {value!r}")
    if isinstance(value, (int, float)):
        seconds = value / 1000 if abs(value) > 1e11 else value  # HubSpot and Salesforce send epoch milliseconds
        try:
            return datetime.fromtimestamp(seconds, tz=UTC)
        except (ValueError, OverflowError, OSError) as exc:
            raise TransformError(f"not a date: {value!r}") from exc
    if isinstance(value, str) and 0 < len(value.strip()) <= 64:
        return _parse_date_text(value.strip(), dayfirst)
    raise TransformError(f"not a date: {value!r}")


# ---- names ------------------------------------------------------------------------------------------------------

NAME_WORDS = frozenset(CONSTANTS.titles) | frozenset(CONSTANTS.suffix_acronyms) | frozenset(
    CONSTANTS.suffix_not_acronyms
) | frozenset(CONSTANTS.prefixes) | frozenset(CONSTANTS.conjunctions)


@lru_cache(maxsize=16384)
def split_name(value: str) -> Name:
    """ "Dr. Ana de la Cruz" -> first "Ana", last "de la Cruz" (nameparser; plain "First Last" skips it for speed)."""
    full = " ".join(value.split())
    if len(full) > NAME:
        # no one's name: nameparser's time grows with the text (~10 s a megabyte), so it does not guess at it
        return Name((full, None, None))
    parts = full.split(" ")
    if (
        len(parts) == 2
        and "," not in full
        and all(p.isalpha() and p.lower().strip(".") not in NAME_WORDS for p in parts)
    ):
        return Name((full, parts[0], parts[1]))
    try:
        human = HumanName(full)
        first, last = human.first or None, human.last or None
    except Exception:  # nameparser is a heuristic; an odd string must never stop a lead
        first, last = None, None
    return Name((full, first, last))


def to_name(value: Any) -> Name:
    if isinstance(value, Name):
        return value
    if isinstance(value, str) and value.strip():
        return split_name(value)
    raise TransformError(f"not a name: {value!r}")
