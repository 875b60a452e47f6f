"""Fixtures for engine tests: two in-memory endpoints (erp, crm) in one pipeline."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from crmsync.config import parse_config
from crmsync.engine import SyncEngine
from crmsync.plugins import create_host
from crmsync.state import StateStore
from crmsync.testing import MEMORY_TABLES, MemoryPlugin

MAPPING = Path(__file__).with_name("memory_customers.yaml")


@pytest.fixture(autouse=True)
def _clean_tables() -> Iterator[None]:
    MEMORY_TABLES.clear()
    yield
    MEMORY_TABLES.clear()


@pytest.fixture
def make_config() -> Callable[..., Any]:
    """Build a two-endpoint config (erp archives deletions) with pipeline options."""

    def _make(tmp_path: Path, state_url: str, **pipeline: Any) -> Any:
        data = {
            "state": {"url": state_url},
            "endpoints": {
                "erp": {"connector": "memory", "object": "customers", "mapping": str(MAPPING),
                        "options": {"table": "erp"}, "deletes": "archive"},
                "crm": {"connector": "memory", "object": "customers", "mapping": str(MAPPING),
                        "options": {"table": "crm"}},
            },
            "pipelines": {"customers": {"endpoints": ["erp", "crm"], **pipeline}},
        }
        return parse_config(data, tmp_path / "crmsync.yaml")

    return _make


@pytest.fixture
def extra_plugins() -> list[object]:
    """Plugins a test adds to the host (besides the memory connector)."""
    return []


@pytest.fixture
def host(extra_plugins: list[object]) -> Any:
    return create_host(extra_plugins=(MemoryPlugin(), *extra_plugins))


@pytest.fixture
def run(tmp_path: Path, state_url: str, host: Any, make_config: Callable[..., Any]) -> Iterator[Callable[..., Any]]:
    """Run the pipeline once against fresh state; keyword arguments become pipeline options."""
    stores: list[StateStore] = []

    def _run(dry_run: bool = False, **pipeline: Any) -> Any:
        config = make_config(tmp_path, state_url, **pipeline)
        store = StateStore(state_url)
        stores.append(store)
        return SyncEngine(config, "customers", store=store, host=host, sleep=lambda s: None).run(dry_run=dry_run)

    yield _run
    for store in stores:
        store.dispose()
