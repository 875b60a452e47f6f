"""100 000 rows stream through read and write in bounded memory (tracemalloc peak, never time)."""

from __future__ import annotations

import tracemalloc

import pytest

from crmsync.connector import OutboundRecord

ROWS = 100_000
LIMIT = 2 * 1024 * 1024  # the file is ~5.8 MB; holding it (or its rows) would blow well past this


def write_big(path):
    with path.open("w", encoding="utf-8", newline="") as handle:
        handle.write("customer_id;name;city;notes\n")
        for i in range(ROWS):
            handle.write(f'{i:07d};Kunde {i} GmbH;Köln;"line one\nline two, {i}"\n')


@pytest.mark.parametrize(("check_duplicates", "limit"), [
    (False, LIMIT),
    (True, LIMIT + 100 * ROWS),  # duplicate detection keeps one key hash per row, nothing more
])
def test_read_100k_rows_with_flat_memory(tmp_path, spreadsheet_endpoint, check_duplicates, limit):
    path = tmp_path / "big.csv"
    write_big(path)
    assert path.stat().st_size > 2 * LIMIT
    connector = spreadsheet_endpoint(path, check_duplicates=check_duplicates)
    tracemalloc.start()
    try:
        count = 0
        last = None
        for record in connector.read_changes(None):
            count += 1
            last = record
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == ROWS
    assert last.external_id == f"{ROWS - 1:07d}" and last.payload["notes"].endswith(f"two, {ROWS - 1}")
    assert peak < limit, f"peak {peak} bytes"


def test_rewrite_of_100k_rows_with_flat_memory(tmp_path, spreadsheet_endpoint):
    path = tmp_path / "big.csv"
    write_big(path)
    connector = spreadsheet_endpoint(path, backup=False)
    tracemalloc.start()
    try:
        results = connector.write_batch([
            OutboundRecord(hub_id="h1", external_id="0050000", payload={"name": "=cmd"}),
            OutboundRecord(hub_id="h2", external_id=None, payload={"name": "new"}),
        ])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert [(r.ok, r.created) for r in results] == [(True, False), (True, True)]
    assert peak < LIMIT, f"peak {peak} bytes"
    count = sum(1 for _ in connector.read_changes(None))
    assert count == ROWS + 1
