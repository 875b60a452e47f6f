"""Fixtures of the two-way scenarios: in-memory pipelines and a SAP + Salesforce + spreadsheet landscape.

Everything runs on SQLite in ``tmp_path``; the fake servers listen on 127.0.0.1 only, and their
secrets reach the configuration through ``${ENV}`` references set with ``monkeypatch.setenv``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from twoway_helpers import MEMORY_MAPPING, Landscape, MemoryPipeline

from crmsync.mapping import CompiledMapping, compile_mapping
from crmsync.plugins import PluginHost, create_host
from crmsync.testing import MEMORY_TABLES, MemoryPlugin


@pytest.fixture(autouse=True)
def _clean_tables() -> Iterator[None]:
    MEMORY_TABLES.clear()
    yield
    MEMORY_TABLES.clear()


@pytest.fixture(scope="session")
def memory_host() -> PluginHost:
    return create_host(extra_plugins=(MemoryPlugin(),))


@pytest.fixture(scope="session")
def memory_mapping(memory_host: PluginHost) -> CompiledMapping:
    return compile_mapping(MEMORY_MAPPING, memory_host.converters)


@pytest.fixture
def memory_pipeline(tmp_path: Path, memory_host: PluginHost,
                    memory_mapping: CompiledMapping) -> Iterator[Callable[..., MemoryPipeline]]:
    """Build a :class:`MemoryPipeline`: ``deletes`` maps endpoint name -> delete policy, in pipeline order."""
    made: list[MemoryPipeline] = []

    def _make(deletes: dict[str, str] | None = None, **pipeline: Any) -> MemoryPipeline:
        made.append(MemoryPipeline(tmp_path, memory_host, memory_mapping,
                                   deletes or {"erp": "ignore", "crm": "ignore"}, **pipeline))
        return made[-1]

    yield _make
    for pipe in made:
        pipe.close()


@pytest.fixture
def landscape(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Landscape]:
    """A started :class:`Landscape` (stopped after the test)."""
    world = Landscape(tmp_path, monkeypatch)
    world.start()
    monkeypatch.chdir(tmp_path)
    try:
        yield world
    finally:
        world.stop()
