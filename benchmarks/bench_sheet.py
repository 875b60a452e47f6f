"""Spreadsheet (CSV): a large file read and mapped as a stream (speed, then peak traced memory),
a write of many rows through the engine, and the re-read of an unchanged sheet.

A single-file sheet is a full snapshot: every run reads every row, so the skip of unchanged rows
by payload hash (before mapping) is what keeps a sheet endpoint cheap run after run.
"""

from __future__ import annotations

import csv
import itertools
from pathlib import Path

from bench_harness import (
    Options,
    Pipeline,
    Result,
    calls_of,
    check,
    fill_table,
    fresh_table,
    measure,
    memory_endpoint,
    open_alone,
    sheet_endpoint,
)

from crmsync.engine import payload_hash

GROUP = "spreadsheet"
COLUMNS = ["customer_id", "company", "first_name", "last_name", "email", "phone", "street", "postal_code",
           "city", "country", "vat_id", "industry", "lifecycle_stage", "owner", "credit_limit", "currency",
           "blocked"]
_CITIES = [("Hamburg", "Germany", "DE"), ("Paris", "France", "FR"), ("Wien", "Austria", "AT"),
           ("Zürich", "Switzerland", "CH"), ("Milano", "Italy", "IT"), ("Köln", "DE", "DE")]
_STAGES = ["lead", "prospect", "customer", "former customer", ""]


def write_csv(path: Path, n: int) -> int:
    """A customers sheet of ``n`` generated rows; returns its size in bytes."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        for i in range(n):
            city, country, code = _CITIES[i % len(_CITIES)]
            writer.writerow([
                f"S-{i:07d}", f"Händler {i} GmbH", "", "", f"einkauf{i}@haendler{i}.example",
                f"+49 40 {1000000 + i}", f"Speicherstadt {i % 300 + 1}", f"{20000 + i % 900}", city, country,
                f"{code}{100000000 + i}", "Retail", _STAGES[i % len(_STAGES)], "alice",
                f"{(i % 50) * 1000}.00", "EUR", "no" if i % 17 else "yes",
            ])
    return path.stat().st_size


def read_and_map(opts: Options) -> list[Result]:
    n = opts.sheet_records
    path = opts.workdir / "big_customers.csv"
    size = write_csv(path, n)
    endpoint = open_alone(opts.workdir, sheet_endpoint(path))
    mapping = endpoint.mapping

    def read_only() -> int:
        return sum(1 for _ in endpoint.connector.read_changes(None))

    def read_hash_map(limit: int | None = None) -> int:
        count = 0
        for record in itertools.islice(endpoint.connector.read_changes(None), limit):
            payload_hash(record.payload)
            mapping.load(record.payload)
            count += 1
        return count

    results = []
    count, seconds, _ = measure(read_only)
    results.append(Result(GROUP, "connector only: stream-read CSV rows", count, seconds,
                          note=f"file {size / 1e6:.1f} MB"))
    count, seconds, _ = measure(read_hash_map)
    results.append(Result(GROUP, "stream-read + hash + map (17 columns)", count, seconds,
                          note="" if count == n else f"read {count} of {n}"))
    if opts.trace:
        # tracemalloc slows mapping down ~4x: the full file for the read, a tenth of it for the mapping
        count, seconds, peak = measure(read_only, trace=True)
        results.append(Result(GROUP, "  stream-read under tracemalloc (memory figure)", count, seconds,
                              peak_mb=peak, note=f"file {size / 1e6:.1f} MB"))
        plain = open_alone(opts.workdir, sheet_endpoint(path, check_duplicates=False))
        count, seconds, peak = measure(lambda: sum(1 for _ in plain.connector.read_changes(None)), trace=True)
        plain.connector.close()
        results.append(Result(GROUP, "  stream-read, tracemalloc, check_duplicates: false", count, seconds,
                              peak_mb=peak, note="the duplicate-key check keeps a hash per row"))
        tenth = max(1, n // 10)
        count, seconds, peak = measure(lambda: read_hash_map(tenth), trace=True)
        results.append(Result(GROUP, "  read + hash + map under tracemalloc", count, seconds, peak_mb=peak,
                              note="first tenth of the file"))
    endpoint.connector.close()
    path.unlink()
    return results


def write_rows(opts: Options) -> list[Result]:
    n = opts.records
    path = opts.workdir / "written_customers.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerow(COLUMNS)  # an empty sheet with the user's header
    src = fresh_table("sheet_src")
    fill_table(src, n)
    pipe = Pipeline(opts.workdir, "sheet_write", {"src": memory_endpoint("sheet_src"), "sheet": sheet_endpoint(path)})
    results = []
    try:
        summary, seconds, _ = measure(pipe.run)
        results.append(Result(GROUP, "write rows: memory -> CSV (engine, initial)", n, seconds, calls_of(summary),
                              note=check(summary, sheet__created=n) or f"file {path.stat().st_size / 1e6:.1f} MB; "
                              "the spreadsheet connector counts no API calls"))
        summary, seconds, _ = measure(pipe.run)
        results.append(Result(GROUP, "next run: re-read of the rows crmsync wrote", n, seconds, calls_of(summary),
                              note=check(summary) or _note(summary)))
        summary, seconds, _ = measure(pipe.run)
        results.append(Result(GROUP, "re-read of an unchanged sheet (skip by hash)", n, seconds, calls_of(summary),
                              note=check(summary, sheet__unchanged=n) or _note(summary)))
    finally:
        pipe.close()
    return results


def _note(summary: object) -> str:
    from bench_salesforce import _written_note

    return _written_note(summary)


CASES = {
    "sheet-read": read_and_map,
    "sheet-write": write_rows,
}
