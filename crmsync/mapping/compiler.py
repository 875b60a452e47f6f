"""The mapping compiler: a mapping file becomes two marshmallow schemas, built once per run.

``load`` flattens a source payload to ``{source path: value}`` (the schema's data keys), runs
each field's converter chain inside a custom marshmallow field and checks the result against
the canonical field's type, collecting every problem of the record. ``dump`` runs the reverse
chains and builds the nested, source-shaped payload. Schema fields are named ``f0``, ``f1``...
because canonical names contain dots, which marshmallow would read as nested attributes.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import marshmallow
from marshmallow import ValidationError, fields

from crmsync.canonical import CANONICAL_FIELDS, CanonicalField
from crmsync.errors import MappingError, RecordError
from crmsync.mapping.converters import ConversionError, Converter
from crmsync.mapping.paths import SourcePath, build_payload
from crmsync.mapping.spec import FieldMapping, Problem, read_spec

_COUNTRY = re.compile(r"^[A-Z]{2}$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")
_MISSING: Any = marshmallow.missing


def _short(value: Any, limit: int = 200) -> Any:
    if isinstance(value, str) and len(value) > limit:
        return value[:limit] + f"... ({len(value)} chars)"
    if isinstance(value, dt.datetime | dt.date | Decimal):
        return str(value)
    return value


@dataclass(frozen=True)
class _Step:
    converter: Converter
    args: Mapping[str, Any]


@dataclass
class _Failure:
    """What a dump field returns instead of raising, so one dump reports every problem."""

    problem: dict[str, Any]


def _problem(mapped: FieldMapping, value: Any, rule: str, message: str) -> dict[str, Any]:
    return {"field": mapped.canonical, "source": mapped.source, "value": _short(value), "rule": rule,
            "message": message}


def _run(steps: list[_Step], value: Any, inverse: bool) -> Any:
    """Apply the chain (or its inverse); raises _RuleError naming the converter that failed."""
    for step in steps:
        function = step.converter.to_source if inverse else step.converter.to_canonical
        if function is None:
            continue
        if value is None and not step.converter.handles_none:
            continue
        try:
            if isinstance(value, list) and step.converter.elementwise:
                value = [function(item, step.args) for item in value if item is not None]
            else:
                value = function(value, step.args)
        except ConversionError as exc:
            raise _RuleError(step.converter.name, str(exc)) from None
        except Exception as exc:
            # A converter bug (or a plugin's) must poison only this record, not stop the run.
            raise _RuleError(step.converter.name,
                             f"{step.converter.name}: {type(exc).__name__}: {exc}") from None
    return value


class _RuleError(Exception):
    def __init__(self, rule: str, message: str) -> None:
        super().__init__(message)
        self.rule = rule
        self.message = message


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip()) or value == []


def _type_problem(spec: CanonicalField, value: Any) -> tuple[str, str] | None:
    """(rule, message) when ``value`` is not a valid canonical value of ``spec``."""
    kind = spec.type
    if kind in ("string", "enum", "country", "currency"):
        if not isinstance(value, str):
            return "type", (f"expected text, got {type(value).__name__} {value!r}; "
                            "add a converter (text, map...) to make it text")
        if kind == "enum" and value not in spec.choices:
            return "choices", f"{value!r} is not one of {', '.join(spec.choices)}; add a map converter"
        if kind == "country" and not _COUNTRY.match(value):
            return "country", f"{value!r} is not an ISO 3166-1 alpha-2 code; add the country_code converter"
        if kind == "currency" and not _CURRENCY.match(value):
            return "currency", f"{value!r} is not an ISO 4217 code like EUR; add upper or a map converter"
        if spec.max_length is not None and len(value) > spec.max_length:
            return "max_length", f"{len(value)} characters, longer than the {spec.max_length} allowed"
        return None
    if kind == "decimal":
        if not isinstance(value, Decimal) or not value.is_finite():
            return "type", f"expected a finite Decimal, got {type(value).__name__}; add the decimal converter"
        return None
    if kind == "bool":
        if not isinstance(value, bool):
            return "type", f"expected true/false, got {type(value).__name__} {value!r}; add the bool converter"
        return None
    if kind == "datetime":
        if not isinstance(value, dt.datetime) or value.tzinfo is None:
            return "type", "expected a time-zone aware datetime; add the datetime converter"
        return None
    if kind == "list":
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            return "type", "expected a list of text"
        return None
    return None


class _InboundField(fields.Field):  # type: ignore[type-arg]
    """Runs a field's converter chain on load and checks the canonical type."""

    def __init__(self, mapped: FieldMapping, steps: list[_Step], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.mapped = mapped
        self.steps = steps
        spec = CANONICAL_FIELDS[mapped.base]
        # An indexed list slot (emails[0]) holds one string of the list.
        self.spec = CanonicalField(spec.name, "string", spec.doc) if mapped.index is not None else spec

    def deserialize(self, value: Any, attr: str | None = None, data: Mapping[str, Any] | None = None,
                    **kwargs: Any) -> Any:
        # Bypasses marshmallow's null handling: None must reach `default`, `constant` and `bool`.
        return self._deserialize(None if value is _MISSING else value, attr, data, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any) -> Any:
        original = value
        if isinstance(value, str) and value == "":
            value = None
        try:
            value = _run(self.steps, value, inverse=False)
        except _RuleError as exc:
            raise ValidationError(_problem(self.mapped, original, exc.rule, exc.message)) from None
        if self.spec.type == "list" and isinstance(value, str):
            value = [value]
        if isinstance(value, list):
            value = [item for item in value if not _empty(item)]
        if self.spec.type == "decimal" and isinstance(value, int) and not isinstance(value, bool):
            value = Decimal(value)
        if _empty(value):
            if self.mapped.required:
                raise ValidationError(_problem(self.mapped, original, "required",
                                               f"{self.mapped.canonical} is required but empty"))
            return None
        trouble = _type_problem(self.spec, value)
        if trouble is not None:
            raise ValidationError(_problem(self.mapped, original, trouble[0],
                                           f"{self.mapped.canonical}: {trouble[1]}"))
        return value


class _OutboundField(fields.Field):  # type: ignore[type-arg]
    """Runs a field's reverse converter chain on dump."""

    def __init__(self, mapped: FieldMapping, steps: list[_Step], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.mapped = mapped
        self.steps = list(reversed(steps))

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        if _empty(value):
            if self.mapped.required:
                return _Failure(_problem(self.mapped, value, "required",
                                         f"{self.mapped.canonical} is required by {self.mapped.source}"))
            return None
        try:
            result = _run(self.steps, value, inverse=True)
        except _RuleError as exc:
            return _Failure(_problem(self.mapped, value, exc.rule, exc.message))
        return result


@dataclass
class CompiledMapping:
    """A mapping file compiled to marshmallow schemas; ``load`` and ``dump`` one record at a time."""

    path: Path
    connector: str
    object: str
    key: str
    hash: str
    """sha256 hex of the file's bytes (record it with each run to know which mapping was used)."""
    fields: list[FieldMapping]
    source_fields: tuple[str, ...]
    """Every source path the mapping reads or writes, the key first (for EndpointContext.fields)."""
    inbound: frozenset[str]
    """Canonical fields ``load`` produces."""
    outbound: frozenset[str]
    """Canonical fields ``dump`` writes."""
    _load_schema: marshmallow.Schema = field(repr=False)
    _dump_schema: marshmallow.Schema = field(repr=False)
    _load_keys: list[tuple[str, SourcePath]] = field(repr=False)
    _load_fields: list[tuple[str, FieldMapping]] = field(repr=False)
    _dump_fields: list[tuple[str, FieldMapping]] = field(repr=False)
    _paths: dict[str, SourcePath] = field(repr=False)

    def __repr__(self) -> str:
        return (f"CompiledMapping({str(self.path)!r}, connector={self.connector!r}, object={self.object!r}, "
                f"fields={len(self.fields)}, hash={self.hash[:12]!r})")

    def load(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        """The flat canonical record of a source payload; RecordError listing every problem."""
        flat = {data_key: path.get(payload) for data_key, path in self._load_keys}
        problems: list[dict[str, Any]] = []
        try:
            loaded: dict[str, Any] = self._load_schema.load(flat)
        except ValidationError as exc:
            loaded = exc.valid_data if isinstance(exc.valid_data, dict) else {}
            problems = _collect(exc.messages, self._load_fields)
        if problems:
            raise _record_error(problems)
        record: dict[str, Any] = {}
        slots: dict[str, list[tuple[int, Any]]] = {}
        for name, mapped in self._load_fields:
            value = loaded.get(name)
            index = mapped.index
            if index is None:
                record[mapped.base] = value
            else:
                slots.setdefault(mapped.base, []).append((index, value))
        for base, items in slots.items():
            values = [value for _, value in sorted(items, key=lambda item: item[0]) if value is not None]
            record[base] = values or None
        return record

    def dump(self, record: Mapping[str, Any], only: Collection[str] | None = None) -> dict[str, Any]:
        """The nested source payload of the outbound fields in ``record`` (limited to ``only``).

        Fields absent from ``record`` are left out; a field present with ``None`` is written as
        ``None`` (cleared at the endpoint).
        """
        wanted = None if only is None else set(only)
        values: dict[str, Any] = {}
        for name, mapped in self._dump_fields:
            base = mapped.base
            if base not in record or (wanted is not None and base not in wanted):
                continue
            value = record[base]
            index = mapped.index
            if index is not None:
                items = value if isinstance(value, list | tuple) else ([value] if value else [])
                value = items[index] if index < len(items) else None
            values[name] = value
        dumped: dict[str, Any] = self._dump_schema.dump(values)
        problems = [value.problem for value in dumped.values() if isinstance(value, _Failure)]
        if problems:
            raise _record_error(problems)
        return build_payload([(self._paths[key], value) for key, value in dumped.items()])


def _collect(messages: Any, fields_by_name: list[tuple[str, FieldMapping]]) -> list[dict[str, Any]]:
    problems: list[dict[str, Any]] = []
    if not isinstance(messages, dict):
        return [{"field": None, "value": None, "rule": "schema", "message": str(messages)}]
    by_key = dict(fields_by_name)
    for key, message in messages.items():
        if isinstance(message, dict) and "rule" in message:
            problems.append(message)
        else:
            mapped = by_key.get(key)
            problems.append({"field": mapped.canonical if mapped else key, "value": None, "rule": "schema",
                             "message": str(message)})
    return problems


def _record_error(problems: list[dict[str, Any]]) -> RecordError:
    first = problems[0]
    summary = "; ".join(f"{p['field']}: {p['message']}" for p in problems)
    return RecordError(
        f"{len(problems)} mapping problem{'s' if len(problems) > 1 else ''}: {summary}",
        field=first.get("field"),
        value=first.get("value"),
        rule=first.get("rule"),
        problems=problems,
    )


class _NoPath(SourcePath):
    """The 'source' of a constant field: always None."""

    def get(self, payload: Mapping[str, Any]) -> Any:
        return None


_NO_PATH = _NoPath("", ())


def _default_converters() -> Mapping[str, Converter]:
    from crmsync.plugins import get_host

    return get_host().converters


def _raise_problems(path: Path, problems: list[Problem]) -> None:
    errors = [p for p in problems if p.severity == "error"]
    if not errors:
        return
    first = errors[0]
    lines = "\n".join(f"  {p}" for p in errors)
    error = MappingError(
        f"{len(errors)} problem{'s' if len(errors) > 1 else ''} in the mapping:\n{lines}",
        file=str(path),
        path=f"line {first.line}: {first.field}" if first.field else f"line {first.line}",
    )
    error.problems = errors  # type: ignore[attr-defined]
    raise error


def compile_mapping(path: str | Path, converters: Mapping[str, Converter] | None = None) -> CompiledMapping:
    """Compile a mapping file; MappingError naming file, line, field and the fix when it is wrong."""
    path = Path(path)
    registry = _default_converters() if converters is None else converters
    spec, problems = read_spec(path, registry)
    _raise_problems(path, problems)
    assert spec is not None  # read_spec reports an error whenever it returns no spec

    load_fields: dict[str, fields.Field] = {}  # type: ignore[type-arg]
    dump_fields: dict[str, fields.Field] = {}  # type: ignore[type-arg]
    load_keys: list[tuple[str, SourcePath]] = []
    load_names: list[tuple[str, FieldMapping]] = []
    dump_names: list[tuple[str, FieldMapping]] = []
    used_keys: set[str] = set()
    for position, mapped in enumerate(spec.fields):
        name = f"f{position}"
        steps = [_Step(registry[conv], args) for conv, args in mapped.converters]
        # Data keys are the source paths; a path read by two fields gets a "#n" suffix because
        # marshmallow needs distinct data keys.
        data_key = mapped.source or f"={mapped.canonical}"
        suffix = 1
        while data_key in used_keys:
            suffix += 1
            data_key = f"{mapped.source or mapped.canonical}#{suffix}"
        used_keys.add(data_key)
        path_of_key = spec.paths.get(mapped.source) if mapped.source else None
        if mapped.inbound:
            load_fields[name] = _InboundField(mapped, steps, data_key=data_key)
            load_names.append((name, mapped))
            if path_of_key is not None:
                load_keys.append((data_key, path_of_key))
            else:
                load_keys.append((data_key, _NO_PATH))
        if mapped.outbound and mapped.source is not None:
            dump_fields[name] = _OutboundField(mapped, steps, data_key=mapped.source)
            dump_names.append((name, mapped))
    label = re.sub(r"\W", "_", f"{spec.connector}_{spec.object}")
    load_schema = marshmallow.Schema.from_dict(load_fields, name=f"{label}_Load")(unknown=marshmallow.EXCLUDE)
    dump_schema = marshmallow.Schema.from_dict(dump_fields, name=f"{label}_Dump")()
    sources = [spec.key] + [m.source for m in spec.fields if m.source is not None]
    return CompiledMapping(
        path=path,
        connector=spec.connector,
        object=spec.object,
        key=spec.key,
        hash=spec.hash,
        fields=list(spec.fields),
        source_fields=tuple(dict.fromkeys(sources)),
        inbound=frozenset(m.base for m in spec.fields if m.inbound),
        outbound=frozenset(m.base for m in spec.fields if m.outbound and m.source is not None),
        _load_schema=load_schema,
        _dump_schema=dump_schema,
        _load_keys=load_keys,
        _load_fields=load_names,
        _dump_fields=dump_names,
        _paths=spec.paths,
    )


__all__ = ["CompiledMapping", "compile_mapping"]
