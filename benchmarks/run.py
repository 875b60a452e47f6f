"""`make bench`: throughput of the sync engine and the mapping layer on this machine.

Figures are printed, never asserted: speed is measured here, not in the tests. Uses the in-memory
connector on SQLite so the numbers show crmsync's own cost, not a network's.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import tracemalloc
from pathlib import Path

from crmsync.config import parse_config
from crmsync.engine import SyncEngine
from crmsync.mapping import compile_mapping
from crmsync.plugins import create_host
from crmsync.state import StateStore
from crmsync.testing import MEMORY_TABLES, MemoryPlugin, memory_table

MAPPING = Path(__file__).parents[1] / "tests" / "engine" / "memory_customers.yaml"


def timed(label: str, n: int, fn: object) -> float:
    start = time.perf_counter()
    fn()  # type: ignore[operator]
    seconds = time.perf_counter() - start
    print(f"{label:<48} {n:>8} records {seconds:8.2f} s {n / seconds:>10.0f} records/s")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=20_000)
    args = parser.parse_args()
    n = args.records
    host = create_host(extra_plugins=(MemoryPlugin(),))
    mapping = compile_mapping(MAPPING, host.converters)
    sample = {"id": "E1", "name": " Müller GmbH ", "country": "Germany", "vat": "de123", "city": "Köln",
              "credit": "1000.50", "owner": "alice", "phone": "030 1234567"}
    timed("mapping load (8 fields, converters)", n, lambda: [mapping.load(sample) for _ in range(n)])
    canonical = mapping.load(sample)
    timed("mapping dump", n, lambda: [mapping.dump(canonical) for _ in range(n)])

    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/bench.db"
        config = parse_config({
            "state": {"url": url},
            "endpoints": {name: {"connector": "memory", "object": "customers", "mapping": str(MAPPING),
                                 "options": {"table": name}} for name in ("erp", "crm")},
            "pipelines": {"p": {"endpoints": ["erp", "crm"]}},
        }, Path(tmp) / "crmsync.yaml")
        MEMORY_TABLES.clear()
        erp = memory_table("erp")
        for i in range(n):
            erp.put(f"E{i:07d}", name=f"Firma {i} GmbH", country="DE", vat=f"DE{i:09d}", city="Berlin",
                    credit="1000.00")
        store = StateStore(url)

        def run() -> object:
            return SyncEngine(config, "p", store=store, host=host).run()

        tracemalloc.start()
        timed("initial two-way sync (read, map, hub, write)", n, run)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        print(f"{'  peak traced memory of the run':<48} {peak / 1e6:8.1f} MB")
        changed = max(1, n // 100)
        for i in range(changed):
            erp.put(f"E{i * 100:07d}", city="München")
        timed(f"incremental sync, {changed} changed (1%)", changed, run)
        timed("no-change sync (fixed point)", 1, run)
        store.dispose()


if __name__ == "__main__":
    main()
