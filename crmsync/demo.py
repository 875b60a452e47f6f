"""`crmsync demo`: a real two-way sync between the bundled fake SAP (OData) and Salesforce servers
and a CSV spreadsheet, on SQLite, told step by step.

Nothing here is simulated inside crmsync: the fakes are real HTTP servers on 127.0.0.1, the
connectors talk to them over HTTP, and the state lives in a SQLite file in the work folder.
Secrets reach the configuration through environment variables, as in production.
"""

from __future__ import annotations

import csv
import os
import tempfile
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.rule import Rule

from crmsync.config import load_config

DEMO_CONFIG = """\
# Written by `crmsync demo`. Secrets come from the environment, never from this file.
state:
  url: sqlite:///{state}
endpoints:
  sap:
    connector: sap-odata
    object: A_BusinessPartner
    mapping: sap_business_partner.yaml
    deletes: block
    options:
      service_url: {sap_url}
      username: ${{CRMSYNC_DEMO_SAP_USER}}
      password: ${{CRMSYNC_DEMO_SAP_PASSWORD}}
      receivables_entity_set: A_OperationalAcctgDocItemCube
      credit_entity_set: A_CrdtMgmtCreditLimit
  salesforce:
    connector: salesforce
    object: Account
    mapping: salesforce_account.yaml
    deletes: archive
    options:
      instance_url: {sf_url}
      auth: token
      access_token: ${{CRMSYNC_DEMO_SF_TOKEN}}
  sheet:
    connector: spreadsheet
    object: customers
    mapping: spreadsheet_customers.yaml
    options:
      path: customers.csv
pipelines:
  customers:
    endpoints: [sap, salesforce, sheet]
    ownership:
      credit_limit: sap
      receivables: sap
      blocked: sap
      owner: salesforce
      lifecycle_stage: salesforce
    conflicts:
      policy: prefer
      prefer: [sap, salesforce, sheet]
      fields:
        industry: manual
"""

SHEET_ROWS = [
    {"customer_id": "S-001", "company": "Nordlicht Handel GmbH", "email": "einkauf@nordlicht.example",
     "phone": "+49 40 1234567", "street": "Speicherstadt 5", "postal_code": "20457", "city": "Hamburg",
     "country": "Germany", "vat_id": "DE811234567", "industry": "Retail"},
    {"customer_id": "S-002", "company": "Café Zoë SARL", "email": "bonjour@cafe-zoe.example",
     "phone": "+33 1 42 68 53 00", "street": "12 Rue de Rivoli", "postal_code": "75004", "city": "Paris",
     "country": "France", "vat_id": "FR40123456789", "industry": "Hospitality"},
]


def run_demo(console: Console, *, records: int = 12, workdir: Path | None = None) -> None:
    """Start the fakes, sync twice with edits in between, and show what happened."""
    from crmsync.cli import print_conflicts, print_customer, print_summary
    from crmsync.engine import SyncEngine
    from crmsync.state import StateStore, views
    from crmsync_salesforce.fake import FakeSalesforce
    from crmsync_sap.fake_odata import FakeSapOData

    folder = workdir or Path(tempfile.mkdtemp(prefix="crmsync-demo-"))
    folder.mkdir(parents=True, exist_ok=True)
    sap = FakeSapOData(records=records, seed=7).start()
    salesforce = FakeSalesforce(records=records // 2, seed=11).start()
    try:
        console.print(Rule("crmsync demo"))
        console.print(f"fake SAP S/4HANA (OData API_BUSINESS_PARTNER) at {sap.info()['url']} with "
                      f"{len(sap.partners)} business partners")
        console.print(f"fake Salesforce at {salesforce.info()['url']} with {len(salesforce.find())} accounts")
        twins = _add_twins(sap, salesforce)
        console.print(f"added {len(twins)} Salesforce accounts for companies SAP knows too (same name and "
                      "country): crmsync should match them, not duplicate them")
        sheet = folder / "customers.csv"
        _write_sheet(sheet, SHEET_ROWS)
        console.print(f"spreadsheet {sheet} with {len(SHEET_ROWS)} customers")
        config_file = folder / "crmsync.yaml"
        config_file.write_text(DEMO_CONFIG.format(state=folder / "crmsync.db", sap_url=sap.info()["url"],
                                                  sf_url=salesforce.info()["url"]), encoding="utf-8")
        os.environ["CRMSYNC_DEMO_SAP_USER"] = str(sap.info()["username"])
        os.environ["CRMSYNC_DEMO_SAP_PASSWORD"] = str(sap.info()["password"])
        os.environ["CRMSYNC_DEMO_SF_TOKEN"] = str(salesforce.info()["access_token"])
        config = load_config(config_file)
        store = StateStore(config.state_url)

        def sync(title: str) -> Any:
            console.print(Rule(title))
            summary = SyncEngine(config, "customers", store=store).run()
            print_summary(summary)
            return summary

        first = sync("run 1: initial sync")
        console.print(f"SAP partners now in Salesforce: {len(salesforce.find())} accounts "
                      f"(matched twins were updated, not duplicated); spreadsheet rows: {_count_rows(sheet)}")

        console.print(Rule("edits made by people in each system"))
        sap_bp, sf_id = twins[0]
        other_bp = next(bp for bp in sorted(sap.partners) if bp not in {t[0] for t in twins})
        sap.touch(other_bp, SearchTerm1="DEMO")
        sap.touch(sap_bp, Industry="3000" if sap.partners[sap_bp].get("Industry") != "3000" else "2000")
        salesforce.touch(sf_id, Industry="Technology", Phone="+49 30 9876543", Credit_Limit__c=999999)
        _edit_sheet(sheet, "S-001", city="Lübeck")
        console.print(f"- SAP: partner {sap_bp} industry key changed; Salesforce: the same customer's industry "
                      "-> Technology (industry is a manual-conflict field: it goes to the inbox)")
        console.print(f"- Salesforce: account {sf_id} phone -> +49 30 9876543 (flows to SAP and the sheet)")
        console.print(f"- Salesforce: account {sf_id} credit limit -> 999999 (SAP owns credit: not applied)")
        console.print("- spreadsheet: S-001 city -> Lübeck (flows to SAP and Salesforce)")

        second = sync("run 2: changes from every side")
        third = sync("run 3: nothing changed outside")
        written = third.total("created") + third.total("updated")
        console.print(f"run 3 wrote {written} records: crmsync recognised its own writes (echo suppression)")

        with store.connect() as conn:
            inbox = views.list_conflicts(conn)
            hub_id = views.resolve_customer(conn, sf_id)
            view = views.customer_view(conn, hub_id) if hub_id else None
        console.print(Rule("conflict inbox"))
        print_conflicts(inbox)
        if view is not None:
            console.print(Rule("360-degree view of one customer"))
            print_customer(view)
        store.dispose()
        console.print(Rule("what to try next"))
        console.print(f"crmsync -c {config_file} runs list | conflicts list | customers show {sf_id} | "
                      f"history {sf_id} | deadletters list")
        console.print("The fake servers stop with this command; the state and the sheet stay in " + str(folder))
        dead = sum(s.total("dead_letters") + s.total("failed") for s in (first, second, third))
        if dead:
            console.print(f"{dead} record(s) went to dead letters with the reason: see `deadletters list`.")
    finally:
        salesforce.stop()
        sap.stop()


def _add_twins(sap: Any, salesforce: Any) -> list[tuple[str, str]]:
    """Create Salesforce accounts for two SAP organisations, as sales reps would have keyed them in."""
    twins = []
    for bp, partner in sorted(sap.partners.items()):
        if partner.get("BusinessPartnerCategory") != "2" or not partner.get("OrganizationBPName1"):
            continue
        address = (partner.get("to_BusinessPartnerAddress") or [{}])[0]
        account = salesforce.add(Name=partner["OrganizationBPName1"], BillingCity=address.get("CityName"),
                                 BillingCountry=address.get("Country"))
        twins.append((bp, account))
        if len(twins) == 2:
            break
    return twins


def _write_sheet(path: Path, rows: list[dict[str, str]]) -> None:
    columns = ["customer_id", "company", "first_name", "last_name", "email", "phone", "street", "postal_code",
               "city", "country", "vat_id", "industry", "lifecycle_stage", "owner", "credit_limit", "currency",
               "blocked"]
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, columns)
        writer.writeheader()
        writer.writerows(rows)


def _edit_sheet(path: Path, key: str, **changes: str) -> None:
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        columns = list(reader.fieldnames or [])
        rows = list(reader)
    for row in rows:
        if row["customer_id"] == key:
            row.update(changes)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, columns)
        writer.writeheader()
        writer.writerows(rows)


def _count_rows(path: Path) -> int:
    with path.open(newline="", encoding="utf-8") as handle:
        return sum(1 for _ in csv.DictReader(handle))


__all__ = ["run_demo"]
