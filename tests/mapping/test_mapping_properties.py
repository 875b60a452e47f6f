"""Property tests of the compiler: round trips hold and bad input only ever gives RecordError."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crmsync.canonical import validate_flat
from crmsync.errors import RecordError
from crmsync.mapping import CompiledMapping, compile_mapping

MAPPINGS = Path(__file__).resolve().parents[2] / "mappings"
SETTINGS = settings(max_examples=100, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.large_base_example])

STRING_FIELDS = ["organization_name", "industry", "tax_id", "billing_address.city", "shipping_address.street"]
SEGMENT = st.from_regex(r"[A-Za-z][A-Za-z0-9_]{0,8}", fullmatch=True)


@st.composite
def source_paths(draw: st.DrawFn) -> list[str]:
    """Distinct source paths, none inside another (nested dicts and indexed lists)."""
    count = len(STRING_FIELDS)
    paths: list[str] = []
    while len(paths) < count:
        depth = draw(st.integers(1, 3))
        parts = []
        for level in range(depth):
            name = draw(SEGMENT)
            if level < depth - 1 and draw(st.booleans()):
                name += f"[{draw(st.integers(0, 2))}]"
            parts.append(name)
        path = ".".join(parts)
        clash = any(p == path or p.startswith(path + ".") or path.startswith(p + ".")
                    or p.split("[")[0] == path.split("[")[0] != p for p in paths)
        # a name used as a plain key in one path and as a list in another cannot coexist
        roots = {p.split(".")[0].split("[")[0]: "[" in p.split(".")[0] for p in paths}
        root = path.split(".")[0]
        if roots.get(root.split("[")[0], "[" in root) != ("[" in root):
            clash = True
        if not clash:
            paths.append(path)
    return paths


def _compile(tmp_path: Path, text: str) -> CompiledMapping:
    path = tmp_path / "property.yaml"
    path.write_text(text, encoding="utf-8")
    return compile_mapping(path)


TEXT = st.text(st.characters(blacklist_categories=["Cs"]), max_size=60).map(str.strip).filter(
    lambda s: len(s) <= 80)


@settings(SETTINGS, max_examples=60)
@given(paths=source_paths(), data=st.data())
def test_nested_paths_round_trip(tmp_path_factory: pytest.TempPathFactory, paths: list[str],
                                 data: st.DataObject) -> None:
    lines = "\n".join(f"  {name}: {{source: '{path}', convert: [trim]}}" for name, path in zip(STRING_FIELDS, paths,
                                                                                             strict=True))
    mapping = _compile(tmp_path_factory.mktemp("m"), f"connector: x\nobject: y\nkey: id\nfields:\n{lines}\n")
    record = {name: data.draw(st.one_of(st.none(), TEXT), label=name) for name in STRING_FIELDS}
    record = {k: (v or None) for k, v in record.items()}
    payload = mapping.dump(record)
    assert mapping.load(payload) == record
    assert mapping.dump(mapping.load(payload)) == payload


MONEY = st.decimals(min_value=Decimal("-1e15"), max_value=Decimal("1e15"), places=2, allow_nan=False,
                    allow_infinity=False)
MOMENTS = st.datetimes(min_value=dt.datetime(1900, 1, 1), max_value=dt.datetime(2200, 1, 1),
                       timezones=st.just(dt.UTC)).map(lambda d: d.replace(microsecond=d.microsecond // 1000 * 1000))


@pytest.fixture(scope="module")
def typed_mapping(tmp_path_factory: pytest.TempPathFactory) -> CompiledMapping:
    return _compile(tmp_path_factory.mktemp("typed"), """
connector: sap
object: A_BusinessPartner
key: BusinessPartner
fields:
  organization_name: {source: Name, required: true}
  credit_limit: {source: Limit, convert: [{decimal: {scale: 2}}]}
  receivables: {source: Open, convert: [{decimal: {scale: 2, output: float}}]}
  last_changed_at: {source: Changed, convert: [{datetime: sap}]}
  blocked: {source: Blocked, convert: [{bool: {true_output: X, false_output: "", empty: false}}]}
  kind: {source: Category, convert: [kind]}
  country: {source: Country, convert: [{country_code: {output: name}}]}
  emails: {source: Emails, convert: [{split: ";"}, email]}
""")


RECORDS = st.fixed_dictionaries({
    "organization_name": TEXT.filter(bool),
    "credit_limit": st.one_of(st.none(), MONEY),
    "receivables": st.one_of(st.none(), st.decimals(min_value=Decimal("-1e9"), max_value=Decimal("1e9"),
                                                    places=2, allow_nan=False, allow_infinity=False)),
    "last_changed_at": st.one_of(st.none(), MOMENTS),
    "blocked": st.booleans(),
    "kind": st.one_of(st.none(), st.sampled_from(["person", "organization"])),
    "country": st.one_of(st.none(), st.sampled_from(["DE", "FR", "CN", "US", "GB", "TR", "JP", "BR"])),
    "emails": st.one_of(st.none(), st.lists(st.from_regex(r"[a-z0-9]{1,8}(\.[a-z0-9]{1,5})?@[a-z]{1,8}\.[a-z]{2,4}",
                                                          fullmatch=True), min_size=1, max_size=3)),
})


@SETTINGS
@given(record=RECORDS)
def test_typed_values_round_trip_through_the_source_form(typed_mapping: CompiledMapping,
                                                         record: dict[str, Any]) -> None:
    payload = typed_mapping.dump(record)
    loaded = typed_mapping.load(payload)
    assert loaded == record
    assert validate_flat(loaded) == {}
    assert typed_mapping.dump(loaded) == payload


JSONISH = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=30)),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=10), inner, max_size=3)),
    max_leaves=10,
)


@pytest.fixture(scope="module")
def default_mappings() -> list[CompiledMapping]:
    return [compile_mapping(p) for p in sorted(MAPPINGS.glob("*.yaml"))]


@settings(SETTINGS, max_examples=40)
@given(data=st.data())
def test_any_payload_loads_or_fails_with_record_error(default_mappings: list[CompiledMapping],
                                                      data: st.DataObject) -> None:
    for mapping in default_mappings:
        roots = dict.fromkeys(source.split(".")[0].split("[")[0] for source in mapping.source_fields)
        payload = {root: data.draw(JSONISH) for root in roots}
        try:
            record = mapping.load(payload)
        except RecordError as exc:
            assert exc.problems and all(p["rule"] and p["message"] for p in exc.problems)
            continue
        assert validate_flat(record) == {}
        mapping.dump(record)


SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.text(max_size=12),
                    st.sampled_from(["trim", "map", "decimal", "in", "out", "both", "Name", "a.b[0].c", "emails[0]"]))
ANY_YAML = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=3),
    st.dictionaries(st.one_of(SCALARS.filter(lambda v: v is not None), st.sampled_from(
        ["source", "convert", "direction", "required", "constant", "table", "scale", "organization_name",
         "emails", "emails[1]", "country"])), inner, max_size=4)), max_leaves=12)


@settings(SETTINGS, max_examples=80)
@given(fields=ANY_YAML, top=st.dictionaries(st.sampled_from(["connector", "object", "key", "direction"]),
                                            SCALARS, max_size=4))
def test_any_mapping_document_compiles_or_fails_with_mapping_error(
        tmp_path_factory: pytest.TempPathFactory, fields: Any, top: dict[str, Any]) -> None:
    import yaml

    from crmsync.errors import MappingError

    path = tmp_path_factory.mktemp("fuzz") / "fuzz.yaml"
    path.write_text(yaml.safe_dump({**top, "fields": fields}, allow_unicode=True), encoding="utf-8")
    try:
        mapping = compile_mapping(path)
    except MappingError as exc:
        assert exc.file == str(path) and str(exc)
        return
    mapping.load({})


CONVERTER_NAMES = ["trim", "upper", "lower", "text", "map", "kind", "default", "constant", "date", "datetime",
                   "sap_time", "decimal", "bool", "country_code", "phone", "email", "split", "join", "item"]
ARG_NAMES = ["table", "default", "reverse", "value", "format", "output", "tz", "scale", "rounding", "sep",
             "maxsplit", "index", "region", "strict", "aliases", "true_values", "empty", "true_output"]
ARGS = st.one_of(SCALARS, st.dictionaries(st.sampled_from(ARG_NAMES), ANY_YAML, max_size=3))
STEP = st.one_of(st.sampled_from(CONVERTER_NAMES), st.builds(lambda n, a: {n: a}, st.sampled_from(CONVERTER_NAMES),
                                                              ARGS))
LEAF_VALUES = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=20),
                        st.lists(st.text(max_size=5), max_size=3), st.sampled_from(
                            ["/Date(1700000000000)/", "PT13H45M00S", "2026-02-29", "1e309", "NaN", "DE", "X"]))


@settings(SETTINGS, max_examples=150)
@given(chains=st.lists(st.lists(STEP, max_size=3), min_size=1, max_size=4), data=st.data())
def test_any_converter_chain_compiles_or_fails_cleanly_and_never_crashes_a_load(
        tmp_path_factory: pytest.TempPathFactory, chains: list[list[Any]], data: st.DataObject) -> None:
    import yaml

    from crmsync.errors import MappingError

    names = ["organization_name", "credit_limit", "blocked", "emails"]
    fields = {name: {"source": f"s{n}", "convert": chain} for n, (name, chain) in enumerate(zip(names, chains,
                                                                                              strict=False))}
    fields.setdefault("organization_name", {"source": "s0"})
    path = tmp_path_factory.mktemp("chain") / "chain.yaml"
    path.write_text(yaml.safe_dump({"connector": "x", "object": "y", "key": "id", "fields": fields},
                                   allow_unicode=True), encoding="utf-8")
    try:
        mapping = compile_mapping(path)
    except MappingError:
        return
    payload = {f"s{n}": data.draw(LEAF_VALUES) for n in range(len(names))}
    try:
        record = mapping.load(payload)
    except RecordError as exc:
        assert all(p["rule"] and p["message"] for p in exc.problems)
        return
    try:
        mapping.dump(record)
    except RecordError as exc:
        assert all(p["rule"] and p["message"] for p in exc.problems)
