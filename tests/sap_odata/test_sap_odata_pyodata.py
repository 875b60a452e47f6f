"""A real OData client (pyodata) against the fake: metadata, filter + paging, create, update."""

from __future__ import annotations

import pyodata
import requests

from crmsync_sap.fake_odata import FakeSapOData


def _client(fake: FakeSapOData) -> tuple[object, requests.Session]:
    info = fake.info()
    session = requests.Session()
    session.auth = (info["username"], info["password"])
    token = session.get(info["url"], headers={"X-CSRF-Token": "Fetch"}).headers["x-csrf-token"]
    session.headers["X-CSRF-Token"] = token
    return pyodata.Client(info["url"], session), session


def test_pyodata_reads_with_filter_and_follows_paging(fake_sap_odata):
    client, _ = _client(fake_sap_odata)
    partners = client.entity_sets.A_BusinessPartner  # type: ignore[attr-defined]
    request = partners.get_entities().filter("BusinessPartnerCategory eq '2'").count(inline=True)
    page = request.execute()
    seen = [p.BusinessPartner for p in page]
    assert page.total_count == sum(1 for p in fake_sap_odata.partners.values()
                                   if p["BusinessPartnerCategory"] == "2")
    while page.next_url:
        page = partners.get_entities().next_url(page.next_url).execute()
        seen.extend(p.BusinessPartner for p in page)
    assert len(seen) == page.total_count and len(set(seen)) == len(seen)
    assert all(bp.startswith("00") for bp in seen)


def test_pyodata_gets_one_entity_with_typed_dates(fake_sap_odata):
    client, _ = _client(fake_sap_odata)
    entity = client.entity_sets.A_BusinessPartner.get_entity("0010000001").expand(  # type: ignore[attr-defined]
        "to_BusinessPartnerAddress").execute()
    assert entity.BusinessPartner == "0010000001"
    assert entity.CreationDate.year == 2026
    assert entity.etag and entity.etag.startswith('W/"')
    assert entity.to_BusinessPartnerAddress[0].Country


def test_pyodata_deep_insert_and_update(fake_sap_odata):
    client, _ = _client(fake_sap_odata)
    sets = client.entity_sets  # type: ignore[attr-defined]
    created = sets.A_BusinessPartner.create_entity().set(**{
        "BusinessPartnerCategory": "2", "OrganizationBPName1": "Pyodata Ltd",
        "to_BusinessPartnerRole": [{"BusinessPartnerRole": "FLCU01"}],
        "to_Customer": {"VATRegistration": "GB123456789"},
        "to_BusinessPartnerAddress": [{"Country": "GB", "CityName": "London"}],
    }).execute()
    bp = created.BusinessPartner
    assert fake_sap_odata.partners[bp]["to_Customer"]["VATRegistration"] == "GB123456789"
    request = sets.A_BusinessPartner.update_entity(BusinessPartner=bp).set(OrganizationBPName1="Pyodata plc")
    request.add_headers({"If-Match": fake_sap_odata.etag_of(bp)})
    request.execute()
    assert fake_sap_odata.partners[bp]["OrganizationBPName1"] == "Pyodata plc"
    assert fake_sap_odata.partners[bp]["LastChangeDate"] is not None
