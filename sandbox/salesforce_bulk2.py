"""Salesforce sandbox: Bulk API 2.0 query jobs over the org's SOQL engine. Mixed into
``sandbox.salesforce.SalesforceSandbox`` (the org, the HTTP plumbing and the API usage count live there).

- ``POST /services/data/vXX.X/jobs/query`` with ``operation`` ``query`` or ``queryAll`` (deleted and merged records
  too) and ``query``; optional ``columnDelimiter`` (BACKQUOTE, CARET, COMMA, PIPE, SEMICOLON, TAB) and
  ``lineEnding`` (LF, CRLF); answers the job info (``id``, ``operation``, ``object``, ``createdById``,
  ``createdDate``, ``systemModstamp``, ``state`` UploadComplete, ``concurrencyMode``, ``contentType`` CSV,
  ``apiVersion``, ``lineEnding``, ``columnDelimiter``). A query Salesforce would refuse is refused here, at creation
  (MALFORMED_QUERY / INVALID_FIELD / INVALID_TYPE from the SOQL engine), and so is what Bulk API 2.0 does not run:
  OFFSET (GROUP BY, TYPEOF and aggregates the engine does not parse at all).
  https://developer.salesforce.com/docs/atlas.en-us.api_asynch.meta/api_asynch/query_create_job.htm
  https://developer.salesforce.com/docs/atlas.en-us.api_asynch.meta/api_asynch/queries.htm
- ``GET .../jobs/query/{id}``: the job info plus ``numberRecordsProcessed``, ``retries``, ``totalProcessingTime``;
  the sandbox runs the query when the job is created and reports JobComplete from the first look on (the walkthrough's
  UploadComplete -> InProgress -> JobComplete, without the wait). ``GET .../jobs/query`` lists the jobs,
  ``PATCH`` with ``{"state": "Aborted"}`` aborts one, ``DELETE`` removes it (204).
  https://developer.salesforce.com/docs/atlas.en-us.api_asynch.meta/api_asynch/query_walkthrough.htm
- ``GET .../jobs/query/{id}/results[?locator=&maxRecords=]``: CSV (every value double-quoted, a header row of the
  selected fields in the query's order, null as an empty value), ``Sforce-NumberOfRecords`` (rows in this set) and
  ``Sforce-Locator`` (the next set's locator, the string ``null`` after the last). A locator keeps naming the same
  set while the job exists. Results of a job that is not JobComplete: 412 JOB_NOT_COMPLETE; asked for with another
  API version than the job's: 409.
  https://developer.salesforce.com/docs/atlas.en-us.api_asynch.meta/api_asynch/query_get_job_results.htm

Where the docs give no error code the code is ours: API_ERROR for an unknown operation, delimiter, line ending or a
bad ``maxRecords``, NOT_FOUND for an unknown job id.
"""

from __future__ import annotations

import base64
import csv
import io
from dataclasses import dataclass, field
from typing import Any

from sandbox import soql
from sandbox.salesforce_org import Org, RequestError, make_id, sf_now

DELIMITERS = {"BACKQUOTE": "`", "CARET": "^", "COMMA": ",", "PIPE": "|", "SEMICOLON": ";", "TAB": "\t"}
LINE_ENDINGS = {"LF": "\n", "CRLF": "\r\n"}


@dataclass
class Csv:
    """A non-JSON answer: CSV text and the headers that go with it."""

    text: str
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class QueryJob:
    info: dict[str, Any]
    fields: list[str]
    rows: list[list[str]]  # the query's result, taken when the job ran


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _locator(offset: int) -> str:
    return base64.b64encode(str(offset).encode()).decode().rstrip("=")


def _offset(locator: str) -> int | None:
    try:
        text = base64.b64decode(locator + "=" * (-len(locator) % 4)).decode()
    except ValueError:
        return None
    return int(text) if text.isdigit() else None


class Bulk2Ops:
    """Bulk API 2.0 query jobs of the Salesforce sandbox."""

    org: Org
    _bulk_jobs: dict[str, QueryJob]
    _bulk_seq: int

    def _bulk_job(self, job_id: str) -> QueryJob:
        job = self._bulk_jobs.get(job_id)
        if job is None:
            raise RequestError(404, "NOT_FOUND", f"Job with id {job_id} does not exist")
        return job

    def op_bulk_create(self, ctx: Any, body: Any) -> tuple[int, Any]:
        if not isinstance(body, dict) or not body.get("query"):
            raise RequestError(400, "API_ERROR", "A query job needs `operation` and `query`")
        operation = body.get("operation")
        if operation not in ("query", "queryAll"):
            raise RequestError(400, "API_ERROR", f"Invalid operation for a query job: {operation!r}")
        delimiter = body.get("columnDelimiter", "COMMA")
        ending = body.get("lineEnding", "LF")
        if delimiter not in DELIMITERS or ending not in LINE_ENDINGS or body.get("contentType", "CSV") != "CSV":
            raise RequestError(400, "API_ERROR", "Invalid columnDelimiter, lineEnding or contentType")
        query = soql.parse(str(body["query"]))
        if query.offset:
            raise RequestError(400, "API_ERROR", "OFFSET is not supported by Bulk API 2.0 query jobs")
        sobject, records = self.org.run_query(query, include_deleted=operation == "queryAll")
        header = [f if "." in f else self.org.field_name(sobject, f) for f in query.fields]
        rows = [[_cell(self.org.resolve(sobject, r, f)) for f in query.fields] for r in records]
        self._bulk_seq += 1
        now = sf_now()
        info = {"id": make_id("750", self._bulk_seq), "operation": operation, "object": sobject,
                "createdById": ctx.user_id, "createdDate": now, "systemModstamp": now, "state": "UploadComplete",
                "concurrencyMode": "Parallel", "contentType": "CSV", "apiVersion": float(ctx.version[1:]),
                "lineEnding": ending, "columnDelimiter": delimiter}
        self._bulk_jobs[info["id"]] = QueryJob(info, header, rows)
        return 200, dict(info)

    def op_bulk_get(self, ctx: Any, body: Any, job_id: str) -> tuple[int, Any]:
        job = self._bulk_job(job_id)
        if job.info["state"] == "UploadComplete":
            job.info["state"] = "JobComplete"
        return 200, {**job.info, "jobType": "V2Query", "numberRecordsProcessed": len(job.rows), "retries": 0,
                     "totalProcessingTime": 0, "isPkChunkingSupported": False}

    def op_bulk_list(self, ctx: Any, body: Any) -> tuple[int, Any]:
        return 200, {"done": True, "records": [dict(j.info) for j in self._bulk_jobs.values()],
                     "nextRecordsUrl": None}

    def op_bulk_abort(self, ctx: Any, body: Any, job_id: str) -> tuple[int, Any]:
        job = self._bulk_job(job_id)
        if not isinstance(body, dict) or body.get("state") != "Aborted":
            raise RequestError(400, "API_ERROR", "A query job can only be set to state Aborted")
        if job.info["state"] == "JobComplete":
            raise RequestError(400, "API_ERROR", "Cannot abort a job that has completed")
        job.info["state"] = "Aborted"
        return 200, dict(job.info)

    def op_bulk_delete(self, ctx: Any, body: Any, job_id: str) -> tuple[int, Any]:
        self._bulk_job(job_id)
        del self._bulk_jobs[job_id]
        return 204, None

    def op_bulk_results(self, ctx: Any, body: Any, job_id: str) -> tuple[int, Any]:
        job = self._bulk_job(job_id)
        if float(ctx.version[1:]) != job.info["apiVersion"]:
            raise RequestError(409, "API_ERROR", "Use the API version the query job was created with")
        if job.info["state"] != "JobComplete":
            raise RequestError(412, "JOB_NOT_COMPLETE", "can only download query results of successfully "
                               f"completed bulk job with status: JOB_COMPLETE. Current status: {job.info['state']}")
        raw_max = ctx.query.get("maxRecords")
        if raw_max is not None and (not raw_max.isdigit() or int(raw_max) < 1):
            raise RequestError(400, "API_ERROR", f"maxRecords must be a positive integer, got {raw_max!r}")
        start = 0
        if ctx.query.get("locator"):
            found = _offset(ctx.query["locator"])
            if found is None or found > len(job.rows):
                raise RequestError(400, "INVALID_LOCATOR", f"Invalid locator: {ctx.query['locator']}")
            start = found
        size = int(raw_max) if raw_max else len(job.rows) or 1
        chunk = job.rows[start:start + size]
        out = io.StringIO()
        writer = csv.writer(out, delimiter=DELIMITERS[job.info["columnDelimiter"]], quoting=csv.QUOTE_ALL,
                            lineterminator=LINE_ENDINGS[job.info["lineEnding"]])
        writer.writerow(job.fields)
        writer.writerows(chunk)
        nxt = start + size
        return 200, Csv(out.getvalue(), {"Sforce-NumberOfRecords": str(len(chunk)),
                                         "Sforce-Locator": _locator(nxt) if nxt < len(job.rows) else "null"})
