"""The sync engine and the mapping layer on the in-memory connector, on SQLite: crmsync's own cost
without any HTTP. The runs after the initial one show the read-back of crmsync's own writes, a
1%-changed run, the no-change fixed point, and a full re-read where every record is skipped by
its payload hash before mapping.
"""

from __future__ import annotations

from bench_harness import (
    ENGINE_MAPPING,
    Options,
    Pipeline,
    Result,
    calls_of,
    check,
    fresh_table,
    host,
    measure,
    memory_endpoint,
)

from crmsync.engine import payload_hash
from crmsync.mapping import compile_mapping

GROUP = "engine"
SAMPLE = {"id": "E1", "name": " Müller GmbH ", "country": "Germany", "vat": "de123", "city": "Köln",
          "credit": "1000.50", "owner": "alice", "phone": "030 1234567"}


def mapping_layer(opts: Options) -> list[Result]:
    n = opts.memory_records
    mapping = compile_mapping(ENGINE_MAPPING, host().converters)
    _, seconds, _ = measure(lambda: [mapping.load(SAMPLE) for _ in range(n)])
    results = [Result(GROUP, "mapping load (7 fields, converters)", n, seconds)]
    canonical = mapping.load(SAMPLE)
    _, seconds, _ = measure(lambda: [mapping.dump(canonical) for _ in range(n)])
    results.append(Result(GROUP, "mapping dump", n, seconds))
    _, seconds, _ = measure(lambda: [payload_hash(SAMPLE) for _ in range(n)])
    results.append(Result(GROUP, "payload hash (sha256 over sorted orjson)", n, seconds))
    return results


def _summary_note(summary: object) -> str:
    from bench_salesforce import _written_note

    return _written_note(summary)


def memory_sync(opts: Options) -> list[Result]:
    n = opts.memory_records
    erp = fresh_table("erp")
    fresh_table("crm")
    for i in range(n):
        erp.put(f"E{i:07d}", name=f"Firma {i} GmbH", country="DE", vat=f"DE{i:09d}", city="Berlin", credit="1000.00")
    pipe = Pipeline(opts.workdir, "engine", {"erp": memory_endpoint("erp", ENGINE_MAPPING),
                                             "crm": memory_endpoint("crm", ENGINE_MAPPING)})
    results = []
    try:
        summary, seconds, _ = measure(pipe.run)
        results.append(Result(GROUP, "initial two-way sync (read, map, hub, write)", n, seconds, calls_of(summary),
                              note=check(summary, erp__read=n, crm__created=n)))
        summary, seconds, _ = measure(pipe.run)
        results.append(Result(GROUP, "next run: read-back of own writes (echo)", summary.total("read"), seconds,
                              calls_of(summary), note=check(summary) or _summary_note(summary)))
        changed = max(1, n // 100)
        for i in range(changed):
            erp.put(f"E{i * 100:07d}", city="München")
        summary, seconds, _ = measure(pipe.run)
        results.append(Result(GROUP, f"incremental sync, {changed} changed (1%)", changed, seconds, calls_of(summary),
                              note=check(summary, erp__read=changed, crm__updated=changed)))
        summary, seconds, _ = measure(pipe.run)
        results.append(Result(GROUP, "next run: echo of the 1%", summary.total("read"), seconds, calls_of(summary),
                              note=check(summary) or _summary_note(summary)))
        summary, seconds, _ = measure(pipe.run)
        results.append(Result(GROUP, "no-change sync (fixed point)", 0, seconds, calls_of(summary),
                              note=check(summary) or _summary_note(summary)))
        summary, seconds, _ = measure(lambda: pipe.run(full=True))
        read = summary.total("read")
        results.append(Result(GROUP, "full re-read, all unchanged (skip before mapping)", read, seconds,
                              calls_of(summary), note=check(summary, erp__unchanged=n, crm__unchanged=n)
                              or _summary_note(summary)))
        if opts.trace:
            # the memory figure of a whole initial sync, on a fresh pipeline (tracemalloc slows it down)
            traced = max(1, n // 5)
            src = fresh_table("erp_traced")
            for i in range(traced):
                src.put(f"T{i:07d}", name=f"Firma {i} AG", country="AT", vat=f"ATU{i:08d}", city="Wien",
                        credit="500.00")
            fresh_table("crm_traced")
            other = Pipeline(opts.workdir, "engine_traced", {
                "erp": memory_endpoint("erp_traced", ENGINE_MAPPING), "crm": memory_endpoint("crm_traced",
                                                                                          ENGINE_MAPPING)})
            try:
                summary, seconds, peak = measure(other.run, trace=True)
                results.append(Result(GROUP, "  initial sync under tracemalloc (memory figure)", traced, seconds,
                                      calls_of(summary), peak_mb=peak, note=check(summary, crm__created=traced)))
            finally:
                other.close()
    finally:
        pipe.close()
    return results


CASES = {
    "mapping": mapping_layer,
    "engine-memory": memory_sync,
}
