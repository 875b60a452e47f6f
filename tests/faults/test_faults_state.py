"""The state database failing or busy, two runs of one pipeline at once, and poison records."""

from __future__ import annotations

import datetime as dt
import sqlite3
import threading
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sync_rig import Rig, duplicates, seed_memory

from crmsync.engine import RunSummary
from crmsync.errors import LockHeldError, StateError
from crmsync.mapping.converters import ConversionError, Converter
from crmsync.plugins import create_host, hookimpl
from crmsync.state import StateStore
from crmsync.state.schema import locks, runs
from crmsync.testing import MemoryPlugin


def _short_busy_timeout(store: StateStore, ms: int) -> StateStore:
    """Make SQLite give up on a lock after ``ms`` instead of 30 s, so the test is quick."""

    @sa.event.listens_for(store.engine, "connect")
    def on_connect(dbapi_connection: Any, record: Any) -> None:
        dbapi_connection.execute(f"PRAGMA busy_timeout={ms}")

    store.engine.dispose()
    return store


def test_unreachable_state_database_is_a_clear_error_before_any_endpoint_call(
        rig: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    sf = rig.salesforce()
    seed_memory(rig.memory(), 2)
    monkeypatch.setenv("FAULTS_DB_PASSWORD", "s3cr3t-pw")  # a password in the file is refused: it comes from env
    rig.state_url = "postgresql+psycopg://crmsync:${FAULTS_DB_PASSWORD}@127.0.0.1:1/nowhere"
    with pytest.raises(StateError, match="unavailable") as caught:
        rig.run()
    assert "s3cr3t-pw" not in str(caught.value), "the password is not in the message"
    assert sf.requests_seen == 0 and sf.token_requests == 0


def test_state_database_locked_by_another_writer_is_a_clear_error_and_nothing_half_written(rig: Rig) -> None:
    sf = rig.salesforce()
    seed_memory(rig.memory(), 2)
    store = _short_busy_timeout(rig.store(), 100)  # creates the schema too
    other = sqlite3.connect(rig.state_url.removeprefix("sqlite:///"), isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another writer holds the write lock
    try:
        with pytest.raises(StateError, match="database is locked"):
            rig.engine(store=store).run()
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert sf.requests_seen == 0, "no endpoint was read or written"
    assert rig.hub_count() == 0 and rig.cursor("mem") is None and not rig.rows(runs)
    assert rig.run().status == "ok"
    assert rig.hub_count() == 2 and len(sf.find()) == 2


def test_state_database_busy_for_a_moment_is_waited_for(rig: Rig) -> None:
    sf = rig.salesforce()
    seed_memory(rig.memory(), 2)
    rig.store().dispose()
    other = sqlite3.connect(rig.state_url.removeprefix("sqlite:///"), isolation_level=None,
                            check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    released = threading.Timer(0.3, lambda: other.execute("ROLLBACK"))
    released.start()
    try:
        assert rig.run().status == "ok", "SQLite's busy timeout queues the run behind the other writer"
    finally:
        released.join()
        other.close()
    assert rig.hub_count() == 2 and len(sf.find()) == 2


class _LockAfterWrite:
    """A sync_batch hook: right after the first Salesforce write, another writer locks the SQLite state."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.other: sqlite3.Connection | None = None

    @hookimpl(hookwrapper=True)
    def sync_batch(self, batch: dict[str, Any]) -> Generator[None, Any, None]:
        yield
        if self.other is None and batch["endpoint"] == "sf":
            self.other = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self.other.execute("BEGIN IMMEDIATE")


def test_state_database_lost_between_write_and_commit_leaves_nothing_half_written(rig: Rig) -> None:
    locker = _LockAfterWrite(rig.state_url.removeprefix("sqlite:///"))
    rig.host = create_host(extra_plugins=(MemoryPlugin(), locker))
    sf = rig.salesforce()
    seed_memory(rig.memory(), 3)
    store = _short_busy_timeout(rig.store(), 100)
    with pytest.raises(StateError, match="database is locked"):
        rig.engine(store=store).run()
    assert locker.other is not None
    locker.other.execute("ROLLBACK")
    locker.other.close()
    assert len(sf.find()) == 3, "Salesforce acknowledged the batch before the state failed"
    assert rig.binding("sf") == {}, "but no binding or snapshot of that batch was half-written"
    assert rig.hub_count() == 3 and rig.cursor("mem") is not None, "the inbound chunk committed before stays"
    # the failed run could not release its lease either; on SQLite it expires after 5 minutes
    with rig.store().engine.begin() as conn:
        conn.execute(sa.update(locks).values(expires_at=dt.datetime(2000, 1, 1, tzinfo=dt.UTC)))
    assert rig.run().status == "ok"
    accounts = sf.find()
    assert len(accounts) == 3 and not duplicates([a["Crmsync_Id__c"] for a in accounts])
    assert set(rig.binding("sf").values()) == {a["Crmsync_Id__c"] for a in accounts}


class _Gate:
    """A sync_batch hook that holds the first write batch until released."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()
        self.held = False

    @hookimpl(hookwrapper=True)
    def sync_batch(self, batch: dict[str, Any]) -> Generator[None, Any, None]:
        if not self.held:
            self.held = True
            self.entered.set()
            self.release.wait(timeout=30)
        yield


def test_two_runs_at_once_the_second_refuses_and_names_the_holder(any_rig: Rig) -> None:
    gate = _Gate()
    any_rig.host = create_host(extra_plugins=(MemoryPlugin(), gate))
    sf = any_rig.salesforce()
    seed_memory(any_rig.memory(), 3)
    first = any_rig.engine()
    outcome: list[RunSummary] = []
    thread = threading.Thread(target=lambda: outcome.append(first.run()))
    thread.start()
    try:
        assert gate.entered.wait(timeout=30)
        assert first.summary is not None
        with pytest.raises(LockHeldError) as caught:
            any_rig.run()
        message = str(caught.value)
        assert first.summary.run_id in message and "pid" in message, message
    finally:
        gate.release.set()
        thread.join(timeout=60)
    assert outcome and outcome[0].status == "ok"
    assert any_rig.hub_count() == 3 and len(sf.find()) == 3
    assert not duplicates([a["Crmsync_Id__c"] for a in sf.find()])
    assert any_rig.run().status == "ok", "the lock is free again"


class _Exploding:
    """A converter plugin that raises an unexpected exception for one value."""

    @hookimpl
    def register_converters(self, register: Any) -> None:
        def load(value: Any, args: Any) -> Any:
            if value == "BOOM":
                raise ZeroDivisionError("converter bug")
            if value == "BAD":
                raise ConversionError("explode: BAD is not allowed")
            return value

        register(Converter("explode", "raises for BOOM", load, None))


def test_poison_records_are_quarantined_and_the_rest_goes_on(rig: Rig, tmp_path: Path) -> None:
    rig.host = create_host(extra_plugins=(MemoryPlugin(), _Exploding()))
    mapping = tmp_path / "poison.yaml"
    mapping.write_text(Path(__file__).with_name("memory_customers.yaml").read_text(encoding="utf-8")
                       .replace("owner: {source: owner}", "owner: {source: owner, convert: [explode]}"),
                       encoding="utf-8")
    sf = rig.salesforce()
    mem = rig.memory(mapping=mapping)
    seed_memory(mem, 5)
    mem.put("E0001", owner="BOOM")
    mem.put("E0003", owner="BAD")
    mem.put("E0004", credit="zwölf")
    summary = rig.run()
    assert summary.status == "rejected"
    assert summary.counts["mem"]["dead_letters"] == 3 and summary.counts["sf"]["created"] == 2
    letters = {d["external_id"]: d for d in rig.dead("mem")}
    assert set(letters) == {"E0001", "E0003", "E0004"}
    assert "converter bug" in letters["E0001"]["error"] or "ZeroDivisionError" in letters["E0001"]["error"]
    assert "BAD is not allowed" in letters["E0003"]["error"]
    assert "credit" in letters["E0004"]["problems"] or "credit_limit" in letters["E0004"]["error"]
    assert rig.hub_count() == 2 and sorted(a["Name"] for a in sf.find()) == ["Firma E0 GmbH", "Firma E2 GmbH"]
    assert rig.cursor("mem") is not None, "the read went past the poison records"
