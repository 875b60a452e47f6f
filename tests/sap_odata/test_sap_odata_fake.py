"""The fake Gateway speaks the protocol: raw HTTP checks of CSRF, ETags, $filter, $batch, errors."""

from __future__ import annotations

import json

import pytest
import requests

from crmsync_sap.fake_odata import FakeSapOData
from crmsync_sap.odata_wire import BatchPart, decode_batch, encode_batch


@pytest.fixture
def http(fake_sap_odata: FakeSapOData) -> requests.Session:
    info = fake_sap_odata.info()
    session = requests.Session()
    session.auth = (info["username"], info["password"])
    session.headers["Accept"] = "application/json"
    return session


def _ids(response: requests.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [r["BusinessPartner"] for r in response.json()["d"]["results"]]


def test_unauthenticated_request_is_401(fake_sap_odata):
    response = requests.get(fake_sap_odata.service_root + "A_BusinessPartner")
    assert response.status_code == 401 and "Basic" in response.headers["WWW-Authenticate"]


def test_csrf_protocol(fake_sap_odata, http):
    url = fake_sap_odata.service_root + "A_BusinessPartner('0010000001')"
    denied = http.patch(url, json={"SearchTerm1": "X"}, headers={"If-Match": "*"})
    assert denied.status_code == 403 and denied.headers["x-csrf-token"] == "Required"
    assert denied.text == "CSRF token validation failed"
    fetched = http.get(fake_sap_odata.service_root, headers={"X-CSRF-Token": "Fetch"})
    token = fetched.headers["x-csrf-token"]
    assert any(c.name.startswith("SAP_SESSIONID_") for c in http.cookies)
    ok = http.patch(url, json={"SearchTerm1": "X"}, headers={"If-Match": "*", "X-CSRF-Token": token})
    assert ok.status_code == 204
    fake_sap_odata.expire_csrf_tokens()
    expired = http.patch(url, json={"SearchTerm1": "Y"}, headers={"If-Match": "*", "X-CSRF-Token": token})
    assert expired.status_code == 403 and expired.headers["x-csrf-token"] == "Required"
    other = requests.Session()
    other.auth = http.auth
    stolen = other.patch(url, json={"SearchTerm1": "Z"}, headers={"If-Match": "*", "X-CSRF-Token": token})
    assert stolen.status_code == 403  # a token is bound to its session cookie


def _token(fake: FakeSapOData, http: requests.Session) -> str:
    token = http.get(fake.service_root, headers={"X-CSRF-Token": "Fetch"}).headers["x-csrf-token"]
    http.headers["X-CSRF-Token"] = token
    return token


def test_if_match_is_required_and_checked(fake_sap_odata, http):
    _token(fake_sap_odata, http)
    url = fake_sap_odata.service_root + "A_BusinessPartner('0010000002')"
    assert http.patch(url, json={"SearchTerm1": "A"}).status_code == 428
    entity = http.get(url)
    etag = entity.headers["etag"]
    assert entity.json()["d"]["__metadata"]["etag"] == etag
    changed = http.patch(url, json={"SearchTerm1": "A"}, headers={"If-Match": etag})
    assert changed.status_code == 204 and changed.headers["etag"] != etag
    stale = http.post(url, json={"SearchTerm1": "B"}, headers={"If-Match": etag, "X-HTTP-Method": "MERGE"})
    assert stale.status_code == 412
    assert stale.json()["error"]["message"]["value"]


@pytest.mark.parametrize(("expr", "expected"), [
    ("BusinessPartner eq '0010000003'", ["0010000003"]),
    ("BusinessPartner eq '0010000003' or BusinessPartner eq '0010000004'", ["0010000003", "0010000004"]),
    ("(BusinessPartner ge '0010000023') and not (BusinessPartner eq '0010000024')",
     ["0010000023", "0010000025"]),
    ("BusinessPartner gt '0010000024'", ["0010000025"]),
    ("BusinessPartner lt '0010000002'", ["0010000001"]),
    ("BusinessPartner le '0010000002' and BusinessPartner ne '0010000001'", ["0010000002"]),
    ("substringof('Brien Log', BusinessPartnerFullName)", ["0010000007", "0010000017"]),
    ("BusinessPartnerFullName eq 'O''Brien Logistics Ltd'", ["0010000007"]),
    ("startswith(BusinessPartnerFullName, '北京') and length(BusinessPartnerFullName) eq 8", ["0010000005"]),
    ("to_Customer/VATRegistration eq 'IE6388047V' and BusinessPartner lt '0010000010'", ["0010000007"]),
    ("CreationDate eq datetime'2026-11-01T00:00:00' and CreationTime le time'PT08H01M00S'",
     ["0010000001", "0010000002"]),
])
def test_filter_expressions(fake_sap_odata, http, expr, expected):
    response = http.get(fake_sap_odata.service_root + "A_BusinessPartner",
                        params={"$filter": expr, "$select": "BusinessPartner"})
    assert _ids(response) == expected


def test_bad_filter_is_a_400_with_sap_error(fake_sap_odata, http):
    response = http.get(fake_sap_odata.service_root + "A_BusinessPartner", params={"$filter": "Nope eq 1"})
    assert response.status_code == 400
    assert "Nope" in response.json()["error"]["message"]["value"]


def test_orderby_top_skip_inlinecount_and_paging(fake_sap_odata, http):
    root = fake_sap_odata.service_root
    response = http.get(root + "A_BusinessPartner", params={
        "$orderby": "BusinessPartner desc", "$top": "15", "$skip": "2", "$inlinecount": "allpages",
        "$select": "BusinessPartner"})
    body = response.json()["d"]
    assert body["__count"] == "25" and len(body["results"]) == 10
    assert body["results"][0]["BusinessPartner"] == "0010000023"
    rest = http.get(body["__next"]).json()["d"]
    assert len(rest["results"]) == 5 and "__next" not in rest
    assert rest["results"][-1]["BusinessPartner"] == "0010000009"
    assert http.get(root + "A_BusinessPartner/$count").text == "25"


def test_entity_shape_dates_times_and_deferred_links(fake_sap_odata, http):
    entity = http.get(fake_sap_odata.service_root + "A_BusinessPartner('0010000001')").json()["d"]
    assert entity["__metadata"]["type"] == "API_BUSINESS_PARTNER.A_BusinessPartnerType"
    assert entity["CreationDate"].startswith("/Date(") and entity["CreationTime"].startswith("PT")
    assert "__deferred" in entity["to_BusinessPartnerAddress"]
    address = http.get(fake_sap_odata.service_root + "A_BusinessPartner('0010000001')/to_BusinessPartnerAddress")
    key = address.json()["d"]["results"][0]["AddressID"]
    one = http.get(fake_sap_odata.service_root
                   + f"A_BusinessPartnerAddress(BusinessPartner='0010000001',AddressID='{key}')")
    assert one.status_code == 200 and one.json()["d"]["AddressID"] == key


def test_metadata_is_edmx(fake_sap_odata, http):
    response = http.get(fake_sap_odata.service_root + "$metadata")
    assert response.headers["Content-Type"] == "application/xml"
    assert b'EntityType Name="A_BusinessPartnerType"' in response.content
    assert b'MaxLength="81"' in response.content


def test_deep_insert_validation_errors(fake_sap_odata, http):
    _token(fake_sap_odata, http)
    url = fake_sap_odata.service_root + "A_BusinessPartner"
    missing = http.post(url, json={"BusinessPartnerCategory": "2"})
    assert missing.status_code == 400 and "OrganizationBPName1" in missing.json()["error"]["message"]["value"]
    unknown = http.post(url, json={"BusinessPartnerCategory": "2", "OrganizationBPName1": "A", "Foo": 1})
    assert unknown.status_code == 400 and "Foo" in unknown.json()["error"]["message"]["value"]
    too_long = http.post(url, json={"BusinessPartnerCategory": "2", "OrganizationBPName1": "A",
                                    "BusinessPartnerFullName": "x" * 82})
    error = too_long.json()["error"]
    assert too_long.status_code == 400 and "81" in error["message"]["value"]
    assert error["innererror"]["errordetails"][0]["propertyref"].endswith("BusinessPartnerFullName")
    no_role = http.post(url, json={"BusinessPartnerCategory": "2", "OrganizationBPName1": "A",
                                   "to_Customer": {"VATRegistration": "X"}})
    assert no_role.status_code == 400
    assert len(fake_sap_odata.partners) == 25


def test_batch_answers_one_part_per_operation(fake_sap_odata, http):
    _token(fake_sap_odata, http)
    etag = fake_sap_odata.etag_of("0010000001")
    groups = [
        [BatchPart(method="GET", url="A_BusinessPartner('0010000002')")],
        [BatchPart(method="PATCH", url="A_BusinessPartner('0010000001')", headers={"If-Match": etag},
                   body=json.dumps({"SearchTerm1": "BATCH"}).encode()),
         BatchPart(method="POST", url="A_BusinessPartner",
                   body=json.dumps({"BusinessPartnerCategory": "1", "LastName": "Zoë"}).encode())],
        [BatchPart(method="PATCH", url="A_BusinessPartner('0010000003')", headers={"If-Match": "W/\"'x'\""},
                   body=b'{"SearchTerm1": "NO"}')],
    ]
    body, content_type = encode_batch(groups)
    response = http.post(fake_sap_odata.service_root + "$batch", data=body,
                         headers={"Content-Type": content_type})
    assert response.status_code == 202
    answers = decode_batch(response.content, response.headers["Content-Type"])
    assert [[p.status for p in g] for g in answers] == [[200], [204, 201], [412]]
    assert answers[0][0].json()["d"]["BusinessPartner"] == "0010000002"
    assert answers[1][1].json()["d"]["LastName"] == "Zoë"
    assert answers[2][0].changeset is None
    assert fake_sap_odata.partners["0010000001"]["SearchTerm1"] == "BATCH"


def test_generated_data_is_deterministic():
    one = FakeSapOData(records=12, seed=9)
    two = FakeSapOData(records=12, seed=9)
    strip = [{k: v for k, v in p.items() if k != "BusinessPartnerUUID"} for p in one.partners.values()]
    assert strip == [{k: v for k, v in p.items() if k != "BusinessPartnerUUID"} for p in two.partners.values()]


def test_data_file_loads_partners(tmp_path):
    path = tmp_path / "partners.json"
    path.write_text(json.dumps({"partners": [{
        "BusinessPartner": "0000004711", "BusinessPartnerCategory": "2", "OrganizationBPName1": "Datei AG",
        "CreationDate": "/Date(1790000000000)/", "to_BusinessPartnerRole": [{"BusinessPartnerRole": "FLCU01"}],
    }]}), encoding="utf-8")
    fake = FakeSapOData(data=path)
    assert fake.partners["0000004711"]["to_Customer"]["Customer"] == "0000004711"
