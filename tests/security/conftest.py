"""Fixtures of the security suite: the fault suite's :class:`sync_rig.Rig` (tests/faults/sync_rig.py)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "faults"))

from sync_rig import Rig, make_rig


@pytest.fixture
def rig(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Rig]:
    """A rig whose state lives in SQLite under tmp_path."""
    yield from make_rig(tmp_path, f"sqlite:///{tmp_path / 'state.db'}", monkeypatch)
