"""The pytest fixture ``fake_sap_soap``: a :class:`FakeSapSoap` on a free loopback port per test.

Import it in a ``conftest.py``: ``from crmsync_sap.soap_fixtures import fake_sap_soap  # noqa: F401``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from crmsync_sap.fake_soap import FakeSapSoap


@pytest.fixture
def fake_sap_soap() -> Iterator[FakeSapSoap]:
    """A started fake SAP SOAP customer service with 25 generated customers (seed 7)."""
    server = FakeSapSoap(records=25, seed=7)
    server.start()
    try:
        yield server
    finally:
        server.stop()


__all__ = ["fake_sap_soap"]
