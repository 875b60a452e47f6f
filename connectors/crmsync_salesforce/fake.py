"""A faithful fake Salesforce org on loopback HTTP: OAuth, REST query, sObject and Collections writes.

:class:`FakeSalesforce` holds Account rows in memory and answers the REST API the way
/work/shared/reference/protocols.md describes Salesforce: OAuth token grants (client
credentials, JWT bearer), ``query`` / ``queryAll`` with a SOQL subset and real
``nextRecordsUrl`` paging, describe, single-record upsert by external id, sObject Collections
create / update / upsert / delete with ``allOrNone``, getUpdated / getDeleted, Bulk API 2.0
ingest jobs, ``Sforce-Limit-Info`` on every response with a daily quota, and
``401 INVALID_SESSION_ID`` for unknown or expired tokens. ``SystemModstamp`` is set on every
write from a strictly increasing millisecond clock; all rows of one request share a stamp.

Tests use the in-process accessors: :attr:`FakeSalesforce.records`, :meth:`~FakeSalesforce.get`,
:meth:`~FakeSalesforce.find`, :meth:`~FakeSalesforce.add`, :meth:`~FakeSalesforce.touch`,
:meth:`~FakeSalesforce.merge`, :meth:`~FakeSalesforce.delete`, :meth:`~FakeSalesforce.expire_tokens`.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import math
import random
import re
import secrets
import time
import urllib.parse
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from crmsync.testing import FakeRequest, FakeResponse, FakeServer
from crmsync_salesforce.fake_schema import ACCOUNT_FIELDS, FIELDS_BY_LOWER, LIFECYCLE_STAGES, FieldDef
from crmsync_salesforce.fake_soql import SoqlError, parse, parse_literal_datetime, to_millis

DEFAULT_DAILY_QUOTA = 100_000
DEFAULT_CLIENT_ID = "3MVG9crmsync.fake.consumer.key"
COLLECTION_LIMIT = 200
_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_ID_SUFFIX = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_ID_RE = re.compile(r"^[a-zA-Z0-9]{15}(?:[a-zA-Z0-9]{3})?$")
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
_LOGIN_AUDIENCES = ("https://login.salesforce.com", "https://test.salesforce.com")
_ROLLED_BACK = {
    "statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK",
    "message": "Record rolled back because not all records were valid and the request was using "
               "AllOrNone header",
    "fields": [],
}
Row = dict[str, Any]
Error = dict[str, Any]


def sf_id(prefix: str, number: int) -> str:
    """An 18-character Salesforce id: ``prefix`` + pod + base62 ``number`` + case-safe checksum."""
    body = prefix + "5g"
    digits = ""
    while number:
        number, rest = divmod(number, 62)
        digits = _BASE62[rest] + digits
    base = body + digits.rjust(15 - len(body), "0")
    suffix = ""
    for chunk in range(3):
        bits = 0
        for i, char in enumerate(base[chunk * 5: chunk * 5 + 5]):
            if "A" <= char <= "Z":
                bits |= 1 << i
        suffix += _ID_SUFFIX[bits]
    return base + suffix


def format_datetime(millis: int) -> str:
    """Epoch milliseconds as Salesforce renders datetimes: ``2026-11-23T10:00:00.000+0000``."""
    moment = dt.datetime.fromtimestamp(millis / 1000, dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{millis % 1000:03d}+0000"


class _RequestError(Exception):
    """A whole request refused: HTTP ``status`` with Salesforce's error array."""

    def __init__(self, status: int, code: str, message: str, fields: list[str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.body: list[dict[str, Any]] = [{"message": message, "errorCode": code}]
        if fields is not None:
            self.body[0]["fields"] = fields


def _error(code: str, message: str, fields: Iterable[str] = ()) -> Error:
    return {"statusCode": code, "message": message, "fields": list(fields)}


class FakeSalesforce(FakeServer):
    """An in-memory Salesforce org serving Account over the REST API on 127.0.0.1."""

    name = "salesforce"

    def __init__(
        self,
        port: int = 0,
        records: int = 0,
        seed: int = 0,
        data: str | Path | list[dict[str, Any]] | None = None,
        api_version: str = "v60.0",
        daily_quota: int = DEFAULT_DAILY_QUOTA,
        *,
        client_id: str = DEFAULT_CLIENT_ID,
        client_secret: str | None = None,
        username: str = "integration@crmsync.example",
        jwt_public_key: str | bytes | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(port)
        if not re.fullmatch(r"v\d+\.0", api_version):
            raise ValueError(f"api_version must look like 'v60.0', not {api_version!r}")
        self.api_version = api_version
        self.daily_quota = daily_quota
        self.api_usage = 0
        self.client_id = client_id
        self.client_secret = client_secret or f"fake-secret-{seed}-{secrets.token_hex(8)}"
        self.username = username
        self.jwt_public_key = jwt_public_key
        self.clock = clock
        self._rows: dict[str, Row] = {}
        self._index: dict[str, dict[str, set[str]]] = {
            f.name: {} for f in ACCOUNT_FIELDS.values() if f.external_id
        }
        self._next_number = 1
        self._last_stamp = 0
        self._tokens: set[str] = set()
        self._cursors: dict[str, tuple[list[dict[str, Any]], int]] = {}
        self._cursor_number = 0
        self.token_requests = 0
        from crmsync_salesforce.fake_bulk import BulkJobs  # the bulk module imports this one

        self.bulk = BulkJobs(self)
        self.access_token = self._issue_token()
        if data is not None:
            self.load(data)
        if records:
            self._generate(records, seed)

    # -- in-process API used by tests ------------------------------------------------------------
    def info(self) -> dict[str, Any]:
        return {
            "url": self.base_url,
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "access_token": self.access_token,
            "username": self.username,
            "api_version": self.api_version,
        }

    def dump_state(self) -> Any:
        return {
            "records": self.records,
            "api_usage": self.api_usage,
            "daily_quota": self.daily_quota,
            "bulk_jobs": self.bulk.summary(),
        }

    @property
    def records(self) -> list[dict[str, Any]]:
        """Every row (deleted ones too) as the API renders it, in creation order."""
        with self.lock:
            return [self._render(row) for row in self._rows.values()]

    def get(self, record_id: str) -> dict[str, Any] | None:
        """One row as rendered by the API, or ``None``."""
        with self.lock:
            row = self._rows.get(record_id)
            return None if row is None else self._render(row)

    def find(self, include_deleted: bool = False, **criteria: Any) -> list[dict[str, Any]]:
        """Rendered rows whose fields equal ``criteria`` (e.g. ``find(Crmsync_Id__c="h1")``)."""
        with self.lock:
            return [
                self._render(row) for row in self._rows.values()
                if (include_deleted or not row["IsDeleted"])
                and all(row.get(k) == v for k, v in criteria.items())
            ]

    def add(self, **fields: Any) -> str:
        """Create an Account as a user would (validated); return its id."""
        with self.lock:
            stamp = self._next_stamp()
            clean, errors = self._validate_in_process(fields, creating=True)
            if errors:
                raise ValueError("; ".join(e["message"] for e in errors))
            return self._create(clean, stamp)

    def touch(self, record_id: str, **changes: Any) -> dict[str, Any]:
        """Simulate a user's edit of ``record_id`` (bumps SystemModstamp); return the rendered row."""
        with self.lock:
            row = self._live(record_id)
            stamp = self._next_stamp()
            clean, errors = self._validate_in_process(changes, creating=False, own_id=record_id)
            if errors:
                raise ValueError("; ".join(e["message"] for e in errors))
            self._update(row, clean, stamp)
            return self._render(row)

    def delete(self, record_id: str) -> None:
        """Delete ``record_id`` as a user would (to the recycle bin: IsDeleted, queryAll only)."""
        with self.lock:
            row = self._live(record_id)
            self._soft_delete(row, self._next_stamp())

    def merge(self, master_id: str, loser_id: str) -> None:
        """Merge ``loser_id`` into ``master_id``: the loser is deleted with MasterRecordId set."""
        with self.lock:
            master = self._live(master_id)
            loser = self._live(loser_id)
            stamp = self._next_stamp()
            self._soft_delete(loser, stamp)
            loser["MasterRecordId"] = master_id
            self._update(master, {}, stamp)

    def expire_tokens(self) -> None:
        """Invalidate every issued access token: the next API call answers 401 INVALID_SESSION_ID."""
        with self.lock:
            self._tokens.clear()

    def issue_token(self) -> str:
        """A fresh valid access token (as a client would get from the token endpoint)."""
        with self.lock:
            return self._issue_token()

    def load(self, data: str | Path | list[dict[str, Any]]) -> None:
        """Add rows from a JSON file (a list, or ``{"records": [...]}``) or a list of dicts.

        Rows keep given ``Id`` and datetimes (Salesforce or ISO format); others are generated.
        """
        with self.lock:
            if isinstance(data, str | Path):
                loaded = json.loads(Path(data).read_text(encoding="utf-8"))
                rows = loaded["records"] if isinstance(loaded, dict) else loaded
            else:
                rows = data
            stamp = self._next_stamp()
            for given in rows:
                values = {k: v for k, v in given.items() if k != "attributes"}
                system = {k: values.pop(k) for k in list(values) if k in _SYSTEM_FIELDS}
                clean, errors = self._validate(values, creating=True)
                if errors:
                    raise ValueError(f"bad row {given!r}: " + "; ".join(e["message"] for e in errors))
                record_id = self._create(clean, stamp, record_id=system.get("Id"))
                row = self._rows[record_id]
                for key in ("CreatedDate", "LastModifiedDate", "SystemModstamp"):
                    if system.get(key):
                        row[key] = parse_literal_datetime(str(system[key]).replace("+0000", "Z"))
                if system.get("IsDeleted"):
                    self._soft_delete(row, row["SystemModstamp"], keep_stamp=True)
                    row["MasterRecordId"] = system.get("MasterRecordId")
                self._last_stamp = max(self._last_stamp, row["SystemModstamp"])

    # -- HTTP dispatch ---------------------------------------------------------------------------
    def handle(self, request: FakeRequest) -> FakeResponse:
        path = request.path
        if path.rstrip("/") == "/services/oauth2/token" and request.method == "POST":
            return self._token(request)
        if path.rstrip("/") == "/services/data":
            return FakeResponse.json(self._versions())
        match = re.match(r"^/services/data/(v\d+\.\d)(?:/(.*))?$", path)
        if not match or match.group(1) not in {v["url"].rsplit("/", 1)[1] for v in self._versions()}:
            return self._with_limits(FakeResponse.json(
                [{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}], 404))
        version, rest = match.group(1), (match.group(2) or "").strip("/")
        token = (request.header("authorization") or "").removeprefix("Bearer ").removeprefix("OAuth ")
        if token not in self._tokens:
            return self._with_limits(FakeResponse.json(
                [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}], 401,
                {"WWW-Authenticate": 'Token realm="Salesforce", error="invalid_token"'}))
        if self.api_usage >= self.daily_quota:
            return self._with_limits(FakeResponse.json(
                [{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}],
                403))
        self.api_usage += 1
        try:
            response = self._route(request, version, rest)
        except _RequestError as exc:
            response = FakeResponse.json(exc.body, exc.status)
        except SoqlError as exc:
            response = FakeResponse.json([{"message": exc.message, "errorCode": exc.code}], 400)
        return self._with_limits(response)

    def _with_limits(self, response: FakeResponse) -> FakeResponse:
        response.headers["Sforce-Limit-Info"] = f"api-usage={self.api_usage}/{self.daily_quota}"
        return response

    def _route(self, request: FakeRequest, version: str, rest: str) -> FakeResponse:
        parts = rest.split("/") if rest else []
        method = request.method
        if not parts:
            return FakeResponse.json({
                name: f"/services/data/{version}/{name}"
                for name in ("sobjects", "query", "queryAll", "composite", "limits", "jobs")
            })
        head = parts[0]
        if head == "limits" and method == "GET":
            return FakeResponse.json({"DailyApiRequests": {
                "Max": self.daily_quota, "Remaining": max(0, self.daily_quota - self.api_usage)}})
        if head in ("query", "queryAll") and method == "GET":
            if len(parts) == 1:
                return self._query(request, version, include_deleted=head == "queryAll")
            return self._query_more(version, head, "/".join(parts[1:]))
        if head == "sobjects":
            return self._sobjects(request, version, parts[1:])
        if head == "composite" and len(parts) >= 2 and parts[1] == "sobjects":
            return self._collections(request, parts[2:])
        if head == "jobs":
            return self.bulk.route(request, version, parts[1:])
        raise _RequestError(404, "NOT_FOUND", "The requested resource does not exist")

    # -- OAuth -------------------------------------------------------------------------------------
    def _versions(self) -> list[dict[str, str]]:
        top = int(self.api_version[1:].split(".")[0])
        return [{"label": f"API {n}.0", "url": f"/services/data/v{n}.0", "version": f"{n}.0"}
                for n in range(max(20, top - 5), top + 1)]

    def _issue_token(self) -> str:
        token = "00D5g000004CrmS!" + secrets.token_urlsafe(48)
        self._tokens.add(token)
        return token

    def _token(self, request: FakeRequest) -> FakeResponse:
        self.token_requests += 1
        form = dict(urllib.parse.parse_qsl(request.body.decode("utf-8", "replace")))
        grant = form.get("grant_type")
        if grant == "client_credentials":
            if form.get("client_id") != self.client_id or form.get("client_secret") != self.client_secret:
                return FakeResponse.json(
                    {"error": "invalid_client", "error_description": "invalid client credentials"}, 400)
        elif grant == _JWT_GRANT:
            problem = self._check_assertion(form.get("assertion", ""))
            if problem:
                return FakeResponse.json({"error": "invalid_grant", "error_description": problem}, 400)
        else:
            return FakeResponse.json(
                {"error": "unsupported_grant_type", "error_description": "grant type not supported"}, 400)
        token = self._issue_token()
        issued = str(int(self.clock() * 1000))
        signature = base64.b64encode(
            hashlib.sha256(f"{self.base_url}{issued}{token}".encode()).digest()).decode()
        return FakeResponse.json({
            "access_token": token,
            "instance_url": self.base_url,
            "id": f"{self.base_url}/id/00D5g000004CrmSEAS/0055g00000CrmSyncAAA",
            "token_type": "Bearer",
            "issued_at": issued,
            "signature": signature,
            "scope": "api",
        })

    def _check_assertion(self, assertion: str) -> str | None:
        import jwt  # PyJWT, only needed for this grant

        if self.jwt_public_key is None:
            return "no certificate registered for this connected app"
        try:
            claims = jwt.decode(
                assertion, self.jwt_public_key, algorithms=["RS256"],
                audience=[*_LOGIN_AUDIENCES, self.base_url], options={"require": ["exp", "iss", "sub", "aud"]},
            )
        except jwt.ExpiredSignatureError:
            return "expired authorization code"
        except jwt.InvalidTokenError:
            return "invalid assertion"
        if claims.get("iss") != self.client_id:
            return "invalid client credentials"
        if claims.get("sub") != self.username:
            return "user hasn't approved this consumer"
        return None

    # -- query -------------------------------------------------------------------------------------
    def _query(self, request: FakeRequest, version: str, include_deleted: bool) -> FakeResponse:
        text = request.query.get("q")
        if not text:
            raise _RequestError(400, "MALFORMED_QUERY", "A query string has to be specified")
        query = parse(text)
        rows = [r for r in self._rows.values() if include_deleted or not r["IsDeleted"]]
        found = query.run(rows)
        if query.count:
            return FakeResponse.json({"totalSize": len(found), "done": True, "records": []})
        rendered = [self._render(dict(row), query.fields, version) for row in found]
        batch = 2000
        options = request.header("sforce-query-options") or ""
        size = re.search(r"batchSize\s*=\s*(\d+)", options)
        if size:
            batch = min(2000, max(200, int(size.group(1))))
        return self._page(version, "queryAll" if include_deleted else "query", rendered, 0, batch)

    def _page(self, version: str, endpoint: str, rows: list[dict[str, Any]], start: int,
              batch: int, locator: str | None = None) -> FakeResponse:
        end = start + batch
        body: dict[str, Any] = {"totalSize": len(rows), "done": end >= len(rows),
                                "records": rows[start:end]}
        if end < len(rows):
            if locator is None:
                self._cursor_number += 1
                locator = "01g" + sf_id("5g", self._cursor_number)[3:15]
                self._cursors[locator] = (rows, batch)
                while len(self._cursors) > 50:  # Salesforce keeps a bounded number of open cursors
                    del self._cursors[next(iter(self._cursors))]
            body["nextRecordsUrl"] = f"/services/data/{version}/{endpoint}/{locator}-{end}"
        return FakeResponse.json(body)

    def _query_more(self, version: str, endpoint: str, locator: str) -> FakeResponse:
        base, _, offset = locator.rpartition("-")
        # a locator stays valid until evicted, so a client may repeat a lost page request
        found = self._cursors.get(base)
        if found is None or not offset.isdigit():
            raise _RequestError(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        rows, batch = found
        return self._page(version, endpoint, rows, int(offset), batch, base)

    # -- sobjects ------------------------------------------------------------------------------------
    def _sobjects(self, request: FakeRequest, version: str, parts: list[str]) -> FakeResponse:
        method = request.method
        if not parts:
            return FakeResponse.json({"encoding": "UTF-8", "maxBatchSize": 200, "sobjects": [
                self._object_info(version)]})
        if parts[0] != "Account":
            raise _RequestError(404, "NOT_FOUND", "The requested resource does not exist")
        rest = parts[1:]
        if not rest:
            if method == "POST":
                return self._create_one(request)
            return FakeResponse.json({"objectDescribe": self._object_info(version), "recentItems": []})
        if rest == ["describe"]:
            info = self._object_info(version)
            info["fields"] = [f.describe() for f in ACCOUNT_FIELDS.values()]
            return FakeResponse.json(info)
        if rest[0] in ("deleted", "updated") and method == "GET":
            return self._replication(request, rest[0])
        if len(rest) == 1:
            return self._by_id(request, version, rest[0])
        return self._by_external_id(request, version, rest[0], "/".join(rest[1:]))

    def _object_info(self, version: str) -> dict[str, Any]:
        base = f"/services/data/{version}/sobjects/Account"
        return {"name": "Account", "label": "Account", "keyPrefix": "001", "createable": True,
                "updateable": True, "deletable": True, "queryable": True, "custom": False,
                "urls": {"sobject": base, "describe": f"{base}/describe", "rowTemplate": f"{base}/{{ID}}"}}

    def _create_one(self, request: FakeRequest) -> FakeResponse:
        values = self._json(request)
        if not isinstance(values, dict):
            raise _RequestError(400, "JSON_PARSER_ERROR", "Expected a JSON object")
        stamp = self._next_stamp()
        clean, errors = self._validate(_strip(values), creating=True)
        errors = errors or self._unique_errors(clean, None)
        if errors:
            return FakeResponse.json([_as_request_error(e) for e in errors], 400)
        record_id = self._create(clean, stamp)
        return FakeResponse.json({"id": record_id, "success": True, "errors": []}, 201)

    def _by_id(self, request: FakeRequest, version: str, record_id: str) -> FakeResponse:
        row = self._rows.get(record_id)
        if not _ID_RE.match(record_id) or (row is None and not record_id.startswith("001")):
            raise _RequestError(404, "NOT_FOUND", "Provided external ID field does not exist or is "
                                                  f"not accessible: {record_id}")
        if row is None:
            raise _RequestError(404, "NOT_FOUND", "The requested resource does not exist")
        if row["IsDeleted"]:
            raise _RequestError(404, "ENTITY_IS_DELETED", "entity is deleted")
        if request.method == "GET":
            wanted = request.query.get("fields")
            names = [self._field(n).name for n in wanted.split(",")] if wanted else None
            return FakeResponse.json(self._render(row, names, version))
        if request.method == "PATCH":
            values = self._json(request)
            stamp = self._next_stamp()
            clean, errors = self._validate(_strip(values), creating=False)
            errors = errors or self._unique_errors(clean, record_id)
            if errors:
                return FakeResponse.json([_as_request_error(e) for e in errors], 400)
            self._update(row, clean, stamp)
            return FakeResponse(204)
        if request.method == "DELETE":
            self._soft_delete(row, self._next_stamp())
            return FakeResponse(204)
        raise _RequestError(405, "METHOD_NOT_ALLOWED", f"HTTP Method '{request.method}' not allowed. "
                                                       "Allowed are GET,PATCH,DELETE")

    def _by_external_id(self, request: FakeRequest, version: str, field_name: str,
                        value: str) -> FakeResponse:
        fdef = FIELDS_BY_LOWER.get(field_name.lower())
        if fdef is None or not (fdef.external_id or fdef.name == "Id"):
            raise _RequestError(404, "NOT_FOUND", "Provided external ID field does not exist or is "
                                                  f"not accessible: {field_name}")
        ids = self._lookup(fdef.name, value)
        if len(ids) > 1:
            return FakeResponse.json(
                [f"/services/data/{version}/sobjects/Account/{i}" for i in sorted(ids)], 300)
        if request.method == "GET":
            if not ids:
                raise _RequestError(404, "NOT_FOUND", "The requested resource does not exist")
            return FakeResponse.json(self._render(self._rows[ids[0]], None, version))
        if request.method != "PATCH":
            raise _RequestError(405, "METHOD_NOT_ALLOWED", f"HTTP Method '{request.method}' not allowed. "
                                                           "Allowed are GET,PATCH")
        values = _strip(self._json(request))
        given = next((v for k, v in values.items() if k.lower() == fdef.name.lower()), value)
        if given != value:
            raise _RequestError(400, "INVALID_FIELD", f"The value of the field '{fdef.name}' in the "
                                                      "URL and the request body don't match")
        values = {k: v for k, v in values.items() if k.lower() != fdef.name.lower()}
        stamp = self._next_stamp()
        result = self._upsert_one(values, fdef.name, value, stamp)
        if not result["success"]:
            return FakeResponse.json([_as_request_error(e) for e in result["errors"]], 400)
        return FakeResponse.json(result, 201 if result["created"] else 200)

    def _replication(self, request: FakeRequest, kind: str) -> FakeResponse:
        try:
            start = parse_literal_datetime(request.query["start"].replace(" ", "+"))
            end = parse_literal_datetime(request.query["end"].replace(" ", "+"))
        except (KeyError, ValueError):
            raise _RequestError(400, "INVALID_REPLICATION_DATE",
                                "start and end must be ISO 8601 datetimes with a time zone") from None
        now = int(self.clock() * 1000)
        days = 15 if kind == "deleted" else 30
        earliest = now - days * 86_400_000
        if start < earliest - 60_000:
            raise _RequestError(400, "INVALID_REPLICATION_DATE",
                                f"startDate cannot be more than {days} days ago")
        if end < start:
            raise _RequestError(400, "INVALID_REPLICATION_DATE", "EndDate before StartDate")
        covered = min(end, now) // 60_000 * 60_000
        if kind == "deleted":
            deleted = [r for r in self._rows.values()
                       if r["IsDeleted"] and start <= r["_deleted_at"] < covered]
            return FakeResponse.json({
                "deletedRecords": [{"id": r["Id"], "deletedDate": format_datetime(r["_deleted_at"])}
                                   for r in deleted],
                "earliestDateAvailable": format_datetime(earliest),
                "latestDateCovered": format_datetime(covered),
            })
        changed = [r["Id"] for r in self._rows.values()
                   if not r["IsDeleted"] and start <= r["SystemModstamp"] < covered]
        return FakeResponse.json({"ids": changed, "latestDateCovered": format_datetime(covered)})

    # -- sObject Collections ----------------------------------------------------------------------
    def _collections(self, request: FakeRequest, parts: list[str]) -> FakeResponse:
        method = request.method
        if method == "DELETE" and not parts:
            ids = [i for i in request.query.get("ids", "").split(",") if i]
            if not ids:
                raise _RequestError(400, "MISSING_ARGUMENT", "ids parameter is required")
            if len(ids) > COLLECTION_LIMIT:
                raise _RequestError(400, "EXCEEDED_ID_LIMIT", "record limit reached. cannot submit "
                                    f"more than {COLLECTION_LIMIT} records into this call")
            all_or_none = request.query.get("allOrNone", "false").lower() == "true"
            return self._run_batch([("delete", {"Id": i}) for i in ids], all_or_none, None)
        body = self._json(request)
        if not isinstance(body, dict) or not isinstance(body.get("records"), list):
            raise _RequestError(400, "JSON_PARSER_ERROR", "The request body must have a 'records' array")
        records = body["records"]
        if len(records) > COLLECTION_LIMIT:
            raise _RequestError(400, "EXCEEDED_ID_LIMIT", "record limit reached. cannot submit more "
                                f"than {COLLECTION_LIMIT} records into this call")
        all_or_none = bool(body.get("allOrNone", False))
        if method == "POST" and not parts:
            return self._run_batch([("create", r) for r in records], all_or_none, None)
        if method == "PATCH" and not parts:
            return self._run_batch([("update", r) for r in records], all_or_none, None)
        if method == "PATCH" and len(parts) == 2:
            if parts[0] != "Account":
                raise _RequestError(400, "INVALID_TYPE", f"sObject type '{parts[0]}' is not supported.")
            fdef = FIELDS_BY_LOWER.get(parts[1].lower())
            if fdef is None or not (fdef.external_id or fdef.name == "Id"):
                raise _RequestError(400, "INVALID_FIELD", f"Field name provided, {parts[1]} is not an "
                                    "External ID or indexed field for Account")
            return self._run_batch([("upsert", r) for r in records], all_or_none, fdef.name)
        raise _RequestError(405, "METHOD_NOT_ALLOWED", f"HTTP Method '{method}' not allowed.")

    def _run_batch(self, operations: list[tuple[str, Any]], all_or_none: bool,
                   ext_field: str | None) -> FakeResponse:
        for _op, record in operations:
            if not isinstance(record, dict):
                raise _RequestError(400, "JSON_PARSER_ERROR", "Each record must be a JSON object")
            for key in record:
                if key != "attributes" and key.lower() not in FIELDS_BY_LOWER:
                    raise _RequestError(400, "INVALID_FIELD", f"No such column '{key}' on sobject of "
                                        "type Account")
        stamp = self._next_stamp()
        duplicates: set[str] = set()
        if ext_field is not None:
            seen: set[str] = set()
            for _op, record in operations:
                value = _get_ci(record, ext_field)
                if isinstance(value, str):
                    if value in seen:
                        duplicates.add(value)
                    seen.add(value)
        undo: list[tuple[str, Row | None]] = []
        results: list[dict[str, Any]] = []
        for op, record in operations:
            value = _get_ci(record, ext_field) if ext_field else None
            if isinstance(value, str) and value in duplicates:
                results.append({"success": False, "errors": [_error(
                    "DUPLICATE_VALUE", f"Duplicate external id specified: {value}", [ext_field or ""])]})
                continue
            before = self._snapshot_for(op, record, ext_field)
            result = self._apply(op, record, ext_field, stamp)
            if result["success"]:
                undo.append((result["id"], before))
            results.append(result)
        if all_or_none and any(not r["success"] for r in results):
            for record_id, before in reversed(undo):
                self._restore(record_id, before)
            results = [r if not r["success"] else {"id": r.get("id"), "success": False,
                                                   "errors": [dict(_ROLLED_BACK)]}
                       for r in results]
        return FakeResponse.json(results)

    def _snapshot_for(self, op: str, record: dict[str, Any], ext_field: str | None) -> Row | None:
        if op in ("update", "delete"):
            row = self._rows.get(str(_get_ci(record, "Id")))
        elif op == "upsert" and ext_field:
            ids = self._lookup(ext_field, str(_get_ci(record, ext_field)))
            row = self._rows.get(ids[0]) if len(ids) == 1 else None
        else:
            row = None
        return dict(row) if row is not None else None

    def _restore(self, record_id: str, before: Row | None) -> None:
        current = self._rows.pop(record_id, None)
        if current is not None:
            self._unindex(current)
        if before is not None:
            self._rows[record_id] = before
            self._reindex(before)

    def _apply(self, op: str, record: dict[str, Any], ext_field: str | None, stamp: int) -> dict[str, Any]:
        values = _strip(record)
        attributes = record.get("attributes")
        if op in ("create", "update") and not (isinstance(attributes, dict) and attributes.get("type")):
            return {"success": False, "errors": [_error("INVALID_TYPE", "Must send a concrete entity "
                                                        "type.")]}
        if op == "delete":
            record_id = str(values["Id"])
            row = self._rows.get(record_id)
            if row is None:
                code = "MALFORMED_ID" if not _ID_RE.match(record_id) else "INVALID_CROSS_REFERENCE_KEY"
                message = f"bad id {record_id}" if code == "MALFORMED_ID" else "invalid cross reference id"
                return {"success": False, "errors": [_error(code, message)]}
            if row["IsDeleted"]:
                return {"id": record_id, "success": False,
                        "errors": [_error("ENTITY_IS_DELETED", "entity is deleted")]}
            self._soft_delete(row, stamp)
            return {"id": record_id, "success": True, "errors": []}
        if op == "create":
            if _get_ci(values, "Id") is not None:
                return {"success": False, "errors": [_error(
                    "INVALID_FIELD", "cannot specify Id in an insert call", ["Id"])]}
            clean, errors = self._validate(values, creating=True)
            errors = errors or self._unique_errors(clean, None)
            if errors:
                return {"success": False, "errors": errors}
            return {"id": self._create(clean, stamp), "success": True, "errors": []}
        if op == "update":
            record_id = _get_ci(values, "Id")
            if not isinstance(record_id, str) or not record_id:
                return {"success": False, "errors": [_error(
                    "MISSING_ARGUMENT", "Id not specified in an update call", ["Id"])]}
            row = self._rows.get(record_id)
            if row is None:
                code = "MALFORMED_ID" if not _ID_RE.match(record_id) else "INVALID_CROSS_REFERENCE_KEY"
                return {"success": False, "errors": [_error(
                    code, f"Account ID: id value of incorrect type: {record_id}"
                    if code == "MALFORMED_ID" else "invalid cross reference id", ["Id"])]}
            if row["IsDeleted"]:
                return {"id": record_id, "success": False,
                        "errors": [_error("ENTITY_IS_DELETED", "entity is deleted")]}
            values = {k: v for k, v in values.items() if k.lower() != "id"}
            clean, errors = self._validate(values, creating=False)
            errors = errors or self._unique_errors(clean, record_id)
            if errors:
                return {"id": record_id, "success": False, "errors": errors}
            self._update(row, clean, stamp)
            return {"id": record_id, "success": True, "errors": []}
        assert ext_field is not None
        value = _get_ci(values, ext_field)
        if value is None or value == "":
            return {"success": False, "errors": [_error(
                "MISSING_ARGUMENT", f"{ext_field} not specified", [ext_field])]}
        values = {k: v for k, v in values.items() if k.lower() != ext_field.lower()}
        return self._upsert_one(values, ext_field, str(value), stamp)

    def _upsert_one(self, values: dict[str, Any], ext_field: str, value: str, stamp: int) -> dict[str, Any]:
        ids = self._lookup(ext_field, value)
        if len(ids) > 1:
            return {"success": False, "errors": [_error(
                "DUPLICATE_EXTERNAL_ID",
                f"Account: more than one record found for external id field: {sorted(ids)}", [ext_field])]}
        if ids:
            row = self._rows[ids[0]]
            clean, errors = self._validate(values, creating=False)
            errors = errors or self._unique_errors(clean, row["Id"])
            if errors:
                return {"id": row["Id"], "success": False, "errors": errors, "created": False}
            self._update(row, clean, stamp)
            return {"id": row["Id"], "success": True, "errors": [], "created": False}
        if ext_field == "Id":
            return {"success": False, "errors": [_error("NOT_FOUND", "The requested resource does not "
                                                        "exist")], "created": False}
        clean, errors = self._validate({**values, ext_field: value}, creating=True)
        errors = errors or self._unique_errors(clean, None)
        if errors:
            return {"success": False, "errors": errors, "created": False}
        return {"id": self._create(clean, stamp), "success": True, "errors": [], "created": True}

    # -- storage ------------------------------------------------------------------------------------
    def _next_stamp(self) -> int:
        # strictly increasing per write request, millisecond resolution
        stamp = max(int(self.clock() * 1000), self._last_stamp + 1)
        self._last_stamp = stamp
        return stamp

    def _create(self, clean: dict[str, Any], stamp: int, record_id: str | None = None) -> str:
        if record_id is None:
            record_id = sf_id("001", self._next_number)
            self._next_number += 1
        row: Row = {name: f.default for name, f in ACCOUNT_FIELDS.items()}
        row.update(clean)
        row.update({"Id": record_id, "IsDeleted": False, "MasterRecordId": None, "CreatedDate": stamp,
                    "LastModifiedDate": stamp, "SystemModstamp": stamp, "_deleted_at": None})
        self._rows[record_id] = row
        self._reindex(row)
        return record_id

    def _update(self, row: Row, clean: dict[str, Any], stamp: int) -> None:
        self._unindex(row)
        row.update(clean)
        row["LastModifiedDate"] = stamp
        row["SystemModstamp"] = stamp
        self._reindex(row)

    def _soft_delete(self, row: Row, stamp: int, keep_stamp: bool = False) -> None:
        self._unindex(row)
        row["IsDeleted"] = True
        row["_deleted_at"] = stamp
        if not keep_stamp:
            row["SystemModstamp"] = stamp

    def _reindex(self, row: Row) -> None:
        if row["IsDeleted"]:
            return
        for name, index in self._index.items():
            value = row.get(name)
            if value is not None:
                index.setdefault(value, set()).add(row["Id"])

    def _unindex(self, row: Row) -> None:
        for name, index in self._index.items():
            value = row.get(name)
            if value is not None and value in index:
                index[value].discard(row["Id"])
                if not index[value]:
                    del index[value]

    def _lookup(self, field_name: str, value: str) -> list[str]:
        if field_name == "Id":
            row = self._rows.get(value)
            return [value] if row is not None and not row["IsDeleted"] else []
        return sorted(self._index[field_name].get(value, ()))

    def _live(self, record_id: str) -> Row:
        row = self._rows.get(record_id)
        if row is None or row["IsDeleted"]:
            raise KeyError(f"no live Account {record_id}")
        return row

    def _field(self, name: str) -> FieldDef:
        fdef = FIELDS_BY_LOWER.get(name.strip().lower())
        if fdef is None:
            raise _RequestError(400, "INVALID_FIELD", f"No such column '{name}' on sobject of type Account")
        return fdef

    def _json(self, request: FakeRequest) -> Any:
        try:
            return request.json()
        except (ValueError, UnicodeDecodeError) as exc:
            raise _RequestError(400, "JSON_PARSER_ERROR", f"Unexpected character in request body: {exc}") \
                from None

    def _validate(self, values: Mapping[str, Any], creating: bool) -> tuple[dict[str, Any], list[Error]]:
        clean: dict[str, Any] = {}
        errors: list[Error] = []
        locked: list[str] = []
        for key, value in values.items():
            fdef = self._field(key)
            if not (fdef.createable if creating else fdef.updateable):
                locked.append(fdef.name)
                continue
            problem, coerced = _check_value(fdef, value)
            if problem:
                errors.append(problem)
            else:
                clean[fdef.name] = coerced
        if locked:
            errors.append(_error(
                "INVALID_FIELD_FOR_INSERT_UPDATE",
                f"Unable to create/update fields: {', '.join(locked)}. Please check the security settings "
                "of this field and verify that it is read/write for your profile or permission set.",
                locked))
        missing = [f.name for f in ACCOUNT_FIELDS.values()
                   if not f.nillable and f.createable and f.default is None
                   and ((creating and clean.get(f.name) is None) or (f.name in clean and clean[f.name] is None))]
        if missing:
            errors.append(_error("REQUIRED_FIELD_MISSING", f"Required fields are missing: [{', '.join(missing)}]",
                                 missing))
        return clean, errors

    def _validate_in_process(self, values: Mapping[str, Any], creating: bool,
                             own_id: str | None = None) -> tuple[dict[str, Any], list[Error]]:
        try:
            clean, errors = self._validate(values, creating)
        except _RequestError as exc:
            raise ValueError(str(exc)) from None
        return clean, errors or self._unique_errors(clean, own_id)

    def _unique_errors(self, clean: dict[str, Any], own_id: str | None) -> list[Error]:
        errors = []
        for name, fdef in ACCOUNT_FIELDS.items():
            value = clean.get(name)
            if fdef.unique and value is not None:
                others = [i for i in self._index[name].get(value, ()) if i != own_id]
                if others:
                    errors.append(_error("DUPLICATE_VALUE", f"duplicate value found: {name} duplicates "
                                         f"value on record with id: {others[0]}", []))
        return errors

    def _render(self, row: Row, names: list[str] | None = None, version: str | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {"attributes": {
            "type": "Account",
            "url": f"/services/data/{version or self.api_version}/sobjects/Account/{row['Id']}"}}
        for name in names or list(ACCOUNT_FIELDS):
            value = row.get(name)
            if ACCOUNT_FIELDS[name].type == "datetime" and value is not None:
                value = format_datetime(value)
            out[name] = value
        return out

    # -- generated data -------------------------------------------------------------------------------
    def _generate(self, count: int, seed: int) -> None:
        rng = random.Random(seed)
        # a fixed epoch keeps runs with one seed identical; many rows share one SystemModstamp
        stamp = to_millis(dt.datetime(2026, 1, 5, 8, 0, tzinfo=dt.UTC))
        group = 0
        for n in range(count):
            if group <= 0:
                stamp += rng.randint(1, 90_000)
                group = rng.choice((1, 1, 2, 3, 7, 25, 60))
            group -= 1
            values = _generated_account(rng, n)
            record_id = self._create(values, stamp)
            if rng.random() < 0.02:
                self._soft_delete(self._rows[record_id], stamp)
        self._last_stamp = max(self._last_stamp, stamp)


_SYSTEM_FIELDS = ("Id", "IsDeleted", "MasterRecordId", "CreatedDate", "LastModifiedDate", "SystemModstamp")


def _strip(record: Any) -> dict[str, Any]:
    if not isinstance(record, dict):
        raise _RequestError(400, "JSON_PARSER_ERROR", "Expected a JSON object")
    return {k: v for k, v in record.items() if k != "attributes"}


def _get_ci(record: Mapping[str, Any], name: str | None) -> Any:
    if name is None:
        return None
    lowered = name.lower()
    return next((v for k, v in record.items() if k.lower() == lowered), None)


def _as_request_error(error: Error) -> dict[str, Any]:
    return {"message": error["message"], "errorCode": error["statusCode"], "fields": error["fields"]}


def _check_value(fdef: FieldDef, value: Any) -> tuple[Error | None, Any]:
    if value is None:
        return None, None
    label = fdef.label
    if fdef.type == "boolean":
        if isinstance(value, bool):
            return None, value
        return _error("INVALID_TYPE_ON_FIELD_IN_RECORD", f"{label}: value not of required type: {value}",
                      [fdef.name]), None
    if fdef.type in ("currency", "double"):
        number: float | None = None
        if isinstance(value, int | float) and not isinstance(value, bool):
            number = float(value)
        elif isinstance(value, str):
            try:
                number = float(value)
            except ValueError:
                number = None
        if number is None or not math.isfinite(number) or abs(number) >= 1e16:
            return _error("INVALID_TYPE_ON_FIELD_IN_RECORD", f"{label}: value not of required type: {value}",
                          [fdef.name]), None
        return None, round(number, 2)
    if not isinstance(value, str):
        return _error("INVALID_TYPE_ON_FIELD_IN_RECORD", f"{label}: value not of required type: {value}",
                      [fdef.name]), None
    if fdef.length and len(value) > fdef.length:
        return _error("STRING_TOO_LONG", f"{label}: data value too large: {value[:40]} (max length="
                      f"{fdef.length})", [fdef.name]), None
    if fdef.type == "email" and value and not _EMAIL_RE.match(value):
        return _error("INVALID_EMAIL_ADDRESS", f"{label}: invalid email address: {value}", [fdef.name]), None
    if fdef.type == "picklist" and fdef.restricted and value not in fdef.picklist:
        return _error("INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                      f"{label}: bad value for restricted picklist field: {value}", [fdef.name]), None
    if fdef.name == "Name" and not value.strip():
        return _error("REQUIRED_FIELD_MISSING", "Required fields are missing: [Name]", ["Name"]), None
    return None, value


_NAME_STEMS = (
    "Acme", "Globex", "O'Brien", "Zoë", "Müller & Söhne", "北京科技", "Nakamura Seisakusho", "Ørsted",
    "São Paulo Alimentos", "Dupont", "L'Oréal Partenaires", "Smith & Wesson Tools", "Łódź Metal",
    "Café Ümlaut", "Kowalski", "上海贸易", "Fjällräven Supply", "D'Angelo", "Nguyễn Logistics", "Åberg",
)
_NAME_FORMS = ("GmbH", "Ltd", "Inc.", "S.A.", "AG", "有限公司", "KG", "B.V.", "Ltda.", "S.p.A.", "AB", "LLC")
# (country, city, state, postal code, currency, phone prefix, subscriber digits, ISO code)
_PLACES = (
    ("Germany", "Berlin", "BE", "10115", "EUR", "+49 30 ", 8, "DE"),
    ("Germany", "München", "BY", "80331", "EUR", "+49 89 ", 8, "DE"),
    ("United Kingdom", "London", "", "EC1A 1BB", "GBP", "+44 20 7", 7, "GB"),
    ("United States", "Springfield", "IL", "62701", "USD", "+1 217 5", 6, "US"),
    ("France", "Lyon", "", "69001", "EUR", "+33 4 7", 7, "FR"),
    ("China", "北京", "BJ", "100000", "CNY", "+86 10 6", 7, "CN"),
    ("Japan", "Osaka", "27", "530-0001", "JPY", "+81 6 6", 7, "JP"),
    ("Switzerland", "Zürich", "ZH", "8001", "CHF", "+41 44 2", 6, "CH"),
    ("Sweden", "Göteborg", "", "411 01", "SEK", "+46 31 7", 6, "SE"),
    ("Brazil", "São Paulo", "SP", "01000-000", "BRL", "+55 11 3", 7, "BR"),
)
_STREETS = ("Hauptstraße", "High Street", "Rue de la Paix", "Main St", "長安街", "Storgatan", "Rua Augusta")


def _generated_account(rng: random.Random, n: int) -> dict[str, Any]:
    stem = rng.choice(_NAME_STEMS)
    name = f"{stem} {rng.choice(_NAME_FORMS)}"
    if rng.random() < 0.5:
        name = f"{name} {n}"
    country, city, state, postal, currency, phone, digits, iso = rng.choice(_PLACES)
    street = f"{rng.choice(_STREETS)} {rng.randint(1, 250)}"
    slug = re.sub(r"[^a-z0-9]+", "", stem.lower().encode("ascii", "ignore").decode()) or f"co{n}"
    values: dict[str, Any] = {
        "Name": name,
        "AccountNumber": f"AC-{100000 + n}",
        "Type": rng.choice(("Prospect", "Customer - Direct", "Customer - Channel", "Other")),
        "Industry": rng.choice(("Banking", "Manufacturing", "Retail", "Technology", "Energy", "Healthcare")),
        "Phone": phone + "".join(str(rng.randint(1 if i == 0 else 0, 9)) for i in range(digits)),
        "Website": f"https://www.{slug}.example",
        "BillingStreet": street,
        "BillingCity": city,
        "BillingState": state or None,
        "BillingPostalCode": postal,
        "BillingCountry": country,
        "Description": None,
        "Email__c": f"info{n}@{slug}.example",
        "Lifecycle_Stage__c": rng.choice(LIFECYCLE_STAGES),
        "Tax_Id__c": f"{iso}{rng.randint(100000000, 999999999)}" if rng.random() < 0.7 else None,
        "Credit_Limit__c": float(rng.choice((0, 5000, 10000, 25000, 50000, 100000))),
        "Receivables__c": round(rng.uniform(0, 20000), 2),
        "CurrencyIsoCode": currency,
        "Blocked__c": rng.random() < 0.05,
    }
    if rng.random() < 0.6:
        values.update({"ShippingStreet": street, "ShippingCity": city, "ShippingState": state or None,
                       "ShippingPostalCode": postal, "ShippingCountry": country})
    if rng.random() < 0.3:
        values["SAP_Customer_Id__c"] = f"{1000000 + n:010d}"
    return values


__all__ = ["DEFAULT_CLIENT_ID", "DEFAULT_DAILY_QUOTA", "FakeSalesforce", "format_datetime", "sf_id"]
