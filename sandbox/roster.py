"""Seed both sandboxes with a team roster: the reps as HubSpot owners and Salesforce users, queues as queues;
and with the people and companies the CRM already knows (``samples/crm_records.jsonl``).

A real portal/org already has these people; the sandbox starts empty, and both vendors reject an owner id
that is not a user (HubSpot INVALID_OPTION on hubspot_owner_id, Salesforce INVALID_CROSS_REFERENCE_KEY).
"""

from __future__ import annotations

from typing import Any

from connector.team import Team


def _names(full: str) -> tuple[str, str]:
    first, _, last = full.partition(" ")
    return first, last or first


def sandbox_options(team: Team) -> dict[str, dict[str, Any]]:
    """``SandboxServer(hubspot=..., salesforce=...)`` options holding the roster's owners."""
    owners: list[dict[str, Any]] = []
    users: list[dict[str, Any]] = [
        {"Email": "integration@leadrelay.example", "FirstName": "Leadrelay", "LastName": "Integration",
         "Title": "Integration User"},
    ]
    for rep in team.reps:
        first, last = _names(rep.name)
        if rep.owner_ids.get("hubspot"):
            owners.append({"id": rep.owner_ids["hubspot"], "email": rep.email, "firstName": first, "lastName": last})
        if rep.owner_ids.get("salesforce"):
            users.append({"Id": rep.owner_ids["salesforce"], "Email": rep.email, "FirstName": first,
                          "LastName": last, "IsActive": rep.active})
    queues = []
    for name, q in team.queues.items():
        if q.owner_ids.get("hubspot"):
            owners.append({"id": q.owner_ids["hubspot"], "email": f"{name}-queue@leadrelay.example",
                           "firstName": name.title(), "lastName": "Queue"})
        if q.owner_ids.get("salesforce"):
            sf = q.owner_ids["salesforce"]
            if sf.startswith("005"):
                users.append({"Id": sf, "Email": f"{name}-queue@leadrelay.example", "LastName": name.title()})
            else:
                queues.append({"Id": sf, "Name": name.title()})
    return {"hubspot": {"owners": owners}, "salesforce": {"users": users, "queues": queues}}


def seed_hubspot(sandbox: Any, records: list[dict[str, Any]]) -> dict[str, str]:
    """Put known companies and contacts (``samples/crm_records.jsonl`` rows) into the HubSpot sandbox.
    Returns our id -> the sandbox's id; contacts are associated with the company of their email's domain."""
    ids: dict[str, str] = {}
    companies: dict[str, str] = {}
    for r in records:
        if r.get("crm") != "hubspot" or r.get("kind") != "account":
            continue
        props = {"name": r.get("company"), "domain": r.get("domain"), "hubspot_owner_id": r.get("owner_id")}
        ids[r["id"]] = sandbox.hubspot.seed("companies", {k: v for k, v in props.items() if v})
        companies[str(r.get("domain"))] = ids[r["id"]]
    for r in records:
        if r.get("crm") != "hubspot" or r.get("kind") != "contact":
            continue
        props = {"email": r.get("email"), "firstname": r.get("first_name"), "lastname": r.get("last_name"),
                 "company": r.get("company"), "hubspot_owner_id": r.get("owner_id")}
        ids[r["id"]] = sandbox.hubspot.seed("contacts", {k: v for k, v in props.items() if v})
    return ids


def _owner_map(team: Team) -> dict[str, str]:
    """Any CRM's owner id of a rep or queue -> their Salesforce one (the known records name HubSpot owners)."""
    out: dict[str, str] = {}
    for ids in [r.owner_ids for r in team.reps] + [q.owner_ids for q in team.queues.values()]:
        sf = ids.get("salesforce")
        if sf:
            out.update({other: sf for other in ids.values()})
    return out


def seed_salesforce(sandbox: Any, records: list[dict[str, Any]], team: Team) -> dict[str, str]:
    """Put the known companies and people (``samples/crm_records.jsonl`` rows, whatever CRM they were written
    for) into the Salesforce sandbox: companies as Accounts (Website = their domain), people as Contacts on the
    Account of their company or email domain, each owned by the same rep as there. Returns our id -> Salesforce's.
    """
    owners = _owner_map(team)
    ids: dict[str, str] = {}
    accounts: dict[str, str] = {}  # lower-case domain or company name -> Account id
    for r in records:
        if r.get("kind") != "account":
            continue
        fields = {"Name": r.get("company"), "Website": r.get("domain"), "OwnerId": owners.get(str(r.get("owner_id")))}
        ids[r["id"]] = sandbox.salesforce.seed("Account", {k: v for k, v in fields.items() if v})
        for key in (r.get("domain"), r.get("company")):
            if key:
                accounts[str(key).lower()] = ids[r["id"]]
    for r in records:
        if r.get("kind") != "contact":
            continue
        domain = str(r.get("email") or "").rpartition("@")[2].lower()
        account = accounts.get(domain) or accounts.get(str(r.get("company") or "").lower())
        fields = {"Email": r.get("email"), "FirstName": r.get("first_name"),
                  "LastName": r.get("last_name") or "[not provided]",  # LastName is required on a Contact
                  "AccountId": account, "OwnerId": owners.get(str(r.get("owner_id")))}
        ids[r["id"]] = sandbox.salesforce.seed("Contact", {k: v for k, v in fields.items() if v})
    return ids

