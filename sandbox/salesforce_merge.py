"""Salesforce sandbox: merging duplicates, as the UI's merge and SOAP ``merge()`` do, on the org's records.

Up to three records of one type (Lead, Contact, Account): the main record is kept (updated with the field values the
merging person chose), the others are deleted with ``MasterRecordId`` set to the kept record (``queryAll`` finds them:
``SELECT Id FROM Contact WHERE isDeleted=true and masterRecordId != null``), and their related records (Contacts of a
merged Account) move to the kept one and are listed in ``updatedRelatedIds``. A MergeResult: ``id``,
``mergedRecordIds``, ``updatedRelatedIds``, ``success``, ``errors``.
https://developer.salesforce.com/docs/platform/api/guide/sforce-api-calls-merge.html
https://developer.salesforce.com/docs/platform/api/guide/sforce-api-calls-merge-mergeresult.html
The error codes for a refused merge are ours where the pages name none.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sandbox.salesforce_schema import row_error

if TYPE_CHECKING:
    from sandbox.salesforce_org import Org

MERGEABLE = ("Lead", "Contact", "Account")


def merge(org: Org, sobject: str, master_id: str, victim_ids: list[str], user_id: str,
          fields: dict[str, Any] | None = None) -> dict[str, Any]:
    """Merge up to two records into ``master_id``; ``fields`` are written on the kept record first."""
    def failed(code: str, message: str, errors: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        return {"id": master_id, "success": False, "errors": errors or [row_error(code, message)],
                "mergedRecordIds": [], "updatedRelatedIds": []}

    if sobject not in MERGEABLE:
        return failed("INVALID_TYPE", f"merge is not supported for {sobject}")
    if not 1 <= len(victim_ids) <= 2:
        return failed("INVALID_ARGUMENT_TYPE", "merge takes one or two records to merge into the main record")
    master = org.find(master_id)
    victims = [org.find(v) for v in victim_ids]
    if master is None or master[0] != sobject or any(v is None or v[0] != sobject for v in victims):
        return failed("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id")
    kept = master[1]
    gone = [v[1] for v in victims if v is not None]
    if any(v["Id"] == kept["Id"] for v in gone):
        return failed("INVALID_ID_FIELD", "cannot merge a record with itself")
    result = org.update(sobject, kept["Id"], fields or {}, user_id, auto_assign=False)
    if not result["success"]:
        return failed("", "", result["errors"])
    moved: list[str] = []
    if sobject == "Account":  # related records follow the kept record
        for contact in org.tables["Contact"].values():
            if contact.get("AccountId") in {v["Id"] for v in gone}:
                org._remember("Contact", contact["Id"])
                contact["AccountId"] = kept["Id"]
                org._stamp("Contact", contact, user_id)
                moved.append(contact["Id"])
    for victim in gone:
        org._remember(sobject, victim["Id"])
        victim["MasterRecordId"] = kept["Id"]
        org.delete(sobject, victim["Id"], user_id)
    return {"id": kept["Id"], "success": True, "errors": [], "mergedRecordIds": [v["Id"] for v in gone],
            "updatedRelatedIds": moved}
