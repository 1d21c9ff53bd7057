"""Field mappings: a source payload -> the canonical lead, and the lead + decision -> CRM fields.

Source mappings (``mappings/sources/*.yaml``) list rules ``{to, from, transform, map, default, const}``.
``from`` is a payload path: dotted keys, ``[0]`` indexes, ``["odd.key"]`` and list filters such as
``form_response.answers[field.ref=work_email]`` (a Typeform answer's value is read by its ``type``).
A filter value ``*`` with ``to: answers.*`` copies every answer no other rule took, keyed by that field.

Nothing the sender gave is dropped: every non-empty payload leaf no rule consumed lands in
``Lead.extra`` under its flattened path (``form_response.hidden.gclid``), except paths the mapping
lists under ``ignore`` (e.g. Typeform's form definition). A value a rule cannot use becomes a flag
``<to>_unparsed`` and stays in ``extra`` — never an exception.

Paths and transforms are compiled once per mapping object; ``map_payload`` only walks dicts.
"""

from __future__ import annotations

import operator
import re
import types
import typing
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import msgspec

from connector import transforms as tf
from connector.decision import Decision
from connector.errors import InputError
from connector.model import Company, Consent, Event, Identity, Intent, Lead, Origin, Role
from connector.yamlconf import load_yaml

# ---- payload paths ----------------------------------------------------------------------------------------------

_STEP_RE = re.compile(
    r"""\.?(?:
        \[\s*(?P<index>\d+)\s*\]
      | \[\s*["'](?P<quoted>[^"']+)["']\s*\]
      | \[\s*(?P<fpath>[^\]=\s]+)\s*=\s*(?P<fvalue>[^\]]*?)\s*\]
      | (?P<key>[^.\[\]]+)
    )""",
    re.VERBOSE,
)

WILDCARD = "*"


class _Filter(typing.NamedTuple):
    path: tuple[str, ...]
    value: str


Step = str | int | _Filter
Concrete = tuple[str | int, ...]


def parse_path(text: str) -> tuple[Step, ...]:
    """ "a.b[0][field.ref=email]" -> ("a", "b", 0, _Filter(("field", "ref"), "email")); ValueError if malformed."""
    steps: list[Step] = []
    pos = 0
    text = text.strip()
    if not text:
        raise ValueError("empty path")
    while pos < len(text):
        m = _STEP_RE.match(text, pos)
        if not m or m.end() == pos:
            raise ValueError(f"cannot read path {text!r} at position {pos}")
        if m.group("index") is not None:
            steps.append(int(m.group("index")))
        elif m.group("quoted") is not None:
            steps.append(m.group("quoted"))
        elif m.group("fpath") is not None:
            steps.append(_Filter(tuple(m.group("fpath").split(".")), m.group("fvalue").strip("\"'")))
        else:
            steps.append(m.group("key"))
        pos = m.end()
    return tuple(steps)


def _get_sub(element: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        if not isinstance(element, dict):
            return None
        element = element.get(key)
    return element


def typed_answer(element: Any) -> Any:
    """A form-tool answer object -> its value, read by its ``type`` (Typeform: text, email, choice.label, ...)."""
    if not isinstance(element, dict):
        return element
    kind = element.get("type")
    if not isinstance(kind, str) or kind not in element:
        return element
    value = element[kind]
    if kind == "choice" and isinstance(value, dict):
        return value.get("label") or value.get("other")
    if kind == "choices" and isinstance(value, dict):
        labels = list(value.get("labels") or [])
        if value.get("other"):
            labels.append(value["other"])
        return labels
    return value


def resolve(payload: Any, steps: tuple[Step, ...]) -> tuple[Any, Concrete | None]:
    """Follow ``steps``; return (value, concrete path) or (None, None) when any step is missing."""
    node = payload
    concrete: list[str | int] = []
    typed = False
    for step in steps:
        typed = False
        if isinstance(step, str):
            if not isinstance(node, dict) or step not in node:
                return None, None
            node = node[step]
        elif isinstance(step, int):
            if not isinstance(node, list) or step >= len(node):
                return None, None
            node = node[step]
        else:
            if not isinstance(node, list):
                return None, None
            for i, element in enumerate(node):
                if str(_get_sub(element, step.path)) == step.value:
                    node, step = element, i
                    typed = True
                    break
            else:
                return None, None
        concrete.append(step)
    return (typed_answer(node) if typed else node), tuple(concrete)


# ---- canonical targets ------------------------------------------------------------------------------------------

Kind = Literal["str", "int", "float", "bool", "datetime", "list", "events", "any"]
_GROUPS: dict[str, type[msgspec.Struct]] = {
    "identity": Identity,
    "company": Company,
    "role": Role,
    "origin": Origin,
    "consent": Consent,
    "intent": Intent,
}
_KEYED = ("answers", "extra", "origin.external_ids")


def _kind(annotation: Any) -> Kind | None:
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        annotation = next(a for a in typing.get_args(annotation) if a is not type(None))
    base = typing.get_origin(annotation) or annotation
    kinds: dict[Any, Kind] = {str: "str", int: "int", float: "float", bool: "bool", datetime: "datetime", tuple: "list"}
    return kinds.get(base)


def _targets() -> dict[str, Kind]:
    table: dict[str, Kind] = {"id": "str"}
    for group, struct in _GROUPS.items():
        for name, annotation in typing.get_type_hints(struct).items():
            kind = _kind(annotation)
            if kind is not None:
                table[f"{group}.{name}"] = kind
    return table


TARGETS: dict[str, Kind] = _targets()


def target_kind(to: str) -> Kind:
    """Kind of value a canonical path holds; ValueError naming the choices for an unknown path."""
    if to in TARGETS:
        return TARGETS[to]
    if to == "events":
        return "events"
    for prefix in _KEYED:
        if to.startswith(prefix + ".") and len(to) > len(prefix) + 1:
            return "str" if prefix == "origin.external_ids" else "any"
    raise ValueError(
        f"unknown target {to!r}; expected one of {', '.join(sorted(TARGETS))}, "
        "or events, answers.<key>, extra.<key>, origin.external_ids.<crm>"
    )


# ---- source mapping config --------------------------------------------------------------------------------------

TRANSFORMS: dict[str, Callable[[Any], Any]] = {
    "trim": tf.trim,
    "lower": tf.lower,
    "upper": tf.upper,
    "split_name": tf.to_name,
    "number_range": tf.number_range,
    "number": tf.to_number,
    "date": tf.parse_date,
    "date_dayfirst": lambda v: tf.parse_date(v, dayfirst=True),
    "bool": tf.to_bool,
    "not": tf.negate,
    "split": tf.split_list,
    "split_lines": lambda v: tf.split_list(v, "\n"),
    "split_pipe": lambda v: tf.split_list(v, "|"),
}


class Inbound(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """How the service accepts this source: which environment variables hold its secrets."""

    secret_env: str | None = None  # env var with this form's signing secret
    allowed_org_ids_env: str | None = None  # Salesforce: env var with the org ids allowed to send


class FieldRule(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True, rename={"from_": "from"}):
    to: str
    from_: str | list[str] | None = None  # a list means first non-empty
    transform: list[str] = []
    map: dict[str, Any] | None = None  # picklist: payload value -> canonical value ("*" = anything else)
    default: Any = None
    const: Any = None

    def __post_init__(self) -> None:
        kind = target_kind(self.to)
        if self.to.endswith("." + WILDCARD) != self.is_wildcard():
            raise ValueError("copying many values needs both `to: answers.*` (or extra.*) and a [field=*] filter")
        sources = self.sources()
        if self.const is not None and sources:
            raise ValueError("use either `from` or `const`, not both")
        if self.const is None and not sources and self.default is None:
            raise ValueError("needs `from` (payload path), `const` or `default`")
        for text in sources:
            parse_path(text)
        for name in self.transform:
            if name not in TRANSFORMS:
                raise ValueError(f"unknown transform {name!r}; expected one of {', '.join(TRANSFORMS)}")
        if self.is_wildcard() and kind != "any":
            raise ValueError("a [field=*] filter copies many values, so `to` must be answers.* or extra.*")

    def sources(self) -> list[str]:
        if self.from_ is None:
            return []
        return [self.from_] if isinstance(self.from_, str) else list(self.from_)

    def is_wildcard(self) -> bool:
        return any(WILDCARD in s and "=" in s for s in self.sources())


class SourceMapping(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    name: str
    source: Literal["form", "typeform", "hubspot", "salesforce", "csv"]
    channel: str | None = None
    description: str | None = None
    inbound: Inbound = Inbound()
    ignore: list[str] = []  # payload paths that are not lead data (kept out of `extra`)
    fields: list[FieldRule] = []

    def __post_init__(self) -> None:
        for text in self.ignore:
            if any(isinstance(s, _Filter) for s in parse_path(text)):
                raise ValueError(f"ignore: {text!r}: list filters are not allowed here; use plain keys and indexes")


def load_source_mapping(path: str | Path) -> SourceMapping:
    """Read and validate a source mapping; a bad file raises ConfigError with file:line and the field."""
    mapping = load_yaml(path, SourceMapping)
    _compiled(mapping)
    return mapping


# ---- compiled rules ---------------------------------------------------------------------------------------------


_TEXT_OPS: dict[str, Callable[[str], str]] = {"lower": str.lower, "upper": str.upper}


class _Rule:
    __slots__ = ("coerce", "collapse", "const", "default", "flag", "group", "key_paths", "keys", "kind", "lookup",
                 "name", "paths", "steps_fn", "text_fast", "text_ops", "to", "wild")

    def __init__(self, rule: FieldRule) -> None:
        self.to = rule.to
        self.kind: Kind = target_kind(rule.to)
        self.group, _, self.name = rule.to.rpartition(".")  # "id" -> group ""
        self.flag = f"{rule.to}_unparsed"
        self.paths = [parse_path(p) for p in rule.sources()]
        self.wild = rule.is_wildcard()
        self.steps_fn = [TRANSFORMS[n] for n in rule.transform]
        self.lookup = _picklist(rule.map) if rule.map is not None else None
        self.const = rule.const
        self.default = rule.default
        # Fast path for the common rule "top-level key(s) -> text field, trimmed/lower-cased":
        # same result as the general path, without its calls.
        single = all(len(p) == 1 and isinstance(p[0], str) for p in self.paths)
        self.key_paths: list[tuple[str]] | None = (
            [typing.cast(tuple[str], p) for p in self.paths] if single and self.paths and self.const is None else None
        )
        self.text_fast = (
            self.key_paths is not None
            and self.kind == "str"
            and self.group in _GROUPS
            and self.lookup is None
            and all(n in ("trim", "lower", "upper") for n in rule.transform)
        )
        self.collapse = "trim" in rule.transform
        self.keys = [p[0] for p in self.key_paths] if self.key_paths is not None else []
        self.text_ops = [_TEXT_OPS[n] for n in rule.transform if n in _TEXT_OPS]
        self.coerce = _COERCE[self.kind]


_MISSING = object()


def _picklist(table: Mapping[str, Any]) -> Callable[[Any], Any]:
    exact = {str(k): v for k, v in table.items()}
    folded = {str(k).strip().casefold(): v for k, v in table.items()}
    fallback = exact.get(WILDCARD, _MISSING)

    def look(value: Any) -> Any:
        if isinstance(value, list):
            out = [look(v) for v in value]
            return [v for v in out if v is not None]
        key = ("true" if value else "false") if isinstance(value, bool) else str(value)
        if key in exact:
            return exact[key]
        hit = folded.get(key.strip().casefold(), _MISSING)
        if hit is not _MISSING:
            return hit
        return value if fallback is _MISSING else fallback

    return look


def _generate(plan: list[tuple[_Rule, tuple[list[str], str, str, bool, list[Callable[[str], str]]] | None]],
              ) -> Callable[[dict[str, Any], _State], None]:
    """Straight-line code for a mapping's rules, built once per mapping (the "compile" of the module docstring).

    A text rule ("top-level key(s) -> text field, trimmed/lower-cased", most of a form mapping) becomes inline
    code with its keys and field as constants; every other rule is a call of ``_apply``. The generated code does
    exactly what the loop over the rules did (kept in ``_run_plan`` for reference and tests), minus the loop.
    """
    methods = {str.lower: "lower", str.upper: "upper"}
    groups = sorted({fast[1] for _, fast in plan if fast is not None})
    var = {g: f"g{i}" for i, g in enumerate(groups)}
    lines = ["def run(payload, state):", "    get = payload.get", "    top = state.top", "    groups = state.groups"]
    lines += [f"    {var[g]} = groups[{g!r}]" for g in groups]
    namespace: dict[str, Any] = {"_apply": _apply, "_use": _use, "is_empty": tf.is_empty}
    for i, (rule, fast) in enumerate(plan):
        namespace[f"r{i}"] = rule
        if fast is None and rule.key_paths is not None and not rule.text_fast and rule.default is None:
            # _apply for top-level keys without a default: the first non-empty value is used
            lines.append("    while True:")
            for j, path in enumerate(rule.key_paths):
                namespace[f"p{i}_{j}"] = path
                lines += [
                    f"        v = get({path[0]!r})",
                    "        if not (v is None or v == '' or is_empty(v)):",
                    f"            _use(state, r{i}, v, p{i}_{j})",
                    "            break",
                ]
            lines.append("        break")
            continue
        if fast is None:
            lines.append(f"    _apply(state, r{i}, payload)")
            continue
        keys, group, name, collapse, ops = fast
        lines.append("    while True:")
        for key in keys:
            lines += [
                f"        v = get({key!r})",
                "        if v is not None:",
                "            if type(v) is not str:",
                f"                _apply(state, r{i}, payload)",
                "                break",
                "            t = ' '.join(v.split())" if collapse else "            t = v.strip()",
                "            if t:",
            ]
            for j, op in enumerate(ops):
                if op in methods:
                    lines.append(f"                t = t.{methods[op]}()")
                else:
                    namespace[f"op{i}_{j}"] = op
                    lines.append(f"                t = op{i}_{j}(t)")
            lines += [
                f"                if {name!r} not in {var[group]}:",
                f"                    {var[group]}[{name!r}] = t",
                f"                    top.add({key!r})",
                "                break",
            ]
        lines.append("        break")
    exec(compile("\n".join(lines), "<mapping rules>", "exec"), namespace)  # only constants from the validated mapping
    return typing.cast(Callable[[dict[str, Any], _State], None], namespace["run"])


def _run_plan(compiled: _Compiled, payload: dict[str, Any], state: _State) -> None:
    """The rules of a mapping, one after the other: what the code ``_generate`` builds does."""
    groups, top, get = state.groups, state.top, payload.get
    for rule, fast in compiled.plan:
        if fast is None:
            _apply(state, rule, payload)
            continue
        keys, group, name, collapse, ops = fast
        for key in keys:
            value = get(key)
            if type(value) is not str:
                if value is None:
                    continue
                _apply(state, rule, payload)
                break
            text = " ".join(value.split()) if collapse else value.strip()
            if not text:
                continue
            for op in ops:
                text = op(text)
            fields = groups[group]
            if name not in fields:
                fields[name] = text
                top.add(key)
            break


class _Compiled:
    __slots__ = ("ignore", "ignore_top", "mapping", "plan", "rules", "run", "wild_rules")

    def __init__(self, mapping: SourceMapping) -> None:
        self.mapping = mapping
        rules = [_Rule(r) for r in mapping.fields]
        self.rules = [r for r in rules if not r.wild]
        self.wild_rules = [r for r in rules if r.wild]
        # (rule, fast spec): the spec unpacks into locals for the inlined fast path in map_payload
        self.plan: list[tuple[_Rule, tuple[list[str], str, str, bool, list[Callable[[str], str]]] | None]] = [
            (r, (r.keys, r.group, r.name, r.collapse, r.text_ops) if r.text_fast and r.default is None else None)
            for r in self.rules
        ]
        self.ignore: set[Concrete] = set()
        for text in mapping.ignore:
            steps = parse_path(text)
            if all(isinstance(s, (str, int)) for s in steps):
                self.ignore.add(typing.cast(Concrete, steps))
        self.ignore_top = {p[0] for p in self.ignore if len(p) == 1}
        self.run = _generate(self.plan)


# id(mapping) -> compiled rules; the entry holds the mapping itself, so an id is never reused while cached
_cache: dict[int, _Compiled] = {}


def _compiled(mapping: SourceMapping) -> _Compiled:
    compiled = _cache.get(id(mapping))
    if compiled is not None and compiled.mapping is mapping:
        return compiled
    compiled = _Compiled(mapping)
    if len(_cache) > 512:  # configs are reloaded rarely; this only bounds a pathological caller
        _cache.clear()
    _cache[id(mapping)] = compiled
    return compiled


# ---- coercion to the target's kind ------------------------------------------------------------------------------


def _coerce(value: Any, kind: Kind) -> Any:
    return _COERCE[kind](value)


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
_COERCE: dict[str, Callable[[Any], Any]] = {
    "str": _to_str,
    "int": _to_int,
    "float": _to_float,
    "bool": tf.to_bool,
    "datetime": tf.parse_date,
    "events": _coercer("events"),
    "list": _coercer("list"),
    "any": _coercer("any"),
}


# ---- map_payload ------------------------------------------------------------------------------------------------


class _State:
    __slots__ = (
        "answers", "consumed", "events", "external_ids", "extra", "flags", "groups", "lead_id", "name", "ranges", "top",
    )

    def __init__(self) -> None:
        self.groups: dict[str, dict[str, Any]] = {g: {} for g in _GROUPS}
        self.answers: dict[str, Any] = {}
        self.extra: dict[str, Any] = {}
        self.external_ids: dict[str, str] = {}
        self.flags: list[str] = []
        self.consumed: set[Concrete] = set()  # payload paths rules used
        self.top: set[str] = set()  # the top-level keys among them (the common case, without tuples)
        self.name: tf.Name | None = None
        self.ranges: dict[str, tf.Range] = {}
        self.lead_id: str | None = None
        self.events: tuple[Event, ...] = ()


def _transform(rule: _Rule, value: Any) -> Any:
    for fn in rule.steps_fn:
        value = fn(value)
    if rule.lookup is not None:
        value = rule.lookup(value)
    return value


_EMPTY, _STORED, _TAKEN = 0, 1, 2


def _assign(state: _State, rule: _Rule, value: Any) -> int:
    """Coerce and store ``value``. _TAKEN: an earlier rule filled the field (the value is left for `extra`).

    Raises TransformError when the value cannot be used.
    """
    raw = value
    value = rule.coerce(value)
    if value is None or tf.is_empty(value):
        return _EMPTY
    group, name = rule.group, rule.name
    if group == "answers":
        target: dict[str, Any] = state.answers
    elif group == "extra":
        target = state.extra
    elif group == "origin.external_ids":
        target = state.external_ids
    elif rule.kind == "events":
        state.events = (*state.events, *value)
        return _STORED
    elif group == "":
        if state.lead_id is not None:
            return _TAKEN
        state.lead_id = value
        return _STORED
    else:
        target = state.groups[group]
        if rule.kind == "list" and name in target:
            target[name] = tuple(dict.fromkeys((*target[name], *value)))
            return _STORED
        if isinstance(raw, tf.Name) and group == "identity" and state.name is None:
            state.name = raw
        elif isinstance(raw, tf.Range) and name not in target:
            state.ranges[rule.to] = raw
    if name in target:
        return _TAKEN
    target[name] = value
    return _STORED


_PROBLEMS = (tf.TransformError, ValueError, TypeError, OverflowError)


def _use(state: _State, rule: _Rule, value: Any, where: Concrete | None) -> bool:
    """Transform and store one found value; True when the rule is done with it."""
    try:
        for fn in rule.steps_fn:  # _transform, inlined
            value = fn(value)
        if rule.lookup is not None:
            value = rule.lookup(value)
        outcome = _assign(state, rule, value)
    except _PROBLEMS:
        state.flags.append(rule.flag)  # the raw value stays in `extra`: not consumed
        return True
    if outcome == _TAKEN:
        return True
    if where is not None:
        state.consumed.add(where)
        if len(where) == 1:
            state.top.add(typing.cast(str, where[0]))
    return outcome == _STORED


def _apply(state: _State, rule: _Rule, payload: dict[str, Any]) -> None:
    key_paths = rule.key_paths
    if key_paths is not None:
        for path in key_paths:
            value = payload.get(path[0])
            if value is None or value == "":
                continue
            if rule.text_fast and type(value) is str:
                text = " ".join(value.split()) if rule.collapse else value.strip()
                if not text:
                    continue
                for op in rule.text_ops:
                    text = op(text)
                fields = state.groups[rule.group]
                if rule.name not in fields:
                    fields[rule.name] = text
                    state.consumed.add(path)
                return
            if tf.is_empty(value):
                continue
            if _use(state, rule, value, path):
                return
            break
    elif rule.const is not None:
        if _use(state, rule, rule.const, None):
            return
    else:
        for steps in rule.paths:
            value, where = resolve(payload, steps)
            if not tf.is_empty(value):
                if _use(state, rule, value, where):
                    return
                break
    if rule.default is not None:
        _use(state, rule, rule.default, None)


def _apply_wildcard(state: _State, rule: _Rule, payload: dict[str, Any]) -> None:
    for steps in rule.paths:
        *prefix, last = steps
        if not isinstance(last, _Filter):
            continue
        items, where = resolve(payload, tuple(prefix))
        if not isinstance(items, list) or where is None:
            continue
        for i, element in enumerate(items):
            concrete = (*where, i)
            key = _get_sub(element, last.path)
            if concrete in state.consumed or tf.is_empty(key) or isinstance(key, (dict, list)):
                continue
            value = typed_answer(element)
            if tf.is_empty(value):
                continue
            try:
                value = _coerce(_transform(rule, value), "any")
            except (tf.TransformError, ValueError, TypeError, OverflowError):
                state.flags.append(f"{rule.group}.{key}_unparsed")
                continue
            target = state.answers if rule.group == "answers" else state.extra
            target.setdefault(str(key), value)
            state.consumed.add(concrete)


def _leftovers(node: Any, path: Concrete, text: str, state: _State, ignore: set[Concrete]) -> None:
    """Copy every non-empty leaf under ``node`` that no rule consumed into ``extra``."""
    if path in state.consumed or path in ignore:
        return
    if isinstance(node, dict):
        for key, value in node.items():
            _leftovers(value, (*path, key), f"{text}.{key}" if text else str(key), state, ignore)
    elif isinstance(node, list) and any(isinstance(v, (dict, list)) for v in node):
        for i, value in enumerate(node):
            _leftovers(value, (*path, i), f"{text}[{i}]", state, ignore)
    elif not tf.is_empty(node):
        state.extra.setdefault(text, node)


def map_payload(payload: dict[str, Any], mapping: SourceMapping) -> Lead:
    """Turn one inbound payload into a canonical lead. Bad values become flags; a non-object raises InputError."""
    if not isinstance(payload, dict):
        raise InputError(f"the payload must be a JSON object, got {type(payload).__name__}", field="$")
    compiled = _compiled(mapping)
    state = _State()
    compiled.run(payload, state)
    top = state.top
    for rule in compiled.wild_rules:
        _apply_wildcard(state, rule, payload)
    ignore, ignore_top, extra = compiled.ignore, compiled.ignore_top, state.extra
    for key, value in payload.items():
        if key in top or key in ignore_top or value is None or value == "":
            continue
        if isinstance(value, (dict, list)):
            _leftovers(value, (key,), str(key), state, ignore)
        elif not (isinstance(value, str) and value.isspace()):
            extra.setdefault(key, value)
    return _build(state, mapping)


def _build(state: _State, mapping: SourceMapping) -> Lead:
    groups = state.groups
    identity = groups["identity"]
    if state.name is not None:
        if state.name.first:
            identity.setdefault("first_name", state.name.first)
        if state.name.last:
            identity.setdefault("last_name", state.name.last)
    for to, rng in state.ranges.items():
        group, _, name = to.rpartition(".")
        if f"{to}_max" in TARGETS and rng.hi is not None:
            groups[group].setdefault(f"{name}_max", int(rng.hi) if TARGETS[f"{to}_max"] == "int" else rng.hi)
    origin = groups["origin"]
    origin.setdefault("source", mapping.source)
    origin.setdefault("form", mapping.name)
    if mapping.channel is not None:
        origin.setdefault("channel", mapping.channel)
    if state.external_ids:
        origin["external_ids"] = state.external_ids
    return Lead(
        id=state.lead_id,
        identity=Identity(**identity) if identity else Identity(),
        company=Company(**groups["company"]) if groups["company"] else Company(),
        role=Role(**groups["role"]) if groups["role"] else Role(),
        origin=Origin(**origin),
        consent=Consent(**groups["consent"]) if groups["consent"] else Consent(),
        intent=Intent(**groups["intent"]) if groups["intent"] else Intent(),
        events=state.events,
        answers=state.answers,
        extra=state.extra,
        flags=tuple(dict.fromkeys(state.flags)),
    )


# ---- CRM mappings -----------------------------------------------------------------------------------------------

# Fields the CRM computes itself; sending them is refused (Salesforce INVALID_FIELD_FOR_INSERT_UPDATE,
# HubSpot READ_ONLY_VALUE), so a mapping that targets one is a config error.
READ_ONLY: dict[str, frozenset[str]] = {
    "hubspot": frozenset(
        {"hs_object_id", "createdate", "lastmodifieddate", "hs_createdate", "hs_lastmodifieddate", "hs_all_owner_ids",
         "hs_analytics_source", "hs_is_contact", "hs_lifecyclestage_lead_date", "num_associated_deals"}
    ),
    "salesforce": frozenset(
        {"Id", "CreatedDate", "CreatedById", "LastModifiedDate", "LastModifiedById", "SystemModstamp", "IsDeleted",
         "IsConverted", "ConvertedDate", "ConvertedAccountId", "ConvertedContactId", "ConvertedOpportunityId",
         "MasterRecordId", "LastActivityDate", "LastViewedDate", "LastReferencedDate", "Name", "PhotoUrl"}
    ),
}

_DECISION_GETTERS: dict[str, Callable[[Decision, str | None], Any]] = {
    "decision.owner_id": lambda d, owner: owner,
    "decision.score": lambda d, owner: d.score.total,
    "decision.score_fit": lambda d, owner: d.score.fit,
    "decision.score_behaviour": lambda d, owner: d.score.behaviour,
    "decision.score_intent": lambda d, owner: d.score.intent,
    "decision.grade": lambda d, owner: d.score.grade,
    "decision.stage": lambda d, owner: d.score.stage,
    "decision.tags": lambda d, owner: d.tags.tags,
    "decision.segments": lambda d, owner: d.tags.segments,
    "decision.rule": lambda d, owner: d.route.assignment.rule,
    "decision.queue": lambda d, owner: d.route.assignment.queue,
    "decision.explanation": lambda d, owner: d.explanation,
    "decision.account_id": lambda d, owner: d.match.account_id if d.match else None,
    "decision.match_id": lambda d, owner: d.match.record_id if d.match else None,
    "decision.config_version": lambda d, owner: d.config_version or None,
}


def _lead_getter(path: str) -> Callable[[Lead], Any]:
    if path in _DECISION_GETTERS:
        raise AssertionError("decision paths are resolved separately")
    for prefix in _KEYED:
        if path.startswith(prefix + "."):
            key = path[len(prefix) + 1 :]
            container = operator.attrgetter(prefix)
            return lambda lead: container(lead).get(key)
    target_kind(path)  # raises on an unknown path
    return operator.attrgetter(path)


class Bucket(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    value: str
    max: float | None = None  # inclusive upper bound; the last bucket has none


class CrmField(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True, rename={"from_": "from"}):
    to: str
    from_: str  # canonical lead path (identity.email) or decision.<field>
    map: dict[str, Any] | None = None  # our value -> CRM value; a null value means "do not send"
    buckets: list[Bucket] | None = None  # numbers -> picklist value (HubSpot numemployees)
    format: Literal["region_code", "iso_date", "epoch_ms"] | None = None
    join: str = ";"  # lists (tags) are written as a multi-select: "a;b"
    max_length: int | None = None
    default: Any = None

    def __post_init__(self) -> None:
        if self.from_ not in _DECISION_GETTERS:
            try:
                _lead_getter(self.from_)
            except ValueError as exc:
                raise ValueError(f"`from`: {exc}; or one of {', '.join(_DECISION_GETTERS)}") from None
        if self.buckets and any(b.max is None for b in self.buckets[:-1]):
            raise ValueError("only the last bucket may leave out `max`")


class CrmMapping(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    crm: Literal["hubspot", "salesforce"]
    object: str  # "contacts" (HubSpot object type) or "Lead" (Salesforce sObject)
    upsert_key: str  # HubSpot idProperty / Salesforce external id field
    lifecycle_backwards: Literal["never", "clear_then_set"] = "never"
    stage_field: str | None = None  # the CRM field the stage is written to
    stage_order: list[str] = []  # CRM stage values, earliest first (to tell a backwards move)
    company_fallback: str | None = None  # Salesforce Company is required
    values: Literal["native", "string"] = "native"  # HubSpot properties are strings
    read_only: list[str] = []  # extra fields never to send, beyond the built-in list
    fields: list[CrmField] = []

    def __post_init__(self) -> None:
        blocked = READ_ONLY[self.crm] | set(self.read_only)
        targets = [f.to for f in self.fields]
        for f in self.fields:
            if f.to in blocked:
                raise ValueError(f"field {f.to!r} is read-only in {self.crm}; remove it from the mapping")
        if self.upsert_key not in targets:
            raise ValueError(f"upsert_key {self.upsert_key!r} must also be the `to` of one of the fields")

    def stage_rank(self, value: str | None) -> int | None:
        """Position of a CRM stage value in ``stage_order`` (None when unknown), to refuse backwards moves."""
        try:
            return self.stage_order.index(value) if value is not None else None
        except ValueError:
            return None


def load_crm_mapping(path: str | Path) -> CrmMapping:
    """Read and validate a CRM mapping; errors carry file:line and the field."""
    return load_yaml(path, CrmMapping)


def _format(value: Any, field: CrmField, string: bool) -> Any:
    if field.buckets is not None and isinstance(value, (int, float)) and not isinstance(value, bool):
        value = next((b.value for b in field.buckets if b.max is None or value <= b.max), None)
    if field.format == "region_code" and isinstance(value, str):
        value = value.partition("-")[2] or value
    if isinstance(value, datetime):
        value = value.astimezone(UTC)
        if field.format == "epoch_ms":
            value = int(value.timestamp() * 1000)
        elif field.format == "iso_date":
            value = value.date().isoformat()
        else:
            value = value.isoformat().replace("+00:00", "Z")
    if isinstance(value, (tuple, list)):
        value = field.join.join(str(v) for v in value) or None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if value is not None and string and not isinstance(value, str):
        value = ("true" if value else "false") if isinstance(value, bool) else str(value)
    if isinstance(value, str) and field.max_length is not None:
        value = value[: field.max_length]
    return value


_crm_getters: dict[int, tuple[CrmMapping, list[tuple[CrmField, Callable[[Lead], Any] | None]]]] = {}


def crm_fields(lead: Lead, decision: Decision, mapping: CrmMapping, *, owner_id: str | None) -> dict[str, Any]:
    """The CRM record for this lead and decision: CRM field -> value, leaving out empty and read-only fields."""
    entry = _crm_getters.get(id(mapping))
    if entry is None or entry[0] is not mapping:
        getters = [(f, None if f.from_ in _DECISION_GETTERS else _lead_getter(f.from_)) for f in mapping.fields]
        entry = (mapping, getters)
        _crm_getters[id(mapping)] = entry
    blocked = READ_ONLY[mapping.crm].union(mapping.read_only)
    string = mapping.values == "string"
    out: dict[str, Any] = {}
    for field, getter in entry[1]:
        if field.to in blocked or field.to in out:
            continue
        value = getter(lead) if getter is not None else _DECISION_GETTERS[field.from_](decision, owner_id)
        if tf.is_empty(value):
            value = field.default
            if value is None and field.from_ == "company.name":
                value = mapping.company_fallback
        if field.map is not None and value is not None:
            key = ("true" if value else "false") if isinstance(value, bool) else str(value)
            if key in field.map:
                value = field.map[key]
            elif isinstance(value, (tuple, list)):
                value = [field.map.get(str(v), v) for v in value]
        value = _format(value, field, string)
        if not tf.is_empty(value):
            out[field.to] = value
    return out
