"""The fake SAP SOAP customer service: QueryCustomerIn and ManageCustomerIn on loopback HTTP.

:class:`FakeSapSoap` answers the two A2X operations the ``sap-soap`` connector calls, with the
shipped WSDL/XSD as its contract: it serves the WSDL at ``ENDPOINT?wsdl`` (address rewritten to
itself, schema at ``ENDPOINT?xsd=customer.xsd``), checks HTTP basic auth, parses requests safely
(no DTD, no entities, no network) and validates them against the XSD (SOAP Fault ``Client`` when
they do not conform), reports business errors as ``Log`` items with ``SeverityCode`` 3 (missing
name, stale ``ChangeStateID``, unknown ``InternalID``), keeps ``ChangeStateID`` and
``LastChangeDateTime`` up to date on writes, and treats an ``04`` save whose ``ExternalID`` it
already knows as an update of that customer (so a repeated bundle creates nothing twice).

Queries page like SAP: results in ``InternalID`` order, ``LastReturnedObjectID`` continues after
the last returned id. Fault switches (5xx, drops, truncation, crafted bodies) come from
:class:`crmsync.testing.FakeServer`. ``fake_soap_command`` is the ``crmsync fake-server sap-soap``
command.
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import hmac
import json
import random
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import click
from lxml import etree

from crmsync.testing import FakeRequest, FakeResponse, FakeServer, serve_until_stopped

WSDL_DIR = Path(__file__).parent / "wsdl"
WSDL_FILE = WSDL_DIR / "customer.wsdl"
XSD_FILE = WSDL_DIR / "customer.xsd"

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
N0 = "http://sap.com/xi/SAPGlobal20/Global"
ENDPOINT_PATH = "/sap/bc/srt/scs/sap/customerservice"

CHANGE_STATE_MISMATCH = "CHANGE_STATE_ID_MISMATCH"
"""``TypeID`` of the Log item for a stale ``ChangeStateID`` (the connector maps it to a conflict)."""
NOT_FOUND = "CUSTOMER_NOT_FOUND"
NAME_MISSING = "CUSTOMER_NAME_MISSING"
ALREADY_EXISTS = "CUSTOMER_ALREADY_EXISTS"

# Child order of every structured element, as the XSD sequences require.
_ORDER: dict[str, tuple[str, ...]] = {
    "Customer": (
        "UUID", "InternalID", "ExternalID", "CategoryCode", "LifeCycleStatusCode", "ChangeStateID",
        "Organisation", "Person", "BlockedIndicator", "AddressInformation", "VATRegistration",
        "CreationDateTime", "LastChangeDateTime",
    ),
    "Organisation": ("FirstLineName", "SecondLineName"),
    "Person": ("GivenName", "FamilyName"),
    "AddressInformation": ("UUID", "Address"),
    "Address": ("EmailURI", "PhoneNumber", "PostalAddress"),
    "PostalAddress": ("CountryCode", "CityName", "StreetPostalCode", "StreetName", "HouseID"),
    "VATRegistration": ("CountryCode", "TaxID"),
}
_REPEATED = frozenset({"Customer", "AddressInformation", "SelectionByInternalID",
                       "SelectionByLastChangeDateTime", "Item"})
_READ_ONLY = frozenset({"UUID", "InternalID", "ChangeStateID", "CreationDateTime", "LastChangeDateTime"})

# Names that exercise quoting, accents, right-to-left-free non-Latin scripts and long values.
_ORG_NAMES = (
    "O'Brien & Sons Ltd", "Zoë Ingénierie SARL", "北京科技有限公司", "Müller Maschinenbau GmbH",
    "D'Angelo Trasporti S.p.A.", "Søren Ødegård AS", "株式会社さくら商事", "Café del Mar S.L.",
    "Łódź Logistics Sp. z o.o.", "Acme Corp", "Ünal Tekstil A.Ş.", "São Paulo Comércio Ltda",
)
_GIVEN = ("Seán", "Zoë", "José", "Anaïs", "Jürgen", "明", "Ólafur", "Renée", "Chloé", "Björn")
_FAMILY = ("O'Neill", "Ångström", "Nuñez", "D'Arcy", "王", "Schäfer", "Lefèvre", "Kowalczyk", "Smith")
_CITIES = (("DE", "Berlin"), ("FR", "Paris"), ("IE", "Dublin"), ("CN", "北京"), ("JP", "東京"),
           ("ES", "Málaga"), ("BR", "São Paulo"), ("PL", "Łódź"), ("US", "New York"))
_STREETS = ("Hauptstraße", "Rue de l'Église", "O'Connell Street", "长安街", "Calle Mayor", "Main Street")


def utc_iso(moment: dt.datetime) -> str:
    """The fixed ISO form the fake stores and answers: ``2026-11-23T10:00:00Z``."""
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_datetime(text: str) -> dt.datetime:
    moment = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    if moment.tzinfo is None:  # xsd:dateTime without a zone: SAP reads it as UTC
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC)


def generate_customers(count: int, seed: int) -> list[dict[str, Any]]:
    """``count`` deterministic customers in the XSD's shape, ids not in change-time order.

    Every fifth customer shares the previous one's ``LastChangeDateTime`` so that readers must
    tie-break on the id.
    """
    rng = random.Random(seed)
    base = dt.datetime(2026, 1, 5, 8, 0, tzinfo=dt.UTC)
    stamps: list[dt.datetime] = []
    for index in range(count):
        if index % 5 == 4:
            stamps.append(stamps[-1])
        else:
            stamps.append(base + dt.timedelta(minutes=37 * index, seconds=rng.randrange(60)))
    # Ids are handed out in a shuffled order, as in a real system where old customers change late.
    order = list(range(count))
    rng.shuffle(order)
    customers: list[dict[str, Any]] = []
    for index in range(count):
        internal_id = str(1000001 + order[index])
        country, city = rng.choice(_CITIES)
        person = index % 4 == 3
        customer: dict[str, Any] = {
            "UUID": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "InternalID": internal_id,
            "CategoryCode": "1" if person else "2",
            "LifeCycleStatusCode": "2",
        }
        if person:
            customer["Person"] = {"GivenName": rng.choice(_GIVEN), "FamilyName": rng.choice(_FAMILY)}
        else:
            customer["Organisation"] = {"FirstLineName": _ORG_NAMES[index % len(_ORG_NAMES)]}
        customer["BlockedIndicator"] = index % 11 == 10
        customer["AddressInformation"] = [{
            "UUID": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "Address": {
                "EmailURI": f"contact{index}@example.com",
                "PhoneNumber": f"+49 30 {rng.randrange(1000000, 9999999)}",
                "PostalAddress": {
                    "CountryCode": country,
                    "CityName": city,
                    "StreetPostalCode": f"{rng.randrange(10000, 99999)}",
                    "StreetName": rng.choice(_STREETS),
                    "HouseID": str(rng.randrange(1, 200)),
                },
            },
        }]
        if not person:
            customer["VATRegistration"] = {"CountryCode": country, "TaxID": f"{country}{rng.randrange(10**8, 10**9)}"}
        customer["CreationDateTime"] = utc_iso(stamps[index] - dt.timedelta(days=30))
        customer["LastChangeDateTime"] = utc_iso(stamps[index])
        customers.append(customer)
    return customers


class FakeSapSoap(FakeServer):
    """An SAP A2X customer service (QueryCustomerIn + ManageCustomerIn) on 127.0.0.1."""

    name = "sap-soap"

    def __init__(
        self,
        port: int = 0,
        *,
        records: int = 20,
        seed: int = 1,
        data: Iterable[dict[str, Any]] | None = None,
        username: str = "CRMSYNC_COMM",
        password: str = "fake-Secret-1",  # noqa: S107 - a fake's well-known credential
        max_page: int = 1000,
        clock: Callable[[], dt.datetime] | None = None,
    ) -> None:
        super().__init__(port)
        self.username = username
        self.password = password
        self.max_page = max_page
        """The server's own cap on hits per page, whatever the client asks."""
        self.clock = clock or (lambda: dt.datetime.now(dt.UTC))
        self.customers: dict[str, dict[str, Any]] = {}
        self._change_counter = 0
        self._next_id = 1000001
        self._schema = etree.XMLSchema(etree.parse(str(XSD_FILE), _safe_parser()))
        for customer in (generate_customers(records, seed) if data is None else data):
            self._store(copy.deepcopy(customer))
        self.calls: dict[str, int] = {"FindByElements": 0, "MaintainBundle_V1": 0}

    # -- public helpers ------------------------------------------------------------------
    @property
    def endpoint(self) -> str:
        return self.base_url + ENDPOINT_PATH

    def info(self) -> dict[str, Any]:
        return {"url": self.endpoint, "wsdl": self.endpoint + "?wsdl",
                "username": self.username, "password": self.password}

    def dump_state(self) -> Any:
        return {"customers": sorted(self.customers.values(), key=lambda c: c["InternalID"]),
                "calls": dict(self.calls)}

    def by_external_id(self, external_id: str) -> list[dict[str, Any]]:
        """Customers carrying ``external_id`` (more than one would be a duplicate)."""
        return [c for c in self.customers.values() if c.get("ExternalID") == external_id]

    def touch(self, internal_id: str) -> dict[str, Any]:
        """Change a customer as an SAP user would (new ChangeStateID and LastChangeDateTime)."""
        with self.lock:
            customer = self.customers[internal_id]
            self._stamp(customer)
            return customer

    # -- HTTP ------------------------------------------------------------------------------
    def handle(self, request: FakeRequest) -> FakeResponse:
        if request.path != ENDPOINT_PATH:
            return FakeResponse(404, b"Not found", {"Content-Type": "text/plain"})
        if not self._authorised(request):
            return FakeResponse(401, b"<html><body>Logon failed</body></html>",
                                {"Content-Type": "text/html", "WWW-Authenticate": 'Basic realm="SAP NetWeaver"'})
        if request.method == "GET":
            if "wsdl" in request.query:
                return self._wsdl()
            if request.query.get("xsd") == "customer.xsd":
                return FakeResponse(200, XSD_FILE.read_bytes(), {"Content-Type": "text/xml; charset=utf-8"})
            return FakeResponse(404, b"Not found", {"Content-Type": "text/plain"})
        if request.method != "POST":
            return FakeResponse(405, b"Method not allowed", {"Allow": "GET, POST"})
        return self._soap(request.body)

    def _authorised(self, request: FakeRequest) -> bool:
        header = request.header("authorization") or ""
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user, _, password = base64.b64decode(value, validate=True).decode("utf-8").partition(":")
        except (ValueError, UnicodeDecodeError):
            return False
        return hmac.compare_digest(user, self.username) and hmac.compare_digest(password, self.password)

    def _wsdl(self) -> FakeResponse:
        text = WSDL_FILE.read_text("utf-8")
        text = text.replace('schemaLocation="customer.xsd"',
                            f'schemaLocation="{escape(self.endpoint)}?xsd=customer.xsd"')
        for service in ("querycustomerin1", "managecustomerin1"):
            text = text.replace(f"https://sap.invalid/sap/bc/srt/scs/sap/{service}", escape(self.endpoint))
        return FakeResponse(200, text.encode("utf-8"), {"Content-Type": "text/xml; charset=utf-8"})

    def _soap(self, body: bytes) -> FakeResponse:
        try:
            document = etree.fromstring(body, _safe_parser())
        except etree.XMLSyntaxError as exc:
            return _fault("Client", f"Request is not well-formed XML: {exc}")
        docinfo = document.getroottree().docinfo
        if docinfo.doctype or docinfo.internalDTD is not None:
            return _fault("Client", "DTDs are not allowed in SOAP messages")
        if document.tag != f"{{{SOAP_ENV}}}Envelope":
            return _fault("Client", f"Root element is not a SOAP 1.1 Envelope: {document.tag}")
        soap_body = document.find(f"{{{SOAP_ENV}}}Body")
        if soap_body is None or len(soap_body) == 0:
            return _fault("Client", "SOAP Body is missing or empty")
        message = soap_body[0]
        if not self._schema.validate(message):
            error = self._schema.error_log.last_error
            return _fault("Client", f"Request does not conform to the service schema: {error.message} "
                                    f"(line {error.line})")
        if message.tag == f"{{{N0}}}CustomerByElementsQuery_sync":
            self.calls["FindByElements"] += 1
            return self._respond(self._query(message))
        if message.tag == f"{{{N0}}}CustomerBundleMaintainRequest_sync_V1":
            self.calls["MaintainBundle_V1"] += 1
            return self._respond(self._maintain(message))
        return _fault("Client", f"No operation for message {etree.QName(message).localname}")

    def _respond(self, message: etree._Element) -> FakeResponse:
        # Answers are checked against the same XSD: a fake that drifts from the contract fails loudly.
        if not self._schema.validate(message):
            raise AssertionError(f"fake answer breaks the XSD: {self._schema.error_log.last_error}")
        envelope = etree.Element(f"{{{SOAP_ENV}}}Envelope", nsmap={"soap-env": SOAP_ENV})
        etree.SubElement(envelope, f"{{{SOAP_ENV}}}Header")
        etree.SubElement(envelope, f"{{{SOAP_ENV}}}Body").append(message)
        return FakeResponse(200, etree.tostring(envelope, xml_declaration=True, encoding="utf-8"),
                            {"Content-Type": "text/xml; charset=utf-8"})

    # -- QueryCustomerIn.FindByElements ----------------------------------------------------
    def _query(self, message: etree._Element) -> etree._Element:
        request = _to_dict(message)
        selection = request.get("CustomerSelectionByElements") or {}
        conditions = request.get("ProcessingConditions") or {}
        by_id = selection.get("SelectionByInternalID", [])
        by_time = selection.get("SelectionByLastChangeDateTime", [])
        hits = [
            c for c in sorted(self.customers.values(), key=lambda c: c["InternalID"])
            if _selected(c["InternalID"], by_id, str) and _selected(c["LastChangeDateTime"], by_time, _parse_datetime)
        ]
        after = conditions.get("LastReturnedObjectID")
        if after:
            hits = [c for c in hits if c["InternalID"] > after]
        unlimited = conditions.get("QueryHitsUnlimitedIndicator") == "true"
        limit = int(conditions.get("QueryHitsMaximumNumberValue") or 100)
        limit = min(max(limit, 1), self.max_page) if not unlimited else len(hits)
        page, more = hits[:limit], len(hits) > limit
        answer = etree.Element(f"{{{N0}}}CustomerByElementsResponse_sync", nsmap={"n0": N0})
        for customer in page:
            _append(answer, "Customer", customer)
        processing = etree.SubElement(answer, "ProcessingConditions")
        etree.SubElement(processing, "ReturnedQueryHitsNumberValue").text = str(len(page))
        etree.SubElement(processing, "MoreHitsAvailableIndicator").text = "true" if more else "false"
        if page:
            etree.SubElement(processing, "LastReturnedObjectID").text = page[-1]["InternalID"]
        _log(answer, [])
        return answer

    # -- ManageCustomerIn.MaintainBundle_V1 ------------------------------------------------
    def _maintain(self, message: etree._Element) -> etree._Element:
        answer = etree.Element(f"{{{N0}}}CustomerBundleMaintainConfirmation_sync_V1", nsmap={"n0": N0})
        log_items: list[dict[str, str]] = []
        for element in message.findall("Customer"):
            item = _to_dict(element)
            tech_id = item.pop("ObjectNodeSenderTechnicalID", None)
            action = element.get("actionCode") or "04"
            try:
                customer, note = self._apply(action, item)
            except _BusinessError as error:
                log_items.append({"TypeID": error.type_id, "SeverityCode": "3",
                                  "ReferenceObjectNodeSenderTechnicalID": tech_id or "", "Note": str(error)})
                continue
            confirmation = etree.SubElement(answer, "Customer")
            if tech_id:
                etree.SubElement(confirmation, "ReferenceObjectNodeSenderTechnicalID").text = tech_id
            etree.SubElement(confirmation, "ChangeStateID").text = customer["ChangeStateID"]
            etree.SubElement(confirmation, "UUID").text = customer["UUID"]
            etree.SubElement(confirmation, "InternalID").text = customer["InternalID"]
            log_items.append({"TypeID": "CUSTOMER_SAVED", "SeverityCode": "1",
                              "ReferenceObjectNodeSenderTechnicalID": tech_id or "", "Note": note})
        _log(answer, log_items)
        return answer

    def _apply(self, action: str, item: dict[str, Any]) -> tuple[dict[str, Any], str]:
        internal_id = item.get("InternalID")
        external_id = item.get("ExternalID")
        target: dict[str, Any] | None = None
        if internal_id:
            target = self.customers.get(internal_id)
            if target is None and action != "01":
                raise _BusinessError(NOT_FOUND, f"Customer {internal_id} does not exist")
        elif external_id:
            matches = self.by_external_id(external_id)
            target = matches[0] if matches else None
        if action == "06":
            if target is None:
                raise _BusinessError(NOT_FOUND, "Customer does not exist")
            return target, f"Customer {target['InternalID']} unchanged"
        if action == "01" and target is not None:
            raise _BusinessError(ALREADY_EXISTS, f"Customer {target['InternalID']} already exists")
        if action == "02" and target is None:
            raise _BusinessError(NOT_FOUND, "Customer to update does not exist; give InternalID or a known ExternalID")
        state = item.get("ChangeStateID")
        if target is not None and state and state != target["ChangeStateID"]:
            raise _BusinessError(
                CHANGE_STATE_MISMATCH,
                f"Customer {target['InternalID']} was changed in the meantime (ChangeStateID {state} is not "
                f"the current one); read it again",
            )
        if action in ("03", "05"):
            if target is None:
                raise _BusinessError(NOT_FOUND, "Customer to delete does not exist")
            del self.customers[target["InternalID"]]
            return target, f"Customer {target['InternalID']} deleted"
        if target is None:
            customer = self._create(item)
            return customer, f"Customer {customer['InternalID']} created"
        updated = _merge(copy.deepcopy(target), {k: v for k, v in item.items() if k not in _READ_ONLY})
        _check_name(updated)
        self._stamp(updated)
        self.customers[updated["InternalID"]] = updated
        return updated, f"Customer {updated['InternalID']} updated"

    def _create(self, item: dict[str, Any]) -> dict[str, Any]:
        customer = {k: v for k, v in item.items() if k not in _READ_ONLY}
        customer.setdefault("CategoryCode", "1" if "Person" in customer and "Organisation" not in customer else "2")
        customer.setdefault("LifeCycleStatusCode", "2")
        _check_name(customer)
        while str(self._next_id) in self.customers:
            self._next_id += 1
        customer["InternalID"] = str(self._next_id)
        customer["UUID"] = str(uuid.uuid4())
        for address in customer.get("AddressInformation", []):
            address.setdefault("UUID", str(uuid.uuid4()))
        customer["CreationDateTime"] = utc_iso(self.clock())
        self._stamp(customer)
        self.customers[customer["InternalID"]] = customer
        return customer

    def _store(self, customer: dict[str, Any]) -> None:
        customer.setdefault("UUID", str(uuid.uuid4()))
        customer.setdefault("LastChangeDateTime", utc_iso(self.clock()))
        customer["LastChangeDateTime"] = utc_iso(_parse_datetime(customer["LastChangeDateTime"]))
        if "ChangeStateID" not in customer:
            self._change_counter += 1
            stamp = _parse_datetime(customer["LastChangeDateTime"])
            customer["ChangeStateID"] = f"{stamp:%Y%m%d%H%M%S}.{self._change_counter:07d}"
        self.customers[customer["InternalID"]] = customer

    def _stamp(self, customer: dict[str, Any]) -> None:
        now = self.clock()
        self._change_counter += 1
        customer["LastChangeDateTime"] = utc_iso(now)
        customer["ChangeStateID"] = f"{now.astimezone(dt.UTC):%Y%m%d%H%M%S}.{self._change_counter:07d}"


class _BusinessError(Exception):
    def __init__(self, type_id: str, note: str) -> None:
        super().__init__(note)
        self.type_id = type_id


def _safe_parser() -> etree.XMLParser:
    # No entity expansion, no DTD loading, no network, no huge trees: hostile XML stays inert.
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False,
                           remove_comments=True, remove_pis=True)


def _check_name(customer: dict[str, Any]) -> None:
    if customer.get("CategoryCode") == "1":
        name = (customer.get("Person") or {}).get("FamilyName")
        field = "Person/FamilyName"
    else:
        name = (customer.get("Organisation") or {}).get("FirstLineName")
        field = "Organisation/FirstLineName"
    if not name or not str(name).strip():
        raise _BusinessError(NAME_MISSING, f"Name is missing: {field} must not be empty")


def _merge(target: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    for key, value in changes.items():
        if key == "AddressInformation":
            addresses = target.setdefault("AddressInformation", [])
            for index, address in enumerate(value):
                same = [a for a in addresses if address.get("UUID") and a.get("UUID") == address.get("UUID")]
                if same:
                    _merge(same[0], address)
                elif index < len(addresses) and not address.get("UUID"):
                    _merge(addresses[index], address)
                else:
                    address.setdefault("UUID", str(uuid.uuid4()))
                    addresses.append(address)
        elif isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge(target[key], value)
        else:
            target[key] = value
    return target


def _selected(value: Any, rows: list[dict[str, Any]], parse: Callable[[str], Any]) -> bool:
    """SAP selection semantics: rows of one field are ORed (I), then E rows exclude."""
    if not rows:
        return True
    key = parse(value)
    included = [r for r in rows if r.get("InclusionExclusionCode", "I") == "I"]
    excluded = [r for r in rows if r.get("InclusionExclusionCode") == "E"]
    if included and not any(_in_interval(key, r, parse) for r in included):
        return False
    return not any(_in_interval(key, r, parse) for r in excluded)


def _in_interval(key: Any, row: dict[str, Any], parse: Callable[[str], Any]) -> bool:
    code = row["IntervalBoundaryTypeCode"]
    lower_text = next((v for k, v in row.items() if k.startswith("LowerBoundary")), None)
    upper_text = next((v for k, v in row.items() if k.startswith("UpperBoundary")), None)
    lower = parse(lower_text) if lower_text else None
    upper = parse(upper_text) if upper_text else None
    checks: dict[str, Callable[[], bool]] = {
        "1": lambda: key == lower,
        "2": lambda: lower <= key < upper,
        "3": lambda: lower <= key <= upper,
        "4": lambda: lower < key < upper,
        "5": lambda: lower < key <= upper,
        "6": lambda: key < upper,
        "7": lambda: key <= upper,
        "8": lambda: key > lower,
        "9": lambda: key >= lower,
    }
    try:
        return checks[code]()
    except TypeError:  # a boundary the code needs is missing: selects nothing
        return False


def _to_dict(element: etree._Element) -> dict[str, Any]:
    """Unqualified child elements as a dict; repeatable ones as lists, leaves as text."""
    result: dict[str, Any] = {}
    for child in element:
        if not isinstance(child.tag, str):
            continue
        name = etree.QName(child).localname
        value: Any = _to_dict(child) if len(child) else (child.text or "")
        if name == "BlockedIndicator":
            value = value in ("true", "1")
        if name in _REPEATED:
            result.setdefault(name, []).append(value)
        else:
            result[name] = value
    return result


def _append(parent: etree._Element, name: str, value: Any) -> None:
    if value is None:
        return
    if isinstance(value, list):
        for item in value:
            _append(parent, name, item)
        return
    element = etree.SubElement(parent, name)
    if isinstance(value, dict):
        for child in _ORDER.get(name, tuple(value)):
            _append(element, child, value.get(child))
    elif isinstance(value, bool):
        element.text = "true" if value else "false"
    else:
        element.text = str(value)


def _log(parent: etree._Element, items: list[dict[str, str]]) -> None:
    log = etree.SubElement(parent, "Log")
    worst = max((int(i["SeverityCode"]) for i in items), default=0)
    if items:
        etree.SubElement(log, "BusinessDocumentProcessingResultCode").text = "5" if worst >= 3 else "3"
        etree.SubElement(log, "MaximumLogItemSeverityCode").text = str(worst)
    for entry in items:
        item = etree.SubElement(log, "Item")
        for name in ("TypeID", "SeverityCode", "ReferenceObjectNodeSenderTechnicalID", "Note"):
            if entry.get(name):
                etree.SubElement(item, name).text = entry[name]


def _fault(code: str, text: str, status: int = 500) -> FakeResponse:
    envelope = etree.Element(f"{{{SOAP_ENV}}}Envelope", nsmap={"soap-env": SOAP_ENV})
    fault = etree.SubElement(etree.SubElement(envelope, f"{{{SOAP_ENV}}}Body"), f"{{{SOAP_ENV}}}Fault")
    etree.SubElement(fault, "faultcode").text = f"soap-env:{code}"
    etree.SubElement(fault, "faultstring").text = text
    detail = etree.SubElement(fault, "detail")
    standard = etree.SubElement(etree.SubElement(detail, f"{{{N0}}}StandardFaultMessage", nsmap={"n0": N0}),
                                "standard")
    etree.SubElement(standard, "faultText").text = text
    return FakeResponse(status, etree.tostring(envelope, xml_declaration=True, encoding="utf-8"),
                        {"Content-Type": "text/xml; charset=utf-8"})


@click.command("sap-soap")
@click.option("--port", type=int, default=0, show_default=True, help="Port on 127.0.0.1 (0: a free one).")
@click.option("--records", type=int, default=50, show_default=True, help="Customers to generate.")
@click.option("--seed", type=int, default=1, show_default=True, help="Seed of the generated customers.")
@click.option("--data", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="JSON file with a list of customers (XSD shape) instead of generated ones.")
def fake_soap_command(port: int, records: int, seed: int, data: Path | None) -> None:
    """Serve a fake SAP SOAP customer service (QueryCustomerIn, ManageCustomerIn)."""
    loaded = None
    if data is not None:
        loaded = json.loads(data.read_text("utf-8"))
        if not isinstance(loaded, list):
            raise click.BadParameter("expected a JSON list of customers", param_hint="--data")
    serve_until_stopped(FakeSapSoap(port, records=records, seed=seed, data=loaded), echo=click.echo)


__all__ = ["CHANGE_STATE_MISMATCH", "ENDPOINT_PATH", "FakeSapSoap", "fake_soap_command", "generate_customers"]
