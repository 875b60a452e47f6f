"""Fixtures for the SAP OData connector tests: the fake Gateway and a connector factory."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from crmsync.connector import EndpointContext
from crmsync.retry import RetryPolicy
from crmsync_sap.fake_odata import FakeSapOData
from crmsync_sap.fixtures import fake_sap_odata  # noqa: F401
from crmsync_sap.odata import SapODataConnector


class Sleeps(list[float]):
    """Records the waits the retry policy asked for, instead of sleeping."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def connect(sleeps: Sleeps) -> Callable[..., SapODataConnector]:
    def build(fake: FakeSapOData, fields: tuple[str, ...] = (), **options: Any) -> SapODataConnector:
        info = fake.info()
        opts = {"service_url": info["url"], "username": info["username"], "password": info["password"],
                **options}
        context = EndpointContext(name="sap", object="A_BusinessPartner", options=opts, fields=fields,
                                  retry=RetryPolicy(max_attempts=4, sleep=sleeps))
        return SapODataConnector(context)

    return build
