"""Fixtures for the Salesforce tests: the fake org and a connector factory pointed at it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from crmsync.connector import EndpointContext
from crmsync.retry import RetryPolicy
from crmsync_salesforce.connector import SalesforceConnector
from crmsync_salesforce.fake import FakeSalesforce
from crmsync_salesforce.fixtures import fake_salesforce, salesforce_options  # noqa: F401

MakeConnector = Callable[..., SalesforceConnector]


@pytest.fixture
def sleeps() -> list[float]:
    """Waits the retry policy asked for (nothing really sleeps)."""
    return []


@pytest.fixture
def make_connector(fake_salesforce: FakeSalesforce, sleeps: list[float]) -> MakeConnector:  # noqa: F811
    def make(fields: tuple[str, ...] = (), fake: FakeSalesforce | None = None, max_attempts: int = 4,
             **options: Any) -> SalesforceConnector:
        org = fake or fake_salesforce
        context = EndpointContext(
            name="sf", object="Account", options=salesforce_options(org, **options), fields=fields,
            retry=RetryPolicy(max_attempts=max_attempts, sleep=sleeps.append),
        )
        return SalesforceConnector(context)

    return make
