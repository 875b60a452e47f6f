"""The OData v2 wire format as SAP Gateway speaks it, shared by the connector and the fake.

Owns: literal quoting for ``$filter`` (:func:`odata_quote`, ``datetime''`` and ``time''``
literals), the JSON value encodings (``/Date(ms)/``, ``PT13H45M00S``), the SAP error body
(:func:`parse_sap_error`), and ``$batch`` multipart encoding and decoding
(:class:`BatchPart`, :func:`encode_batch`, :func:`decode_batch`). Nothing here does I/O.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

_DATE_RE = re.compile(r"^/Date\((-?\d+)([+-]\d{4})?\)/$", re.ASCII)  # ASCII: int() takes any digit
_TIME_RE = re.compile(r"^PT(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)(?:\.(\d+))?S)?$", re.ASCII)
EPOCH = dt.datetime(1970, 1, 1)


def odata_quote(value: str) -> str:
    """An OData v2 string literal: single quotes around ``value`` with every ``'`` doubled.

    The only escape OData v2 knows inside a string literal is the doubled quote; the caller
    URL-encodes the whole ``$filter`` afterwards (requests does), so ``&``, ``#`` and ``+`` are safe.
    NUL and other control characters cannot be represented and are refused.
    """
    if not isinstance(value, str):
        raise TypeError(f"odata_quote expects str, got {type(value).__name__}")
    if any(ord(ch) < 0x20 for ch in value):
        raise ValueError("control characters cannot be sent in an OData string literal")
    return "'" + value.replace("'", "''") + "'"


def datetime_literal(value: dt.datetime) -> str:
    """``datetime'2026-11-23T00:00:00'`` (Edm.DateTime has no zone; SAP means UTC)."""
    return f"datetime'{value.strftime('%Y-%m-%dT%H:%M:%S')}'"


def time_literal(value: dt.timedelta) -> str:
    """``time'PT13H45M00S'``."""
    return f"time'{format_time(value)}'"


def format_date(value: dt.datetime | dt.date) -> str:
    """``/Date(ms)/`` for an Edm.DateTime (naive datetimes are UTC)."""
    if not isinstance(value, dt.datetime):
        value = dt.datetime(value.year, value.month, value.day)
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    millis = (value - EPOCH) // dt.timedelta(milliseconds=1)
    return f"/Date({millis})/"


def parse_date(text: str) -> dt.datetime:
    """A naive UTC datetime from ``/Date(ms)/`` or ``/Date(ms+0100)/``; ValueError otherwise."""
    match = _DATE_RE.match(text.strip()) if isinstance(text, str) else None
    if not match:
        raise ValueError(f"not an OData v2 date: {text!r}")
    try:
        return EPOCH + dt.timedelta(milliseconds=int(match.group(1)))
    except OverflowError:
        raise ValueError(f"OData v2 date out of range: {text!r}") from None


def format_time(value: dt.timedelta) -> str:
    """``PT13H45M00S`` for an Edm.Time (seconds precision, as SAP sends it)."""
    seconds = int(value.total_seconds())
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"PT{hours:02d}H{minutes:02d}M{secs:02d}S"


def parse_time(text: str) -> dt.timedelta:
    """A timedelta from ``PT13H45M00S`` (fractional seconds dropped); ValueError otherwise."""
    match = _TIME_RE.match(text.strip()) if isinstance(text, str) else None
    if not match or text.strip() == "PT":
        raise ValueError(f"not an OData v2 time: {text!r}")
    hours, minutes, secs = (int(g) if g else 0 for g in match.groups()[:3])
    return dt.timedelta(hours=hours, minutes=minutes, seconds=secs)


def cursor_timestamp(date: dt.datetime, time: dt.timedelta | None) -> str:
    """The fixed-format ISO cursor ``YYYY-MM-DDTHH:MM:SSZ`` from a date and a time of day."""
    moment = dt.datetime(date.year, date.month, date.day) + (time or dt.timedelta())
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def split_cursor_timestamp(timestamp: str) -> tuple[dt.datetime, dt.timedelta]:
    """The inverse of :func:`cursor_timestamp`: (midnight of the day, time of day)."""
    moment = dt.datetime.strptime(timestamp, "%Y-%m-%dT%H:%M:%SZ")
    day = dt.datetime(moment.year, moment.month, moment.day)
    return day, moment - day


@dataclass
class SapError:
    """The parts of an SAP Gateway error body a caller acts on."""

    code: str
    message: str
    details: list[dict[str, Any]] = field(default_factory=list)


def parse_sap_error(body: bytes | str, status: int | None = None) -> SapError:
    """Read ``{"error": {"code", "message": {"value"}, "innererror": {"errordetails"}}}``.

    Bodies that are not SAP JSON (an HTML 502 from a proxy, XML from an ICF handler) give the
    status and the start of the text, so the message stays useful without dumping a page.
    """
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, dict):
        message = error.get("message")
        value = message.get("value") if isinstance(message, dict) else message
        inner_raw = error.get("innererror")
        inner: dict[str, Any] = inner_raw if isinstance(inner_raw, dict) else {}
        details = inner.get("errordetails") or []
        return SapError(str(error.get("code") or ""), str(value or ""),
                        [d for d in details if isinstance(d, dict)])
    snippet = " ".join(text.split())[:200]
    return SapError(f"HTTP{status}" if status else "", snippet or f"HTTP {status}")


def error_body(code: str, message: str, details: Sequence[Mapping[str, Any]] = ()) -> dict[str, Any]:
    """An SAP Gateway error body (used by the fake; kept here so both sides agree)."""
    transaction = uuid.uuid4().hex.upper()
    return {
        "error": {
            "code": code,
            "message": {"lang": "en", "value": message},
            "innererror": {
                "application": {"component_id": "LO-MD-BP", "service_namespace": "/SAP/",
                                "service_id": "API_BUSINESS_PARTNER", "service_version": "0001"},
                "transactionid": transaction,
                "timestamp": dt.datetime.now(dt.UTC).strftime("%Y%m%d%H%M%S.%f0"),
                "Error_Resolution": {
                    "SAP_Transaction": "For backend administrators: use ADT feed reader "
                                       "\"SAP Gateway Error Log\" or run transaction /IWFND/ERROR_LOG "
                                       "on SAP Gateway hub system and search for entries with the "
                                       "timestamp above for more details",
                    "SAP_Note": "See SAP Note 1797736 for error analysis",
                },
                "errordetails": [dict(d) for d in details],
            },
        }
    }


# -- $batch -------------------------------------------------------------------------------

@dataclass
class BatchPart:
    """One HTTP request or response inside a ``$batch`` body.

    For a request ``method`` and ``url`` are set (url relative to the service root); for a
    response ``status`` is. ``changeset`` numbers the changeset a part belongs to (``None``:
    a top-level part such as a GET, or a changeset answered by a single error).
    """

    method: str = ""
    url: str = ""
    status: int = 0
    reason: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    changeset: int | None = None

    def json(self) -> Any:
        return json.loads(self.body) if self.body.strip() else None

    def header(self, name: str) -> str | None:
        wanted = name.lower()
        for key, value in self.headers.items():
            if key.lower() == wanted:
                return value
        return None


def _http_block(first_line: str, headers: Mapping[str, str], body: bytes) -> bytes:
    lines = [first_line, *(f"{k}: {v}" for k, v in headers.items())]
    head = "\r\n".join(lines).encode("utf-8")
    return head + b"\r\n\r\n" + body


def _part(block: bytes) -> bytes:
    return (b"Content-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\n"
            + block + b"\r\n")


def _boundary(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex}"


def encode_batch(groups: Sequence[Sequence[BatchPart]], *, responses: bool = False,
                 boundary: str | None = None) -> tuple[bytes, str]:
    """Encode a ``$batch`` body; return (body, Content-Type header value).

    ``groups`` are changesets (lists of parts); a group holding one GET request, or (for
    responses) one part with ``changeset=None``, is written as a top-level part, as OData v2
    requires for reads and for a failed changeset's single error answer.
    """
    outer = boundary or _boundary("batch")
    chunks: list[bytes] = []
    for group in groups:
        top_level = (len(group) == 1 and (
            (not responses and group[0].method.upper() == "GET")
            or (responses and group[0].changeset is None)))
        if top_level:
            chunks.append(f"--{outer}\r\n".encode() + _part(_encode_one(group[0], responses)))
            continue
        inner = _boundary("changeset")
        body = b"".join(f"--{inner}\r\n".encode() + _part(_encode_one(p, responses)) for p in group)
        body += f"--{inner}--\r\n".encode()
        chunks.append(f"--{outer}\r\nContent-Type: multipart/mixed; boundary={inner}\r\n\r\n".encode()
                      + body)
    payload = b"".join(chunks) + f"--{outer}--\r\n".encode()
    return payload, f"multipart/mixed; boundary={outer}"


def _encode_one(part: BatchPart, response: bool) -> bytes:
    headers = dict(part.headers)
    if part.body:
        headers.setdefault("Content-Type", "application/json")
        headers["Content-Length"] = str(len(part.body))
    if response:
        return _http_block(f"HTTP/1.1 {part.status} {part.reason or _REASONS.get(part.status, '')}".rstrip(),
                           headers, part.body)
    return _http_block(f"{part.method.upper()} {part.url} HTTP/1.1", headers, part.body)


_REASONS = {200: "OK", 201: "Created", 202: "Accepted", 204: "No Content", 400: "Bad Request",
            401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
            409: "Conflict", 412: "Precondition Failed", 428: "Precondition Required",
            500: "Internal Server Error"}


def reason(status: int) -> str:
    """The standard reason phrase of ``status`` (as SAP writes it in batch parts)."""
    return _REASONS.get(status, "")


def boundary_of(content_type: str | None) -> str:
    """The ``boundary`` parameter of a multipart Content-Type; ValueError if missing."""
    match = re.search(r'boundary="?([^";]+)"?', content_type or "", re.IGNORECASE)
    if not match:
        raise ValueError(f"multipart Content-Type without boundary: {content_type!r}")
    return match.group(1).strip()


def _split_parts(body: bytes, boundary: str) -> list[bytes]:
    delimiter = b"--" + boundary.encode()
    pieces = body.split(delimiter)
    parts: list[bytes] = []
    for piece in pieces[1:]:
        if piece.startswith(b"--"):
            break
        parts.append(piece.lstrip(b"\r\n").removesuffix(b"\n").removesuffix(b"\r"))
    return parts


def _split_head(block: bytes) -> tuple[list[str], bytes]:
    match = re.search(rb"\r?\n\r?\n", block)
    if not match:
        return block.decode("utf-8", "replace").splitlines(), b""
    head = block[: match.start()].decode("utf-8", "replace").splitlines()
    return head, block[match.end():]


def _headers(lines: Sequence[str]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for line in lines:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip()] = value.strip()
    return headers


def _decode_http(block: bytes, changeset: int | None) -> BatchPart:
    head, body = _split_head(block)
    if not head:
        raise ValueError("empty HTTP block in $batch part")
    first, headers = head[0].strip(), _headers(head[1:])
    length = headers.get("Content-Length") or headers.get("content-length")
    body = body[: int(length)] if length and length.isdigit() else body.rstrip(b"\r\n")
    if first.upper().startswith("HTTP/"):
        _, status, *rest = first.split(" ", 2)
        return BatchPart(status=int(status), reason=rest[0] if rest else "", headers=headers,
                         body=body, changeset=changeset)
    method, url, *_ = first.split(" ")
    return BatchPart(method=method.upper(), url=url, headers=headers, body=body, changeset=changeset)


def decode_batch(body: bytes, content_type: str | None) -> list[list[BatchPart]]:
    """Decode a ``$batch`` request or response body into groups of parts.

    A group is a changeset's parts (all with the same ``changeset`` number) or one top-level
    part (``changeset=None``). ValueError on a body that is not multipart as announced.
    """
    groups: list[list[BatchPart]] = []
    changesets = 0
    for raw in _split_parts(body, boundary_of(content_type)):
        head, inner = _split_head(raw)
        headers = _headers(head)
        ctype = next((v for k, v in headers.items() if k.lower() == "content-type"), "")
        if ctype.lower().startswith("multipart/mixed"):
            changesets += 1
            parts = [_decode_http(_split_head(p)[1], changesets)
                     for p in _split_parts(inner, boundary_of(ctype))]
            groups.append(parts)
        else:
            groups.append([_decode_http(inner, None)])
    return groups


__all__ = [
    "BatchPart",
    "SapError",
    "boundary_of",
    "cursor_timestamp",
    "datetime_literal",
    "decode_batch",
    "encode_batch",
    "error_body",
    "format_date",
    "format_time",
    "odata_quote",
    "parse_date",
    "parse_sap_error",
    "parse_time",
    "reason",
    "split_cursor_timestamp",
    "time_literal",
]
