"""Salesforce adapter, the read side: SOQL queries (chunked, paged, up to 5 per Composite call), records by id.

Mixed into ``adapters.salesforce.client.SalesforceCrm``, whose ``_call`` (allocation guard, shared limiter,
session refresh, classification) and ``_retrying`` every call here goes through.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from functools import partial
from typing import Any, TypeVar, cast
from urllib.parse import quote_plus

from simple_salesforce.api import Salesforce
from simple_salesforce.exceptions import SalesforceGeneralError

from adapters.retry import Deadline
from adapters.salesforce.errors import _SUB_ERRORS
from connector.errors import FatalError
from connector.keys import registrable_domain
from connector.model import CrmRecord
from connector.ports import Owner

T = TypeVar("T")
ID_PREFIX = {"00Q": "Lead", "003": "Contact", "001": "Account"}


def soql_quote(value: str, *, like: bool = False) -> str:
    """A SOQL string literal (backslash escapes; ``%``/``_`` escaped too inside LIKE)."""
    text = value.replace("\\", "\\\\").replace("'", "\\'")
    if like:
        text = text.replace("%", "\\%").replace("_", "\\_")
    return f"'{text}'"


class SalesforceLookups:
    """``find``, ``accounts``, ``owners`` and ``get`` of ``SalesforceCrm``."""

    api_version: str
    upsert_key: str
    account_field: str
    deadline_s: float
    timeout_s: float
    max_query_uri: int
    _call: Callable[..., Any]
    _retrying: Callable[..., Any]

    def _query(self, soql: str, deadline: Deadline, lane: str = "live") -> list[dict[str, Any]]:
        """All records of one SOQL query, following ``nextRecordsUrl`` (each page is one call)."""
        page = self._retrying(
            lambda: self._call(lambda sf: sf.query(soql, timeout=self.timeout_s), deadline=deadline, lane=lane),
            deadline,
        )
        return self._all_pages(page, deadline, lane)

    def _all_pages(self, page: dict[str, Any], deadline: Deadline, lane: str = "live") -> list[dict[str, Any]]:
        """A query's records from its first page on, following ``nextRecordsUrl`` (each page is one call)."""
        records = list(page["records"])
        while not page.get("done", True):
            url = str(page["nextRecordsUrl"])

            def more(sf: Salesforce, url: str = url) -> Any:
                return sf.query_more(url, identifier_is_url=True, timeout=self.timeout_s)

            page = self._retrying(lambda: self._call(more, deadline=deadline, lane=lane), deadline)
            records.extend(page["records"])
        return [{k: v for k, v in r.items() if k != "attributes"} for r in records]

    def _chunks(
        self, head: str, values: Sequence[str], render: Callable[[str], str], joiner: str, tail: str = ""
    ) -> Iterable[str]:
        """SOQL statements ``head + v1 joiner v2 ... + tail`` each short enough for one request URI."""
        budget = self.max_query_uri - 200  # instance URL and path
        current: list[str] = []
        for value in values:
            candidate = head + joiner.join([*current, render(value)]) + tail
            if current and len(quote_plus(candidate)) > budget:
                yield head + joiner.join(current) + tail
                current = []
            current.append(render(value))
        if current:
            yield head + joiner.join(current) + tail

    def find(self, emails: Sequence[str], domains: Sequence[str] = ()) -> list[CrmRecord]:
        """Leads and Contacts by email (``Email IN (...)``), Accounts by website domain; chunked and paged."""
        deadline = Deadline(self.deadline_s)
        wanted = sorted({e.strip().lower() for e in emails if e and "@" in e})
        doms = sorted({d.strip().lower() for d in domains if d})
        lead_fields = (
            "Id, Email, FirstName, LastName, Phone, Company, Website, Country, OwnerId, Status, "
            f"{self.upsert_key}, {self.account_field}"
        )
        contact_fields = (
            "Id, Email, FirstName, LastName, Phone, MailingCountry, OwnerId, AccountId, Account.Name, Account.Website"
        )

        def website_like(domain: str) -> str:
            return "Website LIKE '%" + soql_quote(domain, like=True)[1:-1] + "%'"

        account_head = "SELECT Id, Name, Website, OwnerId, BillingCountry FROM Account WHERE "
        tagged = [
            *(("lead", q) for q in self._chunks(
                f"SELECT {lead_fields} FROM Lead WHERE IsConverted = false AND Email IN (", wanted, soql_quote, ", ",
                ")")),
            *(("contact", q) for q in self._chunks(
                f"SELECT {contact_fields} FROM Contact WHERE Email IN (", wanted, soql_quote, ", ", ")")),
            *(("account", q) for q in self._chunks(account_head, doms, website_like, " OR ")),
        ]  # fmt: skip
        out: list[CrmRecord] = []
        for (kind, _), rows in zip(tagged, self._queries([q for _, q in tagged], deadline), strict=True):
            if kind == "lead":
                out += [self._lead(r) for r in rows]
            elif kind == "contact":
                out += [self._contact(r) for r in rows]
            else:
                accounts = [self._account(r) for r in rows]
                out += [a for a in accounts if a.domain in doms]  # LIKE '%acme.com%' also matches notacme.com
        return out

    def _queries(self, soqls: Sequence[str], deadline: Deadline) -> list[list[dict[str, Any]]]:
        """The records of several SOQL queries, up to 5 per Composite request: one API call instead of one per
        query (Composite resource: developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/
        resources_composite_composite.htm; at most 5 of its subrequests may be queries)."""
        if len(soqls) <= 1:
            return [self._query(q, deadline) for q in soqls]
        out: list[list[dict[str, Any]]] = []
        for start in range(0, len(soqls), 5):
            send = self._composite(soqls[start:start + 5])
            subs: list[dict[str, Any]] = self._retrying(partial(self._call, send, deadline=deadline), deadline)
            out += [self._all_pages(sub["body"], deadline) for sub in subs]
        return out

    def _composite(self, soqls: Sequence[str]) -> Callable[[Salesforce], list[dict[str, Any]]]:
        """One Composite request of up to 5 queries; a failed subrequest raises as simple-salesforce would."""
        body = {"allOrNone": False, "compositeRequest": [
            {"method": "GET", "referenceId": f"q{i}",
             "url": f"/services/data/v{self.api_version}/query?q={quote_plus(q)}"} for i, q in enumerate(soqls)]}

        def send(sf: Salesforce) -> list[dict[str, Any]]:
            answer = cast(dict[str, Any], sf.restful("composite", method="POST", json=body, timeout=self.timeout_s))
            for sub in answer["compositeResponse"]:
                status = int(sub["httpStatusCode"])
                if status >= 300:  # the error simple-salesforce raises for the same answer to a plain query
                    kind = _SUB_ERRORS.get(status, SalesforceGeneralError)
                    raise kind("composite/query", status, "query", sub["body"])
            return cast(list[dict[str, Any]], answer["compositeResponse"])

        return send

    def accounts(self, *, deadline_s: float | None = None) -> list[CrmRecord]:
        """Every Account with a website, for the account index (one SOQL query, paged by nextRecordsUrl)."""
        soql = "SELECT Id, Name, Website, OwnerId, BillingCountry FROM Account WHERE Website != null"
        return [self._account(r) for r in self._query(soql, Deadline(deadline_s or self.deadline_s), lane="bulk")]

    def _lead(self, r: dict[str, Any]) -> CrmRecord:
        return CrmRecord(
            crm="salesforce", id=r["Id"], kind="lead", email=r.get("Email"), phone=r.get("Phone"),
            first_name=r.get("FirstName"), last_name=r.get("LastName"), company=r.get("Company"),
            domain=registrable_domain(r.get("Website")) or registrable_domain(r.get("Email")), country=r.get("Country"),
            owner_id=r.get("OwnerId"), account_id=r.get(self.account_field), fields=r,
        )  # fmt: skip

    def _contact(self, r: dict[str, Any]) -> CrmRecord:
        account = r.get("Account") or {}
        return CrmRecord(
            crm="salesforce", id=r["Id"], kind="contact", email=r.get("Email"), phone=r.get("Phone"),
            first_name=r.get("FirstName"), last_name=r.get("LastName"), company=account.get("Name"),
            domain=registrable_domain(account.get("Website")) or registrable_domain(r.get("Email")),
            country=r.get("MailingCountry"), owner_id=r.get("OwnerId"), account_id=r.get("AccountId"),
            fields={k: v for k, v in r.items() if k != "Account"},
        )  # fmt: skip

    def _account(self, r: dict[str, Any]) -> CrmRecord:
        return CrmRecord(
            crm="salesforce", id=r["Id"], kind="account", company=r.get("Name"),
            domain=registrable_domain(r.get("Website")), country=r.get("BillingCountry"), owner_id=r.get("OwnerId"),
            fields=r,
        )  # fmt: skip

    def owners(self) -> list[Owner]:
        """Active standard Users (people who can own leads)."""
        deadline = Deadline(self.deadline_s)
        soql = (
            "SELECT Id, Email, FirstName, LastName, IsActive FROM User "
            "WHERE IsActive = true AND UserType = 'Standard' ORDER BY Email"
        )
        return [
            Owner(
                crm="salesforce",
                id=r["Id"],
                email=r["Email"],
                first_name=r.get("FirstName"),
                last_name=r.get("LastName"),
                active=True,
            )
            for r in self._query(soql, deadline)
        ]

    def get(self, record_id: str) -> CrmRecord | None:
        """A Lead, Contact or Account by id (object from the id prefix); None when it does not exist."""
        sobject = ID_PREFIX.get(record_id[:3])
        if sobject is None:
            return None
        deadline = Deadline(self.deadline_s)
        try:
            rec = self._retrying(
                lambda: self._call(
                    lambda sf: sf.restful(f"sobjects/{sobject}/{record_id}", timeout=self.timeout_s), deadline=deadline
                ),
                deadline,
            )
        except FatalError as exc:
            if "NOT_FOUND" in exc.message or "ENTITY_IS_DELETED" in exc.message:
                return None
            raise
        rec = {k: v for k, v in (rec or {}).items() if k != "attributes"}
        return {"Lead": self._lead, "Contact": self._contact, "Account": self._account}[sobject](rec)
