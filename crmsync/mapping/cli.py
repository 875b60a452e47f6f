"""The ``crmsync mappings`` commands: ``check`` mapping files and ``preview`` what they do.

The lead's CLI adds :data:`mappings` to the main ``crmsync`` group. ``check`` exits 2 when a
file has errors (warnings are printed; ``--strict`` makes them fail too).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from itertools import islice
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from crmsync.errors import MappingError
from crmsync.mapping.checks import check_mapping
from crmsync.mapping.compiler import CompiledMapping, compile_mapping
from crmsync.mapping.preview import preview_records

PACKAGE_MAPPINGS = Path(__file__).resolve().parents[2] / "mappings"
"""The default mappings shipped in the source tree (``mappings/``)."""


def default_mapping_files() -> list[Path]:
    """``./mappings/*.yaml`` when that folder exists, else the shipped default mappings."""
    local = Path("mappings")
    folder = local if local.is_dir() else PACKAGE_MAPPINGS
    return sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")])


@click.group(name="mappings")
def mappings() -> None:
    """Check and preview field mappings."""


@mappings.command()
@click.argument("files", nargs=-1, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--strict", is_flag=True, help="Fail on warnings too.")
def check(files: tuple[Path, ...], strict: bool) -> None:
    """Check mapping FILES (default: ./mappings/*.yaml or the shipped defaults)."""
    targets = list(files) or default_mapping_files()
    if not targets:
        raise click.UsageError("no mapping files given and none found in ./mappings")
    failed = False
    for target in targets:
        problems = check_mapping(target)
        errors = [p for p in problems if p.severity == "error" or strict]
        for problem in problems:
            click.echo(str(problem), err=problem in errors)
        if errors:
            failed = True
        elif not problems:
            click.echo(f"{target}: ok")
    if failed:
        raise click.exceptions.Exit(2)


def read_sample(path: Path) -> Iterator[dict[str, Any]]:
    """Records of a sample file: JSON (a list, {"records": [...]}, or one object per line) or CSV."""
    text = path.read_text(encoding="utf-8-sig")
    if path.suffix.lower() in (".csv", ".tsv", ".txt"):
        try:
            dialect: Any = csv.Sniffer().sniff(text[:4096], delimiters=",;\t|")
        except csv.Error:
            dialect = csv.excel
        yield from csv.DictReader(io.StringIO(text, newline=""), dialect=dialect)
        return
    stripped = text.lstrip()
    if (stripped.startswith("[") or stripped.startswith("{")) and path.suffix.lower() != ".jsonl":
        try:
            data = json.loads(text)
        except json.JSONDecodeError:
            data = None
        if data is not None:
            if isinstance(data, dict):
                data = data.get("records") or data.get("value") or data.get("d", {}).get("results") or [data]
            if not isinstance(data, list):
                raise click.UsageError(f"{path}: expected a list of records")
            yield from (item for item in data if isinstance(item, dict))
            return
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            try:
                item = json.loads(line)
            except json.JSONDecodeError as exc:
                raise click.UsageError(f"{path}:{number}: not JSON: {exc.msg}") from None
            if isinstance(item, dict):
                yield item


@mappings.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--sample-file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Source records: JSON list, JSON lines or CSV.")
@click.option("--endpoint", help="Read the records from this endpoint of the configuration instead.")
@click.option("--sample", "count", type=click.IntRange(min=1), default=10, show_default=True,
              help="How many records to show.")
def preview(file: Path, sample_file: Path | None, endpoint: str | None, count: int) -> None:
    """Show source -> canonical -> back-to-source for records of --sample-file or a live --endpoint.

    Fields that change on the round trip are highlighted; records that fail show the reason.
    """
    if (sample_file is None) == (endpoint is None):
        raise click.UsageError("give exactly one of --sample-file FILE or --endpoint NAME")
    try:
        mapping = compile_mapping(file)
    except MappingError as exc:
        click.echo(str(exc), err=True)
        raise click.exceptions.Exit(2) from None
    records = read_sample(sample_file) if sample_file is not None else _endpoint_records(str(endpoint), mapping)
    summary = preview_records(mapping, islice(records, count), Console())
    if summary.failed:
        raise click.exceptions.Exit(1)


def _endpoint_records(name: str, mapping: CompiledMapping) -> Iterator[dict[str, Any]]:
    """Records read from a configured endpoint (the root command's --config), as the engine reads them."""
    from crmsync.engine import open_endpoint
    from crmsync.plugins import get_host

    config = click.get_current_context().find_root().obj.config
    if name not in config.endpoints:
        raise click.UsageError(f"no endpoint {name!r} in {config.path}; endpoints: {', '.join(config.endpoints)}")
    opened = open_endpoint(config.endpoints[name], get_host(), mapping=mapping)
    try:
        for record in opened.connector.read_changes(None):
            yield record.payload
    finally:
        opened.connector.close()


__all__ = ["default_mapping_files", "mappings", "read_sample"]
