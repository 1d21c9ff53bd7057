"""The sandbox Salesforce org's read side: field paths, relationships, SOQL evaluation and row shapes.

Mixed into ``sandbox.salesforce_org.Org`` (records, indexes and schema live there); SOQL parsing is ``soql.py``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sandbox import soql
from sandbox.salesforce_schema import RELATIONSHIPS, RequestError


class OrgQuery:
    """Queries over the org's tables."""

    tables: dict[str, dict[str, dict[str, Any]]]
    groups: dict[str, dict[str, Any]]
    recycle: dict[str, dict[str, dict[str, Any]]]

    def resolve(self, sobject: str, record: dict[str, Any], path: str) -> Any:
        """A field value by (case-insensitive) name or one-level relationship path such as ``Owner.Email``."""
        if "." in path:
            rel, _, sub = path.partition(".")
            ref_field = self._relationship_field(sobject, rel)
            target_id = record.get(ref_field)
            target = self.find(str(target_id)) if target_id else None
            if target is None:
                group = self.groups.get(str(target_id)) if target_id else None
                return group.get(sub) if group else None
            return self.resolve(target[0], target[1], sub)
        return record.get(self.field_name(sobject, path))

    def _relationship_field(self, sobject: str, rel: str) -> str:
        schema = self.schema(sobject)
        candidates = [
            RELATIONSHIPS.get(rel[:1].upper() + rel[1:], ""),
            rel[:-3] + "__c" if rel.lower().endswith("__r") else "",
        ]
        for cand in candidates:
            for known in schema:
                if cand and known.lower() == cand.lower():
                    return known
        for known in RELATIONSHIPS:
            if known.lower() == rel.lower() and RELATIONSHIPS[known] in schema:
                return RELATIONSHIPS[known]
        raise RequestError(
            400,
            "INVALID_FIELD",
            f"Didn't understand relationship '{rel}' in field path. If you are attempting to use a custom "
            "relationship, be sure to append the '__r' after the custom relationship name.",
        )

    def run_query(self, query: soql.Query, *, include_deleted: bool = False) -> tuple[str, list[dict[str, Any]]]:
        """The rows a query selects; ``include_deleted`` reads the Recycle Bin too (queryAll)."""
        sobject = self.canonical_sobject_for_query(query.sobject)
        for path in [*query.fields, *soql.where_fields(query.where), *(o[0] for o in query.order_by)]:
            self.resolve(sobject, {}, path) if "." not in path else self._relationship_field(
                sobject, path.split(".")[0]
            )

        def get(rec: dict[str, Any], path: str) -> Any:
            return self.resolve(sobject, rec, path)

        pool: Iterable[dict[str, Any]] = self._candidates(sobject, query.where)
        if include_deleted:
            pool = [*self.tables[sobject].values(), *self.recycle.get(sobject, {}).values()]
        rows = [r for r in pool if soql.matches(query.where, r, get)]
        if query.order_by:
            soql.sort_records(rows, query.order_by, get)
        rows = rows[query.offset :]
        if query.limit is not None:
            rows = rows[: query.limit]
        return sobject, rows

    def _candidates(self, sobject: str, where: Any) -> Iterable[dict[str, Any]]:
        """Rows a query must test: through an index when a top-level AND term is `=`/`IN` on an indexed field.

        Salesforce's query optimizer leads with a selective indexed filter; Email on Lead and Contact and
        external ids are indexed by the platform ("Indexes", Large Data Volumes best practices:
        developer.salesforce.com/docs/platform/salesforce-large-data-volumes-bp/guide/
        ldv-deployments-infrastructure-indexes.html). Every returned row is still tested by `soql.matches`.
        """
        terms = where.items if isinstance(where, soql.BoolOp) and where.op == "and" else [where]
        for term in terms:
            if not isinstance(term, soql.Cmp) or term.op not in ("=", "in") or "." in term.field:
                continue
            name = next((k for k in self.schema(sobject) if k.lower() == term.field.lower()), None)
            values = term.value if term.op == "in" else [term.value]
            if name is None or not self._indexed(sobject, name) or not all(isinstance(v, str) for v in values):
                continue
            found: dict[str, dict[str, Any]] = {}
            for value in values:
                for rec in self.by_index(sobject, name, value):
                    found[rec["Id"]] = rec
            return found.values()
        return self.tables[sobject].values()

    def _indexed(self, sobject: str, name: str) -> bool:
        if name == "Email" and sobject in ("Lead", "Contact"):
            return True
        spec = self.schema(sobject).get(name)
        return spec is not None and spec.external_id

    def canonical_sobject_for_query(self, name: str) -> str:
        try:
            return self.canonical_sobject(name)
        except RequestError as exc:
            raise RequestError(
                400,
                "INVALID_TYPE",
                f"sObject type '{name}' is not supported. If you are attempting to use a custom object, be sure to "
                "append the '__c' after the entity name. Please reference your WSDL or the describe call for the "
                "appropriate names.",
            ) from exc

    def shape(self, sobject: str, record: dict[str, Any], fields: list[str], version: str) -> dict[str, Any]:
        """A query row: ``attributes`` then the selected fields with their API-name casing."""
        out: dict[str, Any] = {
            "attributes": {"type": sobject, "url": f"/services/data/{version}/sobjects/{sobject}/{record['Id']}"}
        }
        for path in fields:
            if "." in path:
                rel, _, sub = path.partition(".")
                ref_field = self._relationship_field(sobject, rel)
                rel_name = ref_field[:-2] if ref_field.endswith("Id") else ref_field[:-3] + "__r"
                target_id = record.get(ref_field)
                target = self.find(str(target_id)) if target_id else None
                if target is None:
                    out.setdefault(rel_name, None)
                    continue
                sub_obj = out.get(rel_name) or {
                    "attributes": {
                        "type": target[0],
                        "url": f"/services/data/{version}/sobjects/{target[0]}/{target[1]['Id']}",
                    }
                }
                sub_obj[self.field_name(target[0], sub)] = target[1].get(self.field_name(target[0], sub))
                out[rel_name] = sub_obj
            else:
                name = self.field_name(sobject, path)
                out[name] = record.get(name)
        return out
