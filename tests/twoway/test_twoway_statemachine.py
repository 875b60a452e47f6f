"""A hypothesis state machine over three in-memory endpoints: random creates, edits and runs.

After two consecutive runs without edits in between, every endpoint holds the hub's value of
every field that has no open conflict, and the second run writes nothing (no flip-flopping).
"""

from __future__ import annotations

import itertools
import shutil
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, precondition, rule
from twoway_helpers import MEMORY_MAPPING, MemoryPipeline, canonical

from crmsync import engine
from crmsync.mapping import compile_mapping
from crmsync.plugins import create_host
from crmsync.state import records
from crmsync.state.store import utcnow
from crmsync.testing import MEMORY_TABLES, MemoryPlugin

ENDPOINTS = ("erp", "crm", "web")
HOST = create_host(extra_plugins=(MemoryPlugin(),))
MAPPING = compile_mapping(MEMORY_MAPPING, HOST.converters)
VALUES: dict[str, list[Any]] = {
    "name": ["Alpha GmbH", "Alpha AG", "  Beta KG ", "Gamma SE"],
    "city": ["Berlin", "Hamburg", "Köln", " München "],
    "owner": ["anna", "bernd", "carla", None],
    "phone": ["+49301234567", "030 1234567", "040 7654321", "+49 89 1111111"],
    "credit": ["1000", "1000.00", "2500.5", "99"],
    "vat": ["DE111", "de222", "DE333 "],
    "blocked": [True, False],
}
FIELDS = sorted(VALUES)
COMPARED = [f for f in MAPPING.inbound if f != "last_changed_at"]


class TwoWaySync(RuleBasedStateMachine):
    """Three endpoints: city is a manual-conflict field, credit is owned (and enforced) by erp."""

    def __init__(self) -> None:
        super().__init__()
        MEMORY_TABLES.clear()
        self.folder = Path(tempfile.mkdtemp(prefix="crmsync-twoway-"))
        self.pipe = MemoryPipeline(
            self.folder, HOST, MAPPING, dict.fromkeys(ENDPOINTS, "ignore"),
            ownership={"credit_limit": "erp"}, enforce_ownership=True,
            conflicts={"policy": "prefer", "prefer": ["crm", "erp", "web"],
                       "fields": {"billing_address.city": "manual"}})
        self.created = 0
        # Deterministic hub ids: outbound order (and so the ids the memory endpoints hand out) follows them,
        # and hypothesis must be able to replay a case exactly.
        numbers = itertools.count(1)
        self._new_hub_id = engine.new_hub_id
        engine.new_hub_id = lambda: f"cus_{next(numbers):016x}"

    def teardown(self) -> None:
        engine.new_hub_id = self._new_hub_id
        self.pipe.close()
        shutil.rmtree(self.folder, ignore_errors=True)
        MEMORY_TABLES.clear()

    @rule(endpoint=st.sampled_from(ENDPOINTS), city=st.sampled_from(VALUES["city"]),
          phone=st.sampled_from(VALUES["phone"]), with_vat=st.booleans(), credit=st.sampled_from(VALUES["credit"]))
    def create(self, endpoint: str, city: str, phone: str, with_vat: bool, credit: str) -> None:
        self.created += 1
        fields: dict[str, Any] = {"name": f"Firma {self.created} GmbH", "country": "DE", "city": city, "phone": phone}
        if with_vat:
            fields["vat"] = f"DE9{self.created:04d}"
        if endpoint == "erp":  # the owner of credit_limit
            fields["credit"] = credit
        self.pipe.table(endpoint).put(f"{endpoint[0].upper()}{self.created}", **fields)

    @precondition(lambda self: any(self.pipe.table(e).records for e in ENDPOINTS))
    @rule(endpoint=st.sampled_from(ENDPOINTS), data=st.data())
    def edit(self, endpoint: str, data: st.DataObject) -> None:
        table = self.pipe.table(endpoint)
        if not table.records:
            return
        record_id = data.draw(st.sampled_from(sorted(table.records)), label="record")
        field = data.draw(st.sampled_from(FIELDS), label="field")
        value = data.draw(st.sampled_from(VALUES[field]), label="value")
        if field == "credit" and endpoint != "erp" and not self.owner_has_credit(endpoint, record_id):
            # Known bug, pinned by test_twoway_memory.py::test_enforced_ownership_clears_a_value_the_owner_never_set
            # (an endless write-back loop): a non-owner edits credit only where erp has set one.
            return
        table.put(record_id, **{field: value})

    def owner_has_credit(self, endpoint: str, record_id: str) -> bool:
        hub_id = self.pipe.bindings().get((endpoint, record_id))
        return hub_id is not None and self.pipe.hub(hub_id).get("credit_limit") is not None

    @precondition(lambda self: bool(self.pipe.summaries))
    @rule(field=st.sampled_from(FIELDS), pair=st.permutations(ENDPOINTS), data=st.data())
    def clash(self, field: str, pair: list[str], data: st.DataObject) -> None:
        """The same field of one synced customer changed on two endpoints (to different values, mostly)."""
        first, second = pair[:2]
        synced = sorted({h for (_, _), h in self.pipe.bindings().items()})
        if not synced:
            return
        hub_id = data.draw(st.sampled_from(synced), label="customer")
        by_endpoint = {e: x for (e, x), h in self.pipe.bindings().items() if h == hub_id}
        if first not in by_endpoint or second not in by_endpoint:
            return
        values = [data.draw(st.sampled_from(VALUES[field]), label=f"value at {e}") for e in (first, second)]
        if field == "credit" and self.pipe.hub(hub_id).get("credit_limit") is None:
            return  # see edit(): the known enforced-ownership bug
        for endpoint, value in zip((first, second), values, strict=True):
            self.pipe.table(endpoint).put(by_endpoint[endpoint], **{field: value})

    @precondition(lambda self: bool(self.pipe.summaries))
    @rule(data=st.data())
    def resolve(self, data: st.DataObject) -> None:
        """Settle one open conflict by taking one side's value (as `conflicts resolve --take` does)."""
        open_conflicts = self.pipe.open_conflicts()
        if not open_conflicts:
            return
        conflict = data.draw(st.sampled_from(open_conflicts), label="conflict")
        side = data.draw(st.sampled_from(sorted(conflict["sides"])), label="take")
        with self.pipe.store.transaction() as conn:
            records.resolve_conflict(conn, conflict["id"], conflict["sides"][side]["value"], side, utcnow())

    @rule()
    def run(self) -> None:
        summary = self.pipe.run()
        assert summary.status == "ok", summary.counts

    @rule()
    def settle(self) -> None:
        """Two runs without edits: then everything agrees and the second run wrote nothing."""
        self.pipe.run()
        writes = self.pipe.writes()
        second = self.pipe.run()
        assert self.pipe.writes() == writes, f"the second quiet run wrote: {second.counts}"
        assert second.total("created") == second.total("updated") == second.total("hub_updated") == 0, second.counts
        self.check_agreement()

    def check_agreement(self) -> None:
        bindings = self.pipe.bindings()
        held = {(c["hub_id"], c["field"]) for c in self.pipe.open_conflicts()}
        hubs: dict[str, dict[str, Any]] = {}
        for endpoint in ENDPOINTS:
            table = self.pipe.table(endpoint)
            for record_id in table.records:
                hub_id = bindings.get((endpoint, record_id))
                assert hub_id is not None, f"{endpoint} {record_id} is bound to no customer"
                if hub_id not in hubs:
                    hubs[hub_id] = self.pipe.hub(hub_id)
                hub = hubs[hub_id]
                loaded = self.pipe.loaded(endpoint, record_id)
                differing = {f: (loaded.get(f), hub.get(f)) for f in COMPARED
                             if (hub_id, f) not in held and canonical(loaded.get(f)) != hub.get(f)}
                assert not differing, f"{endpoint} {record_id} disagrees with hub {hub_id}: {differing}"
        for hub_id in hubs:
            bound = sorted(e for (e, _), h in bindings.items() if h == hub_id)
            assert bound == sorted(ENDPOINTS), f"hub {hub_id} is on {bound} only"


# No explain phase: on Python 3.11 it traces every line of every run (minutes instead of seconds).
TwoWaySync.TestCase.settings = settings(max_examples=30, stateful_step_count=20, deadline=None,
                                        phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink],
                                        suppress_health_check=[HealthCheck.too_slow])
test_two_way_sync_converges_without_flip_flopping = TwoWaySync.TestCase
