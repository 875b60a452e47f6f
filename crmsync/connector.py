"""The Connector base class: what a connector author subclasses, and the records it exchanges.

A connector talks to one kind of system. It declares what it is (``name``, ``objects``,
``key_field``, ``cursor_field``, ``capabilities``, ``batch_size``) and implements three methods:

* :meth:`Connector.read_changes` yields :class:`RawRecord` s changed since a :class:`Cursor`,
  in cursor order, each carrying the cursor *after* it;
* :meth:`Connector.write_batch` writes up to ``batch_size`` :class:`OutboundRecord` s and returns
  one :class:`WriteResult` per input, in input order;
* :meth:`Connector.describe` returns :class:`FieldInfo` per source field, for mapping checks.

Paging inside a read is the connector's own business (it knows the protocol); batching,
retries, checkpoints, hashing, mapping and dead letters are the host's. Writes must be
idempotent: an :class:`OutboundRecord` carries the hub id, which the connector uses as an
upsert key (an external id field, a column), so a batch repeated after a crash creates nothing twice.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from crmsync.errors import ErrorKind
from crmsync.retry import Classifier, RetryPolicy

READ = "read"
WRITE = "write"
DELETE = "delete"
BULK = "bulk"


@dataclass(frozen=True, order=True)
class Cursor:
    """A position in an endpoint's change stream: (change time, record id) with id as tie-break.

    ``timestamp`` is an ISO 8601 string in UTC as the endpoint orders it, so comparing cursors
    compares (timestamp, id) pairs.
    """

    timestamp: str
    id: str = ""

    def minus(self, seconds: float) -> Cursor:
        """The cursor moved back by ``seconds`` (id cleared), in the same timestamp format."""
        try:
            when = dt.datetime.fromisoformat(self.timestamp.replace("Z", "+00:00"))
        except ValueError:
            return self
        if seconds <= 0:
            return self
        earlier = when - dt.timedelta(seconds=seconds)
        digits = len(self.timestamp.partition(".")[2].rstrip("Z").partition("+")[0])
        fraction = f".{earlier.microsecond:06d}"[: digits + 1] if digits else ""
        zone = "Z" if self.timestamp.endswith("Z") else earlier.strftime("%z") and earlier.isoformat()[-6:]
        return Cursor(earlier.strftime("%Y-%m-%dT%H:%M:%S") + fraction + (zone if earlier.tzinfo else ""), "")

    def to_token(self) -> str:
        """Serialised form kept in the state store."""
        return f"{self.timestamp}|{self.id}"

    @classmethod
    def from_token(cls, token: str | None) -> Cursor | None:
        """Parse :meth:`to_token` output; ``None`` stays ``None``."""
        if not token:
            return None
        timestamp, _, record_id = token.partition("|")
        return cls(timestamp, record_id)


@dataclass
class RawRecord:
    """One record as the endpoint returned it (source field names, nested as the API nests them)."""

    external_id: str
    """The record's id in the endpoint (Salesforce Id, SAP BusinessPartner, a key column)."""
    payload: dict[str, Any]
    """The source fields, as returned."""
    cursor: Cursor | None = None
    """The stream position *after* this record."""
    deleted: bool = False
    """The record was deleted (or archived) at the endpoint."""
    merged_into: str | None = None
    """For a merge loser: the external id of the surviving record."""


@dataclass
class OutboundRecord:
    """One record to write: source-shaped fields produced by the mapping's dump."""

    hub_id: str
    """The canonical id, usable as the idempotent upsert key."""
    external_id: str | None
    """The record's id in this endpoint, ``None`` when it does not exist there yet."""
    payload: dict[str, Any]
    """Source-shaped fields to set (only the changed ones for an update)."""
    action: str = "upsert"
    """``upsert`` or ``delete``."""
    etag: str | None = None
    """Optimistic-locking token last seen for the record, when the endpoint has one."""


@dataclass
class WriteResult:
    """The endpoint's answer for one :class:`OutboundRecord`."""

    ok: bool
    external_id: str | None = None
    created: bool = False
    error: str | None = None
    """The endpoint's own message for a rejected record."""
    error_code: str | None = None
    kind: ErrorKind | None = None
    """How to treat a failure: PERMANENT goes to dead letters, RETRYABLE is retried later."""
    payload: dict[str, Any] | None = None
    """The record as the endpoint now holds it, when the answer says (for echo suppression)."""
    etag: str | None = None
    """The record's new optimistic-locking token (ETag, ChangeStateID), when the answer carries one."""


@dataclass(frozen=True)
class FieldInfo:
    """What an endpoint says about one of its fields."""

    name: str
    type: str = "string"
    length: int | None = None
    nillable: bool = True
    createable: bool = True
    updateable: bool = True
    external_id: bool = False
    picklist: tuple[str, ...] = ()


@dataclass
class EndpointContext:
    """What the host hands a connector when it builds one."""

    name: str
    """The endpoint's name in crmsync.yaml."""
    object: str
    """The endpoint object (Account, A_BusinessPartner, customers.csv...)."""
    options: Mapping[str, Any] = field(default_factory=dict)
    """Connector options from crmsync.yaml, with ``${ENV}`` secrets already resolved."""
    fields: tuple[str, ...] = ()
    """Source field paths the mapping uses (``Name``, ``to_BusinessPartnerAddress[0].CityName``);
    connectors derive SOQL / $select / $expand from them. Empty: the connector's default set."""
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    """The endpoint's retry policy: wrap every remote call in :func:`crmsync.retry.call`."""
    classifier: Classifier | None = None
    """The ``classify_error`` hook, to pass to :func:`crmsync.retry.call`."""
    api_calls: int = 0
    """API calls made so far in this run; connectors add one per HTTP call."""


class Connector:
    """Base class for connectors. Subclass it, declare the class attributes, implement the methods."""

    name: ClassVar[str] = ""
    """The connector type used in crmsync.yaml (``connector: salesforce``)."""
    objects: ClassVar[tuple[str, ...]] = ()
    """Objects this connector can sync (empty: any object name is accepted)."""
    key_field: ClassVar[str] = "Id"
    """The source field holding the record's id."""
    cursor_field: ClassVar[str | None] = None
    """The source field ordering changes (SystemModstamp...), ``None`` for full reads."""
    capabilities: ClassVar[frozenset[str]] = frozenset({READ})
    """Any of ``read``, ``write``, ``delete``, ``bulk``."""
    batch_size: int = 200
    """Records per :meth:`write_batch` call."""
    hub_id_field: str | None = None
    """The source field where writes store the hub id (Crmsync_Id__c, BusinessPartnerIDByExtSystem...).
    A record read back with it is recognised as that hub customer, even if the write's answer was lost."""
    cursor_overlap: ClassVar[float] = 0.0
    """Seconds re-read before the stored cursor every run, for endpoints whose change times are coarse
    (SAP keeps seconds): a change landing in the same second as the last record read is not missed."""
    full_snapshot: bool = False
    """Every read returns the whole object (a spreadsheet re-read in full): the host then treats
    bound records that did not come back as deleted at the source."""
    etag_field: ClassVar[str | None] = None
    """The payload field holding the record's optimistic-locking token, if the endpoint has one;
    the host keeps it and hands it back as :attr:`OutboundRecord.etag`."""

    def __init__(self, context: EndpointContext) -> None:
        self.context = context

    def read_changes(self, since: Cursor | None) -> Iterator[RawRecord]:
        """Yield records changed after ``since`` (all records when ``None``), in cursor order."""
        raise NotImplementedError

    def write_batch(self, records: Sequence[OutboundRecord]) -> list[WriteResult]:
        """Write ``records``; return one result per input, in input order."""
        raise NotImplementedError(f"connector {self.name!r} cannot write")

    def describe(self) -> dict[str, FieldInfo]:
        """Field metadata of ``context.object`` by source field name (empty if unknown)."""
        return {}

    def hub_id_of(self, payload: Mapping[str, Any]) -> str | None:
        """The hub id a record carries in :attr:`hub_id_field`, if any."""
        value = payload.get(self.hub_id_field) if self.hub_id_field else None
        return str(value) if value else None

    def close(self) -> None:
        """Release sessions and files. Called once at the end of a run."""


__all__ = [
    "BULK",
    "DELETE",
    "READ",
    "WRITE",
    "Connector",
    "Cursor",
    "EndpointContext",
    "FieldInfo",
    "OutboundRecord",
    "RawRecord",
    "WriteResult",
]
