"""What the CRM mappings need of the CRM's fields, and how the fields the CRM describes measure up.

``needed_fields`` reads the CRM mappings: every field they write, per CRM object, with the kind of value written,
the picklist values it can take (``map`` / ``buckets`` targets and a custom field's ``options``), the longest text
(``max_length``), whether it must be unique (the upsert key, or ``custom.unique``) and, for a field leadrelay owns
(``custom:``), how to create it. ``compare`` sets them against the fields the CRM's adapter describes (in the same
kinds) and says, per field, ``ok`` or what is wrong. Pure: the adapters do the calls, ``leadrelay crm`` the talking.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Literal

import msgspec

from connector.mapping.crm import CrmField, CrmMapping, CustomField
from connector.mapping.paths import target_kind

# leadrelay's kinds of CRM field: a mapping's ``custom.type`` ones, the owner field, and whatever else a CRM has
Kind = Literal["text", "textarea", "number", "picklist", "multipicklist", "bool", "date", "datetime", "reference",
               "owner", "other"]
Status = Literal["ok", "missing", "wrong type", "picklist values missing", "read-only", "not unique", "too short"]
DEFAULT_TEXT_LENGTH = 255


class FieldSpec(msgspec.Struct, kw_only=True, frozen=True):
    """One field the CRM mappings write, as leadrelay needs it."""

    object: str  # the CRM object ("contacts", "Lead")
    name: str
    kind: Kind
    options: tuple[str, ...] = ()  # the picklist values leadrelay can write there
    custom: CustomField | None = None  # a field leadrelay owns, and how to create it
    unique: bool = False  # must hold unique values (an upsert key)
    length: int | None = None  # the longest text leadrelay writes there (the mapping's max_length)
    sources: tuple[str, ...] = ()  # what is written there (``decision.score``, ``identity.email``)

    def text_length(self) -> int:
        """The length a text field created for this spec gets."""
        declared = self.custom.length if self.custom else None
        return declared or self.length or DEFAULT_TEXT_LENGTH


class CrmFieldInfo(msgspec.Struct, kw_only=True, frozen=True):
    """One field as the CRM describes it, in leadrelay's kinds (the CRM's adapter translates its own types)."""

    object: str
    name: str
    kind: Kind
    vendor_type: str  # as the CRM names it ("string/text", "enumeration/select", "double", "picklist")
    options: tuple[str, ...] = ()  # picklist values
    restricted: bool = True  # a picklist that refuses any value not among its options
    unique: bool = False
    writable: bool = True
    length: int | None = None  # text fields: the most characters it holds, when the CRM says
    references: tuple[str, ...] = ()  # reference fields: the objects it may point to
    custom: bool = False  # added to the CRM by someone, not one of the CRM's own


class FieldCheck(msgspec.Struct, kw_only=True, frozen=True):
    """One needed field and what the CRM has: ``status`` is ``ok`` or what is wrong, ``detail`` says more."""

    spec: FieldSpec
    found: CrmFieldInfo | None
    status: Status
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def creatable(self) -> bool:
        """Missing and leadrelay's own: ``leadrelay crm setup`` creates it."""
        return self.status == "missing" and self.spec.custom is not None


_DECISION_KINDS: dict[str, Kind] = {
    "decision.owner_id": "owner",
    "decision.score": "number",
    "decision.score_fit": "number",
    "decision.score_behaviour": "number",
    "decision.score_intent": "number",
    "decision.account_id": "reference",
    "decision.match_id": "reference",
}
_PATH_KINDS: dict[str, Kind] = {"int": "number", "float": "number", "bool": "bool", "datetime": "datetime"}
# the kinds of CRM field each kind of written value fits in (a restricted picklist takes only its options)
_FITS: dict[str, frozenset[str]] = {
    "text": frozenset({"text", "textarea", "picklist", "multipicklist"}),
    "textarea": frozenset({"text", "textarea"}),
    "number": frozenset({"number"}),
    "picklist": frozenset({"picklist", "text", "textarea"}),
    "multipicklist": frozenset({"multipicklist", "text", "textarea"}),
    "bool": frozenset({"bool"}),
    "date": frozenset({"date"}),
    "datetime": frozenset({"datetime"}),
    "reference": frozenset({"reference"}),
    "owner": frozenset({"owner"}),
    "other": frozenset(),
}
_TEXT_KINDS = frozenset({"text", "textarea"})


def _options(field: CrmField) -> tuple[str, ...]:
    values = [v for v in (field.map or {}).values() if isinstance(v, str)]
    values += [b.value for b in field.buckets or ()]
    values += field.custom.options if field.custom else []
    return tuple(dict.fromkeys(values))


def infer_kind(field: CrmField) -> Kind:
    """The kind of CRM field a mapping field needs: its ``custom.type``; a picklist for ``map`` / ``buckets`` to
    text values; else by what it writes (numbers, the owner, a record id, dates, text)."""
    if field.custom is not None:
        return field.custom.type
    if _options(field):
        return "picklist"
    if field.from_ in _DECISION_KINDS:
        return _DECISION_KINDS[field.from_]
    if field.from_.startswith("decision."):
        return "text"
    kind = _PATH_KINDS.get(target_kind(field.from_), "text")
    if kind == "datetime" and field.format == "iso_date":
        return "date"
    return kind


def _spec(obj: str, field: CrmField, unique_key: str | None) -> FieldSpec:
    return FieldSpec(object=obj, name=field.to, kind=infer_kind(field), options=_options(field), custom=field.custom,
                     unique=field.to == unique_key or bool(field.custom and field.custom.unique),
                     length=field.max_length, sources=(field.from_,))


def _merge(a: FieldSpec, b: FieldSpec) -> FieldSpec:
    lengths = [n for n in (a.length, b.length) if n is not None]
    return FieldSpec(object=a.object, name=a.name, kind=a.kind if a.custom or not b.custom else b.kind,
                     options=tuple(dict.fromkeys(a.options + b.options)), custom=a.custom or b.custom,
                     unique=a.unique or b.unique, length=max(lengths) if lengths else None,
                     sources=tuple(dict.fromkeys(a.sources + b.sources)))


def needed_fields(mappings: Iterable[CrmMapping]) -> list[FieldSpec]:
    """Every field the mappings write, once per object and name (the same field written twice: merged), in the
    order the mappings list them."""
    out: dict[tuple[str, str], FieldSpec] = {}
    for mapping in mappings:
        sections: list[tuple[str, list[CrmField], str | None]] = [(mapping.object, mapping.fields, mapping.upsert_key)]
        sections += [(m.object, m.fields, None) for m in mapping.matched.values()]
        for obj, fields, key in sections:
            for field in fields:
                spec = _spec(obj, field, key)
                at = (obj.lower(), field.to.lower())
                out[at] = _merge(out[at], spec) if at in out else spec
    return list(out.values())


def _problem(spec: FieldSpec, found: CrmFieldInfo) -> tuple[Status, str] | None:
    fits = found.kind in _FITS[spec.kind]
    if fits and spec.kind == "text" and found.kind in ("picklist", "multipicklist") and found.restricted:
        fits = False  # free text into a picklist that takes only its own values
    if not fits:
        return "wrong type", f"it is {found.vendor_type}; leadrelay writes {spec.kind}"
    wanted = spec.custom.references if spec.custom else None
    if wanted and found.references and wanted not in found.references:
        return "wrong type", f"it points to {', '.join(found.references)}; leadrelay writes a {wanted} id"
    if not found.writable:
        return "read-only", "the integration user cannot write it"
    if spec.unique and not found.unique:
        return "not unique", "leadrelay upserts by it, so it must hold unique values (an external id)"
    if found.kind in ("picklist", "multipicklist") and found.restricted:
        missing = [o for o in spec.options if o not in found.options]
        if missing:
            return "picklist values missing", "add: " + ", ".join(missing)
    if spec.length and found.length and found.kind in _TEXT_KINDS and found.length < spec.length:
        return "too short", f"it holds {found.length} characters; leadrelay writes up to {spec.length}"
    return None


def check_field(spec: FieldSpec, found: CrmFieldInfo | None) -> FieldCheck:
    """One needed field against what the CRM has (None: nothing by that name)."""
    if found is None:
        detail = "leadrelay crm setup creates it" if spec.custom else \
            f"a standard field of {spec.object}: not in this CRM, or hidden from the integration user"
        return FieldCheck(spec=spec, found=None, status="missing", detail=detail)
    problem = _problem(spec, found)
    if problem is None:
        return FieldCheck(spec=spec, found=found, status="ok", detail=found.vendor_type)
    return FieldCheck(spec=spec, found=found, status=problem[0], detail=problem[1])


def compare(needed: Sequence[FieldSpec], described: Iterable[CrmFieldInfo]) -> list[FieldCheck]:
    """Each needed field against the CRM's fields of its object (names compared without case, as Salesforce
    does; HubSpot's are lower case)."""
    index = {(f.object.lower(), f.name.lower()): f for f in described}
    return [check_field(s, index.get((s.object.lower(), s.name.lower()))) for s in needed]


def objects_of(needed: Iterable[FieldSpec]) -> list[str]:
    """The CRM objects the needed fields are on, in order."""
    return list(dict.fromkeys(s.object for s in needed))


def clean(checks: Iterable[FieldCheck]) -> bool:
    """True when every needed field is there, writable, of a fitting kind, with its picklist values."""
    return all(c.ok for c in checks)
