"""Form widgets of the editors: each input names where its value goes (``data-path``) and how to read it (``data-k``).

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
from leadrelay.console.html import attrs, esc

OPS_ORDER = ("eq", "ne", "in", "not_in", "gt", "gte", "lt", "lte", "between", "contains", "contains_any",
             "starts_with", "ends_with", "matches", "exists", "missing")
assert set(OPS_ORDER) == OPERATORS


def field_input(path: str, value: Any, kind: str = "text", *, label: str = "", cls: str = "", list_: str | None = None,
                placeholder: str = "", opt: bool = True) -> str:
    """One input. ``list_`` names a <datalist> (a dropdown that still takes a new name)."""
    if kind == "list":
        shown = ", ".join(str(v) for v in value) if isinstance(value, list) else flow(value)
    elif kind == "path":
        shown = value if isinstance(value, str) else flow(value)
    elif kind in ("text", "num"):
        shown = "" if value is None else str(value)
    else:
        shown = flow(value)
    at = attrs(type="number" if kind == "num" else "text", value=shown, data_k=kind, data_path=path, data_opt=opt,
               list=list_, placeholder=placeholder or None, class_=cls or None, aria_label=label or path,
               step="any" if kind == "num" else None, title=shown if kind == "path" and len(shown) > 30 else None)
    tag = f"<input{at}>"
    return f'<label class="f {cls}"><span>{esc(label)}</span>{tag}</label>' if label else tag


def check_input(path: str, value: Any, label: str) -> str:
    at = attrs(type="checkbox", data_k="bool", data_path=path, checked=bool(value))
    return f'<label class="f check"><input{at}><span>{esc(label)}</span></label>'


def select(path: str, value: Any, options: tuple[str, ...] | list[str], *, label: str = "", opt: bool = False,
           cls: str = "") -> str:
    choices = list(options)
    if value not in (None, "") and value not in choices:
        choices.append(str(value))  # keep what the file says, even if unusual: validation says what is wrong
    body = ('<option value=""></option>' if opt else "") + "".join(
        f'<option{attrs(value=o, selected=o == value)}>{esc(o)}</option>' for o in choices)
    tag = f'<select{attrs(data_k="text", data_path=path, data_opt=opt, aria_label=label or path)}>{body}</select>'
    return f'<label class="f {cls}"><span>{esc(label)}</span>{tag}</label>' if label else tag


def rest_box(path: str, node: dict[str, Any], keep: tuple[str, ...], label: str = "Other settings") -> str:
    """The keys of ``node`` not shown as inputs, as YAML to edit."""
    others = {k: v for k, v in node.items() if k not in keep}
    text = block(others)
    rows = max(1, min(12, text.count("\n") + 1)) if text else 1
    at = attrs(data_k="rest", data_path=path, data_keep=",".join(keep), rows=rows, spellcheck="false",
               placeholder="—" if not label else "key: value")
    return f'<label class="f rest"><span>{esc(label)}</span><textarea{at}>{esc(text)}</textarea></label>'


def op_button(op: str, path: str, label: str, *, arg: Any = None, title: str = "", cls: str = "icon",
              **extra: Any) -> str:
    """A structural change (``leadrelay.console.edit.OPS``) applied by the server to the page's document."""
    data_arg = msgspec.json.encode(arg).decode() if arg is not None else None
    at = attrs(class_=cls, data_op=op, data_path=path, data_arg=data_arg, title=title or None,
               aria_label=title or label, data_admin=True, **extra)
    return f'<button type="button"{at}>{esc(label)}</button>'


def _is_leaf(cond: Any) -> bool:
    return isinstance(cond, dict) and "field" in cond and set(cond) <= {"field", "op", "value"}


def condition_row(path: str, cond: Any) -> str:
    """One condition: field / operator / value, or its YAML when it nests (``not``, ``any`` inside ``all``)."""
    remove = op_button("remove_condition", path, "×", title="remove this condition")
    if not _is_leaf(cond):
        return (f'<div class="cond raw">{field_input(path, cond, "yaml", label="", cls="wide", opt=False)}'
                f"{remove}</div>")
    field = field_input(f"{path}.field", cond.get("field"), label="", list_="condition-fields", opt=False,
                        placeholder="field")
    op = select(f"{path}.op", cond.get("op", "eq"), OPS_ORDER)
    value = field_input(f"{path}.value", cond.get("value"), "yaml", placeholder="value", cls="value")
    return f'<div class="cond">{field}{op}{value}{remove}</div>'


def conditions(path: str, when: Any) -> str:
    """The rows of a rule's ``when``: all of them must hold, or any one."""
    join, rows = "all", []
    if when is None:
        pass
    elif isinstance(when, dict) and set(when) in ({"all"}, {"any"}) and isinstance(next(iter(when.values())), list):
        join = next(iter(when))
        rows = [condition_row(f"{path}.{join}[{i}]", c) for i, c in enumerate(when[join])]
    else:
        rows = [condition_row(path, when)]
    chooser = ""
    if len(rows) > 1:
        chips = "".join(op_button("join", path, j, arg=j, cls="chip on" if join == j else "chip")
                        for j in ("all", "any"))
        chooser = f'<span class="join">{chips}<small>of these must hold</small></span>'
    add = op_button("add_condition", path, "+ condition", cls="small")
    if not rows:
        return (f'<div class="conds none" data-when="{esc(path)}"><span class="muted small">No condition: applies '
                f"to every lead.</span>{add}</div>")
    return f'<div class="conds" data-when="{esc(path)}">{chooser}{"".join(rows)}{add}</div>'


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


def datalist(element_id: str, values: list[str] | tuple[str, ...]) -> str:
    return f'<datalist id="{esc(element_id)}">' + "".join(f'<option value="{esc(v)}">' for v in values) + "</datalist>"


def condition_fields() -> list[str]:
    return [*FIELDS, "answers.", "extra."]
