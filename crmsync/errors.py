"""The crmsync exception hierarchy, and the error classes the retry policy acts on.

::

    CrmsyncError                      base of everything crmsync raises on purpose
    ├── ConfigError                   bad crmsync.yaml / mapping file (exit code 2)
    │   └── SecretError               a secret in plain text, or a missing env var / keyring entry
    ├── MappingError                  a mapping file cannot be compiled
    ├── RecordError                   one record cannot be mapped / validated (goes to dead letters)
    ├── MassDeleteError               a run would delete more than the pipeline allows (exit 2)
    ├── StateError                    the state database is unreachable or inconsistent (exit 4)
    │   └── LockHeldError             another run holds the pipeline lock (exit 3)
    └── ConnectorError                an endpoint call failed; ``kind`` classifies it
        ├── RetryableError            5xx, timeouts, resets: retry with backoff
        ├── RateLimitedError          429 / REQUEST_LIMIT_EXCEEDED; ``retry_after`` seconds if told
        ├── AuthError                 credentials refused after one refresh
        ├── PermanentError            the request itself is wrong; never retried
        ├── ConflictError             412 stale ETag / ChangeStateID mismatch
        ├── BudgetExceededError       the configured API call budget is used up
        └── UnreachableError          connect failures after retries (exit 4)

``ErrorKind`` names the classes for the ``classify_error`` hook.
"""

from __future__ import annotations

import enum
from typing import Any


class ErrorKind(enum.StrEnum):
    """How the retry policy treats an error."""

    RETRYABLE = "retryable"
    RATE_LIMITED = "rate-limited"
    AUTH = "auth"
    PERMANENT = "permanent"
    CONFLICT = "conflict"
    POISON = "poison"


class CrmsyncError(Exception):
    """Base class of every error crmsync raises on purpose."""

    exit_code = 1


class ConfigError(CrmsyncError):
    """A configuration or mapping file is wrong; the message names file, key path and expectation."""

    exit_code = 2

    def __init__(self, message: str, *, file: str | None = None, path: str | None = None) -> None:
        where = ""
        if file:
            where = f"{file}"
            if path:
                where += f": {path}"
            where += ": "
        elif path:
            where = f"{path}: "
        super().__init__(f"{where}{message}")
        self.file = file
        self.path = path


class SecretError(ConfigError):
    """A secret is written in plain text, or its environment variable / keyring entry is missing."""


class MappingError(ConfigError):
    """A mapping file cannot be compiled (unknown field, converter, bad arguments...)."""


class RecordError(CrmsyncError):
    """One record cannot be mapped or validated. Carries the structured reason for dead letters."""

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        value: Any = None,
        rule: str | None = None,
        problems: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(message)
        self.field = field
        self.value = value
        self.rule = rule
        self.problems = problems or [
            {"field": field, "value": _short(value), "rule": rule, "message": message}
        ]


class MassDeleteError(CrmsyncError):
    """A run would delete or archive more of an endpoint than the pipeline's threshold allows."""

    exit_code = 2


class StateError(CrmsyncError):
    """The state database is unreachable or refuses the operation."""

    exit_code = 4


class LockHeldError(StateError):
    """Another run holds the pipeline's lock."""

    exit_code = 3


class ConnectorError(CrmsyncError):
    """An endpoint call failed. ``kind`` tells the retry policy what to do."""

    kind: ErrorKind = ErrorKind.PERMANENT
    exit_code = 4

    def __init__(
        self,
        message: str,
        *,
        endpoint: str | None = None,
        status: int | None = None,
        code: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        prefix = f"[{endpoint}] " if endpoint else ""
        super().__init__(f"{prefix}{message}")
        self.endpoint = endpoint
        self.status = status
        self.code = code
        self.retry_after = retry_after


class RetryableError(ConnectorError):
    """A transient failure (5xx, timeout, reset, truncated body): safe to retry."""

    kind = ErrorKind.RETRYABLE


class RateLimitedError(ConnectorError):
    """The endpoint asked us to slow down; ``retry_after`` holds its wish in seconds if it said one."""

    kind = ErrorKind.RATE_LIMITED


class AuthError(ConnectorError):
    """Credentials were refused, after one token refresh."""

    kind = ErrorKind.AUTH


class PermanentError(ConnectorError):
    """The request is wrong and repeating it cannot help."""

    kind = ErrorKind.PERMANENT


class ConflictError(ConnectorError):
    """The target changed since we read it (412 stale ETag, ChangeStateID mismatch)."""

    kind = ErrorKind.CONFLICT


class BudgetExceededError(ConnectorError):
    """The per-run or per-day API call budget configured for the endpoint is used up."""

    kind = ErrorKind.RATE_LIMITED


class UnreachableError(RetryableError):
    """The endpoint could not be reached at all (connection refused, DNS, TLS)."""


def _short(value: Any, limit: int = 200) -> Any:
    if isinstance(value, str) and len(value) > limit:
        return value[:limit] + f"... ({len(value)} chars)"
    return value


__all__ = [
    "AuthError",
    "BudgetExceededError",
    "ConfigError",
    "ConflictError",
    "ConnectorError",
    "CrmsyncError",
    "ErrorKind",
    "LockHeldError",
    "MappingError",
    "MassDeleteError",
    "PermanentError",
    "RateLimitedError",
    "RecordError",
    "RetryableError",
    "SecretError",
    "StateError",
    "UnreachableError",
]
