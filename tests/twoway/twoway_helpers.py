"""Helpers of the two-way scenarios: in-memory pipelines and a SAP + Salesforce + spreadsheet landscape."""

from __future__ import annotations

import csv
import datetime as dt
import itertools
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from crmsync.config import Config, parse_config
from crmsync.engine import RunSummary, SyncEngine
from crmsync.mapping import CompiledMapping, compile_mapping
from crmsync.plugins import PluginHost, create_host
from crmsync.state import StateStore, views
from crmsync.testing import MemoryTable, memory_table
from crmsync_salesforce.fake import FakeSalesforce
from crmsync_sap.fake_odata import FakeSapOData

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
MEMORY_MAPPING = HERE / "memory_customers.yaml"
SHEET_COLUMNS = ["customer_id", "company", "first_name", "last_name", "email", "phone", "street", "postal_code",
                 "city", "country", "vat_id", "industry", "lifecycle_stage", "owner", "credit_limit", "currency",
                 "blocked"]


def canonical(value: Any) -> Any:
    """A hub or mapped value in a form that compares equal across endpoints (Decimals as text)."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, list):
        return [canonical(v) for v in value]
    return value


class MemoryPipeline:
    """A pipeline ``customers`` of in-memory endpoints (one :class:`MemoryTable` each) on SQLite."""

    def __init__(self, tmp_path: Path, host: PluginHost, mapping: CompiledMapping,
                 deletes: dict[str, str], **pipeline: Any) -> None:
        self.tmp_path = tmp_path
        self.host = host
        self.mapping = mapping
        self.deletes = deletes
        self.pipeline = pipeline
        self.url = f"sqlite:///{tmp_path / 'state.db'}"
        self.store = StateStore(self.url)
        self.summaries: list[RunSummary] = []

    @property
    def names(self) -> list[str]:
        return list(self.deletes)

    def table(self, name: str) -> MemoryTable:
        return memory_table(name)

    def config(self, **pipeline: Any) -> Config:
        data = {
            "state": {"url": self.url},
            "endpoints": {
                name: {"connector": "memory", "object": "customers", "mapping": str(MEMORY_MAPPING),
                       "options": {"table": name}, "deletes": policy}
                for name, policy in self.deletes.items()
            },
            "pipelines": {"customers": {"endpoints": self.names, **{**self.pipeline, **pipeline}}},
        }
        return parse_config(data, self.tmp_path / "crmsync.yaml")

    def run(self, *, full: bool = False, allow_mass_delete: bool = False, dry_run: bool = False,
            **pipeline: Any) -> RunSummary:
        engine = SyncEngine(self.config(**pipeline), "customers", store=self.store, host=self.host,
                            sleep=lambda s: None, allow_mass_delete=allow_mass_delete)
        summary = engine.run(full=full, dry_run=dry_run)
        self.summaries.append(summary)
        return summary

    def writes(self) -> dict[str, int]:
        return {name: self.table(name).writes for name in self.names}

    def hub_id(self, ident: str) -> str:
        with self.store.connect() as conn:
            found = views.resolve_customer(conn, ident)
        assert found is not None, f"no hub record for {ident}"
        return found

    def hub(self, ident: str) -> dict[str, Any]:
        """The hub record of ``ident`` (hub id or any external id): field -> canonical value."""
        with self.store.connect() as conn:
            view = views.customer_view(conn, self.hub_id(ident))
        return {k: canonical(v["value"]) for k, v in view["fields"].items()}

    def external_ids(self, ident: str) -> dict[str, str]:
        with self.store.connect() as conn:
            return dict(views.customer_view(conn, self.hub_id(ident))["external_ids"])

    def hub_count(self) -> int:
        import sqlalchemy as sa

        from crmsync.state.schema import hub_records

        with self.store.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(hub_records)).scalar_one())

    def bindings(self) -> dict[tuple[str, str], str]:
        """(endpoint, external id) -> hub id."""
        import sqlalchemy as sa

        from crmsync.state.schema import bindings

        with self.store.connect() as conn:
            rows = conn.execute(sa.select(bindings.c.endpoint, bindings.c.external_id, bindings.c.hub_id))
            return {(r.endpoint, r.external_id): r.hub_id for r in rows}

    def open_conflicts(self) -> list[dict[str, Any]]:
        with self.store.connect() as conn:
            return views.list_conflicts(conn, "open")

    def loaded(self, name: str, record_id: str) -> dict[str, Any]:
        """An endpoint's live record as canonical fields (through the mapping's load)."""
        record = self.table(name).records[record_id]
        return {k: canonical(v) for k, v in self.mapping.load(record).items() if k != "last_changed_at"}

    def close(self) -> None:
        self.store.dispose()


# -- SAP + Salesforce + spreadsheet -------------------------------------------------------------

class SapClock:
    """The fake SAP's clock: every reading is one second later (SAP stamps changes to the second)."""

    def __init__(self) -> None:
        self._ticks = itertools.count()

    def __call__(self) -> dt.datetime:
        return dt.datetime(2026, 11, 24, 8, 0, 0) + dt.timedelta(seconds=next(self._ticks))


def sap_partner(bp: str, name: str, *, city: str, country: str, vat: str = "", street: str = "",
                postal_code: str = "", email: str = "", phone: str = "") -> dict[str, Any]:
    """A wire-shaped customer business partner for :meth:`FakeSapOData.load`."""
    address: dict[str, Any] = {"Country": country, "CityName": city, "PostalCode": postal_code,
                               "StreetName": street, "to_EmailAddress": [], "to_PhoneNumber": []}
    if email:
        address["to_EmailAddress"] = [{"EmailAddress": email}]
    if phone:
        address["to_PhoneNumber"] = [{"PhoneNumber": phone}]
    return {"BusinessPartner": bp, "BusinessPartnerCategory": "2", "OrganizationBPName1": name,
            "to_BusinessPartnerRole": [{"BusinessPartnerRole": "FLCU00"}, {"BusinessPartnerRole": "FLCU01"}],
            "to_Customer": {"VATRegistration": vat}, "to_BusinessPartnerAddress": [address]}


def write_sheet(path: Path, rows: list[dict[str, str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, SHEET_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)


def read_sheet(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def edit_sheet(path: Path, key: str, *, remove: bool = False, **changes: str) -> None:
    """Change (or remove) the row ``key`` as a person editing the file would."""
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        columns = list(reader.fieldnames or [])
        rows = list(reader)
    kept = []
    for row in rows:
        if row["customer_id"] == key:
            if remove:
                continue
            row.update(changes)
        kept.append(row)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, columns)
        writer.writeheader()
        writer.writerows(kept)


class Landscape:
    """SAP (OData fake), Salesforce (fake) and a CSV sheet in one pipeline ``customers``, like crmsync demo."""

    def __init__(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.tmp_path = tmp_path
        self.sap = FakeSapOData(clock=SapClock())
        self.salesforce = FakeSalesforce()
        self.sheet = tmp_path / "customers.csv"
        self.monkeypatch = monkeypatch
        self.endpoints = ["sap", "salesforce", "sheet"]
        self.deletes = {"sap": "block", "salesforce": "archive", "sheet": "ignore"}
        self.pipeline: dict[str, Any] = {}
        self.store: StateStore | None = None
        self.host = create_host()
        self._mappings: dict[str, CompiledMapping] = {}

    def start(self) -> Landscape:
        self.sap.start()
        self.salesforce.start()
        sap_info, sf_info = self.sap.info(), self.salesforce.info()
        self.monkeypatch.setenv("TWOWAY_SAP_USER", str(sap_info["username"]))
        self.monkeypatch.setenv("TWOWAY_SAP_PASSWORD", str(sap_info["password"]))
        self.monkeypatch.setenv("TWOWAY_SF_TOKEN", str(sf_info["access_token"]))
        return self

    def stop(self) -> None:
        if self.store is not None:
            self.store.dispose()
        self.salesforce.stop()
        self.sap.stop()

    def config_data(self) -> dict[str, Any]:
        return {
            "state": {"url": f"sqlite:///{self.tmp_path / 'state.db'}"},
            "endpoints": {name: spec for name, spec in {
                "sap": {"connector": "sap-odata", "object": "A_BusinessPartner",
                        "mapping": "sap_business_partner.yaml", "deletes": self.deletes["sap"],
                        "options": {"service_url": self.sap.info()["url"], "username": "${TWOWAY_SAP_USER}",
                                    "password": "${TWOWAY_SAP_PASSWORD}"}},
                "salesforce": {"connector": "salesforce", "object": "Account", "mapping": "salesforce_account.yaml",
                               "deletes": self.deletes["salesforce"],
                               "options": {"instance_url": self.salesforce.info()["url"], "auth": "token",
                                           "access_token": "${TWOWAY_SF_TOKEN}"}},
                "sheet": {"connector": "spreadsheet", "object": "customers", "mapping": "spreadsheet_customers.yaml",
                          "deletes": self.deletes["sheet"], "options": {"path": "customers.csv"}},
            }.items() if name in self.endpoints},
            "pipelines": {"customers": {"endpoints": self.endpoints, **self.pipeline}},
        }

    def write_config(self) -> Path:
        """crmsync.yaml for the CLI (the same configuration as :meth:`config`)."""
        import yaml

        path = self.tmp_path / "crmsync.yaml"
        path.write_text(yaml.safe_dump(self.config_data(), sort_keys=False), encoding="utf-8")
        return path

    def config(self) -> Config:
        return parse_config(self.config_data(), self.tmp_path / "crmsync.yaml")

    def run(self, *, full: bool = False, allow_mass_delete: bool = False) -> RunSummary:
        config = self.config()
        if self.store is None:
            self.store = StateStore(config.state_url)
        return SyncEngine(config, "customers", store=self.store, host=self.host, sleep=lambda s: None,
                          allow_mass_delete=allow_mass_delete).run(full=full)

    def mapping(self, name: str) -> CompiledMapping:
        if name not in self._mappings:
            self._mappings[name] = compile_mapping(self.config().endpoints[name].mapping, self.host.converters)
        return self._mappings[name]

    def state(self) -> StateStore:
        if self.store is None:
            self.store = StateStore(self.config().state_url)
        return self.store

    def hub_id(self, ident: str) -> str | None:
        with self.state().connect() as conn:
            return views.resolve_customer(conn, ident)

    def hub(self, ident: str) -> dict[str, Any]:
        hub_id = self.hub_id(ident)
        assert hub_id is not None, f"no hub record for {ident}"
        with self.state().connect() as conn:
            view = views.customer_view(conn, hub_id)
        return {k: canonical(v["value"]) for k, v in view["fields"].items()}

    def external_ids(self, ident: str) -> dict[str, str]:
        hub_id = self.hub_id(ident)
        assert hub_id is not None, f"no hub record for {ident}"
        with self.state().connect() as conn:
            return dict(views.customer_view(conn, hub_id)["external_ids"])

    # -- each endpoint's live record, in canonical form ------------------------------------------
    def sap_payload(self, bp: str) -> dict[str, Any]:
        from crmsync.engine import open_endpoint

        endpoint = open_endpoint(self.config().endpoints["sap"], self.host)
        try:
            found = [r for r in endpoint.connector.read_changes(None) if r.external_id == bp]
        finally:
            endpoint.connector.close()
        assert found, f"SAP has no partner {bp}"
        return found[-1].payload

    def canonical_of(self, name: str, external_id: str) -> dict[str, Any]:
        """What ``name`` holds for ``external_id``, loaded through its mapping (canonical form)."""
        if name == "sap":
            payload = self.sap_payload(external_id)
        elif name == "salesforce":
            row = self.salesforce.get(external_id)
            assert row is not None and not row["IsDeleted"], f"Salesforce has no live account {external_id}"
            payload = {k: v for k, v in row.items() if k != "attributes"}
        else:
            [payload] = [r for r in read_sheet(self.sheet) if r["customer_id"] == external_id]
        return {k: canonical(v) for k, v in self.mapping(name).load(payload).items() if k != "last_changed_at"}

    def frozen(self) -> tuple[Any, ...]:
        """Everything the three systems hold, to prove that a run wrote nothing."""
        with self.sap.lock:
            sap = (self.sap.created_count, self.sap.batch_count,
                   sorted((bp, p["_version"]) for bp, p in self.sap.partners.items()))
        accounts = sorted((r["Id"], r["IsDeleted"], r["SystemModstamp"]) for r in self.salesforce.records)
        sheet = self.sheet.read_bytes() if self.sheet.exists() else b""
        return sap, accounts, sheet
