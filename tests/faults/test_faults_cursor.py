"""Many records sharing one change timestamp, across page, chunk and run boundaries: none missed."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sync_rig import Rig, duplicates

import crmsync.engine
from crmsync.errors import ConnectorError
from crmsync.testing import FakeRequest, FakeResponse
from crmsync_salesforce.fake import FakeSalesforce, sf_id
from crmsync_sap.fake_odata import FakeSapOData

STAMP = "2026-11-02T10:00:00.000+0000"


def _accounts(first: int, count: int, prefix: str = "Gleichzeitig") -> list[dict[str, Any]]:
    return [{"Id": sf_id("001", first + i), "Name": f"{prefix} {first + i} GmbH", "BillingCountry": "Germany",
             "SystemModstamp": STAMP} for i in range(count)]


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Commit (and advance the cursor) every 50 records, so a run stops between commits."""
    monkeypatch.setattr(crmsync.engine, "READ_CHUNK", 50)


@pytest.mark.usefixtures("small_chunks")
def test_salesforce_records_sharing_one_stamp_survive_an_interrupted_run_and_late_arrivals(rig: Rig) -> None:
    sf = rig.salesforce(fake=FakeSalesforce(), query_batch_size=200, retry={"max_attempts": 2})
    sf.load(_accounts(1000, 450))  # three pages of 200 / 200 / 50, one SystemModstamp
    mem = rig.memory()
    sf.faults.add("status", 10, status=503, path_contains="-400")  # the third page fails for good
    with pytest.raises(ConnectorError):
        rig.run()
    assert rig.hub_count() == 400, "the committed chunks stay committed"
    assert rig.cursor("sf") == f"2026-11-02T10:00:00.000Z|{sf_id('001', 1399)}", "cursor = last committed record"
    sf.faults.clear()
    sf.load(_accounts(2000, 30, "Nachzügler"))  # new records with the very same stamp, higher ids
    assert rig.run().status == "ok"
    sf.load(_accounts(3000, 5, "Später"))  # and again after a run boundary
    rig.run()
    names = [r["name"] for r in mem.records.values()]
    assert len(names) == 485 and not duplicates(names)
    assert rig.hub_count() == 485
    assert len(sf.find()) == 485, "nothing echoed back as a new account"


def test_a_late_commit_with_a_smaller_id_at_the_cursor_stamp_is_caught_by_overlap(rig: Rig) -> None:
    sf = rig.salesforce(fake=FakeSalesforce())
    rig.endpoints["sf"]["overlap_seconds"] = 1
    sf.load(_accounts(1000, 20))
    mem = rig.memory()
    rig.run()
    sf.load(_accounts(500, 1, "Spät"))  # same stamp, id before the cursor's id: a late commit at the source
    rig.run()
    assert any(r["name"] == "Spät 500 GmbH" for r in mem.records.values())
    assert rig.hub_count() == 21 and len(mem.records) == 21


class FailingSap(FakeSapOData):
    """A Gateway whose ``fail_at``-th partner read (counting from 1) answers 503 ``times`` times."""

    def __init__(self, *, fail_at: int, times: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.reads = 0
        self.fail_at = fail_at
        self.times = times

    def handle(self, request: FakeRequest) -> FakeResponse:
        if request.method == "GET" and request.path.endswith("A_BusinessPartner") and "$filter" in request.query \
                and "BusinessPartnerIDByExtSystem" not in request.query["$filter"]:
            self.reads += 1
            if self.reads >= self.fail_at and self.times > 0:
                self.times -= 1
                return FakeResponse(503, b"service unavailable")
        return super().handle(request)


@pytest.mark.parametrize("stamp", ["changed", "created"])
def test_sap_partners_sharing_one_change_time_across_pages_and_runs(any_rig: Rig, monkeypatch: pytest.MonkeyPatch,
                                                                    stamp: str) -> None:
    monkeypatch.setattr(crmsync.engine, "READ_CHUNK", 8)
    sap = FailingSap(records=40, seed=9, page_size=7, fail_at=4, times=10)
    moment = dt.datetime(2026, 11, 3, 9, 30, 0)
    sap.clock = lambda: moment
    for partner in sap.partners.values():
        if stamp == "changed":  # every partner edited in the same second
            sap.touch(partner["BusinessPartner"], SearchTerm2="SAME SECOND")
        else:  # never changed, all created in the same second (read by CreationDate / CreationTime)
            partner.update(LastChangeDate=None, LastChangeTime=None, CreationDate=dt.datetime(2026, 11, 3),
                           CreationTime=dt.timedelta(hours=9, minutes=30))
    live = sum(1 for p in sap.partners.values()
               if not p["IsMarkedForArchiving"] and not (p.get("to_Customer") or {}).get("DeletionIndicator"))
    any_rig.sap(fake=sap, page_size=10, retry={"max_attempts": 2})
    mem = any_rig.memory()
    with pytest.raises(ConnectorError):
        any_rig.run()
    committed = any_rig.hub_count()
    assert 0 < committed < live, committed
    assert str(any_rig.cursor("sap")).startswith("2026-11-03T09:30:00Z|")
    sap.times = 0
    summary = any_rig.run()
    assert summary.counts["sap"]["read"] >= 40 - committed
    assert any_rig.hub_count() == live and len(mem.records) == live, "archived partners are not created"
    assert not duplicates([r["hub_id"] for r in mem.records.values()])
