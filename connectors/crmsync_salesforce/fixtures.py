"""pytest fixtures for code that talks to Salesforce: a fake org on a free loopback port.

Import them into a conftest.py: ``from crmsync_salesforce.fixtures import fake_salesforce  # noqa: F401``.
:func:`salesforce_options` turns a running fake into connector options.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from crmsync_salesforce.fake import FakeSalesforce


def salesforce_options(fake: FakeSalesforce, **overrides: Any) -> dict[str, Any]:
    """Connector options (client credentials) for ``fake``, with ``overrides`` applied."""
    info = fake.info()
    return {"instance_url": info["url"], "auth": "client_credentials", "client_id": info["client_id"],
            "client_secret": info["client_secret"], "api_version": fake.api_version, **overrides}


@pytest.fixture
def fake_salesforce() -> Iterator[FakeSalesforce]:
    """An empty started :class:`FakeSalesforce`; add rows with ``fake.add(...)`` or ``fake.load(...)``."""
    fake = FakeSalesforce()
    fake.start()
    try:
        yield fake
    finally:
        fake.stop()


__all__ = ["fake_salesforce", "salesforce_options"]
