"""Wire helpers: literal quoting, date/time encodings, SAP errors, $batch round trips."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crmsync_sap.odata_query import compile_filter
from crmsync_sap.odata_wire import (
    BatchPart,
    cursor_timestamp,
    decode_batch,
    encode_batch,
    format_date,
    format_time,
    odata_quote,
    parse_date,
    parse_sap_error,
    parse_time,
    split_cursor_timestamp,
)


def test_odata_quote_doubles_quotes_and_refuses_control_characters():
    assert odata_quote("O'Brien") == "'O''Brien'"
    assert odata_quote("' or BusinessPartner ne '") == "''' or BusinessPartner ne '''"
    with pytest.raises(ValueError):
        odata_quote("a\x00b")
    with pytest.raises(ValueError):
        odata_quote("line\r\nbreak")


@given(st.text(alphabet=st.characters(min_codepoint=32, exclude_categories=("Cs",))))
def test_quoted_literals_parse_back_to_the_value(value):
    predicate = compile_filter(f"Name eq {odata_quote(value)}", lambda path: lambda row: row[path])
    assert predicate({"Name": value})
    assert not predicate({"Name": value + "x"})


def test_dates_and_times():
    assert format_date(dt.datetime(2023, 11, 14, 22, 13, 20)) == "/Date(1700000000000)/"
    assert parse_date("/Date(1700000000000)/") == dt.datetime(2023, 11, 14, 22, 13, 20)
    assert parse_date("/Date(1700000000000+0000)/") == dt.datetime(2023, 11, 14, 22, 13, 20)
    assert format_time(dt.timedelta(hours=13, minutes=45)) == "PT13H45M00S"
    assert parse_time("PT13H45M00S") == dt.timedelta(hours=13, minutes=45)
    assert parse_time("PT9H5M3.25S") == dt.timedelta(hours=9, minutes=5, seconds=3)
    for bad in ("/Date(abc)/", "2023-02-29", ""):
        with pytest.raises(ValueError):
            parse_date(bad)
    with pytest.raises(ValueError):
        parse_time("PT")
    stamp = cursor_timestamp(dt.datetime(2026, 11, 23), dt.timedelta(hours=10, seconds=5))
    assert stamp == "2026-11-23T10:00:05Z"
    assert split_cursor_timestamp(stamp) == (dt.datetime(2026, 11, 23), dt.timedelta(hours=10, seconds=5))


def test_parse_sap_error():
    body = (b'{"error":{"code":"R11/124","message":{"lang":"en","value":"Enter a name"},'
            b'"innererror":{"errordetails":[{"code":"R11/124","message":"Enter a name"}]}}}')
    error = parse_sap_error(body, 400)
    assert (error.code, error.message, len(error.details)) == ("R11/124", "Enter a name", 1)
    html = parse_sap_error(b"<html><body>502 Bad Gateway</body></html>", 502)
    assert html.code == "HTTP502" and "502" in html.message


def test_batch_round_trip_keeps_changesets_and_bodies():
    groups = [[BatchPart(method="GET", url="A_BusinessPartner('1')")],
              [BatchPart(method="PATCH", url="A_BusinessPartner('2')", headers={"If-Match": 'W/"x"'},
                         body="{\"Name\": \"Zoë\\r\\n--batch\"}".encode()),
               BatchPart(method="POST", url="A_BusinessPartner", body=b"{}")]]
    body, content_type = encode_batch(groups)
    decoded = decode_batch(body, content_type)
    assert [[(p.method, p.url, p.changeset) for p in g] for g in decoded] == [
        [("GET", "A_BusinessPartner('1')", None)],
        [("PATCH", "A_BusinessPartner('2')", 1), ("POST", "A_BusinessPartner", 1)]]
    assert decoded[1][0].body == groups[1][0].body and decoded[1][0].header("if-match") == 'W/"x"'
