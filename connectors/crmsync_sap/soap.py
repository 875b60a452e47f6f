"""The ``sap-soap`` connector: SAP A2X customer services (QueryCustomerIn, ManageCustomerIn) over zeep.

It owns the SOAP side of SAP: loading the shipped WSDL (``wsdl/customer.wsdl`` next to this
module, or the customer's own file from option ``wsdl``) strictly and without network access,
binding both services to the configured ``endpoint_url``, reading changed customers with
``FindByElements`` (``LastChangeDateTime`` selection, paged by ``LastReturnedObjectID``), writing
them with ``MaintainBundle_V1`` (``actionCode`` 04 save, ``ChangeStateID`` locking, the hub id in
``ExternalID`` so a repeated bundle creates nothing twice) and turning SOAP faults, HTTP failures
and ``Log`` items into crmsync's classified errors and per-record results.

Options (``options:`` of the endpoint in crmsync.yaml):

============================  ================================================================
``endpoint_url``              URL of both services (or ``query_endpoint_url`` / ``manage_endpoint_url``)
``wsdl`` / ``manage_wsdl``    a local WSDL file instead of the shipped one (``manage_wsdl`` defaults to ``wsdl``)
``query_binding``             binding QName, default ``{http://sap.com/xi/A1S/Global}QueryCustomerInBinding``
``manage_binding``            binding QName, default ``{http://sap.com/xi/A1S/Global}ManageCustomerInBinding``
``username`` / ``password``   HTTP basic auth of the communication user
``client_cert`` / ``client_key``  client certificate (PEM files) instead of a password
``verify``                    TLS verification: true (default), false, or a CA bundle path
``page_size``                 query hits per page (default 500)
``batch_size``                customers per MaintainBundle call (default 100)
``settle_seconds``            a read ends this many seconds before now (default 5; see read_changes)
============================  ================================================================
"""

from __future__ import annotations

import copy
import datetime as dt
import functools
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import requests
from lxml import etree

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
    ConnectorError,
    ErrorKind,
    PermanentError,
    RateLimitedError,
    RetryableError,
)
from crmsync.http import new_session
from crmsync.retry import call, parse_retry_after

log = logging.getLogger(__name__)

SHIPPED_WSDL = Path(__file__).parent / "wsdl" / "customer.wsdl"
SERVICE_NS = "http://sap.com/xi/A1S/Global"
QUERY_BINDING = f"{{{SERVICE_NS}}}QueryCustomerInBinding"
MANAGE_BINDING = f"{{{SERVICE_NS}}}ManageCustomerInBinding"

SAVE = "04"
DELETE_ACTION = "03"
ERROR_SEVERITY = "3"
# Log item TypeIDs that mean "someone changed it since you read it" (the fake's, and SAP's wording).
_CONFLICT_TYPES = frozenset({"CHANGE_STATE_ID_MISMATCH"})
_CONFLICT_WORDS = ("changed in the meantime", "changestateid")
_NOT_FOUND_TYPES = frozenset({"CUSTOMER_NOT_FOUND"})
# Elements SAP maintains itself; sending them back in a bundle is rejected or ignored.
_READ_ONLY = ("UUID", "InternalID", "ChangeStateID", "CreationDateTime", "LastChangeDateTime")
_TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def _quiet_zeep_transport_log() -> None:
    # zeep.transports logs whole envelopes at DEBUG, WS-Security passwords included: never below INFO.
    transport_log = logging.getLogger("zeep.transports")
    if transport_log.level < logging.INFO:
        transport_log.setLevel(logging.INFO)


class SapSoapConnector(Connector):
    """SAP customers through the A2X SOAP services QueryCustomerIn and ManageCustomerIn."""

    name: ClassVar[str] = "sap-soap"
    hub_id_field = "ExternalID"
    objects: ClassVar[tuple[str, ...]] = ("Customer",)
    key_field: ClassVar[str] = "InternalID"
    cursor_field: ClassVar[str | None] = "LastChangeDateTime"
    capabilities: ClassVar[frozenset[str]] = frozenset({READ, WRITE, DELETE})
    batch_size: int = 100

    def __init__(self, context: EndpointContext) -> None:
        super().__init__(context)
        options = context.options
        endpoint = options.get("endpoint_url")
        self._query_url = str(options.get("query_endpoint_url") or endpoint or "")
        self._manage_url = str(options.get("manage_endpoint_url") or endpoint or "")
        if not self._query_url or not self._manage_url:
            raise ConfigError("sap-soap needs endpoint_url (or query_endpoint_url and manage_endpoint_url)",
                              path=f"endpoints.{context.name}.options")
        self._query_wsdl = self._wsdl_path(options.get("wsdl"))
        self._manage_wsdl = self._wsdl_path(options.get("manage_wsdl") or options.get("wsdl"))
        self._query_binding = str(options.get("query_binding") or QUERY_BINDING)
        self._manage_binding = str(options.get("manage_binding") or MANAGE_BINDING)
        self.page_size = self._positive_int(options, "page_size", 500)
        self.settle_seconds = self._seconds(options, "settle_seconds", 5.0)
        """How far behind now a read stops: covers clock skew and in-flight SAP transactions."""
        self.clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)
        """Injected by tests."""
        self.write_batch_size = self._positive_int(options, "batch_size", type(self).batch_size)
        self._session = self._build_session(options)
        self._services: dict[str, Any] = {}
        self._clients: dict[Path, Any] = {}
        _quiet_zeep_transport_log()

    def __repr__(self) -> str:
        return f"SapSoapConnector(endpoint={self.context.name!r}, url={self._query_url!r})"

    # -- configuration ------------------------------------------------------------------
    def _wsdl_path(self, value: Any) -> Path:
        if not value:
            return SHIPPED_WSDL
        text = str(value)
        if "://" in text:
            raise ConfigError("wsdl must be a local file (download it from SOAMANAGER / the communication "
                              "arrangement); crmsync never loads a WSDL over the network",
                              path=f"endpoints.{self.context.name}.options.wsdl")
        path = Path(text).expanduser()
        if not path.is_file():
            raise ConfigError(f"WSDL file not found: {path}", path=f"endpoints.{self.context.name}.options.wsdl")
        return path

    def _positive_int(self, options: Mapping[str, Any], key: str, default: int) -> int:
        try:
            value = int(options.get(key, default))
        except (TypeError, ValueError):
            value = 0
        if value < 1:
            raise ConfigError(f"{key} must be a positive integer", path=f"endpoints.{self.context.name}.options.{key}")
        return value

    def _seconds(self, options: Mapping[str, Any], key: str, default: float) -> float:
        try:
            value = float(options.get(key, default))
        except (TypeError, ValueError):
            value = -1.0
        if not 0 <= value < 86400:
            raise ConfigError(f"{key} must be a number of seconds between 0 and 86400",
                              path=f"endpoints.{self.context.name}.options.{key}")
        return value

    def _build_session(self, options: Mapping[str, Any]) -> requests.Session:
        verify = options.get("verify", True)
        session = new_session(self.context.retry.timeout, verify=verify if isinstance(verify, bool) else str(verify))
        if options.get("client_cert"):
            cert = str(options["client_cert"])
            session.cert = (cert, str(options["client_key"])) if options.get("client_key") else cert
        elif options.get("username"):
            session.auth = requests.auth.HTTPBasicAuth(str(options["username"]), str(options.get("password") or ""))
        return session

    def _service(self, which: str) -> Any:
        """The zeep ServiceProxy for ``query`` or ``manage``, built on first use."""
        if which not in self._services:
            wsdl, binding, url = ((self._query_wsdl, self._query_binding, self._query_url) if which == "query"
                                  else (self._manage_wsdl, self._manage_binding, self._manage_url))
            client = self._client(wsdl)
            try:
                self._services[which] = client.create_service(binding, url)
            except (ValueError, LookupError) as exc:
                raise ConfigError(f"binding {binding} not found in {wsdl}: {exc}",
                                  path=f"endpoints.{self.context.name}.options.{which}_binding") from exc
        return self._services[which]

    def _client(self, wsdl: Path) -> Any:
        if wsdl not in self._clients:
            import zeep  # lazy: zeep is heavy and only this connector needs it

            settings = zeep.Settings(strict=True, forbid_dtd=True, forbid_entities=True, forbid_external=True)
            transport = _transport_class()(self, session=self._session, timeout=self.context.retry.timeout,
                                              operation_timeout=self.context.retry.timeout)
            try:
                self._clients[wsdl] = zeep.Client(  # type: ignore[no-untyped-call]
                    wsdl=str(wsdl), transport=transport, settings=settings)
            except (zeep.exceptions.Error, etree.XMLSyntaxError, OSError) as exc:
                raise ConfigError(f"cannot load WSDL: {exc}", file=str(wsdl)) from exc
        return self._clients[wsdl]

    # -- remote calls ---------------------------------------------------------------------
    def _call(self, which: str, operation: str, *, idempotent: bool = True, **body: Any) -> Any:
        service = self._service(which)

        def attempt() -> Any:
            try:
                return getattr(service, operation)(**body)
            except ConnectorError:
                raise
            except requests.RequestException:
                raise  # crmsync.retry classifies connection problems itself
            except Exception as exc:
                raise _translate(exc, operation, self.context.name) from exc

        return call(attempt, self.context.retry, endpoint=self.context.name, operation=operation,
                    idempotent=idempotent, classifier=self.context.classifier)

    # -- read -------------------------------------------------------------------------------
    def read_changes(self, since: Cursor | None) -> Iterator[RawRecord]:
        """Customers changed at or after ``since`` (the tie-break on id drops the ones before it).

        SAP pages in object-id order, not in change order, so one read collects every page of its
        selection before yielding in (LastChangeDateTime, InternalID) order. The selection ends
        ``settle_seconds`` before now, at a whole second: a customer changed while the pages are
        being fetched falls after that end and is read by the next run, never skipped behind a
        cursor that has already moved past its new change time.
        """
        from zeep.helpers import serialize_object

        until = (self.clock() - dt.timedelta(seconds=self.settle_seconds)).replace(microsecond=0)
        row: dict[str, Any] = {"InclusionExclusionCode": "I", "UpperBoundaryDateTime": until}
        if since is not None:
            # [since, until): (timestamp, id) > since is checked below, ties on the second included
            row.update(IntervalBoundaryTypeCode="2", LowerBoundaryDateTime=_parse_timestamp(since.timestamp))
        else:
            row["IntervalBoundaryTypeCode"] = "6"  # < until
        selection = {"SelectionByLastChangeDateTime": [row]}
        records: list[RawRecord] = []
        last_id: str | None = None
        while True:
            conditions: dict[str, Any] = {"QueryHitsMaximumNumberValue": self.page_size,
                                          "QueryHitsUnlimitedIndicator": False}
            if last_id:
                conditions["LastReturnedObjectID"] = last_id
            response = self._call("query", "FindByElements",
                                  CustomerSelectionByElements=selection, ProcessingConditions=conditions)
            errors = _log_errors(response)
            if errors:
                raise PermanentError("FindByElements failed: " + "; ".join(_note(i) for i in errors),
                                     endpoint=self.context.name, code=errors[0].TypeID)
            for customer in response.Customer or []:
                payload = _plain(serialize_object(customer, dict))  # type: ignore[no-untyped-call]
                record = self._raw_record(payload)
                if since is None or (record.cursor is not None and record.cursor > since):
                    records.append(record)
            processing = response.ProcessingConditions
            if processing is None or not processing.MoreHitsAvailableIndicator:
                break
            next_id = processing.LastReturnedObjectID
            if not next_id or next_id == last_id:
                raise PermanentError("FindByElements says more hits are available but gives no new "
                                     "LastReturnedObjectID; cannot page on", endpoint=self.context.name)
            last_id = next_id
        records.sort(key=lambda r: r.cursor or Cursor(""))
        yield from records

    def _raw_record(self, payload: dict[str, Any]) -> RawRecord:
        internal_id = str(payload.get("InternalID") or "")
        changed = payload.get("LastChangeDateTime") or payload.get("CreationDateTime") or ""
        timestamp = _cursor_timestamp(changed) if changed else ""
        return RawRecord(
            external_id=internal_id,
            payload=payload,
            cursor=Cursor(timestamp, internal_id),
            deleted=payload.get("LifeCycleStatusCode") == "3",  # obsolete: SAP's way of retiring a customer
        )

    # -- write --------------------------------------------------------------------------------
    def write_batch(self, records: Sequence[OutboundRecord]) -> list[WriteResult]:
        """Save ``records`` with MaintainBundle_V1, ``batch_size`` customers per call."""
        results: list[WriteResult] = []
        for start in range(0, len(records), self.write_batch_size):
            results.extend(self._write_bundle(records[start:start + self.write_batch_size]))
        return results

    def _write_bundle(self, records: Sequence[OutboundRecord]) -> list[WriteResult]:
        results: list[WriteResult | None] = [None] * len(records)
        items: list[dict[str, Any]] = []
        sent: dict[str, int] = {}
        service = self._service("manage")
        client = self._client(self._manage_wsdl)
        for index, record in enumerate(records):
            if record.action == "delete" and not record.external_id:
                results[index] = WriteResult(ok=True, external_id=None)  # never reached SAP: nothing to delete
                continue
            tech_id = str(index + 1)
            item = self._bundle_item(record, tech_id)
            try:
                # Render alone first, so one malformed payload is one rejected record, not a failed bundle.
                client.create_message(service, "MaintainBundle_V1", Customer=[item])
            except (TypeError, ValueError, AttributeError) as exc:
                # zeep appends the whole type signature; the first sentence names the bad field.
                message = str(exc).split(". Signature:", 1)[0]
                results[index] = WriteResult(ok=False, external_id=record.external_id, error=message,
                                             error_code="INVALID_PAYLOAD", kind=ErrorKind.PERMANENT)
                continue
            except Exception as exc:  # zeep.exceptions.ValidationError and friends
                results[index] = WriteResult(ok=False, external_id=record.external_id, error=str(exc),
                                             error_code=type(exc).__name__, kind=ErrorKind.PERMANENT)
                continue
            items.append(item)
            sent[tech_id] = index
        if items:
            # Repeating a bundle is safe: creates are keyed by ExternalID (the hub id), updates by InternalID.
            response = self._call("manage", "MaintainBundle_V1", Customer=items)
            self._map_confirmation(response, records, sent, results)
        return [r if r is not None else WriteResult(ok=False, error="no result", kind=ErrorKind.RETRYABLE)
                for r in results]

    def _bundle_item(self, record: OutboundRecord, tech_id: str) -> dict[str, Any]:
        if record.action == "delete":
            item: dict[str, Any] = {"actionCode": DELETE_ACTION, "ObjectNodeSenderTechnicalID": tech_id,
                    "InternalID": record.external_id}
            if record.etag:
                item["ChangeStateID"] = record.etag
            return item
        payload = copy.deepcopy(dict(record.payload))
        for key in (*_READ_ONLY, "ExternalID", "actionCode", "ObjectNodeSenderTechnicalID"):
            payload.pop(key, None)
        item = {"actionCode": SAVE, "ObjectNodeSenderTechnicalID": tech_id}
        if record.external_id:
            item["InternalID"] = record.external_id
            if record.etag:
                item["ChangeStateID"] = record.etag
        item["ExternalID"] = record.hub_id
        item.update(payload)
        return item

    def _map_confirmation(self, response: Any, records: Sequence[OutboundRecord], sent: dict[str, int],
                          results: list[WriteResult | None]) -> None:
        confirmed = {c.ReferenceObjectNodeSenderTechnicalID: c for c in (response.Customer or [])}
        errors: dict[str | None, list[Any]] = {}
        for item in _log_errors(response):
            errors.setdefault(item.ReferenceObjectNodeSenderTechnicalID, []).append(item)
        general = "; ".join(_note(i) for i in errors.get(None, []))
        for tech_id, index in sent.items():
            record = records[index]
            own = errors.get(tech_id, [])
            if own and record.action == "delete" and all(i.TypeID in _NOT_FOUND_TYPES for i in own):
                results[index] = WriteResult(ok=True, external_id=record.external_id)  # already gone
            elif own:
                conflict = any(_is_conflict(i) for i in own)
                results[index] = WriteResult(
                    ok=False, external_id=record.external_id, error="; ".join(_note(i) for i in own),
                    error_code=own[0].TypeID or "SAP_LOG_ERROR",
                    kind=ErrorKind.CONFLICT if conflict else ErrorKind.PERMANENT)
            elif tech_id in confirmed:
                confirmation = confirmed[tech_id]
                results[index] = WriteResult(
                    ok=True, external_id=confirmation.InternalID or record.external_id,
                    created=record.external_id is None and record.action != "delete")
            else:
                # Not confirmed and no own error: SAP rejected the bundle because of another item.
                reason = general or "; ".join(_note(i) for items in errors.values() for i in items)
                results[index] = WriteResult(
                    ok=False, external_id=record.external_id, error_code="NOT_PROCESSED",
                    error=f"not saved: the bundle was rejected ({reason or 'no confirmation returned'})",
                    kind=ErrorKind.RETRYABLE)

    # -- describe ---------------------------------------------------------------------------
    def describe(self) -> dict[str, FieldInfo]:
        """The customer fields of the shipped XSD, by payload path."""
        return dict(_FIELDS)

    def close(self) -> None:
        self._session.close()


@functools.cache
def _transport_class() -> type:
    from zeep.transports import Transport

    class ClassifyingTransport(Transport):
        """Counts API calls and turns HTTP failures into crmsync errors before zeep parses them."""

        def __init__(self, connector: SapSoapConnector, **kwargs: Any) -> None:
            # zeep puts its own User-Agent on the shared session; crmsync's is the one servers should log.
            user_agent = kwargs["session"].headers.get("User-Agent")
            super().__init__(**kwargs)  # type: ignore[no-untyped-call]
            self.connector = connector
            if user_agent:
                self.session.headers["User-Agent"] = user_agent

        def load(self, url: str) -> bytes:
            if "://" in url and not url.startswith("file://"):
                raise ConfigError(f"the WSDL refers to {url}: crmsync loads no WSDL or XSD over the network")
            return super().load(url)  # type: ignore[no-untyped-call,no-any-return]

        def post(self, address: str, message: Any, headers: Any) -> requests.Response:
            self.connector.context.api_calls += 1
            response: requests.Response = super().post(address, message, headers)  # type: ignore[no-untyped-call]
            _raise_for_status(response, self.connector.context.name)
            return response

    return ClassifyingTransport


def _raise_for_status(response: requests.Response, endpoint: str) -> None:
    status = response.status_code
    if status < 400:
        return
    if status in (401, 403):
        raise AuthError(f"SAP refused the credentials (HTTP {status})", endpoint=endpoint, status=status)
    if status == 429:
        raise RateLimitedError("SAP asks to slow down (HTTP 429)", endpoint=endpoint, status=status,
                               retry_after=parse_retry_after(response.headers.get("Retry-After")))
    content_type = response.headers.get("Content-Type", "")
    if status == 500 and "xml" in content_type and b"Fault" in response.content:
        return  # a SOAP fault: zeep parses it and raises zeep.exceptions.Fault
    if status >= 500:
        raise RetryableError(f"SAP answered HTTP {status}", endpoint=endpoint, status=status,
                             retry_after=parse_retry_after(response.headers.get("Retry-After")))
    raise PermanentError(f"SAP answered HTTP {status}", endpoint=endpoint, status=status)


def _translate(exc: Exception, operation: str, endpoint: str) -> ConnectorError:
    """A zeep / lxml failure as a classified crmsync error."""
    from zeep import exceptions as zx

    if isinstance(exc, zx.Fault):
        return PermanentError(f"{operation}: SOAP fault {exc.code or ''}: {_fault_text(exc)}".replace("  ", " "),
                              endpoint=endpoint, code=str(exc.code or "Fault"))
    if isinstance(exc, zx.DTDForbidden | zx.EntitiesForbidden | zx.ExternalReferenceForbidden):
        return PermanentError(f"{operation}: refused the response: it declares a DTD or entities "
                              f"(possible XML entity expansion / XXE attack): {type(exc).__name__}",
                              endpoint=endpoint, code="XML_FORBIDDEN")
    if isinstance(exc, zx.TransportError):
        status = exc.status_code or 0
        if status in (401, 403):
            return AuthError(f"{operation}: SAP refused the credentials (HTTP {status})", endpoint=endpoint,
                             status=status)
        if status >= 500 or "invalid XML" in str(exc.message):
            return RetryableError(f"{operation}: broken response (HTTP {status}): invalid XML", endpoint=endpoint,
                                  status=status)
        return PermanentError(f"{operation}: HTTP {status}", endpoint=endpoint, status=status)
    if isinstance(exc, zx.XMLSyntaxError | etree.XMLSyntaxError):
        return RetryableError(f"{operation}: broken XML response: {exc}", endpoint=endpoint)
    if isinstance(exc, zx.XMLParseError | zx.UnexpectedElementError):
        return PermanentError(f"{operation}: the response does not match the WSDL: {exc}", endpoint=endpoint,
                              code="SCHEMA_MISMATCH")
    if isinstance(exc, zx.ValidationError | TypeError | ValueError):
        return PermanentError(f"{operation}: the request does not match the WSDL: {exc}", endpoint=endpoint,
                              code="INVALID_REQUEST")
    return PermanentError(f"{operation}: {type(exc).__name__}: {exc}", endpoint=endpoint)


def _fault_text(fault: Any) -> str:
    texts = [str(fault.message or "").strip()]
    detail = fault.detail
    if detail is not None:
        for element in detail.iter():
            if isinstance(element.tag, str) and etree.QName(element).localname in ("faultText", "text"):
                text = (element.text or "").strip()
                if text and text not in texts:
                    texts.append(text)
    return "; ".join(t for t in texts if t)


def _log_errors(response: Any) -> list[Any]:
    log_ = getattr(response, "Log", None)
    return [i for i in (log_.Item or [] if log_ is not None else []) if str(i.SeverityCode) == ERROR_SEVERITY]


def _note(item: Any) -> str:
    return str(item.Note or item.TypeID or "error")


def _is_conflict(item: Any) -> bool:
    note = str(item.Note or "").lower()
    return item.TypeID in _CONFLICT_TYPES or any(word in note for word in _CONFLICT_WORDS)


def _plain(value: Any) -> Any:
    """zeep's serialised value as JSON-ready plain data: no None, datetimes as ISO strings in UTC."""
    if isinstance(value, dict):
        result = {k: _plain(v) for k, v in value.items() if v is not None and v != []}
        return {k: v for k, v in result.items() if v is not None}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dt.datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
        moment = moment.astimezone(dt.UTC)
        return moment.strftime("%Y-%m-%dT%H:%M:%S" + (".%f" if moment.microsecond else "") + "Z")
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def _parse_timestamp(text: str) -> dt.datetime:
    moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return (moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)).astimezone(dt.UTC)


def _cursor_timestamp(text: str) -> str:
    # Whole seconds in one fixed format, so string order is time order for every cursor.
    return _parse_timestamp(text).strftime(_TIMESTAMP_FORMAT)


_FIELDS: dict[str, FieldInfo] = {
    info.name: info for info in (
        FieldInfo("InternalID", length=10, nillable=False, createable=False, updateable=False),
        FieldInfo("UUID", createable=False, updateable=False),
        FieldInfo("ExternalID", length=70, external_id=True),
        FieldInfo("CategoryCode", picklist=("1", "2"), nillable=False),
        FieldInfo("LifeCycleStatusCode", picklist=("1", "2", "3")),
        FieldInfo("ChangeStateID", createable=False, updateable=False),
        FieldInfo("Organisation.FirstLineName", length=40),
        FieldInfo("Organisation.SecondLineName", length=40),
        FieldInfo("Person.GivenName", length=40),
        FieldInfo("Person.FamilyName", length=40),
        FieldInfo("BlockedIndicator", type="boolean"),
        FieldInfo("AddressInformation[0].Address.EmailURI", length=255),
        FieldInfo("AddressInformation[0].Address.PhoneNumber", length=40),
        FieldInfo("AddressInformation[0].Address.PostalAddress.CountryCode", length=3),
        FieldInfo("AddressInformation[0].Address.PostalAddress.CityName", length=40),
        FieldInfo("AddressInformation[0].Address.PostalAddress.StreetPostalCode", length=40),
        FieldInfo("AddressInformation[0].Address.PostalAddress.StreetName", length=40),
        FieldInfo("AddressInformation[0].Address.PostalAddress.HouseID", length=40),
        FieldInfo("VATRegistration.CountryCode", length=3),
        FieldInfo("VATRegistration.TaxID", length=40),
        FieldInfo("CreationDateTime", type="datetime", createable=False, updateable=False),
        FieldInfo("LastChangeDateTime", type="datetime", createable=False, updateable=False),
    )
}

__all__ = ["MANAGE_BINDING", "QUERY_BINDING", "SHIPPED_WSDL", "SapSoapConnector"]
