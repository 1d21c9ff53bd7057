"""How much text one field of a lead may hold: the caps the mapping applies when a payload becomes a Lead.

A sender controls every string in a payload. The core's work on a lead (name parsing, title and message
patterns, company keys) must stay proportional to what a lead can legitimately hold, whatever was sent; so each
text value is cut to its field's cap *before* any transform or pattern reads it (``connector.mapping``).

What happens to the rest: the characters beyond the cap are dropped, and the lead says so: the flag
``truncated:<field>`` (``truncated:company.name``, ``truncated:answers.<key>``, ``truncated:extra.<key>``) records
that the field holds only the first ``cap`` characters of what was sent (after its surrounding whitespace).
Counts are capped the same way: a lead keeps its newest ``EVENTS`` behaviour events (``truncated:events``), the
first ``KEYS`` keys of ``answers`` and of ``extra`` (``truncated:answers``, ``truncated:extra``), and of a map or
list inside one of their values (``truncated:answers.<key>``). Nothing is dropped without a flag. The API's body
limit (``LEADRELAY_MAX_BODY_BYTES``) bounds the whole delivery; these caps bound each value inside it. Keys (a
payload's field names, kept in ``answers``/``extra``) are not cut; a flag names at most ``OTHER`` characters of one.
"""

from __future__ import annotations

from typing import Any

import msgspec

# A person's or company's name and a job title: the usual size of a CRM's or database's short text field, and
# far beyond any real name or title.
NAME = 255
# An email address: RFC 5321 limits a forward path to 256 octets, i.e. 254 characters of address.
EMAIL = 254
# Free text a person types (intent.message, answers, unmapped fields): ~600 words keeps any real form message
# whole, while bounding what every later step reads per lead (the title/message patterns, the decision log
# entry in Redis, the CRM write: a CRM's long-text field takes tens of thousands, so it is never refused).
TEXT = 4_000
# A URL (website, referrer, an event's page): 2,048 is the de facto URL limit of browsers, crawlers and CDNs.
URL = 2_048
# Every other text field (UTM fields, industry, city, codes, ids, list items): short labels by nature.
OTHER = 255

# Behaviour events on one lead: the newest are kept (scoring reads each per rule; behaviour older than every
# rule's window gives nothing). The same cap holds when a new submission's events are merged (connector.rescore).
EVENTS = 200
# Keys of the free-form maps (answers, extra) and of any map or list inside their values: a long form has a few
# dozen questions; 18,000 keys is a sender filling the decision log, the CRM write and every console page.
KEYS = 200

TRUNCATED = "truncated:"  # flag prefix: "truncated:company.name"

# canonical target -> cap; a target not listed here caps at OTHER, answers.*/extra.* at TEXT (``limit_for``)
FIELD_LIMITS: dict[str, int] = {
    "identity.first_name": NAME,
    "identity.last_name": NAME,
    "identity.full_name": NAME,
    "identity.email": EMAIL,
    "company.name": NAME,
    "company.normalized_name": NAME,
    "company.website": URL,
    "role.title": NAME,
    "origin.referrer": URL,
    "intent.message": TEXT,
    "events": URL,  # an event's kind and detail (often the page's URL)
}
_FREE_TEXT = ("answers.", "extra.")
_encode = msgspec.json.Encoder().encode


def limit_for(target: str) -> int:
    """The cap of a canonical target (``company.name`` -> 255, ``answers.comments`` -> 4,000)."""
    if target in FIELD_LIMITS:
        return FIELD_LIMITS[target]
    return TEXT if target.startswith(_FREE_TEXT) else OTHER


def cut_text(text: str, cap: int) -> tuple[str, bool]:
    """(``text`` cut to ``cap`` characters, whether it was cut); surrounding whitespace is not counted."""
    if len(text) <= cap:
        return text, False
    text = text.strip()
    return (text[:cap], True) if len(text) > cap else (text, False)


def cap_value(value: Any, cap: int) -> tuple[Any, bool]:
    """(``value`` with every string in it cut to ``cap``, whether anything was cut): a string, and the strings in
    lists, tuples and dict values at any depth (the API bounds the depth). Anything else is returned as it is."""
    kind = type(value)
    if kind is str:
        return cut_text(value, cap)
    if kind is list or kind is tuple or kind is dict:
        try:
            if len(_encode(value)) <= cap:  # no string in it is longer than its JSON text: nothing to walk
                return value, False
        except (TypeError, ValueError, OverflowError):  # not JSON data: walk it
            pass
    return _walk(value, cap)


def _walk(value: Any, cap: int) -> tuple[Any, bool]:
    kind = type(value)
    if kind is str:
        return cut_text(value, cap)
    if kind is list or kind is tuple:
        items = [_walk(v, cap) for v in value]
        if not any(cut for _, cut in items):
            return value, False
        return kind(v for v, _ in items), True
    if kind is dict:
        pairs = {k: _walk(v, cap) for k, v in value.items()}
        if not any(cut for _, cut in pairs.values()):
            return value, False
        return {k: v for k, (v, _) in pairs.items()}, True
    if isinstance(value, str):  # a str subclass
        text, cut = cut_text(str(value), cap)
        return (text, True) if cut else (value, False)
    return value, False


def cap_count(value: Any, cap: int = KEYS) -> tuple[Any, bool]:
    """(``value`` with every dict keeping its first ``cap`` keys and every list or tuple its first ``cap`` items,
    at any depth (the API bounds the depth), whether anything was dropped). Anything else is returned as it is."""
    kind = type(value)
    if kind is dict:
        out: dict[Any, Any] = {}
        cut = len(value) > cap
        for key, item in value.items():
            if len(out) == cap:
                break
            out[key], inner = cap_count(item, cap)
            cut = cut or inner
        return (out, True) if cut else (value, False)
    if kind is list or kind is tuple:
        items = [cap_count(item, cap) for item in value[:cap]]
        if len(value) <= cap and not any(inner for _, inner in items):
            return value, False
        return kind(item for item, _ in items), True
    return value, False


def newest_events(events: tuple[Any, ...]) -> tuple[tuple[Any, ...], bool]:
    """(the newest ``EVENTS`` of ``events`` in time order, whether any was dropped); fewer are returned as given."""
    if len(events) <= EVENTS:
        return events, False
    return tuple(sorted(events, key=lambda e: e.at.timestamp())[-EVENTS:]), True
