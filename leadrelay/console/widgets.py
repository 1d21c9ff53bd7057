"""What the editors' widgets (``templates/widgets.html``) show: each input names where its value goes
(``data-path``) and how to read it (``data-k``).

Kinds the page's script reads: ``text`` (a string; emptied: the key goes), ``num``, ``list`` (comma separated),
``yaml`` (anything, as one line or a box of YAML), ``path`` (a payload path, or a ``[list, of, paths]``), ``bool``
and ``rest`` (a card's other settings, see ``leadrelay.console.edit``).
"""

from __future__ import annotations

from typing import Any

import msgspec

from connector.conditions.condition import OPERATORS
from connector.conditions.fields import FIELDS
from connector.model import Lead
from leadrelay.console.edit import block, flow

OPS_ORDER = ("eq", "ne", "in", "not_in", "gt", "gte", "lt", "lte", "between", "contains", "contains_any",
             "starts_with", "ends_with", "matches", "exists", "missing")
assert set(OPS_ORDER) == OPERATORS


def shown(value: Any, kind: str) -> str:
    """An input's text for a value of the document, as the page's script reads it back for ``kind``."""
    if kind == "list":
        return ", ".join(str(v) for v in value) if isinstance(value, list) else flow(value)
    if kind == "path":
        return value if isinstance(value, str) else flow(value)
    if kind in ("text", "num"):
        return "" if value is None else str(value)
    return flow(value)


def choices(value: Any, options: tuple[str, ...] | list[str]) -> list[str]:
    """A select's options, and what the file says even if unusual (validation says what is wrong)."""
    out = list(options)
    if value not in (None, "") and value not in out:
        out.append(str(value))
    return out


def rest_text(node: dict[str, Any], keep: tuple[str, ...]) -> str:
    """The keys of ``node`` not shown as inputs, as YAML."""
    return block({k: v for k, v in node.items() if k not in keep})


def rows_of(text: str) -> int:
    return max(1, min(12, text.count("\n") + 1)) if text else 1


def json_text(value: Any) -> str:
    """A value as JSON text (for a ``data-arg`` attribute: escaped there like any other text)."""
    return msgspec.json.encode(value).decode()


def is_leaf(cond: Any) -> bool:
    return isinstance(cond, dict) and "field" in cond and set(cond) <= {"field", "op", "value"}


def when_rows(path: str, when: Any) -> tuple[str, list[tuple[str, Any]]]:
    """(``all`` or ``any``, [(path, condition)]) of a rule's ``when``."""
    if when is None:
        return "all", []
    if isinstance(when, dict) and set(when) in ({"all"}, {"any"}) and isinstance(next(iter(when.values())), list):
        join = next(iter(when))
        return join, [(f"{path}.{join}[{i}]", c) for i, c in enumerate(when[join])]
    return "all", [(path, when)]


def canonical_fields() -> list[str]:
    """Every path of the canonical lead a source mapping can write (and ``answers.*`` / ``extra.*``)."""
    out: list[str] = []

    def walk(struct: Any, prefix: str) -> None:
        for field in msgspec.structs.fields(struct):
            inner = field.type
            if isinstance(inner, type) and issubclass(inner, msgspec.Struct):
                walk(inner, f"{prefix}{field.name}.")
            elif field.name not in ("events",):
                out.append(prefix + field.name)

    walk(Lead, "")
    return [*out, "answers.*", "extra.*"]


def condition_fields() -> list[str]:
    return [*FIELDS, "answers.", "extra."]


GLOBALS = {"shown": shown, "choices": choices, "rest_text": rest_text, "rows_of": rows_of, "json_text": json_text,
           "is_leaf": is_leaf, "when_rows": when_rows, "OPS_ORDER": OPS_ORDER}
