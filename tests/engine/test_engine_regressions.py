"""Regressions found in review: each test failed before its fix."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from crmsync.config import parse_config
from crmsync.engine import SyncEngine
from crmsync.errors import ConfigError, LockHeldError
from crmsync.plugins import hookimpl
from crmsync.state import StateStore, records, views
from crmsync.state.store import utcnow
from crmsync.testing import memory_table

MAPPING = Path(__file__).with_name("memory_customers.yaml")


def config_with(tmp_path: Path, state_url: str, deletes: dict[str, str], **pipeline: Any) -> Any:
    endpoints = {name: {"connector": "memory", "object": "customers", "mapping": str(MAPPING),
                        "options": {"table": name}, "deletes": policy} for name, policy in deletes.items()}
    return parse_config({"state": {"url": state_url}, "endpoints": endpoints,
                         "pipelines": {"p": {"endpoints": list(deletes), **pipeline}}}, tmp_path / "crmsync.yaml")


def test_propagated_delete_is_not_lost_when_the_target_is_read_in_the_same_run(
        tmp_path: Path, sqlite_url: str, host: Any) -> None:
    config = config_with(tmp_path, sqlite_url, {"erp": "archive", "crm": "propagate"})
    erp, crm = memory_table("erp"), memory_table("crm")
    erp.put("E1", name="Gone GmbH", country="DE")
    store = StateStore(sqlite_url)
    for _ in range(2):
        SyncEngine(config, "p", store=store, host=host).run()
    [crm_id] = list(crm.records)
    erp.delete("E1")
    crm.put(crm_id, city="Köln")  # the crm record is read in the very run that archives the customer
    SyncEngine(config, "p", store=store, host=host).run()
    SyncEngine(config, "p", store=store, host=host).run()
    store.dispose()
    assert crm_id in crm.deleted


def test_deletes_crmsync_propagated_do_not_trip_the_mass_delete_guard(
        tmp_path: Path, sqlite_url: str, host: Any) -> None:
    config = config_with(tmp_path, sqlite_url, {"erp": "archive", "crm": "propagate"})
    erp = memory_table("erp")
    for i in range(20):
        erp.put(f"E{i}", name=f"Kunde {i} GmbH", country="DE", vat=f"DE{i}")
    store = StateStore(sqlite_url)
    SyncEngine(config, "p", store=store, host=host).run()
    for i in range(3):
        erp.delete(f"E{i}")
    SyncEngine(config, "p", store=store, host=host).run()
    summary = SyncEngine(config, "p", store=store, host=host).run(full=True)  # crm's own deletes come back
    store.dispose()
    assert summary.counts["crm"].get("deleted_at_source", 0) == 0


def test_guard_counts_the_share_of_records_still_alive(tmp_path: Path, sqlite_url: str, host: Any) -> None:
    config = config_with(tmp_path, sqlite_url, {"erp": "archive", "crm": "ignore"})
    erp = memory_table("erp")
    for i in range(20):
        erp.put(f"E{i}", name=f"Kunde {i} GmbH", country="DE", vat=f"DE{i}")
    store = StateStore(sqlite_url)
    SyncEngine(config, "p", store=store, host=host).run()
    for i in range(18):
        del erp.records[f"E{i}"], erp.stamps[f"E{i}"]
    SyncEngine(config, "p", store=store, host=host, allow_mass_delete=True).run(full=True)
    for i in (18, 19):
        del erp.records[f"E{i}"], erp.stamps[f"E{i}"]
    from crmsync.errors import MassDeleteError

    with pytest.raises(MassDeleteError, match="2 of 2 records"):
        SyncEngine(config, "p", store=store, host=host).run(full=True)
    store.dispose()


class SameHubTwice:
    hub: str | None = None

    @hookimpl
    def match_customer(self, record: dict[str, Any], candidates: list[dict[str, Any]]) -> str | None:
        return self.hub


@pytest.mark.parametrize("extra_plugins", [[SameHubTwice()]])
def test_two_records_answered_the_same_hub_in_one_chunk_do_not_block_the_pipeline(
        run: Callable[..., Any], state_url: str) -> None:
    memory_table("erp").put("E1", name="One GmbH", country="DE")
    crm = memory_table("crm")
    crm.reject["*"] = "closed"  # so the hub is not bound in crm yet
    run()
    store = StateStore(state_url)
    with store.connect() as conn:
        SameHubTwice.hub = views.resolve_customer(conn, "E1")
    store.dispose()
    crm.reject.clear()
    crm.put("C1", name="Alpha Ltd", country="GB")
    crm.put("C2", name="Beta Ltd", country="GB")  # the hook names the same customer for both
    summary = run()
    assert summary.counts["crm"]["matched"] == 1 and summary.counts["crm"]["hub_created"] == 1


def test_a_run_whose_lease_was_taken_over_stops(sqlite_url: str) -> None:
    store = StateStore(sqlite_url)
    lock = store.acquire_lock("p", "run_slow", lease=dt.timedelta(seconds=-1))
    other = store.acquire_lock("p", "run_new")  # the lease expired: taken over
    with pytest.raises(LockHeldError, match="taken over"):
        lock.heartbeat()
    other.release()
    store.dispose()


def test_resolving_with_a_typed_value(run: Callable[..., Any], state_url: str) -> None:
    erp, crm = memory_table("erp"), memory_table("crm")
    erp.put("E1", name="Typed GmbH", country="DE", credit="10")
    run(conflicts={"policy": "manual"})
    crm_id = next(iter(crm.records))
    erp.put("E1", credit="20")
    crm.put(crm_id, credit="30")
    run(conflicts={"policy": "manual"})
    store = StateStore(state_url)
    with store.transaction() as conn:
        [conflict] = views.list_conflicts(conn)
        with pytest.raises(ConfigError, match="credit_limit"):
            records.resolve_conflict(conn, conflict["id"], "lots", "value", utcnow())
    with store.transaction() as conn:
        done = records.resolve_conflict(conn, conflict["id"], "25.50", "value", utcnow())
    store.dispose()
    assert str(done["value"]) == "25.50"


def test_a_later_good_version_settles_an_older_dead_letter(run: Callable[..., Any], state_url: str) -> None:
    erp = memory_table("erp")
    erp.put("E1", name="Fixed GmbH", country="Atlantis")
    run()
    erp.put("E1", country="DE")  # fixed at the source
    run()
    store = StateStore(state_url)
    with store.connect() as conn:
        assert views.list_dead_letters(conn) == []
        assert [d["status"] for d in views.list_dead_letters(conn, "all")] == ["superseded"]
    store.dispose()


def test_external_ids_differing_only_by_case_are_two_records(run: Callable[..., Any], state_url: str) -> None:
    erp = memory_table("erp")
    erp.put("k-1", name="Lower GmbH", country="DE", vat="DE1")
    erp.put("K-1", name="Upper GmbH", country="DE", vat="DE2")
    summary = run()
    assert summary.counts["erp"]["hub_created"] == 2
    assert run().total("hub_created") == 0
    assert len(memory_table("crm").records) == 2


def test_a_record_read_twice_in_one_chunk_counts_once(run: Callable[..., Any], state_url: str,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from crmsync.testing import MemoryConnector

    memory_table("erp").put("E1", name="Twice GmbH", country="DE", city="Alt")
    original = MemoryConnector.read_changes

    def twice(self: Any, since: Any) -> Any:
        for record in original(self, since):
            yield type(record)(record.external_id, {**record.payload, "city": "Alt"}, record.cursor)
            yield record

    monkeypatch.setattr(MemoryConnector, "read_changes", twice)
    memory_table("erp").put("E1", city="Neu")
    summary = run()
    assert summary.counts["erp"]["hub_created"] == 1
    assert [r["city"] for r in memory_table("crm").records.values()] == ["Neu"]
