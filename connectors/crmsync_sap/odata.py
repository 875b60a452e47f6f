"""The SAP S/4HANA OData v2 connector: business partners through API_BUSINESS_PARTNER.

Owns :class:`SapODataConnector` (``connector: sap-odata``): incremental reads on
LastChangeDate + LastChangeTime (CreationDate + CreationTime for never-changed partners),
server-driven paging, writes by deep insert / PATCH or MERGE with If-Match, the CSRF token
protocol, ``$batch`` changesets (one per record, so one bad record fails alone), SAP error
mapping, ``describe()`` from the service's own ``$metadata`` (parsed without DTDs or
entities), and optional read-only receivables enrichment from an open-items entity set.

Read payload shape: the partner's properties as the API returns them (``/Date(ms)/``,
``PT..H..M..S`` and keys left as strings), expanded navigation collections as plain lists,
``__metadata`` removed; the entity's ETag kept as ``"__etag"`` on the partner and on each
expanded address; ``"__receivables"`` and ``"CreditLimit"`` / ``"CreditLimitCurrency"``
added when that enrichment is configured.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import heapq
import json
import logging
import urllib.parse
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

import requests
from defusedxml import ElementTree as SafeET

from crmsync import retry
from crmsync.connector import (
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
    ConfigError,
    ErrorKind,
    PermanentError,
    RateLimitedError,
    RetryableError,
)
from crmsync.http import new_session
from crmsync_sap.odata_wire import (
    BatchPart,
    SapError,
    cursor_timestamp,
    datetime_literal,
    decode_batch,
    encode_batch,
    odata_quote,
    parse_date,
    parse_sap_error,
    parse_time,
    split_cursor_timestamp,
    time_literal,
)

log = logging.getLogger(__name__)

PARTNER_SET = "A_BusinessPartner"
ADDRESS_SET = "A_BusinessPartnerAddress"
HUB_ID_FIELD = "BusinessPartnerIDByExtSystem"
HUB_ID_MAX = 20
CUSTOMER_ROLES = ("FLCU00", "FLCU01")
ALWAYS_SELECT = ("BusinessPartner", "Customer", "BusinessPartnerCategory", "CreationDate", "CreationTime",
                 "LastChangeDate", "LastChangeTime", "IsMarkedForArchiving", HUB_ID_FIELD)
DEFAULT_EXPAND = ("to_BusinessPartnerAddress", "to_BusinessPartnerRole", "to_Customer")
LOOKUP_CHUNK = 40
_EDM_TYPES = {"Edm.String": "string", "Edm.Boolean": "boolean", "Edm.Decimal": "decimal",
              "Edm.Int32": "integer", "Edm.Int16": "integer", "Edm.Byte": "integer", "Edm.Guid": "string",
              "Edm.Time": "time", "Edm.DateTimeOffset": "datetime", "Edm.Double": "number"}


def hub_key(hub_id: str) -> str:
    """The value stored in BusinessPartnerIDByExtSystem for ``hub_id`` (at most 20 characters).

    Hub ids that fit are stored as they are; longer ones (UUIDs) as ``H`` + 19 characters of
    a base32 SHA-256, which is deterministic, so the idempotent lookup still finds them.
    """
    if len(hub_id) <= HUB_ID_MAX:
        return hub_id
    digest = base64.b32encode(hashlib.sha256(hub_id.encode("utf-8")).digest()).decode()
    return "H" + digest[: HUB_ID_MAX - 1]


CONTACT_SETS = {"to_PhoneNumber": "A_AddressPhoneNumber", "to_EmailAddress": "A_AddressEmailAddress"}
"""An address's phone numbers and e-mail addresses: their navigation and entity set."""
CONTACT_KEYS = ("AddressID", "Person", "OrdinalNumber")


def _nav_rows(value: Any) -> list[dict[str, Any]]:
    """An expanded navigation as a list, whether OData wrapped it in ``results`` or not."""
    rows = value.get("results", []) if isinstance(value, dict) else value or []
    return [r for r in rows if isinstance(r, dict)]


def _first_item(address: Mapping[str, Any] | None, nav: str) -> dict[str, Any]:
    """The writable fields of an outbound address's first phone / e-mail entry."""
    rows = _nav_rows((address or {}).get(nav))
    return {k: v for k, v in rows[0].items() if not k.startswith("__") and k not in CONTACT_KEYS} if rows else {}


def _entity_path(entity_set: str, **keys: str) -> str:
    if len(keys) == 1:
        inner = odata_quote(next(iter(keys.values())))
    else:
        inner = ",".join(f"{k}={odata_quote(v)}" for k, v in keys.items())
    return urllib.parse.quote(f"{entity_set}({inner})", safe="()',=")


def _clean(entity: Mapping[str, Any]) -> dict[str, Any]:
    """An entity without protocol noise: ``__metadata`` -> ``__etag``, deferred links dropped."""
    out: dict[str, Any] = {}
    etag = (entity.get("__metadata") or {}).get("etag")
    if etag:
        out["__etag"] = etag
    for name, value in entity.items():
        if name == "__metadata":
            continue
        if isinstance(value, dict):
            if "__deferred" in value:
                continue
            if "results" in value and isinstance(value["results"], list):
                out[name] = [_clean(v) for v in value["results"]]
            else:
                out[name] = _clean(value)
        else:
            out[name] = value
    return out


@dataclass
class _Plan:
    """What one OutboundRecord turns into: the operations of its changeset."""

    record: OutboundRecord
    index: int
    parts: list[BatchPart] = field(default_factory=list)
    bp: str | None = None
    created: bool = False
    done: WriteResult | None = None


class SapODataConnector(Connector):
    """API_BUSINESS_PARTNER over OData v2 (S/4HANA Cloud: communication arrangement SAP_COM_0008).

    Options: ``service_url`` (…/sap/opu/odata/sap/API_BUSINESS_PARTNER/), ``username`` +
    ``password`` or ``token_url`` + ``client_id`` + ``client_secret`` (OAuth client
    credentials), ``sap_client``, ``verify`` (default true) or ``ca_bundle``, ``page_size``
    (keyset windows of that many records; default: follow the server's ``__next`` only),
    ``use_batch`` (default true), ``batch_size`` (default 100), ``update_method`` (PATCH or
    MERGE), ``default_category`` (``2``), ``receivables_entity_set`` and
    ``receivables_service_url``, ``credit_entity_set``, ``credit_service_url``,
    ``credit_amount_field``, ``credit_currency_field``, ``credit_segment``.
    """

    name = "sap-odata"
    hub_id_field = HUB_ID_FIELD  # hub ids longer than 20 characters are stored as hub_key(): not recognised
    objects = (PARTNER_SET,)
    key_field = "BusinessPartner"
    cursor_field = "LastChangeDate"
    cursor_overlap = 1.0  # LastChangeTime has whole seconds: re-read the last second every run
    capabilities = frozenset({READ, WRITE, DELETE})
    batch_size = 100

    def __init__(self, context: EndpointContext) -> None:
        super().__init__(context)
        options = dict(context.options)
        url = str(options.get("service_url") or "")
        if not url.startswith(("http://", "https://")):
            raise ConfigError("option service_url must be the API_BUSINESS_PARTNER service root URL",
                              path=f"endpoints.{context.name}.options.service_url")
        self.root = url if url.endswith("/") else url + "/"
        self.username = options.get("username")
        self._password = options.get("password")
        self.token_url = options.get("token_url")
        self.client_id = options.get("client_id")
        self._client_secret = options.get("client_secret")
        if not (self.username and self._password) and not (self.token_url and self.client_id
                                                            and self._client_secret):
            raise ConfigError("give username + password, or token_url + client_id + client_secret",
                              path=f"endpoints.{context.name}.options")
        self.sap_client = str(options["sap_client"]) if options.get("sap_client") else None
        verify: bool | str = options.get("ca_bundle") or bool(options.get("verify", True))
        self.page_size = int(options["page_size"]) if options.get("page_size") else None
        self.use_batch = bool(options.get("use_batch", True))
        self.batch_size = int(options.get("batch_size", type(self).batch_size))
        self.update_method = str(options.get("update_method", "PATCH")).upper()
        if self.update_method not in ("PATCH", "MERGE"):
            raise ConfigError("update_method must be PATCH or MERGE",
                              path=f"endpoints.{context.name}.options.update_method")
        self.default_category = str(options.get("default_category", "2"))
        self.receivables_set = options.get("receivables_entity_set")
        rec_url = str(options.get("receivables_service_url") or self.root)
        self.receivables_root = rec_url if rec_url.endswith("/") else rec_url + "/"
        self.credit_set = options.get("credit_entity_set")
        credit_url = str(options.get("credit_service_url") or self.root)
        self.credit_root = credit_url if credit_url.endswith("/") else credit_url + "/"
        self.credit_amount_field = str(options.get("credit_amount_field", "CreditLimitAmount"))
        self.credit_currency_field = str(options.get("credit_currency_field", "CreditLimitAmountCurrency"))
        self.credit_segment = options.get("credit_segment")
        self.session = new_session(context.retry.timeout, verify=verify)
        if self.username:
            self.session.auth = (str(self.username), str(self._password))
        self._token: str | None = None
        self._csrf: str | None = None

    def __repr__(self) -> str:
        return f"SapODataConnector(endpoint={self.context.name!r}, service_url={self.root!r})"

    # -- HTTP ---------------------------------------------------------------------------------
    def _params(self, params: Mapping[str, str] | None) -> dict[str, str]:
        out = dict(params or {})
        if self.sap_client:
            out["sap-client"] = self.sap_client
        return out

    def _fetch_token(self) -> None:
        self.context.api_calls += 1
        response = self.session.post(
            str(self.token_url), data={"grant_type": "client_credentials"},
            auth=(str(self.client_id), str(self._client_secret)), headers={"Accept": "application/json"})
        if response.status_code in (400, 401, 403):
            raise AuthError(f"OAuth token request refused (HTTP {response.status_code})",
                            endpoint=self.context.name, status=response.status_code)
        if response.status_code >= 500 or response.status_code == 429:
            raise RetryableError(f"OAuth token endpoint answered HTTP {response.status_code}",
                                 endpoint=self.context.name, status=response.status_code)
        try:
            self._token = str(response.json()["access_token"])
        except (ValueError, KeyError, TypeError):
            raise RetryableError("OAuth token response without access_token",
                                 endpoint=self.context.name) from None

    def _send(self, method: str, url: str, *, params: Mapping[str, str] | None = None,
              headers: Mapping[str, str] | None = None, data: bytes | None = None,
              fetch_csrf: bool = False) -> requests.Response:
        send_headers = {"Accept": "application/json", **(headers or {})}
        if method != "GET" and self._csrf:
            send_headers["X-CSRF-Token"] = self._csrf
        if fetch_csrf:
            send_headers["X-CSRF-Token"] = "Fetch"
        if self.token_url:
            if self._token is None:
                self._fetch_token()
            send_headers["Authorization"] = f"Bearer {self._token}"
        self.context.api_calls += 1
        response = self.session.request(method, url, params=params, headers=send_headers, data=data)
        token = response.headers.get("x-csrf-token")
        if token and token.lower() != "required":
            self._csrf = token
        return response

    def _request(self, method: str, url: str, *, operation: str, idempotent: bool = True,
                 params: Mapping[str, str] | None = None, headers: Mapping[str, str] | None = None,
                 data: bytes | None = None, fetch_csrf: bool = False,
                 parse: Callable[[requests.Response], Any] | None = None) -> Any:
        """One call under the retry policy; classified errors raised, other responses returned."""

        def attempt() -> Any:
            if method != "GET" and self._csrf is None:
                self._fetch_csrf()
            response = self._send(method, url, params=params, headers=headers, data=data,
                                  fetch_csrf=fetch_csrf)
            if response.status_code == 403 and (response.headers.get("x-csrf-token") or "").lower() == \
                    "required":
                log.info("%s: CSRF token rejected; fetching a new one", self.context.name)
                self._csrf = None
                self._fetch_csrf()
                response = self._send(method, url, params=params, headers=headers, data=data)
            if response.status_code == 401 and self.token_url:
                self._token = None
                response = self._send(method, url, params=params, headers=headers, data=data)
            self._raise_for_call(response, operation)
            return parse(response) if parse else response

        return retry.call(attempt, self.context.retry, endpoint=self.context.name, operation=operation,
                          idempotent=idempotent, classifier=self.context.classifier)

    def _fetch_csrf(self) -> None:
        response = self._send("GET", self.root, params=self._params(None), fetch_csrf=True)
        self._raise_for_call(response, "fetch CSRF token")
        if not self._csrf:
            raise PermanentError("the service returned no X-CSRF-Token on fetch",
                                 endpoint=self.context.name, status=response.status_code)

    def _raise_for_call(self, response: requests.Response, operation: str) -> None:
        status = response.status_code
        if status < 400 or status in (400, 404, 409, 412, 428):
            return
        error = parse_sap_error(response.content, status)
        message = f"{operation}: HTTP {status}: {error.message}"
        common: dict[str, Any] = {"endpoint": self.context.name, "status": status, "code": error.code}
        if status == 401:
            raise AuthError(f"{operation}: credentials refused (HTTP 401)", **common)
        if status == 403:
            raise AuthError(message, **common)
        if status == 429:
            raise RateLimitedError(message, retry_after=retry.parse_retry_after(
                response.headers.get("Retry-After")), **common)
        if status >= 500:
            raise RetryableError(message, retry_after=retry.parse_retry_after(response.headers.get("Retry-After")),
                                 **common)
        raise PermanentError(message, **common)

    def _json(self, response: requests.Response, operation: str) -> Any:
        if response.status_code >= 400:
            error = parse_sap_error(response.content, response.status_code)
            raise PermanentError(f"{operation}: HTTP {response.status_code}: {error.message}",
                                 endpoint=self.context.name, status=response.status_code, code=error.code)
        try:
            return response.json()
        except ValueError:
            raise RetryableError(f"{operation}: truncated or invalid JSON",
                                 endpoint=self.context.name) from None

    def _get_pages(self, url: str, params: Mapping[str, str], operation: str) -> Iterator[dict[str, Any]]:
        """Every entity of a collection query, following ``__next``."""
        next_url: str | None = url
        next_params: dict[str, str] | None = self._params(params)
        while next_url:
            page = self._request("GET", next_url, params=next_params, operation=operation,
                                 fetch_csrf=self._csrf is None,
                                 parse=lambda r: self._json(r, operation))
            body = page.get("d") if isinstance(page, dict) else None
            if not isinstance(body, dict):
                raise PermanentError(f"{operation}: response without a 'd' envelope",
                                     endpoint=self.context.name)
            yield from body.get("results") or []
            next_url = body.get("__next")
            if next_url:
                next_url = urllib.parse.urljoin(url, next_url)
                if urllib.parse.urlsplit(next_url).netloc != urllib.parse.urlsplit(url).netloc:
                    raise PermanentError(f"{operation}: __next points to another host",
                                         endpoint=self.context.name)
            next_params = None

    # -- reading ------------------------------------------------------------------------------
    def _query_shape(self) -> tuple[str | None, str]:
        """($select, $expand) from the mapping's field paths (None: every property)."""
        if not self.context.fields:
            return None, ",".join(DEFAULT_EXPAND)
        select: list[str] = list(ALWAYS_SELECT)
        expand: list[str] = ["to_Customer"]
        select.append("to_Customer/DeletionIndicator")
        for path in self.context.fields:
            segments = [s.split("[", 1)[0] for s in path.replace("/", ".").split(".") if s]
            navs = [s for s in segments[:-1] if s.startswith("to_")]
            if navs:
                expand.append("/".join(navs))
                select.append("/".join(segments))
                if navs[0] == "to_BusinessPartnerAddress":
                    select.append("to_BusinessPartnerAddress/AddressID")
            elif segments:
                if segments[0].startswith("to_"):
                    expand.append(segments[0])
                select.append(segments[0])
        return ",".join(dict.fromkeys(select)), ",".join(dict.fromkeys(expand))

    def _since_filter(self, changed: bool, since: Cursor | None, exact: bool) -> str:
        date_f, time_f = ("LastChangeDate", "LastChangeTime") if changed else ("CreationDate", "CreationTime")
        base = "LastChangeDate ne null" if changed else "LastChangeDate eq null"
        if since is None:
            return base
        day, time = split_cursor_timestamp(since.timestamp)
        d, t = datetime_literal(day), time_literal(time)
        if exact and since.id:
            window = (f"({date_f} gt {d} or ({date_f} eq {d} and {time_f} gt {t}) or "
                      f"({date_f} eq {d} and {time_f} eq {t} and BusinessPartner gt {odata_quote(since.id)}))")
        else:
            window = f"(({date_f} gt {d}) or ({date_f} eq {d} and {time_f} ge {t}))"
        return window if changed else f"{base} and {window}"

    def _stream(self, changed: bool, since: Cursor | None) -> Iterator[RawRecord]:
        select, expand = self._query_shape()
        date_f, time_f = ("LastChangeDate", "LastChangeTime") if changed else ("CreationDate", "CreationTime")
        position, exact = since, False
        while True:
            params = {"$filter": self._since_filter(changed, position, exact),
                      "$orderby": f"{date_f} asc,{time_f} asc,BusinessPartner asc", "$format": "json"}
            if expand:
                params["$expand"] = expand
            if select:
                params["$select"] = select
            if self.page_size:
                params["$top"] = str(self.page_size)
            count = 0
            for entity in self._get_pages(self.root + PARTNER_SET, params, "read business partners"):
                count += 1
                record = self._raw_record(entity)
                if since is not None and record.cursor is not None and record.cursor <= since:
                    continue
                position = record.cursor
                yield record
            if not self.page_size or count < self.page_size:
                return
            exact = True

    def _raw_record(self, entity: Mapping[str, Any]) -> RawRecord:
        payload = _clean(entity)
        bp = str(payload.get("BusinessPartner") or "")
        try:
            if payload.get("LastChangeDate"):
                stamp = cursor_timestamp(parse_date(payload["LastChangeDate"]),
                                         parse_time(payload.get("LastChangeTime") or "PT00H00M00S"))
            else:
                stamp = cursor_timestamp(parse_date(payload["CreationDate"]),
                                         parse_time(payload.get("CreationTime") or "PT00H00M00S"))
        except (KeyError, TypeError, ValueError) as exc:
            raise PermanentError(f"business partner {bp!r} has no readable change date: {exc}",
                                 endpoint=self.context.name) from None
        customer = payload.get("to_Customer")
        deleted = bool(payload.get("IsMarkedForArchiving")) or bool(
            isinstance(customer, dict) and customer.get("DeletionIndicator"))
        return RawRecord(external_id=bp, payload=payload, cursor=Cursor(stamp, bp), deleted=deleted)

    def read_changes(self, since: Cursor | None) -> Iterator[RawRecord]:
        """Partners changed after ``since``, in (timestamp, BusinessPartner) order."""
        merged = heapq.merge(self._stream(True, since), self._stream(False, since),
                             key=lambda r: (r.cursor.timestamp, r.cursor.id) if r.cursor else ("", ""))
        if not (self.receivables_set or self.credit_set):
            yield from merged
            return
        chunk: list[RawRecord] = []
        for record in merged:
            chunk.append(record)
            if len(chunk) >= LOOKUP_CHUNK:
                yield from self._enrich(chunk)
                chunk = []
        yield from self._enrich(chunk)

    def _enrich(self, records: list[RawRecord]) -> list[RawRecord]:
        if self.receivables_set:
            self._enrich_receivables(records)
        if self.credit_set:
            self._enrich_credit(records)
        return records

    def _enrich_credit(self, records: list[RawRecord]) -> None:
        """Set ``CreditLimit`` / ``CreditLimitCurrency`` from the credit-limit entity set."""
        if not records:
            return
        partners = " or ".join(f"BusinessPartner eq {odata_quote(r.external_id)}" for r in records)
        condition = f"({partners})"
        if self.credit_segment:
            condition += f" and CreditSegment eq {odata_quote(str(self.credit_segment))}"
        params = {"$filter": condition, "$format": "json",
                  "$select": f"BusinessPartner,CreditSegment,{self.credit_amount_field},"
                             f"{self.credit_currency_field}"}
        limits: dict[str, dict[str, Any]] = {}
        for row in self._get_pages(self.credit_root + str(self.credit_set), params, "read credit limits"):
            # without a configured segment the first one (in key order) wins
            limits.setdefault(str(row.get("BusinessPartner")), row)
        for record in records:
            limit = limits.get(record.external_id) or {}
            record.payload["CreditLimit"] = limit.get(self.credit_amount_field)
            record.payload["CreditLimitCurrency"] = limit.get(self.credit_currency_field)

    def _enrich_receivables(self, records: list[RawRecord]) -> list[RawRecord]:
        """Add ``__receivables`` (open items summed per customer) to each record's payload."""
        by_customer: dict[str, list[RawRecord]] = {}
        for record in records:
            customer = record.payload.get("Customer") or (record.payload.get("to_Customer") or {}).get(
                "Customer")
            if customer:
                by_customer.setdefault(str(customer), []).append(record)
        if not by_customer:
            return records
        customers = " or ".join(f"Customer eq {odata_quote(c)}" for c in by_customer)
        params = {"$filter": f"({customers}) and ClearingAccountingDocument eq ''",
                  "$select": "Customer,AmountInCompanyCodeCurrency,CompanyCodeCurrency,NetDueDate",
                  "$format": "json"}
        totals: dict[str, dict[str, Any]] = {}
        today = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        for item in self._get_pages(self.receivables_root + str(self.receivables_set), params,
                                    "read receivables"):
            entry = totals.setdefault(str(item.get("Customer")), {})
            currency = str(item.get("CompanyCodeCurrency") or "")
            try:
                amount = Decimal(str(item.get("AmountInCompanyCodeCurrency") or "0"))
            except InvalidOperation:
                continue
            bucket = entry.setdefault(currency, {"open": Decimal(0), "overdue": Decimal(0), "count": 0})
            bucket["open"] += amount
            bucket["count"] += 1
            due = item.get("NetDueDate")
            if due and _due_before(due, today):
                bucket["overdue"] += amount
        for customer, recs in by_customer.items():
            entry = totals.get(customer, {})
            if entry:
                currency, bucket = max(entry.items(), key=lambda kv: kv[1]["count"])
                summary: dict[str, Any] = {"OpenAmount": str(bucket["open"]),
                                           "OverdueAmount": str(bucket["overdue"]),
                                           "Currency": currency, "OpenItemCount": bucket["count"]}
            else:
                summary = {"OpenAmount": "0", "OverdueAmount": "0", "Currency": None, "OpenItemCount": 0}
            for record in recs:
                record.payload["__receivables"] = summary
        return records

    # -- describe -------------------------------------------------------------------------------
    def describe(self) -> dict[str, FieldInfo]:
        """Fields of A_BusinessPartner, ``to_BusinessPartnerAddress[0].X`` and ``to_Customer.X``."""
        text = self._request("GET", self.root + "$metadata", params=self._params(None),
                             operation="read $metadata", headers={"Accept": "application/xml"},
                             parse=lambda r: r.content)
        try:
            root = SafeET.fromstring(text, forbid_dtd=True, forbid_entities=True, forbid_external=True)
        except Exception as exc:  # defusedxml raises its own classes and ParseError
            raise PermanentError(f"$metadata is not acceptable XML: {type(exc).__name__}: {exc}",
                                 endpoint=self.context.name) from None
        types: dict[str, Any] = {}
        for element in root.iter():
            if element.tag.endswith("}EntityType"):
                types[element.get("Name", "")] = element
        out: dict[str, FieldInfo] = {}
        for type_name, prefix in (("A_BusinessPartnerType", ""),
                                  ("A_BusinessPartnerAddressType", "to_BusinessPartnerAddress[0]."),
                                  ("A_CustomerType", "to_Customer.")):
            element = types.get(type_name)
            if element is None:
                continue
            for prop in element:
                if not prop.tag.endswith("}Property"):
                    continue
                info = _field_info(prop, prefix)
                out[info.name] = info
        return out

    # -- writing --------------------------------------------------------------------------------
    def write_batch(self, records: Sequence[OutboundRecord]) -> list[WriteResult]:
        """Create / update / archive ``records``; one result each, in input order."""
        # two creates of one hub id in a batch would insert twice: write the first, then the
        # others as a second pass, where the lookup finds the partner the first one created
        seen: set[str] = set()
        first: list[int] = []
        later: list[int] = []
        for i, record in enumerate(records):
            key = hub_key(record.hub_id)
            (later if not record.external_id and key in seen else first).append(i)
            if not record.external_id:
                seen.add(key)
        if later:
            results: list[WriteResult | None] = [None] * len(records)
            for i, result in zip(first, self.write_batch([records[i] for i in first]), strict=True):
                results[i] = result
            for i, result in zip(later, self.write_batch([records[i] for i in later]), strict=True):
                results[i] = result
            return [r for r in results if r is not None]
        plans = [_Plan(record, i) for i, record in enumerate(records)]
        unbound = [p for p in plans if not p.record.external_id]
        found = self._lookup("BusinessPartnerIDByExtSystem",
                             [hub_key(p.record.hub_id) for p in unbound]) if unbound else {}
        for plan in unbound:
            existing = found.get(hub_key(plan.record.hub_id))
            if existing is not None:
                plan.bp = str(existing["BusinessPartner"])
            elif plan.record.action == "delete":
                plan.done = WriteResult(ok=True, external_id=None)
        for plan in plans:
            if plan.record.external_id:
                plan.bp = plan.record.external_id
        current = {**{str(v["BusinessPartner"]): v for v in found.values()},
                   **self._lookup("BusinessPartner", [p.bp for p in plans
                                                      if p.bp and p.record.external_id])}
        for plan in plans:
            if plan.done is not None:
                continue
            if plan.bp is None:
                plan.parts = [self._create_part(plan.record)]
                plan.created = True
            elif plan.bp not in current:
                plan.done = WriteResult(ok=False, external_id=plan.bp, error_code="NOT_FOUND",
                                        error=f"business partner {plan.bp} does not exist",
                                        kind=ErrorKind.PERMANENT)
            else:
                plan.parts = self._update_parts(plan.record, current[plan.bp], plan.record.etag)
        pending = [p for p in plans if p.done is None]
        batched = self.use_batch and bool(pending)
        answers = self._run_batch(pending) if batched else [self._run_single(p) for p in pending]
        stale: list[_Plan] = []
        for plan, answer in zip(pending, answers, strict=True):
            if answer.status == 412:
                stale.append(plan)
            else:
                plan.done = self._result(plan, answer)
        for plan in stale:
            plan.done = self._retry_stale(plan)
        return [p.done or WriteResult(ok=False, error="not written", kind=ErrorKind.RETRYABLE) for p in plans]

    def _lookup(self, field_name: str, values: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Partners whose ``field_name`` is one of ``values``, by that value (with addresses)."""
        found: dict[str, dict[str, Any]] = {}
        # a value OData cannot carry (control characters) matches nothing: never send it
        unique = [v for v in dict.fromkeys(values) if v.strip() and all(ord(c) >= 0x20 for c in v)]
        for start in range(0, len(unique), LOOKUP_CHUNK):
            chunk = unique[start: start + LOOKUP_CHUNK]
            params = {"$filter": " or ".join(f"{field_name} eq {odata_quote(v)}" for v in chunk),
                      "$select": f"BusinessPartner,{HUB_ID_FIELD},Customer,"
                                 "to_BusinessPartnerAddress/BusinessPartner,to_BusinessPartnerAddress/AddressID,"
                                 + ",".join(f"to_BusinessPartnerAddress/{nav}/{key}" for nav in CONTACT_SETS
                                            for key in CONTACT_KEYS),
                      "$expand": "to_BusinessPartnerAddress,"
                                 + ",".join(f"to_BusinessPartnerAddress/{nav}" for nav in CONTACT_SETS),
                      "$format": "json"}
            for entity in self._get_pages(self.root + PARTNER_SET, params, "look up business partners"):
                found[str(entity.get(field_name))] = entity
        return found

    def _create_part(self, record: OutboundRecord) -> BatchPart:
        body = {k: v for k, v in record.payload.items() if not k.startswith("__")}
        body[HUB_ID_FIELD] = hub_key(record.hub_id)
        body.setdefault("BusinessPartnerCategory", self.default_category)
        roles = [r for r in body.get("to_BusinessPartnerRole") or [] if isinstance(r, dict)]
        have = {r.get("BusinessPartnerRole") for r in roles}
        body["to_BusinessPartnerRole"] = roles + [{"BusinessPartnerRole": r} for r in CUSTOMER_ROLES
                                                  if r not in have]
        customer = body.get("to_Customer")
        body["to_Customer"] = {k: v for k, v in (customer or {}).items() if not k.startswith("__")}
        addresses = body.get("to_BusinessPartnerAddress")
        if addresses:
            body["to_BusinessPartnerAddress"] = [{k: v for k, v in a.items() if not k.startswith("__")}
                                                 for a in addresses if isinstance(a, dict)]
        else:
            body.pop("to_BusinessPartnerAddress", None)
        return BatchPart(method="POST", url=PARTNER_SET, headers={"Content-Type": "application/json"},
                         body=_dumps(body))

    def _modify(self, path: str, body: Mapping[str, Any], etag: str | None) -> BatchPart:
        headers = {"Content-Type": "application/json"}
        if etag:
            headers["If-Match"] = etag
        if self.update_method == "MERGE":
            headers["X-HTTP-Method"] = "MERGE"
            return BatchPart(method="POST", url=path, headers=headers, body=_dumps(body))
        return BatchPart(method="PATCH", url=path, headers=headers, body=_dumps(body))

    def _update_parts(self, record: OutboundRecord, current: Mapping[str, Any],
                      etag: str | None) -> list[BatchPart]:
        bp = str(current["BusinessPartner"])
        partner_etag = etag or (current.get("__metadata") or {}).get("etag")
        if record.action == "delete":
            return [self._modify(_entity_path(PARTNER_SET, BusinessPartner=bp),
                                 {"IsMarkedForArchiving": True}, partner_etag)]
        fields = {k: v for k, v in record.payload.items()
                  if not k.startswith("__") and not k.startswith("to_") and k != "BusinessPartner"}
        fields[HUB_ID_FIELD] = hub_key(record.hub_id)
        parts = [self._modify(_entity_path(PARTNER_SET, BusinessPartner=bp), fields, partner_etag)]
        addresses = record.payload.get("to_BusinessPartnerAddress") or []
        first = addresses[0] if addresses and isinstance(addresses[0], dict) else None
        address_fields = {k: v for k, v in (first or {}).items()
                          if not k.startswith("__") and not k.startswith("to_")
                          and k not in ("BusinessPartner", "AddressID")}
        existing = (current.get("to_BusinessPartnerAddress") or {})
        existing_list = existing.get("results", []) if isinstance(existing, dict) else existing
        contacts = {nav: _first_item(first, nav) for nav in CONTACT_SETS}
        if existing_list:
            target = existing_list[0]
            address_path = _entity_path(ADDRESS_SET, BusinessPartner=bp, AddressID=str(target["AddressID"]))
            if address_fields:
                parts.append(self._modify(address_path, address_fields, (target.get("__metadata") or {}).get("etag")))
            for nav, values in contacts.items():
                if not values:
                    continue
                rows = _nav_rows(target.get(nav))
                if rows:  # the address's first phone / e-mail, by its own key
                    parts.append(self._modify(_entity_path(
                        CONTACT_SETS[nav], AddressID=str(target["AddressID"]), Person=str(rows[0].get("Person") or ""),
                        OrdinalNumber=str(rows[0].get("OrdinalNumber") or "1")), values, None))
                else:
                    parts.append(BatchPart(method="POST", url=f"{address_path}/{nav}",
                                           headers={"Content-Type": "application/json"}, body=_dumps(values)))
        elif address_fields or any(contacts.values()):
            body = {**address_fields, **{nav: [values] for nav, values in contacts.items() if values}}
            parts.append(BatchPart(method="POST",
                                   url=_entity_path(PARTNER_SET, BusinessPartner=bp)
                                   + "/to_BusinessPartnerAddress",
                                   headers={"Content-Type": "application/json"}, body=_dumps(body)))
        customer = record.payload.get("to_Customer")
        customer_fields = {k: v for k, v in (customer or {}).items()
                           if not k.startswith("__") and not k.startswith("to_") and k != "Customer"}
        customer_id = current.get("Customer")
        if customer_fields and customer_id:
            parts.append(self._modify(_entity_path("A_Customer", Customer=str(customer_id)),
                                      customer_fields, None))
        return parts

    def _run_batch(self, plans: Sequence[_Plan]) -> list[BatchPart]:
        """Send every plan as its own changeset; return each plan's decisive answer."""
        body, content_type = encode_batch([p.parts for p in plans])
        creates = any(p.created for p in plans)

        def parse(response: requests.Response) -> list[list[BatchPart]]:
            if response.status_code != 202:
                error = parse_sap_error(response.content, response.status_code)
                raise PermanentError(f"$batch: HTTP {response.status_code}: {error.message}",
                                     endpoint=self.context.name, status=response.status_code,
                                     code=error.code)
            try:
                return decode_batch(response.content, response.headers.get("Content-Type"))
            except ValueError as exc:
                raise RetryableError(f"$batch: unreadable response: {exc}",
                                     endpoint=self.context.name) from None

        # A replayed $batch with creates could create twice; the host repeats the whole batch
        # instead, and the lookup by BusinessPartnerIDByExtSystem then finds what was created.
        groups: list[list[BatchPart]] = self._request(
            "POST", self.root + "$batch", params=self._params(None), operation="$batch",
            idempotent=not creates, headers={"Content-Type": content_type}, data=body, parse=parse)
        if len(groups) != len(plans):
            raise RetryableError(f"$batch answered {len(groups)} changesets for {len(plans)}",
                                 endpoint=self.context.name)
        answers: list[BatchPart] = []
        for plan, group in zip(plans, groups, strict=True):
            failed = next((g for g in group if g.status >= 400), None)
            if failed is not None:
                answers.append(failed)
                continue
            if plan.created:
                answers.append(group[0])
            else:
                answers.append(group[0] if group else BatchPart(status=204))
        return answers

    def _run_single(self, plan: _Plan) -> BatchPart:
        """Send a plan's operations one by one (no $batch); stop at the first failure."""
        last = BatchPart(status=204)
        for part in plan.parts:
            url = self.root + part.url
            response = self._request(part.method, url, params=self._params(None), operation=(
                "create business partner" if plan.created else "update business partner"),
                idempotent=part.method != "POST", headers=part.headers, data=part.body)
            last = BatchPart(status=response.status_code, headers=dict(response.headers),
                             body=response.content)
            if response.status_code >= 400:
                return last
            if plan.created:
                return last
        return last

    def _result(self, plan: _Plan, answer: BatchPart) -> WriteResult:
        if answer.status >= 400:
            error = parse_sap_error(answer.body, answer.status)
            kind = ErrorKind.RETRYABLE if answer.status >= 500 or answer.status == 429 else ErrorKind.PERMANENT
            return WriteResult(ok=False, external_id=plan.bp, error=error.message or f"HTTP {answer.status}",
                               error_code=error.code or str(answer.status), kind=kind)
        if plan.created:
            try:
                entity = answer.json()["d"]
            except (ValueError, KeyError, TypeError):
                return WriteResult(ok=False, error="create answered without the new partner",
                                   kind=ErrorKind.RETRYABLE)
            payload = _clean(entity)
            return WriteResult(ok=True, external_id=str(payload.get("BusinessPartner")), created=True,
                               payload=payload)
        return WriteResult(ok=True, external_id=plan.bp, created=False)

    def _retry_stale(self, plan: _Plan) -> WriteResult:
        """412: read the partner again and repeat once with its fresh ETags, else a conflict."""
        bp = str(plan.bp)
        fresh = self._lookup("BusinessPartner", [bp]).get(bp)
        if fresh is None:
            return WriteResult(ok=False, external_id=bp, error=f"business partner {bp} disappeared",
                               error_code="NOT_FOUND", kind=ErrorKind.PERMANENT)
        plan.parts = self._update_parts(plan.record, fresh, None)
        answer = self._run_single(plan)
        if answer.status == 412:
            error = parse_sap_error(answer.body, 412)
            return WriteResult(ok=False, external_id=bp, error=error.message or "ETag mismatch",
                               error_code="412", kind=ErrorKind.CONFLICT, payload=_clean(fresh))
        return self._result(plan, answer)

    def close(self) -> None:
        self.session.close()


def _dumps(body: Mapping[str, Any]) -> bytes:
    return json.dumps(body, ensure_ascii=False, default=str).encode("utf-8")


def _due_before(due: Any, moment: dt.datetime) -> bool:
    try:
        return parse_date(str(due)) < moment
    except ValueError:
        return False


def _field_info(prop: Any, prefix: str) -> FieldInfo:
    sap = "{http://www.sap.com/Protocols/SAPData}"
    edm_type = prop.get("Type", "Edm.String")
    kind = _EDM_TYPES.get(edm_type, "string")
    if edm_type == "Edm.DateTime":
        kind = "date" if prop.get(f"{sap}display-format") == "Date" else "datetime"
    length = prop.get("MaxLength")
    name = prop.get("Name", "")
    return FieldInfo(
        name=prefix + name, type=kind, length=int(length) if length and length.isdigit() else None,
        nillable=prop.get("Nullable", "true") != "false",
        createable=prop.get(f"{sap}creatable", "true") != "false",
        updateable=prop.get(f"{sap}updatable", "true") != "false",
        external_id=name == HUB_ID_FIELD and not prefix,
    )


__all__ = ["SapError", "SapODataConnector", "hub_key", "odata_quote"]
