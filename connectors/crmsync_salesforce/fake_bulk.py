"""Bulk API 2.0 jobs for the fake org: ingest (lifecycle, CSV upload, CSV result sets) and query.

``POST jobs/ingest`` opens a job, ``PUT jobs/ingest/{id}/batches`` uploads CSV,
``PATCH jobs/ingest/{id}`` with ``UploadComplete`` processes it (the fake finishes at once, so
the next poll answers ``JobComplete``), ``Aborted`` aborts it; ``successfulResults``,
``failedResults`` and ``unprocessedrecords`` return CSV as Salesforce does. Empty CSV cells
leave a field unchanged and ``#N/A`` clears it, as in the real API. ``POST jobs/query`` runs a
SOQL query at once; ``GET jobs/query/{id}/results`` pages the CSV with ``Sforce-Locator``.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from crmsync.testing import FakeRequest, FakeResponse
from crmsync_salesforce.fake_schema import FIELDS_BY_LOWER

if TYPE_CHECKING:
    from crmsync_salesforce.fake import FakeSalesforce

_OPERATIONS = ("insert", "update", "upsert", "delete")


@dataclass
class IngestJob:
    """One ingest job and its outcome."""

    id: str
    operation: str
    object: str
    external_id_field: str | None
    line_ending: str
    created: str
    state: str = "Open"
    data: list[str] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)
    successes: list[list[str]] = field(default_factory=list)
    failures: list[list[str]] = field(default_factory=list)
    unprocessed: list[list[str]] = field(default_factory=list)
    error_message: str | None = None

    def info(self, version: str) -> dict[str, Any]:
        processed = len(self.successes) + len(self.failures)
        return {
            "id": self.id,
            "operation": self.operation,
            "object": self.object,
            "createdById": "0055g00000CrmSyncAAA",
            "createdDate": self.created,
            "systemModstamp": self.created,
            "state": self.state,
            "externalIdFieldName": self.external_id_field,
            "concurrencyMode": "Parallel",
            "contentType": "CSV",
            "apiVersion": float(version[1:]),
            "contentUrl": f"services/data/{version}/jobs/ingest/{self.id}/batches",
            "lineEnding": self.line_ending,
            "columnDelimiter": "COMMA",
            "jobType": "V2Ingest",
            "numberRecordsProcessed": processed,
            "numberRecordsFailed": len(self.failures),
            "retries": 0,
            "errorMessage": self.error_message,
        }


@dataclass
class QueryJob:
    """One query job; the fake runs the query when the job is created."""

    id: str
    operation: str
    created: str
    columns: list[str]
    rows: list[list[str]]
    state: str = "JobComplete"

    def info(self, version: str) -> dict[str, Any]:
        return {
            "id": self.id, "operation": self.operation, "object": "Account",
            "createdById": "0055g00000CrmSyncAAA", "createdDate": self.created,
            "systemModstamp": self.created, "state": self.state, "concurrencyMode": "Parallel",
            "contentType": "CSV", "apiVersion": float(version[1:]), "lineEnding": "LF",
            "columnDelimiter": "COMMA", "jobType": "V2Query", "numberRecordsProcessed": len(self.rows),
            "retries": 0, "totalProcessingTime": 0,
        }


def _csv_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class BulkJobs:
    """The fake org's ingest jobs (called under the fake's lock)."""

    def __init__(self, org: FakeSalesforce) -> None:
        self.org = org
        self.jobs: dict[str, IngestJob] = {}
        self.query_jobs: dict[str, QueryJob] = {}
        self._number = 0

    def summary(self) -> list[dict[str, Any]]:
        return [job.info(self.org.api_version) for job in self.jobs.values()]

    def route(self, request: FakeRequest, version: str, parts: list[str]) -> FakeResponse:
        from crmsync_salesforce.fake import _RequestError, format_datetime, sf_id

        if parts and parts[0] == "query":
            return self._query_route(request, version, parts[1:])
        if not parts or parts[0] != "ingest":
            raise _RequestError(404, "NOT_FOUND", "The requested resource does not exist")
        rest = parts[1:]
        method = request.method
        if not rest:
            if method == "GET":
                return FakeResponse.json({"done": True, "records": self.summary(), "nextRecordsUrl": None})
            if method != "POST":
                raise _RequestError(405, "METHOD_NOT_ALLOWED", f"HTTP Method '{method}' not allowed.")
            body = request.json()
            operation = str(body.get("operation", ""))
            if operation not in _OPERATIONS:
                raise _RequestError(400, "INVALIDJOB", f"InvalidJob : Invalid operation: {operation}")
            if str(body.get("object", "")).lower() != "account":
                raise _RequestError(400, "INVALIDJOB", f"InvalidJob : Invalid object: {body.get('object')}")
            ext = body.get("externalIdFieldName")
            if operation == "upsert":
                fdef = FIELDS_BY_LOWER.get(str(ext or "").lower())
                if fdef is None or not (fdef.external_id or fdef.name == "Id"):
                    raise _RequestError(400, "INVALIDJOB",
                                        f"InvalidJob : Field name provided, {ext} is not an External ID "
                                        "or indexed field for Account")
                ext = fdef.name
            if body.get("contentType", "CSV") != "CSV":
                raise _RequestError(400, "INVALIDJOB", "InvalidJob : contentType must be CSV")
            self._number += 1
            job = IngestJob(sf_id("750", self._number), operation, "Account", ext,
                            str(body.get("lineEnding", "LF")), format_datetime(self.org._next_stamp()))
            self.jobs[job.id] = job
            return FakeResponse.json(job.info(version))
        found = self.jobs.get(rest[0])
        if found is None:
            raise _RequestError(404, "NOT_FOUND", "The requested resource does not exist")
        job = found
        tail = rest[1:]
        if not tail:
            if method == "GET":
                return FakeResponse.json(job.info(version))
            if method == "DELETE":
                del self.jobs[job.id]
                return FakeResponse(204)
            if method == "PATCH":
                state = request.json().get("state")
                if state == "Aborted" and job.state in ("Open", "UploadComplete", "InProgress"):
                    job.state = "Aborted"
                elif state == "UploadComplete" and job.state == "Open":
                    self._process(job)
                else:
                    raise _RequestError(400, "INVALIDJOBSTATE",
                                        f"Invalid state transition from {job.state} to {state}")
                return FakeResponse.json(job.info(version))
        if tail == ["batches"] and method == "PUT":
            if job.state != "Open":
                raise _RequestError(409, "INVALIDJOBSTATE", "Job is not in Open state")
            job.data.append(request.body.decode("utf-8"))
            return FakeResponse(201)
        if tail in (["successfulResults"], ["failedResults"], ["unprocessedrecords"]) and method == "GET":
            name = tail[0]
            prefix = {"successfulResults": ["sf__Id", "sf__Created"],
                      "failedResults": ["sf__Id", "sf__Error"], "unprocessedrecords": []}[name]
            rows = {"successfulResults": job.successes, "failedResults": job.failures,
                    "unprocessedrecords": job.unprocessed}[name]
            out = io.StringIO()
            writer = csv.writer(out, lineterminator="\n")
            writer.writerow(prefix + job.columns)
            writer.writerows(rows)
            return FakeResponse(200, out.getvalue().encode(), {"Content-Type": "text/csv"})
        raise _RequestError(404, "NOT_FOUND", "The requested resource does not exist")

    def _query_route(self, request: FakeRequest, version: str, parts: list[str]) -> FakeResponse:
        from crmsync_salesforce.fake import _RequestError, format_datetime, sf_id
        from crmsync_salesforce.fake_soql import parse

        method = request.method
        if not parts:
            if method != "POST":
                raise _RequestError(405, "METHOD_NOT_ALLOWED", f"HTTP Method '{method}' not allowed.")
            body = request.json()
            operation = str(body.get("operation", "query"))
            if operation not in ("query", "queryAll"):
                raise _RequestError(400, "INVALIDJOB", f"InvalidJob : Invalid operation: {operation}")
            query = parse(str(body.get("query", "")))
            rows = [r for r in self.org._rows.values() if operation == "queryAll" or not r["IsDeleted"]]
            found = query.run(rows)
            self._number += 1
            created = QueryJob(sf_id("750", self._number), operation, format_datetime(self.org._next_stamp()),
                               query.fields, [[_csv_value(self.org._render(dict(r), query.fields)[f])
                                               for f in query.fields] for r in found])
            self.query_jobs[created.id] = created
            return FakeResponse.json(created.info(version))
        found_job = self.query_jobs.get(parts[0])
        if found_job is None:
            raise _RequestError(404, "NOT_FOUND", "The requested resource does not exist")
        job = found_job
        if parts[1:] == [] and method == "GET":
            return FakeResponse.json(job.info(version))
        if parts[1:] == [] and method == "DELETE":
            del self.query_jobs[job.id]
            return FakeResponse(204)
        if parts[1:] == [] and method == "PATCH":
            job.state = "Aborted"
            return FakeResponse.json(job.info(version))
        if parts[1:] == ["results"] and method == "GET":
            start = int(request.query.get("locator") or 0)
            size = int(request.query.get("maxRecords") or 50_000)
            chunk = job.rows[start:start + size]
            out = io.StringIO()
            writer = csv.writer(out, lineterminator="\n", quoting=csv.QUOTE_ALL)
            writer.writerow(job.columns)
            writer.writerows(chunk)
            following = start + size if start + size < len(job.rows) else None
            return FakeResponse(200, out.getvalue().encode(), {
                "Content-Type": "text/csv",
                "Sforce-Locator": str(following) if following is not None else "null",
                "Sforce-NumberOfRecords": str(len(chunk)),
            })
        raise _RequestError(404, "NOT_FOUND", "The requested resource does not exist")

    def _process(self, job: IngestJob) -> None:
        from crmsync_salesforce.fake import _RequestError

        job.state = "InProgress"
        rows: list[list[str]] = []
        for chunk in job.data:
            reader = csv.reader(io.StringIO(chunk.replace("\r\n", "\n")))
            header = next(reader, None)
            if header is None:
                continue
            if job.columns and header != job.columns:
                job.state, job.error_message = "Failed", "InvalidBatch : all uploads must have one header"
                return
            job.columns = header
            rows.extend(reader)
        unknown = [c for c in job.columns if c.lower() not in FIELDS_BY_LOWER]
        if unknown:
            job.state = "Failed"
            job.error_message = f"InvalidBatch : Field name not found : {unknown[0]}"
            return
        stamp = self.org._next_stamp()
        op = {"insert": "create"}.get(job.operation, job.operation)
        for values in rows:
            record: dict[str, Any] = {"attributes": {"type": "Account"}}
            for column, cell in zip(job.columns, values, strict=False):
                if cell == "":
                    continue  # empty cell: leave the field as it is
                record[column] = None if cell == "#N/A" else _typed(column, cell)
            try:
                result = self.org._apply(op, record, job.external_id_field, stamp)
            except _RequestError as exc:
                result = {"success": False, "errors": [{"statusCode": exc.body[0]["errorCode"],
                                                        "message": exc.body[0]["message"], "fields": []}]}
            if result["success"]:
                job.successes.append([result["id"], str(result.get("created", op == "create")).lower(),
                                      *values])
            else:
                error = result["errors"][0]
                text = f"{error['statusCode']}:{error['message']}:{','.join(error['fields'])} --"
                job.failures.append([result.get("id") or "", text, *values])
        job.state = "JobComplete"


def _typed(column: str, cell: str) -> Any:
    fdef = FIELDS_BY_LOWER[column.lower()]
    if fdef.type == "boolean":
        lowered = cell.lower()
        return True if lowered in ("true", "1") else False if lowered in ("false", "0") else cell
    return cell


__all__ = ["BulkJobs", "IngestJob", "QueryJob"]
