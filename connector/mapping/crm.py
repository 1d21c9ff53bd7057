"""CRM mappings (``mappings/crm/*.yaml``): the lead and its decision -> the CRM record's fields.

Each field reads a canonical lead path (``identity.email``) or a decision value (``decision.owner_id``), then is
mapped to the CRM's picklist, bucketed, formatted and cut to length. Which fields the CRM computes itself (and
refuses to be sent) comes from the CRM's adapter: ``load_crm_mapping(path, read_only=...)``.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Collection, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec

from connector import transforms as tf
from connector.decision import Decision
from connector.mapping.paths import KEYED, target_kind
from connector.model import Lead
from connector.yamlconf import Where, load_yaml

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
    for prefix in KEYED:
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
    crm: Annotated[str, msgspec.Meta(min_length=1)]  # the CRM's name, as its adapter registers it
    object: str  # the CRM object written: "contacts" (HubSpot object type), "Lead" (Salesforce sObject)
    upsert_key: str  # HubSpot idProperty / Salesforce external id field
    lifecycle_backwards: Literal["never", "clear_then_set"] = "never"
    stage_field: str | None = None  # the CRM field the stage is written to
    stage_order: list[str] = []  # CRM stage values, earliest first (to tell a backwards move)
    company_fallback: str | None = None  # Salesforce Company is required
    values: Literal["native", "string"] = "native"  # HubSpot properties are strings
    read_only: list[str] = []  # fields never to send, beyond those the CRM's adapter names
    fields: list[CrmField] = []

    def __post_init__(self) -> None:
        self.refuse_read_only(self.read_only)
        if self.upsert_key not in [f.to for f in self.fields]:
            raise ValueError(f"upsert_key {self.upsert_key!r} must also be the `to` of one of the fields")

    def refuse_read_only(self, read_only: Collection[str]) -> None:
        """ValueError when a field writes one of ``read_only`` (the CRM would refuse the whole record)."""
        for f in self.fields:
            if f.to in read_only:
                raise ValueError(f"field {f.to!r} is read-only in {self.crm}; remove it from the mapping")

    def stage_rank(self, value: str | None) -> int | None:
        """Position of a CRM stage value in ``stage_order`` (None when unknown), to refuse backwards moves."""
        try:
            return self.stage_order.index(value) if value is not None else None
        except ValueError:
            return None


def load_crm_mapping(path: str | Path, *, read_only: Mapping[str, Collection[str]] | None = None) -> CrmMapping:
    """Read and validate a CRM mapping; errors carry file:line and the field.

    ``read_only`` (CRM name -> the fields that CRM computes itself, from its adapter) refuses a mapping that writes
    one: the CRM would refuse every record it is sent in (HubSpot READ_ONLY_VALUE, Salesforce
    INVALID_FIELD_FOR_INSERT_UPDATE).
    """

    def check(mapping: CrmMapping, where: Where) -> None:
        try:
            mapping.refuse_read_only((read_only or {}).get(mapping.crm, ()))
        except ValueError as exc:
            where.fail("", str(exc))

    return load_yaml(path, CrmMapping, check=check if read_only is not None else None)


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


# id(mapping) -> its fields' getters, kept as a source mapping's compiled rules are (connector.mapping.rules): the
# entry holds the mapping, so its id is not reused while the entry lives, and a hit is checked with ``is``.
_crm_getters: dict[int, tuple[CrmMapping, list[tuple[CrmField, Callable[[Lead], Any] | None]]]] = {}


def crm_fields(lead: Lead, decision: Decision, mapping: CrmMapping, *, owner_id: str | None) -> dict[str, Any]:
    """The CRM record for this lead and decision: CRM field -> value, leaving out empty fields.

    No read-only field is ever among them: a mapping writing one of its own ``read_only`` cannot be built, and
    ``load_crm_mapping`` refuses one writing a field its CRM's adapter names.
    """
    entry = _crm_getters.get(id(mapping))
    if entry is None or entry[0] is not mapping:
        getters = [(f, None if f.from_ in _DECISION_GETTERS else _lead_getter(f.from_)) for f in mapping.fields]
        entry = (mapping, getters)
        if len(_crm_getters) > 512:  # as the source mappings' cache: only bounds a pathological caller
            _crm_getters.clear()
        _crm_getters[id(mapping)] = entry
    string = mapping.values == "string"
    out: dict[str, Any] = {}
    for field, getter in entry[1]:
        if field.to in out:
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
