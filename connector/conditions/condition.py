"""The condition itself: its shape, the checks made when its file loads, and its reading in words."""

from __future__ import annotations

from typing import Any

import msgspec

from connector.conditions.checks import Check, compile_check, compile_pattern, is_num
from connector.conditions.fields import field_kind

OPERATORS = frozenset(
    {"eq", "ne", "in", "not_in", "gt", "gte", "lt", "lte", "contains", "contains_any", "starts_with",
     "ends_with", "matches", "exists", "missing", "between"}
)
_OPS_BY_KIND = {
    "str": OPERATORS - {"gt", "gte", "lt", "lte", "between"},
    "num": {"eq", "ne", "in", "not_in", "gt", "gte", "lt", "lte", "between", "exists", "missing"},
    "bool": {"eq", "ne", "exists", "missing"},
    "list": {"eq", "in", "contains", "contains_any", "exists", "missing"},
    "any": OPERATORS,
}


def _check_scalar(kind: str, v: Any, what: str) -> None:
    if kind == "num" and not is_num(v):
        raise ValueError(f"{what} must be a number, got {v!r}")
    if kind in ("str", "list") and not isinstance(v, str):
        raise ValueError(f"{what} must be text, got {v!r} (quote it in YAML)")
    if kind == "bool" and not isinstance(v, bool):
        raise ValueError(f"{what} must be true or false, got {v!r}")
    if kind == "any" and not isinstance(v, str | int | float | bool):
        raise ValueError(f"{what} must be text, a number or true/false, got {v!r}")


def _validate_leaf(field: str, op: str, value: Any) -> str:
    kind = field_kind(field)
    if op not in OPERATORS:
        raise ValueError(f"no such operator {op!r}; expected one of {', '.join(sorted(OPERATORS))}")
    if op not in _OPS_BY_KIND[kind]:
        raise ValueError(f"operator {op!r} does not apply to {field} ({kind}); use one of "
                         f"{', '.join(sorted(_OPS_BY_KIND[kind]))}")
    if op in ("exists", "missing"):
        if value not in (None, True):
            raise ValueError(f"`{op}` takes no value")
    elif op in ("eq", "ne"):
        _check_scalar(kind, value, "value")
    elif op in ("in", "not_in", "contains_any"):
        if not isinstance(value, list) or not value:
            raise ValueError(f"`{op}` needs a non-empty list as value, got {value!r}")
        for i, v in enumerate(value):
            _check_scalar("str" if op == "contains_any" else kind, v, f"value[{i}]")
    elif op in ("gt", "gte", "lt", "lte"):
        _check_scalar("num", value, "value")
    elif op == "between":
        if not (isinstance(value, list) and len(value) == 2 and all(is_num(v) for v in value)):
            raise ValueError(f"`between` needs [low, high] numbers, got {value!r}")
        if value[0] > value[1]:
            raise ValueError(f"`between` needs low <= high, got {value!r}")
    elif op == "contains":
        _check_scalar("str" if kind != "any" else "any", value, "value")
    elif op in ("starts_with", "ends_with"):
        items = value if isinstance(value, list) else [value]
        if not items:
            raise ValueError(f"`{op}` needs text or a list of text")
        for v in items:
            _check_scalar("str", v, "value")
    elif op == "matches":
        _check_scalar("str", value, "value")
        compile_pattern(value)  # refused here, when the file loads, if RE2 cannot run it
    return kind


class Condition(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, dict=True, omit_defaults=True):
    """A leaf ``{field, op, value}`` or exactly one of ``all`` / ``any`` / ``not``.

    Not frozen: the compiled closure is cached on the instance (``test``) when the file loads.
    """

    field: str | None = None
    op: str | None = None
    value: Any = None
    all: list[Condition] | None = None
    any: list[Condition] | None = None
    not_: Condition | None = msgspec.field(default=None, name="not")

    def __post_init__(self) -> None:
        groups = [g for g in ("all", "any", "not_") if getattr(self, g) is not None]
        leaf = self.field is not None or self.op is not None
        if len(groups) + leaf != 1:
            raise ValueError("a condition is either {field, op, value} or exactly one of all / any / not")
        if leaf:
            if self.field is None or self.op is None:
                raise ValueError("a condition needs both `field` and `op`")
            _validate_leaf(self.field, self.op, self.value)
        elif self.value is not None:
            raise ValueError("`value` belongs in a {field, op, value} condition")
        elif (self.all is not None and not self.all) or (self.any is not None and not self.any):
            raise ValueError("`all` / `any` need at least one condition")
        self.test: Check = compile_check(self)
        self.text: str = _describe(self)


def compile_condition(cond: Condition) -> Check:
    """The compiled test of a condition: ``check(lead_view(...)) -> bool`` (built once, at load)."""
    return cond.test


def describe(cond: Condition) -> str:
    """A short human reading of a condition, for reasons and traces (built once, at load)."""
    return cond.text


def _describe(cond: Condition) -> str:
    if cond.all is not None:
        return " and ".join(describe(c) if c.field else f"({describe(c)})" for c in cond.all)
    if cond.any is not None:
        return " or ".join(describe(c) if c.field else f"({describe(c)})" for c in cond.any)
    if cond.not_ is not None:
        return f"not ({describe(cond.not_)})"
    op = (cond.op or "").replace("_", " ")
    if cond.op in ("exists", "missing"):
        return f"{cond.field} {op}"
    if cond.op == "between":
        return f"{cond.field} between {cond.value[0]} and {cond.value[1]}"
    value = ", ".join(map(str, cond.value)) if isinstance(cond.value, list) else cond.value
    return f"{cond.field} {op} {value}"
