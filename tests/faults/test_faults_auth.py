"""Expired credentials: Salesforce 401 refreshes once; SAP's expired CSRF token is fetched once."""

from __future__ import annotations

import pytest
from sync_rig import Rig, duplicates, seed_memory

from crmsync.errors import AuthError
from crmsync_sap.fake_odata import FakeSapOData

INVALID_SESSION = '[{"message":"Session expired or invalid","errorCode":"INVALID_SESSION_ID"}]'


def test_expired_salesforce_token_is_refreshed_once_and_the_call_repeated(rig: Rig) -> None:
    sf = rig.salesforce()
    mem = rig.memory()
    seed_memory(mem, 2)
    rig.run()
    tokens = sf.token_requests
    sf.expire_tokens()
    mem.put("E0000", city="Bonn")
    summary = rig.run()
    assert summary.status == "ok"
    assert sf.token_requests == tokens + 1, "one refresh, not one per call"
    assert [a["BillingCity"] for a in sf.find(Name="Firma E0 GmbH")] == ["Bonn"]
    assert rig.hub_count() == 2 and not duplicates([a["Crmsync_Id__c"] for a in sf.find()])
    assert not rig.sleeps, "a refresh is not a retry with backoff"


def test_a_second_401_is_an_auth_error_not_a_retry_loop(rig: Rig) -> None:
    sf = rig.salesforce()
    sf.add(Name="Gesperrt AG", BillingCountry="Germany")
    rig.memory()
    sf.faults.add("status", 5, status=401, body=INVALID_SESSION, headers={"Content-Type": "application/json"},
                  path_contains="/services/data/v60.0/queryAll")
    with pytest.raises(AuthError, match="INVALID_SESSION_ID"):
        rig.run()
    assert sf.token_requests == 2, "the first token and exactly one refresh"
    assert sf.faults.applied["status"] == 2 and not rig.sleeps
    assert rig.cursor("sf") is None and rig.hub_count() == 0


def test_expired_sap_csrf_token_is_fetched_once_and_the_write_repeated(rig: Rig) -> None:
    sap = rig.sap(fake=FakeSapOData(records=3, seed=2))
    mem = rig.memory()
    rig.run()
    sap.expire_csrf_tokens()
    bp, hub = next(iter(rig.binding("sap").items()))
    copy = next(r for r in mem.records.values() if r.get("hub_id") == hub)
    mem.put(copy["id"], city="Regensburg")
    summary = rig.run()
    assert summary.status == "ok" and summary.counts["sap"]["updated"] == 1, summary.counts
    address = sap.partners[bp]["to_BusinessPartnerAddress"][0]
    assert address["CityName"] == "Regensburg"
    assert len(sap.partners) == 3 and rig.hub_count() == 3 and not rig.sleeps
