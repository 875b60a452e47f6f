"""A real client library, simple-salesforce, works against the fake org.

simple-salesforce always builds https:// URLs; a transport adapter turns them into plain
http to the loopback fake (the only change to the client).
"""

from __future__ import annotations

import pytest
import requests
from requests.adapters import HTTPAdapter
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceExpiredSession, SalesforceMalformedRequest


class _PlainHTTP(HTTPAdapter):
    def send(self, request, *args, **kwargs):  # type: ignore[no-untyped-def]
        request.url = request.url.replace("https://", "http://", 1)
        return super().send(request, *args, **kwargs)


@pytest.fixture
def sf(fake_salesforce):
    session = requests.Session()
    session.mount("https://127.0.0.1", _PlainHTTP())
    info = fake_salesforce.info()
    return Salesforce(instance_url=info["url"], session_id=info["access_token"], session=session,
                      version="60.0")


def test_query_and_query_all(fake_salesforce, sf):
    for i in range(450):
        fake_salesforce.add(Name=f"Client {i:03d}")
    fake_salesforce.delete(fake_salesforce.find(Name="Client 000")[0]["Id"])
    first = sf.query("SELECT Id, Name FROM Account ORDER BY Name", headers={"Sforce-Query-Options": "batchSize=200"})
    assert first["totalSize"] == 449 and len(first["records"]) == 200 and not first["done"]
    every = sf.query_all("SELECT Id, Name FROM Account ORDER BY Name", include_deleted=True,
                         headers={"Sforce-Query-Options": "batchSize=200"})
    assert every["totalSize"] == 450 and len(every["records"]) == 450
    assert every["records"][0]["Name"] == "Client 000"
    name = "O'Brien"
    fake_salesforce.add(Name=name)
    found = sf.query(f"SELECT Id FROM Account WHERE Name = '{name.replace(chr(39), chr(92) + chr(39))}'")
    assert found["totalSize"] == 1


def test_upsert_create_update_get_delete(fake_salesforce, sf):
    assert sf.Account.upsert("Crmsync_Id__c/x", {"Name": "Upserted"}) == 201
    assert sf.Account.upsert("Crmsync_Id__c/x", {"Name": "Upserted again"}) == 200
    row = sf.Account.get_by_custom_id("Crmsync_Id__c", "x")
    assert row["Name"] == "Upserted again"
    created = sf.Account.create({"Name": "Created"})
    assert created["success"]
    assert sf.Account.update(created["id"], {"Phone": "+49 30 1234567"}) == 204
    assert sf.Account.get(created["id"])["Phone"] == "+49 30 1234567"
    assert sf.Account.delete(created["id"]) == 204
    with pytest.raises(SalesforceMalformedRequest):
        sf.Account.create({"BillingCity": "no name"})
    assert len(fake_salesforce.find()) == 1


def test_expired_session_is_reported(fake_salesforce, sf):
    fake_salesforce.expire_tokens()
    with pytest.raises(SalesforceExpiredSession):
        sf.query("SELECT Id FROM Account")


def test_bulk2_upsert(fake_salesforce, sf, monkeypatch):
    import simple_salesforce.bulk2 as bulk2

    monkeypatch.setattr(bulk2, "sleep", lambda seconds: None)  # the fake finishes jobs at once
    records = [{"Crmsync_Id__c": f"b{i}", "Name": f"Bulk {i}"} for i in range(20)]
    results = sf.bulk2.Account.upsert(records=records, external_id_field="Crmsync_Id__c")
    assert results[0]["numberRecordsProcessed"] == 20 and results[0]["numberRecordsFailed"] == 0
    assert len(fake_salesforce.find()) == 20


def test_get_updated_and_deleted(fake_salesforce, sf):
    import datetime as dt

    keep, gone = fake_salesforce.add(Name="keep"), fake_salesforce.add(Name="gone")
    fake_salesforce.delete(gone)
    now = dt.datetime.now(dt.UTC)
    fake_salesforce.clock = lambda: (now + dt.timedelta(minutes=2)).timestamp()
    start, end = now - dt.timedelta(hours=1), now + dt.timedelta(minutes=2)
    assert sf.Account.updated(start, end)["ids"] == [keep]
    assert [d["id"] for d in sf.Account.deleted(start, end)["deletedRecords"]] == [gone]


def test_bulk2_query_pages_with_locator(fake_salesforce, sf, monkeypatch):
    import simple_salesforce.bulk2 as bulk2

    monkeypatch.setattr(bulk2, "sleep", lambda seconds: None)
    for i in range(25):
        fake_salesforce.add(Name=f"Q, {i}")
    pages = list(sf.bulk2.Account.query("SELECT Id, Name FROM Account", max_records=10))
    assert len(pages) == 3
    lines = [line for page in pages for line in page.splitlines()[1:]]
    assert len(lines) == 25 and lines[0].endswith('"Q, 0"')
