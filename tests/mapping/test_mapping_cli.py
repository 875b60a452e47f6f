"""`crmsync mappings check` / `preview` and preview_records."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner
from rich.console import Console

from crmsync.connector import RawRecord
from crmsync.mapping import compile_mapping, preview_records
from crmsync.mapping.cli import default_mapping_files, mappings, read_sample

MAPPINGS = Path(__file__).resolve().parents[2] / "mappings"
Write = Callable[[str], Path]


def test_check_defaults_are_ok(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # no ./mappings here: the shipped defaults are checked
    assert {p.name for p in default_mapping_files()} >= {"salesforce_account.yaml", "sap_business_partner.yaml"}
    result = CliRunner().invoke(mappings, ["check"])
    assert result.exit_code == 0, result.output
    assert result.output.count(": ok") == len(default_mapping_files())


def test_check_exits_2_and_prints_problems(write_mapping: Write) -> None:
    bad = write_mapping(
        "connector: x\nobject: y\nkey: id\nfields:\n  organization_name: {source: a, convert: [tirm]}\n")
    result = CliRunner().invoke(mappings, ["check", str(bad), str(MAPPINGS / "salesforce_account.yaml")])
    assert result.exit_code == 2
    assert f"{bad}:5: organization_name: unknown converter 'tirm'. Fix: use one of" in result.output
    assert "did you mean 'trim'?" in result.output
    assert "salesforce_account.yaml: ok" in result.output


def test_check_strict_fails_on_warnings(write_mapping: Write) -> None:
    path = write_mapping("connector: x\nobject: y\nkey: id\nfields:\n  organization_name: a\n  emails: b\n")
    assert CliRunner().invoke(mappings, ["check", str(path)]).exit_code == 0
    result = CliRunner().invoke(mappings, ["check", "--strict", str(path)])
    assert result.exit_code == 2 and "warning: the whole list 'emails'" in result.output


def test_preview_json_sample_shows_changes_and_failures(tmp_path: Path) -> None:
    sample = tmp_path / "accounts.json"
    sample.write_text(json.dumps({"records": [
        {"Id": "001A", "Name": "  O'Brien & Sons ", "BillingCountry": "Deutschland", "Blocked__c": False},
        {"Id": "001B", "Name": "Zoë", "BillingCountry": "Narnia", "Credit_Limit__c": "NaN"},
        {"Id": "001C", "Name": "北京科技有限公司", "BillingCountry": "CN"},
    ]}), encoding="utf-8")
    result = CliRunner().invoke(mappings, ["preview", str(MAPPINGS / "salesforce_account.yaml"),
                                           "--sample-file", str(sample), "--sample", "2"])
    assert result.exit_code == 1, result.output
    assert "record 1 (Id 001A)" in result.output and "Germany" in result.output
    assert "record 2 (Id 001B): FAILED to load" in result.output
    assert "'Narnia' is not a country name" in result.output and "[decimal]" in result.output
    assert "001C" not in result.output
    assert "2 records, 1 failed, 1 change on the round trip" in result.output


def test_preview_csv_sample(tmp_path: Path) -> None:
    sample = tmp_path / "customers.csv"
    with sample.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, delimiter=";")
        writer.writerow(["customer_id", "company", "email", "country", "credit_limit", "blocked"])
        writer.writerow(["C-1", "Café del Mar S.L.", "hola@cafe.example.es", "ES", "100.00", "no"])
    result = CliRunner().invoke(mappings, ["preview", str(MAPPINGS / "spreadsheet_customers.yaml"),
                                           "--sample-file", str(sample)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "Café del Mar S.L." in result.output and "1 records, 0 failed" in result.output


def test_preview_of_a_broken_mapping_exits_2(write_mapping: Write, tmp_path: Path) -> None:
    sample = tmp_path / "s.json"
    sample.write_text("[]", encoding="utf-8")
    bad = write_mapping("connector: x\nobject: y\nkey: id\nfields:\n  nam: a\n")
    result = CliRunner().invoke(mappings, ["preview", str(bad), "--sample-file", str(sample)])
    assert result.exit_code == 2 and "'nam' is not a canonical field" in result.output


def test_preview_records_accepts_raw_records() -> None:
    mapping = compile_mapping(MAPPINGS / "sap_business_partner.yaml")
    console = Console(record=True, width=200)
    records = [
        RawRecord("1000001", {"BusinessPartner": "1000001", "BusinessPartnerCategory": "2",
                              "OrganizationBPName1": "Acme", "LastChangeDate": "/Date(abc)/"}),
        RawRecord("1000002", {"BusinessPartner": "1000002", "BusinessPartnerCategory": "1",
                              "LastName": "Nuñez", "to_BusinessPartnerAddress": {"results": [{"Country": "ES"}]}}),
    ]
    summary = preview_records(mapping, records, console)
    text = console.export_text()
    # Absent ABAP flags load as False and are written back as False: a visible change.
    assert (summary.records, summary.failed, summary.changed) == (2, 1, 1)
    assert summary.problems[0][0] == 1 and summary.problems[0][1][0]["rule"] == "datetime"
    assert "record 1 (Id 1000001)" not in text and "record 1 (BusinessPartner 1000001): FAILED" in text
    assert "Nuñez" in text and "(load only)" in text


def test_read_sample_json_lines(tmp_path: Path) -> None:
    sample = tmp_path / "s.jsonl"
    sample.write_text('{"a": 1}\n\n{"a": 2}\n', encoding="utf-8")
    assert list(read_sample(sample)) == [{"a": 1}, {"a": 2}]
