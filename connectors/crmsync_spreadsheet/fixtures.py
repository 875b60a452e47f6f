"""Pytest fixtures for tests that need a spreadsheet endpoint (no fake server: files are local).

``spreadsheet_endpoint`` is a factory: ``spreadsheet_endpoint(path, **options)`` builds a
:class:`SpreadsheetConnector` the way the host does, with the path under the test's tmp_path
unless it is absolute. Import it in a conftest.py:
``from crmsync_spreadsheet.fixtures import spreadsheet_endpoint  # noqa: F401``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from crmsync.connector import EndpointContext
from crmsync_spreadsheet.connector import SpreadsheetConnector

EndpointFactory = Callable[..., SpreadsheetConnector]


@pytest.fixture
def spreadsheet_endpoint(tmp_path: Path) -> EndpointFactory:
    def build(path: str | Path, *, fields: tuple[str, ...] = (), name: str = "sheet",
              **options: Any) -> SpreadsheetConnector:
        target = Path(path)
        if not target.is_absolute():
            target = tmp_path / target
        context = EndpointContext(name=name, object=target.name,
                                  options={"path": str(target), **options}, fields=fields)
        return SpreadsheetConnector(context)

    return build


__all__ = ["EndpointFactory", "spreadsheet_endpoint"]
