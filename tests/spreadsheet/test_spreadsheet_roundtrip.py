"""Whatever text the host writes comes back exactly (CSV and XLSX), hostile values included."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crmsync.connector import EndpointContext, OutboundRecord
from crmsync_spreadsheet import SpreadsheetConnector

HOSTILE = [
    "O'Brien", "Zoë", "北京科技有限公司", "emoji 🎉👩‍💻", "\u202etxt.exe", "x" * 100_000,
    "a\x00b", "line\r\nbreak", "\rCR first", "\tTAB first", "' OR Name != '", "\\' %_",
    "=HYPERLINK(\"http://x\")", "+cmd", "-1+1", "@SUM(A1)", "'=already quoted", "''", "'", " ", "",
    "NaN", "1e309", "2023-02-29", "/Date(abc)/", "00042", "-5",
]


def connector(path: Path, **options) -> SpreadsheetConnector:
    return SpreadsheetConnector(EndpointContext(name="t", object="t", options={"path": str(path), **options}))


def test_hostile_values_round_trip_through_csv(tmp_path):
    sheet = connector(tmp_path / "c.csv")
    results = sheet.write_batch([OutboundRecord(hub_id=f"h{i}", external_id=None, payload={"v": v})
                                 for i, v in enumerate(HOSTILE)])
    assert all(r.ok for r in results)
    got = {r.external_id: r.payload["v"] for r in sheet.read_changes(None)}
    assert [got[f"h{i}"] for i in range(len(HOSTILE))] == HOSTILE
    assert [r.payload["v"] for r in results] == HOSTILE  # the write result says what a read returns


def test_hostile_values_round_trip_through_xlsx(tmp_path):
    # XML cannot hold NUL and Excel no more than 32767 characters a cell: both rejected, below.
    values = [v for v in HOSTILE if "\x00" not in v and len(v) < 32768]
    sheet = connector(tmp_path / "c.xlsx")
    assert all(r.ok for r in sheet.write_batch(
        [OutboundRecord(hub_id=f"h{i}", external_id=None, payload={"v": v}) for i, v in enumerate(values)]))
    got = {r.external_id: r.payload["v"] for r in sheet.read_changes(None)}
    assert [got[f"h{i}"] for i in range(len(values))] == values


@pytest.mark.parametrize("suffix", ["csv", "xlsx"])
def test_lone_surrogates_are_rejected_per_record(tmp_path, suffix):
    results = connector(tmp_path / f"c.{suffix}").write_batch([
        OutboundRecord(hub_id="h1", external_id=None, payload={"v": "bad \ud800"}),
        OutboundRecord(hub_id="h2", external_id=None, payload={"v": "good"}),
    ])
    assert [r.ok for r in results] == [False, True]
    assert "cannot be written in the file's encoding utf-8" in results[0].error


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.text(st.characters(blacklist_categories=("Cs",)), max_size=30), min_size=1, max_size=5))
def test_any_text_round_trips_through_csv(values):
    with tempfile.TemporaryDirectory() as folder:
        sheet = connector(Path(folder) / "c.csv", backup=False)
        records = [OutboundRecord(hub_id=f"h{i}", external_id=None, payload={"v": v}) for i, v in enumerate(values)]
        assert all(r.ok for r in sheet.write_batch(records))
        assert all(r.ok for r in sheet.write_batch(records))  # idempotent
        got = [(r.external_id, r.payload["v"]) for r in sheet.read_changes(None)]
        assert got == [(f"h{i}", v) for i, v in enumerate(values)]


def test_text_longer_than_an_excel_cell_is_rejected_not_truncated(tmp_path):
    results = connector(tmp_path / "c.xlsx").write_batch([
        OutboundRecord(hub_id="h1", external_id=None, payload={"v": "x" * 32768}),
        OutboundRecord(hub_id="h2", external_id=None, payload={"v": "x" * 32767}),
    ])
    assert [r.ok for r in results] == [False, True]
    assert "32768 characters exceed the XLSX cell limit of 32767" in results[0].error
