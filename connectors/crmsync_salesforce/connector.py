"""The Salesforce connector: incremental reads with queryAll, idempotent writes by external id.

Reads select the mapped fields (plus ``Id``, ``SystemModstamp``, ``IsDeleted``,
``MasterRecordId`` and the hub id field) with ``WHERE SystemModstamp > t OR (SystemModstamp = t
AND Id > id) ORDER BY SystemModstamp, Id`` on ``queryAll``, following ``nextRecordsUrl``; deleted
and merged rows come back as ``RawRecord(deleted=True, merged_into=MasterRecordId)``.
Writes go through sObject Collections (200 a call, ``allOrNone: false``): records without an
external id are upserted on the hub id field (``external_id_field``), so a repeated batch never
creates twice; records with one are updated by ``Id`` and get the hub id set; deletes use
``DELETE /composite/sobjects``. Above ``bulk_threshold`` records a batch goes through Bulk API 2.0.
Every HTTP call runs under :func:`crmsync.retry.call`; a 401 refreshes the token once.
"""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import io
import json
import logging
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import requests

from crmsync import retry
from crmsync.connector import (
    BULK,
    DELETE,
    READ,
    WRITE,
    Connector,
    Cursor,
    EndpointContext,
    FieldInfo,
    OutboundRecord,
    RawRecord,
    WriteResult,
)
from crmsync.errors import (
    AuthError,
    BudgetExceededError,
    ConfigError,
    ErrorKind,
    PermanentError,
    RateLimitedError,
    RetryableError,
)
from crmsync.http import new_session
from crmsync_salesforce.auth import AUTH_MODES, Credentials, Token, fetch_token
from crmsync_salesforce.soql import (
    check_field_name,
    check_object_name,
    cursor_timestamp,
    soql_datetime,
    soql_quote,
)

COLLECTION_SIZE = 200
BULK_BATCH_SIZE = 10_000
"""Records per write batch when Bulk API 2.0 is enabled; below bulk_threshold they still go as Collections."""
SYSTEM_FIELDS = ("Id", "SystemModstamp", "IsDeleted", "MasterRecordId")
# per-record status codes worth another try later; the rest go to dead letters
RETRYABLE_CODES = frozenset({
    "UNABLE_TO_LOCK_ROW", "ALL_OR_NONE_OPERATION_ROLLED_BACK", "REQUEST_RUNNING_TOO_LONG",
    "SERVER_UNAVAILABLE", "TOO_MANY_ENQUEUED_JOBS",
})
_COMPOUND_TYPES = ("address", "location", "base64")
_KNOWN_OPTIONS = frozenset({
    "instance_url", "login_url", "api_version", "auth", "client_id", "client_secret", "username",
    "private_key", "private_key_file", "audience", "access_token", "external_id_field",
    "bulk_threshold", "api_budget_per_run", "api_budget_per_day", "query_batch_size", "verify",
})


log = logging.getLogger(__name__)
T = TypeVar("T")


class _BudgetStop(Exception):
    """Raised inside a retried call so the retry policy does not retry a spent budget."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class SalesforceOptions:
    """The endpoint's ``options:`` after validation (secrets kept out of the repr)."""

    credentials: Credentials
    api_version: str = "v60.0"
    external_id_field: str = "Crmsync_Id__c"
    bulk_threshold: int | None = None
    api_budget_per_run: int | None = None
    api_budget_per_day: int | None = None
    """Stop when the org's 24-hour API usage (Sforce-Limit-Info) reaches this, leaving the rest to others."""
    query_batch_size: int = 2000
    verify: bool | str = field(default=True)

    @classmethod
    def parse(cls, options: Mapping[str, Any]) -> SalesforceOptions:
        """Validate ``options``; raise ConfigError naming the option at fault."""
        unknown = sorted(set(options) - _KNOWN_OPTIONS)
        if unknown:
            raise ConfigError(f"unknown Salesforce option(s) {', '.join(unknown)}; known: "
                              f"{', '.join(sorted(_KNOWN_OPTIONS))}", path="options")
        mode = str(options.get("auth", "client_credentials"))
        if mode not in AUTH_MODES:
            raise ConfigError(f"auth must be one of {', '.join(AUTH_MODES)}, not {mode!r}", path="options.auth")
        instance = _url(options, "instance_url")
        login = _url(options, "login_url")
        version = str(options.get("api_version", "v60.0"))
        if not version.startswith("v"):
            version = "v" + version
        if not re.fullmatch(r"v\d{2,3}\.0", version):
            raise ConfigError(f"api_version must look like v60.0, not {version!r}", path="options.api_version")
        private_key = options.get("private_key")
        key_file = options.get("private_key_file")
        if private_key is None and key_file:
            try:
                private_key = Path(str(key_file)).expanduser().read_text(encoding="ascii")
            except (OSError, UnicodeDecodeError) as exc:
                raise ConfigError(f"cannot read private_key_file: {type(exc).__name__}",
                                  path="options.private_key_file") from None
        required = {"client_credentials": ("client_id", "client_secret"),
                    "jwt": ("client_id", "username"), "token": ("access_token",)}[mode]
        missing = [k for k in required if not options.get(k)]
        if mode == "jwt" and not private_key:
            missing.append("private_key or private_key_file")
        if mode == "token" and not instance:
            missing.append("instance_url")
        if mode != "token" and not (login or instance):
            missing.append("login_url or instance_url")
        if missing:
            raise ConfigError(f"auth: {mode} needs {', '.join(missing)}", path="options")
        for key in ("access_token", "client_id", "client_secret", "username"):
            value = options.get(key)
            if isinstance(value, str) and any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value):
                # never echo the value: it is a secret, and it would break the HTTP headers
                raise ConfigError(f"{key} contains control characters (a line break?); check the secret",
                                  path=f"options.{key}")
        token_host = (login or instance) if mode == "jwt" else (instance or login)
        credentials = Credentials(
            mode=mode,
            token_url=f"{token_host}/services/oauth2/token" if token_host else None,
            instance_url=instance,
            client_id=_opt_str(options, "client_id"),
            client_secret=_opt_str(options, "client_secret"),
            username=_opt_str(options, "username"),
            private_key=str(private_key) if private_key else None,
            audience=str(options.get("audience") or login or "https://login.salesforce.com"),
            access_token=_opt_str(options, "access_token"),
        )
        try:
            external_id_field = check_field_name(str(options.get("external_id_field", "Crmsync_Id__c")))
        except ValueError as exc:
            raise ConfigError(str(exc), path="options.external_id_field") from None
        return cls(
            credentials=credentials,
            api_version=version,
            external_id_field=external_id_field,
            bulk_threshold=_opt_int(options, "bulk_threshold", 1),
            api_budget_per_run=_opt_int(options, "api_budget_per_run", 1),
            api_budget_per_day=_opt_int(options, "api_budget_per_day", 1),
            query_batch_size=_opt_int(options, "query_batch_size", 200, 2000) or 2000,
            verify=options.get("verify", True),
        )


def _opt_str(options: Mapping[str, Any], key: str) -> str | None:
    value = options.get(key)
    return None if value is None or value == "" else str(value)


def _opt_int(options: Mapping[str, Any], key: str, low: int, high: int | None = None) -> int | None:
    value = options.get(key)
    if value is None:
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ConfigError(f"must be a whole number, not {value!r}", path=f"options.{key}") from None
    if number < low or (high is not None and number > high):
        raise ConfigError(f"must be between {low} and {high or 'any'}, not {number}", path=f"options.{key}")
    return number


def _url(options: Mapping[str, Any], key: str) -> str | None:
    value = _opt_str(options, key)
    if value is None:
        return None
    value = value.rstrip("/")
    match = re.match(r"^(https?)://([^/:]+)(:\d+)?$", value)
    if not match:
        raise ConfigError(f"must be a base URL like https://example.my.salesforce.com, not {value!r}",
                          path=f"options.{key}")
    # tokens travel in headers: plain http only to the local machine (fake servers)
    if match.group(1) == "http" and match.group(2) not in ("127.0.0.1", "localhost", "::1"):
        raise ConfigError("must use https (http is only allowed for 127.0.0.1)", path=f"options.{key}")
    return value


class SalesforceConnector(Connector):
    """Salesforce REST (v60.0+): queryAll reads, sObject Collections / Bulk API 2.0 writes."""

    name = "salesforce"
    objects = ("Account", "Contact")
    key_field = "Id"
    cursor_field = "SystemModstamp"
    capabilities = frozenset({READ, WRITE, DELETE, BULK})
    batch_size = COLLECTION_SIZE

    def __init__(self, context: EndpointContext) -> None:
        super().__init__(context)
        try:
            self.sobject = check_object_name(context.object)
        except ValueError as exc:
            raise ConfigError(str(exc), path="object") from None
        self.options = SalesforceOptions.parse(context.options)
        self.hub_id_field = self.options.external_id_field
        if self.options.bulk_threshold:  # hand over big batches, so one Bulk API 2.0 job carries them
            self.batch_size = max(COLLECTION_SIZE, BULK_BATCH_SIZE)
        self.session = new_session(context.retry.timeout, verify=self.options.verify)
        self._token: Token | None = None
        self._warned_usage = False
        self.api_usage: tuple[int, int] | None = None
        """(used, allowed) from the last ``Sforce-Limit-Info`` header."""

    # -- HTTP ------------------------------------------------------------------------------------
    def _url(self, path: str) -> str:
        assert self._token is not None
        if path.startswith("/services/"):
            return self._token.instance_url + path
        return f"{self._token.instance_url}/services/data/{self.options.api_version}/{path}"

    def _send(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        budget = self.options.api_budget_per_run
        if budget is not None and self.context.api_calls >= budget:
            raise _BudgetStop(f"api_budget_per_run of {budget} calls is used up ({self.context.api_calls} calls made)")
        daily = self.options.api_budget_per_day
        if daily is not None and self.api_usage is not None and self.api_usage[0] >= daily:
            raise _BudgetStop(f"api_budget_per_day of {daily} calls is used up (the org has made {self.api_usage[0]} "
                              f"of its {self.api_usage[1]} in the last 24 hours)")
        if self._token is None:
            self.context.api_calls += 1
            self._token = fetch_token(self.options.credentials, self.session, self.context.name)
        headers = {"Authorization": f"Bearer {self._token.access_token}", "Accept": "application/json",
                   **kwargs.pop("headers", {})}
        self.context.api_calls += 1
        response = self.session.request(method, self._url(path), headers=headers, **kwargs)
        usage = re.search(r"api-usage=(\d+)/(\d+)", response.headers.get("Sforce-Limit-Info", ""))
        if usage:
            self.api_usage = (int(usage.group(1)), int(usage.group(2)))
            used, allowed = self.api_usage
            if allowed and used >= 0.9 * allowed and not self._warned_usage:
                self._warned_usage = True
                log.warning("%s: Salesforce daily API usage at %d of %d requests", self.context.name, used, allowed)
        return response

    def _attempt(self, method: str, path: str, operation: str, **kwargs: Any) -> requests.Response:
        """One try of an API call, with one token refresh on 401; raises classified errors."""
        response = self._send(method, path, **dict(kwargs))
        if response.status_code == 401:
            if not self.options.credentials.can_refresh:
                raise AuthError(f"{operation}: access token rejected ({_error_code(response)}); "
                                "auth: token cannot refresh it", endpoint=self.context.name, status=401)
            self._token = None  # refresh once, repeat once
            response = self._send(method, path, **dict(kwargs))
            if response.status_code == 401:
                raise AuthError(f"{operation}: Salesforce rejected a freshly issued token "
                                f"({_error_code(response)})", endpoint=self.context.name, status=401)
        self._raise_for_status(response, operation)
        return response

    def _retrying(self, fn: Callable[[], T], operation: str) -> T:
        try:
            return retry.call(fn, self.context.retry, endpoint=self.context.name, operation=operation,
                              classifier=self.context.classifier)
        except _BudgetStop as stop:
            raise BudgetExceededError(stop.reason, endpoint=self.context.name) from None

    def _call(self, method: str, path: str, operation: str, **kwargs: Any) -> requests.Response:
        """An API call under the endpoint's retry policy."""
        return self._retrying(lambda: self._attempt(method, path, operation, **kwargs), operation)

    def _raise_for_status(self, response: requests.Response, operation: str) -> None:
        status = response.status_code
        if status < 400:
            return
        code, message = _error_of(response)
        text = f"Salesforce {operation}: HTTP {status} {code}: {message}"
        endpoint = self.context.name
        if status >= 500:
            raise RetryableError(text, endpoint=endpoint, status=status, code=code,
                                 retry_after=retry.parse_retry_after(response.headers.get("Retry-After")))
        if code == "REQUEST_LIMIT_EXCEEDED" or status == 429:
            retry_after = retry.parse_retry_after(response.headers.get("Retry-After"))
            raise RateLimitedError(text, endpoint=endpoint, status=status, code=code, retry_after=retry_after)
        if status == 401:
            raise AuthError(text, endpoint=endpoint, status=status, code=code)
        raise PermanentError(text, endpoint=endpoint, status=status, code=code)

    def _json(self, method: str, path: str, operation: str, **kwargs: Any) -> Any:
        """An API call's decoded JSON; a truncated body is retried like a dropped connection."""
        return self._retrying(
            lambda: _decode(self._attempt(method, path, operation, **kwargs), operation, self.context.name),
            operation)

    # -- read ------------------------------------------------------------------------------------
    def query_fields(self) -> list[str]:
        """The fields read_changes selects: mapped fields, system fields and the hub id field."""
        wanted = list(self.context.fields)
        if not wanted:
            wanted = [name for name, info in self.describe().items() if info.type not in _COMPOUND_TYPES]
        names: list[str] = []
        seen: set[str] = set()
        for name in [*SYSTEM_FIELDS, self.options.external_id_field, *wanted]:
            try:
                check_field_name(name)
            except ValueError as exc:
                raise ConfigError(f"{exc} (Salesforce fields are flat names or Relationship.Field)",
                                  path="fields") from None
            if name.lower() not in seen:
                seen.add(name.lower())
                names.append(name)
        return names

    def build_query(self, since: Cursor | None) -> str:
        """The incremental SOQL for changes after ``since`` (tie-break on Id)."""
        # field and object names are checked by name pattern; values below go through soql_*
        soql = f"SELECT {', '.join(self.query_fields())} FROM {self.sobject}"  # noqa: S608
        if since is not None and since.timestamp:
            try:
                moment = soql_datetime(since.timestamp)
            except ValueError as exc:
                raise PermanentError(f"bad cursor: {exc}", endpoint=self.context.name) from None
            if since.id:
                soql += (f" WHERE SystemModstamp > {moment} OR (SystemModstamp = {moment}"
                         f" AND Id > {soql_quote(since.id)})")
            else:
                soql += f" WHERE SystemModstamp >= {moment}"
        return soql + " ORDER BY SystemModstamp, Id"

    def read_changes(self, since: Cursor | None) -> Iterator[RawRecord]:
        """Changed, deleted and merged records after ``since``, in (SystemModstamp, Id) order."""
        headers = {"Sforce-Query-Options": f"batchSize={self.options.query_batch_size}"}
        position = since
        restarts = 0
        body = self._json("GET", "queryAll", "query", params={"q": self.build_query(position)}, headers=headers)
        while True:
            for row in body.get("records", []):
                record = self._raw(row)
                position = record.cursor
                yield record
            next_url = body.get("nextRecordsUrl")
            if body.get("done", True) or not next_url:
                return
            try:
                body = self._json("GET", str(next_url), "query more", headers=headers)
            except PermanentError as exc:
                if exc.code != "INVALID_QUERY_LOCATOR" or restarts >= 3:
                    raise
                # the server dropped the cursor: query again from the last record handed out
                restarts += 1
                body = self._json("GET", "queryAll", "query", params={"q": self.build_query(position)},
                                  headers=headers)

    def _raw(self, row: Mapping[str, Any]) -> RawRecord:
        payload = _strip_attributes(row)
        record_id = str(payload["Id"])
        stamp = cursor_timestamp(str(payload["SystemModstamp"]))
        deleted = bool(payload.get("IsDeleted"))
        master = payload.get("MasterRecordId") if deleted else None
        return RawRecord(external_id=record_id, payload=payload, cursor=Cursor(stamp, record_id),
                         deleted=deleted, merged_into=str(master) if master else None)

    # -- write -----------------------------------------------------------------------------------
    def write_batch(self, records: Sequence[OutboundRecord]) -> list[WriteResult]:
        """Upsert / update / delete ``records``; one result per input, in input order."""
        results: list[WriteResult | None] = [None] * len(records)
        ext_field = self.options.external_id_field
        upserts: list[tuple[int, dict[str, Any]]] = []
        updates: list[tuple[int, dict[str, Any]]] = []
        deletes: list[tuple[int, str]] = []
        seen_hub: dict[str, int] = {}
        seen_id: dict[str, int] = {}
        for index, record in enumerate(records):
            if record.action == "delete":
                if record.external_id:
                    deletes.append((index, record.external_id))
                else:
                    results[index] = WriteResult(ok=True)  # never reached this endpoint: nothing to delete
                continue
            problem = _check_outbound(record, seen_hub, seen_id, index)
            if problem is not None:
                results[index] = problem
                continue
            seen_hub[record.hub_id] = index
            body: dict[str, Any] = {"attributes": {"type": self.sobject}}
            body.update({k: v for k, v in record.payload.items() if k not in ("attributes", "Id")})
            body[ext_field] = record.hub_id
            try:
                _encode(body)
            except (TypeError, ValueError) as exc:
                results[index] = WriteResult(ok=False, error=f"payload cannot be sent as JSON: {exc}",
                                             error_code="INVALID_VALUE", kind=ErrorKind.PERMANENT)
                continue
            if record.external_id:
                seen_id[record.external_id] = index
                body["Id"] = record.external_id
                updates.append((index, body))
            else:
                upserts.append((index, body))
        threshold = self.options.bulk_threshold
        if threshold is not None and len(upserts) + len(updates) > threshold:
            self._write_bulk("update", updates, results)
            self._write_bulk("upsert", upserts, results)
        else:
            for start in range(0, len(updates), COLLECTION_SIZE):
                chunk = updates[start:start + COLLECTION_SIZE]
                answer = self._json("PATCH", "composite/sobjects", "update",
                                    data=_collection_body(chunk), headers=_JSON_HEADERS)
                self._collect(chunk, answer, results, created_default=False)
            for start in range(0, len(upserts), COLLECTION_SIZE):
                chunk = upserts[start:start + COLLECTION_SIZE]
                answer = self._json("PATCH", f"composite/sobjects/{self.sobject}/{ext_field}", "upsert",
                                    data=_collection_body(chunk), headers=_JSON_HEADERS)
                self._collect(chunk, answer, results, created_default=False)
        for start in range(0, len(deletes), COLLECTION_SIZE):
            id_chunk = deletes[start:start + COLLECTION_SIZE]
            answer = self._json("DELETE", "composite/sobjects", "delete",
                                params={"ids": ",".join(i for _, i in id_chunk), "allOrNone": "false"})
            self._collect(id_chunk, answer, results, created_default=False, deleting=True)
        return [r if r is not None else WriteResult(ok=False, error="no answer for this record",
                                                    error_code="NO_RESULT", kind=ErrorKind.RETRYABLE)
                for r in results]

    def _collect(self, chunk: Sequence[tuple[int, Any]], answer: Any, results: list[WriteResult | None],
                 created_default: bool, deleting: bool = False) -> None:
        if not isinstance(answer, list) or len(answer) != len(chunk):
            raise RetryableError(f"Salesforce answered {len(answer) if isinstance(answer, list) else 'no'} "
                                 f"results for {len(chunk)} records", endpoint=self.context.name)
        for (index, _), item in zip(chunk, answer, strict=True):
            results[index] = _result(item, created_default, deleting)

    def _write_bulk(self, operation: str, items: list[tuple[int, dict[str, Any]]],
                    results: list[WriteResult | None]) -> None:
        """Write ``items`` with one Bulk API 2.0 ingest job and map its CSV results back."""
        if not items:
            return
        columns: list[str] = []
        for _, body in items:
            for key in body:
                if key != "attributes" and key not in columns:
                    columns.append(key)
        key_column = "Id" if operation == "update" else self.options.external_id_field
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(columns)
        for _, body in items:
            # Bulk API: an empty cell leaves a field alone, #N/A clears it
            writer.writerow(["#N/A" if body.get(c, "") is None else _csv_cell(body.get(c, "")) for c in columns])
        spec: dict[str, Any] = {"object": self.sobject, "operation": operation, "contentType": "CSV",
                                "lineEnding": "LF", "columnDelimiter": "COMMA"}
        if operation == "upsert":
            spec["externalIdFieldName"] = self.options.external_id_field
        job = self._json("POST", "jobs/ingest", "bulk create job", json=spec)
        job_id = str(job["id"])
        self._call("PUT", f"jobs/ingest/{job_id}/batches", "bulk upload", data=out.getvalue().encode(),
                   headers={"Content-Type": "text/csv"})
        self._json("PATCH", f"jobs/ingest/{job_id}", "bulk close job", json={"state": "UploadComplete"})

        def poll() -> Any:
            info = _decode(self._attempt("GET", f"jobs/ingest/{job_id}", "bulk poll"), "bulk poll",
                           self.context.name)
            if info.get("state") in ("Open", "UploadComplete", "InProgress"):
                # not finished: let the retry policy wait with its backoff, then ask again
                raise RetryableError(f"bulk job {job_id} is {info.get('state')}", endpoint=self.context.name)
            return info

        info = self._retrying(poll, "bulk poll")
        if info.get("state") != "JobComplete":
            raise PermanentError(f"bulk job {job_id} ended {info.get('state')}: {info.get('errorMessage')}",
                                 endpoint=self.context.name)
        by_key = {str(body[key_column]): index for index, body in items}
        for name in ("successfulResults", "failedResults"):
            text = self._call("GET", f"jobs/ingest/{job_id}/{name}", "bulk results").text
            for row in csv.DictReader(io.StringIO(text)):
                index_found = by_key.get(row.get(key_column, ""))
                if index_found is None:
                    continue
                if name == "successfulResults":
                    results[index_found] = WriteResult(ok=True, external_id=row["sf__Id"],
                                                       created=row.get("sf__Created") == "true")
                else:
                    code, _, message = row.get("sf__Error", "").partition(":")
                    message = message.rsplit(":", 1)[0] if message.endswith("--") else message
                    results[index_found] = WriteResult(
                        ok=False, external_id=row.get("sf__Id") or None, error=message or code,
                        error_code=code, kind=ErrorKind.RETRYABLE if code in RETRYABLE_CODES
                        else ErrorKind.PERMANENT)

    # -- metadata ----------------------------------------------------------------------------------
    def describe(self) -> dict[str, FieldInfo]:
        """Field metadata from ``GET /sobjects/{object}/describe``."""
        body = self._json("GET", f"sobjects/{self.sobject}/describe", "describe")
        fields: dict[str, FieldInfo] = {}
        for item in body.get("fields", []):
            fields[item["name"]] = FieldInfo(
                name=item["name"],
                type=item.get("type", "string"),
                length=item.get("length") or None,
                nillable=bool(item.get("nillable", True)),
                createable=bool(item.get("createable", True)),
                updateable=bool(item.get("updateable", True)),
                external_id=bool(item.get("externalId", False)),
                picklist=tuple(p["value"] for p in item.get("picklistValues", []) if p.get("active", True)),
            )
        return fields

    def close(self) -> None:
        self.session.close()


def _check_outbound(record: OutboundRecord, seen_hub: Mapping[str, int], seen_id: Mapping[str, int],
                    index: int) -> WriteResult | None:
    if record.action != "upsert":
        return WriteResult(ok=False, error=f"unknown action {record.action!r}", error_code="BAD_ACTION",
                           kind=ErrorKind.PERMANENT)
    if not record.hub_id or not record.hub_id.strip():
        return WriteResult(ok=False, error="empty hub id", error_code="MISSING_HUB_ID", kind=ErrorKind.PERMANENT)
    if record.hub_id in seen_hub:
        return WriteResult(ok=False, error=f"hub id {record.hub_id!r} appears twice in one batch "
                           f"(records {seen_hub[record.hub_id]} and {index}); not sent",
                           error_code="DUPLICATE_HUB_ID", kind=ErrorKind.PERMANENT)
    if record.external_id and record.external_id in seen_id:
        return WriteResult(ok=False, error=f"Salesforce id {record.external_id} appears twice in one batch "
                           f"(records {seen_id[record.external_id]} and {index}); not sent",
                           error_code="DUPLICATE_ID", kind=ErrorKind.PERMANENT)
    return None


def _result(item: Mapping[str, Any], created_default: bool, deleting: bool) -> WriteResult:
    if item.get("success"):
        return WriteResult(ok=True, external_id=item.get("id"), created=bool(item.get("created", created_default)))
    errors = item.get("errors") or [{"statusCode": "UNKNOWN", "message": "rejected without a reason"}]
    code = str(errors[0].get("statusCode", "UNKNOWN"))
    if deleting and code == "ENTITY_IS_DELETED":
        return WriteResult(ok=True, external_id=item.get("id"))  # a repeated delete: already done
    message = "; ".join(
        str(e.get("message", "")) + (f" (fields: {', '.join(e['fields'])})" if e.get("fields") else "")
        for e in errors)
    kind = ErrorKind.RETRYABLE if code in RETRYABLE_CODES else ErrorKind.PERMANENT
    return WriteResult(ok=False, external_id=item.get("id"), error=message, error_code=code, kind=kind)


_JSON_HEADERS = {"Content-Type": "application/json"}


def _json_default(value: Any) -> Any:
    # mapping dumps may hand over Decimal money and datetimes; Salesforce wants JSON numbers / ISO text
    if isinstance(value, decimal.Decimal):
        if not value.is_finite():
            raise ValueError(f"{value} is not a number Salesforce accepts")
        return float(value)
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _encode(body: Any) -> bytes:
    """JSON bytes for a request body; NaN / Infinity are refused (not JSON, and not money)."""
    return json.dumps(body, default=_json_default, allow_nan=False, ensure_ascii=False).encode("utf-8")


def _collection_body(chunk: Sequence[tuple[int, dict[str, Any]]]) -> bytes:
    return _encode({"allOrNone": False, "records": [body for _, body in chunk]})


def _strip_attributes(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_attributes(v) for k, v in value.items() if k != "attributes"}
    if isinstance(value, list):
        return [_strip_attributes(v) for v in value]
    return value


def _csv_cell(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return str(value)


def _error_of(response: requests.Response) -> tuple[str, str]:
    try:
        body = response.json()
    except ValueError:
        return "HTTP_ERROR", (response.text or response.reason or "")[:300]
    if isinstance(body, list) and body and isinstance(body[0], dict):
        return str(body[0].get("errorCode", "UNKNOWN")), str(body[0].get("message", ""))
    if isinstance(body, dict):
        return str(body.get("errorCode") or body.get("error") or "UNKNOWN"), \
            str(body.get("message") or body.get("error_description") or "")
    return "UNKNOWN", str(body)[:300]


def _error_code(response: requests.Response) -> str:
    return _error_of(response)[0]


def _decode(response: requests.Response, operation: str, endpoint: str) -> Any:
    if response.status_code == 204 or not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        raise RetryableError(f"Salesforce {operation}: unreadable JSON answer (truncated?)",
                             endpoint=endpoint, status=response.status_code) from None


__all__ = ["SalesforceConnector", "SalesforceOptions"]
