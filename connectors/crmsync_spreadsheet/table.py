"""What both file formats look like to the connector: a header and a stream of source rows.

:class:`Table` is opened per file and streams :class:`SourceRow` s (raw cells, the line they
start on, or a parse problem); :func:`header_names` turns raw header cells into unique,
non-blank column names the same way for CSV and XLSX.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from crmsync_spreadsheet.cells import cell_text


@dataclass
class SourceRow:
    """One data row as found in the file."""

    line: int
    """1-based line (CSV: physical line the record starts on) or sheet row number (XLSX)."""
    cells: list[Any]
    """Raw cell values: text for CSV (still escaped), native values for XLSX."""
    error: str | None = None
    """Why the row could not be parsed (the cells are then whatever could be recovered)."""
    kinds: list[str] | None = None
    """XLSX only: openpyxl data types of ``cells`` (``f`` marks a formula kept on rewrite)."""

    def is_blank(self) -> bool:
        return self.error is None and all(cell_text(c).strip() == "" for c in self.cells)


@dataclass
class FileInfo:
    """Facts about the opened file that a rewrite must preserve."""

    path: Path
    format: str
    encoding: str | None = None
    """CSV: the encoding that decoded the whole file (``utf-8-sig`` when it had a BOM)."""
    delimiter: str = ","
    line_terminator: str = "\r\n"
    sheet: str | None = None
    sha256: str = ""
    """CSV: hex digest of the raw bytes; XLSX: of the file bytes as well."""
    hint_line: str = ""
    """CSV: an Excel ``sep=;`` first line (with its line end), written back as it was."""
    prelude: list[list[Any]] = field(default_factory=list)
    """Rows above the header row, written back unchanged."""


class Table(Protocol):
    """An opened spreadsheet file."""

    info: FileInfo
    header: list[str]
    """Unique, non-blank column names."""

    def rows(self) -> Iterator[SourceRow]:
        """Data rows below the header, blank ones included (callers skip them)."""
        ...

    def close(self) -> None: ...


def header_names(raw: Sequence[Any], merged_from: dict[int, int] | None = None) -> list[str]:
    """Column names from raw header cells.

    A blank cell inside a merged range takes the value of the range's first cell
    (``merged_from`` maps a column index to that first column's index); any other blank
    cell becomes ``column_<n>`` (1-based). Repeated names get ``_2``, ``_3``... so every
    payload key is unique. Trailing blank cells are dropped.
    """
    texts = [cell_text(c).strip() for c in raw]
    while texts and not texts[-1] and not (merged_from and (len(texts) - 1) in merged_from):
        texts.pop()
    names: list[str] = []
    seen: dict[str, int] = {}
    for index, text in enumerate(texts):
        if not text and merged_from and index in merged_from:
            text = texts[merged_from[index]]
        if not text:
            text = f"column_{index + 1}"
        count = seen.get(text, 0) + 1
        seen[text] = count
        names.append(text if count == 1 else f"{text}_{count}")
    return names


__all__ = ["FileInfo", "SourceRow", "Table", "header_names"]
