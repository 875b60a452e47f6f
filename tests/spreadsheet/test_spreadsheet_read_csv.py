"""Reading CSV: encodings, delimiters, quoting, bad rows, keys, cursors."""

from __future__ import annotations

import codecs

import pytest

from crmsync.connector import Cursor
from crmsync.errors import PermanentError
from crmsync_spreadsheet import ERROR_KEY


def records(connector, since=None):
    return list(connector.read_changes(since))


def test_semicolon_cp1252_with_fallback(tmp_path, spreadsheet_endpoint):
    text = "customer_id;name;city\r\n00042;Zoë Müller;Köln\r\n00043;O'Brien € Söhne;Düsseldorf\r\n"
    (tmp_path / "c.csv").write_bytes(text.encode("cp1252"))
    connector = spreadsheet_endpoint("c.csv", fallback_encodings=["cp1252"])
    got = records(connector)
    assert [r.external_id for r in got] == ["00042", "00043"]
    assert got[0].payload == {"customer_id": "00042", "name": "Zoë Müller", "city": "Köln"}
    assert got[1].payload["name"] == "O'Brien € Söhne"


def test_utf8_bom_is_not_part_of_the_first_column(tmp_path, spreadsheet_endpoint):
    (tmp_path / "c.csv").write_bytes(codecs.BOM_UTF8 + "customer_id,name\n7,Ärztehaus\n".encode())
    got = records(spreadsheet_endpoint("c.csv"))
    assert got[0].payload == {"customer_id": "7", "name": "Ärztehaus"}


def test_gb18030_chinese_names(tmp_path, spreadsheet_endpoint):
    text = "customer_id\tname\n1\t北京科技有限公司\n2\t上海贸易股份有限公司\n"
    (tmp_path / "c.csv").write_bytes(text.encode("gb18030"))
    got = records(spreadsheet_endpoint("c.csv", fallback_encodings=["gb18030", "cp1252"]))
    assert [r.payload["name"] for r in got] == ["北京科技有限公司", "上海贸易股份有限公司"]


def test_undecodable_file_names_byte_offset_and_line(tmp_path, spreadsheet_endpoint):
    data = b"customer_id,name\n1,ok\n2,bad \x81\x8d here\n"
    (tmp_path / "c.csv").write_bytes(data)
    with pytest.raises(PermanentError) as info:
        records(spreadsheet_endpoint("c.csv", fallback_encodings=["cp1252"]))
    message = str(info.value)
    offset = data.index(b"\x81")
    assert f"utf-8 (byte offset {offset}, line 3" in message
    assert "cp1252 (byte offset" in message
    assert "c.csv" in message


def test_quoted_newlines_and_delimiters_inside_quotes(tmp_path, spreadsheet_endpoint):
    text = 'customer_id,name,notes\n1,"Acme, Inc.","line one\nline two"\n2,Beta,plain\n'
    (tmp_path / "c.csv").write_text(text, encoding="utf-8")
    got = records(spreadsheet_endpoint("c.csv"))
    assert got[0].payload["notes"] == "line one\nline two"
    assert got[0].payload["name"] == "Acme, Inc."
    assert got[1].external_id == "2"


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_delimiter_is_sniffed(tmp_path, spreadsheet_endpoint, delimiter):
    rows = [["customer_id", "name", "city"], ["1", "A; B, C", "X"], ["2", "D", "Y"]]
    import csv
    with (tmp_path / "c.csv").open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle, delimiter=delimiter).writerows(rows)
    got = records(spreadsheet_endpoint("c.csv"))
    assert got[0].payload == {"customer_id": "1", "name": "A; B, C", "city": "X"}


def test_ragged_rows_become_error_records_and_the_read_goes_on(tmp_path, spreadsheet_endpoint):
    text = "customer_id,name,city\n1,A,X\n2,B\n3,C,Z,extra\n4,D,W,\n5,E,V\n"
    (tmp_path / "c.csv").write_text(text, encoding="utf-8")
    got = records(spreadsheet_endpoint("c.csv"))
    assert [r.external_id for r in got] == ["1", "2", "3", "4", "5"]
    assert ERROR_KEY not in got[0].payload
    assert got[1].payload[ERROR_KEY] == "c.csv line 3: expected 3 fields, got 2"
    assert got[1].payload["__line__"] == 3
    assert got[2].payload[ERROR_KEY] == "c.csv line 4: expected 3 fields, got 4"
    assert got[3].payload == {"customer_id": "4", "name": "D", "city": "W"}  # a blank trailing field is fine
    assert got[4].payload["name"] == "E"


def test_empty_key_is_an_error_record_and_blank_rows_are_skipped(tmp_path, spreadsheet_endpoint):
    text = "customer_id,name\n1,A\n\n,,\n  ,B\n2,C\n"
    (tmp_path / "c.csv").write_text(text, encoding="utf-8")
    got = records(spreadsheet_endpoint("c.csv"))
    assert [r.external_id for r in got] == ["1", "c.csv#5", "2"]
    assert got[1].payload[ERROR_KEY] == "c.csv line 5: empty 'customer_id'"


def test_leading_zeros_and_text_are_kept_verbatim(tmp_path, spreadsheet_endpoint):
    text = "customer_id,zip,amount\n000123,01067,1000.50\n"
    (tmp_path / "c.csv").write_text(text, encoding="utf-8")
    got = records(spreadsheet_endpoint("c.csv"))
    assert got[0].payload == {"customer_id": "000123", "zip": "01067", "amount": "1000.50"}


def test_cursor_is_file_mtime_and_key_and_every_read_is_full(tmp_path, spreadsheet_endpoint):
    path = tmp_path / "c.csv"
    path.write_text("customer_id,name\nB,1\nA,2\n", encoding="utf-8")
    connector = spreadsheet_endpoint("c.csv")
    assert connector.full_snapshot is True
    first = records(connector)
    stamp = first[0].cursor.timestamp
    assert stamp.endswith("Z") and len(stamp) == len("2026-11-23T10:00:00Z")
    assert [r.cursor for r in first] == [Cursor(stamp, "B"), Cursor(stamp, "A")]
    # A re-read yields every row, whatever cursor the host passes back.
    assert [r.external_id for r in records(connector, first[-1].cursor)] == ["B", "A"]


def test_header_row_option_and_blank_header_names(tmp_path, spreadsheet_endpoint):
    text = "Exported 2026-11-24,,\ncustomer_id,,name\n1,x,A\n"
    (tmp_path / "c.csv").write_text(text, encoding="utf-8")
    got = records(spreadsheet_endpoint("c.csv", header_row=2))
    assert got[0].payload == {"customer_id": "1", "column_2": "x", "name": "A"}


def test_fields_limit_the_payload_but_keep_key_and_hub_id(tmp_path, spreadsheet_endpoint):
    text = "customer_id,crmsync_id,name,noise\n1,h1,A,zzz\n"
    (tmp_path / "c.csv").write_text(text, encoding="utf-8")
    got = records(spreadsheet_endpoint("c.csv", fields=("name",)))
    assert got[0].payload == {"customer_id": "1", "crmsync_id": "h1", "name": "A"}


def test_missing_file_is_an_error_unless_allowed(spreadsheet_endpoint):
    with pytest.raises(PermanentError, match="does not exist"):
        records(spreadsheet_endpoint("nope.csv"))
    assert records(spreadsheet_endpoint("nope.csv", missing_ok=True)) == []


def test_missing_key_column_is_a_clear_error(tmp_path, spreadsheet_endpoint):
    (tmp_path / "c.csv").write_text("id,name\n1,A\n", encoding="utf-8")
    with pytest.raises(PermanentError, match="no column 'customer_id'.*columns: id, name"):
        records(spreadsheet_endpoint("c.csv"))


def test_formula_prefix_is_stripped_on_read_only_before_formula_characters(tmp_path, spreadsheet_endpoint):
    text = "customer_id,a,b,c\n1,'=SUM(A1),'-5,'quoted\n"
    (tmp_path / "c.csv").write_text(text, encoding="utf-8")
    got = records(spreadsheet_endpoint("c.csv"))
    assert got[0].payload == {"customer_id": "1", "a": "=SUM(A1)", "b": "-5", "c": "'quoted"}


def test_nul_bytes_and_huge_fields_are_stored_faithfully(tmp_path, spreadsheet_endpoint):
    big = "x" * 100_000
    (tmp_path / "c.csv").write_text(f"customer_id,name\n1,a\x00b\n2,{big}\n", encoding="utf-8")
    got = records(spreadsheet_endpoint("c.csv"))
    assert got[0].payload["name"] == "a\x00b"
    assert got[1].payload["name"] == big


def test_describe_infers_types_from_a_sample(tmp_path, spreadsheet_endpoint):
    text = ("customer_id,crmsync_id,zip,count,amount,since,active,name\n"
            "1,h1,01067,3,1.50,2024-01-02,true,A\n2,h2,80331,4,2.00,2024-02-03,false,B\n")
    (tmp_path / "c.csv").write_text(text, encoding="utf-8")
    fields = spreadsheet_endpoint("c.csv").describe()
    assert list(fields) == ["customer_id", "crmsync_id", "zip", "count", "amount", "since", "active", "name"]
    assert {k: f.type for k, f in fields.items()} == {
        "customer_id": "integer", "crmsync_id": "string", "zip": "string", "count": "integer",
        "amount": "decimal", "since": "date", "active": "boolean", "name": "string"}
    assert fields["customer_id"].nillable is False
    assert fields["crmsync_id"].external_id is True


def test_duplicate_keys_after_the_first_are_error_records(tmp_path, spreadsheet_endpoint):
    (tmp_path / "c.csv").write_text("customer_id,name\n1,A\n2,B\n 1 ,C\n", encoding="utf-8")
    got = records(spreadsheet_endpoint("c.csv"))
    assert [r.external_id for r in got] == ["1", "2", "c.csv#4"]
    assert got[2].payload[ERROR_KEY] == "c.csv line 4: duplicate customer_id '1': an earlier row has the same key"
    assert [r.external_id for r in records(spreadsheet_endpoint("c.csv", check_duplicates=False))] == ["1", "2", "1"]


def test_empty_file_is_an_error_not_an_empty_snapshot(tmp_path, spreadsheet_endpoint):
    (tmp_path / "c.csv").write_bytes(b"")
    with pytest.raises(PermanentError, match="no header row"):
        records(spreadsheet_endpoint("c.csv"))
    (tmp_path / "c.csv").write_text("customer_id,name\n", encoding="utf-8")
    assert records(spreadsheet_endpoint("c.csv")) == []  # a header and no rows: really empty


def test_field_over_the_csv_limit_is_an_error_record_and_the_read_goes_on(tmp_path, spreadsheet_endpoint):
    (tmp_path / "c.csv").write_text("customer_id,name\n1,a\n2," + "x" * 200_000 + "\n3,c\n", encoding="utf-8")
    got = records(spreadsheet_endpoint("c.csv"))
    assert [r.external_id for r in got] == ["1", "c.csv#3", "3"]
    assert "line 3: malformed CSV: field larger than field limit" in got[1].payload[ERROR_KEY]
