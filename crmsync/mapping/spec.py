"""Reading a mapping file: safe YAML with line numbers and duplicate-key detection, and the
structural rules every mapping must follow.

:func:`read_spec` returns the parsed :class:`MappingSpec` (or ``None`` when the file cannot be
read at all) together with every :class:`Problem` it found, so ``crmsync mappings check`` can
list them all at once while :func:`~crmsync.mapping.compiler.compile_mapping` refuses a file
with any error. Only :class:`yaml.SafeLoader` is used: tags such as ``!!python/object`` are
refused with a clear problem, never constructed.
"""

from __future__ import annotations

import difflib
import functools
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from crmsync.canonical import CANONICAL_FIELDS
from crmsync.mapping.converters import Converter
from crmsync.mapping.paths import SourcePath, parse_path

DIRECTIONS = ("in", "out", "both")
TOP_KEYS = ("connector", "object", "key", "fields", "direction", "description", "version")
FIELD_KEYS = ("source", "direction", "convert", "required", "constant", "enrichment", "note")
NAME_FIELDS = ("organization_name", "last_name", "first_name")
_CANONICAL_KEY = re.compile(r"^(?P<base>[a-z_.]+)(?:\[(?P<index>\d+)\])?$")


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a mapping file: where, what, and how to fix it."""

    file: str
    line: int
    field: str
    message: str
    fix: str
    severity: str = "error"
    """``error`` (the mapping must not run) or ``warning`` (it runs; check it)."""

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        label = f" {self.field}:" if self.field else ""
        kind = "warning: " if self.severity == "warning" else ""
        fix = f" Fix: {self.fix}" if self.fix else ""
        return f"{where}:{label} {kind}{self.message}.{fix}"


@dataclass(frozen=True)
class FieldMapping:
    """One canonical field's mapping, as written in the file (validated)."""

    canonical: str
    """As written: ``billing_address.city`` or ``emails[0]``."""
    source: str | None
    """Source path; ``None`` for a ``constant:`` field."""
    direction: str
    converters: tuple[tuple[str, Mapping[str, Any]], ...]
    """The chain, in load order: (converter name, arguments)."""
    required: bool
    line: int
    enrichment: bool = False
    """The connector adds this source field to the payload itself; describe() does not list it."""

    @functools.cached_property
    def base(self) -> str:
        """The canonical field name without a list index."""
        return self.canonical.split("[", 1)[0]

    @functools.cached_property
    def index(self) -> int | None:
        """The list index of ``emails[1]``, ``None`` for a whole field."""
        match = _CANONICAL_KEY.match(self.canonical)
        index = match.group("index") if match else None
        return int(index) if index is not None else None

    @property
    def inbound(self) -> bool:
        return self.direction in ("in", "both")

    @property
    def outbound(self) -> bool:
        return self.direction in ("out", "both")


@dataclass
class MappingSpec:
    """A parsed mapping file."""

    path: Path
    hash: str
    connector: str = ""
    object: str = ""
    key: str = ""
    key_line: int = 0
    fields: list[FieldMapping] = field(default_factory=list)
    paths: dict[str, SourcePath] = field(default_factory=dict)
    """Parsed source paths by their text."""


class _Lines(dict[Any, Any]):
    """A YAML mapping that remembers the line (1-based) of each key and of itself."""

    line: int = 0
    lines: dict[Any, int]


class _DuplicateKey(yaml.YAMLError):
    def __init__(self, key: Any, first: int, second: int) -> None:
        super().__init__(f"key {key!r} appears twice (lines {first} and {second})")
        self.key = key
        self.first = first
        self.second = second


class _Loader(yaml.SafeLoader):
    """SafeLoader that records line numbers and refuses duplicate keys."""


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> _Lines:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue
        key = loader.construct_object(key_node, deep=True)
        line = key_node.start_mark.line + 1
        if isinstance(key, str | int | float | bool) and key in seen:
            raise _DuplicateKey(key, seen[key], line)
        seen[key] = line
    loader.flatten_mapping(node)
    mapping = _Lines()
    mapping.line = node.start_mark.line + 1
    mapping.lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        try:
            mapping[key] = loader.construct_object(value_node, deep=True)
        except TypeError:
            raise yaml.constructor.ConstructorError(
                None, None, f"unhashable key {key!r}", key_node.start_mark
            ) from None
        mapping.lines[key] = key_node.start_mark.line + 1
    return mapping


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _line(mapping: Any, key: Any, default: int = 0) -> int:
    if isinstance(mapping, _Lines):
        return mapping.lines.get(key, mapping.line or default)
    return default


class _Collector:
    def __init__(self, file: str) -> None:
        self.file = file
        self.problems: list[Problem] = []

    def add(self, line: int, fld: str, message: str, fix: str, severity: str = "error") -> None:
        self.problems.append(Problem(self.file, line, fld, message, fix, severity))


def _suggest(word: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1)
    return f"did you mean {close[0]!r}?" if close else ""


def load_yaml(text: str) -> Any:
    """Parse mapping YAML safely (duplicate keys and python tags refused); raises yaml.YAMLError."""
    return yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader is a SafeLoader subclass


def read_spec(path: str | Path, converters: Mapping[str, Converter]) -> tuple[MappingSpec | None, list[Problem]]:
    """Parse and validate a mapping file; the spec is ``None`` when the file is unreadable."""
    path = Path(path)
    out = _Collector(str(path))
    try:
        raw = path.read_bytes()
    except OSError as exc:
        out.add(0, "", f"cannot read the mapping file: {exc.strerror or exc}", "check the path")
        return None, out.problems
    spec = MappingSpec(path=path, hash=hashlib.sha256(raw).hexdigest())
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        out.add(0, "", f"not UTF-8 text ({exc.reason} at byte {exc.start})", "save the file as UTF-8")
        return None, out.problems
    try:
        document = load_yaml(text)
    except _DuplicateKey as exc:
        out.add(exc.second, str(exc.key), f"{exc.key!r} is written twice (lines {exc.first} and {exc.second})",
                "keep one of them: a field is mapped once per file")
        return None, out.problems
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 0
        detail = str(getattr(exc, "problem", None) or exc)
        if "python/" in detail or "could not determine a constructor" in detail:
            out.add(line, "", f"YAML tag refused: {detail}",
                    "mapping files are plain data: remove tags such as !!python/object")
        else:
            out.add(line, "", f"invalid YAML: {detail}", "fix the YAML syntax at that line")
        return None, out.problems
    if not isinstance(document, dict):
        out.add(1, "", "the file must be a mapping with connector, object, key and fields",
                "start from the example in docs/mappings.md")
        return None, out.problems

    for key in document:
        if key not in TOP_KEYS:
            out.add(_line(document, key), str(key), f"unknown top-level key {key!r}",
                    f"use only {', '.join(TOP_KEYS)} {_suggest(str(key), list(TOP_KEYS))}".strip())
    for key in ("connector", "object", "key"):
        value = document.get(key)
        if not isinstance(value, str) or not value.strip():
            out.add(_line(document, key, 1), key, f"{key!r} must be a non-empty string",
                    f"add e.g. `{key}: {_EXAMPLES[key]}`")
        else:
            setattr(spec, key, value.strip())
    spec.key_line = _line(document, "key", 1)
    if spec.key:
        try:
            spec.paths[spec.key] = parse_path(spec.key)
        except ValueError as exc:
            out.add(spec.key_line, "key", str(exc), "write the source field holding the record id")
    default_direction = document.get("direction", "both")
    if default_direction not in DIRECTIONS:
        out.add(_line(document, "direction"), "direction", f"direction {default_direction!r} is not in/out/both",
                "write direction: in, out or both")
        default_direction = "both"

    fields = document.get("fields")
    if not isinstance(fields, dict) or not fields:
        out.add(_line(document, "fields", 1), "fields", "'fields' must be a non-empty mapping of canonical fields",
                "add fields: with one entry per canonical field")
        return spec, out.problems
    for name, entry in fields.items():
        mapped = _read_field(out, spec, fields, name, entry, default_direction, converters)
        if mapped is not None:
            spec.fields.append(mapped)
    _cross_checks(out, spec, _line(document, "fields", 1))
    return spec, out.problems


_EXAMPLES = {"connector": "salesforce", "object": "Account", "key": "Id"}


def _read_field(
    out: _Collector,
    spec: MappingSpec,
    fields: dict[Any, Any],
    name: Any,
    entry: Any,
    default_direction: str,
    converters: Mapping[str, Converter],
) -> FieldMapping | None:
    line = _line(fields, name)
    label = str(name)
    match = _CANONICAL_KEY.match(label)
    base = match.group("base") if match else label
    if match is None or base not in CANONICAL_FIELDS:
        hint = _suggest(base, list(CANONICAL_FIELDS))
        out.add(line, label, f"{label!r} is not a canonical field",
                f"use a field of crmsync.canonical.CANONICAL_FIELDS {hint}".strip())
        return None
    if match.group("index") is not None and CANONICAL_FIELDS[base].type != "list":
        out.add(line, label, f"{base!r} is not a list field, so it takes no [index]", f"write {base}")
        return None
    if isinstance(entry, str):
        entry = {"source": entry}
    if not isinstance(entry, dict):
        out.add(line, label, "a field entry must be a source name or a mapping",
                "write e.g. {source: Name, convert: [trim]}")
        return None
    ok = True
    for key in entry:
        if key not in FIELD_KEYS:
            ok = False
            out.add(_line(entry, key, line), label, f"unknown key {key!r}",
                    f"use {', '.join(FIELD_KEYS)} {_suggest(str(key), list(FIELD_KEYS))}".strip())
    direction = entry.get("direction", default_direction)
    if direction not in DIRECTIONS:
        out.add(_line(entry, "direction", line), label, f"direction {direction!r} is not in/out/both",
                "write direction: in, out or both")
        ok = False
    required = entry.get("required", False)
    if not isinstance(required, bool):
        out.add(_line(entry, "required", line), label, "required must be true or false", "write required: true")
        ok = False
    enrichment = entry.get("enrichment", False)
    if not isinstance(enrichment, bool):
        out.add(_line(entry, "enrichment", line), label, "enrichment must be true or false",
                "write enrichment: true")
        ok = False
    chain: list[tuple[str, Mapping[str, Any]]] = []
    source = entry.get("source")
    if "constant" in entry:
        if source is not None:
            out.add(line, label, "a field has either source or constant, not both", "remove one of them")
            ok = False
        if direction != "in":
            if "direction" in entry:
                out.add(line, label, "a constant is only loaded, never written", "write direction: in")
                ok = False
            direction = "in"
        chain.append(("constant", {"value": entry["constant"]}))
    elif source is None:
        out.add(line, label, "no source", "add source: <source field path> (or constant: <value>)")
        ok = False
    elif not isinstance(source, str):
        out.add(_line(entry, "source", line), label, f"source must be a string, got {source!r}",
                "quote the source path")
        ok = False
    else:
        try:
            spec.paths[source] = parse_path(source)
        except ValueError as exc:
            out.add(_line(entry, "source", line), label, str(exc), "write a path like BillingAddress.city")
            ok = False
    convert = entry.get("convert", [])
    if isinstance(convert, str | dict):
        convert = [convert]
    if not isinstance(convert, list):
        out.add(_line(entry, "convert", line), label, "convert must be a list", "write convert: [trim, upper]")
        return None
    for step in convert:
        call = _read_converter(out, _line(entry, "convert", line), label, step, converters)
        if call is None:
            ok = False
        else:
            chain.append(call)
    if not ok:
        return None
    return FieldMapping(label, source if isinstance(source, str) else None, direction, tuple(chain),
                        required, line, enrichment)


def _read_converter(
    out: _Collector, line: int, label: str, step: Any, converters: Mapping[str, Converter]
) -> tuple[str, Mapping[str, Any]] | None:
    if isinstance(step, str):
        name, args = step, None
    elif isinstance(step, dict) and len(step) == 1:
        name, args = next(iter(step.items()))
        line = _line(step, name, line)
    else:
        out.add(line, label, f"converter entry {step!r} is neither a name nor {{name: arguments}}",
                "write e.g. trim or {decimal: {scale: 2}}")
        return None
    name = str(name)
    converter = converters.get(name)
    if converter is None:
        out.add(line, label, f"unknown converter {name!r}",
                f"use one of {', '.join(sorted(converters))} {_suggest(name, list(converters))}".strip())
        return None
    if args is None:
        args = {}
    elif not isinstance(args, dict):
        if converter.shorthand is None:
            out.add(line, label, f"converter {name!r} takes its arguments as a mapping, got {args!r}",
                    f"write {{{name}: {{argument: value}}}}")
            return None
        args = {converter.shorthand: args}
    if converter.check_args is not None:
        try:
            troubles = converter.check_args(args)
        except Exception as exc:  # a plugin's checker must not crash the whole check
            troubles = [f"arguments {args!r} could not be checked ({type(exc).__name__}: {exc})"]
        for trouble in troubles:
            out.add(line, label, f"converter {name!r}: {trouble}", f"see `{name}` in docs/mappings.md")
        if troubles:
            return None
    return name, dict(args)


def _cross_checks(out: _Collector, spec: MappingSpec, fields_line: int) -> None:
    bases: dict[str, FieldMapping] = {}
    for mapped in spec.fields:
        other = bases.get(mapped.base)
        if other is not None and (mapped.index is None or other.index is None):
            out.add(mapped.line, mapped.canonical,
                    f"{mapped.base!r} is mapped twice (also line {other.line} as {other.canonical})",
                    "map a list either whole or by [index], once each")
        bases.setdefault(mapped.base, mapped)
        spec_type = CANONICAL_FIELDS[mapped.base].type
        names = [name for name, _ in mapped.converters]
        if spec_type == "list" and mapped.index is None and not {"split", "join"} & set(names):
            out.add(mapped.line, mapped.canonical,
                    f"the whole list {mapped.base!r} is mapped to one source field without split",
                    f"write {mapped.base}[0] for the primary value, or add {{split: ','}}", "warning")
    writers: dict[str, FieldMapping] = {}
    for mapped in spec.fields:
        if not mapped.outbound or mapped.source is None:
            continue
        other = writers.get(mapped.source)
        if other is not None:
            out.add(mapped.line, mapped.canonical,
                    f"source {mapped.source!r} is written by two fields ({other.canonical}, line {other.line})",
                    "set direction: in on all but one of them")
        writers.setdefault(mapped.source, mapped)
    written = sorted(writers)
    for text in written:
        for longer in written:
            if longer != text and (longer.startswith(text + ".") or longer.startswith(text + "[")):
                out.add(writers[longer].line, writers[longer].canonical,
                        f"source {longer!r} is inside {text!r}, which is written as a whole",
                        f"set direction: in on {writers[text].canonical}")
    if not any(m.base in NAME_FIELDS and m.inbound for m in spec.fields):
        out.add(fields_line, "organization_name",
                "no name field is loaded: a mapping must load organization_name, last_name or first_name",
                "map organization_name (organizations) or last_name (persons)")


__all__ = ["DIRECTIONS", "NAME_FIELDS", "FieldMapping", "MappingSpec", "Problem", "load_yaml", "read_spec"]
