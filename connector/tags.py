"""Tags and segments (``rules/tags.yaml``).

- ``taxonomy``: the only tags that exist, by category (industry, use_case, size, urgency, lifecycle).
  A tag is written ``category:tag`` (``industry:healthcare``); a rule naming any other tag fails at load.
- ``lookups``: a field's raw values -> one tag of a category (``"Hospital & Health Care"`` -> healthcare).
- ``rules``: a condition over fields, answers, behaviour and the score -> tags. Rules run in order and see
  the tags applied before them.
- ``segments``: named conditions over fields and tags (and segments listed before them).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import msgspec

from connector.conditions import Condition, describe, field_kind, lead_view
from connector.decision import MatchResult, ScoreResult, TagResult
from connector.model import Lead
from connector.yamlconf import Where, from_text, load_yaml


class Lookup(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, dict=True):
    """Raw values of ``field`` (any case) -> a tag of ``category``. Not frozen: the index is cached."""

    name: str
    field: str
    category: str
    values: dict[str, list[str]]  # tag -> raw values that mean it

    def __post_init__(self) -> None:
        field_kind(self.field)
        self.index: dict[str, str] = {}
        for tag, raws in self.values.items():
            for raw in raws:
                self.index[str(raw).casefold()] = f"{self.category}:{tag}"


class TagRule(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    name: str
    when: Condition
    tags: list[str]  # "category:tag"
    reason: str = ""


class Segment(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    name: str
    when: Condition
    description: str = ""


class TagsConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, dict=True, omit_defaults=True):
    """The tags file. Not frozen: each rule's reason text is built once, at load, and cached on it."""

    taxonomy: dict[str, list[str]]
    lookups: list[Lookup] = []
    rules: list[TagRule] = []
    segments: list[Segment] = []

    def __post_init__(self) -> None:
        self.rule_plan = tuple(
            (r.when.test, tuple(r.tags), f"{r.name}: {r.reason or describe(r.when)}") for r in self.rules
        )
        self.segment_plan = tuple(
            (s.when.test, s.name, f"segment {s.name}: {s.description or describe(s.when)}") for s in self.segments
        )


def rule_of(reason: str) -> str:
    """The lookup or tag rule a tag's reason names (reasons are built above as "<rule name>: <why>")."""
    return reason.split(": ", 1)[0]


def _tags_in(cond: Condition | None, path: str) -> list[tuple[str, str]]:
    """(path, tag) for every tag value a condition tests ``tags`` against."""
    if cond is None:
        return []
    found: list[tuple[str, str]] = []
    for group in ("all", "any"):
        for i, c in enumerate(getattr(cond, group) or []):
            found += _tags_in(c, f"{path}.{group}[{i}]")
    found += _tags_in(cond.not_, f"{path}.not")
    if cond.field == "tags" and cond.value is not None:
        for v in cond.value if isinstance(cond.value, list) else [cond.value]:
            found.append((f"{path}.value", str(v)))
    return found


def _check(config: TagsConfig, where: Where) -> None:
    fail = where.fail
    known = {f"{cat}:{tag}" for cat, tags in config.taxonomy.items() for tag in tags}

    def check_tag(path: str, tag: str) -> None:
        if tag not in known:
            cat = tag.partition(":")[0]
            options = config.taxonomy.get(cat)
            hint = (f"category {cat!r} has: {', '.join(options)}" if options is not None
                    else f"write category:tag; categories: {', '.join(config.taxonomy)}")
            fail(path, f"tag {tag!r} is not in the taxonomy ({hint})")

    for i, lk in enumerate(config.lookups):
        if lk.category not in config.taxonomy:
            fail(f"lookups[{i}].category", f"no category {lk.category!r} in the taxonomy")
        for tag in lk.values:
            check_tag(f"lookups[{i}].values.{tag}", f"{lk.category}:{tag}")
    for i, rule in enumerate(config.rules):
        if not rule.tags:
            fail(f"rules[{i}].tags", "list at least one tag")
        for j, tag in enumerate(rule.tags):
            check_tag(f"rules[{i}].tags[{j}]", tag)
        for path, tag in _tags_in(rule.when, f"rules[{i}].when"):
            check_tag(path, tag)
    names: set[str] = set()
    for i, seg in enumerate(config.segments):
        if seg.name in names:
            fail(f"segments[{i}].name", f"segment {seg.name!r} is defined twice")
        names.add(seg.name)
        for path, tag in _tags_in(seg.when, f"segments[{i}].when"):
            check_tag(path, tag)


def tags_from_text(text: str, *, file: str) -> TagsConfig:
    return from_text(text, TagsConfig, file=file, check=_check)


def load_tags(path: str | Path) -> TagsConfig:
    """Load ``rules/tags.yaml``; ConfigError with file:line and field on any problem."""
    return load_yaml(path, TagsConfig, check=_check)


def tag(
    lead: Lead,
    score: ScoreResult,
    config: TagsConfig,
    *,
    match: MatchResult | None = None,
    view: Mapping[str, Any] | None = None,
) -> TagResult:
    """Apply lookups, then tag rules, then segments; ``reasons`` says which rule applied each.

    ``view`` (``lead_view`` with this score and match) may be passed to save building it again; it is read, never
    changed: later rules read a copy that gains the tags and segments applied before them.
    """
    seen = lead_view(lead, score=score, match=match) if view is None else dict(view)
    tags: list[str] = []
    reasons: dict[str, str] = {}
    for lk in config.lookups:
        raw = seen.get(lk.field)
        if raw is None:
            continue
        for value in raw if isinstance(raw, (tuple, list)) else (raw,):
            t = lk.index.get(str(value).casefold()) if value is not None else None
            if t is not None and t not in reasons:
                tags.append(t)
                reasons[t] = f"{lk.name}: {lk.field} is {value}"
    seen["tags"] = tuple(tags)
    seen["segments"] = ()
    for test, rule_tags, why in config.rule_plan:
        if test(seen):
            if len(rule_tags) == 1:  # the common case, without building a list
                if rule_tags[0] not in reasons:
                    tags.append(rule_tags[0])
                    reasons[rule_tags[0]] = why
                    seen["tags"] = tuple(tags)
                continue
            new = [t for t in rule_tags if t not in reasons]
            for t in new:
                tags.append(t)
                reasons[t] = why
            if new:
                seen["tags"] = tuple(tags)
    segments: list[str] = []
    for test, name, why in config.segment_plan:
        if test(seen):
            segments.append(name)
            reasons[name] = why
            seen["segments"] = tuple(segments)
    return TagResult(tags=tuple(tags), segments=tuple(segments), reasons=reasons)
