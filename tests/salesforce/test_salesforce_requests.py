"""Request shapes and error parsing of the Salesforce connector, with `responses` (no server)."""

from __future__ import annotations

import json
import urllib.parse

import pytest
import responses

from crmsync.connector import Cursor, EndpointContext, OutboundRecord
from crmsync.errors import ConfigError, ErrorKind, PermanentError, RateLimitedError, RetryableError
from crmsync.retry import RetryPolicy
from crmsync_salesforce.connector import SalesforceConnector

HOST = "https://acme.my.salesforce.com"
DATA = f"{HOST}/services/data/v60.0"
SECRET = "s3cr3t-client-secret-value"


def connector(sleeps=None, **options):
    opts = {"instance_url": HOST, "client_id": "3MVGclient", "client_secret": SECRET, **options}
    return SalesforceConnector(EndpointContext(
        name="sf", object="Account", options=opts, fields=("Name", "BillingCity"),
        retry=RetryPolicy(max_attempts=3, sleep=(sleeps if sleeps is not None else []).append)))


@pytest.fixture
def rsps():
    with responses.RequestsMock() as mock:
        mock.add(responses.POST, f"{HOST}/services/oauth2/token", json={
            "access_token": "00Dtoken", "instance_url": HOST, "id": "x", "token_type": "Bearer",
            "issued_at": "1", "signature": "s"})
        yield mock


def test_token_and_query_request_shape(rsps):
    rsps.add(responses.GET, f"{DATA}/queryAll", json={"totalSize": 1, "done": False, "nextRecordsUrl":
             "/services/data/v60.0/queryAll/01gXX-2000", "records": [{"attributes": {"type": "Account"},
             "Id": "001A", "SystemModstamp": "2026-11-23T10:00:00.000+0000", "IsDeleted": False,
             "MasterRecordId": None, "Name": "A", "Owner": {"attributes": {}, "Name": "Bo"}}]},
             headers={"Sforce-Limit-Info": "api-usage=7/5000"})
    rsps.add(responses.GET, f"{DATA}/queryAll/01gXX-2000", json={"totalSize": 1, "done": True, "records": []})
    sf = connector(query_batch_size=500)
    records = list(sf.read_changes(Cursor("2026-11-23T10:00:00Z", "001' OR Name != '")))
    token_form = urllib.parse.parse_qs(rsps.calls[0].request.body)
    assert token_form == {"grant_type": ["client_credentials"], "client_id": ["3MVGclient"],
                          "client_secret": [SECRET]}
    query = rsps.calls[1].request
    soql = urllib.parse.parse_qs(urllib.parse.urlsplit(query.url).query)["q"][0]
    assert soql == ("SELECT Id, SystemModstamp, IsDeleted, MasterRecordId, Crmsync_Id__c, Name, BillingCity "
                    "FROM Account WHERE SystemModstamp > 2026-11-23T10:00:00.000Z OR (SystemModstamp = "
                    "2026-11-23T10:00:00.000Z AND Id > '001\\' OR Name != \\'') ORDER BY SystemModstamp, Id")
    assert query.headers["Authorization"] == "Bearer 00Dtoken"
    assert query.headers["Sforce-Query-Options"] == "batchSize=500"
    assert query.req_kwargs["timeout"] == (10.0, 60.0)
    assert records[0].payload == {"Id": "001A", "SystemModstamp": "2026-11-23T10:00:00.000+0000",
                                  "IsDeleted": False, "MasterRecordId": None, "Name": "A", "Owner": {"Name": "Bo"}}
    assert records[0].cursor == Cursor("2026-11-23T10:00:00.000Z", "001A")
    assert sf.api_usage == (7, 5000) and sf.context.api_calls == 3


def test_write_request_shapes(rsps):
    rsps.add(responses.PATCH, f"{DATA}/composite/sobjects", json=[{"id": "001U", "success": True, "errors": []}])
    rsps.add(responses.PATCH, f"{DATA}/composite/sobjects/Account/Crmsync_Id__c", json=[
        {"id": "001N", "success": True, "errors": [], "created": True},
        {"success": False, "errors": [{"statusCode": "UNABLE_TO_LOCK_ROW", "message": "locked", "fields": []}]}])
    rsps.add(responses.DELETE, f"{DATA}/composite/sobjects", json=[{"id": "001D", "success": True, "errors": []}])
    results = connector().write_batch([
        OutboundRecord("h-new", None, {"Name": "New", "Id": "ignored"}),
        OutboundRecord("h-upd", "001U", {"Name": "Upd"}),
        OutboundRecord("h-del", "001D", {}, action="delete"),
        OutboundRecord("h-lock", None, {"Name": "Locked"}),
    ])
    update = json.loads(rsps.calls[1].request.body)
    assert update == {"allOrNone": False, "records": [
        {"attributes": {"type": "Account"}, "Name": "Upd", "Crmsync_Id__c": "h-upd", "Id": "001U"}]}
    upsert = json.loads(rsps.calls[2].request.body)
    assert upsert["records"][0] == {"attributes": {"type": "Account"}, "Name": "New", "Crmsync_Id__c": "h-new"}
    delete = urllib.parse.parse_qs(urllib.parse.urlsplit(rsps.calls[3].request.url).query)
    assert delete == {"ids": ["001D"], "allOrNone": ["false"]}
    assert [(r.ok, r.external_id, r.created) for r in results[:3]] == [
        (True, "001N", True), (True, "001U", False), (True, "001D", False)]
    assert results[3].error == "locked" and results[3].error_code == "UNABLE_TO_LOCK_ROW"
    assert results[3].kind is ErrorKind.RETRYABLE


def test_more_than_200_records_are_split(rsps):
    def answer(request):
        count = len(json.loads(request.body)["records"])
        return 200, {}, json.dumps([{"id": f"001{i}", "success": True, "errors": [], "created": True}
                                    for i in range(count)])

    rsps.add_callback(responses.PATCH, f"{DATA}/composite/sobjects/Account/Crmsync_Id__c", callback=answer)
    results = connector().write_batch([OutboundRecord(f"h{i}", None, {"Name": "n"}) for i in range(450)])
    assert len(results) == 450 and all(r.ok for r in results)
    assert [len(json.loads(c.request.body)["records"]) for c in rsps.calls[1:]] == [200, 200, 50]


def test_error_parsing(rsps):
    sleeps: list[float] = []
    rsps.add(responses.GET, f"{DATA}/sobjects/Account/describe", status=500, body="oops")
    with pytest.raises(RetryableError, match="HTTP 500"):
        connector(sleeps).describe()
    assert len(sleeps) == 2
    rsps.replace(responses.GET, f"{DATA}/sobjects/Account/describe", status=400,
                 json=[{"message": "bad thing", "errorCode": "INVALID_TYPE"}])
    with pytest.raises(PermanentError, match="INVALID_TYPE: bad thing") as info:
        connector().describe()
    assert info.value.code == "INVALID_TYPE" and info.value.status == 400
    rsps.replace(responses.GET, f"{DATA}/sobjects/Account/describe", status=403,
                 json=[{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}],
                 headers={"Retry-After": "7"})
    sleeps.clear()
    with pytest.raises(RateLimitedError) as limited:
        connector(sleeps).describe()
    assert limited.value.retry_after == 7 and sleeps == [7, 7]


def test_result_count_mismatch_is_an_error(rsps):
    rsps.add(responses.PATCH, f"{DATA}/composite/sobjects/Account/Crmsync_Id__c", json=[])
    with pytest.raises(RetryableError, match="0 results for 1 records"):
        connector().write_batch([OutboundRecord("h", None, {"Name": "n"})])


@pytest.mark.parametrize(("options", "message"), [
    ({"bogus": 1}, "unknown Salesforce option"),
    ({"instance_url": "http://evil.example.com"}, "must use https"),
    ({"instance_url": "https://x.example.com/path"}, "base URL"),
    ({"client_secret": None}, "needs client_secret"),
    ({"auth": "password"}, "auth must be one of"),
    ({"auth": "jwt"}, "needs username, private_key"),
    ({"api_version": "latest"}, "api_version"),
    ({"query_batch_size": 50}, "between 200 and 2000"),
    ({"external_id_field": "Crmsync_Id__c) OR (1"}, "not a Salesforce field name"),
])
def test_option_errors(options, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        connector(**options)


def test_secrets_stay_out_of_reprs():
    sf = connector(access_token="tok-123456789")
    assert SECRET not in repr(sf.options) and "tok-123456789" not in repr(sf.options)
