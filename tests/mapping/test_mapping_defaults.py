"""The shipped default mappings: clean under check, and realistic records survive a round trip."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from mapping_samples import SALESFORCE, SAP_ODATA, SAP_SOAP, SPREADSHEET

from crmsync.canonical import validate_flat
from crmsync.mapping import check_mapping, compile_mapping
from crmsync.mapping.paths import parse_path
from crmsync.mapping.preview import same_value

MAPPINGS = Path(__file__).resolve().parents[2] / "mappings"
DEFAULTS = ["salesforce_account.yaml", "sap_business_partner.yaml", "sap_soap_customer.yaml",
            "spreadsheet_customers.yaml"]


@pytest.mark.parametrize("name", DEFAULTS)
def test_default_mapping_passes_check(name: str) -> None:
    assert check_mapping(MAPPINGS / name) == []


CASES = [("salesforce_account.yaml", SALESFORCE), ("sap_business_partner.yaml", SAP_ODATA),
         ("sap_soap_customer.yaml", SAP_SOAP), ("spreadsheet_customers.yaml", SPREADSHEET)]


@pytest.mark.parametrize(("name", "records"), CASES)
def test_realistic_records_load_to_valid_canonical_records(name: str, records: list[dict[str, Any]]) -> None:
    mapping = compile_mapping(MAPPINGS / name)
    for payload in records:
        record = mapping.load(payload)
        assert set(record) == mapping.inbound
        assert validate_flat(record) == {}, record
        assert any(record.get(n) for n in ("organization_name", "last_name"))


@pytest.mark.parametrize(("name", "records"), CASES)
def test_round_trip_is_stable_after_one_normalisation(name: str, records: list[dict[str, Any]]) -> None:
    """load -> dump -> load gives the same canonical record, and a second dump the same payload."""
    mapping = compile_mapping(MAPPINGS / name)
    for payload in records:
        record = mapping.load(payload)
        dumped = mapping.dump(record)
        again = mapping.load(dumped)
        outbound = {k: v for k, v in record.items() if k in mapping.outbound}
        assert {k: again[k] for k in outbound} == outbound
        assert mapping.dump(again) == dumped


def _unchanged(name: str, payload: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    mapping = compile_mapping(MAPPINGS / name)
    back = mapping.dump(mapping.load(payload))
    changes = {}
    for mapped in mapping.fields:
        if mapped.outbound and mapped.source:
            path = parse_path(mapped.source)
            before, after = path.get(payload), path.get(back)
            if not same_value(before, after):
                changes[mapped.source] = (before, after)
    return changes


def test_round_trip_gives_the_same_source_values_for_clean_records() -> None:
    assert _unchanged("salesforce_account.yaml", SALESFORCE[0]) == {
        "Phone": ("+353 1 234 5678", "+35312345678")}  # normalised to E.164
    assert _unchanged("sap_business_partner.yaml", SAP_ODATA[0]) == {}
    assert _unchanged("sap_soap_customer.yaml", SAP_SOAP[0]) == {}
    assert _unchanged("spreadsheet_customers.yaml", SPREADSHEET[0]) == {}


def test_salesforce_values() -> None:
    mapping = compile_mapping(MAPPINGS / "salesforce_account.yaml")
    record = mapping.load(SALESFORCE[0])
    assert record["kind"] == "organization" and record["country"] == "IE"
    assert record["credit_limit"] == Decimal("25000.50") and record["receivables"] == Decimal("1234.56")
    assert record["last_changed_at"] == dt.datetime(2026, 11, 23, 10, tzinfo=dt.UTC)
    assert record["lifecycle_stage"] == "customer" and record["emails"] == ["info@obrien.example.ie"]
    assert mapping.load(SALESFORCE[1])["lifecycle_stage"] == "former_customer"
    payload = mapping.dump(record, only=["credit_limit", "blocked"])
    assert payload == {"Credit_Limit__c": 25000.5, "Blocked__c": False}


def test_sap_values() -> None:
    mapping = compile_mapping(MAPPINGS / "sap_business_partner.yaml")
    org, person = (mapping.load(p) for p in SAP_ODATA)
    assert org["kind"] == "organization" and person["kind"] == "person"
    assert org["receivables"] == Decimal("1234.567") and org["tax_id"] == "DE123456789"
    assert person["organization_name"] is None and person["last_name"] == "O'Neill"
    assert person["tax_id"] is None and person["blocked"] is True and person["emails"] is None
    assert org["last_changed_at"] == dt.datetime(2025, 11, 23, tzinfo=dt.UTC)
    dumped = mapping.dump(org)
    assert "CreditLimit" not in dumped and "LastChangeDate" not in dumped
    assert dumped["to_BusinessPartnerAddress"][0]["to_EmailAddress"] == [{"EmailAddress": "info@mueller.example.de"}]


def test_soap_and_spreadsheet_values() -> None:
    soap = compile_mapping(MAPPINGS / "sap_soap_customer.yaml")
    person = soap.load(SAP_SOAP[1])
    assert (person["first_name"], person["last_name"], person["archived"]) == ("Zoë", "D'Arcy", True)
    sheet = compile_mapping(MAPPINGS / "spreadsheet_customers.yaml")
    first, second, third = (sheet.load(row) for row in SPREADSHEET)
    assert first["emails"] == ["info@dangelo.example.it", "ordini@dangelo.example.it"]
    assert sheet.dump(first)["email"] == "info@dangelo.example.it; ordini@dangelo.example.it"
    assert second["organization_name"] is None and second["credit_limit"] is None and second["blocked"] is None
    assert third["phones"] == ["+905321234567"] and third["billing_address.postal_code"] == "34000"
    assert (third["country"], third["currency"], third["lifecycle_stage"]) == ("TR", "TRY", "former_customer")
    assert sheet.dump(third)["lifecycle_stage"] == "former customer"
