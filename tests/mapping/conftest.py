"""Helpers for the mapping tests: write a mapping file and compile it."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from crmsync.mapping import CompiledMapping, compile_mapping

MAPPINGS = Path(__file__).resolve().parents[2] / "mappings"


@pytest.fixture
def write_mapping(tmp_path: Path) -> Callable[[str], Path]:
    def write(text: str, name: str = "test.yaml") -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
        return path

    return write


@pytest.fixture
def compile_text(write_mapping: Callable[[str], Path]) -> Callable[[str], CompiledMapping]:
    def build(text: str) -> CompiledMapping:
        return compile_mapping(write_mapping(text))

    return build
