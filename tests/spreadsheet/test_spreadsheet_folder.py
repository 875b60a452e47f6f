"""Folder endpoints: files read once in (mtime, name) order, resumable inside a file."""

from __future__ import annotations

import os

import openpyxl

from crmsync_spreadsheet import ERROR_KEY

T0 = 1_800_000_000  # 2027-01-15T08:00:00Z


def drop(folder, name, body, mtime):
    path = folder / name
    path.write_text(body, encoding="utf-8")
    os.utime(path, (mtime, mtime))
    return path


def test_files_are_read_in_mtime_then_name_order_and_resumed(tmp_path, spreadsheet_endpoint):
    drop(tmp_path, "b.csv", "customer_id,name\n1,B1\n2,B2\n", T0)
    drop(tmp_path, "a.csv", "customer_id,name\n3,A1\n", T0)
    drop(tmp_path, "0-late.csv", "customer_id,name\n4,L1\n", T0 + 60)
    drop(tmp_path, "notes.md", "ignored", T0)
    connector = spreadsheet_endpoint(tmp_path)
    assert connector.full_snapshot is False
    got = list(connector.read_changes(None))
    assert [r.payload["name"] for r in got] == ["A1", "B1", "B2", "L1"]
    cursors = [r.cursor for r in got]
    assert cursors == sorted(cursors)  # (timestamp, id) order, as the host expects
    assert cursors[1].timestamp == "2027-01-15T08:00:00Z"
    assert cursors[1].id.startswith("b.csv|") and cursors[1].id.endswith("|0000000001")

    # Resume after B1 (a crash mid-file): B2 and the later file only.
    assert [r.payload["name"] for r in connector.read_changes(cursors[1])] == ["B2", "L1"]
    # Everything processed: nothing new.
    assert list(connector.read_changes(cursors[-1])) == []
    # A new file dropped later is picked up alone.
    drop(tmp_path, "c.csv", "customer_id,name\n5,C1\n", T0 + 120)
    assert [r.payload["name"] for r in connector.read_changes(cursors[-1])] == ["C1"]


def test_a_changed_file_with_the_same_time_is_read_again(tmp_path, spreadsheet_endpoint):
    drop(tmp_path, "a.csv", "customer_id,name\n1,A\n", T0)
    connector = spreadsheet_endpoint(tmp_path)
    [first] = list(connector.read_changes(None))
    drop(tmp_path, "a.csv", "customer_id,name\n1,A\n2,B\n", T0)  # same mtime, new content
    assert [r.payload["name"] for r in connector.read_changes(first.cursor)] == ["A", "B"]


def test_folder_mixes_csv_and_xlsx_and_reports_bad_rows(tmp_path, spreadsheet_endpoint):
    drop(tmp_path, "a.csv", "customer_id,name\n1,A\n2\n", T0)
    book = openpyxl.Workbook()
    book.active.append(["customer_id", "name"])
    book.active.append(["3", "X"])
    book.save(tmp_path / "b.xlsx")
    os.utime(tmp_path / "b.xlsx", (T0 + 1, T0 + 1))
    got = list(spreadsheet_endpoint(tmp_path).read_changes(None))
    assert [r.external_id for r in got] == ["1", "2", "3"]
    assert got[1].payload[ERROR_KEY] == "a.csv line 3: expected 2 fields, got 1"
    only_xlsx = list(spreadsheet_endpoint(tmp_path, format="xlsx").read_changes(None))
    assert [r.external_id for r in only_xlsx] == ["3"]


def test_cursor_ids_stay_in_string_order_when_names_share_a_prefix(tmp_path, spreadsheet_endpoint):
    drop(tmp_path, "a.csv", "customer_id\n1\n", T0)
    drop(tmp_path, "a.csv.csv", "customer_id\n2\n", T0)
    drop(tmp_path, "a|b.csv", "customer_id\n3\n", T0)
    connector = spreadsheet_endpoint(tmp_path)
    got = list(connector.read_changes(None))
    cursors = [r.cursor for r in got]
    assert cursors == sorted(cursors) and len(got) == 3
    for position, cursor in enumerate(cursors):
        assert [r.cursor for r in connector.read_changes(cursor)] == cursors[position + 1:]
