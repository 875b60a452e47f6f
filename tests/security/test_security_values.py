"""Hostile values through the mapping layer and the engine: stored faithfully or a clear dead letter."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pytest
from sync_rig import Rig, duplicates

from crmsync.connector import EndpointContext, OutboundRecord
from crmsync.errors import RecordError
from crmsync.mapping import compile_mapping
from crmsync.plugins import get_host
from crmsync.retry import RetryPolicy
from crmsync_salesforce.connector import SalesforceConnector
from crmsync_salesforce.fake import FakeSalesforce
from crmsync_salesforce.fixtures import salesforce_options
from crmsync_sap.fake_odata import FakeSapOData

DATED = Path(__file__).with_name("memory_dated.yaml")

# value, field of the memory record -> (canonical field, Salesforce field, SAP address field, sheet column)
TEXT_CASES: dict[str, tuple[str, str]] = {
    "nul": ("city", "Ber\x00lin"),
    "crlf": ("street", "Main St 1\r\nX-Injected: yes"),
    "lf-only": ("city", "Zeile1\nZeile2"),
    "rlo": ("city", "abc\u202egpj.exe"),
    "zero-width": ("street", "Haupt\u200bstraße 1"),
}
WHERE = {"city": ("BillingCity", "CityName", "city"), "street": ("BillingStreet", "StreetName", "street")}


def _sheet(path: Path) -> dict[str, dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return {row["company"]: row for row in csv.DictReader(handle)}


def test_control_and_bidi_characters_are_stored_faithfully_or_dead_lettered(rig: Rig) -> None:
    mem = rig.memory(mapping=DATED)
    sf = rig.salesforce()
    sap = rig.sap(fake=FakeSapOData())
    sheet = rig.sheet()
    for key, (column, value) in TEXT_CASES.items():
        mem.put(key, name=f"Firma {key}", country="Germany", **{column: value})
    summary = rig.run()
    assert summary.counts["mem"]["hub_created"] == len(TEXT_CASES)
    hub_of = rig.binding("mem")
    rows = _sheet(sheet)
    for key, (column, value) in TEXT_CASES.items():
        sf_field, sap_field, sheet_column = WHERE[column]
        [account] = sf.find(Name=f"Firma {key}")
        assert account[sf_field] == value, key
        assert rows[f"Firma {key}"][sheet_column] == value, key
        partner = next((p for p in sap.partners.values() if p["OrganizationBPName1"] == f"Firma {key}"), None)
        if partner is not None:
            assert partner["to_BusinessPartnerAddress"][0][sap_field] == value, key
        else:  # SAP refuses some characters: a dead letter with SAP's own message, per record
            [letter] = [d for d in rig.dead("sap") if d["hub_id"] == hub_of[key]]
            assert "invalid characters" in letter["error"], letter["error"]
    assert {d["hub_id"] for d in rig.dead("sap")} == {hub_of["nul"]}, "only NUL is refused by SAP"
    assert rig.run().total("created") == 0, "nothing duplicated by a rerun"
    assert not duplicates([a["Crmsync_Id__c"] for a in sf.find()])


BAD_VALUES: dict[str, tuple[dict[str, Any], str]] = {
    "nan-text": ({"credit": "NaN"}, "not a finite number"),
    "nan-float": ({"credit": float("nan")}, "not a finite number"),
    "infinity": ({"credit": "Infinity"}, "not a finite number"),
    "minus-infinity": ({"credit": float("-inf")}, "not a finite number"),
    "1e309": ({"open": "1e309"}, "out of range"),
    "2023-02-29": ({"changed": "2023-02-29"}, "day is out of range for month"),
    "sap-date": ({"changed": "/Date(abc)/"}, "/Date(abc)/"),
    "100kB": ({"street": "S" * 100_000}, "100000 characters, longer than the 255 allowed"),
    "nul-in-country": ({"country": "D\x00E"}, "country"),
}


def test_invalid_values_are_clear_per_record_dead_letters_and_the_rest_syncs(rig: Rig) -> None:
    mem = rig.memory(mapping=DATED)
    sf = rig.salesforce()
    mem.put("good", name="Gute Firma GmbH", country="Germany", credit="10.5", changed="2024-02-29")
    for key, (fields, _) in BAD_VALUES.items():
        mem.put(key, name=f"Firma {key}", **{"country": "Germany", **fields})
    summary = rig.run()
    assert summary.status == "rejected"
    letters = {d["external_id"]: d for d in rig.dead("mem")}
    assert set(letters) == set(BAD_VALUES)
    for key, (_, message) in BAD_VALUES.items():
        assert message in letters[key]["error"], (key, letters[key]["error"])
        assert letters[key]["direction"] == "in" and letters[key]["problems"] != "[]"
    assert [a["Name"] for a in sf.find()] == ["Gute Firma GmbH"]
    assert rig.hub_count() == 1


@pytest.mark.parametrize("value", [float("nan"), float("inf"), "NaN", "1e309"])
def test_mapping_dump_refuses_non_finite_money(value: Any) -> None:
    mapping = compile_mapping(Path(__file__).parents[2] / "mappings" / "salesforce_account.yaml",
                              get_host().converters)
    with pytest.raises(RecordError):
        mapping.dump({"organization_name": "X", "credit_limit": value}, only=["credit_limit"])


@pytest.mark.parametrize("key", ["", "   ", "\t"])
def test_salesforce_connector_refuses_empty_hub_ids_per_record(key: str) -> None:
    with FakeSalesforce() as fake:
        assert isinstance(fake, FakeSalesforce)
        context = EndpointContext(name="sf", object="Account", options=salesforce_options(fake),
                                  retry=RetryPolicy(max_attempts=1))
        connector = SalesforceConnector(context)
        try:
            bad, good = connector.write_batch([OutboundRecord(key, None, {"Name": "Leer"}),
                                               OutboundRecord("cus_ok", None, {"Name": "Voll"})])
        finally:
            connector.close()
        assert not bad.ok and bad.error_code == "MISSING_HUB_ID"
        assert good.ok and [a["Name"] for a in fake.find()] == ["Voll"]


def test_duplicate_hub_ids_in_one_salesforce_batch_are_refused_not_doubled() -> None:
    with FakeSalesforce() as fake:
        assert isinstance(fake, FakeSalesforce)
        context = EndpointContext(name="sf", object="Account", options=salesforce_options(fake),
                                  retry=RetryPolicy(max_attempts=1))
        connector = SalesforceConnector(context)
        try:
            first, second = connector.write_batch([OutboundRecord("cus_1", None, {"Name": "Eins"}),
                                                   OutboundRecord("cus_1", None, {"Name": "Zwei"})])
        finally:
            connector.close()
        assert first.ok and not second.ok and second.error_code == "DUPLICATE_HUB_ID"
        assert [a["Name"] for a in fake.find(Crmsync_Id__c="cus_1")] == ["Eins"]


def test_duplicate_keys_in_one_sheet_are_clear_dead_letters_not_two_customers(rig: Rig) -> None:
    sheet = rig.sheet()
    sheet.write_text("customer_id,company,country\nK-1,Erste GmbH,Germany\nK-1,Zweite GmbH,Germany\n"
                     "K-2,Dritte GmbH,Germany\n", encoding="utf-8")
    sf = rig.salesforce()
    summary = rig.run()
    assert summary.status == "rejected"
    [letter] = rig.dead("sheet")
    assert letter["external_id"] == "customers.csv#3"
    assert "line 3: duplicate customer_id 'K-1'" in letter["error"], letter["error"]
    assert sorted(a["Name"] for a in sf.find()) == ["Dritte GmbH", "Erste GmbH"]
    assert rig.hub_count() == 2


@pytest.mark.parametrize("key", ["", "   "], ids=["empty", "whitespace"])
def test_empty_and_whitespace_keys_in_a_sheet_are_dead_letters(rig: Rig, key: str) -> None:
    sheet = rig.sheet()
    sheet.write_text(f"customer_id,company,country\n{key},Ohne Schlüssel GmbH,Germany\nK-2,Mit GmbH,Germany\n",
                     encoding="utf-8")
    sf = rig.salesforce()
    rig.run()
    assert [a["Name"] for a in sf.find()] == ["Mit GmbH"]
    [letter] = rig.dead("sheet")
    assert "customer_id" in letter["error"] or "key" in letter["error"].lower(), letter["error"]
    assert rig.hub_count() == 1


@pytest.mark.parametrize("key", ["", "   "], ids=["empty", "whitespace"])
def test_empty_and_whitespace_external_ids_from_a_connector_are_dead_letters(rig: Rig, key: str) -> None:
    mem = rig.memory()
    sf = rig.salesforce()
    mem.put(key, name="Ohne Schlüssel GmbH", country="Germany")
    mem.put("K-2", name="Mit GmbH", country="Germany")
    rig.run()
    assert "" not in rig.binding("mem") and key not in rig.binding("mem")
    assert [d["external_id"] for d in rig.dead("mem")] == [key]
    assert [a["Name"] for a in sf.find()] == ["Mit GmbH"]
