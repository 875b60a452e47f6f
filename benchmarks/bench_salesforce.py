"""Salesforce against the loopback fake org: initial sync (sObject Collections and Bulk API 2.0),
the read-back of crmsync's own writes, a 1%-changed incremental sync, and a 10k read.

Writes are counted from ``summary.api_calls`` (crmsync's own count, token call included) and
cross-checked with the requests the fake answered.
"""

from __future__ import annotations

import math
from typing import Any

from bench_harness import (
    MEMORY_MAPPING,
    Options,
    Pipeline,
    Result,
    calls_of,
    check,
    company,
    fill_table,
    fresh_table,
    host,
    measure,
    memory_endpoint,
    open_alone,
    salesforce_endpoint,
    started,
)

from crmsync.connector import OutboundRecord
from crmsync.mapping import compile_mapping
from crmsync_salesforce.connector import COLLECTION_SIZE
from crmsync_salesforce.fake import FakeSalesforce

GROUP = "salesforce"


def _sync_into_salesforce(opts: Options, label: str, bulk_threshold: int | None) -> list[Result]:
    n = opts.records
    fake = FakeSalesforce(seed=3)
    results: list[Result] = []
    with started(fake):
        table = "sf_src_bulk" if bulk_threshold else "sf_src"
        src = fresh_table(table)
        fill_table(src, n)
        sf_options: dict[str, Any] = {}
        if bulk_threshold is not None:
            sf_options["bulk_threshold"] = bulk_threshold
        pipe = Pipeline(opts.workdir, f"sf_{label}", {
            "src": memory_endpoint(table), "sf": salesforce_endpoint(fake, **sf_options)})
        try:
            seen = fake.requests_seen
            summary, seconds, _ = measure(pipe.run)
            requests = fake.requests_seen - seen
            created = summary.counts.get("sf", {}).get("created", 0)
            if bulk_threshold is None:
                expect = f"expect {math.ceil(n / 200)} collection calls + token + query"
            else:
                expect = f"bulk_threshold={bulk_threshold}, write batches of {COLLECTION_SIZE}"
            results.append(Result(GROUP, f"initial sync {label}: memory -> SF", n, seconds, calls_of(summary),
                                  note=check(summary, sf__created=n) or f"{created} created in SF; {expect}; "
                                  f"the fake answered {requests} requests"))
            if bulk_threshold is not None:
                jobs = len(fake.bulk.summary()) if hasattr(fake.bulk, "summary") else "?"
                results[-1].note += f"; bulk jobs: {jobs}"
            if bulk_threshold is not None:
                return results  # the runs below are the same for both write paths
            results += settle(pipe, "after initial", n)
            changed = max(1, n // 100)
            for i in range(changed):
                src.put(f"E{i * 100:07d}", city="München")
            summary, seconds, _ = measure(pipe.run)
            results.append(Result(GROUP, f"incremental, {changed} changed (1%) -> SF", changed, seconds,
                                  calls_of(summary), note=check(summary, src__read=changed, sf__updated=changed)))
            results += settle(pipe, "after the 1%", changed)
            summary, seconds, _ = measure(pipe.run)
            results.append(Result(GROUP, "no-change run (fixed point)", 0, seconds, calls_of(summary),
                                  note=check(summary) or _written_note(summary)))
        finally:
            pipe.close()
    return results


def settle(pipe: Pipeline, when: str, n: int, max_runs: int = 4) -> list[Result]:
    """The runs after a write that read crmsync's own writes back, until one changes nothing.

    Salesforce adds values of its own on create (OwnerId, CurrencyIsoCode), which flow back to
    the source, whose next read returns them again: a few runs before the fixed point.
    """
    results = []
    for number in range(1, max_runs + 1):
        summary, seconds, _ = measure(pipe.run)
        read = summary.total("read")
        results.append(Result(GROUP, f"echo run {number} {when}", read, seconds, calls_of(summary),
                              note=check(summary) or _written_note(summary)))
        if not summary.total("created") + summary.total("updated") + summary.total("hub_updated"):
            break
    return results


def _written_note(summary: Any) -> str:
    """What a run read, skipped by hash before mapping, and wrote (per endpoint)."""
    written = {name: counts.get("created", 0) + counts.get("updated", 0) for name, counts in summary.counts.items()}
    wrote = " ".join(f"{name}={count}" for name, count in written.items() if count) or "0"
    return f"read {summary.total('read')}, skipped unchanged {summary.total('unchanged')}, written {wrote}"


def initial_collections(opts: Options) -> list[Result]:
    return _sync_into_salesforce(opts, "(collections)", None)


def initial_bulk(opts: Options) -> list[Result]:
    # bulk_threshold below the engine's write batch (connector.batch_size), or Bulk API is never taken
    results = _sync_into_salesforce(opts, "(bulk_threshold=100)", 100)
    results += connector_writes(opts)
    return results


def connector_writes(opts: Options) -> list[Result]:
    """``write_batch`` of all records in one call, without the engine: what each write path costs alone."""
    n = opts.records
    memory_mapping = compile_mapping(MEMORY_MAPPING, host().converters)
    results = []
    for label, options in (("sObject Collections", {}), ("Bulk API 2.0 (one job)", {"bulk_threshold": 1})):
        fake = FakeSalesforce(seed=5)
        with started(fake):
            endpoint = open_alone(opts.workdir, salesforce_endpoint(fake, **options))
            records = [OutboundRecord(f"cus_bench{i:011d}", None,
                                      endpoint.mapping.dump(memory_mapping.load(company(i))))
                       for i in range(n)]
            answers, seconds, _ = measure(lambda records=records, endpoint=endpoint:
                                          endpoint.connector.write_batch(records))
            calls = endpoint.connector.context.api_calls
            endpoint.connector.close()
            ok = sum(1 for a in answers if a.ok)
            results.append(Result(GROUP, f"connector only: write_batch, {label}", n, seconds,
                                  f"sf={calls}", note="" if ok == n else f"only {ok} of {n} ok"))
    return results


def read_from_salesforce(opts: Options) -> list[Result]:
    n = opts.records
    fake = FakeSalesforce(records=n, seed=11)
    with started(fake):
        fresh_table("sf_sink")
        pipe = Pipeline(opts.workdir, "sf_read", {"sf": salesforce_endpoint(fake), "sink": memory_endpoint("sf_sink")})
        try:
            summary, seconds, _ = measure(pipe.run)
            pages = math.ceil(n / 2000)
            created = summary.counts.get("sink", {}).get("created", 0)
            return [Result(GROUP, "read SF -> memory endpoint (engine, initial)", n, seconds, calls_of(summary),
                           note=check(summary, sf__read=n) or f"expect {pages} query pages + token; {created} "
                           "created in the sink (the rest matched by tax id / name + country)")]
        finally:
            pipe.close()


CASES = {
    "sf-collections": initial_collections,
    "sf-bulk": initial_bulk,
    "sf-read": read_from_salesforce,
}
