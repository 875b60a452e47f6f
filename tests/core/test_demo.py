"""`crmsync demo` (what `make demo` runs): a real sync between the fake SAP and Salesforce servers and a sheet."""

from __future__ import annotations

import csv
import re
from pathlib import Path

from rich.console import Console

import crmsync.cli
from crmsync.demo import run_demo


def test_demo_tells_the_whole_story(tmp_path: Path, monkeypatch: object) -> None:
    console = Console(record=True, width=200)
    monkeypatch.setattr(crmsync.cli, "console", console)  # type: ignore[attr-defined]
    run_demo(console, records=12, workdir=tmp_path)
    text = console.export_text()
    assert "run 1: initial sync" in text and "run 2: changes from every side" in text
    matched = re.search(r"│ matched\s+│\s+(\d+) │\s+(\d+) │\s+(\d+) │", text)
    assert matched and int(matched.group(2)) == 2, "both Salesforce twins of SAP companies are matched"
    assert "run 3 wrote 0 records" in text
    assert re.search(r"│ \d+\s+│ cus_\w+\s+│ industry", text), "the conflicting field is in the inbox"
    assert "Lübeck" in text, "the spreadsheet edit reached the 360-degree view"
    assert "ids: salesforce=" in text and "sap=" in text and "sheet=S-001" in text
    with (tmp_path / "customers.csv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) > 2, "customers from SAP and Salesforce were added to the sheet"
    assert len({r["customer_id"] for r in rows}) == len(rows)
