"""What every benchmark module shares: timing, memory tracing, results, config builders.

A case returns :class:`Result` rows; :func:`measure` times one call (optionally under tracemalloc),
and the ``*_endpoint`` helpers build endpoint configs against the loopback fakes and the in-memory
connector the way ``crmsync/demo.py`` does. Secrets reach the config through environment variables,
as they must (``crmsync.config`` refuses plain secret values).
"""

from __future__ import annotations

import contextlib
import gc
import os
import secrets
import time
import tracemalloc
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from crmsync.config import Config, parse_config
from crmsync.engine import Endpoint, RunSummary, SyncEngine, open_endpoint
from crmsync.plugins import PluginHost, create_host
from crmsync.state import StateStore
from crmsync.testing import MEMORY_TABLES, MemoryPlugin, MemoryTable, memory_table

ROOT = Path(__file__).resolve().parents[1]
MAPPINGS = ROOT / "mappings"
ENGINE_MAPPING = ROOT / "tests" / "engine" / "memory_customers.yaml"
"""The in-memory endpoint of the engine tests (the figures before the connector benchmarks used it)."""
MEMORY_MAPPING = Path(__file__).with_name("memory_customers.yaml")
"""The in-memory endpoint synced with the fakes: adds the address fields SAP needs."""
T = TypeVar("T")


@dataclass
class Result:
    """One measured figure."""

    group: str
    label: str
    records: int
    seconds: float
    api_calls: str = ""
    peak_mb: float | None = None
    note: str = ""

    @property
    def rate(self) -> float:
        return self.records / self.seconds if self.seconds > 0 else float("inf")


@dataclass
class Options:
    """Command line settings every case reads."""

    records: int
    sheet_records: int
    sap_create: int
    memory_records: int
    trace: bool = True
    profile: bool = False
    workdir: Path = field(default_factory=Path)


def print_result(result: Result) -> None:
    peak = f"{result.peak_mb:7.1f} MB" if result.peak_mb is not None else " " * 10
    calls = f"  calls {result.api_calls}" if result.api_calls else ""
    note = f"  [{result.note}]" if result.note else ""
    rate = f"{result.rate:>9.0f} rec/s" if result.records else " " * 15
    print(f"  {result.label:<52} {result.records:>7} rec {result.seconds:8.2f} s "
          f"{rate} {peak}{calls}{note}", flush=True)


def measure(fn: Callable[[], T], *, trace: bool = False) -> tuple[T, float, float | None]:
    """Run ``fn`` once: (its value, wall seconds, peak traced MB or None).

    With ``trace`` the run is under tracemalloc (which slows Python code down about 2x): use it for
    the memory figure, not for the speed one.
    """
    gc.collect()
    if trace:
        tracemalloc.start()
    start = time.perf_counter()
    try:
        value = fn()
    finally:
        seconds = time.perf_counter() - start
        peak: float | None = None
        if trace:
            peak = tracemalloc.get_traced_memory()[1] / 1e6
            tracemalloc.stop()
    return value, seconds, peak


def calls_of(summary: RunSummary) -> str:
    """``summary.api_calls`` as ``sf=51 src=10000``."""
    return " ".join(f"{name}={count}" for name, count in summary.api_calls.items())


def check(summary: RunSummary, **expected: int) -> str:
    """A note when the run did not do what the case meant to measure (a benchmark of the wrong thing)."""
    problems = []
    if summary.status != "ok":
        problems.append(f"status {summary.status}: {summary.error}")
    for key, want in expected.items():
        endpoint, _, action = key.partition("__")
        got = summary.counts.get(endpoint, {}).get(action, 0)
        if got != want:
            problems.append(f"{endpoint} {action} {got} != {want}")
    for name, counts in summary.counts.items():
        bad = counts.get("dead_letters", 0) + counts.get("failed", 0)
        if bad:
            problems.append(f"{name}: {bad} dead letters/failed")
    return "; ".join(problems)


# -- configs ----------------------------------------------------------------------------------

def secret_env(value: str) -> str:
    """Put ``value`` in a fresh environment variable; return the ``${NAME}`` reference for the config."""
    name = "CRMSYNC_BENCH_" + secrets.token_hex(4).upper()
    os.environ[name] = value
    return "${" + name + "}"


def memory_endpoint(table: str, mapping: Path = MEMORY_MAPPING) -> dict[str, Any]:
    return {"connector": "memory", "object": "customers", "mapping": str(mapping),
            "options": {"table": table}}


def salesforce_endpoint(fake: Any, **options: Any) -> dict[str, Any]:
    info = fake.info()
    return {"connector": "salesforce", "object": "Account", "mapping": str(MAPPINGS / "salesforce_account.yaml"),
            "options": {"instance_url": info["url"], "auth": "token", "api_version": info["api_version"],
                        "access_token": secret_env(str(info["access_token"])), **options}}


def sap_endpoint(fake: Any, **options: Any) -> dict[str, Any]:
    info = fake.info()
    return {"connector": "sap-odata", "object": "A_BusinessPartner",
            "mapping": str(MAPPINGS / "sap_business_partner.yaml"),
            "options": {"service_url": info["url"], "username": str(info["username"]),
                        "password": secret_env(str(info["password"])), **options}}


def sheet_endpoint(path: Path, **options: Any) -> dict[str, Any]:
    return {"connector": "spreadsheet", "object": "customers",
            "mapping": str(MAPPINGS / "spreadsheet_customers.yaml"),
            "options": {"path": str(path), "base_dir": str(path.parent), "backup": False, **options}}


def open_alone(workdir: Path, endpoint: dict[str, Any]) -> Endpoint:
    """One endpoint's connector and mapping, outside any run (for connector-only figures)."""
    config = parse_config({"endpoints": {"it": endpoint, "other": memory_endpoint("unused")},
                           "pipelines": {"p": {"endpoints": ["it", "other"]}}}, workdir / "alone.yaml")
    return open_endpoint(config.endpoints["it"], host())


_HOST: PluginHost | None = None


def host() -> PluginHost:
    """The plugin host with the built-in connectors and ``connector: memory``."""
    global _HOST
    if _HOST is None:
        _HOST = create_host(extra_plugins=(MemoryPlugin(),))
    return _HOST


class Pipeline:
    """A two-endpoint pipeline on its own SQLite state file, run with :class:`SyncEngine`."""

    def __init__(self, workdir: Path, name: str, endpoints: dict[str, dict[str, Any]]) -> None:
        folder = workdir / name
        folder.mkdir(parents=True, exist_ok=True)
        self.config: Config = parse_config({
            "state": {"url": f"sqlite:///{folder / 'state.db'}"},
            "endpoints": endpoints,
            "pipelines": {"p": {"endpoints": list(endpoints)}},
        }, folder / "crmsync.yaml")
        self.store = StateStore(self.config.state_url)

    def run(self, *, full: bool = False) -> RunSummary:
        return SyncEngine(self.config, "p", store=self.store, host=host(), sleep=lambda s: None).run(full=full)

    def close(self) -> None:
        self.store.dispose()


@contextlib.contextmanager
def started(*fakes: Any) -> Iterator[None]:
    """Start the fakes (127.0.0.1, free ports) and stop them whatever happens."""
    running = []
    try:
        for fake in fakes:
            running.append(fake.start())
        yield
    finally:
        for fake in reversed(running):
            fake.stop()


def fresh_table(name: str) -> MemoryTable:
    MEMORY_TABLES.pop(name, None)
    return memory_table(name)


def company(i: int) -> dict[str, str]:
    """Source fields of the i-th generated company for the memory connector (memory_customers.yaml)."""
    return {"name": f"Firma {i} GmbH", "country": "DE", "vat": f"DE{i:09d}", "street": f"Hauptstraße {i % 200 + 1}",
            "postal_code": f"{10115 + i % 800}", "city": "Berlin", "credit": "1000.00",
            "phone": f"030 {1000000 + i}", "email": f"einkauf{i}@firma{i}.example"}


def fill_table(table: MemoryTable, n: int, prefix: str = "E") -> None:
    for i in range(n):
        table.put(f"{prefix}{i:07d}", **company(i))
