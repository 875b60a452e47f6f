"""Fuzzing the parsers that read outside data: SAP OData dates, times, errors and $batch bodies,
the mapping's date converters, and the CSV reader. Any input gives a value or a clear, classified
error; never a crash with an unexpected exception."""

from __future__ import annotations

import contextlib
import datetime as dt
from pathlib import Path

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from crmsync.connector import EndpointContext
from crmsync.errors import CrmsyncError
from crmsync.mapping.converters import BUILTIN_CONVERTERS, ConversionError
from crmsync_sap import odata_wire
from crmsync_spreadsheet import SpreadsheetConnector

CONVERTERS = {c.name: c for c in BUILTIN_CONVERTERS}
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
SAPISH = st.one_of(
    st.text(),
    st.from_regex(r"/Date\(-?\d{0,15}([+-]\d{4})?\)/", fullmatch=True),
    st.from_regex(r"PT\d{0,3}H\d{0,3}M\d{0,3}(\.\d+)?S", fullmatch=True),
)


@FUZZ
@given(SAPISH)
@example("/Date(-\u0c6d0000000000000)/")  # found by this test: a Telugu digit, then an overflow
@example("/Date(99999999999999999)/")
def test_sap_date_parsing_gives_a_datetime_or_a_value_error(text: str) -> None:
    try:
        value = odata_wire.parse_date(text)
    except ValueError:
        return
    assert isinstance(value, dt.datetime)


@FUZZ
@given(SAPISH)
def test_sap_time_parsing_gives_a_duration_or_a_value_error(text: str) -> None:
    try:
        value = odata_wire.parse_time(text)
    except ValueError:
        return
    assert isinstance(value, dt.timedelta)


@FUZZ
@given(st.binary(max_size=2000), st.integers(min_value=100, max_value=599))
def test_sap_error_bodies_never_crash_the_parser(body: bytes, status: int) -> None:
    error = odata_wire.parse_sap_error(body, status)
    assert isinstance(error.message, str)


@FUZZ
@given(st.binary(max_size=3000))
def test_batch_responses_decode_or_raise_value_error(body: bytes) -> None:
    with contextlib.suppress(ValueError):
        odata_wire.decode_batch(body, "multipart/mixed; boundary=batch_x")


@FUZZ
@given(SAPISH, st.sampled_from(["sap", "iso", "auto", "excel", "epoch_ms"]))
@example("/Date(0-3000)/", "sap")  # found by this test: an offset of -30 hours
def test_datetime_converter_converts_or_raises_conversion_error(text: str, fmt: str) -> None:
    converter = CONVERTERS["datetime"]
    try:
        value = converter.to_canonical(text, {"format": fmt})
    except ConversionError:
        return
    assert value is None or (isinstance(value, dt.datetime) and value.tzinfo is not None)


@FUZZ
@given(SAPISH)
def test_sap_time_converter_converts_or_raises_conversion_error(text: str) -> None:
    with contextlib.suppress(ConversionError):
        CONVERTERS["sap_time"].to_canonical(text, {})


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=4000))
def test_csv_reader_reads_rows_or_reports_a_clear_error(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "fuzz.csv"
    path.write_bytes(b"customer_id,company,city\n" + data)
    connector = SpreadsheetConnector(EndpointContext(name="sheet", object="fuzz.csv",
                                                     options={"path": str(path), "fallback_encodings": ["cp1252"]}))
    try:
        for record in connector.read_changes(None):
            assert isinstance(record.external_id, str)
            assert isinstance(record.payload, dict)
    except CrmsyncError as exc:
        assert str(exc)
