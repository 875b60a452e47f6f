"""The fake org answers like Salesforce: OAuth, errors, limits, query paging, writes, bulk jobs."""

from __future__ import annotations

import datetime as dt

import pytest
import requests

from crmsync_salesforce.fake import FakeSalesforce, sf_id

V = "/services/data/v60.0"


@pytest.fixture
def api(fake_salesforce):
    session = requests.Session()
    session.headers["Authorization"] = "Bearer " + fake_salesforce.info()["access_token"]
    base = fake_salesforce.base_url

    def call(method, path, **kwargs):
        return session.request(method, base + (path if path.startswith("/services") else f"{V}/{path}"),
                               timeout=10, **kwargs)

    return call


def acc(**fields):
    return {"attributes": {"type": "Account"}, **fields}


def test_ids_are_18_chars_with_account_prefix_and_checksum():
    assert sf_id("001", 1) == "0015g0000000001AAA"
    assert sf_id("001", 62 ** 3 + 10)[15:] != "AAA"  # upper-case letters change the checksum
    assert len(sf_id("001", 10 ** 9)) == 18


def test_oauth_client_credentials_response_shape(fake_salesforce):
    info = fake_salesforce.info()
    answer = requests.post(info["url"] + "/services/oauth2/token", timeout=10, data={
        "grant_type": "client_credentials", "client_id": info["client_id"],
        "client_secret": info["client_secret"]})
    body = answer.json()
    assert answer.status_code == 200
    assert set(body) >= {"access_token", "instance_url", "id", "token_type", "issued_at", "signature"}
    assert body["token_type"] == "Bearer" and "expires_in" not in body and body["issued_at"].isdigit()
    bad = requests.post(info["url"] + "/services/oauth2/token", timeout=10, data={
        "grant_type": "client_credentials", "client_id": info["client_id"], "client_secret": "x"})
    assert bad.status_code == 400 and bad.json()["error"] == "invalid_client"


def test_invalid_session_exact_body_and_expire_tokens(fake_salesforce, api):
    assert api("GET", "limits").status_code == 200
    fake_salesforce.expire_tokens()
    answer = api("GET", "limits")
    assert answer.status_code == 401
    assert answer.json() == [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]


def test_limit_header_and_quota(api):
    with FakeSalesforce(daily_quota=2) as fake:
        headers = {"Authorization": "Bearer " + fake.info()["access_token"]}
        url = fake.base_url + V + "/limits"
        first = requests.get(url, headers=headers, timeout=10)
        assert first.headers["Sforce-Limit-Info"] == "api-usage=1/2"
        requests.get(url, headers=headers, timeout=10)
        refused = requests.get(url, headers=headers, timeout=10)
        assert refused.status_code == 403
        assert refused.json()[0]["errorCode"] == "REQUEST_LIMIT_EXCEEDED"
        assert refused.headers["Sforce-Limit-Info"] == "api-usage=2/2"


def test_versions_and_describe(fake_salesforce, api):
    versions = requests.get(fake_salesforce.base_url + "/services/data", timeout=10).json()
    assert versions[-1] == {"label": "API 60.0", "url": "/services/data/v60.0", "version": "60.0"}
    describe = api("GET", "sobjects/Account/describe").json()
    by_name = {f["name"]: f for f in describe["fields"]}
    assert by_name["Crmsync_Id__c"]["externalId"] and by_name["Crmsync_Id__c"]["unique"]
    assert by_name["Blocked__c"]["type"] == "boolean"
    assert api("GET", "sobjects/Nope/describe").status_code == 404
    assert api("GET", "/services/data/v99.0/limits").status_code == 404


def test_query_paging_with_batch_size_and_locator_repeatable(api):
    with FakeSalesforce(records=450, seed=3) as fake:
        headers = {"Authorization": "Bearer " + fake.info()["access_token"],
                   "Sforce-Query-Options": "batchSize=200"}
        first = requests.get(fake.base_url + V + "/query", params={"q": "SELECT Id FROM Account"},
                             headers=headers, timeout=10).json()
        total = first["totalSize"]
        assert len(first["records"]) == 200 and not first["done"]
        page = requests.get(fake.base_url + first["nextRecordsUrl"], headers=headers, timeout=10).json()
        again = requests.get(fake.base_url + first["nextRecordsUrl"], headers=headers, timeout=10).json()
        assert page == again
        seen = first["records"] + page["records"]
        while not page["done"]:
            page = requests.get(fake.base_url + page["nextRecordsUrl"], headers=headers, timeout=10).json()
            seen += page["records"]
        assert len({r["Id"] for r in seen}) == total
        every = requests.get(fake.base_url + V + "/queryAll", params={"q": "SELECT Id FROM Account"},
                             headers=headers, timeout=10).json()
        assert every["totalSize"] == 450 > total  # generated data has a few deleted rows


def test_query_errors_are_salesforce_shaped(api):
    answer = api("GET", "query", params={"q": "SELECT Id FROM Account WHERE Name = 'unterminated"})
    assert answer.status_code == 400 and answer.json()[0]["errorCode"] == "MALFORMED_QUERY"


def test_single_upsert_201_200_300_and_404(fake_salesforce, api):
    created = api("PATCH", "sobjects/Account/Crmsync_Id__c/h-1", json={"Name": "One"})
    assert created.status_code == 201 and created.json()["created"] is True
    updated = api("PATCH", "sobjects/Account/Crmsync_Id__c/h-1", json={"Name": "One B"})
    assert updated.status_code == 200 and updated.json() == {
        "id": created.json()["id"], "success": True, "errors": [], "created": False}
    fake_salesforce.add(Name="S1", SAP_Customer_Id__c="0000001")
    fake_salesforce.add(Name="S2", SAP_Customer_Id__c="0000001")
    several = api("PATCH", "sobjects/Account/SAP_Customer_Id__c/0000001", json={"Name": "?"})
    assert several.status_code == 300 and len(several.json()) == 2
    missing = api("PATCH", "sobjects/Account/Nope__c/1", json={"Name": "?"})
    assert missing.status_code == 404 and missing.json()[0]["errorCode"] == "NOT_FOUND"


def test_collections_create_update_all_or_none(fake_salesforce, api):
    created = api("POST", "composite/sobjects", json={"allOrNone": False, "records": [
        acc(Name="A"), acc(Name="B", Email__c="not-an-email")]}).json()
    assert created[0]["success"] and "created" not in created[0]
    assert created[1]["errors"][0]["statusCode"] == "INVALID_EMAIL_ADDRESS"
    rolled = api("POST", "composite/sobjects", json={"allOrNone": True, "records": [
        acc(Name="C"), acc(BillingCity="no name")]}).json()
    assert rolled[0]["errors"][0]["statusCode"] == "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    assert rolled[1]["errors"][0]["statusCode"] == "REQUIRED_FIELD_MISSING"
    assert [r["Name"] for r in fake_salesforce.find()] == ["A"]
    rid = created[0]["id"]
    stamp = fake_salesforce.get(rid)["SystemModstamp"]
    updated = api("PATCH", "composite/sobjects", json={"allOrNone": False, "records": [
        acc(Id=rid, Name="A2"), acc(Id="001000000000000AAA", Name="?"), acc(Id=rid, SystemModstamp="x")]}).json()
    assert updated[0]["success"]
    assert updated[1]["errors"][0]["statusCode"] == "INVALID_CROSS_REFERENCE_KEY"
    assert updated[2]["errors"][0]["statusCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"
    assert fake_salesforce.get(rid)["SystemModstamp"] > stamp
    too_many = api("POST", "composite/sobjects", json={"records": [acc(Name="x")] * 201})
    assert too_many.status_code == 400


def test_collections_upsert_duplicates_and_unknown_field(fake_salesforce, api):
    answer = api("PATCH", "composite/sobjects/Account/Crmsync_Id__c", json={"allOrNone": False, "records": [
        acc(Crmsync_Id__c="d", Name="1"), acc(Crmsync_Id__c="d", Name="2"), acc(Crmsync_Id__c="e", Name="3")]})
    body = answer.json()
    assert [r["success"] for r in body] == [False, False, True]
    assert body[0]["errors"][0]["statusCode"] == "DUPLICATE_VALUE"
    unknown = api("PATCH", "composite/sobjects/Account/Crmsync_Id__c", json={"records": [
        acc(Crmsync_Id__c="f", Name="1", Bogus__c=1)]})
    assert unknown.status_code == 400 and unknown.json()[0]["errorCode"] == "INVALID_FIELD"
    clash = api("POST", "composite/sobjects", json={"records": [acc(Name="x", Crmsync_Id__c="e")]}).json()
    assert clash[0]["errors"][0]["statusCode"] == "DUPLICATE_VALUE"


def test_systemmodstamp_shared_within_a_request_and_increasing(fake_salesforce, api):
    frozen = dt.datetime(2026, 11, 23, 10, 0, tzinfo=dt.UTC).timestamp()
    fake_salesforce.clock = lambda: frozen
    body = api("POST", "composite/sobjects", json={"records": [acc(Name=f"S{i}") for i in range(5)]}).json()
    stamps = {fake_salesforce.get(r["id"])["SystemModstamp"] for r in body}
    assert stamps == {"2026-11-23T10:00:00.000+0000"}
    second = fake_salesforce.add(Name="later")  # the clock stands still; the stamp still moves on
    assert fake_salesforce.get(second)["SystemModstamp"] == "2026-11-23T10:00:00.001+0000"


def test_delete_get_deleted_and_updated(fake_salesforce, api):
    keep = fake_salesforce.add(Name="keep")
    gone = fake_salesforce.add(Name="gone")
    answer = api("DELETE", "composite/sobjects", params={"ids": f"{gone},{gone}x", "allOrNone": "false"})
    assert [r["success"] for r in answer.json()] == [True, False]
    assert api("GET", f"sobjects/Account/{gone}").json()[0]["errorCode"] == "ENTITY_IS_DELETED"
    now = dt.datetime.now(dt.UTC)
    # Salesforce covers changes up to the last whole minute: let the org's clock move on
    fake_salesforce.clock = lambda: (now + dt.timedelta(minutes=2)).timestamp()
    window = {"start": (now - dt.timedelta(days=1)).isoformat(), "end": (now + dt.timedelta(minutes=3)).isoformat()}
    deleted = api("GET", "sobjects/Account/deleted/", params=window).json()
    assert [d["id"] for d in deleted["deletedRecords"]] == [gone]
    assert set(deleted) == {"deletedRecords", "earliestDateAvailable", "latestDateCovered"}
    updated = api("GET", "sobjects/Account/updated/", params=window).json()
    assert updated["ids"] == [keep]
    old = {"start": (now - dt.timedelta(days=40)).isoformat(), "end": now.isoformat()}
    assert api("GET", "sobjects/Account/updated/", params=old).json()[0]["errorCode"] == "INVALID_REPLICATION_DATE"


def test_merge_in_process(fake_salesforce):
    master, loser = fake_salesforce.add(Name="M"), fake_salesforce.add(Name="L")
    fake_salesforce.merge(master, loser)
    row = fake_salesforce.get(loser)
    assert row["IsDeleted"] and row["MasterRecordId"] == master
    assert [r["Id"] for r in fake_salesforce.find()] == [master]


def test_bulk_ingest_job_lifecycle(fake_salesforce, api):
    job = api("POST", "jobs/ingest", json={"object": "Account", "externalIdFieldName": "Crmsync_Id__c",
                                           "operation": "upsert", "contentType": "CSV", "lineEnding": "LF"}).json()
    assert job["state"] == "Open"
    csv_text = "Crmsync_Id__c,Name,Blocked__c\nb1,Bulk One,true\nb2,,false\nb3,\"Comma, Inc.\",\n"
    assert api("PUT", f"jobs/ingest/{job['id']}/batches", data=csv_text.encode(),
               headers={"Content-Type": "text/csv"}).status_code == 201
    closed = api("PATCH", f"jobs/ingest/{job['id']}", json={"state": "UploadComplete"}).json()
    assert closed["state"] == "JobComplete"
    info = api("GET", f"jobs/ingest/{job['id']}").json()
    assert info["numberRecordsProcessed"] == 3 and info["numberRecordsFailed"] == 1
    ok = api("GET", f"jobs/ingest/{job['id']}/successfulResults").text.splitlines()
    assert ok[0] == "sf__Id,sf__Created,Crmsync_Id__c,Name,Blocked__c" and len(ok) == 3
    failed = api("GET", f"jobs/ingest/{job['id']}/failedResults").text.splitlines()
    assert failed[1].startswith(",REQUIRED_FIELD_MISSING:Required fields are missing: [Name]")
    assert fake_salesforce.find(Crmsync_Id__c="b3")[0]["Name"] == "Comma, Inc."
    assert api("PATCH", f"jobs/ingest/{job['id']}", json={"state": "UploadComplete"}).status_code == 400


def test_control_endpoints(fake_salesforce):
    requests.post(fake_salesforce.base_url + "/__fake__/faults", json={"kind": "status", "status": 502},
                  timeout=10)
    assert requests.get(fake_salesforce.base_url + V + "/limits", timeout=10).status_code == 502
    state = requests.get(fake_salesforce.base_url + "/__fake__/state", timeout=10).json()
    assert state["records"] == [] and "api_usage" in state


def test_generated_records_are_deterministic_and_varied():
    a, b = FakeSalesforce(records=200, seed=5), FakeSalesforce(records=200, seed=5)
    assert a.records == b.records
    names = " ".join(r["Name"] for r in a.records)
    assert "'" in names and any(ord(c) > 0x4E00 for c in names) and "ü" in names.lower() + "ü"
    assert FakeSalesforce(records=50, seed=6).records != FakeSalesforce(records=50, seed=5).records


def test_load_from_file(tmp_path):
    path = tmp_path / "accounts.json"
    path.write_text('{"records": [{"Id": "0015g00000XYZ12AAA", "Name": "Loaded",'
                    ' "SystemModstamp": "2026-01-01T00:00:00.000+0000"}]}', encoding="utf-8")
    fake = FakeSalesforce(data=path)
    assert fake.get("0015g00000XYZ12AAA")["SystemModstamp"] == "2026-01-01T00:00:00.000+0000"
