"""Names from many scripts and hostile query strings, end to end: stored faithfully on the far side."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import requests
from sync_rig import Rig, duplicates

from crmsync.connector import Cursor, EndpointContext
from crmsync.retry import RetryPolicy
from crmsync_salesforce.connector import SalesforceConnector
from crmsync_salesforce.fake import FakeSalesforce
from crmsync_salesforce.fixtures import salesforce_options
from crmsync_salesforce.soql import soql_quote
from crmsync_sap.fake_odata import FakeSapOData
from crmsync_sap.odata import SapODataConnector, odata_quote

NAMES = ["O'Brien Logistics Ltd", "Zoë Café SARL", "北京科技有限公司", "Rocket 🚀 Ventures 👩‍💻"]
INJECTIONS = ["' OR Name != '", "x' or BusinessPartner ne '", "\\' OR 1=1 --", "100%_sure Ltd", "a\\\\'b"]


def _sheet_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


@pytest.mark.parametrize("name", NAMES + INJECTIONS)
def test_names_reach_salesforce_sap_and_the_sheet_unchanged(rig: Rig, name: str) -> None:
    mem = rig.memory()
    sf = rig.salesforce()
    sap = rig.sap(fake=FakeSapOData())
    sheet = rig.sheet()
    mem.put("M1", name=name, country="Germany", city=name[:40])
    summary = rig.run()
    assert summary.status == "ok", (summary.counts, rig.dead())
    [account] = sf.find()
    assert account["Name"] == name and account["BillingCity"] == name[:40]
    [partner] = sap.partners.values()
    assert partner["OrganizationBPName1"] == name[:40]
    [row] = _sheet_rows(sheet)
    assert row["company"] == name and row["city"] == name[:40]
    assert rig.hub_count() == 1
    rig.run()  # the far sides' copies come back unchanged: no new records, nothing rewritten
    assert rig.hub_count() == 1 and len(sf.find()) == 1 and len(sap.partners) == 1
    assert mem.records["M1"]["name"] == name


def test_names_from_salesforce_reach_the_other_side_unchanged(rig: Rig) -> None:
    sf = rig.salesforce()
    for name in NAMES + INJECTIONS:
        sf.add(Name=name, BillingCountry="Germany")
    mem = rig.memory()
    rig.run()
    assert sorted(r["name"] for r in mem.records.values()) == sorted(NAMES + INJECTIONS)
    assert not duplicates([a["Crmsync_Id__c"] for a in sf.find()])


@pytest.mark.parametrize("value", INJECTIONS)
def test_soql_quoting_keeps_the_query_meaning(value: str) -> None:
    with FakeSalesforce() as fake:
        assert isinstance(fake, FakeSalesforce)
        fake.add(Name=value)
        fake.add(Name="Innocent GmbH")
        soql = f"SELECT Id, Name FROM Account WHERE Name = {soql_quote(value)}"
        answer = requests.get(f"{fake.base_url}/services/data/v60.0/query", params={"q": soql},
                              headers={"Authorization": f"Bearer {fake.access_token}"}, timeout=10)
        assert answer.status_code == 200, answer.text
        assert [r["Name"] for r in answer.json()["records"]] == [value], "the literal matched, nothing more"


@pytest.mark.parametrize("value", INJECTIONS)
def test_salesforce_cursor_id_is_a_literal_in_the_incremental_query(value: str) -> None:
    with FakeSalesforce() as fake:
        assert isinstance(fake, FakeSalesforce)
        for i in range(3):
            fake.add(Name=f"Konto {i}")
        stamp = fake.records[-1]["SystemModstamp"].replace("+0000", "Z")
        context = EndpointContext(name="sf", object="Account", options=salesforce_options(fake), fields=("Name",),
                                  retry=RetryPolicy(max_attempts=1))
        connector = SalesforceConnector(context)
        try:
            found = list(connector.read_changes(Cursor(stamp, value)))
        finally:
            connector.close()
        # ids that sort after the hostile text at the same stamp, and nothing else
        expected = sorted(r["Id"] for r in fake.records if r["SystemModstamp"].replace("+0000", "Z") > stamp
                          or (r["SystemModstamp"].replace("+0000", "Z") == stamp and r["Id"] > value))
        assert sorted(r.external_id for r in found) == expected


@pytest.mark.parametrize("value", INJECTIONS)
def test_odata_lookup_with_a_hostile_value_matches_only_the_literal(value: str) -> None:
    with FakeSapOData(records=5, seed=1) as fake:
        assert isinstance(fake, FakeSapOData)
        info = fake.info()
        context = EndpointContext(name="sap", object="A_BusinessPartner", retry=RetryPolicy(max_attempts=1),
                                  options={"service_url": info["url"], "username": info["username"],
                                           "password": info["password"]})
        connector = SapODataConnector(context)
        try:
            assert connector._lookup("BusinessPartnerIDByExtSystem", [value]) == {}
            bp = sorted(fake.partners)[0]
            fake.touch(bp, BusinessPartnerIDByExtSystem=value[:20])
            found = connector._lookup("BusinessPartnerIDByExtSystem", [value[:20]])
            assert [str(e["BusinessPartner"]) for e in found.values()] == [bp]
            answer = requests.get(info["url"] + "A_BusinessPartner", auth=(info["username"], info["password"]),
                                  params={"$filter": f"SearchTerm1 eq {odata_quote(value)}", "$format": "json"},
                                  timeout=10)
            assert answer.status_code == 200 and answer.json()["d"]["results"] == []
        finally:
            connector.close()
