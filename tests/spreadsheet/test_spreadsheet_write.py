"""Writing CSV: upsert by key / hub id, idempotency, deletes, column order, formula safety,
atomic replacement, backups, per-record rejections, export mode."""

from __future__ import annotations

import codecs
import os

import pytest

from crmsync.connector import OutboundRecord
from crmsync.errors import ErrorKind, PermanentError, RetryableError
from crmsync_spreadsheet import csv_table
from crmsync_spreadsheet.rewrite import backup_pattern

BASE = "customer_id;name;extra;crmsync_id\r\n00001;Acme;keep mé;\r\n00002;Beta;;h2\r\n"


@pytest.fixture
def sheet(tmp_path):
    path = tmp_path / "customers.csv"
    path.write_bytes(BASE.encode("cp1252"))
    return path


def upsert(hub, ext=None, **payload):
    return OutboundRecord(hub_id=hub, external_id=ext, payload=payload)


def rows(connector):
    return {r.external_id: r.payload for r in connector.read_changes(None)}


def test_update_by_key_keeps_columns_order_dialect_and_encoding(sheet, spreadsheet_endpoint):
    connector = spreadsheet_endpoint(sheet, fallback_encodings=["cp1252"], backup=False)
    [result] = connector.write_batch([upsert("h1", "00001", name="Acmé GmbH", region="Süd")])
    assert result.ok and result.external_id == "00001" and not result.created
    assert result.payload == {"customer_id": "00001", "name": "Acmé GmbH", "extra": "keep mé",
                              "crmsync_id": "h1", "region": "Süd"}
    raw = sheet.read_bytes().decode("cp1252")
    assert raw.splitlines()[0] == "customer_id;name;extra;crmsync_id;region"  # new column appended
    assert raw.splitlines()[1] == "00001;Acmé GmbH;keep mé;h1;Süd"
    assert raw.splitlines()[2] == "00002;Beta;;h2;"
    assert raw.endswith("\r\n")


def test_new_record_is_keyed_by_hub_id_and_repeated_batches_add_nothing(sheet, spreadsheet_endpoint):
    connector = spreadsheet_endpoint(sheet, fallback_encodings=["cp1252"])
    batch = [upsert("h9", name="Gamma"), upsert("h8", name="Delta", customer_id="00008")]
    first = connector.write_batch(batch)
    assert [(r.ok, r.external_id, r.created) for r in first] == [(True, "h9", True), (True, "00008", True)]
    for _ in range(3):  # a retried batch after a lost acknowledgement
        again = connector.write_batch(batch)
        assert [(r.external_id, r.created) for r in again] == [("h9", False), ("00008", False)]
    got = rows(connector)
    assert list(got) == ["00001", "00002", "h9", "00008"]
    assert got["h9"]["crmsync_id"] == "h9" and got["00008"]["crmsync_id"] == "h8"


def test_record_without_external_id_matches_existing_hub_id(sheet, spreadsheet_endpoint):
    connector = spreadsheet_endpoint(sheet, fallback_encodings=["cp1252"])
    [result] = connector.write_batch([upsert("h2", name="Beta AG")])
    assert (result.external_id, result.created) == ("00002", False)
    assert rows(connector)["00002"]["name"] == "Beta AG"


def test_duplicate_records_in_one_batch_make_one_row(sheet, spreadsheet_endpoint):
    connector = spreadsheet_endpoint(sheet, fallback_encodings=["cp1252"])
    results = connector.write_batch([upsert("h5", name="One"), upsert("h5", city="Two")])
    assert [(r.external_id, r.created) for r in results] == [("h5", True), ("h5", False)]
    assert rows(connector)["h5"] | {} == {"customer_id": "h5", "name": "One", "extra": "",
                                          "crmsync_id": "h5", "city": "Two"}


def test_delete_removes_the_row_and_is_idempotent(sheet, spreadsheet_endpoint):
    connector = spreadsheet_endpoint(sheet, fallback_encodings=["cp1252"])
    gone = OutboundRecord(hub_id="h1", external_id="00001", payload={}, action="delete")
    assert connector.write_batch([gone])[0].ok
    assert connector.write_batch([gone])[0].ok
    assert list(rows(connector)) == ["00002"]


FORMULAS = ['=HYPERLINK("http://evil.example","click")', "+cmd|' /C calc'!A0", "-1+1", "@SUM(1+1)",
            "\tTAB", "\rCR", "-5"]


def test_formula_payloads_are_prefixed_in_csv_and_round_trip(tmp_path, spreadsheet_endpoint):
    connector = spreadsheet_endpoint("f.csv")
    batch = [upsert(f"h{i}", note=value) for i, value in enumerate(FORMULAS)]
    batch.append(upsert("hx", **{"=evil()": "x"}))  # a payload key becomes a header cell
    assert all(r.ok for r in connector.write_batch(batch))
    raw = (tmp_path / "f.csv").read_bytes()
    assert raw.startswith(codecs.BOM_UTF8)  # new UTF-8 files carry a BOM so Excel decodes them
    text = raw.decode("utf-8-sig")
    assert text.splitlines()[0] == "customer_id,crmsync_id,note,'=evil()"
    assert "'=HYPERLINK(" in text and "'+cmd" in text and "'-1+1" in text and "'@SUM" in text
    assert ",'-5," in text
    got = rows(connector)
    assert [got[f"h{i}"]["note"] for i in range(len(FORMULAS))] == FORMULAS
    # Writing the read-back values again changes nothing: the round trip is stable.
    connector.write_batch([upsert(f"h{i}", f"h{i}", note=got[f"h{i}"]["note"]) for i in range(len(FORMULAS))])
    assert rows(connector) == got


def test_failed_write_leaves_the_old_file_intact(sheet, spreadsheet_endpoint, monkeypatch):
    before = sheet.read_bytes()
    connector = spreadsheet_endpoint(sheet, fallback_encodings=["cp1252"])
    original = csv_table.CsvSink.write_raw
    calls = {"n": 0}

    def explode(self, cells, kinds=None):
        calls["n"] += 1
        if calls["n"] == 1:  # the header is written; the first kept data row blows up
            raise RuntimeError("disk on fire")
        original(self, cells, kinds)

    monkeypatch.setattr(csv_table.CsvSink, "write_raw", explode)
    with pytest.raises(RuntimeError, match="disk on fire"):
        connector.write_batch([upsert("h2", "00002", name="changed")])
    assert sheet.read_bytes() == before
    assert sorted(p.name for p in sheet.parent.iterdir()) == ["customers.csv"]  # no temp, no backup


def test_backup_once_per_run_and_pruned(sheet, spreadsheet_endpoint):
    before = sheet.read_bytes()
    connector = spreadsheet_endpoint(sheet, fallback_encodings=["cp1252"], keep_backups=2)
    connector.write_batch([upsert("h1", "00001", name="v1")])
    connector.write_batch([upsert("h1", "00001", name="v2")])
    pattern = backup_pattern(sheet)
    backups = [p for p in sheet.parent.iterdir() if pattern.match(p.name)]
    assert len(backups) == 1 and backups[0].read_bytes() == before
    assert backups[0].name.startswith("customers.") and backups[0].name.endswith(".bak.csv")
    for run in range(3):  # each new connector instance is a new run
        spreadsheet_endpoint(sheet, fallback_encodings=["cp1252"], keep_backups=2).write_batch(
            [upsert("h1", "00001", name=f"run{run}")])
    assert len([p for p in sheet.parent.iterdir() if pattern.match(p.name)]) == 2
    # Backups are never read as data by a folder endpoint either.
    assert [r.external_id for r in spreadsheet_endpoint(sheet.parent, fallback_encodings=["cp1252"])
            .read_changes(None)] == ["00001", "00002"]


def test_permissions_are_kept(sheet, spreadsheet_endpoint):
    os.chmod(sheet, 0o640)
    spreadsheet_endpoint(sheet, fallback_encodings=["cp1252"]).write_batch([upsert("h1", "00001", name="x")])
    assert sheet.stat().st_mode & 0o777 == 0o640


def test_unwritable_values_are_rejected_per_record(sheet, spreadsheet_endpoint):
    connector = spreadsheet_endpoint(sheet, fallback_encodings=["cp1252"])
    results = connector.write_batch([
        upsert("h1", "00001", name="北京"),            # not representable in the file's cp1252
        upsert("h3", name=float("nan")),
        upsert("h4", name={"nested": 1}),
        OutboundRecord(hub_id="", external_id=None, payload={"name": "x"}),
        upsert("h5", name="ok", score=1e309 if False else 2.50, tags=["a", "b"]),
    ])
    assert [r.ok for r in results] == [False, False, False, False, True]
    assert "cannot be written in the file's encoding cp1252" in results[0].error
    assert results[0].kind is ErrorKind.PERMANENT
    assert "not a finite number" in results[1].error
    assert "dict cannot be stored" in results[2].error
    assert results[3].error_code == "MISSING_HUB_ID"
    assert rows(connector)["h5"]["score"] == "2.5" and rows(connector)["h5"]["tags"] == '["a", "b"]'
    assert rows(connector)["00001"]["name"] == "Acme"


def test_unparseable_file_is_not_rewritten(tmp_path, spreadsheet_endpoint):
    path = tmp_path / "c.csv"
    path.write_text("customer_id,name\n1,A\n", encoding="utf-8")
    path.write_bytes(path.read_bytes() + b"2,\xff\n")
    with pytest.raises(PermanentError, match="byte offset"):
        spreadsheet_endpoint(path).write_batch([upsert("h1", "1", name="x")])


def test_ragged_rows_survive_a_rewrite_untouched(tmp_path, spreadsheet_endpoint):
    path = tmp_path / "c.csv"
    path.write_text("customer_id,name,city\n1,A,X\n2,B\n3,C,Z,extra\n", encoding="utf-8")
    spreadsheet_endpoint(path).write_batch([upsert("h1", "1", name="new")])
    assert path.read_text(encoding="utf-8").splitlines() == [
        "customer_id,name,city,crmsync_id", "1,new,X,h1", "2,B", "3,C,Z,extra"]


def test_excel_lock_file_is_a_retryable_error(sheet, spreadsheet_endpoint):
    (sheet.parent / "~$customers.csv").write_text("lock")
    with pytest.raises(RetryableError, match="open in Excel"):
        spreadsheet_endpoint(sheet, fallback_encodings=["cp1252"]).write_batch([upsert("h1", "00001")])


def test_export_mode_writes_keyed_by_hub_id_and_reads_nothing(tmp_path, spreadsheet_endpoint):
    connector = spreadsheet_endpoint("ledger.csv", mode="export")
    assert connector.full_snapshot is False
    batch = [upsert("h1", None, organization_name="Acme", country="DE"),
             upsert("h2", "ignored", organization_name="Beta")]
    assert [r.external_id for r in connector.write_batch(batch)] == ["h1", "h2"]
    connector.write_batch(batch)
    text = (tmp_path / "ledger.csv").read_text(encoding="utf-8-sig")
    assert text.splitlines() == ["crmsync_id,organization_name,country", "h1,Acme,DE", "h2,Beta,"]
    assert list(connector.read_changes(None)) == []


def test_folder_endpoint_refuses_writes(tmp_path, spreadsheet_endpoint):
    with pytest.raises(PermanentError, match="read-only"):
        spreadsheet_endpoint(tmp_path).write_batch([upsert("h1")])


def test_a_file_edited_during_the_rewrite_is_not_replaced(sheet, spreadsheet_endpoint, monkeypatch):
    connector = spreadsheet_endpoint(sheet, fallback_encodings=["cp1252"])
    original = csv_table.CsvSink.write_row

    def user_saves_meanwhile(self, cells, fresh, kinds=None):
        original(self, cells, fresh, kinds)
        if cells and cells[0] == "00002":
            sheet.write_bytes(sheet.read_bytes() + "00003;Gamma;;\r\n".encode("cp1252"))

    monkeypatch.setattr(csv_table.CsvSink, "write_row", user_saves_meanwhile)
    with pytest.raises(RetryableError, match="changed while crmsync was rewriting it"):
        connector.write_batch([upsert("h2", "00002", name="changed")])
    assert sheet.read_bytes().decode("cp1252").endswith("00003;Gamma;;\r\n")
    assert sorted(p.name for p in sheet.parent.iterdir()) == ["customers.csv"]


def test_excel_sep_hint_line_is_honoured_and_kept(tmp_path, spreadsheet_endpoint):
    path = tmp_path / "c.csv"
    path.write_text("sep=;\r\ncustomer_id;name\r\n1;A, B\r\n2\r\n", encoding="utf-8")
    connector = spreadsheet_endpoint(path)
    got = list(connector.read_changes(None))
    assert got[0].payload == {"customer_id": "1", "name": "A, B"}
    assert got[1].payload["__error__"] == "c.csv line 4: expected 2 fields, got 1"
    connector.write_batch([upsert("h1", "1", name="C")])
    assert path.read_text(encoding="utf-8").splitlines() == [
        "sep=;", "customer_id;name;crmsync_id", "1;C;h1", "2"]


def test_a_new_sheet_gets_every_mapped_column_so_it_describes_the_mapping(tmp_path, spreadsheet_endpoint):
    fields = ("customer_id", "company", "first_name", "last_name", "city")
    connector = spreadsheet_endpoint(tmp_path / "new.csv", fields=fields)
    [result] = connector.write_batch([upsert("h1", company="Acme GmbH")])
    assert result.ok
    described = connector.describe()
    assert set(fields) <= set(described), "columns never filled are still there for `crmsync check`"
