"""Paths: where a value is in a source payload, and where it goes on the canonical lead.

A payload path is dotted keys, ``[0]`` indexes, ``["odd.key"]`` and list filters such as
``form_response.answers[field.ref=work_email]`` (a form tool's answer is read by its ``type``: ``typed_answer``).
A canonical path (``TARGETS``) is a field of one of the lead's groups (``company.size``), or a key under
``answers.``, ``extra.`` or ``origin.external_ids.``; its ``Kind`` says what value it holds.
"""

from __future__ import annotations

import re
import types
import typing
from datetime import datetime
from typing import Any, Literal

import msgspec

from connector.model import Company, Consent, Identity, Intent, Origin, Role

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


class Filter(typing.NamedTuple):
    path: tuple[str, ...]
    value: str


Step = str | int | Filter
Concrete = tuple[str | int, ...]


def parse_path(text: str) -> tuple[Step, ...]:
    """ "a.b[0][field.ref=email]" -> ("a", "b", 0, Filter(("field", "ref"), "email")); ValueError if malformed."""
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
            steps.append(Filter(tuple(m.group("fpath").split(".")), m.group("fvalue").strip("\"'")))
        else:
            steps.append(m.group("key"))
        pos = m.end()
    return tuple(steps)


def sub_value(element: Any, path: tuple[str, ...]) -> Any:
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
                if str(sub_value(element, step.path)) == step.value:
                    node, step = element, i
                    typed = True
                    break
            else:
                return None, None
        concrete.append(step)
    return (typed_answer(node) if typed else node), tuple(concrete)


Kind = Literal["str", "int", "float", "bool", "datetime", "list", "events", "any"]
GROUPS: dict[str, type[msgspec.Struct]] = {
    "identity": Identity,
    "company": Company,
    "role": Role,
    "origin": Origin,
    "consent": Consent,
    "intent": Intent,
}
KEYED = ("answers", "extra", "origin.external_ids")


def _kind(annotation: Any) -> Kind | None:
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        annotation = next(a for a in typing.get_args(annotation) if a is not type(None))
    base = typing.get_origin(annotation) or annotation
    kinds: dict[Any, Kind] = {str: "str", int: "int", float: "float", bool: "bool", datetime: "datetime", tuple: "list"}
    return kinds.get(base)


def _targets() -> dict[str, Kind]:
    table: dict[str, Kind] = {"id": "str"}
    for group, struct in GROUPS.items():
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
    for prefix in KEYED:
        if to.startswith(prefix + ".") and len(to) > len(prefix) + 1:
            return "str" if prefix == "origin.external_ids" else "any"
    raise ValueError(
        f"unknown target {to!r}; expected one of {', '.join(sorted(TARGETS))}, "
        "or events, answers.<key>, extra.<key>, origin.external_ids.<crm>"
    )
