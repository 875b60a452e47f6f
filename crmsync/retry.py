"""The one place that retries: a tenacity policy driven by error classification.

Connectors raise classified :mod:`crmsync.errors` (or let requests/zeep exceptions through);
:func:`call` runs a connector call under the endpoint's :class:`RetryPolicy`: exponential
backoff with jitter, bounded attempts and total time, ``Retry-After`` honoured, permanent and
auth errors never retried, non-idempotent calls never retried unless marked safe. The
``classify_error`` hook can reclassify any exception. No other module sleeps or retries.
"""

from __future__ import annotations

import email.utils
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import requests
import tenacity

from crmsync.errors import (
    ConnectorError,
    ErrorKind,
    PermanentError,
    RateLimitedError,
    RetryableError,
    UnreachableError,
)

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    """Retry settings of one endpoint (``retry:`` in the endpoint config)."""

    max_attempts: int = 5
    """Attempts per call, the first included."""
    initial_wait: float = 0.5
    """First backoff in seconds; doubles per attempt, with jitter."""
    max_wait: float = 30.0
    """Cap of one backoff, and of a Retry-After we agree to honour."""
    max_total: float = 120.0
    """Give up a call after this many seconds of retrying."""
    connect_timeout: float = 10.0
    """Seconds to establish a connection (every HTTP call has one)."""
    read_timeout: float = 60.0
    """Seconds to wait for response bytes."""
    max_run_total: float = 600.0
    """Seconds all retries of one endpoint may wait in one run, together; then calls fail at once."""
    spent: dict[str, float] = field(default_factory=lambda: {"seconds": 0.0}, compare=False, repr=False)
    """Waited so far in this run (a policy is built per endpoint per run)."""
    sleep: Callable[[float], None] = field(default=time.sleep, compare=False, repr=False)
    """Injected for tests, so nothing waits."""

    @classmethod
    def from_options(cls, options: Mapping[str, Any] | None,
                     sleep: Callable[[float], None] | None = None) -> RetryPolicy:
        """Build from an endpoint's ``retry:`` mapping (unknown keys are a config error upstream)."""
        values: dict[str, Any] = {k: float(v) if k != "max_attempts" else int(v) for k, v in (options or {}).items()}
        if sleep is not None:
            values["sleep"] = sleep
        return cls(**values)

    @property
    def timeout(self) -> tuple[float, float]:
        """(connect, read) for requests."""
        return (self.connect_timeout, self.read_timeout)


Classifier = Callable[[BaseException, dict[str, Any]], ErrorKind | None]


def classify(error: BaseException, context: dict[str, Any] | None = None,
             hook: Classifier | None = None) -> ErrorKind:
    """The kind of ``error``: the ``classify_error`` hook first, then built-in rules."""
    if hook is not None:
        kind = hook(error, context or {})
        if kind is not None:
            return kind
    if isinstance(error, ConnectorError):
        return error.kind
    if isinstance(error, requests.ConnectionError | requests.Timeout):
        return ErrorKind.RETRYABLE
    if isinstance(error, requests.exceptions.ChunkedEncodingError | requests.exceptions.ContentDecodingError):
        return ErrorKind.RETRYABLE
    return ErrorKind.PERMANENT


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP-date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def call(
    fn: Callable[[], T],
    policy: RetryPolicy,
    *,
    endpoint: str,
    operation: str,
    idempotent: bool = True,
    classifier: Classifier | None = None,
) -> T:
    """Run ``fn`` under ``policy``; re-raise the last error as a crmsync error when giving up."""
    context = {"endpoint": endpoint, "operation": operation}
    started = time.monotonic()
    backoff = tenacity.wait_random_exponential(multiplier=policy.initial_wait, max=policy.max_wait)

    def should_retry(state: tenacity.RetryCallState) -> bool:
        exc = state.outcome.exception() if state.outcome else None
        if exc is None or not idempotent:
            return False
        kind = classify(exc, context, classifier)
        return kind in (ErrorKind.RETRYABLE, ErrorKind.RATE_LIMITED)

    def wait(state: tenacity.RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        told = exc.retry_after if isinstance(exc, ConnectorError) else None
        seconds = min(told, policy.max_wait) if told is not None else backoff(state)
        # our own errors say what failed; a library's message may quote a URL or header: only its type
        reason = str(exc) if isinstance(exc, ConnectorError) else type(exc).__name__
        log.warning("%s %s failed (%s); attempt %d, retrying in %.1fs",
                    endpoint, operation, reason, state.attempt_number, seconds)
        return float(seconds)

    def sleep(seconds: float) -> None:
        policy.spent["seconds"] += seconds
        policy.sleep(seconds)

    class OutOfTime(tenacity.stop.stop_base):
        def __call__(self, state: tenacity.RetryCallState) -> bool:
            return (time.monotonic() - started >= policy.max_total
                    or policy.spent["seconds"] >= policy.max_run_total)

    retrying = tenacity.Retrying(
        retry=should_retry,
        wait=wait,
        stop=tenacity.stop_after_attempt(policy.max_attempts) | OutOfTime(),
        sleep=sleep,
        reraise=True,
    )
    try:
        return retrying(fn)
    except ConnectorError:
        raise
    except (requests.ConnectionError, requests.Timeout) as exc:
        raise UnreachableError(f"{operation} failed: {type(exc).__name__}", endpoint=endpoint) from exc
    except (requests.exceptions.ChunkedEncodingError, requests.exceptions.ContentDecodingError) as exc:
        raise RetryableError(f"{operation} failed: {type(exc).__name__}", endpoint=endpoint) from exc
    except requests.RequestException as exc:
        # Only the type: the message of e.g. InvalidHeader quotes the header value, a token maybe.
        raise PermanentError(f"{operation} failed: {type(exc).__name__}", endpoint=endpoint) from None


__all__ = ["RateLimitedError", "RetryPolicy", "call", "classify", "parse_retry_after"]
