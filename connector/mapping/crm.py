"""CRM mappings (``mappings/crm/*.yaml``): the lead and its decision -> the CRM record's fields.

Each field reads a canonical lead path (``identity.email``) or a decision value (``decision.owner_id``), then is
mapped to the CRM's picklist, bucketed, formatted and cut to length. Which fields the CRM computes itself (and
refuses to be sent) comes from the CRM's adapter: ``load_crm_mapping(path, read_only=...)``.

A mapping writes one object (``object``: a Salesforce Lead). A person the CRM already knows as another object (a
Salesforce Contact) gets only what ``matched.<kind>`` lists — no record of ``object`` is created for them and
none of its fields are sent there. ``lifecycle_backwards: never`` is kept by ``stage_kept``: an existing record's
stage is only ever moved forward along ``stage_order``, never over a value a person set.
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
from connector.worked import WorkedWhen
from connector.yamlconf import Where, from_text, load_yaml

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


# the kinds of CRM field a mapping may ask ``leadrelay crm setup`` to create (each CRM's adapter maps them to its own)
FieldType = Literal["text", "textarea", "number", "picklist", "multipicklist", "bool", "date", "datetime", "reference"]


class CustomField(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """A field leadrelay owns in the CRM (``custom:`` on a mapping field): ``leadrelay crm check`` reports it when it
    is missing, and ``leadrelay crm setup`` creates it as declared here."""

    type: FieldType
    label: Annotated[str, msgspec.Meta(min_length=1)]
    description: str = ""
    length: int | None = None  # text: the field's length (default: the mapping field's max_length, else 255)
    options: list[str] = []  # picklist values leadrelay writes beyond those of `map` / `buckets`
    unique: bool = False  # unique values: HubSpot hasUniqueValue, a Salesforce unique external id
    references: str | None = None  # reference: the CRM object it points to ("Account")

    def __post_init__(self) -> None:
        if (self.type == "reference") != (self.references is not None):
            raise ValueError("`references` names the object a `type: reference` field points to (and only then)")
        if self.options and self.type not in ("picklist", "multipicklist"):
            raise ValueError("`options` are for a picklist or multipicklist")
        if self.length is not None and not 1 <= self.length <= 131072:
            raise ValueError("`length` must be 1..131072")


class CrmField(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True, rename={"from_": "from"}):
    to: str
    from_: str  # canonical lead path (identity.email) or decision.<field>
    map: dict[str, Any] | None = None  # our value -> CRM value; a null value means "do not send"
    buckets: list[Bucket] | None = None  # numbers -> picklist value (HubSpot numemployees)
    format: Literal["region_code", "iso_date", "epoch_ms"] | None = None
    join: str = ";"  # lists (tags) are written as a multi-select: "a;b"
    max_length: int | None = None
    default: Any = None
    if_empty: bool = False  # sent to an existing record only while it has no value (a Contact's owner stands)
    custom: CustomField | None = None  # a field leadrelay owns: `leadrelay crm setup` creates it

    def __post_init__(self) -> None:
        if self.from_ not in _DECISION_GETTERS:
            try:
                _lead_getter(self.from_)
            except ValueError as exc:
                raise ValueError(f"`from`: {exc}; or one of {', '.join(_DECISION_GETTERS)}") from None
        if self.buckets and any(b.max is None for b in self.buckets[:-1]):
            raise ValueError("only the last bucket may leave out `max`")


class MatchedObject(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """What an existing record of another object gets when the person matched it (a Salesforce Contact): exactly
    these fields — nothing else of the mapping is sent there, and no record of the mapping's object is created."""

    object: Annotated[str, msgspec.Meta(min_length=1)]  # that record's CRM object ("Contact")
    fields: list[CrmField] = []


class BehaviourField(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """A CRM field whose change is something the lead did: each change reported is one ``event`` (a behaviour
    event kind of ``rules/scoring.yaml``, such as page_view or email_click) at the time it was reported."""

    field: Annotated[str, msgspec.Meta(min_length=1)]
    event: Annotated[str, msgspec.Meta(min_length=1)]


class RecycleFields(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """Where the CRM says a lead was lost or disqualified, and why (``rules/recycling.yaml`` says when it comes
    back). The reason is ``reason_field``'s value, else the status itself, read through ``reasons``."""

    status_field: Annotated[str, msgspec.Meta(min_length=1)]
    lost: list[str]  # status values that mean disqualified / closed lost
    reason_field: str | None = None
    reasons: dict[str, str] = {}  # CRM value (of the reason field, or a status) -> reason code (timing, no_budget)

    def reason(self, status: str | None, reason: str | None) -> str | None:
        """The reason code a lead with this status and reason was lost for; None when it is not lost (or for a
        reason that is not recycled)."""
        if status is None or status not in self.lost:
            return None
        for value in (reason, status):
            if value and value in self.reasons:
                return self.reasons[value]
        return None


# the person match kinds a `matched` section may name (an account match is lead-to-account: the lead is written)
MATCH_KINDS = ("lead", "contact")


class CrmMapping(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    crm: Annotated[str, msgspec.Meta(min_length=1)]  # the CRM's name, as its adapter registers it
    object: str  # the CRM object written: "contacts" (HubSpot object type), "Lead" (Salesforce sObject)
    upsert_key: str  # HubSpot idProperty / Salesforce external id field
    lifecycle_backwards: Literal["never", "clear_then_set"] = "never"
    stage_field: str | None = None  # the CRM field the stage is written to
    stage_order: list[str] = []  # CRM stage values, earliest first (to tell a backwards move)
    # the CRM itself ignores a move to an earlier stage (HubSpot's lifecyclestage), so the stage may be sent to a
    # record whose current stage we do not know; else it is left alone there
    crm_keeps_stage_order: bool = False
    company_fallback: str | None = None  # Salesforce Company is required
    values: Literal["native", "string"] = "native"  # HubSpot properties are strings
    read_only: list[str] = []  # fields never to send, beyond those the CRM's adapter names
    fields: list[CrmField] = []
    matched: dict[str, MatchedObject] = {}  # match kind -> what a matched record of that kind gets instead
    behaviour: list[BehaviourField] = []  # CRM fields whose changes are the lead's behaviour (re-score it)
    recycle: RecycleFields | None = None  # lost / disqualified status and reason (recycling)

    worked_when: WorkedWhen | None = None  # the fields that say a rep worked the lead (first contact, rules/sla.yaml)

    def __post_init__(self) -> None:
        self.refuse_read_only(self.read_only)
        if self.upsert_key not in [f.to for f in self.fields]:
            raise ValueError(f"upsert_key {self.upsert_key!r} must also be the `to` of one of the fields")
        for kind in self.matched:
            if kind not in MATCH_KINDS:
                raise ValueError(f"matched: {kind!r} is not a person match kind; use {' or '.join(MATCH_KINDS)}")
        self._check_worked_when()

    def _check_worked_when(self) -> None:
        """A status leadrelay writes itself must be an initial one, or every lead would count as worked at once."""
        spec = self.worked_when
        if spec is None or spec.status_field is None:
            return
        for f in self.fields:
            written = [v for v in (f.map or {}).values() if v is not None] if f.to == spec.status_field else []
            for value in written:
                if str(value) not in spec.initial:
                    raise ValueError(f"worked_when.initial: leadrelay writes {value!r} to {spec.status_field}; list "
                                     "it as initial, or every lead would count as worked as soon as it is written")

    def refuse_read_only(self, read_only: Collection[str]) -> None:
        """ValueError when a field writes one of ``read_only`` (the CRM would refuse the whole record)."""
        sections = [("", self.fields), *((f"matched.{k}: ", m.fields) for k, m in self.matched.items())]
        for where, fields in sections:
            for f in fields:
                if f.to in read_only:
                    raise ValueError(f"{where}field {f.to!r} is read-only in {self.crm}; remove it from the mapping")

    def stage_rank(self, value: str | None) -> int | None:
        """Position of a CRM stage value in ``stage_order`` (None when unknown), to refuse backwards moves."""
        try:
            return self.stage_order.index(value) if value is not None else None
        except ValueError:
            return None

    def stage_kept(self, value: Any, current: Any = None, *, known: bool = True) -> str | None:
        """Why stage ``value`` is not sent to an *existing* record whose stage is ``current`` (``known=False``:
        we cannot tell it); None when it may be sent. With ``lifecycle_backwards: never`` only a move forward
        along ``stage_order`` is sent: a stage a person moved on, or one we cannot rank, stays as it is."""
        if self.lifecycle_backwards != "never" or self.stage_field is None:
            return None
        if not known:
            return None if self.crm_keeps_stage_order else f"its current {self.stage_field} is not known"
        if current is None or current == "":
            return None
        new, now = self.stage_rank(_text(value)), self.stage_rank(_text(current))
        if new is not None and now is not None and new > now:
            return None
        return f"it is {_text(current)!r}; {_text(value)!r} would not move it forward"


def _text(value: Any) -> str:
    return value if isinstance(value, str) else str(value)


def crm_mapping_from_text(text: str, *, file: str,
                          read_only: Mapping[str, Collection[str]] | None = None) -> CrmMapping:
    """A CRM mapping from YAML text (the console's drafts); checks as ``load_crm_mapping``'s."""
    return from_text(text, CrmMapping, file=file, check=_read_only_check(read_only))


def _read_only_check(read_only: Mapping[str, Collection[str]] | None) -> Any:
    def check(mapping: CrmMapping, where: Where) -> None:
        try:
            mapping.refuse_read_only((read_only or {}).get(mapping.crm, ()))
        except ValueError as exc:
            where.fail("", str(exc))

    return check if read_only is not None else None


def load_crm_mapping(path: str | Path, *, read_only: Mapping[str, Collection[str]] | None = None) -> CrmMapping:
    """Read and validate a CRM mapping; errors carry file:line and the field.

    ``read_only`` (CRM name -> the fields that CRM computes itself, from its adapter) refuses a mapping that writes
    one: the CRM would refuse every record it is sent in (HubSpot READ_ONLY_VALUE, Salesforce
    INVALID_FIELD_FOR_INSERT_UPDATE).
    """
    return load_yaml(path, CrmMapping, check=_read_only_check(read_only))


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


# id(mapping or section) -> its fields' getters, kept as a source mapping's compiled rules are
# (connector.mapping.rules): the entry holds the object, so its id is not reused while the entry lives, and a hit
# is checked with ``is``.
_Getters = list[tuple[CrmField, Callable[[Lead], Any] | None]]
_crm_getters: dict[int, tuple[CrmMapping | MatchedObject, _Getters]] = {}


def _getters(owner: CrmMapping | MatchedObject) -> _Getters:
    entry = _crm_getters.get(id(owner))
    if entry is None or entry[0] is not owner:
        getters = [(f, None if f.from_ in _DECISION_GETTERS else _lead_getter(f.from_)) for f in owner.fields]
        entry = (owner, getters)
        if len(_crm_getters) > 512:  # as the source mappings' cache: only bounds a pathological caller
            _crm_getters.clear()
        _crm_getters[id(owner)] = entry
    return entry[1]


def crm_fields(lead: Lead, decision: Decision, mapping: CrmMapping, *, owner_id: str | None,
               section: MatchedObject | None = None) -> dict[str, Any]:
    """The CRM record for this lead and decision: CRM field -> value, leaving out empty fields. With ``section``
    (one of ``mapping.matched``), that section's fields only.

    No read-only field is ever among them: a mapping writing one of its own ``read_only`` cannot be built, and
    ``load_crm_mapping`` refuses one writing a field its CRM's adapter names.
    """
    string = mapping.values == "string"
    out: dict[str, Any] = {}
    for field, getter in _getters(section if section is not None else mapping):
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
