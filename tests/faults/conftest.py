"""Fixtures of the fault suite: a :class:`sync_rig.Rig` on SQLite, or on every backend via ``state_url``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sync_rig import Rig, make_rig


@pytest.fixture
def rig(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Rig]:
    """A rig whose state lives in SQLite under tmp_path."""
    yield from make_rig(tmp_path, f"sqlite:///{tmp_path / 'state.db'}", monkeypatch)


@pytest.fixture
def any_rig(tmp_path: Path, state_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Rig]:
    """A rig on each state backend (SQLite, PostgreSQL, MariaDB)."""
    yield from make_rig(tmp_path, state_url, monkeypatch)
