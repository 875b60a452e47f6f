"""`make bench`: crmsync's throughput on this machine, against the loopback fakes and in memory.

Figures are printed, never asserted: speed is measured here, not in the tests. Groups:

  engine       the sync engine and mapping layer on the in-memory connector (no HTTP)
  salesforce   initial sync into the fake org (sObject Collections, then Bulk API 2.0), the
               read-back of crmsync's own writes, a 1%-changed run, and a read of the org
  sap-odata    a paged read of business partners, and creates through $batch
  spreadsheet  a large CSV read and mapped as a stream (peak traced memory), a write of rows,
               and the re-read of an unchanged sheet (skip by payload hash)

Everything runs in this process: the fakes are HTTP servers on 127.0.0.1 (free ports), the state
is a SQLite file per pipeline in a temporary folder. API calls are ``summary.api_calls`` (the
engine's count per endpoint; the memory connector counts one per record read and one per batch
written). Peak memory is from tracemalloc, on separate passes, because tracing slows Python down
2-4x; the timed passes run untraced.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import logging
import os
import platform
import pstats
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import bench_engine
import bench_salesforce
import bench_sap
import bench_sheet
from bench_harness import Options, Result, print_result

GROUPS: dict[str, dict[str, Callable[[Options], list[Result]]]] = {
    "engine": bench_engine.CASES,
    "salesforce": bench_salesforce.CASES,
    "sap-odata": bench_sap.CASES,
    "spreadsheet": bench_sheet.CASES,
}


NODELAY_NOTE = ", TCP_NODELAY on the fake servers' sockets"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    names = [name for cases in GROUPS.values() for name in cases]
    parser = argparse.ArgumentParser(
        prog="benchmarks/run.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=f"Cases: {', '.join(names)}.")
    parser.add_argument("--records", type=int, default=10_000,
                        help="records per connector case (default 10000); scales the other sizes unless set")
    parser.add_argument("--sheet-records", type=int, help="rows of the large CSV read (default 10 x --records)")
    parser.add_argument("--sap-create", type=int, help="partners created in SAP via $batch (default --records / 10)")
    parser.add_argument("--memory-records", type=int, help="records of the in-memory engine case (default --records)")
    parser.add_argument("--only", action="append", metavar="NAME", default=[],
                        help="run only this group or case (repeatable, or comma-separated)")
    parser.add_argument("--list", action="store_true", help="list groups and cases, then stop")
    parser.add_argument("--no-trace", action="store_true", help="skip the tracemalloc passes (faster)")
    parser.add_argument("--profile", action="store_true",
                        help="run each selected case under cProfile and print its top functions")
    parser.add_argument("--tcp-nodelay", action="store_true",
                        help="set TCP_NODELAY on the fake servers' sockets: without it every request to a fake "
                             "waits ~40 ms (Nagle + delayed ACK), which then dominates call-heavy cases")
    return parser.parse_args(argv)


def selected(only: list[str]) -> list[tuple[str, str, Callable[[Options], list[Result]]]]:
    wanted = {part.strip() for item in only for part in item.split(",") if part.strip()}
    known = set(GROUPS) | {name for cases in GROUPS.values() for name in cases}
    unknown = wanted - known
    if unknown:
        raise SystemExit(f"unknown --only {', '.join(sorted(unknown))}; known: {', '.join(sorted(known))}")
    return [(group, name, fn) for group, cases in GROUPS.items() for name, fn in cases.items()
            if not wanted or group in wanted or name in wanted]


def profiled(fn: Callable[[Options], list[Result]], opts: Options, name: str) -> list[Result]:
    profile = cProfile.Profile()
    results = profile.runcall(fn, opts)
    out = io.StringIO()
    stats = pstats.Stats(profile, stream=out).strip_dirs().sort_stats("cumulative")
    stats.print_stats(30)
    print(f"\n--- cProfile of {name} (main thread only; the fakes run in their own threads) ---")
    print("\n".join(line for line in out.getvalue().splitlines()[4:] if line.strip()))
    return results


def print_table(results: list[Result], seconds: float) -> None:
    head = (f"{'group':<11} {'case':<52} {'records':>8} {'seconds':>8} {'rec/s':>9} {'peak MB':>8}  "
            f"{'API calls (summary.api_calls)':<30} note")
    print("\n" + head)
    print("-" * len(head))
    for r in results:
        rate = f"{r.rate:9.0f}" if r.records else f"{'-':>9}"
        peak = f"{r.peak_mb:8.1f}" if r.peak_mb is not None else f"{'':>8}"
        print(f"{r.group:<11} {r.label.strip():<52} {r.records:>8} {r.seconds:8.2f} {rate} {peak}  "
              f"{r.api_calls:<30} {r.note}")
    print(f"\ntotal {seconds:.0f} s on {platform.python_implementation()} {platform.python_version()}, "
          f"{platform.machine()}, {os.cpu_count()} CPUs, load average now {_load()} (figures from a busy machine "
          "are lower: compare runs made under the same load)")


def _load() -> str:
    try:
        return " ".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.list:
        for group, cases in GROUPS.items():
            print(f"{group}: {', '.join(cases)}")
        return
    logging.disable(logging.WARNING)  # dead letters are reported in the notes, not as log lines
    if args.tcp_nodelay:
        from crmsync import testing

        handler = getattr(testing, "_Handler", None)  # the fakes' request handler (a socketserver option)
        if handler is None:
            raise SystemExit("--tcp-nodelay: crmsync.testing has no _Handler any more; drop the option")
        handler.disable_nagle_algorithm = True
    cases = selected(args.only)
    n = args.records
    started = time.perf_counter()
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="crmsync-bench-") as tmp:
        opts = Options(records=n, sheet_records=args.sheet_records or 10 * n,
                       sap_create=args.sap_create or max(1, n // 10), memory_records=args.memory_records or n,
                       trace=not args.no_trace, profile=args.profile, workdir=Path(tmp))
        print(f"crmsync benchmarks: {n} records per connector case, {opts.sheet_records} CSV rows, "
              f"{opts.sap_create} SAP creates, {opts.memory_records} in-memory records"
              f"{NODELAY_NOTE if args.tcp_nodelay else ''}; load average {_load()}", flush=True)
        group_shown = ""
        for group, name, fn in cases:
            if group != group_shown:
                print(f"\n[{group}]", flush=True)
                group_shown = group
            case_results = profiled(fn, opts, name) if args.profile else fn(opts)
            for result in case_results:
                print_result(result)
            results += case_results
    print_table(results, time.perf_counter() - started)


if __name__ == "__main__":
    sys.exit(main())
