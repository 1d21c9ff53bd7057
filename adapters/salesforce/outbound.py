"""Salesforce Outbound Messages: parse the SOAP ``notifications`` call, check the org, answer with the Ack.

https://developer.salesforce.com/docs/atlas.en-us.api.meta/api/sforce_api_om_outboundmessaging_understanding.htm
https://developer.salesforce.com/docs/atlas.en-us.api.meta/api/sforce_api_om_outboundmessaging_wsdl.htm
A message carries OrganizationId, ActionId, SessionId, EnterpriseUrl, PartnerUrl and 1..100 ``Notification``s
(an ``Id`` and an ``sObject`` of ``sf:`` fields; null fields are left out or sent as ``xsi:nil``). Messages are
not signed: the organization id allow-list, the SessionId call-back (``adapters.salesforce.session``) and TLS /
IP allow-list / client certificate at the edge are the checks. So a message is a trigger, never a source of
truth: a delivery carries the record's id and type only (and who last modified it, so our own writes are
dropped unread); the worker reads the record itself through the API. Parsed with defusedxml only: the body is
untrusted XML (no DTDs, entities or external references).
"""

from __future__ import annotations

import re
from collections.abc import Collection
from datetime import datetime
from typing import Any
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as DET
import msgspec
from defusedxml import DefusedXmlException

from connector.errors import InputError, SignatureError
from connector.ports import Delivery

XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
_NIL = f"{{{XSI_NS}}}nil"
_TYPE = f"{{{XSI_NS}}}type"

# The Outbound Message WSDL's namespace and its limit of 100 notifications per message
# (https://developer.salesforce.com/docs/atlas.en-us.api.meta/api/sforce_api_om_outboundmessaging_understanding.htm)
OUTBOUND_NS = "http://soap.sforce.com/2005/09/outbound"
MAX_NOTIFICATIONS = 100


class Notification(msgspec.Struct, kw_only=True, frozen=True):
    id: str  # the notification id: the same on every retry of this notification
    sobject_type: str  # "Lead", "Contact", ...
    fields: dict[str, Any]  # field name -> text (None for xsi:nil), as sent


class OutboundMessage(msgspec.Struct, kw_only=True, frozen=True):
    organization_id: str
    action_id: str | None
    session_id: str | None
    enterprise_url: str | None
    partner_url: str | None
    notifications: list[Notification]


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _child(parent: Element, name: str) -> Element | None:
    return next((el for el in parent if _local(el.tag) == name), None)


def _text(el: Element | None) -> str | None:
    if el is None or el.get(_NIL) == "true":
        return None
    return (el.text or "").strip()


def _value(el: Element) -> Any:
    if el.get(_NIL) == "true":
        return None
    if len(el):  # a nested element (e.g. an address compound): keep its structure
        return {_local(c.tag): _value(c) for c in el}
    return el.text or ""


def _notification(el: Element, i: int) -> Notification:
    where = f"Notification[{i}]"
    nid = _text(_child(el, "Id"))
    if not nid:
        raise InputError("notification has no Id", field=f"{where}.Id")
    sobject = _child(el, "sObject")
    if sobject is None:
        raise InputError("notification has no sObject", field=f"{where}.sObject")
    declared = sobject.get(_TYPE) or ""
    sobject_type = declared.rsplit(":", 1)[-1]
    if not sobject_type:
        raise InputError("sObject has no xsi:type", field=f"{where}.sObject")
    fields = {_local(c.tag): _value(c) for c in sobject}
    return Notification(id=nid, sobject_type=sobject_type, fields=fields)


MAX_XML_DEPTH = 12  # Envelope > Body > notifications > Notification > sObject > field > compound part


def _check_depth(root: Element) -> None:
    # iterative: a recursive walk of 50,000 nested elements would end in RecursionError (a 500)
    stack = [(root, 1)]
    while stack:
        el, depth = stack.pop()
        if depth > MAX_XML_DEPTH:
            raise InputError(f"XML nested deeper than {MAX_XML_DEPTH} levels", field=_local(el.tag) or "body")
        stack.extend((c, depth + 1) for c in el)


def parse_outbound(body: bytes, allowed_orgs: Collection[str] | None = None) -> OutboundMessage:
    """The message, or InputError naming what is wrong. With ``allowed_orgs``, the organization is checked
    (SignatureError) before any notification is read."""
    try:
        root = DET.fromstring(body, forbid_dtd=True)
    except DefusedXmlException as exc:
        raise InputError(f"forbidden XML construct ({type(exc).__name__})", field="body") from exc
    except ParseError as exc:
        raise InputError(f"body is not valid XML: {exc}", field="body") from exc
    _check_depth(root)
    node = next((el for el in root.iter() if el.tag == f"{{{OUTBOUND_NS}}}notifications"), None)
    if node is None:  # tolerate a missing namespace; the element name is what matters
        node = next((el for el in root.iter() if _local(el.tag) == "notifications"), None)
    if node is None:
        raise InputError("no notifications element in the SOAP body", field="notifications")
    org = _text(_child(node, "OrganizationId"))
    if not org:
        raise InputError("missing OrganizationId", field="OrganizationId")
    if allowed_orgs is not None:
        _check_org_id(org, allowed_orgs)
    items = [el for el in node if _local(el.tag) == "Notification"]
    if not items:
        raise InputError("message has no Notification", field="Notification")
    if len(items) > MAX_NOTIFICATIONS:
        raise InputError(f"{len(items)} notifications; Salesforce sends at most {MAX_NOTIFICATIONS}",
                         field="Notification")
    return OutboundMessage(
        organization_id=org,
        action_id=_text(_child(node, "ActionId")),
        session_id=_text(_child(node, "SessionId")),
        enterprise_url=_text(_child(node, "EnterpriseUrl")),
        partner_url=_text(_child(node, "PartnerUrl")),
        notifications=[_notification(el, i) for i, el in enumerate(items)],
    )


def check_org(message: OutboundMessage, allowed: Collection[str]) -> None:
    """Raise SignatureError unless the org is allowed. 15- and 18-char ids match on their (case-sensitive) first 15."""
    _check_org_id(message.organization_id, allowed)


def _check_org_id(organization_id: str, allowed: Collection[str]) -> None:
    if not allowed:
        raise SignatureError("no Salesforce organization ids are allowed",
                             hint="set LEADRELAY_SALESFORCE_ORG_IDS to your org id(s)")
    org = organization_id.strip()[:15]
    if len(org) < 15 or not any(a.strip()[:15] == org for a in allowed):
        raise SignatureError(f"organization {organization_id!r} is not on the allow-list",
                             hint="add it to LEADRELAY_SALESFORCE_ORG_IDS if this org is yours")


def ack(ok: bool = True) -> bytes:
    """The ``notificationsResponse`` Salesforce expects; without ``Ack`` true it retries the message."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">\n'
        " <soapenv:Body>\n"
        f'  <notificationsResponse xmlns="{OUTBOUND_NS}">\n'
        f"   <Ack>{'true' if ok else 'false'}</Ack>\n"
        "  </notificationsResponse>\n"
        " </soapenv:Body>\n"
        "</soapenv:Envelope>\n"
    ).encode()


# a record id: 15 case-sensitive characters, or 18 with the case-safe suffix (it becomes part of a REST path)
_RECORD_ID = re.compile(r"^[a-zA-Z0-9]{15}(?:[a-zA-Z0-9]{3})?$")


def outbound_deliveries(message: OutboundMessage, *, received_at: datetime) -> list[Delivery]:
    """One delivery per notification: the record's ``Id`` and sObject type, nothing else of its fields but
    ``LastModifiedById`` (the worker drops our own writes without reading them; anything else it reads itself)."""
    out = []
    for i, n in enumerate(message.notifications):
        record_id = n.fields.get("Id")
        if not isinstance(record_id, str) or not _RECORD_ID.match(record_id.strip()):
            raise InputError("notification's sObject has no valid record Id", field=f"Notification[{i}].sObject.Id")
        payload: dict[str, Any] = {"Id": record_id.strip(), "attributes": {"type": n.sobject_type},
                                   "_organization_id": message.organization_id}
        by = n.fields.get("LastModifiedById")
        if isinstance(by, str) and by.strip().isalnum() and len(by.strip()) <= 18:  # only ever compared
            payload["LastModifiedById"] = by.strip()
        out.append(Delivery(source="salesforce", delivery_id=n.id, received_at=received_at, payload=payload))
    return out
