"""SpreadsheetConnector: a CSV / XLSX file (or a drop folder of them) as a crmsync endpoint.

Reading streams rows as text payloads. A single-file endpoint is a *full snapshot*: every
read yields every row, and the host finds deleted rows by their absence
(:attr:`SpreadsheetConnector.full_snapshot`). A folder endpoint is a stream of files, each
read once in (modification time, name) order. Rows that cannot be parsed do not stop the
read: they come out as records whose payload holds :data:`ERROR_KEY`.

Writing rewrites the file through :func:`crmsync_spreadsheet.rewrite.atomic_replace`: rows
are upserted by the key column (or by the hub id column for records new to the sheet), the
user's columns, their order and unknown columns are kept, and every value we write is
formula-safe.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from crmsync.connector import (
    DELETE,
    READ,
    WRITE,
    Connector,
    Cursor,
    EndpointContext,
    FieldInfo,
    OutboundRecord,
    RawRecord,
    WriteResult,
)
from crmsync.errors import ErrorKind, PermanentError, RetryableError
from crmsync_spreadsheet.cells import XLSX_MAX_CELL, XML_ILLEGAL, cell_text, csv_unescape, outbound_text
from crmsync_spreadsheet.csv_table import CsvSink, CsvTable
from crmsync_spreadsheet.options import SheetOptions, parse_options
from crmsync_spreadsheet.rewrite import atomic_replace, is_backup_or_temp, signature
from crmsync_spreadsheet.table import FileInfo, SourceRow, Table
from crmsync_spreadsheet.xlsx_table import XlsxSink, XlsxTable

ERROR_KEY = "__error__"
"""Payload key of a row that could not be parsed; its value says why, with file and line."""

_DESCRIBE_SAMPLE = 200
_MAX_ERROR_CELLS = 50


def mtime_iso(path: Path) -> str:
    """A file's modification time in the fixed cursor format (``2026-11-23T10:00:00Z``)."""
    stamp = dt.datetime.fromtimestamp(path.stat().st_mtime, dt.UTC)
    return stamp.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class _Op:
    """One outbound record prepared for the rewrite."""

    index: int
    record: OutboundRecord
    values: dict[str, str]
    delete: bool
    matched: bool = False


@dataclass
class _Plan:
    """A batch indexed for matching while the old rows stream past."""

    ops: list[_Op] = field(default_factory=list)
    by_key: dict[str, list[int]] = field(default_factory=dict)
    by_hub: dict[str, list[int]] = field(default_factory=dict)

    def add(self, op: _Op, keys: Sequence[str], hubs: Sequence[str]) -> None:
        position = len(self.ops)
        self.ops.append(op)
        for key in dict.fromkeys(k for k in keys if k):
            self.by_key.setdefault(key, []).append(position)
        for hub in dict.fromkeys(h for h in hubs if h):
            self.by_hub.setdefault(hub, []).append(position)

    def matching(self, key: str, hub: str) -> list[_Op]:
        found = set(self.by_key.get(key, ())) | set(self.by_hub.get(hub, ()))
        return [self.ops[i] for i in sorted(found)]


class SpreadsheetConnector(Connector):
    """CSV / XLSX endpoint; options in docs/connectors/spreadsheet.md."""

    name = "spreadsheet"
    key_field = "customer_id"
    cursor_field = None
    capabilities = frozenset({READ, WRITE, DELETE})
    batch_size = 5000  # each batch rewrites the whole file, so batches are large

    full_snapshot: bool = True
    """True when every read yields *every* row: the host treats keys it held before and did not
    see in a read that ran to completion as deleted. False for folder and export endpoints."""

    def __init__(self, context: EndpointContext) -> None:
        super().__init__(context)
        self.options: SheetOptions = parse_options(context.options, context.name)
        self.folder = self.options.is_folder
        self.full_snapshot = self.options.mode == "sync" and not self.folder
        self.hub_id_field = self.options.hub_id_column
        self._backed_up = False

    # ------------------------------------------------------------------ reading

    def _open(self, path: Path, *, data_only: bool = True) -> Table:
        if self.options.format_of(path) == "xlsx":
            return XlsxTable(path, self.options, data_only=data_only)
        return CsvTable(path, self.options)

    def _key_column(self) -> str:
        return self.options.hub_id_column if self.options.mode == "export" else self.options.key_column

    def _folder_files(self) -> list[Path]:
        files = []
        for path in self.options.path.iterdir():
            if not path.is_file() or is_backup_or_temp(path):
                continue
            suffix = path.suffix.lower()
            wanted = {"csv": (".csv", ".txt", ".tsv"), "xlsx": (".xlsx", ".xlsm")}
            allowed = wanted[self.options.format] if self.options.format else (*wanted["csv"], *wanted["xlsx"])
            if suffix in allowed:
                files.append(path)
        # "name|" sorts exactly like the cursor ids "name|hash|row" do, even when one file name
        # is a prefix of another, so cursors come out in string order.
        return sorted(files, key=lambda p: (mtime_iso(p), p.name + "|"))

    def read_changes(self, since: Cursor | None) -> Iterator[RawRecord]:
        """Single file: every row, every time (``since`` is not used; see :attr:`full_snapshot`).
        Folder: rows of files after ``since`` in (mtime, name) order, resuming inside a file.
        Export mode: nothing (the file is a report, not a source)."""
        if self.options.mode == "export":
            return
        if self.folder:
            yield from self._read_folder(since)
            return
        path = self.options.path
        if not path.exists():
            if self.options.missing_ok:
                return
            # Yielding nothing would tell a snapshot-diffing host that every row was deleted.
            raise PermanentError(f"{path} does not exist (set missing_ok: true if that is expected)",
                                 endpoint=self.context.name)
        yield from self._read_file(path, mtime_iso(path))

    def _read_folder(self, since: Cursor | None) -> Iterator[RawRecord]:
        since_name, since_hash, since_row = "", "", -1
        if since is not None:
            parts = since.id.rsplit("|", 2)  # a file name may itself contain "|"
            since_name = parts[0]
            since_hash = parts[1] if len(parts) > 1 else ""
            with contextlib.suppress(ValueError, IndexError):
                since_row = int(parts[2])
        for path in self._folder_files():
            stamp = mtime_iso(path)
            position = (stamp, path.name + "|")
            if since is not None and position < (since.timestamp, since_name + "|"):
                continue
            same_file = since is not None and position == (since.timestamp, since_name + "|")
            yield from self._read_file(path, stamp, skip_through=since_row if same_file else -1,
                                       skip_hash=since_hash if same_file else "")

    def _read_file(self, path: Path, stamp: str, *, skip_through: int = -1,
                   skip_hash: str = "") -> Iterator[RawRecord]:
        table = self._open(path)
        try:
            info, header = table.info, table.header
            short_hash = info.sha256[:16]
            if skip_hash and skip_hash != short_hash:
                skip_through = -1  # same name and time but new content: read it all
            key_column = self._key_column()
            if not header:
                raise PermanentError(f"{path.name} has no header row", endpoint=self.context.name)
            if key_column not in header:
                raise PermanentError(f"{path.name}: no column {key_column!r} in the header "
                                     f"(columns: {', '.join(header)})", endpoint=self.context.name)
            wanted: set[str] | None = None
            if self.context.fields:
                wanted = {*self.context.fields, key_column, self.options.hub_id_column}
            # Hashes, not keys: about 60 bytes a row instead of the key strings themselves.
            seen: set[int] | None = set() if self.options.check_duplicates else None
            index = 0
            for row in table.rows():
                if row.is_blank():
                    continue
                index += 1
                record = self._record(row, header, info, key_column, wanted, seen)
                if index <= skip_through:
                    continue
                # Folder: the position inside the drop stream; file: (mtime, key) as documented.
                record.cursor = Cursor(stamp, f"{path.name}|{short_hash}|{index:010d}" if self.folder
                                       else record.external_id)
                yield record
        finally:
            table.close()

    def _record(self, row: SourceRow, header: list[str], info: FileInfo, key_column: str,
                wanted: set[str] | None, seen: set[int] | None) -> RawRecord:
        where = f"{info.path.name} {'line' if info.format == 'csv' else 'row'} {row.line}"
        cells = list(row.cells)
        width = len(header)
        key_index = header.index(key_column)
        problem = row.error
        if problem is None and len(cells) > width:
            if any(cell_text(c).strip() for c in cells[width:]):
                problem = f"expected {width} fields, got {len(cells)}"
            else:
                cells = cells[:width]
        if problem is None and len(cells) < width:
            if info.format == "csv":
                problem = f"expected {width} fields, got {len(cells)}"
            else:
                cells += [None] * (width - len(cells))  # XLSX omits empty trailing cells
        texts = [csv_unescape(c) if isinstance(c, str) and info.format == "csv" else cell_text(c) for c in cells]
        key = texts[key_index].strip() if key_index < len(texts) else ""
        if problem is None and not key:
            problem = f"empty {key_column!r}"
        if problem is None and seen is not None:
            digest = hash(key)
            if digest in seen:
                problem = f"duplicate {key_column} {key!r}: an earlier row has the same key"
                key = ""  # the first row owns the key; this one is reported by its position
            seen.add(digest)
        if problem is not None:
            return RawRecord(
                external_id=key or f"{info.path.name}#{row.line}",
                payload={
                    ERROR_KEY: f"{where}: {problem}",
                    "__file__": info.path.name,
                    "__line__": row.line,
                    "__cells__": [t[:200] for t in texts[:_MAX_ERROR_CELLS]],
                },
            )
        payload = {name: text for name, text in zip(header, texts, strict=True)
                   if wanted is None or name in wanted}
        return RawRecord(external_id=key, payload=payload)

    # ------------------------------------------------------------------ writing

    def write_batch(self, records: Sequence[OutboundRecord]) -> list[WriteResult]:
        """Upsert / delete rows in one atomic rewrite of the file; one result per record."""
        if self.folder:
            raise PermanentError("a folder endpoint is read-only; point path at one file to write",
                                 endpoint=self.context.name)
        if not records:
            return []
        path = self.options.path
        if (path.parent / f"~${path.name}").exists():
            raise RetryableError(f"{path.name} is open in Excel (lock file ~${path.name}); close it and retry",
                                 endpoint=self.context.name)
        try:
            return self._rewrite(path, records)
        except PermissionError as exc:
            raise RetryableError(f"{path.name} is not writable now: {exc.strerror}",
                                 endpoint=self.context.name) from exc
        except OSError as exc:
            raise PermanentError(f"cannot write {path.name}: {exc.strerror or exc}",
                                 endpoint=self.context.name) from exc

    def _prepare(self, records: Sequence[OutboundRecord], fmt: str, encoding: str | None,
                 results: list[WriteResult | None]) -> _Plan:
        key_column, hub_column = self._key_column(), self.options.hub_id_column
        plan = _Plan()
        for index, record in enumerate(records):
            def reject(message: str, code: str = "INVALID_VALUE", record: OutboundRecord = record,
                       index: int = index) -> None:
                results[index] = WriteResult(ok=False, external_id=record.external_id, error=message,
                                             error_code=code, kind=ErrorKind.PERMANENT)

            if record.action not in ("upsert", "delete"):
                reject(f"unknown action {record.action!r}", "INVALID_ACTION")
                continue
            if not str(record.hub_id or "").strip():
                reject("empty hub id", "MISSING_HUB_ID")
                continue
            values: dict[str, str] = {}
            problem = None
            for column, value in (record.payload or {}).items() if record.action == "upsert" else ():
                if not isinstance(column, str) or not column.strip():
                    problem = f"invalid column name {column!r}"
                    break
                try:
                    text = outbound_text(value)
                except ValueError as exc:
                    problem = f"{column}: {exc}"
                    break
                for part in (column, text):
                    try:
                        part.encode(encoding or "utf-8")  # XLSX is UTF-8 XML: lone surrogates fail
                    except UnicodeEncodeError as exc:
                        problem = (f"{column}: {part[exc.start:exc.end]!r} cannot be written in the "
                                   f"file's encoding {encoding or 'utf-8'}")
                    if encoding is None and XML_ILLEGAL.search(part):
                        problem = f"{column}: control characters cannot be stored in XLSX"
                    if encoding is None and len(part) > XLSX_MAX_CELL:
                        problem = (f"{column}: {len(part)} characters exceed the XLSX cell limit of "
                                   f"{XLSX_MAX_CELL}")
                if problem:
                    break
                values[column] = text
            if problem:
                reject(problem)
                continue
            if record.action == "upsert":
                values[hub_column] = record.hub_id
            external = (record.external_id or "").strip()
            if self.options.mode == "export":
                keys, hubs = [], [record.hub_id]
            elif external:
                keys, hubs = [external], []
            else:
                keys, hubs = [values.get(key_column, "").strip()], [record.hub_id]
            plan.add(_Op(index, record, values, record.action == "delete"), keys, hubs)
        return plan

    def _rewrite(self, path: Path, records: Sequence[OutboundRecord]) -> list[WriteResult]:
        fmt = self.options.format_of(path)
        key_column, hub_column = self._key_column(), self.options.hub_id_column
        results: list[WriteResult | None] = [None] * len(records)
        table: Table | None = None
        before = signature(path)  # before reading: an edit from here on aborts the replace
        try:
            if path.exists():
                table = self._open(path, data_only=False)
                header, info = list(table.header), table.info
                if key_column not in header:
                    raise PermanentError(f"{path.name}: no column {key_column!r} in the header",
                                         endpoint=self.context.name)
            else:
                header = [key_column] if key_column == hub_column else [key_column, hub_column]
                encoding = None
                if fmt == "csv":
                    enc = self.options.encoding
                    encoding = "utf-8-sig" if enc == "utf-8" else enc  # a BOM lets Excel see UTF-8
                info = FileInfo(path=path, format=fmt, encoding=encoding,
                                delimiter=self.options.delimiter or ",", sheet=self.options.sheet)
            plan = self._prepare(records, fmt, info.encoding if fmt == "csv" else None, results)
            if not plan.ops:
                return [r for r in results if r is not None]
            columns = list(header)
            # every mapped column exists after a write, filled or not, so the sheet describes the mapping
            mapped = [f for f in self.context.fields if "." not in f and "[" not in f]
            for column in [*mapped, *(c for op in plan.ops for c in op.values)]:
                if column not in columns:
                    columns.append(column)
            position = {name: i for i, name in enumerate(columns)}
            keep = self.options.keep_backups if self.options.backup and not self._backed_up else 0
            with atomic_replace(path, backup_keep=keep, expect=before) as temp:
                self._stream(temp, table, info, columns, position, plan, results)
            if keep:
                self._backed_up = True  # one backup per run: the file as it was before the run
        finally:
            if table is not None:
                table.close()
        return [r if r is not None else WriteResult(ok=False, error="not processed",
                                                    kind=ErrorKind.RETRYABLE) for r in results]

    def _stream(self, temp: Path, table: Table | None, info: FileInfo, columns: list[str],
                position: dict[str, int], plan: _Plan, results: list[WriteResult | None]) -> None:
        if info.format == "csv":
            with temp.open("w", encoding=info.encoding or "utf-8", newline="") as handle:
                self._fill(CsvSink(handle, info), table, info, columns, position, plan, results)
            return
        from openpyxl import Workbook

        workbook = Workbook(write_only=True)
        target = info.sheet or self.options.sheet or "Customers"
        try:
            if table is None:
                self._fill(XlsxSink(workbook.create_sheet(target)), None, info, columns, position, plan, results)
            else:
                from crmsync_spreadsheet.xlsx_table import copy_sheet, load_readonly

                source = load_readonly(info.path, data_only=False)  # other sheets keep their formulas
                try:
                    for sheet in source.worksheets:
                        if sheet.title == target:
                            self._fill(XlsxSink(workbook.create_sheet(target)), table, info, columns,
                                       position, plan, results)
                        else:
                            copy_sheet(sheet, workbook.create_sheet(sheet.title))
                finally:
                    source.close()
        except BaseException:
            # Finish openpyxl's half-written sheet streams now, not noisily at garbage collection.
            for sheet in workbook.worksheets:
                with contextlib.suppress(Exception):
                    sheet.close()
            raise
        workbook.save(temp)

    def _fill(self, sink: CsvSink | XlsxSink, table: Table | None, info: FileInfo, columns: list[str],
              position: dict[str, int], plan: _Plan, results: list[WriteResult | None]) -> None:
        key_column, hub_column = self._key_column(), self.options.hub_id_column
        csv = info.format == "csv"
        width = len(columns)

        def text(value: Any) -> str:
            return csv_unescape(value) if csv and isinstance(value, str) else cell_text(value)

        for prelude in info.prelude:
            sink.write_raw(prelude)
        known = len(table.header) if table is not None else 0
        sink.write_row(columns, [i >= known for i in range(width)])  # new names are payload keys: escape
        key_at, hub_at = position[key_column], position.get(hub_column)
        if table is not None:
            header_width = len(table.header)
            for row in table.rows():
                if row.error is not None:
                    # We cannot rewrite what we cannot parse without losing it: stop, change nothing.
                    raise PermanentError(f"{info.path.name} line {row.line}: {row.error}; "
                                         "fix the file before crmsync can write to it",
                                         endpoint=self.context.name)
                cells = list(row.cells)
                ragged = (len(cells) < header_width and info.format == "csv") or (
                    len(cells) > header_width and any(cell_text(c).strip() for c in cells[header_width:]))
                if ragged or row.is_blank():
                    sink.write_raw(cells, row.kinds)  # keep as found; reads report it as an error row
                    continue
                cells = cells[:header_width] + [None] * (width - min(len(cells), header_width))
                kinds = list(row.kinds or [])[:header_width]
                key = text(cells[key_at]).strip()
                hub = text(cells[hub_at]).strip() if hub_at is not None else ""
                ops = plan.matching(key, hub)
                if not ops:
                    sink.write_raw(cells, kinds)
                    continue
                fresh = [False] * width
                deleted = False
                for op in ops:
                    op.matched = True
                    deleted = op.delete
                    for column, value in op.values.items():
                        cells[position[column]] = value
                        fresh[position[column]] = True
                row_key = (cells[key_at] if fresh[key_at] else text(cells[key_at])).strip()
                # Fresh values are the host's own text (not yet escaped); others as a read sees them.
                payload = {name: cells[i] if fresh[i] else text(cells[i]) for i, name in enumerate(columns)}
                for op in ops:
                    results[op.index] = WriteResult(ok=True, external_id=row_key, created=False,
                                                    payload=None if op.delete else payload)
                if not deleted:
                    sink.write_row(cells, fresh, kinds)
        # Records no row matched: deletes are already done, upserts become new rows
        # (one per key, so a batch naming a new record twice still adds one row).
        new_rows: dict[str, tuple[list[Any], list[int]]] = {}
        for op in plan.ops:
            if op.matched:
                continue
            if op.delete:
                results[op.index] = WriteResult(ok=True, external_id=op.record.external_id)
                continue
            key = ((op.record.external_id or "").strip() or op.values.get(key_column, "").strip()
                   or op.record.hub_id)
            if self.options.mode == "export":
                key = op.record.hub_id
            cells, members = new_rows.setdefault(key, ([None] * width, []))
            for column, value in op.values.items():
                cells[position[column]] = value
            cells[key_at] = key
            members.append(op.index)
        for key, (cells, members) in new_rows.items():
            sink.write_row(cells, [c is not None for c in cells])
            payload = {name: "" if cells[i] is None else cells[i] for i, name in enumerate(columns)}
            for n, index in enumerate(members):
                results[index] = WriteResult(ok=True, external_id=key, created=n == 0, payload=payload)

    # ------------------------------------------------------------------ metadata

    def describe(self) -> dict[str, FieldInfo]:
        """One FieldInfo per header column; types guessed from the first rows' text."""
        path = self.options.path
        if self.folder:
            files = self._folder_files()
            if not files:
                return {}
            path = files[0]
        if not path.exists():
            return {}
        table = self._open(path)
        try:
            header, info = table.header, table.info
            samples: list[list[str]] = [[] for _ in header]
            seen = 0
            for row in table.rows():
                if row.error or row.is_blank():
                    continue
                for i, value in enumerate(row.cells[: len(header)]):
                    text = csv_unescape(value) if info.format == "csv" and isinstance(value, str) \
                        else cell_text(value)
                    if text.strip():
                        samples[i].append(text.strip())
                seen += 1
                if seen >= _DESCRIBE_SAMPLE:
                    break
        finally:
            table.close()
        key_column = self._key_column()
        return {
            name: FieldInfo(
                name=name,
                type=infer_type(samples[i]),
                nillable=name != key_column,
                external_id=name == self.options.hub_id_column,
            )
            for i, name in enumerate(header)
        }

    def close(self) -> None:
        """Nothing stays open between calls."""


_PATTERNS = (
    ("boolean", re.compile(r"(?i)true|false")),
    ("integer", re.compile(r"-?(0|[1-9]\d*)")),
    ("decimal", re.compile(r"-?\d+\.\d+")),
    ("date", re.compile(r"\d{4}-\d{2}-\d{2}")),
    ("datetime", re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?")),
)


def infer_type(values: Sequence[str]) -> str:
    """The narrowest type every sampled value fits; leading-zero ids stay ``string``."""
    if not values:
        return "string"
    for name, pattern in _PATTERNS:
        if all(pattern.fullmatch(v) for v in values):
            return name
    return "string"


__all__ = ["ERROR_KEY", "SpreadsheetConnector", "infer_type", "mtime_iso"]
