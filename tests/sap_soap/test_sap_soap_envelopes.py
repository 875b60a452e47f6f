"""Request and response envelopes with `responses`: what the connector sends, and how it reads answers."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest
import responses
from lxml import etree

from crmsync.connector import Cursor, EndpointContext, OutboundRecord
from crmsync.errors import ConfigError, ErrorKind, PermanentError
from crmsync.retry import RetryPolicy
from crmsync_sap.soap import SHIPPED_WSDL, SapSoapConnector

URL = "https://sap.example.test/sap/bc/srt/scs/sap/customerservice"
ENV = "http://schemas.xmlsoap.org/soap/envelope/"
N0 = "http://sap.com/xi/SAPGlobal20/Global"


def _connector(**options: object) -> SapSoapConnector:
    merged = {"endpoint_url": URL, "username": "COMM_USER", "password": "s3cret", **options}
    policy = RetryPolicy(max_attempts=2, connect_timeout=3, read_timeout=17, sleep=lambda s: None)
    return SapSoapConnector(EndpointContext(name="sap", object="Customer", options=merged, retry=policy))


def _envelope(inner: str) -> str:
    return (f'<soap-env:Envelope xmlns:soap-env="{ENV}"><soap-env:Body>{inner}</soap-env:Body>'
            "</soap-env:Envelope>")


def _message(request_body: bytes | str) -> etree._Element:
    data = request_body.encode() if isinstance(request_body, str) else request_body
    return etree.fromstring(data).find(f"{{{ENV}}}Body")[0]


EMPTY_QUERY_ANSWER = _envelope(
    f'<n0:CustomerByElementsResponse_sync xmlns:n0="{N0}"><ProcessingConditions>'
    "<ReturnedQueryHitsNumberValue>0</ReturnedQueryHitsNumberValue>"
    "<MoreHitsAvailableIndicator>false</MoreHitsAvailableIndicator></ProcessingConditions><Log/>"
    "</n0:CustomerByElementsResponse_sync>")


@responses.activate
def test_query_envelope_selects_by_change_time_and_pages() -> None:
    responses.post(URL, body=EMPTY_QUERY_ANSWER, content_type="text/xml; charset=utf-8")
    connector = _connector(page_size=250, settle_seconds=30)
    connector.clock = lambda: dt.datetime(2026, 11, 24, 12, 0, 0, 750000, tzinfo=dt.UTC)
    assert list(connector.read_changes(Cursor("2026-11-23T10:00:00Z", "1000042"))) == []
    request = responses.calls[0].request
    assert request.headers["SOAPAction"] == '"http://sap.com/xi/A1S/Global/QueryCustomerIn/FindByElementsRequest"'
    assert request.headers["Authorization"].startswith("Basic ")
    assert request.headers["User-Agent"].startswith("crmsync/")
    assert request.req_kwargs["timeout"] == (3, 17)  # operation_timeout is always set
    message = _message(request.body)
    assert message.tag == f"{{{N0}}}CustomerByElementsQuery_sync"
    selection = message.find("CustomerSelectionByElements/SelectionByLastChangeDateTime")
    assert selection.findtext("InclusionExclusionCode") == "I"
    assert selection.findtext("IntervalBoundaryTypeCode") == "2"  # [lower, upper)
    assert selection.findtext("LowerBoundaryDateTime").startswith("2026-11-23T10:00:00")
    assert selection.findtext("UpperBoundaryDateTime").startswith("2026-11-24T11:59:30")
    assert message.findtext("ProcessingConditions/QueryHitsMaximumNumberValue") == "250"
    assert message.findtext("ProcessingConditions/QueryHitsUnlimitedIndicator") == "false"
    assert message.find("ProcessingConditions/LastReturnedObjectID") is None


@responses.activate
def test_next_page_asks_after_the_last_returned_object() -> None:
    def page(last: str, more: bool, customer_id: str) -> str:
        return _envelope(
            f'<n0:CustomerByElementsResponse_sync xmlns:n0="{N0}"><Customer><InternalID>{customer_id}</InternalID>'
            "<CategoryCode>2</CategoryCode><Organisation><FirstLineName>O'Brien</FirstLineName></Organisation>"
            "<LastChangeDateTime>2026-11-23T10:00:00.5Z</LastChangeDateTime></Customer><ProcessingConditions>"
            f"<ReturnedQueryHitsNumberValue>1</ReturnedQueryHitsNumberValue><MoreHitsAvailableIndicator>"
            f"{'true' if more else 'false'}</MoreHitsAvailableIndicator><LastReturnedObjectID>{last}"
            "</LastReturnedObjectID></ProcessingConditions><Log/></n0:CustomerByElementsResponse_sync>")

    responses.post(URL, body=page("7", True, "7"), content_type="text/xml")
    responses.post(URL, body=page("8", False, "8"), content_type="text/xml")
    records = list(_connector().read_changes(None))
    assert [r.external_id for r in records] == ["7", "8"]
    assert records[0].cursor == Cursor("2026-11-23T10:00:00Z", "7")
    assert records[0].payload["LastChangeDateTime"] == "2026-11-23T10:00:00.500000Z"
    assert _message(responses.calls[1].request.body).findtext("ProcessingConditions/LastReturnedObjectID") == "7"


@responses.activate
def test_paging_without_progress_is_refused() -> None:
    body = _envelope(
        f'<n0:CustomerByElementsResponse_sync xmlns:n0="{N0}"><ProcessingConditions>'
        "<ReturnedQueryHitsNumberValue>0</ReturnedQueryHitsNumberValue>"
        "<MoreHitsAvailableIndicator>true</MoreHitsAvailableIndicator></ProcessingConditions><Log/>"
        "</n0:CustomerByElementsResponse_sync>")
    responses.post(URL, body=body, content_type="text/xml")
    with pytest.raises(PermanentError, match="no new LastReturnedObjectID"):
        list(_connector().read_changes(None))


@responses.activate
def test_maintain_envelope_carries_action_lock_and_hub_id() -> None:
    answer = _envelope(
        f'<n0:CustomerBundleMaintainConfirmation_sync_V1 xmlns:n0="{N0}">'
        "<Customer><ReferenceObjectNodeSenderTechnicalID>2</ReferenceObjectNodeSenderTechnicalID>"
        "<ChangeStateID>20261123100000.0000009</ChangeStateID><InternalID>1000042</InternalID></Customer>"
        "<Customer><ReferenceObjectNodeSenderTechnicalID>1</ReferenceObjectNodeSenderTechnicalID>"
        "<ChangeStateID>20261123100000.0000010</ChangeStateID><InternalID>1000077</InternalID></Customer>"
        "<Log><Item><SeverityCode>2</SeverityCode><ReferenceObjectNodeSenderTechnicalID>1"
        "</ReferenceObjectNodeSenderTechnicalID><Note>just a warning</Note></Item></Log>"
        "</n0:CustomerBundleMaintainConfirmation_sync_V1>")
    responses.post(URL, body=answer, content_type="text/xml")
    results = _connector().write_batch([
        OutboundRecord(hub_id="hub-new", external_id=None,
                       payload={"CategoryCode": "2", "Organisation": {"FirstLineName": "Zoë"},
                                "LastChangeDateTime": "2026-01-01T00:00:00Z"}),
        OutboundRecord(hub_id="hub-old", external_id="1000042", etag="20261101000000.0000001",
                       payload={"Person": {"FamilyName": "D'Arcy"}}),
    ])
    # confirmations come back in any order: mapped by ObjectNodeSenderTechnicalID
    assert [(r.ok, r.external_id, r.created) for r in results] == [(True, "1000077", True), (True, "1000042", False)]
    request = responses.calls[0].request
    assert request.headers["SOAPAction"].strip('"').endswith("ManageCustomerIn/MaintainBundle_V1Request")
    items = _message(request.body).findall("Customer")
    assert [i.get("actionCode") for i in items] == ["04", "04"]
    assert [i.findtext("ObjectNodeSenderTechnicalID") for i in items] == ["1", "2"]
    assert items[0].find("InternalID") is None and items[0].findtext("ExternalID") == "hub-new"
    assert items[0].find("LastChangeDateTime") is None  # read-only fields are never sent
    assert items[1].findtext("InternalID") == "1000042" and items[1].findtext("ExternalID") == "hub-old"
    assert items[1].findtext("ChangeStateID") == "20261101000000.0000001"
    assert items[1].findtext("Person/FamilyName") == "D'Arcy"


@responses.activate
def test_rejected_bundle_items_without_own_error_are_retryable() -> None:
    answer = _envelope(
        f'<n0:CustomerBundleMaintainConfirmation_sync_V1 xmlns:n0="{N0}"><Log>'
        "<MaximumLogItemSeverityCode>3</MaximumLogItemSeverityCode>"
        "<Item><TypeID>X</TypeID><SeverityCode>3</SeverityCode><ReferenceObjectNodeSenderTechnicalID>2"
        "</ReferenceObjectNodeSenderTechnicalID><Note>Tax number is invalid</Note></Item></Log>"
        "</n0:CustomerBundleMaintainConfirmation_sync_V1>")
    responses.post(URL, body=answer, content_type="text/xml")
    results = _connector().write_batch([
        OutboundRecord(hub_id=f"h{n}", external_id=None, payload={"Organisation": {"FirstLineName": "A"}})
        for n in range(2)])
    assert results[1].error == "Tax number is invalid" and results[1].kind is ErrorKind.PERMANENT
    assert results[0].kind is ErrorKind.RETRYABLE and "Tax number is invalid" in (results[0].error or "")


@responses.activate
def test_standard_fault_message_text_is_reported() -> None:
    fault = _envelope(
        "<soap-env:Fault><faultcode>soap-env:Server</faultcode><faultstring>Web service processing error"
        f"</faultstring><detail><n0:StandardFaultMessage xmlns:n0=\"{N0}\"><standard><faultText>No authorization "
        "for business object Customer</faultText></standard></n0:StandardFaultMessage></detail></soap-env:Fault>")
    responses.post(URL, body=fault, status=500, content_type="text/xml")
    with pytest.raises(PermanentError, match="No authorization for business object Customer") as caught:
        list(_connector().read_changes(None))
    assert len(responses.calls) == 1 and "Server" in (caught.value.code or "")


def test_own_wsdl_file_is_used(tmp_path: Path) -> None:
    own = tmp_path / "own.wsdl"
    own.write_text(SHIPPED_WSDL.read_text("utf-8").replace("QueryCustomerInBinding", "binding"), "utf-8")
    shutil.copy(SHIPPED_WSDL.parent / "customer.xsd", tmp_path / "customer.xsd")
    connector = _connector(wsdl=str(own), query_binding="{http://sap.com/xi/A1S/Global}binding")
    with responses.RequestsMock() as mock:
        mock.post(URL, body=EMPTY_QUERY_ANSWER, content_type="text/xml")
        assert list(connector.read_changes(None)) == []


def test_configuration_errors_are_clear(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="needs endpoint_url"):
        SapSoapConnector(EndpointContext(name="sap", object="Customer", options={}))
    with pytest.raises(ConfigError, match="never loads a WSDL over the network"):
        _connector(wsdl="https://sap.example.test/x?wsdl")
    with pytest.raises(ConfigError, match="WSDL file not found"):
        _connector(wsdl=str(tmp_path / "missing.wsdl"))
    with pytest.raises(ConfigError, match="page_size must be a positive integer"):
        _connector(page_size=0)
    with pytest.raises(ConfigError, match="settle_seconds must be a number of seconds"):
        _connector(settle_seconds="soon")
    with pytest.raises(ConfigError, match="binding"):
        list(_connector(query_binding="{urn:nope}binding").read_changes(None))
    broken = tmp_path / "broken.wsdl"
    broken.write_text("<definitions", "utf-8")
    with pytest.raises(ConfigError, match="cannot load WSDL"):
        list(_connector(wsdl=str(broken)).read_changes(None))


def test_client_certificate_instead_of_password(tmp_path: Path) -> None:
    connector = _connector(username=None, password=None, client_cert="/etc/crmsync/c.pem",
                           client_key="/etc/crmsync/c.key", verify=str(tmp_path / "ca.pem"))
    session = connector._session
    assert session.cert == ("/etc/crmsync/c.pem", "/etc/crmsync/c.key")
    assert session.auth is None and session.verify == str(tmp_path / "ca.pem")
