"""End to end: the sync engine moves customers between the fake Salesforce org and a memory endpoint."""

from __future__ import annotations

from pathlib import Path

import pytest

from crmsync.config import parse_config
from crmsync.engine import SyncEngine
from crmsync.plugins import create_host
from crmsync.state import StateStore
from crmsync.testing import MEMORY_TABLES, MemoryPlugin, memory_table
from crmsync_salesforce.fake import FakeSalesforce
from crmsync_salesforce.fixtures import salesforce_options

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def sync(tmp_path, monkeypatch):
    MEMORY_TABLES.clear()
    fake = FakeSalesforce(records=120, seed=11).start()
    monkeypatch.setenv("TEST_SF_CLIENT_SECRET", fake.client_secret)  # secrets only via ${ENV}
    data = {
        "state": {"url": f"sqlite:///{tmp_path / 'state.db'}"},
        "endpoints": {
            "sf": {"connector": "salesforce", "object": "Account",
                   "mapping": str(ROOT / "mappings" / "salesforce_account.yaml"),
                   "options": salesforce_options(fake, query_batch_size=200,
                                                 client_secret="${TEST_SF_CLIENT_SECRET}")},
            "crm": {"connector": "memory", "object": "customers",
                    "mapping": str(Path(__file__).with_name("memory_crm.yaml")), "options": {"table": "crm"}},
        },
        "pipelines": {"customers": {"endpoints": ["sf", "crm"]}},
    }
    config = parse_config(data, tmp_path / "crmsync.yaml")
    host = create_host(extra_plugins=(MemoryPlugin(),))
    stores = []

    def run():
        store = StateStore(config.state_url)
        stores.append(store)
        return SyncEngine(config, "customers", store=store, host=host, sleep=lambda s: None).run()

    yield fake, run
    for store in stores:
        store.dispose()
    fake.stop()
    MEMORY_TABLES.clear()


def test_engine_round_trip_with_fake_salesforce(sync):
    fake, run = sync
    first = run()
    crm = memory_table("crm")
    sf_counts, crm_counts = first.counts["sf"], first.counts["crm"]
    assert sf_counts["read"] == 120 and sf_counts["dead_letters"] == 0, first.counts
    assert crm_counts["created"] == sf_counts["hub_created"] == len(crm.records)
    assert len(fake.records) == 120  # nothing echoed back into Salesforce
    second = run()
    assert not second.counts.get("crm", {}).get("created") and not second.counts.get("sf", {}).get("created")
    assert len(fake.records) == 120
    crm.put("new-1", name="Nouvelle Société d'Été", country="FR", city="Lyon")
    third = run()
    created = fake.find(Name="Nouvelle Société d'Été")
    assert len(created) == 1, third.counts
    assert created[0]["Crmsync_Id__c"] and created[0]["BillingCity"] == "Lyon"
    fake.touch(created[0]["Id"], BillingCity="Marseille")
    run()
    assert crm.records["new-1"]["city"] == "Marseille"
    assert len(fake.find(Name="Nouvelle Société d'Été")) == 1
