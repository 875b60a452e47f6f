"""Mapping checks: everything wrong with a mapping file, listed at once, before any run.

:func:`check_mapping` reports the structural problems :func:`read_spec` finds (unknown
canonical field or converter, bad converter arguments, a field mapped twice, no name field)
and, given what the endpoint says about itself, the ones only the endpoint can tell: a read-only
connector asked to write, source fields that do not exist, cannot be written or cannot hold the
canonical value.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from pathlib import Path

from crmsync.canonical import CANONICAL_FIELDS
from crmsync.connector import WRITE, FieldInfo
from crmsync.mapping.converters import Converter
from crmsync.mapping.spec import FieldMapping, MappingSpec, Problem, read_spec

_INDEX = re.compile(r"\[\d+\]")

# Source types (Salesforce describe, OData Edm, XSD, spreadsheet) that hold text; canonical
# text fields need one of these unless a converter changes the type.
_TEXT_TYPES = {
    "string", "textarea", "picklist", "multipicklist", "combobox", "url", "email", "phone", "id",
    "reference", "encryptedstring", "edm.string", "xsd:string", "token", "normalizedstring", "text",
}
_NUMBER_TYPES = {"double", "currency", "percent", "int", "integer", "long", "decimal", "number",
                 "edm.decimal", "edm.double", "edm.int32", "edm.int64", "xsd:decimal"}
_BOOL_TYPES = {"boolean", "bool", "edm.boolean", "xsd:boolean"}
_TIME_TYPES = {"datetime", "date", "edm.datetime", "edm.datetimeoffset", "xsd:datetime", "xsd:date"}
_COMPATIBLE = {
    "string": _TEXT_TYPES, "enum": _TEXT_TYPES, "country": _TEXT_TYPES, "currency": _TEXT_TYPES,
    "list": _TEXT_TYPES, "decimal": _NUMBER_TYPES, "bool": _BOOL_TYPES, "datetime": _TIME_TYPES,
}
# Converters whose dump output is not the canonical type (so the type check cannot judge it).
_TYPE_CHANGING = {"map", "kind", "bool", "decimal", "date", "datetime", "sap_time", "text", "join", "split"}


def _default_converters() -> Mapping[str, Converter]:
    from crmsync.plugins import get_host

    return get_host().converters


def check_mapping(
    path: str | Path,
    *,
    describe: Mapping[str, FieldInfo] | None = None,
    capabilities: Collection[str] | None = None,
    converters: Mapping[str, Converter] | None = None,
) -> list[Problem]:
    """Every problem of a mapping file (errors and warnings), each with file, line, field and fix."""
    registry = _default_converters() if converters is None else converters
    spec, problems = read_spec(path, registry)
    if spec is None:
        return problems
    if capabilities is not None and WRITE not in capabilities:
        for mapped in spec.fields:
            if mapped.outbound:
                problems.append(Problem(
                    str(spec.path), mapped.line, mapped.canonical,
                    f"direction {mapped.direction} but connector {spec.connector!r} cannot write",
                    "write direction: in (or `direction: in` at the top of the file)"))
    if describe is not None:
        problems.extend(_describe_problems(spec, describe))
    return sorted(problems, key=lambda p: (p.line, p.field))


def _lookup(describe: Mapping[str, FieldInfo], spec: MappingSpec, source: str) -> tuple[FieldInfo | None, bool]:
    """(FieldInfo, known): ``known`` is False when describe cannot tell (nested path it does not list)."""
    path = spec.paths[source]
    for candidate in (source, path.plain):
        if candidate in describe:
            return describe[candidate], True
    # Connectors may describe nested fields with or without indexes (``Nav[0].Field``).
    describe = {_INDEX.sub("", name): info for name, info in describe.items()}
    if path.plain in describe:
        return describe[path.plain], True
    if len(path.segments) > 1:
        # Missing for sure only when describe lists the parent's fields (``Nav.Field`` names);
        # a navigation it does not describe (to_EmailAddress under an address) cannot be judged.
        parent = path.plain.rsplit(".", 1)[0] + "."
        root_known = path.root in describe or any(name.startswith(path.root + ".") for name in describe)
        return None, not root_known or any(name.startswith(parent) for name in describe)
    return None, True


def _describe_problems(spec: MappingSpec, describe: Mapping[str, FieldInfo]) -> list[Problem]:
    problems: list[Problem] = []
    file = str(spec.path)
    if spec.key and spec.key not in describe and spec.key in spec.paths and len(spec.paths[spec.key].segments) == 1:
        problems.append(Problem(file, spec.key_line, "key", f"key field {spec.key!r} does not exist in "
                                f"{spec.object}", "write the field that holds the record id"))
    for mapped in spec.fields:
        if mapped.source is None or mapped.enrichment:
            continue
        info, known = _lookup(describe, spec, mapped.source)
        if info is None:
            if known:
                problems.append(Problem(
                    file, mapped.line, mapped.canonical,
                    f"source field {mapped.source!r} does not exist in {spec.object}",
                    _closest(mapped.source, describe)))
            continue
        problems.extend(_field_problems(file, mapped, info))
    return problems


def _closest(source: str, describe: Mapping[str, FieldInfo]) -> str:
    import difflib

    close = difflib.get_close_matches(source, list(describe), n=1)
    return f"did you mean {close[0]!r}?" if close else "check the field's API name in the endpoint"


def _field_problems(file: str, mapped: FieldMapping, info: FieldInfo) -> list[Problem]:
    problems: list[Problem] = []
    canonical = CANONICAL_FIELDS[mapped.base]
    if mapped.outbound and not (info.updateable or info.createable):
        problems.append(Problem(file, mapped.line, mapped.canonical,
                                f"source field {mapped.source!r} is read-only at the endpoint",
                                "write direction: in"))
    elif mapped.outbound and not info.updateable:
        problems.append(Problem(file, mapped.line, mapped.canonical,
                                f"source field {mapped.source!r} can be set on create but not updated",
                                "write direction: in, or accept that updates are rejected", "warning"))
    names = {name for name, _ in mapped.converters}
    kind = info.type.lower()
    expected = _COMPATIBLE.get(canonical.type if mapped.index is None else "string", _TEXT_TYPES)
    if kind and kind not in expected and not names & _TYPE_CHANGING and kind not in {"anytype", ""}:
        problems.append(Problem(file, mapped.line, mapped.canonical,
                                f"source field {mapped.source!r} has type {info.type}, canonical "
                                f"{mapped.base} is {canonical.type}",
                                "add a converter that produces the right type (bool, decimal, datetime, text)",
                                "warning"))
    if (mapped.outbound and info.length and canonical.max_length
            and canonical.max_length > info.length and canonical.type == "string"):
        problems.append(Problem(file, mapped.line, mapped.canonical,
                                f"canonical {mapped.base} holds up to {canonical.max_length} characters, "
                                f"{mapped.source} only {info.length}",
                                "longer values will be rejected by the endpoint; shorten them at the source",
                                "warning"))
    if mapped.outbound and info.picklist:
        for name, args in mapped.converters:
            if name == "map":
                table = args.get("reverse")
                if table is None:
                    table = {}
                    for key, value in (args.get("table") or {}).items():
                        table.setdefault(value, key)  # as the map converter: the first key wins
                bad = [str(v) for v in table.values() if str(v) not in info.picklist]
                if bad:
                    problems.append(Problem(file, mapped.line, mapped.canonical,
                                            f"map writes {', '.join(bad)}, not in the picklist of {mapped.source}",
                                            f"use picklist values: {', '.join(info.picklist)}"))
    return problems


__all__ = ["Problem", "check_mapping"]
