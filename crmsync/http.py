"""HTTP sessions for connectors: every request gets a connect and read timeout.

requests has no default timeout; a session from :func:`new_session` fills in the endpoint's
``(connect, read)`` timeouts on every call that does not give its own, and identifies crmsync
in the User-Agent. Connectors build their sessions here.
"""

from __future__ import annotations

from typing import Any

import requests

from crmsync import __version__


class TimeoutSession(requests.Session):
    """A requests.Session whose requests always carry a timeout."""

    def __init__(self, timeout: tuple[float, float]) -> None:
        super().__init__()
        self.default_timeout = timeout
        self.headers["User-Agent"] = f"crmsync/{__version__}"

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", self.default_timeout)
        return super().request(method, url, *args, **kwargs)


def new_session(timeout: tuple[float, float] = (10.0, 60.0), *, verify: bool | str = True) -> TimeoutSession:
    """A session with default timeouts and TLS verification (a CA bundle path may be given)."""
    session = TimeoutSession(timeout)
    session.verify = verify
    return session


__all__ = ["TimeoutSession", "new_session"]
