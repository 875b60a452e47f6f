"""Pytest fixtures for the SAP OData fake: import them in a conftest.py.

``from crmsync_sap.fixtures import fake_sap_odata  # noqa: F401``
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from crmsync_sap.fake_odata import FakeSapOData


@pytest.fixture
def fake_sap_odata() -> Iterator[FakeSapOData]:
    """A started :class:`FakeSapOData` with 25 generated partners and page size 10."""
    server = FakeSapOData(records=25, seed=7, page_size=10)
    server.start()
    try:
        yield server
    finally:
        server.stop()


__all__ = ["fake_sap_odata"]
