"""Source mappings (``mappings/sources/*.yaml``): a payload -> the canonical lead.

A mapping lists rules ``{to, from, transform, map, default, const}``; ``from`` is a payload path (``paths``).
A filter value ``*`` with ``to: answers.*`` copies every answer no other rule took, keyed by that field.

Nothing the sender gave is dropped: every non-empty payload leaf no rule consumed lands in ``Lead.extra`` under
its flattened path (``form_response.hidden.gclid``), except paths the mapping lists under ``ignore`` (e.g. a form
tool's form definition). A value a rule cannot use becomes a flag ``<to>_unparsed`` and stays in ``extra`` —
never an exception. Rules are compiled once per mapping object (``rules``); ``map_payload`` only walks dicts.

Hostile input: every text value is cut to its field's cap (``connector.limits``; ``extra`` values to ``TEXT``)
before anything reads it. The characters past the cap are dropped, and the flag ``truncated:<field>``
(``truncated:extra.<path>``) records it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import msgspec

from connector import transforms as tf
from connector.errors import InputError
from connector.limits import OTHER, TEXT, TRUNCATED, cap_count, cap_value, newest_events
from connector.mapping.paths import TARGETS, WILDCARD, Concrete, Filter, parse_path, target_kind
from connector.mapping.rules import TRANSFORMS, State, apply_wildcard, compile_mapping, run_rules
from connector.model import Company, Consent, Identity, Intent, Lead, Origin, Role
from connector.settings import EnvName
from connector.yamlconf import Where, from_text, load_yaml


class Inbound(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """How the service accepts this source: which environment variables hold its secrets."""

    secret_env: EnvName | None = None  # env var with this form's signing secret
    allowed_org_ids_env: EnvName | None = None  # Salesforce: env var with the org ids allowed to send


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
    source: Annotated[str, msgspec.Meta(min_length=1)]  # the system the payloads come from (Origin.source)
    channel: str | None = None
    description: str | None = None
    inbound: Inbound = Inbound()
    ignore: list[str] = []  # payload paths that are not lead data (kept out of `extra`)
    fields: list[FieldRule] = []

    def __post_init__(self) -> None:
        for text in self.ignore:
            if any(isinstance(s, Filter) for s in parse_path(text)):
                raise ValueError(f"ignore: {text!r}: list filters are not allowed here; use plain keys and indexes")


VALUE_DEPTH = 4  # a const/default is what one lead field holds: text, a number, a short list or mapping


def _depth(value: Any, limit: int) -> int:
    """How deep ``value`` nests (lists and mappings), counted up to ``limit + 1`` (iterative: no recursion)."""
    deepest, stack = 0, [(value, 0)]
    while stack and deepest <= limit:
        item, depth = stack.pop()
        if isinstance(item, dict):
            item = list(item.values())
        if isinstance(item, list):
            deepest = max(deepest, depth + 1)
            stack.extend((v, depth + 1) for v in item)
    return deepest


def _check_values(mapping: SourceMapping, where: Where) -> None:
    """Bound each rule's ``const`` and ``default``: every lead of the source carries them, into its decision, the
    CRM and each notification, so a large one costs on every lead."""
    for i, rule in enumerate(mapping.fields):
        for name, value in (("const", rule.const), ("default", rule.default)):
            if value is None:
                continue
            if _depth(value, VALUE_DEPTH) > VALUE_DEPTH:
                where.fail(f"fields[{i}].{name}", f"nested deeper than {VALUE_DEPTH} levels; a lead field holds "
                           "text, a number or a short list")
            size = len(value) if isinstance(value, str) else len(msgspec.json.encode(value))
            if size > TEXT:
                where.fail(f"fields[{i}].{name}", f"{size} characters (as JSON); at most {TEXT}")


def source_mapping_from_text(text: str, *, file: str) -> SourceMapping:
    """A source mapping from YAML text (the console's drafts); errors as ``load_source_mapping``'s."""
    mapping = from_text(text, SourceMapping, file=file, check=_check_values)
    compile_mapping(mapping)
    return mapping


def load_source_mapping(path: str | Path) -> SourceMapping:
    """Read and validate a source mapping; a bad file raises ConfigError with file:line and the field."""
    mapping = load_yaml(path, SourceMapping, check=_check_values)
    compile_mapping(mapping)
    return mapping


def _leftovers(node: Any, path: Concrete, text: str, state: State, ignore: set[Concrete]) -> None:
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
        _keep(state, text, node)


def _keep(state: State, key: str, value: Any) -> None:
    """Keep an unmapped value in ``extra``, cut to ``TEXT`` (flagged ``truncated:extra.<key>``)."""
    if key not in state.extra:
        value, cut = cap_value(value, TEXT)
        state.extra[key] = value
        if cut:
            state.flags.append(f"{TRUNCATED}extra.{key[:OTHER]}")


def map_payload(payload: dict[str, Any], mapping: SourceMapping) -> Lead:
    """Turn one inbound payload into a canonical lead. Bad values become flags; a non-object raises InputError."""
    if not isinstance(payload, dict):
        raise InputError(f"the payload must be a JSON object, got {type(payload).__name__}", field="$")
    compiled = compile_mapping(mapping)
    state = State()
    run_rules(compiled, payload, state)
    top = state.top
    for rule in compiled.wild_rules:
        apply_wildcard(state, rule, payload)
    ignore, ignore_top, extra = compiled.ignore, compiled.ignore_top, state.extra
    for key, value in payload.items():
        if key in top or key in ignore_top or value is None or value == "":
            continue
        if isinstance(value, (dict, list)):
            _leftovers(value, (key,), str(key), state, ignore)
        elif type(value) is str and len(value) > TEXT:
            if not value.isspace():
                _keep(state, key, value)
        elif not (isinstance(value, str) and value.isspace()):
            extra.setdefault(key, value)
    return _build(state, mapping)


def _counted(group: str, values: dict[str, Any], flags: list[str]) -> dict[str, Any]:
    """``values`` (answers or extra) with at most ``KEYS`` keys, and as many in each map or list inside, flagged."""
    capped: dict[str, Any]
    capped, cut = cap_count(values)
    if not cut:
        return values
    for key, value in capped.items():
        if value is not values[key]:
            flags.append(f"{TRUNCATED}{group}.{str(key)[:OTHER]}")
    if len(capped) < len(values):
        flags.append(f"{TRUNCATED}{group}")
    return capped


def _build(state: State, mapping: SourceMapping) -> Lead:
    groups = state.groups
    events, cut = newest_events(state.events)
    if cut:
        state.flags.append(f"{TRUNCATED}events")
    answers, extra = _counted("answers", state.answers, state.flags), _counted("extra", state.extra, state.flags)
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
        events=events,
        answers=answers,
        extra=extra,
        flags=tuple(dict.fromkeys(state.flags)),
    )
