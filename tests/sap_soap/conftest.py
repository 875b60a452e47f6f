"""Shared fixtures of the sap-soap tests: the fake service and a connector factory bound to it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest

from crmsync.connector import EndpointContext
from crmsync.retry import RetryPolicy
from crmsync_sap.fake_soap import FakeSapSoap
from crmsync_sap.soap import SapSoapConnector
from crmsync_sap.soap_fixtures import fake_sap_soap  # noqa: F401


@pytest.fixture
def sleeps() -> list[float]:
    """Backoff waits the retry policy asked for (nothing really sleeps)."""
    return []


@pytest.fixture
def make_connector(fake_sap_soap: FakeSapSoap, sleeps: list[float]) -> Callable[..., SapSoapConnector]:  # noqa: F811
    def build(retry: RetryPolicy | None = None, **options: Any) -> SapSoapConnector:
        info = fake_sap_soap.info()
        merged = {"endpoint_url": info["url"], "username": info["username"], "password": info["password"],
                  **options}
        policy = retry or RetryPolicy(max_attempts=3, initial_wait=0.01, read_timeout=10, sleep=sleeps.append)
        connector = SapSoapConnector(EndpointContext(name="sap-soap-test", object="Customer", options=merged,
                                                     retry=policy))
        # Reads in these tests look at changes made moments ago: let them lie behind the settle window.
        connector.clock = lambda: dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1)
        return connector

    return build
