"""Mapping preview: what a mapping makes of real records, shown side by side.

For each record: the source value, the canonical value ``load`` gives and the value ``dump``
writes back, per mapped field. Fields whose value changes on the round trip are highlighted
(a trim, a country name turned into a code: often intended, sometimes a surprise), and
records that fail show every problem with its reason.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from crmsync.errors import RecordError
from crmsync.mapping.compiler import CompiledMapping
from crmsync.mapping.paths import parse_path


@dataclass
class PreviewSummary:
    """Counts of a preview run."""

    records: int = 0
    failed: int = 0
    changed: int = 0
    """Records with at least one field that does not survive the round trip unchanged."""
    problems: list[tuple[int, list[dict[str, Any]]]] = field(default_factory=list)
    """(record number, problems) of the failed records."""


def _show(value: Any) -> str:
    if value is None:
        return "∅"
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, dt.datetime):
        return value.isoformat()
    text = repr(value) if not isinstance(value, str) else value
    return text if len(text) <= 60 else text[:57] + "..."


def same_value(before: Any, after: Any) -> bool:
    """Whether a round trip kept a value (empty equals empty; 1.0 equals "1.00")."""
    if before in (None, "", []) and after in (None, "", []):
        return True
    if before == after:
        return True
    if isinstance(before, bool) or isinstance(after, bool):
        return False
    try:
        return Decimal(str(before)) == Decimal(str(after))
    except (InvalidOperation, ValueError):
        return str(before) == str(after)


def _payload(record: Any) -> Mapping[str, Any]:
    payload = getattr(record, "payload", record)
    if not isinstance(payload, Mapping):
        raise TypeError(f"a record must be a mapping or have .payload, got {type(record).__name__}")
    return payload


def preview_records(
    mapping: CompiledMapping, records: Iterable[Any], console: Console | None = None
) -> PreviewSummary:
    """Print source -> canonical -> back-to-source for each record; returns the counts.

    ``records`` are source payloads (dicts) or objects with a ``payload`` (RawRecord).
    """
    console = console or Console()
    summary = PreviewSummary()
    for number, record in enumerate(records, start=1):
        summary.records += 1
        payload = _payload(record)
        external_id = getattr(record, "external_id", None) or parse_path(mapping.key).get(payload)
        title = f"record {number}" + (f" ({mapping.key} {external_id})" if external_id is not None else "")
        try:
            canonical = mapping.load(payload)
        except RecordError as exc:
            summary.failed += 1
            summary.problems.append((number, exc.problems))
            console.print(Text(f"{title}: FAILED to load", style="bold red"))
            for problem in exc.problems:
                console.print(Text(f"  {problem.get('field')} = {_show(problem.get('value'))!s}: "
                                   f"{problem.get('message')} [{problem.get('rule')}]", style="red"))
            continue
        back: Mapping[str, Any] | None = None
        dump_error: RecordError | None = None
        try:
            back = mapping.dump(canonical)
        except RecordError as exc:
            dump_error = exc
        table = Table(title=title, title_justify="left", show_lines=False)
        for column in ("canonical", "source", "source value", "canonical value", "back to source"):
            table.add_column(column, overflow="fold")
        record_changed = False
        for mapped in mapping.fields:
            source_value = parse_path(mapped.source).get(payload) if mapped.source else None
            canonical_value: Any = canonical.get(mapped.base)
            if mapped.index is not None and isinstance(canonical_value, list):
                canonical_value = canonical_value[mapped.index] if mapped.index < len(canonical_value) else None
            style = ""
            if not mapped.outbound or mapped.source is None:
                back_text = "(load only)"
            elif back is None:
                back_text = "(dump failed)"
                style = "red"
            else:
                back_value = parse_path(mapped.source).get(back)
                back_text = _show(back_value)
                if not same_value(source_value, back_value):
                    style = "yellow"
                    record_changed = True
            table.add_row(mapped.canonical, mapped.source or "(constant)", _show(source_value),
                          _show(canonical_value), back_text, style=style)
        if record_changed:
            summary.changed += 1
        console.print(table)
        if dump_error is not None:
            summary.failed += 1
            summary.problems.append((number, dump_error.problems))
            for problem in dump_error.problems:
                console.print(Text(f"  dump: {problem.get('field')}: {problem.get('message')}", style="red"))
    console.print(
        f"{summary.records} records, {summary.failed} failed, "
        f"{summary.changed} change on the round trip (yellow)"
    )
    return summary


__all__ = ["PreviewSummary", "preview_records", "same_value"]
