"""The engine of a source mapping: its rules compiled once, then applied to each payload.

A compiled rule knows its target's kind and coercion, its transforms and picklist, and whether it is the common
"top-level key(s) -> text field, trimmed/lower-cased" rule, which ``run_rules`` applies inline. A value a rule
cannot use becomes the flag ``<to>_unparsed`` and stays in ``extra``; an earlier rule's value is never replaced.
Every string a rule reads is cut to its target's cap (``connector.limits``) before any transform or pattern sees
it, and again once coerced; a value stored cut adds the flag ``truncated:<to>``.
"""

from __future__ import annotations

import typing
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from connector import transforms as tf
from connector.limits import OTHER, TEXT, TRUNCATED, cap_value, cut_text, limit_for
from connector.mapping.coerce import COERCE, coerce
from connector.mapping.paths import (
    GROUPS,
    WILDCARD,
    Concrete,
    Filter,
    Kind,
    parse_path,
    resolve,
    sub_value,
    target_kind,
    typed_answer,
)
from connector.model import Event

if TYPE_CHECKING:
    from connector.mapping.sources import FieldRule, SourceMapping

# the transforms a rule may name, in the order it names them
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

_TEXT_OPS: dict[str, Callable[[str], str]] = {"lower": str.lower, "upper": str.upper}


class _Rule:
    """One ``FieldRule`` with what does not depend on the payload worked out: paths parsed, functions looked up."""

    __slots__ = ("cap", "coerce", "collapse", "const", "cut_flag", "default", "flag", "group", "key_paths", "keys",
                 "kind", "lookup", "name", "paths", "raw_cap", "recap", "short", "steps_fn", "text_fast", "text_ops",
                 "to", "wild")

    def __init__(self, rule: FieldRule) -> None:
        self.to = rule.to
        self.kind: Kind = target_kind(rule.to)
        self.group, _, self.name = rule.to.rpartition(".")  # "id" -> group ""
        self.flag = f"{rule.to}_unparsed"
        # hostile input: the cap of each string stored, and of each string read before the transforms (a list
        # field's value may arrive as one text of several items: "demo, pricing")
        self.cap = limit_for(rule.to)
        self.raw_cap = TEXT if self.kind == "list" else self.cap
        self.recap = self.kind in ("str", "list", "any")  # the kinds a value can come out of coercion longer
        self.cut_flag = TRUNCATED + rule.to
        self.paths = [parse_path(p) for p in rule.sources()]
        self.wild = rule.is_wildcard()
        self.steps_fn = [TRANSFORMS[n] for n in rule.transform]
        self.lookup = _picklist(rule.map) if rule.map is not None else None
        self.const = rule.const
        self.default = rule.default
        # The common rule "top-level key(s) -> text field, trimmed/lower-cased" is applied without the general
        # path's calls (inline in run_rules, or in _apply when it has a default): the same result.
        single = all(len(p) == 1 and isinstance(p[0], str) for p in self.paths)
        self.key_paths: list[tuple[str]] | None = (
            [typing.cast(tuple[str], p) for p in self.paths] if single and self.paths and self.const is None else None
        )
        self.text_fast = (
            self.key_paths is not None
            and self.kind == "str"
            and self.group in GROUPS
            and self.lookup is None
            and all(n in ("trim", "lower", "upper") for n in rule.transform)
        )
        self.collapse = "trim" in rule.transform
        self.keys = [p[0] for p in self.key_paths] if self.key_paths is not None else []
        self.text_ops = [_TEXT_OPS[n] for n in rule.transform if n in _TEXT_OPS]
        # lower/upper make a text at most 3 times longer ("ΐ".upper() is 3 characters): shorter than this, a text
        # is within its cap after them too
        self.short = self.cap // 3 if self.text_ops else self.cap
        self.coerce = COERCE[self.kind]


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


def run_rules(compiled: Compiled, payload: dict[str, Any], state: State) -> None:
    """Apply the (non-wildcard) rules of a mapping to ``payload``, one after the other, into ``state``."""
    groups, top, get = state.groups, state.top, payload.get
    for rule, fast in compiled.plan:
        if fast is None:
            _apply(state, rule, payload)
            continue
        keys, group, name, collapse, ops, short = fast
        for key in keys:
            value = get(key)
            if type(value) is not str:
                if value is None:
                    continue
                _apply(state, rule, payload)
                break
            if len(value) > short:  # maybe over the cap: cut before anything else reads it (connector.limits)
                text, cut = _text(value, rule.cap, collapse, ops)
                if cut and text and name not in groups[group]:
                    state.flags.append(rule.cut_flag)
            else:
                text = " ".join(value.split()) if collapse else value.strip()
                for op in ops:
                    text = op(text)
            if not text:
                continue
            fields = groups[group]
            if name not in fields:
                fields[name] = text
                top.add(key)
            break


def _text(value: str, cap: int, collapse: bool, ops: list[Callable[[str], str]]) -> tuple[str, bool]:
    """A text rule's value: (cut to ``cap`` before anything else reads it, trimmed, cased; whether it was cut)."""
    cut = False
    if len(value) > cap:
        value, cut = cut_text(value, cap)
    text = " ".join(value.split()) if collapse else value.strip()
    for op in ops:
        text = op(text)
    if len(text) > cap:  # lower/upper can lengthen a text ("İ" -> "i̇")
        text, cut = text[:cap], True
    return text, cut


class Compiled:
    """A source mapping's rules, compiled once (``compile_mapping``)."""

    __slots__ = ("ignore", "ignore_top", "mapping", "plan", "rules", "wild_rules")

    def __init__(self, mapping: SourceMapping) -> None:
        self.mapping = mapping
        rules = [_Rule(r) for r in mapping.fields]
        self.rules = [r for r in rules if not r.wild]
        self.wild_rules = [r for r in rules if r.wild]
        # (rule, text spec): a text rule without a default is applied inline by run_rules, from the spec; texts
        # longer than its last item take the long way (``_text``), which caps them
        self.plan: list[tuple[_Rule, tuple[list[str], str, str, bool, list[Callable[[str], str]], int] | None]] = [
            (r, (r.keys, r.group, r.name, r.collapse, r.text_ops, r.short) if r.text_fast and r.default is None
             else None)
            for r in self.rules
        ]
        self.ignore: set[Concrete] = set()
        for text in mapping.ignore:
            steps = parse_path(text)
            if all(isinstance(s, (str, int)) for s in steps):
                self.ignore.add(typing.cast(Concrete, steps))
        self.ignore_top = {p[0] for p in self.ignore if len(p) == 1}


# id(mapping) -> compiled rules. Keyed by id() because a mapping can be neither a key (a Struct holding lists is
# unhashable) nor hold its compiled rules (it is frozen). Safe: the entry holds the mapping itself, so its id
# cannot be reused by another object while the entry lives, and a hit is checked with ``is``.
_cache: dict[int, Compiled] = {}


def compile_mapping(mapping: SourceMapping) -> Compiled:
    """The compiled rules of ``mapping``, built on first use and kept while the mapping is in use."""
    compiled = _cache.get(id(mapping))
    if compiled is not None and compiled.mapping is mapping:
        return compiled
    compiled = Compiled(mapping)
    if len(_cache) > 512:  # configs are reloaded rarely; this only bounds a pathological caller
        _cache.clear()
    _cache[id(mapping)] = compiled
    return compiled


class State:
    """What the rules have found so far in one payload."""

    __slots__ = (
        "answers", "consumed", "events", "external_ids", "extra", "flags", "groups", "lead_id", "name", "ranges", "top",
    )

    def __init__(self) -> None:
        self.groups: dict[str, dict[str, Any]] = {g: {} for g in GROUPS}
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


def _assign(state: State, rule: _Rule, value: Any, cut: bool) -> int:
    """Coerce, cap and store ``value`` (``cut``: it was cut before its transforms), flagging a value stored cut.

    _TAKEN: an earlier rule filled the field (the value is left for `extra`). Raises TransformError when the value
    cannot be used.
    """
    raw = value
    value = rule.coerce(value)
    if value is None or tf.is_empty(value):
        return _EMPTY
    if rule.recap:  # a list joined into one text, or a text cased longer, can outgrow the field
        if type(value) is str:
            if len(value) > rule.cap:
                value, cut = value[: rule.cap], True
        else:
            value, cut_now = cap_value(value, rule.cap)
            cut = cut or cut_now
    group, name = rule.group, rule.name
    target: dict[str, Any] | None
    if group == "answers":
        target = state.answers
    elif group == "extra":
        target = state.extra
    elif group == "origin.external_ids":
        target = state.external_ids
    elif rule.kind == "events":
        state.events, target = (*state.events, *value), None
    elif group == "":
        if state.lead_id is not None:
            return _TAKEN
        state.lead_id, target = value, None
    else:
        target = state.groups[group]
        if rule.kind == "list" and name in target:
            target[name], target = tuple(dict.fromkeys((*target[name], *value))), None
        elif isinstance(raw, tf.Name) and group == "identity" and state.name is None:
            state.name = raw
        elif isinstance(raw, tf.Range) and name not in target:
            state.ranges[rule.to] = raw
    if target is not None:
        if name in target:
            return _TAKEN
        target[name] = value
    if cut:
        state.flags.append(rule.cut_flag)
    return _STORED


_PROBLEMS = (tf.TransformError, ValueError, TypeError, OverflowError)


def _use(state: State, rule: _Rule, value: Any, where: Concrete | None) -> bool:
    """Transform and store one found value; True when the rule is done with it."""
    cut = False  # cut before any transform reads it
    if type(value) is str:
        if len(value) > rule.raw_cap:
            value, cut = cut_text(value, rule.raw_cap)
    elif type(value) is list or type(value) is dict:
        value, cut = cap_value(value, rule.raw_cap)
    try:
        for fn in rule.steps_fn:  # _transform, inlined
            value = fn(value)
        if rule.lookup is not None:
            value = rule.lookup(value)
        outcome = _assign(state, rule, value, cut)
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


def _apply(state: State, rule: _Rule, payload: dict[str, Any]) -> None:
    key_paths = rule.key_paths
    if key_paths is not None:
        for path in key_paths:
            value = payload.get(path[0])
            if value is None or value == "":
                continue
            if rule.text_fast and type(value) is str:
                text, cut = _text(value, rule.cap, rule.collapse, rule.text_ops)
                if not text:
                    continue
                fields = state.groups[rule.group]
                if rule.name not in fields:
                    fields[rule.name] = text
                    state.consumed.add(path)
                    if cut:
                        state.flags.append(rule.cut_flag)
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


def apply_wildcard(state: State, rule: _Rule, payload: dict[str, Any]) -> None:
    for steps in rule.paths:
        *prefix, last = steps
        if not isinstance(last, Filter):
            continue
        items, where = resolve(payload, tuple(prefix))
        if not isinstance(items, list) or where is None:
            continue
        for i, element in enumerate(items):
            concrete = (*where, i)
            key = sub_value(element, last.path)
            if concrete in state.consumed or tf.is_empty(key) or isinstance(key, (dict, list)):
                continue
            value = typed_answer(element)
            if tf.is_empty(value):
                continue
            value, cut = cap_value(value, rule.raw_cap)  # before any transform reads it
            try:
                value = coerce(_transform(rule, value), "any")
            except (tf.TransformError, ValueError, TypeError, OverflowError):
                state.flags.append(f"{rule.group}.{key}_unparsed")
                continue
            value, cut_now = cap_value(value, rule.cap)
            target = state.answers if rule.group == "answers" else state.extra
            if str(key) not in target:
                target[str(key)] = value
                if cut or cut_now:
                    state.flags.append(f"{TRUNCATED}{rule.group}.{str(key)[:OTHER]}")
            state.consumed.add(concrete)
