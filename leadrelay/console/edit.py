"""The console edits a config file as data and the server writes it back as YAML.

A page holds each file it edits as a JSON document (the file's YAML, parsed). Inputs write their value at a path
(``rules[2].when.all[0].value``); a value the browser cannot type (a list, a number range, a nested condition) is
sent as ``{"__yaml__": text}`` and parsed here, and a card's "other settings" box as ``{"__rest__": {"text",
"keep"}}``. Structural changes (add, remove, move a row or a condition, "out today") are ``apply_op`` here, so the
page's script stays small and the rules live in one place.

Writing back loses the file's comments except its leading comment block (PyYAML keeps no comments): the published
version's header is kept, the inline comments are not. ``config export`` writes what was published.
"""

from __future__ import annotations

import copy
import re
from datetime import date
from typing import Any

import yaml

from connector.errors import ConfigError
from connector.yamlconf import safe_yaml

Step = str | int
_STEP = re.compile(r"\.?([^.\[\]]+)|\[(\d+)\]")
CONDITION = {"field": "", "op": "eq", "value": ""}


class EditError(ValueError):
    """A value that does not parse, at ``path`` (shown beside its input)."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(message)
        self.path, self.message = path, message


def steps(path: str) -> list[Step]:
    """``"rules[2].when"`` -> ``["rules", 2, "when"]``."""
    out: list[Step] = []
    for key, index in _STEP.findall(path):
        out.append(int(index) if index else key)
    return out


def join(path: list[Step]) -> str:
    text = ""
    for step in path:
        text += f"[{step}]" if isinstance(step, int) else (f".{step}" if text else step)
    return text


def get_at(doc: Any, path: list[Step]) -> Any:
    node = doc
    for step in path:
        node = node[step]
    return node


def _parent(doc: Any, path: str) -> tuple[Any, Step]:
    parts = steps(path)
    if not parts:
        raise EditError(path, "no path")
    try:
        return get_at(doc, parts[:-1]), parts[-1]
    except (KeyError, IndexError, TypeError):
        raise EditError(path, "no such place in the file (reload the page)") from None


# ---- values the browser sends as text --------------------------------------------------------------------------
def _load(text: str, path: str) -> Any:
    """A value typed as YAML, read as a config file is (no anchors or aliases, bounded depth and size)."""
    try:
        return safe_yaml(text, path)[0] if text.strip() else None
    except ConfigError as exc:
        raise EditError(path, exc.reason.replace("invalid YAML", "not valid YAML")) from None


def _rest(node: dict[str, Any], marker: dict[str, Any], path: str) -> dict[str, Any]:
    """The node with its other keys replaced by the ``__rest__`` box's YAML (the keys in ``keep`` stay)."""
    extra = _load(str(marker.get("text", "")), join([*steps(path), "__rest__"]) if path else "__rest__")
    if extra is None:
        extra = {}
    if not isinstance(extra, dict):
        raise EditError(join([*steps(path), "__rest__"]), "other settings must be `key: value` lines")
    keep = set(marker.get("keep", ()))
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in keep:
            out[key] = value
        elif key in extra:
            out[key] = extra[key]
    out.update({k: v for k, v in extra.items() if k not in out and k not in keep})
    return out


def resolve(doc: Any, path: str = "") -> Any:
    """The document with every ``__yaml__`` / ``__rest__`` marker turned into data; EditError names a bad one."""
    if isinstance(doc, dict):
        if set(doc) == {"__yaml__"}:
            return _load(str(doc["__yaml__"]), path)
        node = {k: v for k, v in doc.items() if k != "__rest__"}
        if isinstance(doc.get("__rest__"), dict):
            node = _rest(node, doc["__rest__"], path)
        return {k: resolve(v, join([*steps(path), k])) for k, v in node.items()}
    if isinstance(doc, list):
        return [resolve(v, f"{path}[{i}]") for i, v in enumerate(doc)]
    return doc


# ---- YAML out ----------------------------------------------------------------------------------------------------
class _Dumper(yaml.SafeDumper):
    """Block style for mappings with nested collections, flow for small leaf ones (like the files we ship)."""

    def ignore_aliases(self, data: Any) -> bool:
        return True  # a value used twice is written twice: the config reader refuses anchors and aliases


_NUMBERISH = re.compile(r"[-+]?[0-9][0-9_.eE+-]*")


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    """Text with newlines as a block; text that looks like a number ("079", a ZIP) always quoted, as people write
    it (PyYAML would leave "079" bare, which other YAML readers take for a number)."""
    style = "|" if "\n" in value else ("'" if _NUMBERISH.fullmatch(value) else None)
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def header_of(text: str) -> str:
    """The leading comment block of a file (kept when the console writes it back)."""
    lines = []
    for line in text.splitlines():
        if line.startswith("#") or (not line.strip() and lines):
            lines.append(line)
        else:
            break
    while lines and not lines[-1].strip():
        lines.pop()
    return "\n".join(lines) + "\n" if lines else ""


def dump(doc: Any, header: str = "") -> str:
    """YAML text of a document, under ``header`` (its comment block)."""
    body = yaml.dump(doc, Dumper=_Dumper, sort_keys=False, allow_unicode=True, default_flow_style=None, width=118)
    return header + ("\n" if header else "") + body


def flow(value: Any) -> str:
    """A value as one line of YAML, for an input (``[hot, warm]``, ``1000``, ``demo``)."""
    if value is None:
        return ""
    text = yaml.dump(value, Dumper=_Dumper, default_flow_style=True, allow_unicode=True, width=10_000)
    return text.removesuffix("\n...\n").strip()


def block(value: Any) -> str:
    """A mapping as YAML for an "other settings" box: a line per key, a short value on the key's line."""
    if not value:
        return ""
    lines = []
    for key, item in value.items():
        one = flow({key: item})[1:-1]  # "{key: value}" less its braces: the key and value quoted as YAML needs
        if len(one) <= 90:
            lines.append(one)
        else:
            lines.append(yaml.dump({key: item}, Dumper=_Dumper, sort_keys=False, allow_unicode=True,
                                   default_flow_style=None, width=80).strip())
    return "\n".join(lines)


# ---- structural changes -------------------------------------------------------------------------------------------
def _list_at(doc: Any, path: str) -> list[Any]:
    parent, last = _parent(doc, path)
    if isinstance(parent, dict) and last not in parent:
        parent[last] = []
    node = parent[last]
    if not isinstance(node, list):
        raise EditError(path, "not a list")
    return node


def _unique(items: list[Any], base: str) -> str:
    names = {i.get("name") for i in items if isinstance(i, dict)}
    n = 1
    while f"{base}_{n}" in names:
        n += 1
    return f"{base}_{n}"


def _add(doc: Any, path: str, arg: Any) -> None:
    items = _list_at(doc, path)
    item = copy.deepcopy(arg) if arg is not None else {}
    if isinstance(item, dict) and item.get("name") == "new_rule":
        item["name"] = _unique(items, "new_rule")
    items.append(item)


def _remove(doc: Any, path: str, _: Any) -> None:
    parent, last = _parent(doc, path)
    del parent[last]


def _move(doc: Any, path: str, arg: Any) -> None:
    """Move the list item at ``path`` to index ``arg`` (drag and drop), or by ``{"by": -1|1}`` (buttons)."""
    parent, last = _parent(doc, path)
    if not isinstance(parent, list) or not isinstance(last, int):
        raise EditError(path, "only a list item moves")
    target = last + int(arg["by"]) if isinstance(arg, dict) else int(arg)
    target = max(0, min(len(parent) - 1, target))
    parent.insert(target, parent.pop(last))


def _conditions(holder: dict[str, Any], key: str) -> list[Any]:
    """The holder's condition as a list under ``all``/``any`` (a single condition becomes a list of one)."""
    when = holder.get(key)
    if when is None:
        holder[key] = {"all": []}
    elif not (isinstance(when, dict) and set(when) in ({"all"}, {"any"}) and isinstance(next(iter(when.values())),
                                                                                            list)):
        holder[key] = {"all": [when]}
    return next(iter(holder[key].values()))  # type: ignore[no-any-return]


def _add_condition(doc: Any, path: str, _: Any) -> None:
    holder, key = _parent(doc, path)
    _conditions(holder, str(key)).append(dict(CONDITION))


def _remove_condition(doc: Any, path: str, _: Any) -> None:
    """Remove one row; the last row gone removes the condition (the rule then always applies)."""
    parts = steps(path)
    when_path = parts[:-2] if len(parts) >= 2 and isinstance(parts[-1], int) else parts
    if when_path == parts:  # a single {field, op, value}: remove the whole condition
        holder, key = _parent(doc, path)
        del holder[key]
        return
    rows = get_at(doc, parts[:-1])
    del rows[parts[-1]]
    holder = get_at(doc, when_path[:-1])
    if not rows:
        del holder[when_path[-1]]
    elif len(rows) == 1 and isinstance(rows[0], dict) and "field" in rows[0]:
        holder[when_path[-1]] = rows[0]


def _join(doc: Any, path: str, arg: Any) -> None:
    """Rows must all hold (``all``) or any one (``any``)."""
    holder, key = _parent(doc, path)
    rows = _conditions(holder, str(key))
    holder[key] = {"any" if arg == "any" else "all": rows}


def _out_today(doc: Any, path: str, arg: Any) -> None:
    """The rep ``arg["id"]`` of the list at ``path`` is away on ``arg["day"]`` (ISO; default today)."""
    rep = next((r for r in get_at(doc, steps(path)) if isinstance(r, dict) and r.get("id") == arg.get("id")), None)
    if rep is None:
        raise EditError(path, f"no rep {arg.get('id')!r} in this version of the file")
    day = str(arg.get("day") or date.today().isoformat())
    away = rep.setdefault("out_of_office", [])
    if not any(str(o.get("start")) <= day <= str(o.get("end")) for o in away if isinstance(o, dict)):
        away.append({"start": day, "end": day, "note": "out today"})


OPS = {"add": _add, "remove": _remove, "move": _move, "add_condition": _add_condition,
       "remove_condition": _remove_condition, "join": _join, "out_today": _out_today}


def apply_op(doc: Any, op: str, path: str, arg: Any = None) -> Any:
    """The document after one structural change (the input document is not modified)."""
    fn = OPS.get(op)
    if fn is None:
        raise EditError(path, f"unknown change {op!r}")
    out = copy.deepcopy(doc)
    try:
        fn(out, path, arg)
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        if isinstance(exc, EditError):
            raise
        raise EditError(path, "no such place in the file (reload the page)") from None
    return out
