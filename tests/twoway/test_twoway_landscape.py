"""Two-way scenarios across the fake SAP (OData), the fake Salesforce org and a CSV sheet, as in `crmsync demo`.

The connectors talk HTTP to the fakes on 127.0.0.1; the state is SQLite in ``tmp_path``.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from click.testing import CliRunner
from twoway_helpers import Landscape, edit_sheet, read_sheet, sap_partner, write_sheet

from crmsync.cli import cli
from crmsync.engine import RunSummary
from crmsync.state import views

ALPHA_BP = "0010000001"
PRIOR = ["sap", "salesforce", "sheet"]


def count(summary: RunSummary, endpoint: str, action: str) -> int:
    return summary.counts.get(endpoint, Counter()).get(action, 0)


def seed(world: Landscape) -> dict[str, str]:
    """One customer created in each system (none known to the others); returns name -> that system's id."""
    world.sap.load([sap_partner(ALPHA_BP, "Alpha GmbH", city="Berlin", country="DE", vat="DE111111111",
                                street="Hauptstr. 1", postal_code="10115", email="info@alpha.example",
                                phone="030 1234567")])
    beta = world.salesforce.add(Name="Beta SARL", BillingCity="Paris", BillingCountry="France", Industry="Retail",
                                Phone="+33 1 42 68 53 00")
    write_sheet(world.sheet, [{"customer_id": "S-1", "company": "Gamma Ltd", "email": "hi@gamma.example",
                               "city": "London", "country": "United Kingdom", "vat_id": "GB123456789",
                               "industry": "Wholesale"}])
    return {"Alpha GmbH": ALPHA_BP, "Beta SARL": beta, "Gamma Ltd": "S-1"}


def synced_fields(world: Landscape, name: str) -> list[str]:
    """Fields an endpoint both reports and receives (the ones all sides must agree on)."""
    mapping = world.mapping(name)
    return sorted((set(mapping.inbound) & set(mapping.outbound)) - {"last_changed_at"})


def assert_converged(world: Landscape, ident: str) -> dict[str, Any]:
    """Every endpoint holds the hub's value of every field it syncs both ways (compared in canonical form)."""
    hub = world.hub(ident)
    ids = world.external_ids(ident)
    assert sorted(ids) == sorted(world.endpoints), ids
    for name, external_id in ids.items():
        held = world.canonical_of(name, external_id)
        differing = {f: (held.get(f), hub.get(f)) for f in synced_fields(world, name) if held.get(f) != hub.get(f)}
        assert not differing, f"{name} {external_id} differs from the hub: {differing}"
    return hub


def without_time(hub: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in hub.items() if k != "last_changed_at"}


SF_DEFAULTS = {"owner": "0055g00000CrmSyncAAA", "currency": "EUR"}  # the fake org's defaults for new accounts


def test_three_systems_converge_after_two_runs_and_then_write_nothing(landscape: Landscape) -> None:
    world = landscape
    ids = seed(world)
    first = world.run()
    assert first.status == "ok"
    assert {e: (count(first, e, "hub_created"), count(first, e, "created")) for e in PRIOR} == {
        "sap": (1, 2), "salesforce": (1, 2), "sheet": (1, 2)}
    second = world.run()
    assert second.status == "ok" and second.total("created") == 0
    # the second run only carries what the systems added to crmsync's creates (Salesforce's default
    # owner and currency, SAP's flags) to the sheet
    assert {e: count(second, e, "updated") for e in PRIOR} == {"sap": 0, "salesforce": 0, "sheet": 2}
    alpha, beta, gamma = (assert_converged(world, ids[n]) for n in ("Alpha GmbH", "Beta SARL", "Gamma Ltd"))
    assert without_time(alpha) == {
        "kind": "organization", "organization_name": "Alpha GmbH", "billing_address.street": "Hauptstr. 1",
        "billing_address.postal_code": "10115", "billing_address.city": "Berlin", "billing_address.country": "DE",
        "country": "DE", "emails": ["info@alpha.example"], "phones": ["+49301234567"], "tax_id": "DE111111111",
        "blocked": False, "archived": False, **SF_DEFAULTS}
    assert without_time(beta) == {
        "kind": "organization", "organization_name": "Beta SARL", "billing_address.city": "Paris",
        "billing_address.country": "FR", "country": "FR", "industry": "Retail", "phones": ["+33142685300"],
        "blocked": False, "archived": False, **SF_DEFAULTS}
    assert without_time(gamma) == {
        "kind": "organization", "organization_name": "Gamma Ltd", "billing_address.city": "London",
        "billing_address.country": "GB", "country": "GB", "emails": ["hi@gamma.example"], "tax_id": "GB123456789",
        "industry": "Wholesale", "blocked": False, "archived": False, **SF_DEFAULTS}
    # exact end state of each system
    assert sorted(world.sap.partners) == ["0010000001", "0010000002", "0010000003"]
    assert sorted(p["OrganizationBPName1"] for p in world.sap.partners.values()) == [
        "Alpha GmbH", "Beta SARL", "Gamma Ltd"]
    accounts = world.salesforce.find()
    assert sorted(a["Name"] for a in accounts) == ["Alpha GmbH", "Beta SARL", "Gamma Ltd"]
    assert {a["Name"]: bool(a["Crmsync_Id__c"]) for a in accounts} == {
        "Alpha GmbH": True, "Beta SARL": False, "Gamma Ltd": True}, "crmsync's creates carry the hub id"
    rows = read_sheet(world.sheet)
    assert sorted(r["company"] for r in rows) == ["Alpha GmbH", "Beta SARL", "Gamma Ltd"]
    assert rows[0]["customer_id"] == "S-1", "the user's row keeps its key and place"
    assert {r["company"]: r["blocked"] for r in rows} == {"Alpha GmbH": "no", "Beta SARL": "no", "Gamma Ltd": "no"}
    # the echo fixed point: nothing changed outside, so nothing is written
    frozen = world.frozen()
    for _ in range(2):
        again = world.run()
        assert again.total("created") == again.total("updated") == again.total("hub_updated") == 0, again.counts
    assert world.frozen() == frozen


def test_one_field_changed_in_each_system_reaches_the_other_two(landscape: Landscape) -> None:
    world = landscape
    ids = seed(world)
    world.run()
    world.run()
    beta_bp = world.external_ids(ids["Beta SARL"])["sap"]
    world.sap.touch(ALPHA_BP, OrganizationBPName1="Alpha Holding GmbH")
    world.salesforce.touch(ids["Beta SARL"], BillingStreet="12 Rue de Rivoli")
    edit_sheet(world.sheet, "S-1", city="Manchester")
    summary = world.run()
    assert summary.status == "ok" and summary.total("conflicts_held") == summary.total("conflicts_resolved") == 0
    world.run()
    alpha, beta, gamma = (assert_converged(world, ids[n]) for n in ("Alpha GmbH", "Beta SARL", "Gamma Ltd"))
    assert alpha["organization_name"] == "Alpha Holding GmbH"
    assert beta["billing_address.street"] == "12 Rue de Rivoli"
    assert gamma["billing_address.city"] == "Manchester"
    alpha_sf = world.external_ids(ALPHA_BP)["salesforce"]
    assert world.salesforce.get(alpha_sf)["Name"] == "Alpha Holding GmbH"
    assert world.sap.partners[beta_bp]["to_BusinessPartnerAddress"][0]["StreetName"] == "12 Rue de Rivoli"
    gamma_bp = world.external_ids("S-1")["sap"]
    assert world.sap.partners[gamma_bp]["to_BusinessPartnerAddress"][0]["CityName"] == "Manchester"
    assert {r["company"]: (r["street"], r["city"]) for r in read_sheet(world.sheet)} == {
        "Gamma Ltd": ("", "Manchester"), "Alpha Holding GmbH": ("Hauptstr. 1", "Berlin"),
        "Beta SARL": ("12 Rue de Rivoli", "Paris")}
    frozen = world.frozen()
    again = world.run()
    assert again.total("created") == again.total("updated") == 0
    assert world.frozen() == frozen


def test_the_same_field_changed_in_two_systems_under_prefer(landscape: Landscape) -> None:
    world = landscape
    world.pipeline = {"conflicts": {"policy": "prefer", "prefer": ["salesforce", "sap", "sheet"]}}
    seed(world)
    world.run()
    world.run()
    alpha_sf = world.external_ids(ALPHA_BP)["salesforce"]
    alpha_row = world.external_ids(ALPHA_BP)["sheet"]
    world.sap.touch(ALPHA_BP, OrganizationBPName1="Alpha AG")
    world.salesforce.touch(alpha_sf, Name="Alpha SE")
    edit_sheet(world.sheet, alpha_row, postal_code="10117")
    summary = world.run()
    assert summary.total("conflicts_resolved") == 1
    world.run()
    hub = assert_converged(world, ALPHA_BP)
    assert hub["organization_name"] == "Alpha SE", "Salesforce is preferred"
    assert hub["billing_address.postal_code"] == "10117", "the rest of the record syncs"
    assert world.sap.partners[ALPHA_BP]["OrganizationBPName1"] == "Alpha SE"


def test_manual_conflict_goes_to_the_inbox_and_the_cli_resolves_and_applies_it(landscape: Landscape) -> None:
    world = landscape
    world.endpoints = ["salesforce", "sheet"]
    world.pipeline = {"conflicts": {"policy": "prefer", "prefer": ["salesforce", "sheet"],
                                    "fields": {"industry": "manual"}}}
    beta = world.salesforce.add(Name="Beta SARL", BillingCity="Paris", BillingCountry="France", Industry="Retail")
    write_sheet(world.sheet, [])
    world.run()
    world.run()
    row = world.external_ids(beta)["sheet"]
    world.salesforce.touch(beta, Industry="Hospitality", Phone="+33 1 42 68 53 00")
    edit_sheet(world.sheet, row, industry="Food & Beverage")
    summary = world.run()
    assert summary.total("conflicts_held") == 1
    [sheet_row] = read_sheet(world.sheet)
    assert sheet_row["industry"] == "Food & Beverage", "held: not written while open"
    assert world.salesforce.get(beta)["Industry"] == "Hospitality"
    assert sheet_row["phone"].lstrip("'") == "+33 1 42 68 53 00", "the rest of the record syncs"
    assert world.hub(beta)["industry"] == "Hospitality", "the hub keeps the value it had from the first side"
    config = world.write_config()
    runner = CliRunner()
    listed = runner.invoke(cli, ["-c", str(config), "conflicts", "list"])
    assert listed.exit_code == 0, listed.output
    with world.state().connect() as conn:
        [conflict] = views.list_conflicts(conn)
    assert conflict["field"] == "industry" and str(conflict["id"]) in listed.output
    assert {side: s["value"] for side, s in conflict["sides"].items()} == {
        "salesforce": "Hospitality", "sheet": "Food & Beverage"}
    shown = runner.invoke(cli, ["-c", str(config), "conflicts", "show", str(conflict["id"])])
    assert shown.exit_code == 0 and '"Hospitality"' in shown.output and '"Food & Beverage"' in shown.output
    resolved = runner.invoke(cli, ["-c", str(config), "conflicts", "resolve", str(conflict["id"]),
                                   "--take", "sheet", "--apply"])
    assert resolved.exit_code == 0, resolved.output
    assert world.salesforce.get(beta)["Industry"] == "Food & Beverage"
    assert read_sheet(world.sheet)[0]["industry"] == "Food & Beverage"
    assert world.hub(beta)["industry"] == "Food & Beverage"
    with world.state().connect() as conn:
        assert views.list_conflicts(conn) == []
    frozen = world.frozen()
    again = world.run()
    assert again.total("created") == again.total("updated") == 0
    assert world.frozen() == frozen


def owned_credit(world: Landscape, **pipeline: Any) -> str:
    world.endpoints = ["salesforce", "sheet"]
    world.pipeline = {"ownership": {"credit_limit": "sheet"}, **pipeline}
    write_sheet(world.sheet, [{"customer_id": "S-1", "company": "Gamma Ltd", "city": "London",
                               "country": "United Kingdom", "credit_limit": "5000"}])
    world.run()
    world.run()
    account = world.external_ids("S-1")["salesforce"]
    assert world.salesforce.get(account)["Credit_Limit__c"] == 5000.0
    return account


def test_owned_field_edited_in_salesforce_is_rejected_and_left_alone(landscape: Landscape) -> None:
    world = landscape
    account = owned_credit(world)
    world.salesforce.touch(account, Credit_Limit__c=999999, BillingCity="Leeds")
    summary = world.run()
    assert count(summary, "salesforce", "owned_rejected") == 1
    assert world.hub("S-1")["credit_limit"] == "5000.00"
    assert world.hub("S-1")["billing_address.city"] == "Leeds"
    assert [(r["credit_limit"], r["city"]) for r in read_sheet(world.sheet)] == [("5000", "Leeds")]
    assert world.salesforce.get(account)["Credit_Limit__c"] == 999999, "not written over without enforcement"
    frozen = world.frozen()
    again = world.run()
    assert again.total("updated") == 0 and world.frozen() == frozen


def test_owned_field_edited_in_salesforce_is_written_back_when_enforced(landscape: Landscape) -> None:
    world = landscape
    account = owned_credit(world, enforce_ownership=True)
    world.salesforce.touch(account, Credit_Limit__c=999999)
    summary = world.run()
    assert count(summary, "salesforce", "owned_rejected") == 1
    assert count(summary, "salesforce", "updated") == 1
    assert world.salesforce.get(account)["Credit_Limit__c"] == 5000.0, "the owner's value is written back"
    assert world.hub("S-1")["credit_limit"] == "5000.00"
    assert read_sheet(world.sheet)[0]["credit_limit"] == "5000"
    world.run()
    frozen = world.frozen()
    again = world.run()
    assert again.total("updated") == 0 and world.frozen() == frozen


def test_enforcing_ownership_later_writes_the_owners_value_back(landscape: Landscape) -> None:
    world = landscape
    account = owned_credit(world)
    world.salesforce.touch(account, Credit_Limit__c=999999)
    world.run()
    world.pipeline["enforce_ownership"] = True
    world.salesforce.touch(account, Credit_Limit__c=888888)
    enforced = world.run()
    assert count(enforced, "salesforce", "owned_rejected") == 1
    assert world.salesforce.get(account)["Credit_Limit__c"] == 5000.0


def test_a_phone_edited_in_salesforce_survives_the_sap_echo(landscape: Landscape) -> None:
    # SAP keeps phone and e-mail in the first address's to_PhoneNumber / to_EmailAddress; an update that
    # left them out would be read back as SAP changing them back, reverting the edit everywhere.
    world = landscape
    ids = seed(world)
    world.run()
    world.run()
    world.salesforce.touch(ids["Beta SARL"], Phone="+33 4 91 00 00 00")
    world.run()
    world.run()
    beta_bp = world.external_ids(ids["Beta SARL"])["sap"]
    assert world.hub(ids["Beta SARL"])["phones"] == ["+33491000000"]
    assert world.salesforce.get(ids["Beta SARL"])["Phone"] == "+33 4 91 00 00 00"
    assert world.sap.partners[beta_bp]["to_BusinessPartnerAddress"][0]["to_PhoneNumber"][0]["PhoneNumber"] == \
        "+33491000000"
    frozen = world.frozen()
    again = world.run()
    assert again.total("updated") == 0 and world.frozen() == frozen


# -- deletes --------------------------------------------------------------------------------------

def test_salesforce_delete_is_read_with_query_all_and_archives(landscape: Landscape) -> None:
    world = landscape
    world.endpoints = ["salesforce", "sheet"]
    world.deletes = {"sap": "block", "salesforce": "archive", "sheet": "ignore"}
    ids = seed(world)
    world.run()
    world.run()
    world.salesforce.delete(ids["Beta SARL"])
    assert world.salesforce.get(ids["Beta SARL"])["IsDeleted"] is True
    summary = world.run()
    assert count(summary, "salesforce", "deleted_at_source") == 1
    hub = world.hub(ids["Beta SARL"])
    assert (hub["archived"], hub.get("blocked")) == (True, False)
    assert hub["organization_name"] == "Beta SARL"
    assert sorted(r["company"] for r in read_sheet(world.sheet)) == ["Beta SARL", "Gamma Ltd"], \
        "the sheet (deletes: ignore) keeps the row"
    frozen = world.frozen()
    again = world.run()
    assert again.total("updated") == again.total("deleted") == 0
    assert world.frozen() == frozen


def test_sheet_row_removed_propagates_to_salesforce(landscape: Landscape) -> None:
    world = landscape
    world.endpoints = ["salesforce", "sheet"]
    world.deletes = {"sap": "block", "salesforce": "propagate", "sheet": "propagate"}
    world.pipeline = {"mass_delete_threshold": 0.5}
    write_sheet(world.sheet, [{"customer_id": f"S-{n}", "company": f"Kunde {n} GmbH", "city": "Bonn",
                               "country": "Germany"} for n in range(1, 4)])
    world.run()
    world.run()
    account = world.external_ids("S-2")["salesforce"]
    edit_sheet(world.sheet, "S-2", remove=True)
    summary = world.run()
    assert count(summary, "sheet", "deleted_at_source") == 1
    assert count(summary, "salesforce", "deleted") == 1
    assert world.hub("S-2")["archived"] is True
    assert world.salesforce.get(account)["IsDeleted"] is True
    assert sorted(a["Name"] for a in world.salesforce.find()) == ["Kunde 1 GmbH", "Kunde 3 GmbH"]
    assert [r["customer_id"] for r in read_sheet(world.sheet)] == ["S-1", "S-3"]


def test_sheet_mass_delete_is_refused_unless_allowed(landscape: Landscape) -> None:
    from crmsync.errors import MassDeleteError

    world = landscape
    world.endpoints = ["salesforce", "sheet"]
    world.deletes = {"sap": "block", "salesforce": "propagate", "sheet": "propagate"}
    write_sheet(world.sheet, [{"customer_id": f"S-{n}", "company": f"Kunde {n} GmbH", "city": "Bonn",
                               "country": "Germany"} for n in range(1, 5)])
    world.run()
    world.run()
    write_sheet(world.sheet, [])  # someone emptied the sheet: 4 of 4 gone, over the default 10 %
    with pytest.raises(MassDeleteError, match="4 of 4 records"):
        world.run()
    assert len(world.salesforce.find()) == 4, "nothing was deleted"
    summary = world.run(allow_mass_delete=True)
    assert count(summary, "sheet", "deleted_at_source") == 4
    assert world.salesforce.find() == []


def test_removing_sheet_rows_one_at_a_time_never_trips_the_guard(landscape: Landscape) -> None:
    world = landscape
    world.endpoints = ["salesforce", "sheet"]
    world.deletes = {"sap": "block", "salesforce": "propagate", "sheet": "propagate"}
    write_sheet(world.sheet, [{"customer_id": f"S-{n}", "company": f"Kunde {n} GmbH", "city": "Bonn",
                               "country": "Germany"} for n in range(1, 11)])
    world.run()
    world.run()
    for n in (1, 2, 3):
        edit_sheet(world.sheet, f"S-{n}", remove=True)  # 1 of 10 each time: within the default 10 %
        summary = world.run()
        assert count(summary, "sheet", "deleted_at_source") == 1
    assert len(world.salesforce.find()) == 7


def test_salesforce_delete_archives_even_when_sap_is_preferred(landscape: Landscape) -> None:
    world = landscape
    world.pipeline = {"conflicts": {"policy": "prefer", "prefer": PRIOR}}
    ids = seed(world)
    world.run()
    world.run()
    world.salesforce.delete(ids["Beta SARL"])
    summary = world.run()
    assert count(summary, "salesforce", "deleted_at_source") == 1
    assert world.hub(ids["Beta SARL"])["archived"] is True


def test_salesforce_delete_archives_in_sap_without_blocking_the_customer(landscape: Landscape) -> None:
    world = landscape
    world.pipeline = {"conflicts": {"policy": "prefer", "prefer": ["salesforce", "sap", "sheet"]}}
    ids = seed(world)
    world.run()
    world.run()
    beta_bp = world.external_ids(ids["Beta SARL"])["sap"]
    world.salesforce.delete(ids["Beta SARL"])
    world.run()
    world.run()
    assert world.sap.partners[beta_bp]["IsMarkedForArchiving"] is True
    hub = world.hub(ids["Beta SARL"])
    assert (hub["archived"], hub["blocked"]) == (True, False)
    assert world.sap.partners[beta_bp]["BusinessPartnerIsBlocked"] is False


# -- Salesforce account merge ---------------------------------------------------------------------

def merged_duplicates(world: Landscape) -> tuple[str, str, str, str]:
    """Two Salesforce accounts of one company, synced to SAP and the sheet as two customers, then merged.

    Returns (master account, loser account, master hub id, loser hub id).
    """
    write_sheet(world.sheet, [])
    master = world.salesforce.add(Name="Delta GmbH", BillingCity="Köln", BillingCountry="Germany")
    loser = world.salesforce.add(Name="Delta GmbH (alt)", BillingCity="Köln", BillingCountry="Germany",
                                 Phone="+49 221 555555")
    world.run()
    world.run()
    master_hub, loser_hub = world.hub_id(master), world.hub_id(loser)
    assert master_hub and loser_hub and master_hub != loser_hub
    assert sorted(world.external_ids(loser_hub)) == ["salesforce", "sap", "sheet"]
    world.salesforce.merge(master, loser)
    return master, loser, master_hub, loser_hub


def test_salesforce_merge_today_archives_the_losing_customer(landscape: Landscape) -> None:
    world = landscape
    master, loser, master_hub, loser_hub = merged_duplicates(world)
    loser_bp = world.external_ids(loser_hub)["sap"]
    summary = world.run()
    assert count(summary, "salesforce", "merged") == 1
    assert world.hub(loser_hub)["archived"] is True, "the loser's customer is archived"
    assert world.hub(master_hub)["archived"] is False
    assert sorted(world.external_ids(loser_hub)) == ["sap", "sheet"], "the loser's account binding is dropped"
    assert world.external_ids(master_hub)["salesforce"] == master
    assert world.salesforce.get(loser)["MasterRecordId"] == master
    assert world.sap.partners[loser_bp]["IsMarkedForArchiving"] is True, "SAP is told through the archived flag"
    world.run()
    assert [a["Id"] for a in world.salesforce.find()] == [master], "no live account was created for the loser"


def test_salesforce_merge_moves_the_losers_bindings_to_the_survivor(landscape: Landscape) -> None:
    world = landscape
    master, loser, master_hub, _loser_hub = merged_duplicates(world)
    accounts_before = len(world.salesforce.records)
    summaries = [world.run(), world.run()]
    assert sum(count(s, "salesforce", "created") + count(s, "salesforce", "failed") for s in summaries) == 0
    assert sum(s.total("dead_letters") for s in summaries) == 0
    assert len(world.salesforce.records) == accounts_before, "no new account is created"
    assert world.hub_id(loser) == master_hub, "the loser's id resolves to the survivor"
    assert world.external_ids(master_hub)["salesforce"] == master
