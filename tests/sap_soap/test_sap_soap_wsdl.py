"""The shipped WSDL/XSD: strict zeep loading, `python -m zeep`, and the fake serving it at ?wsdl."""

from __future__ import annotations

import subprocess
import sys

import requests
import zeep
from lxml import etree

from crmsync_sap.fake_soap import XSD_FILE, FakeSapSoap
from crmsync_sap.soap import MANAGE_BINDING, QUERY_BINDING, SHIPPED_WSDL

STRICT = zeep.Settings(strict=True, forbid_dtd=True, forbid_entities=True, forbid_external=True)


def test_python_m_zeep_lists_both_operations() -> None:
    result = subprocess.run([sys.executable, "-m", "zeep", str(SHIPPED_WSDL)], capture_output=True, text=True,
                            timeout=60, check=True)
    assert "FindByElements(" in result.stdout
    assert "MaintainBundle_V1(" in result.stdout
    assert "QueryCustomerInBinding" in result.stdout and "ManageCustomerInBinding" in result.stdout


def test_shipped_wsdl_loads_strictly_without_network() -> None:
    client = zeep.Client(str(SHIPPED_WSDL), settings=STRICT)
    query = client.create_service(QUERY_BINDING, "http://127.0.0.1:9/none")
    manage = client.create_service(MANAGE_BINDING, "http://127.0.0.1:9/none")
    assert hasattr(query, "FindByElements") and hasattr(manage, "MaintainBundle_V1")
    item_type = client.get_type("{http://sap.com/xi/SAPGlobal20/Global}CustomerBundleMaintainRequestCustomer")
    assert "actionCode" in item_type.signature()


def test_fake_serves_wsdl_with_its_own_address(fake_sap_soap: FakeSapSoap) -> None:
    info = fake_sap_soap.info()
    session = requests.Session()
    session.auth = (info["username"], info["password"])
    text = session.get(info["wsdl"], timeout=10).text
    assert info["url"] in text and "sap.invalid" not in text
    client = zeep.Client(info["wsdl"], transport=zeep.transports.Transport(session=session, operation_timeout=10),
                         settings=zeep.Settings(strict=True, forbid_dtd=True, forbid_entities=True))
    # The default port is bound to the fake: a plain zeep client talks to it without create_service.
    response = client.service.FindByElements(ProcessingConditions={"QueryHitsMaximumNumberValue": 3,
                                                                   "QueryHitsUnlimitedIndicator": False})
    assert len(response.Customer) == 3
    assert response.ProcessingConditions.MoreHitsAvailableIndicator is True


def test_fake_wsdl_needs_credentials(fake_sap_soap: FakeSapSoap) -> None:
    assert requests.get(fake_sap_soap.info()["wsdl"], timeout=10).status_code == 401


def test_fake_answers_conform_to_the_xsd(fake_sap_soap: FakeSapSoap) -> None:
    schema = etree.XMLSchema(etree.parse(str(XSD_FILE)))
    info = fake_sap_soap.info()
    body = (
        '<soap-env:Envelope xmlns:soap-env="http://schemas.xmlsoap.org/soap/envelope/">'
        '<soap-env:Body><n0:CustomerBundleMaintainRequest_sync_V1 xmlns:n0="http://sap.com/xi/SAPGlobal20/Global">'
        '<Customer actionCode="04"><ObjectNodeSenderTechnicalID>1</ObjectNodeSenderTechnicalID>'
        "<ExternalID>hub-x</ExternalID><CategoryCode>2</CategoryCode>"
        "<Organisation><FirstLineName>Zoë &amp; O'Brien</FirstLineName></Organisation></Customer>"
        '<Customer actionCode="02"><ObjectNodeSenderTechnicalID>2</ObjectNodeSenderTechnicalID>'
        "<InternalID>999</InternalID></Customer>"
        "</n0:CustomerBundleMaintainRequest_sync_V1></soap-env:Body></soap-env:Envelope>"
    )
    response = requests.post(info["url"], data=body.encode(), auth=(info["username"], info["password"]),
                             headers={"Content-Type": "text/xml; charset=utf-8"}, timeout=10)
    assert response.status_code == 200
    envelope = etree.fromstring(response.content)
    message = envelope.find("{http://schemas.xmlsoap.org/soap/envelope/}Body")[0]
    schema.assertValid(message)
    severities = [e.text for e in message.iter("SeverityCode")]
    assert severities == ["1", "3"]
