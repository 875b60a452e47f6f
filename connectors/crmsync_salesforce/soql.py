"""SOQL text the connector sends: literal quoting, datetime literals, field-name checks.

Nothing outside this module builds SOQL from data. String literals are escaped the way
Salesforce documents it (backslash first, then quotes and control characters); ``%`` and ``_``
are escaped only for LIKE patterns, because outside LIKE ``\\_`` is a malformed literal.
"""

from __future__ import annotations

import datetime as dt
import re

_ESCAPES = (
    ("\\", "\\\\"),  # first, so the escapes added below are not escaped again
    ("'", "\\'"),
    ('"', '\\"'),
    ("\n", "\\n"),
    ("\r", "\\r"),
    ("\t", "\\t"),
    ("\b", "\\b"),
    ("\f", "\\f"),
)
_FIELD = re.compile(r"^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)*$")
_OBJECT = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


def soql_quote(value: str) -> str:
    """``value`` as a quoted SOQL string literal, safe for ``=``, ``!=``, ``<``, ``IN``.

    Raises ValueError for a NUL character, which SOQL cannot express.
    """
    if not isinstance(value, str):
        raise TypeError(f"soql_quote expects str, got {type(value).__name__}")
    if "\x00" in value:
        raise ValueError("a SOQL string literal cannot contain a NUL character")
    for raw, escaped in _ESCAPES:
        value = value.replace(raw, escaped)
    return f"'{value}'"


def soql_like_quote(value: str) -> str:
    """``value`` as a quoted LIKE pattern that matches it literally (``%`` and ``_`` escaped)."""
    quoted = soql_quote(value)[1:-1]
    return "'" + quoted.replace("%", "\\%").replace("_", "\\_") + "'"


def parse_datetime(value: str) -> dt.datetime:
    """Parse an ISO 8601 / Salesforce datetime (``...Z``, ``...+0000``, ``...+00:00``) to aware UTC."""
    text = value.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    match = re.match(r"^(.*[T ]\d{2}:\d{2}:\d{2}(?:\.\d+)?)([+-])(\d{2}):?(\d{2})$", text)
    if match:
        text = f"{match.group(1)}{match.group(2)}{match.group(3)}:{match.group(4)}"
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"not an ISO 8601 datetime: {value!r}") from None
    if parsed.tzinfo is None:
        raise ValueError(f"datetime without a time zone: {value!r}")
    return parsed.astimezone(dt.UTC)


def cursor_timestamp(value: str) -> str:
    """The fixed cursor form of a Salesforce datetime: ``2026-11-23T10:00:00.000Z`` (UTC, ms).

    One format for every record, so comparing cursor strings compares times.
    """
    parsed = parse_datetime(value)
    return parsed.strftime("%Y-%m-%dT%H:%M:%S.") + f"{parsed.microsecond // 1000:03d}Z"


def soql_datetime(value: str | dt.datetime) -> str:
    """An unquoted SOQL datetime literal, re-rendered from a parsed value (never passed through)."""
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            raise ValueError("naive datetime; give a time zone")
        value = value.isoformat()
    return cursor_timestamp(value)


def check_field_name(name: str) -> str:
    """``name`` if it is a plain (or dotted relationship) field name, else ValueError."""
    if not _FIELD.match(name):
        raise ValueError(f"not a Salesforce field name: {name!r}")
    return name


def check_object_name(name: str) -> str:
    """``name`` if it is a plain sObject name, else ValueError."""
    if not _OBJECT.match(name):
        raise ValueError(f"not a Salesforce object name: {name!r}")
    return name


__all__ = [
    "check_field_name",
    "check_object_name",
    "cursor_timestamp",
    "parse_datetime",
    "soql_datetime",
    "soql_like_quote",
    "soql_quote",
]
