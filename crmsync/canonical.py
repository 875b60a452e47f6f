"""The canonical customer model: the "customer ledger" every endpoint is mapped to and from.

The hub keeps each customer as a *flat* record: a dict from canonical field path to value
(``"billing_address.city": "Berlin"``). Flat paths make the 3-way merge, the audit trail and
the mappings field-by-field; :class:`CanonicalCustomer` gives the nested view for people.

Value types in Python: ``str``, ``bool``, :class:`~decimal.Decimal` (money, never float),
``list[str]`` (emails, phones), :class:`~datetime.datetime` (aware, UTC). :func:`to_json` /
:func:`from_json` convert a flat record to and from JSON-safe values for the state store, and
:data:`CANONICAL_SCHEMA` (marshmallow) validates one.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

import marshmallow
from marshmallow import fields, validate

KINDS = ("organization", "person")
LIFECYCLE_STAGES = ("lead", "prospect", "customer", "former_customer")
ADDRESS_TYPES = ("billing", "shipping")
ADDRESS_PARTS = ("street", "postal_code", "city", "region", "country")


@dataclass(frozen=True)
class CanonicalField:
    """One field of the ledger: its flat path, value type and meaning."""

    name: str
    type: str  # string | enum | country | currency | decimal | bool | datetime | list
    doc: str
    choices: tuple[str, ...] = ()
    max_length: int | None = None


def _address_fields() -> list[CanonicalField]:
    docs = {
        "street": "Street and house number.",
        "postal_code": "Postal code, as written in the country.",
        "city": "City or town.",
        "region": "State, province or region code.",
        "country": "Country, ISO 3166-1 alpha-2.",
    }
    return [
        CanonicalField(
            f"{kind}_address.{part}",
            "country" if part == "country" else "string",
            f"{kind.capitalize()} address: {docs[part]}",
            max_length=2 if part == "country" else 255,
        )
        for kind in ADDRESS_TYPES
        for part in ADDRESS_PARTS
    ]


CANONICAL_FIELDS: dict[str, CanonicalField] = {
    f.name: f
    for f in [
        CanonicalField("kind", "enum", "Organization or person.", KINDS),
        CanonicalField("organization_name", "string", "Legal or trading name of an organization.",
                       max_length=255),
        CanonicalField("first_name", "string", "Given name of a person.", max_length=80),
        CanonicalField("last_name", "string", "Family name of a person.", max_length=80),
        CanonicalField("industry", "string", "Industry or sector.", max_length=80),
        CanonicalField("region", "string", "Sales region the customer belongs to.", max_length=80),
        CanonicalField("country", "country", "Main country, ISO 3166-1 alpha-2.", max_length=2),
        *_address_fields(),
        CanonicalField("emails", "list", "E-mail addresses, lower-cased, primary first."),
        CanonicalField("phones", "list", "Phone numbers in E.164, primary first."),
        CanonicalField("tax_id", "string", "Tax or VAT registration id.", max_length=40),
        CanonicalField("website", "string", "Web site URL.", max_length=255),
        CanonicalField("lifecycle_stage", "enum", "Where the customer is in the sales lifecycle.",
                       LIFECYCLE_STAGES),
        CanonicalField("owner", "string", "Account owner (sales rep) user name or id.", max_length=80),
        CanonicalField("credit_limit", "decimal", "Credit limit granted, in `currency`."),
        CanonicalField("receivables", "decimal", "Open receivables, in `currency`."),
        CanonicalField("currency", "currency", "ISO 4217 currency of credit limit and receivables.",
                       max_length=3),
        CanonicalField("blocked", "bool", "Blocked for orders / business."),
        CanonicalField("archived", "bool", "Archived or marked for deletion."),
        CanonicalField("last_changed_at", "datetime", "When the customer last changed at its source."),
    ]
}
"""Every field an endpoint mapping may name, by flat path."""

FlatRecord = dict[str, Any]


@dataclass
class Address:
    """A typed postal address."""

    street: str | None = None
    postal_code: str | None = None
    city: str | None = None
    region: str | None = None
    country: str | None = None


@dataclass
class CanonicalCustomer:
    """The nested view of one hub customer (the 360-degree view); the hub stores it flat."""

    id: str
    """Canonical (hub) id, stable across endpoints."""
    kind: str | None = None
    """Organization or person."""
    organization_name: str | None = None
    """Legal or trading name of an organization."""
    first_name: str | None = None
    """Given name of a person."""
    last_name: str | None = None
    """Family name of a person."""
    industry: str | None = None
    """Industry or sector."""
    region: str | None = None
    """Sales region."""
    country: str | None = None
    """Main country, ISO 3166-1 alpha-2."""
    billing_address: Address = field(default_factory=Address)
    """Billing address."""
    shipping_address: Address = field(default_factory=Address)
    """Shipping address."""
    emails: list[str] = field(default_factory=list)
    """E-mail addresses, primary first."""
    phones: list[str] = field(default_factory=list)
    """Phone numbers in E.164, primary first."""
    tax_id: str | None = None
    """Tax or VAT registration id."""
    website: str | None = None
    """Web site URL."""
    lifecycle_stage: str | None = None
    """lead, prospect, customer or former_customer."""
    owner: str | None = None
    """Account owner."""
    credit_limit: Decimal | None = None
    """Credit limit granted (SAP owns it)."""
    receivables: Decimal | None = None
    """Open receivables (SAP owns it)."""
    currency: str | None = None
    """ISO 4217 currency of the money fields."""
    blocked: bool | None = None
    """Blocked for business."""
    archived: bool | None = None
    """Archived or marked for deletion."""
    last_changed_at: dt.datetime | None = None
    """Last change at the source."""
    external_ids: dict[str, str] = field(default_factory=dict)
    """The customer's id in each endpoint, by endpoint name."""

    @classmethod
    def from_flat(cls, hub_id: str, flat: Mapping[str, Any],
                  external_ids: Mapping[str, str] | None = None) -> CanonicalCustomer:
        """Build the nested view from a flat hub record."""
        top: dict[str, Any] = {}
        addresses: dict[str, dict[str, Any]] = {k: {} for k in ADDRESS_TYPES}
        for path, value in flat.items():
            head, _, part = path.partition(".")
            if part and head.endswith("_address"):
                addresses[head.removesuffix("_address")][part] = value
            elif path in CANONICAL_FIELDS:
                top[path] = value
        return cls(
            id=hub_id,
            billing_address=Address(**addresses["billing"]),
            shipping_address=Address(**addresses["shipping"]),
            external_ids=dict(external_ids or {}),
            **top,
        )

    def to_flat(self) -> FlatRecord:
        """The flat hub record of this customer (fields that hold a value)."""
        flat: FlatRecord = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, Address):
                for part in ADDRESS_PARTS:
                    if getattr(value, part) is not None:
                        flat[f"{f.name}.{part}"] = getattr(value, part)
            elif f.name in CANONICAL_FIELDS and value not in (None, []):
                flat[f.name] = value
        return flat


def to_json(record: Mapping[str, Any]) -> dict[str, Any]:
    """A flat record with JSON-safe values: Decimal and datetime become strings."""
    out: dict[str, Any] = {}
    for name, value in record.items():
        if isinstance(value, Decimal):
            out[name] = format(value, "f")
        elif isinstance(value, dt.datetime):
            out[name] = value.isoformat()
        elif isinstance(value, tuple):
            out[name] = list(value)
        else:
            out[name] = value
    return out


def from_json(record: Mapping[str, Any]) -> FlatRecord:
    """The inverse of :func:`to_json`, driven by the field types of :data:`CANONICAL_FIELDS`."""
    out: FlatRecord = {}
    for name, value in record.items():
        spec = CANONICAL_FIELDS.get(name)
        if value is None or spec is None:
            out[name] = value
        elif spec.type == "decimal":
            out[name] = Decimal(str(value))
        elif spec.type == "datetime" and isinstance(value, str):
            out[name] = dt.datetime.fromisoformat(value)
        else:
            out[name] = value
    return out


def normalize_value(name: str, value: Any) -> Any:
    """The comparable form of a value: equal values compare equal whatever their formatting."""
    spec = CANONICAL_FIELDS.get(name)
    if value is None or value == "" or value == []:
        return None
    if spec is not None and spec.type == "decimal":
        try:
            return Decimal(str(value)).normalize()
        except InvalidOperation:
            return value
    if isinstance(value, tuple):
        return list(value)
    return value


class _CanonicalDecimal(fields.Decimal):
    """Decimal that refuses NaN and Infinity (money is never NaN)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(allow_nan=False, **kwargs)


def _schema_field(spec: CanonicalField) -> fields.Field[Any]:
    common: dict[str, Any] = {"allow_none": True, "metadata": {"description": spec.doc}}
    if spec.type == "enum":
        return fields.String(validate=validate.OneOf(spec.choices), **common)
    if spec.type == "country":
        return fields.String(validate=validate.Regexp(r"^[A-Z]{2}$", error="not an ISO 3166-1 alpha-2 code"),
                             **common)
    if spec.type == "currency":
        return fields.String(validate=validate.Regexp(r"^[A-Z]{3}$", error="not an ISO 4217 code"), **common)
    if spec.type == "decimal":
        return _CanonicalDecimal(**common)
    if spec.type == "bool":
        return fields.Boolean(**common)
    if spec.type == "datetime":
        return fields.AwareDateTime(default_timezone=dt.UTC, **common)
    if spec.type == "list":
        return fields.List(fields.String(), **common)
    length = validate.Length(max=spec.max_length) if spec.max_length else None
    return fields.String(validate=length, **common)


CanonicalSchema: type[marshmallow.Schema] = marshmallow.Schema.from_dict(
    {name: _schema_field(spec) for name, spec in CANONICAL_FIELDS.items()}, name="CanonicalSchema"
)
"""Marshmallow schema of a flat canonical record (data keys are the flat paths)."""

CANONICAL_SCHEMA = CanonicalSchema()


def validate_flat(record: Mapping[str, Any]) -> dict[str, list[str]]:
    """Problems of a flat record by field; empty when valid."""
    errors = CANONICAL_SCHEMA.validate(to_json(record))
    return {str(k): (v if isinstance(v, list) else [str(v)]) for k, v in errors.items()}


__all__ = [
    "CANONICAL_FIELDS",
    "CANONICAL_SCHEMA",
    "Address",
    "CanonicalCustomer",
    "CanonicalField",
    "FlatRecord",
    "from_json",
    "normalize_value",
    "to_json",
    "validate_flat",
]
