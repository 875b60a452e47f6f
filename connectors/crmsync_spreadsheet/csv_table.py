"""CSV files: encoding detection, delimiter sniffing, streaming rows, streaming rewrite.

The file is read twice, both times in bounded memory: a binary pass picks the encoding (BOM,
then the configured encoding, then each fallback, strictly decoding the *whole* file so a bad
byte on line 90 000 is caught before the first row is handed out) and hashes the content; the
second pass streams rows with :mod:`csv`, where quoted newlines are legal.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import itertools
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any

from crmsync.errors import PermanentError
from crmsync_spreadsheet.cells import csv_escape
from crmsync_spreadsheet.options import DELIMITERS, SheetOptions
from crmsync_spreadsheet.table import FileInfo, SourceRow, header_names

_CHUNK = 256 * 1024
_SEP_HINT = re.compile(r"sep=([^\r\n\"])(\r\n|\n|\r)")
_SNIFF_CHARS = 64 * 1024
_BOMS = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))


def detect_encoding(path: Path, options: SheetOptions) -> tuple[str, str]:
    """(encoding, sha256 hex) of ``path``; PermanentError naming byte offset and line if none fits.

    Fallbacks are tried in the configured order. Single-byte encodings such as cp1252 accept
    almost any byte, so list multi-byte ones (gb18030) first.
    """
    with path.open("rb") as handle:
        head = handle.read(4)
    candidates: list[str] = []
    for bom, name in _BOMS:
        if head.startswith(bom):
            candidates = [name]
            break
    else:
        candidates = [options.encoding, *[e for e in options.fallback_encodings if e != options.encoding]]
    failures: list[str] = []
    for name in candidates:
        problem, digest = _decode_whole(path, name)
        if problem is None:
            return name, digest
        failures.append(problem)
    raise PermanentError(f"{path.name}: cannot decode the file with " + "; nor with ".join(failures)
                         + ". Set encoding / fallback_encodings in the endpoint options")


def _decode_whole(path: Path, encoding: str) -> tuple[str | None, str]:
    decoder = codecs.getincrementaldecoder(encoding)("strict")
    digest = hashlib.sha256()
    offset = 0
    newlines = 0
    with path.open("rb") as handle:
        while True:
            chunk = handle.read(_CHUNK)
            final = not chunk
            pending = len(decoder.getstate()[0])
            try:
                decoder.decode(chunk, final)
            except UnicodeDecodeError as exc:
                # exc.start counts from the decoder's buffered bytes, which precede this chunk.
                at = offset - pending + exc.start
                data = chunk[: max(0, at - offset)]
                line = newlines + data.count(b"\n") + 1
                bad = exc.object[exc.start : exc.end].hex(" ")
                return f"{encoding} (byte offset {at}, line {line}: bytes {bad}: {exc.reason})", ""
            if final:
                return None, digest.hexdigest()
            digest.update(chunk)
            newlines += chunk.count(b"\n")
            offset += len(chunk)


def sniff_dialect(sample: str, configured: str | None) -> tuple[str, str]:
    """(delimiter, line terminator) for a text sample from the start of the file.

    Each candidate delimiter parses the sample; the one giving the most rows with the header's
    field count (then the most fields) wins. Plain counting would be fooled by quoted text.
    """
    terminator = "\n" if "\n" in sample and "\r\n" not in sample else "\r\n"
    if configured:
        return configured, terminator
    # Drop the last, possibly truncated, line.
    if len(sample) >= _SNIFF_CHARS and "\n" in sample:
        sample = sample[: sample.rindex("\n") + 1]
    best = (",", (-1, -1))
    for delimiter in DELIMITERS:
        try:
            rows = list(itertools.islice((r for r in csv.reader(io.StringIO(sample), delimiter=delimiter) if r), 50))
        except csv.Error:
            continue
        if not rows or len(rows[0]) < 2:
            continue
        width = len(rows[0])
        score = (sum(1 for r in rows if len(r) == width), width)
        if score > best[1]:
            best = (delimiter, score)
    return best[0], terminator


class CsvTable:
    """One CSV file opened for streaming (see :class:`crmsync_spreadsheet.table.Table`)."""

    def __init__(self, path: Path, options: SheetOptions) -> None:
        encoding, digest = detect_encoding(path, options)
        self._handle: IO[str] = path.open("r", encoding=encoding, newline="")
        sample = self._handle.read(_SNIFF_CHARS)
        self._handle.seek(0)
        # Excel writes and honours a first line "sep=;" naming the delimiter.
        hint = _SEP_HINT.match(sample)
        delimiter, terminator = sniff_dialect(sample[hint.end():] if hint else sample,
                                              options.delimiter or (hint.group(1) if hint else None))
        self.info = FileInfo(path=path, format="csv", encoding=encoding, delimiter=delimiter,
                             line_terminator=terminator, sha256=digest, hint_line=hint.group(0) if hint else "")
        self._line_offset = 0
        if hint:
            self._handle.readline()
            self._line_offset = 1
        self._reader = csv.reader(self._handle, delimiter=delimiter)
        self.header: list[str] = []
        record = 0
        for row in self._records():
            record += 1
            if record < options.header_row:
                self.info.prelude.append(row.cells)
                continue
            if row.error:
                raise PermanentError(f"{path.name} line {row.line}: cannot parse the header row: {row.error}")
            self.header = header_names(row.cells)
            break

    def _records(self) -> Iterator[SourceRow]:
        while True:
            start = self._reader.line_num + 1 + self._line_offset
            try:
                cells = next(self._reader)
            except StopIteration:
                return
            except csv.Error as exc:
                yield SourceRow(start, [], error=f"malformed CSV: {exc}")
                if self._reader.line_num + self._line_offset < start:
                    return  # the reader made no progress; stop rather than loop
                continue
            yield SourceRow(start, cells)

    def rows(self) -> Iterator[SourceRow]:
        return self._records()

    def close(self) -> None:
        self._handle.close()


class CsvSink:
    """Writes rows to an open text file in the dialect of the file it replaces."""

    def __init__(self, handle: IO[str], info: FileInfo) -> None:
        if info.hint_line:
            handle.write(info.hint_line)  # raw: the csv module would quote "sep=;"
        self._writer = csv.writer(handle, delimiter=info.delimiter, lineterminator=info.line_terminator)

    def write_raw(self, cells: Sequence[Any], kinds: Sequence[str] | None = None) -> None:
        """A row kept as it was in the file (already escaped or the user's own text)."""
        self._writer.writerow(["" if c is None else c for c in cells])

    def write_row(self, cells: Sequence[Any], fresh: Sequence[bool], kinds: Sequence[str] | None = None) -> None:
        """A row where ``fresh[i]`` marks values we set now: those are formula-escaped."""
        self._writer.writerow([
            csv_escape(str(c)) if isfresh and c is not None else ("" if c is None else c)
            for c, isfresh in zip(cells, fresh, strict=True)
        ])


def open_csv_for_write(path: Path, encoding: str) -> IO[str]:
    return path.open("w", encoding=encoding, newline="", errors="strict")


__all__ = ["CsvSink", "CsvTable", "detect_encoding", "sniff_dialect"]
