"""The default mappings against the real connectors and their fake servers on loopback:
what the connectors read loads cleanly, and what dump produces the connectors write."""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from mapping_samples import SPREADSHEET

from crmsync.connector import Connector, EndpointContext, OutboundRecord
from crmsync.errors import RecordError
from crmsync.mapping import CompiledMapping, compile_mapping
from crmsync.retry import RetryPolicy

MAPPINGS = Path(__file__).resolve().parents[2] / "mappings"
RETRY = RetryPolicy(max_attempts=2, sleep=lambda seconds: None)


def _exercise(mapping: CompiledMapping, connector: Connector, allowed_rules: frozenset[str] = frozenset()) -> int:
    records = [record for record in connector.read_changes(None) if not record.deleted]
    assert records
    loaded = []
    for record in records:
        try:
            loaded.append((record, mapping.load(record.payload)))
        except RecordError as exc:
            assert {p["rule"] for p in exc.problems} <= allowed_rules, exc.problems
    assert len(loaded) >= len(records) * 0.8
    # Updates send the changed fields (here: all but the category, which SAP cannot change).
    updates = [OutboundRecord(f"hub-{n}", record.external_id, mapping.dump(canonical, only=mapping.outbound - {"kind"}),
                              etag=record.payload.get("__etag") or record.payload.get("ChangeStateID"))
               for n, (record, canonical) in enumerate(loaded[:8])]
    creates = [OutboundRecord(f"new-{n}", None, mapping.dump(canonical))
               for n, (_, canonical) in enumerate(loaded[8:16])]
    results = connector.write_batch(updates) + connector.write_batch(creates)
    assert [(r.ok, r.error) for r in results] == [(True, None)] * len(results)
    return len(loaded)


def test_salesforce_account_mapping_with_the_salesforce_fake() -> None:
    fake_module = pytest.importorskip("crmsync_salesforce.fake")
    fixtures = pytest.importorskip("crmsync_salesforce.fixtures")
    connector_module = pytest.importorskip("crmsync_salesforce.connector")
    mapping = compile_mapping(MAPPINGS / "salesforce_account.yaml")
    fake = fake_module.FakeSalesforce(records=40, seed=5)
    fake.start()
    try:
        connector = connector_module.SalesforceConnector(EndpointContext(
            name="sf", object="Account", options=fixtures.salesforce_options(fake), fields=mapping.source_fields,
            retry=RETRY))
        # The fake generates some French numbers one digit short: those records fail on `phone`.
        _exercise(mapping, connector, frozenset({"phone"}))
    finally:
        fake.stop()


def test_sap_business_partner_mapping_with_the_odata_fake() -> None:
    fake_module = pytest.importorskip("crmsync_sap.fake_odata")
    odata = pytest.importorskip("crmsync_sap.odata")
    mapping = compile_mapping(MAPPINGS / "sap_business_partner.yaml")
    fake = fake_module.FakeSapOData(records=40, seed=5)
    fake.start()
    try:
        info = fake.info()
        connector = odata.SapODataConnector(EndpointContext(
            name="sap", object="A_BusinessPartner", fields=mapping.source_fields, retry=RETRY,
            options={"service_url": info["url"], "username": info["username"], "password": info["password"],
                     "receivables_entity_set": "A_OperationalAcctgDocItemCube"}))
        _exercise(mapping, connector)
        record = mapping.load(next(iter(connector.read_changes(None))).payload)
        assert record["receivables"] is not None
    finally:
        fake.stop()


def test_sap_soap_customer_mapping_with_the_soap_fake() -> None:
    fake_module = pytest.importorskip("crmsync_sap.fake_soap")
    soap = pytest.importorskip("crmsync_sap.soap")
    mapping = compile_mapping(MAPPINGS / "sap_soap_customer.yaml")
    fake = fake_module.FakeSapSoap(records=40, seed=5)
    fake.start()
    try:
        info = fake.info()
        connector = soap.SapSoapConnector(EndpointContext(
            name="soap", object="Customer", fields=mapping.source_fields, retry=RETRY,
            options={"endpoint_url": info["url"], "username": info["username"], "password": info["password"]}))
        # Reads skip changes younger than a settle window; these records were made just now.
        connector.clock = lambda: dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
        _exercise(mapping, connector)
    finally:
        fake.stop()


def test_spreadsheet_mapping_with_a_csv_file(tmp_path: Path) -> None:
    module = pytest.importorskip("crmsync_spreadsheet.connector")
    columns = ["customer_id", "company", "first_name", "last_name", "email", "phone", "street", "postal_code",
               "city", "country", "vat_id", "industry", "lifecycle_stage", "owner", "credit_limit", "currency",
               "blocked"]
    path = tmp_path / "customers.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, columns)
        writer.writeheader()
        for row in SPREADSHEET:
            writer.writerow({c: row.get(c, "") for c in columns})
    mapping = compile_mapping(MAPPINGS / "spreadsheet_customers.yaml")
    make: Callable[..., Any] = module.SpreadsheetConnector
    connector = make(EndpointContext(name="sheet", object="customers", options={"path": str(path)},
                                     fields=mapping.source_fields, retry=RETRY))
    records = list(connector.read_changes(None))
    assert len(records) == len(SPREADSHEET)
    canonical = [mapping.load(r.payload) for r in records]
    assert canonical[0]["organization_name"] == "D'Angelo Trasporti S.p.A."
    assert canonical[2]["billing_address.city"] == "İstanbul"
    results = connector.write_batch([OutboundRecord(f"hub-{n}", r.external_id, mapping.dump(c))
                                     for n, (r, c) in enumerate(zip(records, canonical, strict=True))])
    assert all(r.ok for r in results), [r.error for r in results]
