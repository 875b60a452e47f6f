"""A pipeline of real fakes around the real SyncEngine, for the fault and security suites.

:class:`Rig` starts fake Salesforce / SAP OData servers on 127.0.0.1, adds a memory endpoint or a
CSV sheet, writes the config the way a user would (secrets through ``${ENV}``), runs
:class:`crmsync.engine.SyncEngine` with an injected sleep (nothing ever waits), and reads the
state database back for assertions. Both ``tests/faults`` and ``tests/security`` use it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from crmsync.config import Config, parse_config
from crmsync.engine import RunSummary, SyncEngine
from crmsync.plugins import PluginHost, create_host
from crmsync.state import StateStore, loads
from crmsync.state.schema import bindings, cursors, dead_letters, hub_records
from crmsync.testing import MEMORY_TABLES, MemoryPlugin, MemoryTable, memory_table
from crmsync_salesforce.fake import FakeSalesforce
from crmsync_sap.fake_odata import FakeSapOData

ROOT = Path(__file__).resolve().parents[2]
MAPPINGS = ROOT / "mappings"
MEMORY_MAPPING = Path(__file__).with_name("memory_customers.yaml")
FAST_RETRY: dict[str, float] = {"max_attempts": 4, "initial_wait": 0.01, "max_wait": 30, "max_total": 60}
"""Retry settings of the fault tests: the waits are recorded, never slept, so only attempts matter."""


class Sleeps(list[float]):
    """Stands in for time.sleep: records every wait the retry policy asked for."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@dataclass
class Rig:
    """Fakes + endpoint configs + state store for one test."""

    tmp_path: Path
    state_url: str
    monkeypatch: pytest.MonkeyPatch
    sleeps: Sleeps = field(default_factory=Sleeps)
    host: PluginHost = field(default_factory=lambda: create_host(extra_plugins=(MemoryPlugin(),)))
    endpoints: dict[str, dict[str, Any]] = field(default_factory=dict)
    fakes: list[Any] = field(default_factory=list)
    stores: list[StateStore] = field(default_factory=list)

    # -- endpoints ----------------------------------------------------------------------
    def _secret(self, name: str, value: str) -> str:
        variable = f"CRMSYNC_RIG_{name.upper()}"
        self.monkeypatch.setenv(variable, value)
        return "${" + variable + "}"

    def salesforce(self, name: str = "sf", fake: FakeSalesforce | None = None, *,
                   retry: dict[str, float] | None = None, deletes: str = "archive",
                   **options: Any) -> FakeSalesforce:
        """A started fake Salesforce org as endpoint ``name`` (client credentials, refreshable)."""
        fake = fake or FakeSalesforce()
        self._start(fake)
        info = fake.info()
        self.endpoints[name] = {
            "connector": "salesforce", "object": "Account", "mapping": str(MAPPINGS / "salesforce_account.yaml"),
            "deletes": deletes, "retry": dict(FAST_RETRY if retry is None else retry),
            "options": {"instance_url": info["url"], "auth": "client_credentials", "client_id": info["client_id"],
                        "client_secret": self._secret(f"{name}_client_secret", info["client_secret"]),
                        "api_version": fake.api_version, **options},
        }
        return fake

    def sap(self, name: str = "sap", fake: FakeSapOData | None = None, *, retry: dict[str, float] | None = None,
            **options: Any) -> FakeSapOData:
        """A started fake SAP Gateway (API_BUSINESS_PARTNER) as endpoint ``name`` (basic auth)."""
        fake = fake or FakeSapOData()
        self._start(fake)
        info = fake.info()
        self.endpoints[name] = {
            "connector": "sap-odata", "object": "A_BusinessPartner",
            "mapping": str(MAPPINGS / "sap_business_partner.yaml"), "deletes": "block",
            "retry": dict(FAST_RETRY if retry is None else retry),
            "options": {"service_url": info["url"], "username": info["username"],
                        "password": self._secret(f"{name}_password", info["password"]), **options},
        }
        return fake

    def memory(self, name: str = "mem", *, mapping: Path = MEMORY_MAPPING) -> MemoryTable:
        """An in-memory endpoint (crmsync.testing.MemoryConnector) named ``name``."""
        self.endpoints[name] = {"connector": "memory", "object": "customers", "mapping": str(mapping),
                                "options": {"table": name}}
        return memory_table(name)

    def sheet(self, name: str = "sheet", file: str = "customers.csv", **options: Any) -> Path:
        """A spreadsheet endpoint on ``tmp_path / file`` (the file may not exist yet)."""
        path = self.tmp_path / file
        self.endpoints[name] = {"connector": "spreadsheet", "object": "customers",
                                "mapping": str(MAPPINGS / "spreadsheet_customers.yaml"),
                                "options": {"path": str(path), "missing_ok": True, "backup": False, **options}}
        return path

    def _start(self, fake: Any) -> None:
        if fake not in self.fakes:
            if fake._httpd is None:
                fake.start()
            self.fakes.append(fake)

    # -- runs ---------------------------------------------------------------------------
    def config(self, *members: str, **pipeline: Any) -> Config:
        data = {
            "state": {"url": self.state_url},
            "endpoints": self.endpoints,
            "pipelines": {"customers": {"endpoints": list(members or self.endpoints), **pipeline}},
        }
        return parse_config(data, self.tmp_path / "crmsync.yaml")

    def store(self) -> StateStore:
        store = StateStore(self.state_url)
        self.stores.append(store)
        return store

    def engine(self, *members: str, store: StateStore | None = None, **pipeline: Any) -> SyncEngine:
        return SyncEngine(self.config(*members, **pipeline), "customers", store=store or self.store(),
                          host=self.host, sleep=self.sleeps)

    def run(self, *members: str, **pipeline: Any) -> RunSummary:
        """One run of the pipeline (all endpoints unless ``members`` are named)."""
        return self.engine(*members, **pipeline).run()

    # -- state --------------------------------------------------------------------------
    def rows(self, table: sa.Table, *where: Any) -> list[dict[str, Any]]:
        store = StateStore(self.state_url, migrate=False)
        try:
            with store.connect() as conn:
                return [dict(r._mapping) for r in conn.execute(sa.select(table).where(*where))]
        finally:
            store.dispose()

    def hub_count(self) -> int:
        return len(self.rows(hub_records))

    def hubs(self) -> list[dict[str, Any]]:
        return [loads(r["data"]) | {"id": r["id"]} for r in self.rows(hub_records)]

    def cursor(self, endpoint: str) -> str | None:
        found = self.rows(cursors, cursors.c.endpoint == endpoint)
        return found[0]["token"] if found else None

    def binding(self, endpoint: str) -> dict[str, str]:
        """external id -> hub id of ``endpoint``."""
        return {r["external_id"]: r["hub_id"] for r in self.rows(bindings, bindings.c.endpoint == endpoint)}

    def dead(self, endpoint: str | None = None) -> list[dict[str, Any]]:
        where = [dead_letters.c.endpoint == endpoint] if endpoint else []
        return self.rows(dead_letters, *where)

    def close(self) -> None:
        for store in self.stores:
            store.dispose()
        for fake in self.fakes:
            fake.stop()


def make_rig(tmp_path: Path, state_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Rig]:
    """Fixture body: a fresh rig, memory tables cleared before and after."""
    MEMORY_TABLES.clear()
    rig = Rig(tmp_path, state_url, monkeypatch)
    try:
        yield rig
    finally:
        rig.close()
        MEMORY_TABLES.clear()


def duplicates(values: list[Any]) -> list[Any]:
    """Values that occur more than once (None ignored)."""
    seen: set[Any] = set()
    twice: list[Any] = []
    for value in values:
        if value is None:
            continue
        if value in seen:
            twice.append(value)
        seen.add(value)
    return twice


def seed_memory(table: MemoryTable, n: int, prefix: str = "E") -> list[str]:
    """``n`` German companies in a memory table; returns their ids."""
    ids = []
    for i in range(n):
        record_id = f"{prefix}{i:04d}"
        table.put(record_id, name=f"Firma {prefix}{i} GmbH", country="Germany", vat=f"DE{100000000 + i}",
                  city="Berlin", credit="1000.5")
        ids.append(record_id)
    return ids


__all__ = ["FAST_RETRY", "MAPPINGS", "MEMORY_MAPPING", "ROOT", "Rig", "Sleeps", "duplicates", "make_rig",
           "seed_memory"]
