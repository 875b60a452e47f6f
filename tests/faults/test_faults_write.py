"""Write-side faults: stale ETags, partial batch failures and lost acknowledgements."""

from __future__ import annotations

from typing import Any

import pytest
from sync_rig import Rig, duplicates, seed_memory

from crmsync.state import views
from crmsync.state.schema import conflicts
from crmsync.testing import FakeRequest, FakeResponse, MemoryTable
from crmsync_salesforce.fake import FakeSalesforce
from crmsync_sap.fake_odata import FakeSapOData


class EditingSap(FakeSapOData):
    """A Gateway where a user edits partner ``target`` right before each of our next ``edits`` writes."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.target: str | None = None
        self.edits = 0

    def handle(self, request: FakeRequest) -> FakeResponse:
        writing = request.method in ("PATCH", "MERGE", "PUT") or request.path.endswith("$batch")
        if writing and self.target and self.edits > 0:
            self.edits -= 1
            self.touch(self.target, SearchTerm2=f"USER EDIT {self.edits}")
        return super().handle(request)


def _bound_copy(rig: Rig, mem: MemoryTable, bp: str) -> dict[str, Any]:
    hub = rig.binding("sap")[bp]
    return next(r for r in mem.records.values() if r.get("hub_id") == hub)


def test_stale_etag_is_reread_remerged_and_retried_once(rig: Rig) -> None:
    sap = EditingSap(records=3, seed=2)
    rig.sap(fake=sap)
    mem = rig.memory()
    rig.run()
    bp = sorted(sap.partners)[0]
    mem.put(_bound_copy(rig, mem, bp)["id"], city="Passau")
    sap.target, sap.edits = bp, 1  # edited between our read of the ETag and our write
    summary = rig.run()
    assert summary.status == "ok" and summary.counts["sap"]["updated"] == 1, summary.counts
    partner = sap.partners[bp]
    assert partner["SearchTerm2"] == "USER EDIT 0", "the user's edit survives"
    assert partner["to_BusinessPartnerAddress"][0]["CityName"] == "Passau", "and ours is applied"
    assert len(sap.partners) == 3 and not rig.dead()


def test_stale_etag_twice_is_not_applied_and_not_dead_lettered(rig: Rig) -> None:
    sap = EditingSap(records=3, seed=2)
    rig.sap(fake=sap)
    mem = rig.memory()
    rig.run()
    bp = sorted(sap.partners)[0]
    mem.put(_bound_copy(rig, mem, bp)["id"], city="Passau")
    sap.target, sap.edits = bp, 2
    summary = rig.run()
    assert summary.counts["sap"].get("updated", 0) == 0
    assert sap.partners[bp]["to_BusinessPartnerAddress"][0]["CityName"] != "Passau"
    assert not rig.dead("sap"), "a concurrent edit is a conflict for a person, not a rejected record"
    assert summary.counts["sap"]["conflicts_held"] >= 1


def test_stale_etag_twice_lands_in_the_conflict_inbox(rig: Rig) -> None:
    sap = EditingSap(records=3, seed=2)
    rig.sap(fake=sap)
    mem = rig.memory()
    rig.run()
    bp = sorted(sap.partners)[0]
    mem.put(_bound_copy(rig, mem, bp)["id"], city="Passau")
    sap.target, sap.edits = bp, 2
    rig.run()
    assert rig.rows(conflicts, conflicts.c.hub_id == rig.binding("sap")[bp]), "a conflict is held in the inbox"


def test_partial_batch_failure_commits_the_good_and_dead_letters_the_bad(rig: Rig) -> None:
    sf = rig.salesforce()
    mem = rig.memory()
    seed_memory(mem, 3)
    mem.put("E0001", city="Y" * 100)  # valid for the hub (255), too long for Account.BillingCity (40)
    summary = rig.run()
    assert summary.status == "rejected"
    assert summary.counts["sf"]["created"] == 2 and summary.counts["sf"]["failed"] == 1
    assert rig.hub_count() == 3
    names = sorted(a["Name"] for a in sf.find())
    assert names == ["Firma E0 GmbH", "Firma E2 GmbH"]
    [letter] = rig.dead("sf")
    assert "data value too large" in letter["error"] and "max length=40" in letter["error"]
    assert letter["direction"] == "out" and letter["hub_id"] == rig.binding("mem")["E0001"]
    assert len(rig.binding("sf")) == 2, "only acknowledged records are bound"
    mem.put("E0001", city="Berlin")
    store = rig.store()
    with store.transaction() as conn:  # what `crmsync deadletters retry ID` does
        views.set_dead_letter_status(conn, [letter["id"]], "retry")
    rig.run()
    assert len(sf.find()) == 3 and not duplicates([a["Crmsync_Id__c"] for a in sf.find()])


def test_partial_sap_batch_failure_isolates_the_bad_changeset(rig: Rig) -> None:
    sap = rig.sap(fake=FakeSapOData())
    mem = rig.memory()
    seed_memory(mem, 3)
    mem.put("E0002", city="Z" * 100)  # CityName holds 40 characters
    summary = rig.run()
    assert summary.counts["sap"]["created"] == 2 and summary.counts["sap"]["failed"] == 1, summary.counts
    assert sorted(p["OrganizationBPName1"] for p in sap.partners.values()) == ["Firma E0 GmbH", "Firma E1 GmbH"]
    [letter] = rig.dead("sap")
    assert "CityName" in letter["error"] and "too long" in letter["error"], letter["error"]
    assert letter["hub_id"] == rig.binding("mem")["E0002"] and len(rig.binding("sap")) == 2


@pytest.mark.parametrize("attempts", [1, 4], ids=["rerun", "retried-in-run"])
def test_lost_salesforce_acknowledgement_creates_no_duplicate(any_rig: Rig, attempts: int) -> None:
    rig = any_rig
    sf = rig.salesforce(retry={"max_attempts": attempts, "initial_wait": 0.01})
    mem = rig.memory()
    seed_memory(mem, 3)
    sf.faults.add("lose_response", 1, path_contains="/composite/sobjects", method="PATCH")
    rig.run()
    assert sf.faults.applied["lose_response"] == 1
    assert len(sf.find()) == 3, "the write was applied although its answer was lost"
    rig.run()
    accounts = sf.find()
    assert len(accounts) == 3 and not duplicates([a["Crmsync_Id__c"] for a in accounts])
    assert len(rig.binding("sf")) == 3 and rig.hub_count() == 3
    assert {a["Crmsync_Id__c"] for a in accounts} == set(rig.binding("sf").values())


@pytest.mark.parametrize("kind", ["lose_response", "truncate"])
def test_lost_sap_acknowledgement_of_a_create_batch_creates_no_duplicate(rig: Rig, kind: str) -> None:
    sap = rig.sap(fake=FakeSapOData())
    mem = rig.memory()
    seed_memory(mem, 3)
    sap.faults.add(kind, 1, path_contains="$batch", method="POST")
    rig.run()
    assert sap.faults.applied[kind] == 1 and len(sap.partners) == 3
    rig.run()
    keys = [p["BusinessPartnerIDByExtSystem"] for p in sap.partners.values()]
    assert len(sap.partners) == 3 and not duplicates(keys)
    assert set(keys) == set(rig.binding("sap").values()) and rig.hub_count() == 3


def test_salesforce_upsert_key_is_the_hub_id(rig: Rig) -> None:
    sf: FakeSalesforce = rig.salesforce()
    seed_memory(rig.memory(), 2)
    rig.run()
    assert {a["Crmsync_Id__c"] for a in sf.find()} == set(rig.binding("mem").values())
