"""Field mappings: YAML files that say how an endpoint's fields become canonical fields and back.

A mapping file is compiled once per run (:func:`compile_mapping`) into marshmallow schemas;
:meth:`CompiledMapping.load` turns a source payload into a flat canonical record and
:meth:`CompiledMapping.dump` a canonical record into a source payload. :func:`check_mapping`
lists every problem of a file, and :func:`preview_records` shows what a mapping does to records.
The format and every converter are documented in docs/mappings.md.
"""

from __future__ import annotations

from crmsync.mapping.checks import check_mapping
from crmsync.mapping.compiler import CompiledMapping, compile_mapping
from crmsync.mapping.converters import BUILTIN_CONVERTERS, ConversionError, Converter
from crmsync.mapping.preview import PreviewSummary, preview_records
from crmsync.mapping.spec import FieldMapping, Problem

__all__ = [
    "BUILTIN_CONVERTERS",
    "CompiledMapping",
    "ConversionError",
    "Converter",
    "FieldMapping",
    "PreviewSummary",
    "Problem",
    "check_mapping",
    "compile_mapping",
    "preview_records",
]
