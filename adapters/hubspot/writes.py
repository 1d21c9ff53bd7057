"""HubSpot adapter, the write side: batch upserts, moving a lifecycle stage back, company associations.

Mixed into ``adapters.hubspot.client.HubSpotCrm``, whose ``_request`` (limited, classified, retried) every call
here goes through. Writes are batch **upserts** keyed on a unique property (``email``, else ``leadrelay_id``),
100 inputs per call, each input tagged with ``objectWriteTraceId`` = the item key so HubSpot reports per-row
failures (207) instead of failing the whole batch. Replaying the same items updates the same records: exactly once.
Associations use the v4 batch default endpoint, which answers 200 and lists the pairs it could not associate in
``errors[]`` (HubSpot's associations v4 spec documents no 207 for it).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from adapters.hubspot.common import BATCH_LIMIT, RETRYABLE_ROW_CATEGORIES, HubSpotError, Json, _chunks, _fields, _text
from adapters.retry import Deadline, call_with_retry
from connector.errors import AuthError, FatalError, LeadrelayError, RetryableError
from connector.ports import WriteItem, WriteOutcome


class HubSpotWrites:
    """``write`` of ``HubSpotCrm``."""

    deadline_s: float
    batch_size: int
    lifecycle_backwards: str
    stage_field: str
    id_properties: tuple[str, ...]
    _contacts_batch: Any
    _assoc_batch: Any
    _request: Callable[..., tuple[int, Json]]
    _on_retry: Callable[[RetryableError, float], None]

    def write(self, items: Sequence[WriteItem], *, deadline_s: float | None = None) -> list[WriteOutcome]:
        """Batch-upsert items (100 per call); one outcome per item. Only failed rows are retried.

        AuthError propagates (no row can succeed); everything else ends in a per-row outcome.
        """
        deadline = Deadline(deadline_s or self.deadline_s)
        outcomes: dict[str, WriteOutcome] = {}
        groups: dict[str, dict[str, WriteItem]] = {}
        aliases: dict[str, list[str]] = {}  # key written -> other keys for the same record in this call
        stages: dict[str, str | None] = {}  # key -> lifecycle stage HubSpot kept (to spot an ignored backwards move)
        for item in items:
            id_prop = next((p for p in self.id_properties if item.fields.get(p)), None)
            if id_prop is None:
                outcomes[item.key] = WriteOutcome(key=item.key, status="permanent", error_code="NO_ID_PROPERTY",
                                                  message=f"needs one of {', '.join(self.id_properties)} to upsert")
                continue
            value = _text(item.fields[id_prop]).strip()
            value = value.lower() if id_prop == "email" else value
            group = groups.setdefault(id_prop, {})
            if value in group:  # same record twice in one call: HubSpot refuses duplicate ids, the last one wins
                aliases.setdefault(item.key, []).append(group[value].key)
                aliases[item.key] += aliases.pop(group[value].key, [])
            group[value] = item
        for id_prop, by_value in groups.items():
            rows = list(by_value.items())
            for chunk in _chunks(rows, self.batch_size):
                self._upsert(id_prop, dict(chunk), deadline, outcomes, stages)
        if self.lifecycle_backwards == "clear_then_set":
            self._move_stage_back(items, deadline, outcomes, stages)
        self._associate(items, deadline, outcomes)
        for key, others in aliases.items():
            for other in others:
                outcomes[other] = WriteOutcome(**{**_fields(outcomes[key]), "key": other, "created": False})
        return [outcomes[i.key] for i in items]

    def _upsert(self, id_prop: str, rows: dict[str, WriteItem], deadline: Deadline,
                outcomes: dict[str, WriteOutcome], stages: dict[str, str | None]) -> None:
        todo = {item.key: (value, item) for value, item in rows.items()}
        lane = "live" if any(i.lane != "bulk" for i in rows.values()) else "bulk"

        def once() -> None:
            inputs = [{"idProperty": id_prop, "id": value, "objectWriteTraceId": key,
                       "properties": {k: _text(v) for k, v in item.fields.items() if v is not None}}
                      for key, (value, item) in todo.items()]
            _, data = self._request(lambda **kw: self._contacts_batch.upsert({"inputs": inputs}, **kw), deadline,
                                    lane=lane)
            for r in data.get("results", []):
                key = r.get("objectWriteTraceId")
                if key in todo:
                    outcomes[key] = WriteOutcome(key=key, status="written", record_id=str(r["id"]),
                                                 created=bool(r.get("new")))
                    stages[key] = (r.get("properties") or {}).get(self.stage_field)
                    del todo[key]
            for err in data.get("errors", []):
                for key in (err.get("context") or {}).get("objectWriteTraceId", []):
                    if key not in todo:
                        continue
                    category = str(err.get("category") or "")
                    if category in RETRYABLE_ROW_CATEGORIES:
                        continue  # stays in todo: retried with the other failed rows only
                    details = err.get("errors") or []
                    code = (details[0].get("code") if details else None) or category
                    outcomes[key] = WriteOutcome(key=key, status="permanent", message=str(err.get("message")),
                                                 error_code=code)
                    del todo[key]
            if todo:
                raise RetryableError(f"{len(todo)} HubSpot rows not written yet", retry_after=0.5)

        try:
            call_with_retry(once, deadline=deadline, on_retry=self._on_retry)
        except RetryableError as exc:
            for key in todo:
                outcomes[key] = WriteOutcome(key=key, status="retryable", message=exc.message,
                                             retry_after=exc.retry_after)
        except HubSpotError as exc:  # the whole request refused (400 for the batch): every row keeps the reason
            for key in todo:
                outcomes[key] = WriteOutcome(key=key, status="permanent", message=exc.message,
                                             error_code=exc.category)
        except AuthError:
            raise
        except FatalError as exc:
            for key in todo:
                outcomes[key] = WriteOutcome(key=key, status="permanent", message=exc.message)

    def _move_stage_back(self, items: Sequence[WriteItem], deadline: Deadline, outcomes: dict[str, WriteOutcome],
                         stages: dict[str, str | None]) -> None:
        """HubSpot ignored an earlier lifecycle stage: clear it, then set it (two batch updates)."""
        back = [(outcomes[i.key].record_id, _text(i.fields[self.stage_field]), i.key) for i in items
                if i.fields.get(self.stage_field) and outcomes.get(i.key) and outcomes[i.key].status == "written"
                and i.key in stages and stages[i.key] != _text(i.fields[self.stage_field])]
        for chunk in _chunks(back, BATCH_LIMIT):
            for value_of in (lambda v: "", lambda v: v):
                inputs = [{"id": rid, "objectWriteTraceId": key, "properties": {self.stage_field: value_of(v)}}
                          for rid, v, key in chunk]
                try:
                    _, data = self._request(lambda b={"inputs": inputs}, **kw: self._contacts_batch.update(b, **kw),
                                            deadline)
                except AuthError:
                    raise
                except LeadrelayError as exc:
                    for _, _, key in chunk:
                        outcomes[key] = WriteOutcome(**{**_fields(outcomes[key]), "status": "retryable",
                                                        "message": f"lifecycle stage not moved back: {exc.message}"})
                    break
                for err in data.get("errors", []):
                    for key in (err.get("context") or {}).get("objectWriteTraceId", []):
                        outcomes[key] = WriteOutcome(**{**_fields(outcomes[key]), "status": "permanent",
                                                        "message": str(err.get("message"))})

    def _associate(self, items: Sequence[WriteItem], deadline: Deadline, outcomes: dict[str, WriteOutcome]) -> None:
        """Associate written contacts with their company (associations v4 batch default, 100 pairs per call)."""
        pairs = [(i.key, outcomes[i.key].record_id, i.account_id) for i in items
                 if i.account_id and outcomes.get(i.key) and outcomes[i.key].status == "written"]
        for chunk in _chunks(pairs, BATCH_LIMIT):
            body = {"inputs": [{"from": {"id": rid}, "to": {"id": aid}} for _, rid, aid in chunk]}
            try:
                _, data = self._request(
                    lambda b=body, **kw: self._assoc_batch.create_default("contacts", "companies", b, **kw), deadline)
            except AuthError:
                raise
            except LeadrelayError as exc:
                status = "retryable" if isinstance(exc, RetryableError) else "written"
                for key, _, aid in chunk:
                    outcomes[key] = WriteOutcome(**{**_fields(outcomes[key]), "status": status,
                                                    "error_code": "ASSOCIATION_FAILED",
                                                    "message": f"not associated with company {aid}: {exc.message}"})
                continue
            failed = {str(e.get("context", {}).get("fromObjectId", [""])[0]): str(e.get("message"))
                      for e in data.get("errors", [])}
            for key, rid, aid in chunk:
                if rid in failed:
                    outcomes[key] = WriteOutcome(**{**_fields(outcomes[key]), "error_code": "ASSOCIATION_FAILED",
                                                    "message": f"not associated with company {aid}: {failed[rid]}"})
