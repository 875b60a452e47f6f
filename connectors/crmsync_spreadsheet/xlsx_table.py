"""XLSX files: streaming rows with openpyxl ``read_only``, streaming rewrite with ``write_only``.

Reading uses ``data_only=True`` (cached values, never formula text) and openpyxl's own date
detection, so a date-formatted cell arrives as a datetime whether Excel stored it as a serial
number or not. Read-only worksheets do not expose merged ranges, so the header row's merges
are found by scanning the sheet XML for ``<mergeCell ref=...>`` (bounded memory, no XML
parser, so no entity expansion either). A rewrite copies every other sheet cell by cell.
"""

from __future__ import annotations

import hashlib
import re
import zipfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import ParseError

from crmsync.errors import ConfigError, PermanentError
from crmsync_spreadsheet.cells import is_formula_like
from crmsync_spreadsheet.options import SheetOptions
from crmsync_spreadsheet.table import FileInfo, SourceRow, header_names

_MERGE = re.compile(rb"<(?:\w+:)?mergeCell\s+ref=\"([A-Z]+)(\d+):([A-Z]+)(\d+)\"")
_CHUNK = 256 * 1024


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _column_index(letters: bytes) -> int:
    index = 0
    for char in letters:
        index = index * 26 + (char - 64)
    return index - 1


def merged_header_map(source: Any, header_row: int) -> dict[int, int]:
    """Column index -> first column index of the merged range covering it in ``header_row``."""
    found: dict[int, int] = {}
    tail = b""
    while chunk := source.read(_CHUNK):
        data = tail + chunk
        for match in _MERGE.finditer(data):
            first_col, first_row, last_col, last_row = match.groups()
            if int(first_row) <= header_row <= int(last_row):
                start, end = _column_index(first_col), _column_index(last_col)
                for index in range(start + 1, end + 1):
                    found[index] = start
        tail = data[-200:]  # a tag cut in two by the chunk boundary is matched next time
    return found


def load_readonly(path: Path, data_only: bool) -> Any:
    from openpyxl import load_workbook  # heavy import, only when an XLSX is touched
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        return load_workbook(path, read_only=True, data_only=data_only)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError, InvalidFileException, ParseError) as exc:
        cause = exc.__cause__ or exc.__context__  # openpyxl wraps the parser's reason
        reason = f"{type(cause).__name__}: {cause}" if cause is not None else str(exc)
        raise PermanentError(f"{path.name}: not a readable XLSX workbook: {reason}") from exc


def pick_sheet(workbook: Any, path: Path, sheet: str | None) -> Any:
    if sheet is None:
        return workbook.worksheets[0]
    if sheet not in workbook.sheetnames:
        raise ConfigError(f"{path.name} has no sheet {sheet!r}; sheets: {', '.join(workbook.sheetnames)}")
    return workbook[sheet]


class XlsxTable:
    """One worksheet opened for streaming (see :class:`crmsync_spreadsheet.table.Table`)."""

    def __init__(self, path: Path, options: SheetOptions, *, data_only: bool = True) -> None:
        self.workbook = load_readonly(path, data_only)
        self.header: list[str] = []
        self._line = 0
        try:
            sheet = pick_sheet(self.workbook, path, options.sheet)
            self.info = FileInfo(path=path, format="xlsx", sheet=sheet.title, sha256=file_sha256(path))
            sheet.reset_dimensions()  # some writers store a wrong <dimension>; read what is there
            with sheet._get_source() as source:  # private, but the only way to reach merges read-only
                merged = merged_header_map(source, options.header_row)
            self._rows: Iterator[Sequence[Any]] = self._guarded(iter(sheet.iter_rows()))
            for cells in self._rows:
                self._line += 1
                if self._line < options.header_row:
                    self.info.prelude.append([c.value for c in cells])
                    continue
                self.header = header_names([c.value for c in cells], merged)
                break
        except (ValueError, ParseError) as exc:
            self.workbook.close()
            raise PermanentError(f"{path.name}: not a readable XLSX sheet: {type(exc).__name__}: {exc}") from exc
        except BaseException:
            self.workbook.close()
            raise

    def _guarded(self, rows: Iterator[Sequence[Any]]) -> Iterator[Sequence[Any]]:
        # openpyxl parses with defusedxml: a DTD / entity bomb or broken XML ends the sheet;
        # say so as the endpoint error it is, not as a parser traceback.
        try:
            yield from rows
        except (ValueError, ParseError, OverflowError) as exc:
            raise PermanentError(f"{self.info.path.name}: sheet {self.info.sheet!r} cannot be read "
                                 f"after row {self._line}: {type(exc).__name__}: {exc}") from exc

    def rows(self) -> Iterator[SourceRow]:
        line = self._line
        for cells in self._rows:
            line += 1
            self._line = line
            yield SourceRow(line, [c.value for c in cells], kinds=[c.data_type for c in cells])

    def close(self) -> None:
        self.workbook.close()


class XlsxSink:
    """Appends rows to a write-only worksheet; text is always a string cell, never a formula."""

    def __init__(self, worksheet: Any) -> None:
        from openpyxl.cell import WriteOnlyCell

        self._ws = worksheet
        self._cell_class = WriteOnlyCell

    def _text_cell(self, value: str) -> Any:
        cell = self._cell_class(self._ws, value=value)
        cell.data_type = "s"  # openpyxl would otherwise turn "=..." into a formula
        if is_formula_like(value):
            cell.quotePrefix = True  # Excel keeps it text even when the user edits the cell
        return cell

    def _cell(self, value: Any, kind: str | None, fresh: bool) -> Any:
        if value is None or value == "":
            return None
        if isinstance(value, str) and (fresh or kind != "f"):
            return self._text_cell(value)
        return value  # numbers, dates, and the user's own formulas stay what they were

    def write_raw(self, cells: Sequence[Any], kinds: Sequence[str] | None = None) -> None:
        kinds = kinds or ()
        self._ws.append([self._cell(v, kinds[i] if i < len(kinds) else None, False)
                         for i, v in enumerate(cells)])

    def write_row(self, cells: Sequence[Any], fresh: Sequence[bool], kinds: Sequence[str] | None = None) -> None:
        kinds = kinds or ()
        self._ws.append([self._cell(v, kinds[i] if i < len(kinds) else None, fresh[i])
                         for i, v in enumerate(cells)])


def copy_sheet(source: Any, target: Any) -> None:
    """Copy a read-only sheet's cells into a write-only sheet, keeping types and formulas."""
    sink = XlsxSink(target)
    for cells in source.iter_rows():
        sink.write_raw([c.value for c in cells], [c.data_type for c in cells])


__all__ = ["XlsxSink", "XlsxTable", "copy_sheet", "file_sha256", "load_readonly", "merged_header_map", "pick_sheet"]
