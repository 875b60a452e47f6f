"""Cell values: native spreadsheet values to payload text, payload values to cell text, formula safety.

Everything the connector hands the host is text: ids keep their leading zeros, numbers are
written without float noise (``1000`` not ``1000.0``), dates become ISO strings. Everything it
writes is text as well, and text that a spreadsheet program would run as a formula (it starts
with ``= + - @ TAB CR``) is neutralised: in CSV with a leading ``'`` that :func:`csv_unescape`
strips again on read, so a round trip is stable.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from decimal import Decimal
from typing import Any

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
"""First characters that make Excel / LibreOffice treat a cell as a formula (CSV injection)."""

QUOTE = "'"

XLSX_MAX_CELL = 32767
"""Excel's limit on characters in a cell; openpyxl silently truncates longer text."""

XML_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
"""Control characters XML 1.0 (so XLSX) cannot hold; openpyxl refuses them too."""


def is_formula_like(text: str) -> bool:
    """True when a spreadsheet program would evaluate ``text`` typed into a cell."""
    return text.startswith(FORMULA_TRIGGERS)


def csv_escape(text: str) -> str:
    """Prefix formula-like text with ``'`` (OWASP CSV-injection advice); other text unchanged.

    Genuine negative numbers (``-5``) are prefixed too: one rule for every cell is safer than
    guessing which columns are numeric, and :func:`csv_unescape` restores them on read. Text
    that already starts with quotes before a formula character (``'=x``) gets one more, so
    that reading it back returns exactly what was written.
    """
    return QUOTE + text if is_formula_like(text.lstrip(QUOTE)) else text


def csv_unescape(text: str) -> str:
    """Undo :func:`csv_escape`: strip one leading ``'`` only when formula-like text follows
    (after any further quotes); ``'quoted`` and ``''`` stay as they are."""
    if text.startswith(QUOTE) and is_formula_like(text.lstrip(QUOTE)):
        return text[1:]
    return text


def number_text(value: float) -> str:
    """A float as people write it: ``1000`` not ``1000.0``, ``0.1`` not ``0.1000000000000001``.

    Excel keeps 15 significant digits, so anything beyond is binary noise.
    """
    if math.isnan(value) or math.isinf(value):
        return str(value)
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.15g}"


def cell_text(value: Any) -> str:
    """A native cell value (openpyxl or csv) as payload text."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return number_text(value)
    if isinstance(value, dt.datetime):
        # Date-formatted cells come as midnight datetimes: a date is what the user typed.
        if value.time() == dt.time(0) and value.tzinfo is None:
            return value.date().isoformat()
        return value.isoformat()
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return str(value)
    return str(value)


def outbound_text(value: Any) -> str:
    """A payload value from the host as the text to store in a cell.

    Raises ValueError for values a spreadsheet cannot hold faithfully (NaN, infinities, nested
    mappings); the connector turns that into a per-record rejection.
    """
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            raise ValueError(f"{value!r} is not a finite number")
        return number_text(value)
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"{value!r} is not a finite number")
        return format(value, "f")
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            utc: dt.datetime = value.astimezone(dt.UTC).replace(tzinfo=None)
            return utc.isoformat() + "Z"
        return value.isoformat()
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, list | tuple):
        # Lossless and unambiguous; a mapping converter can split it again.
        return str(json.dumps(list(value), ensure_ascii=False, default=str))
    raise ValueError(f"a {type(value).__name__} cannot be stored in a spreadsheet cell")


__all__ = [
    "FORMULA_TRIGGERS",
    "XLSX_MAX_CELL",
    "XML_ILLEGAL",
    "cell_text",
    "csv_escape",
    "csv_unescape",
    "is_formula_like",
    "number_text",
    "outbound_text",
]
