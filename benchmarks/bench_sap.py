"""SAP S/4HANA OData (API_BUSINESS_PARTNER) against the loopback fake Gateway: a paged read of
business partners through the engine and through the connector alone, and creates via ``$batch``.
"""

from __future__ import annotations

import math

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
    sap_endpoint,
    started,
)

from crmsync_sap.fake_odata import FakeSapOData

GROUP = "sap-odata"
PAGE_SIZE = 1000


def read_partners(opts: Options) -> list[Result]:
    n = opts.records
    fake = FakeSapOData(records=n, seed=7, page_size=PAGE_SIZE)
    results = []
    with started(fake):
        # the connector alone: HTTP paging, JSON decoding, payload cleaning
        endpoint = open_alone(opts.workdir, sap_endpoint(fake))
        count, seconds, _ = measure(lambda: sum(1 for _ in endpoint.connector.read_changes(None)))
        calls = endpoint.connector.context.api_calls
        endpoint.connector.close()
        results.append(Result(GROUP, "connector only: read partners (paged)", count, seconds, f"sap={calls}",
                              note=(f"fake page size {PAGE_SIZE}: {math.ceil(n / PAGE_SIZE)} pages" if count == n
                                    else f"read {count} of {n}")))
        fresh_table("sap_sink")
        pipe = Pipeline(opts.workdir, "sap_read", {"sap": sap_endpoint(fake), "sink": memory_endpoint("sap_sink")})
        try:
            summary, seconds, _ = measure(pipe.run)
            read = summary.counts.get("sap", {}).get("read", 0)
            created = summary.counts.get("sink", {}).get("created", 0)
            results.append(Result(GROUP, "read SAP -> memory endpoint (engine, initial)", n, seconds,
                                  calls_of(summary),
                                  note=check(summary, sap__read=n) or f"{created} created in the sink"
                                  f"{'' if read == n else f', read {read}'}"))
        finally:
            pipe.close()
    return results


def create_partners(opts: Options) -> list[Result]:
    n = opts.sap_create
    fake = FakeSapOData(seed=7, page_size=PAGE_SIZE)
    with started(fake):
        src = fresh_table("sap_src")
        fill_table(src, n)
        pipe = Pipeline(opts.workdir, "sap_create", {"src": memory_endpoint("sap_src"), "sap": sap_endpoint(fake)})
        try:
            batches = fake.batch_count
            summary, seconds, _ = measure(pipe.run)
            batches = fake.batch_count - batches
            return [Result(GROUP, "create partners via $batch (memory -> SAP)", n, seconds, calls_of(summary),
                           note=check(summary, sap__created=n) or f"{batches} $batch requests (expect "
                           f"{math.ceil(n / 100)}), {len(fake.partners)} partners in the fake")]
        finally:
            pipe.close()


CASES = {
    "sap-read": read_partners,
    "sap-create": create_partners,
}
