"""Request shapes with `responses`: the exact $filter, CSRF headers, $batch parts, safe $metadata."""

from __future__ import annotations

import json
import re
import urllib.parse

import pytest
import responses

from crmsync.connector import Cursor, EndpointContext, OutboundRecord
from crmsync.errors import ConfigError, PermanentError
from crmsync.retry import RetryPolicy
from crmsync_sap.odata import SapODataConnector
from crmsync_sap.odata_wire import BatchPart, decode_batch, encode_batch

ROOT = "https://s4.example.invalid/sap/opu/odata/sap/API_BUSINESS_PARTNER/"


def _connector(**options):  # type: ignore[no-untyped-def]
    opts = {"service_url": ROOT, "username": "COMM_USER", "password": "s3cret", "sap_client": "100",
            **options}
    return SapODataConnector(EndpointContext(name="s4", object="A_BusinessPartner", options=opts,
                                             retry=RetryPolicy(max_attempts=2, sleep=lambda s: None)))


def _query(call) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(call.request.url).query))


@responses.activate
def test_incremental_read_sends_the_protocol_filter():
    responses.get(ROOT + "A_BusinessPartner", json={"d": {"results": []}},
                  headers={"x-csrf-token": "tok"})
    list(_connector().read_changes(Cursor("2026-11-23T10:00:05Z", "0010000001")))
    changed, never = (_query(c) for c in responses.calls)
    assert changed["$filter"] == ("((LastChangeDate gt datetime'2026-11-23T00:00:00') or "
                                  "(LastChangeDate eq datetime'2026-11-23T00:00:00' and "
                                  "LastChangeTime ge time'PT10H00M05S'))")
    assert changed["$orderby"] == "LastChangeDate asc,LastChangeTime asc,BusinessPartner asc"
    assert changed["sap-client"] == "100"
    assert changed["$expand"] == "to_BusinessPartnerAddress,to_BusinessPartnerRole,to_Customer"
    assert never["$filter"].startswith("LastChangeDate eq null and ((CreationDate gt datetime'2026-11-23")
    assert responses.calls[0].request.headers["X-CSRF-Token"] == "Fetch"
    assert responses.calls[0].request.headers["Authorization"].startswith("Basic ")


@responses.activate
def test_select_and_expand_derived_from_fields():
    responses.get(ROOT + "A_BusinessPartner", json={"d": {"results": []}})
    connector = _connector()
    connector.context.fields = ("OrganizationBPName1", "to_BusinessPartnerAddress[0].CityName")
    list(connector.read_changes(None))
    params = _query(responses.calls[0])
    assert params["$filter"] == "LastChangeDate ne null"
    assert params["$expand"] == "to_Customer,to_BusinessPartnerAddress"
    select = params["$select"].split(",")
    assert {"BusinessPartner", "LastChangeDate", "LastChangeTime", "OrganizationBPName1",
            "to_BusinessPartnerAddress/CityName", "to_BusinessPartnerAddress/AddressID",
            "to_Customer/DeletionIndicator"} <= set(select)


@responses.activate
def test_update_goes_through_batch_with_csrf_and_if_match():
    partner = {"__metadata": {"etag": "W/\"'1'\""}, "BusinessPartner": "0010000001", "Customer": "",
               "BusinessPartnerIDByExtSystem": "", "to_BusinessPartnerAddress": {"results": [
                   {"__metadata": {"etag": "W/\"'a'\""}, "BusinessPartner": "0010000001", "AddressID": "77"}]}}
    responses.get(ROOT + "A_BusinessPartner", json={"d": {"results": [partner]}},
                  headers={"x-csrf-token": "tok-1"})
    answer, ctype = encode_batch([[BatchPart(status=204, changeset=1), BatchPart(status=204, changeset=1)]],
                                 responses=True)
    responses.post(ROOT + "$batch", body=answer, status=202, content_type=ctype)
    [result] = _connector().write_batch([OutboundRecord("h1", "0010000001", {
        "OrganizationBPName1": "N", "to_BusinessPartnerAddress": [{"CityName": "Köln"}]})])
    assert result.ok
    lookup = _query(responses.calls[0])
    assert lookup["$filter"] == "BusinessPartner eq '0010000001'"
    batch = responses.calls[1].request
    assert batch.headers["X-CSRF-Token"] == "tok-1"
    [[first, second]] = decode_batch(batch.body, batch.headers["Content-Type"])
    assert (first.method, first.url, first.header("If-Match")) == (
        "PATCH", "A_BusinessPartner('0010000001')", "W/\"'1'\"")
    assert json.loads(first.body) == {"OrganizationBPName1": "N", "BusinessPartnerIDByExtSystem": "h1"}
    assert (second.url, second.header("If-Match")) == (
        "A_BusinessPartnerAddress(BusinessPartner='0010000001',AddressID='77')", "W/\"'a'\"")
    assert json.loads(second.body.decode("utf-8")) == {"CityName": "Köln"}


@responses.activate
def test_create_looks_up_the_hub_id_then_deep_inserts():
    responses.get(ROOT + "A_BusinessPartner", json={"d": {"results": []}}, headers={"x-csrf-token": "t"})
    created = {"d": {"__metadata": {"etag": "W/\"'1'\""}, "BusinessPartner": "0010000099"}}
    answer, ctype = encode_batch([[BatchPart(status=201, body=json.dumps(created).encode(), changeset=1)]],
                                 responses=True)
    responses.post(ROOT + "$batch", body=answer, status=202, content_type=ctype)
    [result] = _connector().write_batch([OutboundRecord("hub-9", None, {"OrganizationBPName1": "New"})])
    assert result.created and result.external_id == "0010000099"
    assert _query(responses.calls[0])["$filter"] == "BusinessPartnerIDByExtSystem eq 'hub-9'"
    batch = responses.calls[1].request
    [[insert]] = decode_batch(batch.body, batch.headers["Content-Type"])
    body = json.loads(insert.body)
    assert insert.method == "POST" and insert.url == "A_BusinessPartner"
    assert body["BusinessPartnerIDByExtSystem"] == "hub-9" and body["BusinessPartnerCategory"] == "2"
    assert body["to_BusinessPartnerRole"] == [{"BusinessPartnerRole": "FLCU00"},
                                              {"BusinessPartnerRole": "FLCU01"}]
    assert body["to_Customer"] == {}


@responses.activate
def test_metadata_with_a_dtd_is_refused():
    responses.get(ROOT + "$metadata", body=(
        '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]>'
        '<edmx:Edmx xmlns:edmx="http://schemas.microsoft.com/ado/2007/06/edmx">&b;</edmx:Edmx>'),
        content_type="application/xml")
    with pytest.raises(PermanentError, match="not acceptable XML"):
        _connector().describe()


@responses.activate
def test_sap_error_on_read_is_a_permanent_error_with_the_message():
    responses.get(ROOT + "A_BusinessPartner", status=400, json={"error": {
        "code": "/IWBEP/CM_MGW_RT/006", "message": {"lang": "en", "value": "Invalid filter expression"}}})
    with pytest.raises(PermanentError, match="Invalid filter expression"):
        list(_connector().read_changes(None))


@responses.activate
def test_next_link_to_another_host_is_refused():
    responses.get(ROOT + "A_BusinessPartner", json={"d": {"results": [], "__next": "https://evil.invalid/x"}})
    with pytest.raises(PermanentError, match="another host"):
        list(_connector().read_changes(None))


def test_configuration_errors_name_the_option():
    with pytest.raises(ConfigError, match="service_url"):
        _connector(service_url="ftp://nope")
    with pytest.raises(ConfigError, match="client_secret"):
        _connector(password=None)
    with pytest.raises(ConfigError, match="update_method"):
        _connector(update_method="PUT")
    assert "s3cret" not in repr(_connector()) and "s3cret" not in repr(_connector().context.retry)


def test_plugin_registers_connector_and_fake_command():
    import click

    import crmsync_sap

    found = []
    crmsync_sap.register_connectors(found.append)
    assert SapODataConnector in found

    @click.group()
    def cli() -> None: ...

    @cli.group(name="fake-server")
    def fake_server() -> None: ...

    crmsync_sap.register_commands(cli)
    command = fake_server.commands["sap-odata"]
    assert {p.name for p in command.params} >= {"port", "records", "seed", "data", "page_size"}
    assert re.search(r"sap-odata", command.name or "")
