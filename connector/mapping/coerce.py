"""Coercion: a rule's (transformed) value -> the kind of value its canonical target holds (``paths.Kind``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec

from connector import transforms as tf
from connector.mapping.paths import Kind
from connector.model import Event


def coerce(value: Any, kind: Kind) -> Any:
    """``value`` as a value of ``kind``; TransformError (or ValueError, TypeError) when it is none."""
    return COERCE[kind](value)


def _to_str(value: Any) -> Any:
    if type(value) is str:  # the common case first; a str subclass goes the long way
        return value.strip() or None
    return _coerce_any_kind(value, "str")


def _to_int(value: Any) -> Any:
    return round(tf.to_number(value))


def _to_float(value: Any) -> Any:
    return float(tf.to_number(value))


def _coerce_any_kind(value: Any, kind: Kind) -> Any:
    if kind == "str":
        if isinstance(value, tf.Name):
            return value.full
        if isinstance(value, tf.Range):
            lo, hi = value
            return str(lo) if hi == lo else f"{lo}+" if hi is None else f"{lo}-{hi}"
        if isinstance(value, str):
            return value.strip() or None
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, float) and value.is_integer():
            return str(int(value))
        if isinstance(value, (int, float)):
            return str(value)
        if isinstance(value, list) and all(isinstance(v, (str, int, float)) for v in value):
            return "; ".join(str(v).strip() for v in value if str(v).strip()) or None
        raise tf.TransformError(f"expected text, got {type(value).__name__}")
    if kind in ("int", "float"):
        number = tf.to_number(value)
        return round(number) if kind == "int" else float(number)
    if kind == "bool":
        return tf.to_bool(value)
    if kind == "datetime":
        return tf.parse_date(value)
    if kind == "events":
        # behaviour from a tracking script or the CRM: [{kind, at, detail}]
        try:
            events = msgspec.convert(value if isinstance(value, (list, tuple)) else [value], tuple[Event, ...],
                                     strict=False)
        except msgspec.ValidationError as exc:
            raise tf.TransformError(f"expected a list of {{kind, at}} events: {exc}") from exc
        return events or None
    if kind == "list":
        items = value if isinstance(value, (list, tuple)) else [value]
        out = tuple(dict.fromkeys(s for s in (_to_str(v) for v in items) if s))
        return out or None
    if isinstance(value, tf.Name):
        return value.full
    if isinstance(value, tf.Range):
        return {"min": value.lo, "max": value.hi}
    return value


def _coercer(kind: Kind) -> Callable[[Any], Any]:
    return lambda value: _coerce_any_kind(value, kind)


# kind -> coercion, looked up once per rule at compile time
COERCE: dict[str, Callable[[Any], Any]] = {
    "str": _to_str,
    "int": _to_int,
    "float": _to_float,
    "bool": tf.to_bool,
    "datetime": tf.parse_date,
    "events": _coercer("events"),
    "list": _coercer("list"),
    "any": _coercer("any"),
}
