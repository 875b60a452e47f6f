"""Example crmsync connector: each customer is one JSON file in a folder.

It is the complete example of docs/writing-a-connector.md and is installed and run by the
test suite. Every file holds the record's fields plus ``_changed`` (an ISO timestamp of its
last change); the file name is the record id.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from crmsync.connector import (
    DELETE,
    READ,
    WRITE,
    Connector,
    Cursor,
    FieldInfo,
    OutboundRecord,
    RawRecord,
    WriteResult,
)
from crmsync.errors import ErrorKind, PermanentError
from crmsync.plugins import hookimpl


class JsonFileConnector(Connector):
    """Customers as ``<folder>/<id>.json`` files; option ``folder``."""

    name = "jsonfile"
    key_field = "id"
    hub_id_field = "hub_id"  # where write_batch stores the hub id
    cursor_field = "_changed"
    capabilities = frozenset({READ, WRITE, DELETE})
    batch_size = 100

    @property
    def folder(self) -> Path:
        folder = Path(str(self.context.options.get("folder", "")))
        if not folder.is_dir():
            raise PermanentError(f"folder {folder} does not exist", endpoint=self.context.name)
        return folder

    def read_changes(self, since: Cursor | None) -> Iterator[RawRecord]:
        records = []
        for file in self.folder.glob("*.json"):
            payload = json.loads(file.read_text(encoding="utf-8"))
            records.append((Cursor(payload.pop("_changed"), file.stem), payload))
        for cursor, payload in sorted(records, key=lambda r: r[0]):
            if since is None or cursor > since:
                yield RawRecord(cursor.id, payload, cursor, deleted=bool(payload.get("deleted")))

    def write_batch(self, records: Sequence[OutboundRecord]) -> list[WriteResult]:
        results = []
        for record in records:
            # The hub id gives new records their id, so repeating a batch cannot duplicate them.
            record_id = record.external_id or f"j-{record.hub_id}"
            file = self.folder / f"{record_id}.json"
            if not record_id.replace("-", "").replace("_", "").isalnum():
                results.append(WriteResult(False, error=f"bad id {record_id!r}", kind=ErrorKind.PERMANENT))
                continue
            created = not file.exists()
            current = {} if created else json.loads(file.read_text(encoding="utf-8"))
            current.update(record.payload)
            current.update({"hub_id": record.hub_id, "_changed": _now()})
            if record.action == "delete":
                current["deleted"] = True
            _write_atomically(file, current)
            results.append(WriteResult(True, external_id=record_id, created=created))
        return results

    def describe(self) -> dict[str, FieldInfo]:
        fields: dict[str, FieldInfo] = {}
        for file in list(self.folder.glob("*.json"))[:50]:
            for key in json.loads(file.read_text(encoding="utf-8")):
                fields.setdefault(key, FieldInfo(key))
        return fields


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _write_atomically(file: Path, data: dict[str, object]) -> None:
    temp = file.with_suffix(".tmp")
    with temp.open("w", encoding="utf-8") as handle:
        json.dump(data, handle, ensure_ascii=False)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temp, file)


@hookimpl
def register_connectors(register: Callable[[type[Connector]], None]) -> None:
    register(JsonFileConnector)
