"""Every built-in converter: good values, bad values and the error message, and the inverse."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from crmsync.mapping.converters import BUILTIN_CONVERTERS, ConversionError, Converter
from crmsync.plugins import get_host

BY_NAME = {c.name: c for c in BUILTIN_CONVERTERS}


def to_canonical(name: str, value: Any, /, **args: Any) -> Any:
    return BY_NAME[name].to_canonical(value, args)


def to_source(name: str, value: Any, /, **args: Any) -> Any:
    converter = BY_NAME[name]
    return value if converter.to_source is None else converter.to_source(value, args)


def test_builtin_converters_are_registered_through_the_plugin_host() -> None:
    registered = get_host().converters
    for converter in BUILTIN_CONVERTERS:
        assert registered[converter.name] is converter
    assert all(isinstance(c, Converter) and c.doc for c in BUILTIN_CONVERTERS)


@pytest.mark.parametrize(
    ("name", "value", "args", "expected"),
    [
        ("trim", "  O'Brien  ", {}, "O'Brien"),
        ("trim", " 北京  科技 ", {"collapse": True}, "北京 科技"),
        ("upper", "eur", {}, "EUR"),
        ("lower", "ZOË", {}, "zoë"),
        ("text", 10115, {}, "10115"),
        ("text", 10115.0, {}, "10115"),
        ("map", "1", {"table": {1: "person"}}, "person"),
        ("map", "former customer", {"table": {"Former Customer": "former_customer"}, "ignore_case": True},
         "former_customer"),
        ("map", "?", {"table": {"a": "b"}, "default": None}, None),
        ("map", "ZMAC", {"table": {"1000": "Manufacturing"}, "keep_unknown": True}, "ZMAC"),
        ("kind", "1", {}, "person"),
        ("kind", "2", {}, "organization"),
        ("default", None, {"value": "n/a"}, "n/a"),
        ("default", "x", {"value": "n/a"}, "x"),
        ("constant", "anything", {"value": "organization"}, "organization"),
        ("sap_time", "PT13H45M00S", {}, "13:45:00"),
        ("sap_time", "PT9H", {}, "09:00:00"),
        ("decimal", "1234.50", {}, Decimal("1234.50")),
        ("decimal", 50000.0, {"scale": 2}, Decimal("50000.00")),
        ("decimal", 0.1, {}, Decimal("0.1")),
        ("decimal", "1.234,56", {"decimal_separator": ",", "thousands_separator": "."}, Decimal("1234.56")),
        ("decimal", "2.345", {"scale": 2, "rounding": "half_up"}, Decimal("2.35")),
        ("bool", "X", {}, True),
        ("bool", "yes", {}, True),
        ("bool", "0", {}, False),
        ("bool", False, {}, False),
        ("bool", "", {}, None),
        ("bool", "", {"empty": False}, False),
        ("bool", None, {"empty": False}, False),
        ("bool", "J", {"true_values": ["J"], "false_values": ["N"]}, True),
        ("country_code", "Germany", {}, "DE"),
        ("country_code", "Deutschland", {}, "DE"),
        ("country_code", "USA", {}, "US"),
        ("country_code", "de", {}, "DE"),
        ("country_code", "FRA", {}, "FR"),
        ("country_code", "United Kingdom", {}, "GB"),
        ("country_code", "中国", {}, "CN"),
        ("country_code", "Bavaria", {"aliases": {"Bavaria": "de"}}, "DE"),
        ("phone", "+49 30 1234567", {}, "+49301234567"),
        ("phone", "030 1234567", {"region": "DE"}, "+49301234567"),
        ("phone", "(415) 555-2671", {"region": "US"}, "+14155552671"),
        ("email", "  Info@Example.COM ", {}, "info@example.com"),
        ("email", "mailto:a.b@example.org", {}, "a.b@example.org"),
        ("split", "a@x.de, b@y.de,", {}, ["a@x.de", "b@y.de"]),
        ("split", "Anna Maria Müller", {"sep": " ", "maxsplit": 1, "right": True}, ["Anna Maria", "Müller"]),
        ("join", ["Anna", "Müller"], {}, "Anna Müller"),
        ("item", ["Anna Maria", "Müller"], {"index": -1}, "Müller"),
    ],
)
def test_good_values(name: str, value: Any, args: dict[str, Any], expected: Any) -> None:
    assert to_canonical(name, value, **args) == expected


@pytest.mark.parametrize(
    ("name", "value", "args", "message"),
    [
        ("trim", 42, {}, "trim: expected text, got int 42"),
        ("upper", None.__class__, {}, "upper: expected text"),
        ("text", True, {}, "text: expected text or a number"),
        ("map", "3", {"table": {"1": "person"}}, "map: '3' is not in the table (known: '1')"),
        ("kind", "9", {}, "map: '9' is not in the table"),
        ("date", "2023-02-29", {}, "day is out of range for month"),
        ("date", "31.12.2026", {"format": "%Y-%m-%d"}, "does not match format '%Y-%m-%d'"),
        ("datetime", "/Date(abc)/", {}, "not an SAP date like /Date(1700000000000)/"),
        ("datetime", "yesterday", {}, "is not an ISO 8601 date"),
        ("datetime", True, {}, "expected a date"),
        ("sap_time", "13:45", {}, "is not an SAP time like PT13H45M00S"),
        ("sap_time", "PT25H", {}, "is not a time of day"),
        ("decimal", "NaN", {}, "is not a finite number (NaN/Infinity are refused)"),
        ("decimal", "Infinity", {}, "is not a finite number"),
        ("decimal", float("1e309"), {}, "is not a finite number"),
        ("decimal", "1e309", {}, "is out of range"),
        ("decimal", "12,50 EUR", {}, "is not a number"),
        ("decimal", True, {}, "decimal: expected a number, got True"),
        ("decimal", "1.005", {"scale": 2}, "has more than 2 decimal places (set rounding"),
        ("bool", "maybe", {}, "bool: 'maybe' is not a boolean word (accepted:"),
        ("country_code", "Narnia", {}, "'Narnia' is not a country name or ISO 3166 code"),
        ("phone", "call me", {}, "is not a phone number"),
        ("phone", "+49 1", {}, "too short to be a phone number"),
        ("phone", "+49 1234", {"strict": True}, "is not a valid phone number"),
        ("email", "not an address", {}, "email: 'not an address' is not an e-mail address"),
        ("email", "a@b", {}, "is not an e-mail address"),
        ("email", "a..b@example.com", {}, "is not an e-mail address"),
        ("split", 5, {}, "split: expected text"),
    ],
)
def test_bad_values_fail_with_a_message(name: str, value: Any, args: dict[str, Any], message: str) -> None:
    with pytest.raises(ConversionError) as info:
        to_canonical(name, value, **args)
    assert message in str(info.value)


@pytest.mark.parametrize(
    ("value", "args", "expected"),
    [
        ("/Date(1700000000000)/", {}, dt.datetime(2023, 11, 14, 22, 13, 20, tzinfo=dt.UTC)),
        ("/Date(1700000000000+0000)/", {"format": "sap"}, dt.datetime(2023, 11, 14, 22, 13, 20, tzinfo=dt.UTC)),
        ("/Date(1700000000000+0100)/", {}, dt.datetime(2023, 11, 14, 22, 13, 20, tzinfo=dt.UTC)),
        ("/Date(-86400000)/", {}, dt.datetime(1969, 12, 31, tzinfo=dt.UTC)),
        ("2026-11-23T10:00:00Z", {}, dt.datetime(2026, 11, 23, 10, tzinfo=dt.UTC)),
        ("2026-11-23T10:00:00.000+0000", {"format": "iso"}, dt.datetime(2026, 11, 23, 10, tzinfo=dt.UTC)),
        ("2026-11-23T11:00:00+01:00", {}, dt.datetime(2026, 11, 23, 10, tzinfo=dt.UTC)),
        ("2026-11-23 10:00", {"tz": "Europe/Berlin"}, dt.datetime(2026, 11, 23, 9, tzinfo=dt.UTC)),
        ("23.11.2026 10:00", {"format": "%d.%m.%Y %H:%M"}, dt.datetime(2026, 11, 23, 10, tzinfo=dt.UTC)),
        (dt.datetime(2026, 11, 23, 10), {}, dt.datetime(2026, 11, 23, 10, tzinfo=dt.UTC)),
        (46349.5, {"format": "excel"}, dt.datetime(2026, 11, 23, 12, tzinfo=dt.UTC)),
        (1700000000000, {"format": "epoch_ms"}, dt.datetime(2023, 11, 14, 22, 13, 20, tzinfo=dt.UTC)),
    ],
)
def test_datetime_formats(value: Any, args: dict[str, Any], expected: dt.datetime) -> None:
    result = to_canonical("datetime", value, **args)
    assert result == expected
    assert result.tzinfo is dt.UTC


def test_date_gives_an_iso_day_and_dumps_in_the_source_format() -> None:
    assert to_canonical("date", "/Date(1700000000000)/") == "2023-11-14"
    assert to_canonical("date", "31.12.2026", format="%d.%m.%Y") == "2026-12-31"
    assert to_source("date", "2026-12-31", format="%d.%m.%Y") == "31.12.2026"
    assert to_source("date", "2023-11-14", format="sap") == "/Date(1699920000000)/"
    assert to_source("date", "2023-11-14") == "2023-11-14"


def test_datetime_dump_formats() -> None:
    moment = dt.datetime(2023, 11, 14, 22, 13, 20, tzinfo=dt.UTC)
    assert to_source("datetime", moment, format="sap") == "/Date(1700000000000)/"
    assert to_source("datetime", moment) == "2023-11-14T22:13:20Z"
    assert to_source("datetime", moment, format="%d.%m.%Y %H:%M", tz="Europe/Berlin") == "14.11.2023 23:13"
    assert to_canonical("datetime", to_source("datetime", moment, format="excel"), format="excel") == moment


@pytest.mark.parametrize(
    ("name", "canonical", "args", "source"),
    [
        ("map", "former_customer", {"table": {"Former Customer": "former_customer"}}, "Former Customer"),
        ("map", True, {"table": {"3": True}, "reverse": {True: "3", False: "2"}}, "3"),
        ("kind", "organization", {}, "2"),
        ("sap_time", "13:45:00", {}, "PT13H45M00S"),
        ("decimal", Decimal("50000"), {"scale": 2, "output": "float"}, 50000.0),
        ("decimal", Decimal("1234.5"), {"scale": 2}, "1234.50"),
        ("decimal", Decimal("1234.5"), {"decimal_separator": ","}, "1234,5"),
        ("bool", True, {"true_output": "X", "false_output": ""}, "X"),
        ("bool", False, {"true_output": "X", "false_output": ""}, ""),
        ("bool", True, {}, True),
        ("country_code", "DE", {"output": "name"}, "Germany"),
        ("country_code", "DE", {"output": "alpha3"}, "DEU"),
        ("country_code", "DE", {}, "DE"),
        ("phone", "+49301234567", {"output": "international"}, "+49 30 1234567"),
        ("phone", "+49301234567", {}, "+49301234567"),
        ("split", ["a@x.de", "b@y.de"], {"sep": ";", "join": "; "}, "a@x.de; b@y.de"),
        ("join", "Anna Müller", {}, ["Anna", "Müller"]),
    ],
)
def test_dump_direction(name: str, canonical: Any, args: dict[str, Any], source: Any) -> None:
    assert to_source(name, canonical, **args) == source


@pytest.mark.parametrize(
    ("name", "args", "problem"),
    [
        ("map", {}, "argument 'table' is required"),
        ("map", {"table": {}}, "argument 'table' is empty"),
        ("map", {"table": {"a": 1}, "tabel": 1}, "unknown argument 'tabel'"),
        ("decimal", {"scale": "two"}, "argument 'scale' must be int"),
        ("decimal", {"scale": 40}, "between 0 and 18"),
        ("decimal", {"rounding": "up"}, "must be one of half_even, half_up, down"),
        ("datetime", {"format": "dd.mm.yyyy"}, "nor a strftime format"),
        ("datetime", {"tz": "Mars/Olympus"}, "unknown time zone 'Mars/Olympus'"),
        ("bool", {"true_values": ["x"], "false_values": ["X"]}, "words both true and false: x"),
        ("country_code", {"output": "emoji"}, "must be alpha2, alpha3 or name"),
        ("country_code", {"aliases": {"Bavaria": "Germany"}}, "must map to a two-letter ISO code"),
        ("phone", {"region": "XX"}, "not a supported region code"),
        ("default", {}, "argument 'value' is required"),
        ("trim", {"strip": True}, "unknown argument 'strip'"),
        ("split", {"sep": ""}, "argument 'sep' is empty"),
    ],
)
def test_check_args_reports_bad_arguments(name: str, args: dict[str, Any], problem: str) -> None:
    check = BY_NAME[name].check_args
    assert check is not None
    assert any(problem in p for p in check(args)), check(args)


def test_good_arguments_have_no_problems() -> None:
    cases: list[tuple[str, dict[str, Any]]] = [
        ("map", {"table": {"a": "b"}, "default": None}), ("decimal", {"scale": 2}),
        ("datetime", {"format": "%d.%m.%Y", "tz": "Europe/Berlin"}), ("phone", {"region": "de"}),
        ("bool", {"empty": False, "true_output": "X"}), ("split", {"sep": ";"}),
    ]
    for name, args in cases:
        check = BY_NAME[name].check_args
        assert check is not None and check(args) == [], name


@pytest.mark.parametrize("output", ["alpha2", "alpha3", "name"])
def test_every_country_round_trips_through_each_output(output: str) -> None:
    import pycountry

    for country in pycountry.countries:
        written = to_source("country_code", country.alpha_2, output=output)
        assert to_canonical("country_code", written) == country.alpha_2, written


def test_plugin_converter_raising_another_error_fails_only_the_record(tmp_path: Any) -> None:
    from crmsync.errors import RecordError
    from crmsync.mapping import compile_mapping

    def broken(value: Any, args: Any) -> Any:
        raise ZeroDivisionError("division by zero")

    converters = dict(BY_NAME, broken=Converter("broken", "Always fails.", broken, None))
    path = tmp_path / "m.yaml"
    path.write_text("connector: x\nobject: y\nkey: id\nfields:\n  organization_name: {source: n, convert: [broken]}\n",
                    encoding="utf-8")
    mapping = compile_mapping(path, converters=converters)
    with pytest.raises(RecordError) as info:
        mapping.load({"n": "Acme"})
    assert info.value.problems[0]["rule"] == "broken"
    assert info.value.problems[0]["message"] == "broken: ZeroDivisionError: division by zero"
