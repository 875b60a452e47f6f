"""The canonical customer model: flat hub records, the nested view, JSON forms and validation."""

from __future__ import annotations

import dataclasses
import datetime as dt
from decimal import Decimal

from crmsync.canonical import CANONICAL_FIELDS, CanonicalCustomer, from_json, to_json, validate_flat

FLAT = {
    "kind": "organization", "organization_name": "北京科技有限公司", "country": "CN",
    "billing_address.city": "北京", "billing_address.country": "CN", "emails": ["info@bj.example"],
    "phones": ["+861062345678"], "credit_limit": Decimal("25000.50"), "currency": "CNY", "blocked": False,
    "last_changed_at": dt.datetime(2026, 11, 24, 12, 0, tzinfo=dt.UTC),
}


def test_every_field_is_documented_and_every_dataclass_field_is_canonical() -> None:
    assert all(spec.doc.strip() for spec in CANONICAL_FIELDS.values())
    nested = {f.name for f in dataclasses.fields(CanonicalCustomer)} - {"id", "external_ids"}
    assert {name.partition(".")[0] for name in CANONICAL_FIELDS} == nested


def test_nested_view_round_trips_the_flat_record() -> None:
    customer = CanonicalCustomer.from_flat("cus_1", FLAT, {"sap": "0010000001"})
    assert customer.billing_address.city == "北京" and customer.external_ids == {"sap": "0010000001"}
    assert customer.to_flat() == FLAT


def test_json_form_keeps_money_exact() -> None:
    stored = to_json(FLAT)
    assert stored["credit_limit"] == "25000.50" and isinstance(stored["last_changed_at"], str)
    assert from_json(stored) == FLAT


def test_validation_names_the_bad_fields() -> None:
    assert validate_flat(FLAT) == {}
    problems = validate_flat({**FLAT, "country": "China", "kind": "robot", "credit_limit": "NaN"})
    assert set(problems) == {"country", "kind", "credit_limit"}
