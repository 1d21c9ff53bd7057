"""Field mappings: a source payload -> the canonical lead, and the lead + decision -> CRM fields.

- ``paths``: payload paths (``form_response.answers[field.ref=work_email]``) and the canonical targets;
- ``sources``: source mappings (``mappings/sources/*.yaml``) and ``map_payload``;
- ``rules``: a source mapping's rules, compiled once per mapping and applied to each payload;
- ``coerce``: a rule's value -> the kind of value its target holds;
- ``crm``: CRM mappings (``mappings/crm/*.yaml``) and ``crm_fields``.

Every text value is cut to its field's cap (``connector.limits``) when a payload becomes a lead, before any
transform reads it; a value cut is flagged ``truncated:<field>``.
"""

from connector.mapping.crm import Bucket, CrmField, CrmMapping, crm_fields, load_crm_mapping
from connector.mapping.paths import TARGETS, WILDCARD, Kind, parse_path, resolve, target_kind, typed_answer
from connector.mapping.rules import TRANSFORMS
from connector.mapping.sources import FieldRule, Inbound, SourceMapping, load_source_mapping, map_payload

__all__ = [
    "TARGETS",
    "TRANSFORMS",
    "WILDCARD",
    "Bucket",
    "CrmField",
    "CrmMapping",
    "FieldRule",
    "Inbound",
    "Kind",
    "SourceMapping",
    "crm_fields",
    "load_crm_mapping",
    "load_source_mapping",
    "map_payload",
    "parse_path",
    "resolve",
    "target_kind",
    "typed_answer",
]
