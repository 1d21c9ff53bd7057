"""The sandbox Salesforce org's schema: record ids, fields as describe() reports them, error shapes.

- Record ids are 15-character case-sensitive ids plus a 3-character case-safe suffix, prefix per object
  (Lead 00Q, Contact 003, Account 001, User 005, Group/queue 00G):
  https://help.salesforce.com/s/articleView?id=000385008&type=1 (What are Salesforce IDs composed of?)
- Lead fields, required LastName and Company, restricted picklists Status/Rating:
  https://developer.salesforce.com/docs/atlas.en-us.object_reference.meta/object_reference/sforce_api_objects_lead.htm
- Error codes (REQUIRED_FIELD_MISSING, INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST, DUPLICATE_VALUE, ...):
  https://developer.salesforce.com/docs/atlas.en-us.api.meta/api/sforce_api_calls_concepts_core_data_objects.htm#statuscode
- ``MasterRecordId`` on Lead, Contact and Account: "If this object was deleted as the result of a merge, this field
  contains the ID of the record that was kept" (reference, read-only), with ``IsDeleted``:
  https://developer.salesforce.com/docs/atlas.en-us.object_reference.meta/object_reference/sforce_api_objects_lead.htm
- Organization: one record, the org itself (id prefix 00D), queryable through the API, never created or deleted
  through it: https://developer.salesforce.com/docs/atlas.en-us.object_reference.meta/object_reference/sforce_api_objects_organization.htm
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

PREFIX = {"Lead": "00Q", "Contact": "003", "Account": "001", "User": "005", "Group": "00G", "Organization": "00D",
          "Profile": "00e", "PermissionSet": "0PS", "FieldPermissions": "01k", "CustomField": "00N"}
_SUFFIX_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_ID_RX = re.compile(r"^[a-zA-Z0-9]{15}(?:[a-zA-Z0-9]{3})?$")
_EMAIL_RX = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def case_safe_id(id15: str) -> str:
    """The documented 15 -> 18 character conversion (one suffix char per 5-char chunk, bit per uppercase letter)."""
    suffix = ""
    for chunk in (id15[0:5], id15[5:10], id15[10:15]):
        bits = sum(1 << i for i, ch in enumerate(chunk) if "A" <= ch <= "Z")
        suffix += _SUFFIX_CHARS[bits]
    return id15 + suffix


def make_id(prefix: str, n: int, pod: str = "5e") -> str:
    digits = ""
    while True:
        n, r = divmod(n, 62)
        digits = _B62[r] + digits
        if n == 0:
            break
    return case_safe_id(prefix + pod + digits.rjust(10, "0"))


def sf_now() -> str:
    """Salesforce REST datetime format, e.g. 2024-09-15T08:22:10.000+0000."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{datetime.now(UTC).microsecond // 1000:03d}+0000"


@dataclass(frozen=True)
class F:
    """One field of an sObject as describe() would report it."""

    # string | email | textarea | picklist | multipicklist | int | double | boolean | reference | date | datetime | id
    type: str = "string"
    length: int = 255
    required: bool = False  # nillable=false and createable (REQUIRED_FIELD_MISSING)
    writable: bool = True  # createable/updateable
    values: tuple[str, ...] = ()  # picklist values
    restricted: bool = False
    default: Any = None
    refs: tuple[str, ...] = ()  # reference targets
    external_id: bool = False
    unique: bool = False
    label: str = ""


_SYSTEM = {
    "Id": F("id", writable=False),
    "IsDeleted": F("boolean", writable=False, default=False),
    "CreatedDate": F("datetime", writable=False),
    "CreatedById": F("reference", writable=False, refs=("User",)),
    "LastModifiedDate": F("datetime", writable=False),
    "LastModifiedById": F("reference", writable=False, refs=("User",)),
    "SystemModstamp": F("datetime", writable=False),
}
# leadrelay's own custom fields, as `leadrelay crm setup` creates them: a fresh org has none of them
# (``SalesforceSandbox(leadrelay_fields=True)``: an org where setup has run, with field-level security granted)
_LEADRELAY = {
    "Leadrelay_Id__c": F(length=255, external_id=True, unique=True, label="Leadrelay Id"),
    "Leadrelay_Score__c": F("double", label="Leadrelay Score"),
    "Leadrelay_Tags__c": F(length=255, label="Leadrelay Tags"),
    "Leadrelay_Reason__c": F(length=255, label="Leadrelay Reason"),
}
LEADRELAY_FIELDS: dict[str, dict[str, F]] = {
    "Lead": {**_LEADRELAY, "Matched_Account__c": F("reference", refs=("Account",), label="Matched Account")},
    "Contact": dict(_LEADRELAY),
    "Account": {"Leadrelay_Id__c": _LEADRELAY["Leadrelay_Id__c"]},
}
LEAD_STATUS = ("Open - Not Contacted", "Working - Contacted", "Closed - Converted", "Closed - Not Converted")
RATING = ("Hot", "Warm", "Cold")
LEAD_SOURCE = ("Web", "Phone Inquiry", "Partner Referral", "Purchased List", "Other")
_OWNER = F("reference", refs=("User", "Group"), label="Owner ID")


def _master(sobject: str) -> F:
    return F("reference", writable=False, refs=(sobject,), label="Master Record ID")

SCHEMA: dict[str, dict[str, F]] = {
    "Lead": {
        **_SYSTEM,
        "LastName": F(length=80, required=True, label="Last Name"),
        "FirstName": F(length=40, label="First Name"),
        "Salutation": F("picklist", values=("Mr.", "Ms.", "Mrs.", "Dr.", "Prof.")),
        "Name": F(length=121, writable=False),
        "Title": F(length=128),
        "Company": F(length=255, required=True),
        "Street": F(length=255),
        "City": F(length=40),
        "State": F(length=80),
        "PostalCode": F(length=20),
        "Country": F(length=80),
        "Phone": F(length=40),
        "MobilePhone": F(length=40),
        "Email": F("email", length=80),
        "Website": F(length=255),
        "Description": F(length=32000),
        "LeadSource": F("picklist", values=LEAD_SOURCE),
        "Status": F("picklist", values=LEAD_STATUS, restricted=True, default=LEAD_STATUS[0], label="Lead Status"),
        "Industry": F("picklist", length=255),
        "Rating": F("picklist", values=RATING, restricted=True),
        "AnnualRevenue": F("double"),
        "NumberOfEmployees": F("int"),
        "OwnerId": _OWNER,
        "IsConverted": F("boolean", writable=False, default=False),
        # the due date of the latest event or closed task (a logged call or email) on the Lead; set by Salesforce
        "LastActivityDate": F("date", writable=False),
        "HasOptedOutOfEmail": F("boolean", default=False),
        "MasterRecordId": _master("Lead"),
    },
    "Contact": {
        **_SYSTEM,
        "LastName": F(length=80, required=True, label="Last Name"),
        "FirstName": F(length=40),
        "Name": F(length=121, writable=False),
        "Email": F("email", length=80),
        "Phone": F(length=40),
        "Title": F(length=128),
        "AccountId": F("reference", refs=("Account",), label="Account ID"),
        "MailingCountry": F(length=80),
        "LeadSource": F("picklist", values=LEAD_SOURCE),
        "OwnerId": _OWNER,
        "MasterRecordId": _master("Contact"),
    },
    "Account": {
        **_SYSTEM,
        "Name": F(length=255, required=True, label="Account Name"),
        "Website": F(length=255),
        "Industry": F("picklist"),
        "Type": F("picklist"),
        "Phone": F(length=40),
        "NumberOfEmployees": F("int"),
        "AnnualRevenue": F("double"),
        "BillingCity": F(length=40),
        "BillingState": F(length=80),
        "BillingPostalCode": F(length=20),
        "BillingCountry": F(length=80),
        "OwnerId": _OWNER,
        "MasterRecordId": _master("Account"),
    },
    "User": {
        **_SYSTEM,
        "Username": F(length=80, writable=False),
        "Email": F("email", length=128, writable=False),
        "FirstName": F(length=40, writable=False),
        "LastName": F(length=80, writable=False),
        "Name": F(length=121, writable=False),
        "Alias": F(length=8, writable=False),
        "IsActive": F("boolean", writable=False),
        "UserType": F("picklist", writable=False),
        "Title": F(length=80, writable=False),
        "ProfileId": F("reference", writable=False, refs=("Profile",), label="Profile ID"),
    },
    "Organization": {
        **_SYSTEM,
        "Name": F(length=80, writable=False),
        "OrganizationType": F("picklist", writable=False),
        "InstanceName": F(length=5, writable=False),
        "IsSandbox": F("boolean", writable=False),
    },
    # field-level security: a profile's own permission set holds its FieldPermissions (sandbox.salesforce_metadata)
    "Profile": {**_SYSTEM, "Name": F(length=255, writable=False)},
    "PermissionSet": {
        **_SYSTEM,
        "Name": F(length=80, required=True),
        "Label": F(length=80, required=True),
        "IsOwnedByProfile": F("boolean", writable=False, default=False),
        "ProfileId": F("reference", writable=False, refs=("Profile",)),
    },
    "FieldPermissions": {
        **_SYSTEM,
        "ParentId": F("reference", required=True, refs=("PermissionSet",), label="Parent ID"),
        "SobjectType": F(length=40, required=True, label="Object Type"),
        "Field": F(length=255, required=True, label="Field Name"),
        "PermissionsRead": F("boolean", default=False, label="Read"),
        "PermissionsEdit": F("boolean", default=False, label="Edit"),
    },
}
# objects the API can read but never create or delete (INSUFFICIENT_ACCESS_OR_READONLY for a create)
NOT_CREATABLE = frozenset({"User", "Organization", "Profile"})
RELATIONSHIPS = {
    "Owner": "OwnerId",
    "Account": "AccountId",
    "CreatedBy": "CreatedById",
    "LastModifiedBy": "LastModifiedById",
}


def row_error(code: str, message: str, fields: list[str] | None = None) -> dict[str, Any]:
    """One entry of a SaveResult's ``errors`` array."""
    return {"statusCode": code, "message": message, "fields": fields or []}


class RequestError(Exception):
    """The whole request is refused (REST answers ``[{"message","errorCode","fields"}]`` with this status)."""

    def __init__(self, status: int, code: str, message: str, fields: list[str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.fields = status, code, message, fields or []

    def body(self) -> list[dict[str, Any]]:
        out: dict[str, Any] = {"message": self.message, "errorCode": self.code}
        if self.fields:
            out["fields"] = self.fields
        return [out]
