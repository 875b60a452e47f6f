"""Faults against the fake: HTTP errors, SOAP faults, broken and hostile XML, secrets kept out of logs."""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable

import pytest

from crmsync.connector import OutboundRecord
from crmsync.errors import AuthError, PermanentError, RetryableError, UnreachableError
from crmsync_sap.fake_soap import FakeSapSoap
from crmsync_sap.soap import SapSoapConnector

SoapFactory = Callable[..., SapSoapConnector]  # the make_connector fixture of conftest.py

BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<soap-env:Envelope xmlns:soap-env="http://schemas.xmlsoap.org/soap/envelope/"><soap-env:Body>
<n0:CustomerByElementsResponse_sync xmlns:n0="http://sap.com/xi/SAPGlobal20/Global">
<Customer><InternalID>&lol4;</InternalID><CategoryCode>2</CategoryCode>
<LastChangeDateTime>2026-01-01T00:00:00Z</LastChangeDateTime></Customer><Log/>
</n0:CustomerByElementsResponse_sync></soap-env:Body></soap-env:Envelope>"""

XXE = """<?xml version="1.0"?>
<!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<soap-env:Envelope xmlns:soap-env="http://schemas.xmlsoap.org/soap/envelope/"><soap-env:Body>
<n0:CustomerByElementsResponse_sync xmlns:n0="http://sap.com/xi/SAPGlobal20/Global">
<Customer><InternalID>1</InternalID><CategoryCode>2</CategoryCode><Organisation><FirstLineName>&xxe;</FirstLineName>
</Organisation><LastChangeDateTime>2026-01-01T00:00:00Z</LastChangeDateTime></Customer><Log/>
</n0:CustomerByElementsResponse_sync></soap-env:Body></soap-env:Envelope>"""


def test_5xx_is_retried_then_succeeds(make_connector: SoapFactory, fake_sap_soap: FakeSapSoap,
                                      sleeps: list[float]) -> None:
    fake_sap_soap.faults.add("status", count=2, status=503, body="Service Unavailable")
    records = list(make_connector().read_changes(None))
    assert len(records) == 25 and len(sleeps) == 2


def test_5xx_that_persists_is_a_retryable_error(make_connector: SoapFactory, fake_sap_soap: FakeSapSoap) -> None:
    fake_sap_soap.faults.add("status", count=10, status=502, body="<html>Bad gateway</html>",
                             headers={"Content-Type": "text/html"})
    connector = make_connector()
    with pytest.raises(RetryableError, match="HTTP 502"):
        list(connector.read_changes(None))
    assert connector.context.api_calls == 3


def test_retry_after_is_honoured(make_connector: SoapFactory, fake_sap_soap: FakeSapSoap,
                                 sleeps: list[float]) -> None:
    fake_sap_soap.faults.add("status", status=429, headers={"Retry-After": "7"})
    assert len(list(make_connector().read_changes(None))) == 25
    assert sleeps == [7.0]


def test_wrong_password_is_an_auth_error_not_retried(make_connector: SoapFactory) -> None:
    connector = make_connector(password="wrong-Secret-9")
    with pytest.raises(AuthError, match="HTTP 401") as caught:
        list(connector.read_changes(None))
    assert connector.context.api_calls == 1
    assert "wrong-Secret-9" not in str(caught.value) and "wrong-Secret-9" not in repr(connector)


def test_soap_fault_for_malformed_input_is_permanent(make_connector: SoapFactory, fake_sap_soap: FakeSapSoap) -> None:
    connector = make_connector()
    too_long = {"CategoryCode": "2", "Organisation": {"FirstLineName": "x" * 100_000}}
    with pytest.raises(PermanentError, match="does not conform to the service schema") as caught:
        connector.write_batch([OutboundRecord(hub_id="h", external_id=None, payload=too_long)])
    assert caught.value.code and "Client" in caught.value.code
    assert connector.context.api_calls == 1 and len(fake_sap_soap.customers) == 25


def test_truncated_response_is_retried(make_connector: SoapFactory, fake_sap_soap: FakeSapSoap,
                                       sleeps: list[float]) -> None:
    fake_sap_soap.faults.add("truncate")
    assert len(list(make_connector().read_changes(None))) == 25
    assert len(sleeps) == 1


def test_dropped_connections_end_as_unreachable(make_connector: SoapFactory, fake_sap_soap: FakeSapSoap) -> None:
    fake_sap_soap.faults.add("drop", count=5)
    with pytest.raises(UnreachableError):
        list(make_connector().read_changes(None))


def test_broken_xml_is_retryable(make_connector: SoapFactory, fake_sap_soap: FakeSapSoap) -> None:
    fake_sap_soap.faults.add("status", count=5, status=200, body="<soap-env:Envelope><unclosed>",
                             headers={"Content-Type": "text/xml"})
    with pytest.raises(RetryableError, match="invalid XML"):
        list(make_connector().read_changes(None))


@pytest.mark.parametrize("body", [BILLION_LAUGHS, XXE], ids=["billion-laughs", "xxe"])
def test_entity_attacks_are_refused(make_connector: SoapFactory, fake_sap_soap: FakeSapSoap, body: str) -> None:
    fake_sap_soap.faults.add("status", count=5, status=200, body=body, headers={"Content-Type": "text/xml"})
    connector = make_connector()
    with pytest.raises(PermanentError, match="refused the response: it declares a DTD") as caught:
        list(connector.read_changes(None))
    assert caught.value.code == "XML_FORBIDDEN"
    assert connector.context.api_calls == 1  # never retried, never expanded
    assert "root:" not in str(caught.value)


def test_fake_refuses_a_request_with_a_dtd(fake_sap_soap: FakeSapSoap) -> None:
    import requests

    info = fake_sap_soap.info()
    response = requests.post(info["url"], data=XXE.encode(), auth=(info["username"], info["password"]),
                             headers={"Content-Type": "text/xml"}, timeout=10)
    assert response.status_code == 500
    assert b"DTDs are not allowed" in response.content and b"root:" not in response.content


def test_zeep_transport_never_logs_at_debug(make_connector: SoapFactory, caplog: pytest.LogCaptureFixture) -> None:
    transport_log = logging.getLogger("zeep.transports")
    transport_log.setLevel(logging.NOTSET)
    caplog.set_level(logging.DEBUG)  # the whole tree at DEBUG, as a careless log config would
    connector = make_connector(password="Very-Secret-Pw-42")
    assert transport_log.getEffectiveLevel() >= logging.INFO
    with pytest.raises(AuthError):
        list(connector.read_changes(None))
    text = caplog.text
    secret_b64 = base64.b64encode(b"CRMSYNC_COMM:Very-Secret-Pw-42").decode()
    assert "Very-Secret-Pw-42" not in text and secret_b64 not in text
    assert not [r for r in caplog.records if r.name == "zeep.transports" and r.levelno < logging.INFO]
