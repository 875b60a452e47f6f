"""Transient HTTP faults on the fake Salesforce and SAP servers, through the real SyncEngine.

Every test checks the final state: hub records, the target's records without duplicates by hub
id, the cursor, dead letters. The retry policy's waits are recorded by the injected sleep.
"""

from __future__ import annotations

import email.utils
import socket
import time
from typing import Any

import pytest
from sync_rig import Rig, duplicates, seed_memory

from crmsync.errors import ConnectorError, RateLimitedError, UnreachableError
from crmsync.testing import memory_table
from crmsync_salesforce.fake import FakeSalesforce
from crmsync_sap.fake_odata import FakeSapOData

SF_LIMIT = '[{"message":"TotalRequests Limit exceeded.","errorCode":"REQUEST_LIMIT_EXCEEDED"}]'
JSON = {"Content-Type": "application/json"}


def _assert_synced(rig: Rig, sf: FakeSalesforce, total: int) -> None:
    """Hub, Salesforce and memory agree on ``total`` customers, each once."""
    assert rig.hub_count() == total
    accounts = sf.find()
    assert len(accounts) == total
    hub_ids = [a["Crmsync_Id__c"] for a in accounts]
    assert not duplicates(hub_ids)
    mem = memory_table("mem")
    assert len(mem.records) == total and not duplicates([r.get("hub_id") for r in mem.records.values()])
    assert not rig.dead()


def _sf_and_memory(rig: Rig, accounts: int = 2, records: int = 3, **retry: Any) -> FakeSalesforce:
    sf = rig.salesforce(retry={"max_attempts": 4, "initial_wait": 0.01, **retry} if retry else None)
    for i in range(accounts):
        sf.add(Name=f"Konto {i} AG", BillingCountry="Germany", BillingCity="Köln")
    seed_memory(rig.memory(), records)
    return sf


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_5xx_on_read_and_write_is_retried_with_backoff(rig: Rig, status: int) -> None:
    sf = _sf_and_memory(rig)
    sf.faults.add("status", 2, status=status, path_contains="/queryAll", method="GET", body="upstream down")
    sf.faults.add("status", 2, status=status, path_contains="/composite/sobjects", method="PATCH")
    summary = rig.run()
    assert summary.status == "ok", summary.counts
    assert sf.faults.applied["status"] == 4
    assert len(rig.sleeps) == 4 and all(0 <= s <= 30 for s in rig.sleeps), rig.sleeps
    _assert_synced(rig, sf, 5)
    assert rig.cursor("sf") is not None


def test_5xx_beyond_max_attempts_stops_and_keeps_the_cursor(rig: Rig) -> None:
    sf = _sf_and_memory(rig)
    rig.run()
    cursor = rig.cursor("sf")
    account = sf.find(Name="Konto 0 AG")[0]
    sf.touch(account["Id"], BillingCity="Düsseldorf")
    sf.faults.add("status", 50, status=503, path_contains="/queryAll")
    with pytest.raises(ConnectorError, match="503"):
        rig.run()
    assert len(rig.sleeps) == 3, "max_attempts=4: three waits, then give up"
    assert rig.cursor("sf") == cursor, "the cursor never passes data that was not read"
    sf.faults.clear()
    assert rig.run().status == "ok"
    mem = [r for r in rig.memory().records.values() if r["name"] == "Konto 0 AG"]
    assert [r["city"] for r in mem] == ["Düsseldorf"]
    _assert_synced(rig, sf, 5)


def test_sap_read_5xx_is_retried_on_every_backend(any_rig: Rig) -> None:
    sap = any_rig.sap(fake=FakeSapOData(records=6, seed=3))
    mem = any_rig.memory()
    sap.faults.add("status", 2, status=503, path_contains="A_BusinessPartner", method="GET")
    summary = any_rig.run()
    assert summary.counts["sap"]["read"] == 6 and not any_rig.dead("sap"), summary.counts
    assert len(any_rig.sleeps) == 2
    assert any_rig.hub_count() == 6 and len(mem.records) == 6
    assert not duplicates([r["hub_id"] for r in mem.records.values()])
    assert any_rig.cursor("sap") is not None


@pytest.mark.parametrize(("status", "body"), [(429, "slow down"), (403, SF_LIMIT)], ids=["429", "403-limit"])
def test_rate_limit_retry_after_seconds_is_honoured(rig: Rig, status: int, body: str) -> None:
    sf = _sf_and_memory(rig)
    sf.faults.add("status", 1, status=status, body=body, headers={**JSON, "Retry-After": "7"},
                  path_contains="/queryAll")
    sf.faults.add("status", 1, status=status, body=body, headers={**JSON, "Retry-After": "3"},
                  path_contains="/composite/sobjects")
    assert rig.run().status == "ok"
    assert rig.sleeps == [7.0, 3.0], "waited exactly as told"
    _assert_synced(rig, sf, 5)


def test_rate_limit_retry_after_http_date_is_honoured(rig: Rig) -> None:
    sf = _sf_and_memory(rig)
    when = email.utils.formatdate(time.time() + 20, usegmt=True)
    sf.faults.add("status", 1, status=429, headers={"Retry-After": when}, path_contains="/queryAll")
    assert rig.run().status == "ok"
    assert len(rig.sleeps) == 1 and 15 <= rig.sleeps[0] <= 21, rig.sleeps
    _assert_synced(rig, sf, 5)


def test_rate_limit_longer_than_the_budget_is_capped_then_stops_cleanly(rig: Rig) -> None:
    sf = rig.salesforce(fake=FakeSalesforce(records=250, seed=5), retry={"max_attempts": 3, "max_wait": 10},
                        query_batch_size=200)
    mem = rig.memory()
    # the second page of the read is refused for longer than the run may wait
    sf.faults.add("status", 20, status=403, body=SF_LIMIT, headers={**JSON, "Retry-After": "3600"},
                  path_contains="/queryAll/01g")
    with pytest.raises(RateLimitedError, match="REQUEST_LIMIT_EXCEEDED"):
        rig.run()
    assert rig.sleeps == [10.0, 10.0], "Retry-After is honoured up to max_wait, attempts are bounded"
    assert rig.cursor("sf") is None, "no cursor past records that were never committed"
    assert rig.hub_count() == 0 and not mem.records
    sf.faults.clear()
    assert rig.run().status in ("ok", "rejected")
    live = [a for a in sf.records if not a["IsDeleted"]]
    assert rig.hub_count() == len(live) == len(mem.records)
    assert not duplicates([r["hub_id"] for r in mem.records.values()])


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_connect_failure_is_retried_until_the_server_is_back(rig: Rig) -> None:
    fake = FakeSalesforce(port=_free_port())
    sf = rig.salesforce(fake=fake)
    fake.add(Name="Wieder Da GmbH", BillingCountry="Germany")
    seed_memory(rig.memory(), 2)
    fake.stop()  # connection refused until the retry policy's first wait
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        if fake._httpd is None:
            fake.start()

    rig.sleeps = sleep  # type: ignore[assignment]
    assert rig.run().status == "ok"
    assert len(waits) >= 1
    _assert_synced(rig, sf, 3)


def test_connect_failure_for_good_is_unreachable_and_other_endpoints_still_read(rig: Rig) -> None:
    fake = FakeSalesforce(port=_free_port())
    rig.salesforce(fake=fake)
    fake.stop()
    mem = rig.memory()
    seed_memory(mem, 2)
    with pytest.raises(UnreachableError):
        rig.run()
    assert len(rig.sleeps) == 3
    assert rig.hub_count() == 2, "the memory endpoint's read was committed"
    assert rig.cursor("sf") is None


@pytest.mark.parametrize("kind", ["slow", "drop", "truncate"])
@pytest.mark.parametrize("where", ["read", "write"])
def test_timeouts_resets_and_truncated_bodies_are_retried_never_half_applied(rig: Rig, kind: str,
                                                                             where: str) -> None:
    sf = _sf_and_memory(rig, read_timeout=0.2)
    path, method = ("/queryAll", "GET") if where == "read" else ("/composite/sobjects", "PATCH")
    sf.faults.add(kind, 1, path_contains=path, method=method, delay=0.6)
    summary = rig.run()
    assert summary.status == "ok", summary.counts
    assert sf.faults.applied[kind] == 1 and len(rig.sleeps) == 1
    if kind == "slow" and where == "write":
        time.sleep(0.6)  # the timed-out request still lands at the fake; it must not duplicate anything
    _assert_synced(rig, sf, 5)


@pytest.mark.parametrize("kind", ["drop", "truncate"])
def test_sap_reset_and_truncated_page_are_retried(rig: Rig, kind: str) -> None:
    sap = rig.sap(fake=FakeSapOData(records=12, seed=4, page_size=5))
    mem = rig.memory()
    sap.faults.add(kind, 1, path_contains="A_BusinessPartner", method="GET")
    summary = rig.run()
    assert summary.counts["sap"]["read"] == 12, summary.counts
    assert rig.hub_count() == 12 and len(mem.records) == 12 and len(rig.sleeps) == 1


def test_retrying_stops_at_max_total_seconds(rig: Rig) -> None:
    sf = _sf_and_memory(rig, read_timeout=0.1, max_total=0.5)
    rig.endpoints["sf"]["retry"]["max_attempts"] = 50
    sf.faults.add("slow", 50, path_contains="/queryAll", delay=0.3)
    with pytest.raises(ConnectorError):
        rig.run()
    assert 1 <= len(rig.sleeps) < 10, "the total time bound stopped the retries, not max_attempts"
    assert rig.cursor("sf") is None


def test_sap_429_retry_after_is_honoured(rig: Rig) -> None:
    sap = rig.sap(fake=FakeSapOData(records=4, seed=8))
    mem = rig.memory()
    sap.faults.add("status", 1, status=429, headers={"Retry-After": "5"}, path_contains="A_BusinessPartner")
    assert rig.run().counts["sap"]["read"] == 4
    assert rig.sleeps == [5.0] and len(mem.records) == rig.hub_count() == 4


def test_salesforce_daily_quota_used_up_stops_the_run_and_a_later_run_finishes(rig: Rig) -> None:
    sf = rig.salesforce(fake=FakeSalesforce(records=30, seed=6, daily_quota=1), retry={"max_attempts": 2})
    mem = rig.memory()
    seed_memory(mem, 3)
    before = len(sf.find())
    summary = rig.run()  # the read fits in the quota; the write gets 403 REQUEST_LIMIT_EXCEEDED
    assert summary.counts["sf"]["batches_failed"] == 1 and len(rig.sleeps) == 1, summary.counts
    assert len(sf.find()) == before and len(rig.binding("sf")) == before, "nothing written, nothing bound"
    sf.daily_quota = 1000  # the next day
    rig.run()
    accounts = sf.find()
    assert len(accounts) == before + 3 and not duplicates([a["Crmsync_Id__c"] for a in accounts])
    assert rig.hub_count() == len(accounts) == len(mem.records)


def test_a_run_whose_write_batch_failed_does_not_report_ok(rig: Rig) -> None:
    rig.salesforce(fake=FakeSalesforce(daily_quota=1), retry={"max_attempts": 1})  # the read fits, the write not
    seed_memory(rig.memory(), 2)
    summary = rig.run()
    assert summary.counts["sf"]["batches_failed"] == 1
    assert summary.status != "ok"


@pytest.mark.parametrize("endpoint", ["sf", "sap"])
def test_503_with_retry_after_is_honoured(rig: Rig, endpoint: str) -> None:
    fake: FakeSalesforce | FakeSapOData
    if endpoint == "sf":
        fake = sf = rig.salesforce()
        sf.add(Name="Wartung GmbH", BillingCountry="Germany")
        path = "/queryAll"
    else:
        fake = rig.sap(fake=FakeSapOData(records=2, seed=1))
        path = "A_BusinessPartner"
    rig.memory()
    fake.faults.add("status", 1, status=503, headers={"Retry-After": "4"}, body="maintenance", path_contains=path)
    rig.run()
    assert rig.sleeps == [4.0]
