"""The spreadsheet endpoint's ``options:`` from crmsync.yaml, checked once into :class:`SheetOptions`.

Every option is validated up front so that a typo or a wrong type is a :class:`ConfigError`
naming the key, not a surprise halfway through a run. Relative paths are resolved against
``base_dir`` (default: the working directory) and may not climb out of it with ``..``.
"""

from __future__ import annotations

import codecs
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from crmsync.errors import ConfigError

FORMATS = ("csv", "xlsx")
MODES = ("sync", "export")
DELIMITERS = (",", ";", "\t", "|")
_DELIMITER_NAMES = {"tab": "\t", "\\t": "\t", "comma": ",", "semicolon": ";", "pipe": "|"}

KNOWN_OPTIONS = frozenset({
    "path", "base_dir", "format", "key_column", "hub_id_column", "delimiter", "encoding",
    "fallback_encodings", "sheet", "header_row", "backup", "keep_backups", "mode", "missing_ok",
    "check_duplicates",
})


@dataclass(frozen=True)
class SheetOptions:
    """Validated endpoint options (see docs/connectors/spreadsheet.md for each one)."""

    path: Path
    format: str | None = None
    key_column: str = "customer_id"
    hub_id_column: str = "crmsync_id"
    delimiter: str | None = None
    encoding: str = "utf-8"
    fallback_encodings: tuple[str, ...] = ()
    sheet: str | None = None
    header_row: int = 1
    backup: bool = True
    keep_backups: int = 5
    mode: str = "sync"
    missing_ok: bool = False
    check_duplicates: bool = True

    @property
    def is_folder(self) -> bool:
        return self.path.is_dir()

    def format_of(self, path: Path) -> str:
        """The format of one file: the ``format`` option, else its suffix."""
        if self.format:
            return self.format
        suffix = path.suffix.lower().lstrip(".")
        if suffix in ("csv", "txt", "tsv"):
            return "csv"
        if suffix in ("xlsx", "xlsm"):
            return "xlsx"
        raise ConfigError(f"cannot tell the format of {path.name!r}; set format: csv or xlsx")


def parse_options(options: Mapping[str, Any], endpoint: str = "spreadsheet") -> SheetOptions:
    """Check ``options`` and build :class:`SheetOptions`; ConfigError names the offending key."""

    def fail(key: str, message: str) -> ConfigError:
        return ConfigError(message, path=f"{endpoint}.options.{key}")

    unknown = sorted(set(options) - KNOWN_OPTIONS)
    if unknown:
        raise fail(unknown[0], f"unknown option; known options: {', '.join(sorted(KNOWN_OPTIONS))}")

    def text(key: str, default: str | None) -> str | None:
        value = options.get(key, default)
        if value is None:
            return None
        if not isinstance(value, str) or not value.strip():
            raise fail(key, f"expected a non-empty string, got {value!r}")
        return value

    def flag(key: str, default: bool) -> bool:
        value = options.get(key, default)
        if not isinstance(value, bool):
            raise fail(key, f"expected true or false, got {value!r}")
        return value

    def number(key: str, default: int, minimum: int) -> int:
        value = options.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise fail(key, f"expected an integer >= {minimum}, got {value!r}")
        return value

    def encoding(key: str, value: Any) -> str:
        if not isinstance(value, str):
            raise fail(key, f"expected an encoding name, got {value!r}")
        try:
            return codecs.lookup(value).name
        except LookupError:
            raise fail(key, f"unknown encoding {value!r}") from None

    raw_path = text("path", None)
    if raw_path is None:
        raise fail("path", "required: a .csv / .xlsx file or a folder")
    if "\x00" in raw_path:
        raise fail("path", "contains a NUL byte")
    base = Path(text("base_dir", None) or ".").resolve()
    path = Path(raw_path)
    if not path.is_absolute():
        resolved = (base / path).resolve()
        # A relative path is a promise to stay inside the project; ../../etc/passwd breaks it.
        if not resolved.is_relative_to(base):
            raise fail("path", f"relative path {raw_path!r} leads outside {str(base)!r}; use an absolute path")
        path = resolved

    fmt = text("format", None)
    if fmt is not None and fmt.lower() not in FORMATS:
        raise fail("format", f"expected one of {', '.join(FORMATS)}, got {fmt!r}")

    delimiter = text("delimiter", None) if options.get("delimiter") != "\t" else "\t"
    if delimiter is not None:
        delimiter = _DELIMITER_NAMES.get(delimiter.lower(), delimiter)
        if len(delimiter) != 1 or delimiter in "\"'\r\n":
            raise fail("delimiter", f"expected one character such as , ; | or tab, got {delimiter!r}")

    fallbacks = options.get("fallback_encodings", ())
    if isinstance(fallbacks, str):
        fallbacks = [fallbacks]
    if not isinstance(fallbacks, list | tuple):
        raise fail("fallback_encodings", f"expected a list of encodings, got {fallbacks!r}")

    mode = text("mode", "sync") or "sync"
    if mode not in MODES:
        raise fail("mode", f"expected one of {', '.join(MODES)}, got {mode!r}")

    key_column = text("key_column", "customer_id") or "customer_id"
    hub_id_column = text("hub_id_column", "crmsync_id") or "crmsync_id"
    if key_column == hub_id_column and mode == "sync":
        raise fail("hub_id_column", "must differ from key_column")

    return SheetOptions(
        path=path,
        format=fmt.lower() if fmt else None,
        key_column=key_column,
        hub_id_column=hub_id_column,
        delimiter=delimiter,
        encoding=encoding("encoding", options.get("encoding", "utf-8")),
        fallback_encodings=tuple(encoding("fallback_encodings", e) for e in fallbacks),
        sheet=text("sheet", None),
        header_row=number("header_row", 1, 1),
        backup=flag("backup", True),
        keep_backups=number("keep_backups", 5, 0),
        mode=mode,
        missing_ok=flag("missing_ok", False),
        check_duplicates=flag("check_duplicates", True),
    )


__all__ = ["DELIMITERS", "SheetOptions", "parse_options"]
