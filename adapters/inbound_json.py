"""Strict JSON for inbound bodies: what a CRM cannot store is refused at the door, naming the field.

Python's json accepts ``NaN``, ``Infinity`` and ``1e999`` (as inf), which no CRM can store (HubSpot rejects
``inf`` and the whole lead would end in the dead-letter list); it also recurses once per nesting level, so a
body of 100,000 ``[`` raises RecursionError (a 500). Here each of those is an InputError (HTTP 400) whose
field is the JSON path of the offending value.
"""

from __future__ import annotations

import json
import math
from typing import Any

from connector.errors import InputError

MAX_DEPTH = 32  # a form or event is a few levels deep; more is abuse, not a lead
MAX_INT = 2**63 - 1  # what the CRMs' number fields (and most databases) hold


class _Bad:
    """A number the body held that is no finite, storable value (kept as text to name it)."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text


def _float(text: str) -> float | _Bad:
    value = float(text)
    return value if math.isfinite(value) else _Bad(text)


def _int(text: str) -> int | _Bad:
    if len(text.lstrip("-")) > 19:  # longer than any int64; also keeps int() off 4,300-digit strings
        return _Bad(text)
    value = int(text)
    return value if -MAX_INT - 1 <= value <= MAX_INT else _Bad(text)


def _path(parent: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{parent}[{key}]"
    return f"{parent}.{key}" if parent else key


def _check(value: Any, path: str, depth: int) -> None:
    if isinstance(value, _Bad):
        raise InputError(f"{value.text!r} is not a finite number a CRM can store", field=path or "body")
    if depth > MAX_DEPTH:
        raise InputError(f"nested deeper than {MAX_DEPTH} levels", field=path or "body")
    if isinstance(value, dict):
        for k, v in value.items():
            _check(v, _path(path, k), depth + 1)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _check(v, _path(path, i), depth + 1)


def _fine(value: Any, depth: int = 0) -> bool:
    """True when ``_check`` would find nothing: the same walk, without making a path per value and without a call
    per scalar (a webhook's body is mostly scalars). ``_check`` runs only to name what this found."""
    kind = type(value)
    if kind is _Bad or depth > MAX_DEPTH:
        return False
    if kind is not dict and kind is not list:
        return True
    for v in value.values() if kind is dict else value:
        inner = type(v)
        if (inner is dict or inner is list or inner is _Bad or depth >= MAX_DEPTH) and not _fine(v, depth + 1):
            return False
    return True


def loads(body: bytes | str) -> Any:
    """Parse an inbound JSON body; InputError (naming the field) for bad JSON, non-finite or huge numbers, or
    nesting deeper than ``MAX_DEPTH``."""
    try:
        text = body.decode("utf-8") if isinstance(body, bytes) else body
    except UnicodeDecodeError as exc:
        raise InputError(f"body is not utf-8 ({exc.reason} at byte {exc.start})", field="body") from exc
    try:
        data = json.loads(text, parse_float=_float, parse_int=_int, parse_constant=_Bad)
    except RecursionError:
        raise InputError(f"nested deeper than {MAX_DEPTH} levels", field="body") from None
    except ValueError as exc:
        raise InputError(f"body is not valid JSON: {exc}", field="body") from exc
    if not _fine(data):
        _check(data, "", 0)
    return data


def check_nesting(value: Any, field: str) -> None:
    """InputError naming the field for a value already parsed (an admin request's payload or document) that is
    nested deeper than ``MAX_DEPTH``: what reads it next (a mapping, a deep copy, a page) recurses per level."""
    _check(value, field, 0)
