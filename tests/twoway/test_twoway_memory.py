"""Two-way scenarios on in-memory endpoints: creates, edits, conflict policies, ownership, deletes.

Every test asserts the exact end state of every endpoint and of the hub, and that a further run
with no outside change writes nothing (the echo fixed point).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from twoway_helpers import MemoryPipeline

from crmsync.engine import RunSummary
from crmsync.errors import MassDeleteError
from crmsync.state import records, views
from crmsync.state.store import utcnow
from crmsync.testing import MemoryTable

Make = Callable[..., MemoryPipeline]


def by_name(table: MemoryTable) -> dict[str, str]:
    """organization name -> record id (of records that are not deleted)."""
    return {r["name"]: i for i, r in table.records.items() if i not in table.deleted}


def count(summary: RunSummary, endpoint: str, action: str) -> int:
    return summary.counts.get(endpoint, Counter()).get(action, 0)


def without_hub_id(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k != "hub_id"}


def assert_fixed_point(pipe: MemoryPipeline) -> None:
    """Two more runs without outside changes write nothing anywhere and change no hub record."""
    before = pipe.writes()
    hubs = {ident: pipe.hub(ident) for ident in pipe.table(pipe.names[0]).records}
    for _ in range(2):
        summary = pipe.run()
        assert summary.total("created") == summary.total("updated") == summary.total("deleted") == 0, summary.counts
        assert summary.total("hub_updated") == 0, summary.counts
    assert pipe.writes() == before, "a run with no outside change must not write"
    assert {ident: pipe.hub(ident) for ident in hubs} == hubs


def seed_alpha(pipe: MemoryPipeline) -> tuple[str, str]:
    """Alpha GmbH created at erp and synced to crm; returns (erp id, crm id)."""
    pipe.table("erp").put("E1", name="Alpha GmbH", country="DE", vat="DE111", city="Berlin", credit="1000.50",
                          phone="+49301234567", owner="anna")
    first = pipe.run()
    assert first.status == "ok" and first.counts["crm"]["created"] == 1
    pipe.run()  # the echo of the create is read back once
    return "E1", by_name(pipe.table("crm"))["Alpha GmbH"]


ALPHA_HUB = {"organization_name": "Alpha GmbH", "country": "DE", "tax_id": "DE111", "billing_address.city": "Berlin",
             "credit_limit": "1000.50", "phones": ["+49301234567"], "owner": "anna", "blocked": False,
             "archived": False}


# -- creates and edits ----------------------------------------------------------------------------

def test_a_record_created_on_each_side_reaches_every_other_side(memory_pipeline: Make) -> None:
    pipe = memory_pipeline({"erp": "ignore", "crm": "ignore", "web": "ignore"})
    erp, crm, web = pipe.table("erp"), pipe.table("crm"), pipe.table("web")
    erp.put("E1", name="Alpha GmbH", country="Germany", vat="de111", city="Berlin", credit="1000.5",
            phone="030 1234567")
    crm.put("C1", name="Beta SARL", country="FR", vat="FR222", city="Paris", owner="alice")
    web.put("W1", name="Gamma Ltd", country="GB", city="London", blocked="true")
    first = pipe.run()
    assert first.status == "ok"
    assert {e: (c["hub_created"], c["created"]) for e, c in first.counts.items()} == {
        "erp": (1, 2), "crm": (1, 2), "web": (1, 2)}
    assert pipe.hub_count() == 3
    alpha = {"name": "Alpha GmbH", "country": "DE", "vat": "DE111", "city": "Berlin", "credit": "1000.50",
             "phone": "+49301234567", "blocked": False, "archived": False}
    beta = {"name": "Beta SARL", "country": "FR", "vat": "FR222", "city": "Paris", "owner": "alice",
            "blocked": False, "archived": False}
    gamma = {"name": "Gamma Ltd", "country": "GB", "city": "London", "blocked": True, "archived": False}
    # the originals are left as their users keyed them in: crmsync writes only what differs canonically
    assert erp.records["E1"] == {"id": "E1", "name": "Alpha GmbH", "country": "Germany", "vat": "de111",
                                 "city": "Berlin", "credit": "1000.5", "phone": "030 1234567"}
    assert crm.records["C1"] == {"id": "C1", "name": "Beta SARL", "country": "FR", "vat": "FR222", "city": "Paris",
                                 "owner": "alice"}
    assert web.records["W1"] == {"id": "W1", "name": "Gamma Ltd", "country": "GB", "city": "London", "blocked": "true"}
    for table, copies in ((erp, (beta, gamma)), (crm, (alpha, gamma)), (web, (alpha, beta))):
        made = [without_hub_id(r) for i, r in sorted(table.records.items()) if i.startswith("m")]
        assert sorted(made, key=lambda r: r["name"]) == [{"id": r["id"], **c} for r, c in zip(
            sorted(made, key=lambda r: r["name"]), copies, strict=True)]
    for ident, expected in (("E1", alpha), ("C1", beta), ("W1", gamma)):
        assert sorted(pipe.external_ids(ident)) == ["crm", "erp", "web"]
        assert pipe.hub(ident)["organization_name"] == expected["name"]
    assert pipe.hub("E1") == {k: v for k, v in ALPHA_HUB.items() if k != "owner"}
    assert pipe.hub("C1") == {"organization_name": "Beta SARL", "country": "FR", "tax_id": "FR222",
                              "billing_address.city": "Paris", "owner": "alice", "blocked": False, "archived": False}
    assert pipe.hub("W1") == {"organization_name": "Gamma Ltd", "country": "GB", "billing_address.city": "London",
                              "blocked": True, "archived": False}
    second = pipe.run()
    assert second.total("created") == second.total("updated") == second.total("hub_updated") == 0
    assert_fixed_point(pipe)


def test_one_field_edited_on_each_side_both_survive(memory_pipeline: Make) -> None:
    pipe = memory_pipeline()
    erp_id, crm_id = seed_alpha(pipe)
    erp, crm = pipe.table("erp"), pipe.table("crm")
    erp.put(erp_id, city="München")
    crm.put(crm_id, phone="+49 89 7654321")
    summary = pipe.run()
    assert summary.status == "ok"
    assert summary.total("conflicts_held") == summary.total("conflicts_resolved") == 0
    assert (summary.counts["erp"]["updated"], summary.counts["crm"]["updated"]) == (1, 1)
    assert erp.records[erp_id] == {"id": "E1", "name": "Alpha GmbH", "country": "DE", "vat": "DE111", "city": "München",
                                   "credit": "1000.50", "phone": "+49897654321", "owner": "anna",
                                   "hub_id": pipe.hub_id(erp_id)}
    assert without_hub_id(crm.records[crm_id]) == {
        "id": crm_id, "name": "Alpha GmbH", "country": "DE", "vat": "DE111", "city": "München", "credit": "1000.50",
        "phone": "+49 89 7654321", "owner": "anna", "blocked": False, "archived": False}
    assert pipe.hub(erp_id) == ALPHA_HUB | {"billing_address.city": "München", "phones": ["+49897654321"]}
    assert_fixed_point(pipe)


# -- the same field changed on both sides ---------------------------------------------------------

@pytest.mark.parametrize(("prefer", "winner"), [(["erp", "crm"], "Hamburg"), (["crm", "erp"], "Köln")])
def test_same_field_on_both_sides_under_prefer(memory_pipeline: Make, prefer: list[str], winner: str) -> None:
    pipe = memory_pipeline(conflicts={"policy": "prefer", "prefer": prefer})
    erp_id, crm_id = seed_alpha(pipe)
    erp, crm = pipe.table("erp"), pipe.table("crm")
    erp.put(erp_id, city="Hamburg")
    crm.put(crm_id, city="Köln", owner="bernd")
    summary = pipe.run()
    assert summary.total("conflicts_resolved") == 1 and summary.total("conflicts_held") == 0
    assert erp.records[erp_id]["city"] == crm.records[crm_id]["city"] == winner
    assert erp.records[erp_id]["owner"] == crm.records[crm_id]["owner"] == "bernd", "the other field syncs"
    assert pipe.hub(erp_id) == ALPHA_HUB | {"billing_address.city": winner, "owner": "bernd"}
    assert pipe.open_conflicts() == []
    assert_fixed_point(pipe)


@pytest.mark.parametrize(("erp_at", "crm_at", "winner"), [
    ("2026-11-24T10:00:00Z", "2026-11-24T11:00:00Z", "Köln"),  # crm changed last, though erp is preferred
    ("2026-11-24T11:00:00Z", "2026-11-24T10:00:00Z", "Hamburg"),
])
def test_same_field_on_both_sides_under_latest(memory_pipeline: Make, erp_at: str, crm_at: str, winner: str) -> None:
    pipe = memory_pipeline(conflicts={"policy": "latest", "prefer": ["erp", "crm"]})
    erp_id, crm_id = seed_alpha(pipe)
    erp, crm = pipe.table("erp"), pipe.table("crm")
    erp.put(erp_id, city="Hamburg", modified=erp_at)
    crm.put(crm_id, city="Köln", modified=crm_at)
    summary = pipe.run()
    assert summary.total("conflicts_resolved") == 1
    assert erp.records[erp_id]["city"] == crm.records[crm_id]["city"] == winner
    assert pipe.hub(erp_id)["billing_address.city"] == winner
    assert_fixed_point(pipe)


def test_latest_with_equal_times_falls_back_to_prefer(memory_pipeline: Make) -> None:
    pipe = memory_pipeline(conflicts={"policy": "latest", "prefer": ["crm", "erp"]})
    erp_id, crm_id = seed_alpha(pipe)
    pipe.table("erp").put(erp_id, city="Hamburg", modified="2026-11-24T10:00:00Z")
    pipe.table("crm").put(crm_id, city="Köln", modified="2026-11-24T10:00:00Z")
    pipe.run()
    assert pipe.table("erp").records[erp_id]["city"] == pipe.table("crm").records[crm_id]["city"] == "Köln"


def test_manual_policy_holds_the_field_while_the_rest_syncs_then_resolution_propagates(memory_pipeline: Make) -> None:
    pipe = memory_pipeline(conflicts={"policy": "prefer", "prefer": ["erp", "crm"],
                                      "fields": {"billing_address.city": "manual"}})
    erp_id, crm_id = seed_alpha(pipe)
    erp, crm = pipe.table("erp"), pipe.table("crm")
    erp.put(erp_id, city="Hamburg", owner="bernd")
    crm.put(crm_id, city="Köln", phone="+49 221 123456")
    summary = pipe.run()
    assert summary.total("conflicts_held") == 1 and summary.total("conflicts_resolved") == 0
    [conflict] = pipe.open_conflicts()
    hub_id = pipe.hub_id(erp_id)
    assert (conflict["hub_id"], conflict["field"], conflict["base"]) == (hub_id, "billing_address.city", "Berlin")
    assert {side: s["value"] for side, s in conflict["sides"].items()} == {"erp": "Hamburg", "crm": "Köln"}
    # held: each side keeps its own value; everything else synced both ways
    assert erp.records[erp_id]["city"] == "Hamburg" and crm.records[crm_id]["city"] == "Köln"
    assert crm.records[crm_id]["owner"] == "bernd" and erp.records[erp_id]["phone"] == "+49221123456"
    assert pipe.hub(erp_id) == ALPHA_HUB | {"billing_address.city": "Hamburg", "owner": "bernd",
                                            "phones": ["+49221123456"]}
    writes = pipe.writes()
    again = pipe.run()
    assert again.total("updated") == 0 and pipe.writes() == writes, "a held field is not written while open"
    assert len(pipe.open_conflicts()) == 1, "no duplicate conflict for the same held change"
    with pipe.store.transaction() as conn:
        records.resolve_conflict(conn, conflict["id"], "Köln", "crm", utcnow())
    resolved = pipe.run()
    assert resolved.counts["erp"]["updated"] == 1
    assert erp.records[erp_id]["city"] == crm.records[crm_id]["city"] == "Köln"
    assert pipe.hub(erp_id)["billing_address.city"] == "Köln"
    assert pipe.open_conflicts() == []
    with pipe.store.connect() as conn:
        [done] = views.list_conflicts(conn, "resolved")
    assert done["resolution"] == {"value": "Köln", "winner": "crm"}
    assert_fixed_point(pipe)


# -- ownership ------------------------------------------------------------------------------------

def test_owned_field_edit_from_a_non_owner_is_rejected_and_left_alone(memory_pipeline: Make) -> None:
    pipe = memory_pipeline(ownership={"credit_limit": "erp"})
    erp_id, crm_id = seed_alpha(pipe)
    erp, crm = pipe.table("erp"), pipe.table("crm")
    crm.put(crm_id, credit="999999", city="Potsdam")
    summary = pipe.run()
    assert summary.counts["crm"]["owned_rejected"] == 1
    assert erp.records[erp_id]["credit"] == "1000.50", "not taken from a non-owner"
    assert erp.records[erp_id]["city"] == "Potsdam", "the rest of the edit syncs"
    assert crm.records[crm_id]["credit"] == "999999", "without enforce_ownership it is not written over"
    assert pipe.hub(erp_id) == ALPHA_HUB | {"billing_address.city": "Potsdam"}
    assert_fixed_point(pipe)
    erp.put(erp_id, credit="2500")  # a later change by the owner does reach the non-owner
    pipe.run()
    assert crm.records[crm_id]["credit"] == "2500.00"
    assert pipe.hub(erp_id)["credit_limit"] == "2500.00"
    assert_fixed_point(pipe)


def test_owned_field_edit_from_a_non_owner_is_written_back_when_enforced(memory_pipeline: Make) -> None:
    pipe = memory_pipeline(ownership={"credit_limit": "erp"}, enforce_ownership=True)
    erp_id, crm_id = seed_alpha(pipe)
    erp, crm = pipe.table("erp"), pipe.table("crm")
    crm.put(crm_id, credit="999999")
    summary = pipe.run()
    assert summary.counts["crm"]["owned_rejected"] == 1
    assert summary.counts["crm"]["updated"] == 1
    assert crm.records[crm_id]["credit"] == "1000.50", "the owner's value is written back"
    assert erp.records[erp_id]["credit"] == "1000.50"
    assert pipe.hub(erp_id) == ALPHA_HUB
    assert_fixed_point(pipe)


def test_enforced_ownership_clears_a_value_the_owner_never_set(memory_pipeline: Make) -> None:
    pipe = memory_pipeline(ownership={"credit_limit": "erp"}, enforce_ownership=True)
    pipe.table("erp").put("E1", name="Alpha GmbH", country="DE", city="Berlin")
    pipe.run()
    pipe.run()
    crm = pipe.table("crm")
    [crm_id] = crm.records
    crm.put(crm_id, credit="999999")
    first = pipe.run()
    assert first.counts["crm"]["owned_rejected"] == 1
    assert crm.records[crm_id].get("credit") is None, "the owner has no credit limit: the edit is cleared"
    writes = pipe.writes()
    again = pipe.run()
    assert again.total("updated") == 0 and pipe.writes() == writes, again.counts


def test_the_owner_wins_a_same_field_change_whatever_the_policy(memory_pipeline: Make) -> None:
    pipe = memory_pipeline(ownership={"credit_limit": "erp"}, conflicts={"policy": "prefer", "prefer": ["crm", "erp"]})
    erp_id, crm_id = seed_alpha(pipe)
    pipe.table("erp").put(erp_id, credit="2000")
    pipe.table("crm").put(crm_id, credit="3000")
    summary = pipe.run()
    assert summary.counts["crm"]["owned_rejected"] == 1
    assert pipe.hub(erp_id)["credit_limit"] == "2000.00"
    assert pipe.table("erp").records[erp_id]["credit"] == "2000"


# -- deletes --------------------------------------------------------------------------------------

def three_customers(pipe: MemoryPipeline) -> None:
    erp = pipe.table("erp")
    for n, name in enumerate(("Alpha GmbH", "Beta AG", "Gamma KG"), start=1):
        erp.put(f"E{n}", name=name, country="DE", vat=f"DE{n}{n}{n}", city="Berlin")
    pipe.run()
    pipe.run()


DELETE_FLAGS = {"ignore": (False, False), "archive": (True, False), "block": (False, True),
                "propagate": (True, False)}


@pytest.mark.parametrize("policy", ["ignore", "archive", "block", "propagate"])
def test_delete_at_crm_under_each_policy(memory_pipeline: Make, policy: str) -> None:
    # crm's policy says what its deletions mean. As targets: erp (archive) is told by the flags it maps,
    # web (propagate) accepts deletes: an archived customer is deleted there.
    pipe = memory_pipeline({"erp": "archive", "crm": policy, "web": "propagate"})
    three_customers(pipe)
    erp, crm, web = pipe.table("erp"), pipe.table("crm"), pipe.table("web")
    crm_id, web_id = by_name(crm)["Beta AG"], by_name(web)["Beta AG"]
    hub_id = pipe.hub_id("E2")
    crm.delete(crm_id)
    summary = pipe.run()
    assert summary.counts["crm"]["deleted_at_source"] == 1
    archived, blocked = DELETE_FLAGS[policy]
    assert pipe.hub(hub_id) == {"organization_name": "Beta AG", "country": "DE", "tax_id": "DE222",
                                "billing_address.city": "Berlin", "archived": archived, "blocked": blocked}, \
        "a deletion sets a flag and never erases the customer's data"
    assert not erp.deleted, "erp does not accept deletes"
    flags = {k: v for k, v in (("archived", archived), ("blocked", blocked)) if v}
    assert erp.records["E2"] == {"id": "E2", "name": "Beta AG", "country": "DE", "vat": "DE222", "city": "Berlin",
                                 **({**flags, "hub_id": hub_id} if flags else {})}
    assert web.deleted == ({web_id} if archived else set())
    if not archived:
        assert web.records[web_id]["blocked"] is blocked
    assert count(summary, "web", "deleted") == int(archived)
    untouched = [pipe.hub(f"E{n}") for n in (1, 3)]
    assert [(h["archived"], h["blocked"]) for h in untouched] == [(False, False)] * 2, "nothing else changes"
    writes = pipe.writes()
    for _ in range(2):
        again = pipe.run()
        assert again.total("deleted") == again.total("created") == again.total("updated") == 0, again.counts
        assert again.total("hub_updated") == 0
    assert pipe.writes() == writes
    assert pipe.hub(hub_id)["archived"] is archived


@pytest.mark.parametrize("policy", ["archive", "propagate"])
def test_archive_and_propagate_reach_endpoints_that_do_not_accept_deletes_as_a_flag(
        memory_pipeline: Make, policy: str) -> None:
    pipe = memory_pipeline({"erp": policy, "crm": "archive"})
    three_customers(pipe)
    crm = pipe.table("crm")
    crm_id = by_name(crm)["Alpha GmbH"]
    pipe.table("erp").delete("E1")
    summary = pipe.run()
    assert summary.counts["erp"]["deleted_at_source"] == 1
    assert pipe.hub("E1")["archived"] is True
    assert crm_id not in crm.deleted, "crm's policy is archive: it is told by the flag, not deleted"
    assert crm.records[crm_id]["archived"] is True


def test_full_read_treats_vanished_records_as_deleted_and_guards_mass_deletes(memory_pipeline: Make) -> None:
    pipe = memory_pipeline({"erp": "archive", "crm": "ignore"}, mass_delete_threshold=0.25)
    erp = pipe.table("erp")
    for n in range(8):
        erp.put(f"E{n}", name=f"Firma {n} GmbH", country="DE", vat=f"DE{n:03d}", city="Berlin")
    pipe.run()
    pipe.run()
    for n in range(3):  # 3 of 8 = 37.5 % > 25 %
        del erp.records[f"E{n}"], erp.stamps[f"E{n}"]
    crm_before = {i: dict(r) for i, r in pipe.table("crm").records.items()}
    with pytest.raises(MassDeleteError, match="3 of 8 records"):
        pipe.run(full=True)
    assert [pipe.hub(f"E{n}")["archived"] for n in range(8)] == [False] * 8, "nothing was deleted"
    assert pipe.table("crm").records == crm_before
    summary = pipe.run(full=True, allow_mass_delete=True)
    assert summary.counts["erp"]["deleted_at_source"] == 3
    assert [pipe.hub(f"E{n}")["archived"] for n in range(8)] == [True] * 3 + [False] * 5
    crm = pipe.table("crm")
    assert sorted(r["name"] for r in crm.records.values() if r.get("archived") is True) == [
        "Firma 0 GmbH", "Firma 1 GmbH", "Firma 2 GmbH"]
    assert not crm.deleted


def test_a_handled_mass_delete_does_not_trip_the_guard_again(memory_pipeline: Make) -> None:
    pipe = memory_pipeline({"erp": "archive", "crm": "ignore"}, mass_delete_threshold=0.25)
    erp = pipe.table("erp")
    for n in range(8):
        erp.put(f"E{n}", name=f"Firma {n} GmbH", country="DE", vat=f"DE{n:03d}", city="Berlin")
    pipe.run()
    pipe.run()
    for n in range(3):
        del erp.records[f"E{n}"], erp.stamps[f"E{n}"]
    pipe.run(full=True, allow_mass_delete=True)
    again = pipe.run(full=True)
    assert again.total("deleted_at_source") == 0 and again.total("updated") == 0


def test_one_vanished_record_below_the_threshold_needs_no_override(memory_pipeline: Make) -> None:
    pipe = memory_pipeline({"erp": "block", "crm": "ignore"}, mass_delete_threshold=0.25)
    three_customers(pipe)
    for n in range(4, 9):
        pipe.table("erp").put(f"E{n}", name=f"Firma {n} GmbH", country="DE", vat=f"DE{n:03d}")
    pipe.run()
    pipe.run()
    erp = pipe.table("erp")
    del erp.records["E2"], erp.stamps["E2"]
    summary = pipe.run(full=True)
    assert summary.counts["erp"]["deleted_at_source"] == 1
    assert pipe.hub("E2")["blocked"] is True
    assert pipe.table("crm").records[by_name(pipe.table("crm"))["Beta AG"]]["blocked"] is True


# -- echo suppression -----------------------------------------------------------------------------

def test_echo_fixed_point_with_three_endpoints(memory_pipeline: Make) -> None:
    pipe = memory_pipeline({"erp": "ignore", "crm": "ignore", "web": "ignore"})
    for n in range(5):
        pipe.table(("erp", "crm", "web")[n % 3]).put(f"X{n}", name=f"Kunde {n} GmbH", country="DE", vat=f"DE9{n}",
                                                      city="Hamburg", phone=f"040 12345{n}")
    pipe.run()
    second = pipe.run()
    assert second.total("created") == second.total("updated") == 0
    assert second.total("hub_updated") == 0, "the echoes of crmsync's own writes change nothing"
    writes = pipe.writes()
    third = pipe.run()
    assert third.total("read") == 0, "cursors are past crmsync's own writes"
    assert pipe.writes() == writes
    bindings = pipe.bindings()
    for n in range(5):
        hub_id = pipe.hub_id(f"X{n}")
        held = {name: pipe.loaded(name, external_id) for (name, external_id), h in bindings.items() if h == hub_id}
        assert sorted(held) == ["crm", "erp", "web"]
        assert all(v == held["erp"] for v in held.values()), held
        assert held["erp"] == pipe.hub(hub_id) | {"owner": None, "credit_limit": None}
