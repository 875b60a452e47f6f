"""XLSX: dates and serial numbers, merged headers, empty rows, numbers as text, safe writes."""

from __future__ import annotations

import datetime as dt

import openpyxl
import pytest

from crmsync.connector import OutboundRecord
from crmsync.errors import ConfigError


def make_workbook(path, rows, *, title="Customers", merge=None, other_sheet=False, number_formats=None):
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = title
    for row in rows:
        sheet.append(row)
    if merge:
        sheet.merge_cells(merge)
    for ref, fmt in (number_formats or {}).items():
        sheet[ref].number_format = fmt
    if other_sheet:
        notes = workbook.create_sheet("Notes")
        notes.append(["text", "=NOT A FORMULA", "formula"])
        notes["B1"].data_type = "s"
        notes.append([1, 2.5, "=A2*2"])
    workbook.save(path)


def test_dates_serials_numbers_and_leading_zeros(tmp_path, spreadsheet_endpoint):
    path = tmp_path / "c.xlsx"
    make_workbook(path, [
        ["customer_id", "since", "serial", "stamp", "amount", "count", "zip", "ratio"],
        ["00042", dt.datetime(2024, 2, 29), 45351, dt.datetime(2024, 3, 1, 13, 45, 0), 1000.0, 7, "01067", 0.1],
    ], number_formats={"C2": "yyyy-mm-dd"})
    got = list(spreadsheet_endpoint("c.xlsx").read_changes(None))
    assert got[0].external_id == "00042"
    assert got[0].payload == {
        "customer_id": "00042", "since": "2024-02-29", "serial": "2024-02-29",
        "stamp": "2024-03-01T13:45:00", "amount": "1000", "count": "7", "zip": "01067", "ratio": "0.1",
    }


def test_merged_header_cells_take_the_first_cells_name(tmp_path, spreadsheet_endpoint):
    path = tmp_path / "c.xlsx"
    make_workbook(path, [
        ["customer_id", "Address", None, None, None, "name"],
        ["1", "Main St 1", "Berlin", "10115", "x", "Acme"],
    ], merge="B1:D1")
    got = list(spreadsheet_endpoint("c.xlsx").read_changes(None))
    assert list(got[0].payload) == ["customer_id", "Address", "Address_2", "Address_3", "column_5", "name"]
    assert got[0].payload["Address_3"] == "10115"


def test_empty_rows_are_skipped_and_short_rows_padded(tmp_path, spreadsheet_endpoint):
    path = tmp_path / "c.xlsx"
    make_workbook(path, [["customer_id", "name", "city"], ["1", "A"], [None, None, None], ["2", "B", "C"]])
    sheet_book = openpyxl.load_workbook(path)
    sheet_book.active["A7"] = "3"  # rows 5 and 6 do not exist in the XML at all
    sheet_book.save(path)
    got = list(spreadsheet_endpoint("c.xlsx").read_changes(None))
    assert [r.external_id for r in got] == ["1", "2", "3"]
    assert got[0].payload == {"customer_id": "1", "name": "A", "city": ""}


def test_sheet_option_and_unknown_sheet(tmp_path, spreadsheet_endpoint):
    path = tmp_path / "c.xlsx"
    make_workbook(path, [["x"]], other_sheet=False)
    book = openpyxl.load_workbook(path)
    data = book.create_sheet("Data")
    data.append(["customer_id", "name"])
    data.append(["9", "Nine"])
    book.save(path)
    got = list(spreadsheet_endpoint("c.xlsx", sheet="Data").read_changes(None))
    assert got[0].payload == {"customer_id": "9", "name": "Nine"}
    with pytest.raises(ConfigError, match="no sheet 'Nope'; sheets: Customers, Data"):
        list(spreadsheet_endpoint("c.xlsx", sheet="Nope").read_changes(None))


FORMULAS = ['=HYPERLINK("http://evil.example","click")', "+cmd|' /C calc'!A0", "-1+1", "@SUM(1+1)*cmd"]


def test_formula_payloads_are_written_as_string_cells(tmp_path, spreadsheet_endpoint):
    path = tmp_path / "c.xlsx"
    make_workbook(path, [["customer_id", "name", "since"], ["1", "Acme", dt.datetime(2020, 1, 2)]],
                  other_sheet=True)
    connector = spreadsheet_endpoint("c.xlsx")
    batch = [OutboundRecord(hub_id=f"h{i}", external_id=None, payload={"name": f, "customer_id": str(i + 10)})
             for i, f in enumerate(FORMULAS)]
    results = connector.write_batch(batch)
    assert all(r.ok and r.created for r in results)
    book = openpyxl.load_workbook(path)
    sheet = book["Customers"]
    names = [(c.value, c.data_type, c.quotePrefix) for c in sheet["B"][2:]]
    assert names == [(f, "s", True) for f in FORMULAS]
    # The untouched row keeps its native date; the other sheet keeps text, numbers and formula.
    assert sheet["C2"].value == dt.datetime(2020, 1, 2)
    notes = book["Notes"]
    assert (notes["B1"].value, notes["B1"].data_type) == ("=NOT A FORMULA", "s")
    assert (notes["C2"].value, notes["C2"].data_type) == ("=A2*2", "f")
    assert notes["B2"].value == 2.5
    # Reading back gives the text exactly as the host sent it.
    got = {r.external_id: r.payload["name"] for r in connector.read_changes(None)}
    assert [got[str(i + 10)] for i in range(len(FORMULAS))] == FORMULAS


def test_xlsx_upsert_is_idempotent_and_delete_removes(tmp_path, spreadsheet_endpoint):
    connector = spreadsheet_endpoint("new.xlsx")
    batch = [OutboundRecord(hub_id="h1", external_id=None, payload={"name": "Zoë"}),
             OutboundRecord(hub_id="h2", external_id=None, payload={"name": "北京科技有限公司"})]
    first = connector.write_batch(batch)
    again = connector.write_batch(batch)
    assert [r.created for r in first] == [True, True]
    assert [r.created for r in again] == [False, False]
    rows = list(connector.read_changes(None))
    assert [(r.external_id, r.payload["name"]) for r in rows] == [("h1", "Zoë"), ("h2", "北京科技有限公司")]
    connector.write_batch([OutboundRecord(hub_id="h1", external_id="h1", payload={}, action="delete")])
    assert [r.external_id for r in connector.read_changes(None)] == ["h2"]


def test_control_characters_are_rejected_per_record_for_xlsx(tmp_path, spreadsheet_endpoint):
    connector = spreadsheet_endpoint("new.xlsx")
    results = connector.write_batch([
        OutboundRecord(hub_id="h1", external_id=None, payload={"name": "a\x00b"}),
        OutboundRecord(hub_id="h2", external_id=None, payload={"name": "fine"}),
    ])
    assert results[0].ok is False and "control characters" in results[0].error
    assert results[1].ok is True


def test_failed_xlsx_write_leaves_the_old_file_intact(tmp_path, spreadsheet_endpoint, monkeypatch):
    from crmsync_spreadsheet import xlsx_table

    path = tmp_path / "c.xlsx"
    make_workbook(path, [["customer_id", "name"], ["1", "A"], ["2", "B"]])
    before = path.read_bytes()

    def explode(self, cells, kinds=None):
        raise RuntimeError("row 1 cannot be written")

    monkeypatch.setattr(xlsx_table.XlsxSink, "write_raw", explode)
    with pytest.raises(RuntimeError, match="cannot be written"):
        spreadsheet_endpoint(path).write_batch([OutboundRecord(hub_id="h2", external_id="2", payload={"name": "x"})])
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["c.xlsx"]


def test_rows_above_the_header_survive_a_rewrite(tmp_path, spreadsheet_endpoint):
    path = tmp_path / "c.xlsx"
    make_workbook(path, [["Customer export", None], ["customer_id", "name"], [42, "A"]])
    connector = spreadsheet_endpoint(path, header_row=2)
    [result] = connector.write_batch([OutboundRecord(hub_id="h1", external_id="42", payload={"name": "B"})])
    assert (result.ok, result.created, result.external_id) == (True, False, "42")
    sheet = openpyxl.load_workbook(path).active
    assert [[c.value for c in row] for row in sheet.iter_rows()] == [
        ["Customer export", None, None], ["customer_id", "name", "crmsync_id"], [42, "B", "h1"]]
    assert [r.payload for r in connector.read_changes(None)] == [
        {"customer_id": "42", "name": "B", "crmsync_id": "h1"}]


def test_xlsx_read_streams_in_bounded_memory(tmp_path, spreadsheet_endpoint):
    import tracemalloc

    rows = 10_000
    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet("Customers")
    sheet.append(["customer_id", "name", "since", "amount"])
    for i in range(rows):
        # Few distinct strings: openpyxl holds the shared-string table in memory (documented).
        sheet.append([i, f"Kunde {i % 50} GmbH \u2013 Zoë", dt.datetime(2024, 1, 1), i * 1.5])
    book.save(tmp_path / "big.xlsx")
    connector = spreadsheet_endpoint("big.xlsx", check_duplicates=False)
    list(spreadsheet_endpoint("big.xlsx").describe())  # warm openpyxl imports outside the measurement
    tracemalloc.start()
    try:
        count = sum(1 for _ in connector.read_changes(None))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == rows
    # openpyxl's parser keeps each cleared <row> element (~150 B) until the sheet ends, so the
    # bound grows a little per row; holding the payloads would cost about 600 B a row.
    assert peak < 1024 * 1024 + 250 * rows, f"peak {peak} bytes"


def test_xml_entities_in_a_sheet_are_refused_with_a_clear_error(tmp_path, spreadsheet_endpoint):
    import zipfile

    from crmsync.errors import PermanentError

    source = tmp_path / "plain.xlsx"
    make_workbook(source, [["customer_id", "name"], ["1", "A"]])
    bomb = tmp_path / "bomb.xlsx"
    with zipfile.ZipFile(source) as zin, zipfile.ZipFile(bomb, "w") as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                dtd = b'<!DOCTYPE worksheet [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;">]>'
                if data.startswith(b"<?xml"):
                    head, _, rest = data.partition(b"?>")
                    data = head + b"?>" + dtd + rest
                else:
                    data = dtd + data
            zout.writestr(item, data)
    with pytest.raises(PermanentError, match="bomb.xlsx: not a readable XLSX (workbook|sheet): EntitiesForbidden"):
        list(spreadsheet_endpoint(bomb).read_changes(None))


def test_a_file_that_is_not_a_workbook_is_a_clear_error(tmp_path, spreadsheet_endpoint):
    from crmsync.errors import PermanentError

    (tmp_path / "fake.xlsx").write_text("customer_id,name\n1,A\n")
    with pytest.raises(PermanentError, match="fake.xlsx: not a readable XLSX workbook"):
        list(spreadsheet_endpoint("fake.xlsx").read_changes(None))
