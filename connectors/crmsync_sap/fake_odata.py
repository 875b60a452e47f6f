"""A fake SAP Gateway serving API_BUSINESS_PARTNER (OData v2) on loopback, for tests and demos.

Owns :class:`FakeSapOData`: basic auth (and bearer tokens from a client-credentials token
endpoint), the CSRF token protocol with session cookies, ``$metadata`` rendered from
:mod:`crmsync_sap.odata_model`, JSON v2 envelopes with ``__metadata`` and ETags, ``$filter``
(:mod:`crmsync_sap.odata_query`), ``$select``, ``$expand``, ``$orderby``, ``$top``, ``$skip``,
``$inlinecount``, server-driven paging with ``__next``/``$skiptoken``, deep insert of a
customer business partner, PATCH/MERGE/PUT with If-Match (428 without it, 412 when stale),
``$batch`` with atomic changesets, SAP error bodies and property validation, and
deterministic generated partners. In-process accessors (:attr:`FakeSapOData.partners`,
:meth:`FakeSapOData.touch`, :meth:`FakeSapOData.expire_csrf_tokens`) serve assertions.
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import decimal
import json
import random
import re
import secrets
import urllib.parse
import uuid
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from crmsync.testing import FakeRequest, FakeResponse, FakeServer
from crmsync_sap.odata_model import ENTITY_TYPES, NAMESPACE, EntityType, Prop, render_edmx
from crmsync_sap.odata_query import FilterError, Predicate, compile_filter
from crmsync_sap.odata_wire import (
    BatchPart,
    decode_batch,
    encode_batch,
    error_body,
    format_date,
    format_time,
    parse_date,
    parse_time,
    reason,
)

SERVICE_PATH = "/sap/opu/odata/sap/API_BUSINESS_PARTNER/"
TOKEN_PATH = "/sap/bc/sec/oauth2/token"  # noqa: S105 - a URL path, not a secret
SYSTEM_ID = "FAK"
MODIFYING = {"POST", "PUT", "PATCH", "MERGE", "DELETE"}
CUSTOMER_ROLES = {"FLCU00", "FLCU01"}
_KEY_RE = re.compile(r"^(?P<set>[A-Za-z_]+)(?:\((?P<key>.*)\))?$")
_DATA_TYPES = {"Edm.DateTime", "Edm.DateTimeOffset"}


class ODataError(Exception):
    """An error the fake answers in SAP's JSON shape."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None,
                 details: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}
        self.details = details or []

    def response(self) -> FakeResponse:
        return FakeResponse.json(error_body(self.code, self.message, self.details), self.status,
                                 self.headers)


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)


# -- wire conversion ------------------------------------------------------------------------

def to_wire(prop: Prop, value: Any) -> Any:
    """A stored Python value as the JSON v2 wire value of ``prop``."""
    if value is None:
        return None
    if prop.type == "Edm.DateTime":
        return format_date(value)
    if prop.type == "Edm.DateTimeOffset":
        return format_date(value)[:-2] + "+0000)/"
    if prop.type == "Edm.Time":
        return format_time(value)
    if prop.type == "Edm.Decimal":
        return str(value)
    return value


def from_wire(prop: Prop, value: Any) -> Any:
    """A JSON v2 wire value of ``prop`` as the stored Python value; ValueError when invalid."""
    if value is None:
        if not prop.nullable:
            raise ValueError(f"Property '{prop.name}' must not be null")
        return None
    if prop.type == "Edm.String" or prop.type == "Edm.Guid":
        if not isinstance(value, str):
            raise ValueError(f"Property '{prop.name}' expects a string")
        if "\x00" in value:
            raise ValueError(f"Property '{prop.name}' contains invalid characters")
        if prop.max_length is not None and len(value) > prop.max_length:
            raise ValueError(f"Value of property '{prop.name}' is too long "
                             f"(maximum length {prop.max_length})")
        return value
    if prop.type == "Edm.Boolean":
        if not isinstance(value, bool):
            raise ValueError(f"Property '{prop.name}' expects a boolean")
        return value
    if prop.type in _DATA_TYPES:
        if isinstance(value, dt.datetime):
            return value
        return parse_date(str(value))
    if prop.type == "Edm.Time":
        if isinstance(value, dt.timedelta):
            return value
        return parse_time(str(value))
    if prop.type == "Edm.Decimal":
        try:
            number = decimal.Decimal(str(value))
        except decimal.InvalidOperation:
            raise ValueError(f"Property '{prop.name}' expects a decimal") from None
        if not number.is_finite():
            raise ValueError(f"Property '{prop.name}' expects a finite decimal")
        return number
    return value


def key_string(entity_type: EntityType, row: Mapping[str, Any]) -> str:
    keys = entity_type.keys
    if len(keys) == 1:
        return "('" + str(row[keys[0]]).replace("'", "''") + "')"
    return "(" + ",".join(f"{k}='" + str(row[k]).replace("'", "''") + "'" for k in keys) + ")"


def parse_key(entity_type: EntityType, text: str) -> dict[str, str]:
    """``'0010000001'`` or ``BusinessPartner='1',AddressID='2'`` as a key dict."""
    parts: dict[str, str] = {}
    for match in re.finditer(r"(?:(\w+)=)?'((?:[^']|'')*)'", text):
        name = match.group(1) or (entity_type.keys[0] if len(entity_type.keys) == 1 else "")
        parts[name] = match.group(2).replace("''", "'")
    if set(parts) != set(entity_type.keys):
        raise ODataError(400, "/IWBEP/CM_MGW_RT/003",
                         f"Invalid key predicate '({text})' for entity type {entity_type.type_name}")
    return parts


# -- generated data -------------------------------------------------------------------------

_ORGS = [
    ("Müller Maschinenbau GmbH", "DE", "Stuttgart", "70173", "Königstraße", "BW", "DE811234567", "EUR"),
    ("Brauerei Zoë Weißbier KG", "DE", "München", "80331", "Marienplatz", "BY", "DE129876543", "EUR"),
    ("Société Générale d'Électricité SA", "FR", "Lyon", "69002", "Rue de la République", "", "FR40303265045",
     "EUR"),
    ("Boulangerie Hélène & Fils SARL", "FR", "Paris", "75004", "Rue de Rivoli", "", "FR83404833048", "EUR"),
    ("北京科技有限公司", "CN", "北京", "100000", "长安街", "11", "91110000600037341L", "CNY"),
    ("上海贸易股份有限公司", "CN", "上海", "200000", "南京东路", "31", "91310000132149237G", "CNY"),
    ("O'Brien Logistics Ltd", "IE", "Dublin", "D02 X285", "O'Connell Street", "", "IE6388047V", "EUR"),
    ("Acme Widgets Inc.", "US", "Springfield", "62701", "Main Street", "IL", "", "USD"),
    ("Nordic Fjord Shipping AS", "NO", "Bergen", "5003", "Bryggen", "", "NO923609016MVA", "NOK"),
    ("Øresund Trading ApS", "DK", "København", "1050", "Kongens Nytorv", "", "DK13585628", "DKK"),
]
_PERSONS = [
    ("Seán", "O'Brien", "IE", "Cork"), ("Zoë", "Schäfer", "DE", "Köln"),
    ("François", "Lefèvre", "FR", "Marseille"), ("伟", "王", "CN", "深圳"),
    ("Jürgen", "Groß", "DE", "Hamburg"), ("Amélie", "D'Arcy", "FR", "Nice"),
]


def _generate(rng: random.Random, count: int, start: dt.datetime) -> list[dict[str, Any]]:
    """``count`` wire-shaped partners (as a deep insert would carry them, plus timestamps)."""
    rows: list[dict[str, Any]] = []
    slots = max(1, count // 8)  # about eight partners share each change second
    for i in range(count):
        number = f"{10000001 + i:010d}"
        created = start + dt.timedelta(minutes=i % 997)
        changed: dt.datetime | None = start + dt.timedelta(days=1, seconds=rng.randrange(slots) * 7)
        if rng.random() < 0.2:
            changed = None
        if i < len(_ORGS) or rng.random() < 0.7:
            org = _ORGS[i % len(_ORGS)]
            name1 = org[0] if i < len(_ORGS) else f"{org[0]} {i}"[:40]
            row: dict[str, Any] = {
                "BusinessPartnerCategory": "2", "OrganizationBPName1": name1[:40],
                "OrganizationBPName2": name1[40:80], "SearchTerm1": name1.upper()[:20],
                "Industry": rng.choice(["1000", "2000", "3000"]),
            }
            country, city, postal, street, region, vat, currency = org[1:]
        else:
            first, last, country, city = _PERSONS[i % len(_PERSONS)]
            row = {"BusinessPartnerCategory": "1", "FirstName": first, "LastName": last,
                   "SearchTerm1": last.upper()[:20]}
            postal, street, region, vat, currency = "12345", "Hauptstraße", "", "", "EUR"
        row.update({
            "BusinessPartner": number, "BusinessPartnerGrouping": "BP02",
            "CorrespondenceLanguage": {"DE": "DE", "FR": "FR", "CN": "ZH"}.get(country, "EN"),
            "IsMarkedForArchiving": rng.random() < 0.03,
            "BusinessPartnerIsBlocked": False,
            "CreationDate": format_date(created.replace(hour=0, minute=0, second=0)),
            "CreationTime": format_time(created - created.replace(hour=0, minute=0, second=0)),
            "to_BusinessPartnerRole": [{"BusinessPartnerRole": "FLCU00"}, {"BusinessPartnerRole": "FLCU01"}],
            "to_Customer": {"VATRegistration": vat, "CustomerAccountGroup": "CUST",
                            "DeletionIndicator": rng.random() < 0.02,
                            "OrderIsBlockedForCustomer": ""},
            "to_BusinessPartnerAddress": [{
                "Country": country, "CityName": city, "PostalCode": postal, "StreetName": street,
                "HouseNumber": str(rng.randrange(1, 200)), "Region": region, "Language": "EN",
                "to_EmailAddress": [{"EmailAddress": f"info{i}@example.com", "IsDefaultEmailAddress": True}],
                "to_PhoneNumber": [{"PhoneNumber": f"{rng.randrange(10**7, 10**8)}",
                                    "DestinationLocationCountry": country, "IsDefaultPhoneNumber": True}],
            }],
            "_credit_limit": str(rng.choice([5000, 10000, 25000, 100000])),
            "_currency": currency,
        })
        if changed is not None:
            day = changed.replace(hour=0, minute=0, second=0)
            row["LastChangeDate"] = format_date(day)
            row["LastChangeTime"] = format_time(changed - day)
        rows.append(row)
    return rows


# -- the server -----------------------------------------------------------------------------

class FakeSapOData(FakeServer):
    """SAP Gateway with API_BUSINESS_PARTNER, in memory.

    ``partners`` maps BusinessPartner to the stored entity: typed Python values by property
    name, navigation lists under ``to_BusinessPartnerAddress`` (each address with
    ``to_EmailAddress`` / ``to_PhoneNumber``), ``to_BusinessPartnerRole`` and ``to_Customer``
    (a dict or ``None``). ``open_items`` holds A_OperationalAcctgDocItemCube rows,
    ``credit_limits`` A_CrdtMgmtCreditLimit rows.
    """

    name = "sap-odata"

    def __init__(self, port: int = 0, records: int = 0, seed: int = 0,
                 data: str | Path | list[dict[str, Any]] | None = None, page_size: int = 1000,
                 *, username: str = "CRMSYNC_COMM", password: str | None = None,
                 client_id: str = "crmsync-client", client_secret: str | None = None,
                 require_if_match: bool = True, sap_client: str = "100",
                 clock: Callable[[], dt.datetime] | None = None) -> None:
        super().__init__(port)
        self.page_size = page_size
        self.username = username
        self.password = password or f"fake-{seed}-{secrets.token_hex(4)}"
        self.client_id = client_id
        self.client_secret = client_secret or f"fake-secret-{secrets.token_hex(4)}"
        self.require_if_match = require_if_match
        self.sap_client = sap_client
        self.clock: Callable[[], dt.datetime] = clock or _utcnow
        self.partners: dict[str, dict[str, Any]] = {}
        self.open_items: list[dict[str, Any]] = []
        self.credit_limits: list[dict[str, Any]] = []
        self.csrf_tokens: dict[str, str] = {}
        self.bearer_tokens: set[str] = set()
        self.created_count = 0
        self.batch_count = 0
        self._next_bp = 10000001
        self._next_address = 100001
        self._journal: dict[str, dict[str, Any] | None] | None = None
        self._rng = random.Random(seed)
        if records:
            self.load(_generate(self._rng, records, dt.datetime(2026, 11, 1, 8, 0, 0)))
        if data is not None:
            rows = data if isinstance(data, list) else _read_data(Path(data))
            self.load(rows)

    # -- in-process accessors ----------------------------------------------------------
    def info(self) -> dict[str, Any]:
        return {"url": self.service_root, "username": self.username, "password": self.password,
                "token_url": self.base_url + TOKEN_PATH, "client_id": self.client_id,
                "client_secret": self.client_secret, "sap_client": self.sap_client}

    @property
    def service_root(self) -> str:
        return self.base_url + SERVICE_PATH

    def dump_state(self) -> Any:
        bp = ENTITY_TYPES["A_BusinessPartner"]
        return {"partners": [self._wire(bp, p, {"to_BusinessPartnerAddress": {}, "to_Customer": {},
                                                 "to_BusinessPartnerRole": {}}, None, "")
                             for p in self.partners.values()],
                "created": self.created_count, "batches": self.batch_count}

    def expire_csrf_tokens(self) -> None:
        """Forget every CSRF token, as a Gateway does when its security session ends."""
        with self.lock:
            self.csrf_tokens.clear()

    def touch(self, bp: str, **changes: Any) -> dict[str, Any]:
        """Simulate a user's edit in the SAP GUI: set ``changes`` and bump LastChangeDate/Time."""
        with self.lock:
            partner = self.partners[bp]
            etype = ENTITY_TYPES["A_BusinessPartner"]
            for name, value in changes.items():
                prop = etype.prop(name)
                if prop is None:
                    raise KeyError(name)
                partner[name] = from_wire(prop, value)
            self._stamp(partner)
            return partner

    def etag_of(self, bp: str) -> str:
        return self._etag(self.partners[bp])

    def load(self, rows: Iterable[Mapping[str, Any]]) -> None:
        """Add wire-shaped partners (deep-insert shape; timestamps and keys kept when given)."""
        with self.lock:
            for row in rows:
                partner = self._create_partner(dict(row), keep_stamps=True)
                credit = row.get("_credit_limit")
                if credit is not None and partner.get("to_Customer"):
                    self._add_open_items(partner, decimal.Decimal(str(credit)),
                                         str(row.get("_currency") or "EUR"))

    # -- request entry ---------------------------------------------------------------------
    def handle(self, request: FakeRequest) -> FakeResponse:
        if request.path == TOKEN_PATH:
            return self._token(request)
        if not request.path.startswith(SERVICE_PATH.rstrip("/")):
            return FakeResponse(404, b"Not Found", {"Content-Type": "text/plain"})
        if not self._authenticated(request):
            return FakeResponse(401, b"<html><body>Logon failed</body></html>",
                                {"Content-Type": "text/html",
                                 "WWW-Authenticate": f'Basic realm="SAP NetWeaver Application Server '
                                                     f'[{SYSTEM_ID}/{self.sap_client}]"'})
        headers: dict[str, str] = {"dataserviceversion": "2.0"}
        method = request.method
        override = request.header("x-http-method")
        if method == "POST" and override:
            method = override.upper()
        if (request.header("x-csrf-token") or "").lower() == "fetch":
            sid = self._session_id(request) or secrets.token_hex(16)
            token = self.csrf_tokens.get(sid) or base64.b64encode(secrets.token_bytes(18)).decode()
            self.csrf_tokens[sid] = token
            headers["x-csrf-token"] = token
            headers["Set-Cookie"] = f"SAP_SESSIONID_{SYSTEM_ID}_{self.sap_client}={sid}; path=/; HttpOnly"
        elif method in MODIFYING and not self._csrf_ok(request):
            return FakeResponse(403, b"CSRF token validation failed",
                                {"x-csrf-token": "Required", "Content-Type": "text/plain"})
        rel = request.path[len(SERVICE_PATH):] if request.path.startswith(SERVICE_PATH) else ""
        try:
            response = self._route(method, rel, request.query, request.headers, request.body)
        except ODataError as exc:
            response = exc.response()
        response.headers = {**headers, **response.headers}
        return response

    def _authenticated(self, request: FakeRequest) -> bool:
        auth = request.header("authorization", "") or ""
        scheme, _, value = auth.partition(" ")
        if scheme.lower() == "basic":
            try:
                user, _, password = base64.b64decode(value).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                return False
            return secrets.compare_digest(user, self.username) and secrets.compare_digest(
                password, self.password)
        if scheme.lower() == "bearer":
            return value in self.bearer_tokens
        return False

    def _token(self, request: FakeRequest) -> FakeResponse:
        form = dict(urllib.parse.parse_qsl(request.body.decode("utf-8", "replace")))
        client_id, client_secret = form.get("client_id", ""), form.get("client_secret", "")
        auth = request.header("authorization", "") or ""
        if auth.lower().startswith("basic "):
            client_id, _, client_secret = base64.b64decode(auth[6:]).decode().partition(":")
        if form.get("grant_type") != "client_credentials":
            return FakeResponse.json({"error": "unsupported_grant_type"}, 400)
        if client_id != self.client_id or not secrets.compare_digest(client_secret, self.client_secret):
            return FakeResponse.json({"error": "invalid_client",
                                      "error_description": "Bad credentials"}, 401)
        token = secrets.token_urlsafe(24)
        self.bearer_tokens.add(token)
        return FakeResponse.json({"access_token": token, "token_type": "bearer", "expires_in": 43199,
                                  "scope": "API_BUSINESS_PARTNER_0001"})

    def _session_id(self, request: FakeRequest) -> str | None:
        cookie = request.header("cookie", "") or ""
        match = re.search(rf"SAP_SESSIONID_{SYSTEM_ID}_{self.sap_client}=([0-9a-f]+)", cookie)
        return match.group(1) if match else None

    def _csrf_ok(self, request: FakeRequest) -> bool:
        sid = self._session_id(request)
        token = request.header("x-csrf-token")
        return bool(sid and token and self.csrf_tokens.get(sid) == token)

    # -- routing -------------------------------------------------------------------------------
    def _route(self, method: str, rel: str, query: Mapping[str, str], headers: Mapping[str, str],
               body: bytes) -> FakeResponse:
        rel = rel.strip("/")
        if rel == "":
            return FakeResponse.json({"d": {"EntitySets": list(ENTITY_TYPES)}})
        if rel == "$metadata":
            return FakeResponse(200, render_edmx().encode(), {"Content-Type": "application/xml"})
        if rel == "$batch":
            if method != "POST":
                raise ODataError(405, "/IWBEP/CM_MGW_RT/045", "Method not allowed for $batch")
            return self._batch(headers, body)
        segments = rel.split("/")
        match = _KEY_RE.match(segments[0])
        if not match or match.group("set") not in ENTITY_TYPES:
            raise ODataError(404, "/IWBEP/CM_MGW_RT/025",
                             f"Resource not found for segment '{segments[0]}'")
        etype = ENTITY_TYPES[match.group("set")]
        key_text = match.group("key")
        if key_text is None:
            if len(segments) == 2 and segments[1] == "$count" and method == "GET":
                rows = self._select_rows(etype, self._rows(etype), query)
                return FakeResponse(200, str(len(rows)).encode(), {"Content-Type": "text/plain"})
            if method == "GET":
                return self._get_collection(etype, self._rows(etype), query, segments[0])
            if method == "POST" and etype.set_name == "A_BusinessPartner":
                return self._post_partner(body)
            raise ODataError(405, "/IWBEP/CM_MGW_RT/045",
                             f"Method '{method}' not allowed for entity set {etype.set_name}")
        key = parse_key(etype, key_text)
        entity = self._find(etype, key)
        if len(segments) > 1:
            nav = etype.nav(segments[1])
            if nav is None:
                raise ODataError(404, "/IWBEP/CM_MGW_RT/025",
                                 f"Resource not found for segment '{segments[1]}'")
            target = ENTITY_TYPES[nav.target]
            value = entity.get(nav.name)
            if nav.many:
                if method == "POST" and nav.name == "to_BusinessPartnerAddress":
                    return self._post_address(entity, body)
                if method == "POST" and nav.name in ("to_PhoneNumber", "to_EmailAddress"):
                    return self._post_contact(entity, nav.name, nav.target, body)
                if method != "GET":
                    raise ODataError(405, "/IWBEP/CM_MGW_RT/045", "Method not allowed")
                return self._get_collection(target, list(value or []), query, "/".join(segments[:2]))
            if value is None:
                raise ODataError(404, "/IWBEP/CM_MGW_RT/020", "Resource not found")
            return self._entity_response(target, value, query)
        if method == "GET":
            return self._entity_response(etype, entity, query)
        if method in ("PATCH", "MERGE", "PUT"):
            return self._update(etype, entity, headers, body, replace=method == "PUT")
        if method == "DELETE":
            raise ODataError(405, "/IWBEP/CM_MGW_RT/045",
                             f"Deletion of {etype.set_name} is not supported; use IsMarkedForArchiving")
        raise ODataError(405, "/IWBEP/CM_MGW_RT/045", f"Method '{method}' not allowed")

    def _rows(self, etype: EntityType) -> list[dict[str, Any]]:
        name = etype.set_name
        if name == "A_BusinessPartner":
            return list(self.partners.values())
        if name == "A_BusinessPartnerAddress":
            return [a for p in self.partners.values() for a in p["to_BusinessPartnerAddress"]]
        if name == "A_BusinessPartnerRole":
            return [r for p in self.partners.values() for r in p["to_BusinessPartnerRole"]]
        if name == "A_Customer":
            return [p["to_Customer"] for p in self.partners.values() if p.get("to_Customer")]
        if name == "A_AddressEmailAddress":
            return [e for p in self.partners.values() for a in p["to_BusinessPartnerAddress"]
                    for e in a["to_EmailAddress"]]
        if name == "A_AddressPhoneNumber":
            return [e for p in self.partners.values() for a in p["to_BusinessPartnerAddress"]
                    for e in a["to_PhoneNumber"]]
        if name == "A_CrdtMgmtCreditLimit":
            return list(self.credit_limits)
        return list(self.open_items)

    def _find(self, etype: EntityType, key: Mapping[str, str]) -> dict[str, Any]:
        if etype.set_name == "A_BusinessPartner":
            found = self.partners.get(key["BusinessPartner"])
        else:
            found = next((r for r in self._rows(etype) if all(r.get(k) == v for k, v in key.items())), None)
        if found is None:
            raise ODataError(404, "/IWBEP/CM_MGW_RT/020",
                             f"Resource not found for segment '{etype.type_name}'")
        return found

    # -- reading ----------------------------------------------------------------------------
    def _resolver(self, etype: EntityType) -> Callable[[str], Predicate]:
        def resolve(path: str) -> Predicate:
            *navs, name = path.split("/")
            current = etype
            for nav_name in navs:
                nav = current.nav(nav_name)
                if nav is None or nav.many:
                    raise FilterError(f"Property '{nav_name}' not found or not navigable in $filter")
                current = ENTITY_TYPES[nav.target]
            if current.prop(name) is None:
                raise FilterError(f"Property '{name}' not found in type '{current.type_name}'")

            def get(row: dict[str, Any]) -> Any:
                value: Any = row
                for nav_name in navs:
                    value = value.get(nav_name) if isinstance(value, dict) else None
                return value.get(name) if isinstance(value, dict) else None

            return get
        return resolve

    def _select_rows(self, etype: EntityType, rows: list[dict[str, Any]],
                     query: Mapping[str, str]) -> list[dict[str, Any]]:
        text = query.get("$filter")
        if text:
            try:
                predicate = compile_filter(text, self._resolver(etype))
                rows = [r for r in rows if predicate(r)]
            except FilterError as exc:
                raise ODataError(400, "/IWBEP/CM_MGW_RT/006", f"Invalid filter expression: {exc}") from None
        order = query.get("$orderby")
        keys = [(k, "asc") for k in etype.keys]
        if order:
            keys = []
            for item in order.split(","):
                name, _, direction = item.strip().partition(" ")
                if etype.prop(name) is None:
                    raise ODataError(400, "/IWBEP/CM_MGW_RT/006",
                                     f"Property '{name}' not found in type '{etype.type_name}'")
                keys.append((name, direction.strip().lower() or "asc"))
        for name, direction in reversed(keys):
            rows.sort(key=_null_first(name), reverse=direction == "desc")
        return rows

    def _int_option(self, query: Mapping[str, str], name: str) -> int | None:
        text = query.get(name)
        if text is None:
            return None
        if not text.isdigit():
            raise ODataError(400, "/IWBEP/CM_MGW_RT/006", f"Invalid value '{text}' for {name}")
        return int(text)

    def _get_collection(self, etype: EntityType, rows: list[dict[str, Any]], query: Mapping[str, str],
                        path: str) -> FakeResponse:
        rows = self._select_rows(etype, rows, query)
        total = len(rows)
        skip = self._int_option(query, "$skip") or 0
        top = self._int_option(query, "$top")
        start = self._int_option(query, "$skiptoken") or 0
        window = rows[skip:] if top is None else rows[skip: skip + top]
        page = window[start: start + self.page_size]
        expand = _expand_tree(etype, query.get("$expand", ""))
        select = _parse_select(query.get("$select"))
        root = self._root()
        result: dict[str, Any] = {"results": [self._wire(etype, r, expand, select, root) for r in page]}
        if query.get("$inlinecount") == "allpages":
            result["__count"] = str(total)
        if start + self.page_size < len(window):
            params = {k: v for k, v in query.items() if k != "$skiptoken"}
            params["$skiptoken"] = str(start + self.page_size)
            result["__next"] = root + path + "?" + urllib.parse.urlencode(params, quote_via=urllib.parse.quote)
        return FakeResponse.json({"d": result})

    def _entity_response(self, etype: EntityType, entity: dict[str, Any], query: Mapping[str, str],
                         status: int = 200) -> FakeResponse:
        expand = _expand_tree(etype, query.get("$expand", ""))
        body = self._wire(etype, entity, expand, _parse_select(query.get("$select")), self._root())
        headers = {"Location": body["__metadata"]["uri"]} if status == 201 else {}
        if "_version" in entity:
            headers["etag"] = self._etag(entity)
        return FakeResponse.json({"d": body}, status, headers)

    def _root(self) -> str:
        return self.service_root

    def _etag(self, entity: Mapping[str, Any]) -> str:
        stamp = entity.get("LastChangeDate") or entity.get("CreationDate") or dt.datetime(1970, 1, 1)
        time = entity.get("LastChangeTime") if entity.get("LastChangeDate") else entity.get("CreationTime")
        moment = stamp + (time or dt.timedelta())
        return f"W/\"'{moment.strftime('%Y%m%d%H%M%S')}.{entity.get('_version', 0):07d}'\""

    def _wire(self, etype: EntityType, entity: Mapping[str, Any], expand: Mapping[str, Any],
              select: set[str] | None, root: str) -> dict[str, Any]:
        uri = f"{root}{etype.set_name}{key_string(etype, entity)}"
        meta: dict[str, Any] = {"id": uri, "uri": uri, "type": f"{NAMESPACE}.{etype.type_name}"}
        if "_version" in entity:
            meta["etag"] = self._etag(entity)
        out: dict[str, Any] = {"__metadata": meta}
        for prop in etype.props:
            if select is None or prop.name in select or prop.key:
                out[prop.name] = to_wire(prop, entity.get(prop.name))
        for nav in etype.navs:
            if nav.name in expand:
                target = ENTITY_TYPES[nav.target]
                sub_select = _sub_select(select, nav.name)
                value = entity.get(nav.name)
                if nav.many:
                    out[nav.name] = {"results": [self._wire(target, v, expand[nav.name], sub_select, root)
                                                 for v in value or []]}
                else:
                    out[nav.name] = (self._wire(target, value, expand[nav.name], sub_select, root)
                                     if value else None)
            elif select is None or nav.name in select:
                out[nav.name] = {"__deferred": {"uri": f"{uri}/{nav.name}"}}
        return out

    # -- writing ----------------------------------------------------------------------------
    def _remember(self, bp: str) -> None:
        if self._journal is not None and bp not in self._journal:
            self._journal[bp] = copy.deepcopy(self.partners.get(bp))

    def _stamp(self, partner: dict[str, Any]) -> None:
        now = self.clock()
        day = dt.datetime(now.year, now.month, now.day)
        partner["LastChangeDate"] = day
        partner["LastChangeTime"] = dt.timedelta(seconds=int((now - day).total_seconds()))
        partner["LastChangedByUser"] = self.username
        partner["_version"] = partner.get("_version", 0) + 1

    def _fields(self, etype: EntityType, data: Mapping[str, Any], *, creating: bool,
                keep: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {}
        problems: list[dict[str, Any]] = []
        for name, value in data.items():
            if name.startswith("_") or name == "__metadata" or etype.nav(name):
                continue
            prop = etype.prop(name)
            if prop is None:
                raise ODataError(400, "/IWBEP/CM_MGW_RT/021",
                                 f"Property '{name}' is invalid for entity type '{etype.type_name}'")
            if not keep and ((creating and not prop.creatable) or (not creating and not prop.updatable)):
                if prop.key:
                    continue
                raise ODataError(400, "/IWBEP/CM_MGW_RT/021",
                                 f"Property '{name}' of entity type '{etype.type_name}' "
                                 f"is not {'creatable' if creating else 'updatable'}")
            try:
                out[name] = from_wire(prop, value)
            except ValueError as exc:
                problems.append({"code": "/IWBEP/CM_MGW_RT/021", "message": str(exc),
                                 "propertyref": f"{etype.set_name}/{name}", "severity": "error",
                                 "target": f"/{etype.set_name}/{name}"})
        if problems:
            raise ODataError(400, problems[0]["code"], problems[0]["message"], details=problems)
        return out

    def _empty(self, etype: EntityType) -> dict[str, Any]:
        return {p.name: (False if p.type == "Edm.Boolean" else
                         "" if p.type == "Edm.String" and not p.key else None) for p in etype.props}

    def _create_partner(self, data: dict[str, Any], *, keep_stamps: bool = False) -> dict[str, Any]:
        etype = ENTITY_TYPES["A_BusinessPartner"]
        fields = self._fields(etype, data, creating=True, keep=keep_stamps)
        category = fields.get("BusinessPartnerCategory")
        if category not in ("1", "2"):
            raise ODataError(400, "R11/401", "Business partner category must be 1 (person) or 2 (organization)")
        if category == "2" and not fields.get("OrganizationBPName1"):
            raise ODataError(400, "R11/124", "Enter a name for the organization (OrganizationBPName1)")
        if category == "1" and not fields.get("LastName"):
            raise ODataError(400, "R11/123", "Enter a last name for the person (LastName)")
        bp = fields.get("BusinessPartner") or ""
        if not bp:
            while f"{self._next_bp:010d}" in self.partners:
                self._next_bp += 1
            bp = f"{self._next_bp:010d}"
            self._next_bp += 1
        elif bp in self.partners:
            raise ODataError(400, "R11/057", f"Business partner {bp} already exists")
        partner = self._empty(etype)
        partner.update(fields)
        if not partner.get("BusinessPartnerFullName"):
            if category == "2":
                full = " ".join(x for x in (partner.get("OrganizationBPName1"),
                                            partner.get("OrganizationBPName2")) if x)
            else:
                full = " ".join(x for x in (partner.get("FirstName"), partner.get("LastName")) if x)
            partner["BusinessPartnerFullName"] = full[:81]
        partner["BusinessPartner"] = bp
        partner["BusinessPartnerName"] = partner["BusinessPartnerFullName"]
        partner["BusinessPartnerUUID"] = str(uuid.UUID(int=self._rng.getrandbits(128)))
        partner["IsNaturalPerson"] = "X" if category == "1" else ""
        partner["BusinessPartnerGrouping"] = partner.get("BusinessPartnerGrouping") or "BP02"
        now = self.clock()
        day = dt.datetime(now.year, now.month, now.day)
        if not (keep_stamps and fields.get("CreationDate")):
            partner["CreationDate"] = day
            partner["CreationTime"] = dt.timedelta(seconds=int((now - day).total_seconds()))
        if not (keep_stamps and fields.get("LastChangeDate")):
            partner["LastChangeDate"] = None
            partner["LastChangeTime"] = dt.timedelta()
        partner["CreatedByUser"] = self.username
        partner["_version"] = 1
        roles = _nav_list(data.get("to_BusinessPartnerRole"))
        partner["to_BusinessPartnerRole"] = []
        for role in roles:
            row = self._empty(ENTITY_TYPES["A_BusinessPartnerRole"])
            row.update(self._fields(ENTITY_TYPES["A_BusinessPartnerRole"], role, creating=True))
            row["BusinessPartner"] = bp
            row["ValidFrom"] = row.get("ValidFrom") or day
            row["ValidTo"] = row.get("ValidTo") or dt.datetime(9999, 12, 31, 23, 59, 59)
            partner["to_BusinessPartnerRole"].append(row)
        is_customer = bool({r["BusinessPartnerRole"] for r in partner["to_BusinessPartnerRole"]}
                           & CUSTOMER_ROLES)
        customer_data = data.get("to_Customer")
        if customer_data and not is_customer:
            raise ODataError(400, "CVI_EI/012",
                             "Customer data can only be created with a customer role (FLCU00, FLCU01)")
        partner["to_Customer"] = None
        if is_customer:
            customer = self._empty(ENTITY_TYPES["A_Customer"])
            customer.update(self._fields(ENTITY_TYPES["A_Customer"], customer_data or {}, creating=True,
                                         keep=keep_stamps))
            customer["Customer"] = bp
            customer["CustomerName"] = partner["BusinessPartnerFullName"][:80]
            customer["CustomerFullName"] = partner["BusinessPartnerFullName"]
            customer["CreationDate"] = partner["CreationDate"]
            customer["CreatedByUser"] = self.username
            partner["to_Customer"] = customer
            partner["Customer"] = bp
        partner["to_BusinessPartnerAddress"] = []
        for address in _nav_list(data.get("to_BusinessPartnerAddress")):
            self._add_address(partner, address)
        self._remember(bp)
        self.partners[bp] = partner
        self.created_count += 1
        return partner

    def _add_address(self, partner: dict[str, Any], data: Mapping[str, Any]) -> dict[str, Any]:
        etype = ENTITY_TYPES["A_BusinessPartnerAddress"]
        fields = self._fields(etype, data, creating=True)
        if not fields.get("Country"):
            raise ODataError(400, "AM/216", "Enter a country (Country) for the address")
        address = self._empty(etype)
        address.update(fields)
        address["BusinessPartner"] = partner["BusinessPartner"]
        address["AddressID"] = str(self._next_address)
        self._next_address += 1
        address["AddressUUID"] = str(uuid.UUID(int=self._rng.getrandbits(128)))
        address["ValidityStartDate"] = address.get("ValidityStartDate") or partner["CreationDate"]
        address["ValidityEndDate"] = address.get("ValidityEndDate") or dt.datetime(9999, 12, 31, 23, 59, 59)
        address["_version"] = 1
        for nav, set_name in (("to_EmailAddress", "A_AddressEmailAddress"),
                              ("to_PhoneNumber", "A_AddressPhoneNumber")):
            address[nav] = []
            for ordinal, item in enumerate(_nav_list(data.get(nav)), start=1):
                row = self._empty(ENTITY_TYPES[set_name])
                row.update(self._fields(ENTITY_TYPES[set_name], item, creating=True))
                row.update({"AddressID": address["AddressID"], "Person": "",
                            "OrdinalNumber": str(ordinal)})
                address[nav].append(row)
        partner["to_BusinessPartnerAddress"].append(address)
        return address

    def _add_open_items(self, partner: Mapping[str, Any], limit: decimal.Decimal, currency: str) -> None:
        self.credit_limits.append({
            "BusinessPartner": partner["BusinessPartner"], "CreditSegment": "0000",
            "CreditLimitAmount": limit, "CreditLimitAmountCurrency": currency,
            "CreditLimitValidityEndDate": dt.datetime(9999, 12, 31), "CreditLimitIsExceeded": False,
        })
        for item in range(1, self._rng.randrange(1, 4) + 1):
            amount = (limit * decimal.Decimal(self._rng.randrange(5, 60)) / 100).quantize(
                decimal.Decimal("0.01"))
            posted = dt.datetime(2026, 10, self._rng.randrange(1, 28))
            cleared = self._rng.random() < 0.3
            self.open_items.append({
                "CompanyCode": "1010", "FiscalYear": "2026",
                "AccountingDocument": f"{9000000000 + len(self.open_items)}",
                "AccountingDocumentItem": f"{item:03d}", "Customer": partner["BusinessPartner"],
                "FinancialAccountType": "D", "DebitCreditCode": "S", "PostingDate": posted,
                "NetDueDate": posted + dt.timedelta(days=30),
                "ClearingDate": posted + dt.timedelta(days=20) if cleared else None,
                "ClearingAccountingDocument": f"{1400000000 + len(self.open_items)}" if cleared else "",
                "AmountInCompanyCodeCurrency": amount, "CompanyCodeCurrency": currency,
            })

    def _post_partner(self, body: bytes) -> FakeResponse:
        data = _json_body(body)
        partner = self._create_partner(data)
        expand = [n for n in ("to_BusinessPartnerRole", "to_Customer", "to_BusinessPartnerAddress")
                  if n in data]
        return self._entity_response(ENTITY_TYPES["A_BusinessPartner"], partner,
                                     {"$expand": ",".join(expand)}, status=201)

    def _post_address(self, partner: dict[str, Any], body: bytes) -> FakeResponse:
        self._remember(partner["BusinessPartner"])
        address = self._add_address(partner, _json_body(body))
        self._stamp(partner)
        return self._entity_response(ENTITY_TYPES["A_BusinessPartnerAddress"], address, {}, status=201)

    def _post_contact(self, address: dict[str, Any], nav: str, set_name: str, body: bytes) -> FakeResponse:
        """POST A_BusinessPartnerAddress(...)/to_PhoneNumber or /to_EmailAddress: add an entry."""
        etype = ENTITY_TYPES[set_name]
        row = self._empty(etype)
        row.update(self._fields(etype, _json_body(body), creating=True))
        row.update({"AddressID": address["AddressID"], "Person": "", "OrdinalNumber": str(len(address[nav]) + 1)})
        address[nav].append(row)
        partner = self.partners[address["BusinessPartner"]]
        self._remember(partner["BusinessPartner"])
        self._stamp(partner)
        return FakeResponse.json({"d": {k: v for k, v in row.items() if not k.startswith("_")}}, 201)

    def _partner_of_address(self, address_id: str) -> str:
        return next(bp for bp, p in self.partners.items()
                    if any(a["AddressID"] == address_id for a in p["to_BusinessPartnerAddress"]))

    def _update(self, etype: EntityType, entity: dict[str, Any], headers: Mapping[str, str], body: bytes,
                *, replace: bool) -> FakeResponse:
        contact = etype.set_name in ("A_AddressPhoneNumber", "A_AddressEmailAddress")
        if etype.set_name not in ("A_BusinessPartner", "A_BusinessPartnerAddress", "A_Customer") and not contact:
            raise ODataError(405, "/IWBEP/CM_MGW_RT/045", f"Updates of {etype.set_name} are not supported")
        bp = (self._partner_of_address(entity["AddressID"]) if contact
              else entity.get("BusinessPartner") or entity.get("Customer") or "")
        partner = self.partners[bp]
        if etype.set_name != "A_Customer" and not contact:
            if_match = _header(headers, "if-match")
            if if_match is None and self.require_if_match:
                raise ODataError(428, "/IWBEP/CM_MGW_RT/017", "Precondition required: send If-Match")
            if if_match not in (None, "*") and if_match != self._etag(entity):
                raise ODataError(412, "/IWBEP/CM_MGW_RT/022",
                                 "The data has been changed by another user; read it again (ETag mismatch)")
        fields = self._fields(etype, _json_body(body), creating=False)
        self._remember(bp)
        if replace:
            for prop in etype.props:
                if prop.updatable and prop.name not in fields:
                    fields[prop.name] = self._empty(etype)[prop.name]
        entity.update(fields)
        if etype.set_name == "A_BusinessPartner" and any(
                k in fields for k in ("OrganizationBPName1", "OrganizationBPName2", "FirstName", "LastName")) \
                and "BusinessPartnerFullName" not in fields:
            if entity.get("BusinessPartnerCategory") == "2":
                parts = (entity.get("OrganizationBPName1"), entity.get("OrganizationBPName2"))
            else:
                parts = (entity.get("FirstName"), entity.get("LastName"))
            entity["BusinessPartnerFullName"] = " ".join(x for x in parts if x)[:81]
        if etype.set_name == "A_BusinessPartnerAddress":
            entity["_version"] = entity.get("_version", 0) + 1
        self._stamp(partner)
        out = {"etag": self._etag(entity)} if "_version" in entity else {}
        return FakeResponse(204, b"", out)

    # -- $batch ------------------------------------------------------------------------------
    def _batch(self, headers: Mapping[str, str], body: bytes) -> FakeResponse:
        try:
            groups = decode_batch(body, _header(headers, "content-type"))
        except ValueError as exc:
            raise ODataError(400, "/IWBEP/CM_MGW_RT/004", f"Invalid batch request: {exc}") from None
        self.batch_count += 1
        answers: list[list[BatchPart]] = []
        for group in groups:
            if group and group[0].changeset is None:
                answers.append([self._batch_one(group[0], None)])
                continue
            self._journal = {}
            results: list[BatchPart] = []
            failed: BatchPart | None = None
            try:
                for part in group:
                    answer = self._batch_one(part, part.changeset)
                    if answer.status >= 400:
                        failed = answer
                        break
                    results.append(answer)
                if failed is not None:
                    for bp, before in self._journal.items():
                        if before is None:
                            self.partners.pop(bp, None)
                        else:
                            self.partners[bp] = before
                    failed.changeset = None
                    answers.append([failed])
                else:
                    answers.append(results)
            finally:
                self._journal = None
        payload, content_type = encode_batch(answers, responses=True)
        return FakeResponse(202, payload, {"Content-Type": content_type})

    def _batch_one(self, part: BatchPart, changeset: int | None) -> BatchPart:
        url = urllib.parse.urlsplit(part.url)
        path = urllib.parse.unquote(url.path)
        if path.startswith(SERVICE_PATH):
            path = path[len(SERVICE_PATH):]
        query = dict(urllib.parse.parse_qsl(url.query, keep_blank_values=True))
        method = part.method
        override = part.header("X-HTTP-Method")
        if method == "POST" and override:
            method = override.upper()
        try:
            response = self._route(method, path, query, {k.lower(): v for k, v in part.headers.items()},
                                   part.body)
        except ODataError as exc:
            response = exc.response()
        headers = {k: v for k, v in response.headers.items() if k.lower() != "content-length"}
        return BatchPart(status=response.status, reason=reason(response.status), headers=headers,
                         body=response.body, changeset=changeset)


def _null_first(name: str) -> Callable[[dict[str, Any]], tuple[bool, Any]]:
    """Sort key putting NULLs first ascending, as HANA does."""
    def key(row: dict[str, Any]) -> tuple[bool, Any]:
        value = row.get(name)
        return (value is not None, value if value is not None else 0)
    return key


def _header(headers: Mapping[str, str], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name:
            return value
    return None


def _json_body(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body or b"{}")
    except ValueError:
        raise ODataError(400, "/IWBEP/CM_MGW_RT/004", "Malformed JSON in request body") from None
    if isinstance(data, dict) and set(data) == {"d"} and isinstance(data["d"], dict):
        data = data["d"]
    if not isinstance(data, dict):
        raise ODataError(400, "/IWBEP/CM_MGW_RT/004", "Request body must be a JSON object")
    return data


def _nav_list(value: Any) -> list[dict[str, Any]]:
    if value is None:
        return []
    if isinstance(value, dict) and "results" in value:
        value = value["results"]
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise ODataError(400, "/IWBEP/CM_MGW_RT/004", "Navigation property must be a list of entities")
    return value


def _expand_tree(etype: EntityType, text: str) -> dict[str, Any]:
    tree: dict[str, Any] = {}
    for item in filter(None, (s.strip() for s in text.split(","))):
        node, current = tree, etype
        for name in item.split("/"):
            nav = current.nav(name)
            if nav is None:
                raise ODataError(400, "/IWBEP/CM_MGW_RT/006",
                                 f"Property '{name}' not found in type '{current.type_name}'")
            node = node.setdefault(name, {})
            current = ENTITY_TYPES[nav.target]
    return tree


def _parse_select(text: str | None) -> set[str] | None:
    if not text or text.strip() == "*":
        return None
    return {s.strip() for s in text.split(",") if s.strip()}


def _sub_select(select: set[str] | None, nav: str) -> set[str] | None:
    if select is None:
        return None
    inner = {s[len(nav) + 1:] for s in select if s.startswith(nav + "/")}
    return inner or None


def _read_data(path: Path) -> list[dict[str, Any]]:
    data = json.loads(path.read_text(encoding="utf-8"))
    if isinstance(data, dict):
        data = data.get("partners") or data.get("d", {}).get("results") or []
    if not isinstance(data, list):
        raise ValueError(f"{path}: expected a list of partners or {{'partners': [...]}}")
    return data


def fake_odata_command() -> Any:
    """The ``crmsync fake-server sap-odata`` click command (click imported lazily)."""
    import click

    from crmsync.testing import serve_until_stopped

    @click.command(name="sap-odata", help="Serve a fake SAP Gateway with API_BUSINESS_PARTNER.")
    @click.option("--port", default=0, show_default=True, help="Port (0: a free one).")
    @click.option("--records", default=0, show_default=True, help="Generated business partners.")
    @click.option("--seed", default=0, show_default=True, help="Seed for generated data.")
    @click.option("--data", type=click.Path(exists=True, dir_okay=False), default=None,
                  help="JSON file with partners in deep-insert shape.")
    @click.option("--page-size", default=1000, show_default=True, help="Server-side page size.")
    def command(port: int, records: int, seed: int, data: str | None, page_size: int) -> None:
        serve_until_stopped(FakeSapOData(port=port, records=records, seed=seed, data=data,
                                         page_size=page_size))

    return command


__all__ = ["SERVICE_PATH", "TOKEN_PATH", "FakeSapOData", "ODataError", "fake_odata_command"]
