"""Soak: many incremental cycles against the fake SAP and Salesforce servers with random faults.

Not in the default run: ``pytest -m soak tests/soak`` (``CRMSYNC_SOAK_CYCLES`` sets the number of
cycles, 200 by default). Every cycle edits a few records on both sides, injects random faults
(5xx, dropped connections, lost responses after the write was applied, truncated bodies) and
runs the pipeline; a failed run is simply followed by the next one, as a scheduler would. At the
end, clean cycles must bring both sides to agreement with nothing lost and nothing duplicated.
"""

from __future__ import annotations

import os
import random
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from crmsync.config import parse_config
from crmsync.engine import SyncEngine
from crmsync.errors import CrmsyncError
from crmsync.plugins import get_host
from crmsync.state import StateStore
from crmsync_salesforce.fake import FakeSalesforce
from crmsync_sap.fake_odata import FakeSapOData

pytestmark = pytest.mark.soak
FAULTS = ("status", "drop", "lose_response", "truncate")


def test_soak_random_faults_converge_with_nothing_lost(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cycles = int(os.environ.get("CRMSYNC_SOAK_CYCLES", "200"))
    rng = random.Random(20261124)
    sap = FakeSapOData(records=30, seed=3).start()
    salesforce = FakeSalesforce(records=20, seed=4).start()
    try:
        monkeypatch.setenv("SOAK_SAP_PASSWORD", str(sap.info()["password"]))
        monkeypatch.setenv("SOAK_SF_TOKEN", str(salesforce.info()["access_token"]))
        config = parse_config({
            "state": {"url": f"sqlite:///{tmp_path / 'soak.db'}"},
            "endpoints": {
                "sap": {"connector": "sap-odata", "object": "A_BusinessPartner", "mapping": "sap_business_partner.yaml",
                        "options": {"service_url": sap.info()["url"], "username": sap.info()["username"],
                                    "password": "${SOAK_SAP_PASSWORD}"},
                        "retry": {"max_attempts": 3, "read_timeout": 5}},
                "salesforce": {"connector": "salesforce", "object": "Account", "mapping": "salesforce_account.yaml",
                               "options": {"instance_url": salesforce.info()["url"], "auth": "token",
                                           "access_token": "${SOAK_SF_TOKEN}"},
                               "retry": {"max_attempts": 3, "read_timeout": 5}},
            },
            "pipelines": {"p": {"endpoints": ["sap", "salesforce"], "ownership": {"credit_limit": "sap"}}},
        }, tmp_path / "crmsync.yaml")
        store = StateStore(config.state_url)
        injected: Counter[str] = Counter()
        outcomes: Counter[str] = Counter()

        def run() -> Any:
            return SyncEngine(config, "p", store=store, host=get_host(), sleep=lambda s: None).run()

        for cycle in range(cycles):
            for _ in range(rng.randint(0, 2)):
                bp = rng.choice(sorted(sap.partners))
                sap.touch(bp, SearchTerm1=f"S{cycle}")
            for _ in range(rng.randint(0, 2)):
                account = rng.choice(salesforce.find())
                salesforce.touch(account["Id"], Website=f"https://c{cycle}.example")
            if rng.random() < 0.6:
                kind = rng.choice(FAULTS)
                fake = rng.choice([sap, salesforce])
                fake.faults.add(kind, count=rng.randint(1, 3), status=rng.choice([500, 502, 503, 504]))
                injected[kind] += 1
            try:
                outcomes[run().status] += 1
            except CrmsyncError as exc:
                outcomes[type(exc).__name__] += 1
            sap.faults.clear()
            salesforce.faults.clear()
        for _ in range(3):  # a calm night: everything settles
            run()
        print(f"\nsoak: {cycles} cycles, faults injected {dict(injected)}, run outcomes {dict(outcomes)}")
        sap_ids = [p["BusinessPartnerIDByExtSystem"] for p in sap.partners.values()
                   if p["BusinessPartnerIDByExtSystem"]]
        sf_ids = [a["Crmsync_Id__c"] for a in salesforce.find() if a.get("Crmsync_Id__c")]
        assert len(sap_ids) == len(set(sap_ids)), "no partner created twice"
        assert len(sf_ids) == len(set(sf_ids)), "no account created twice"
        with store.connect() as conn:
            hubs = {r[0] for r in conn.execute(sa.text("SELECT id FROM hub_records"))}
            bound = Counter(r[0] for r in conn.execute(sa.text("SELECT endpoint FROM bindings")))
            unbound = {(r[0], r[1]) for r in conn.execute(sa.text(
                "SELECT h.id, e.name FROM hub_records h CROSS JOIN (SELECT 'sap' AS name UNION SELECT 'salesforce')"
                " e LEFT JOIN bindings b ON b.hub_id = h.id AND b.endpoint = e.name WHERE b.hub_id IS NULL"))}
            lettered = {(r[0], r[1]) for r in conn.execute(sa.text(
                "SELECT hub_id, endpoint FROM dead_letters WHERE status = 'open'"))}
        store.dispose()
        with store.connect() as conn:
            sap_bound = {r[0] for r in conn.execute(sa.text("SELECT external_id FROM bindings WHERE endpoint='sap'"))}
            letters = list(conn.execute(sa.text("SELECT endpoint, direction, external_id, hub_id, error, status "
                                                "FROM dead_letters")))
        # an archived partner crmsync never saw alive is not imported (it is a deletion of nothing)
        stray = {bp: p.get("BusinessPartnerIDByExtSystem") for bp, p in sap.partners.items()
                 if bp not in sap_bound and not p.get("IsMarkedForArchiving")}
        with store.connect() as conn:
            cursors = list(conn.execute(sa.text("SELECT endpoint, token FROM cursors")))
        detail = {bp: {k: sap.partners[bp].get(k) for k in ("CreationDate", "CreationTime", "LastChangeDate",
                                                             "LastChangeTime", "IsMarkedForArchiving")}
                  for bp in stray}
        assert not stray, f"SAP partners bound to no hub record: {detail}; cursors {cursors}; letters {letters}"
        assert bound["salesforce"] == len(salesforce.find()), "every account is bound to one hub record"
        assert unbound <= lettered, f"records neither synced nor dead-lettered: {sorted(unbound - lettered)[:5]}"
        assert len(hubs) >= 30
    finally:
        sap.stop()
        salesforce.stop()
