"""Mapping converters: the named value transformations a mapping file lists under ``convert:``.

A :class:`Converter` turns a source value into its canonical form (``to_canonical``) and back
(``to_source``, for dumps). A converter that cannot convert a value raises
:class:`ConversionError` with a message naming the value and what was expected; the compiler
turns that into a :class:`~crmsync.errors.RecordError` for the record, so a value is never
silently dropped. :data:`BUILTIN_CONVERTERS` is registered by the built-in plugin through the
``register_converters`` hook; third-party plugins add theirs the same way.

Conventions the compiler relies on:

* ``None`` means "no value": the chain skips converters for ``None`` unless ``handles_none``.
* ``elementwise`` converters applied to a list convert each element (``[split, email]``).
* A scalar argument is shorthand for the converter's ``shorthand`` argument
  (``{default: "n/a"}`` is ``{default: {value: "n/a"}}``).
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


class ConversionError(ValueError):
    """A value cannot be converted; the message says which value and what was expected."""


@dataclass(frozen=True)
class Converter:
    """A named conversion between a source value and a canonical value."""

    name: str
    doc: str
    to_canonical: Callable[[Any, Mapping[str, Any]], Any]
    """``(value, args) -> value``; raises :class:`ConversionError`."""
    to_source: Callable[[Any, Mapping[str, Any]], Any] | None
    """The inverse, used by dump; ``None`` means identity."""
    check_args: Callable[[Mapping[str, Any]], list[str]] | None = None
    """Problems with the arguments written in a mapping file (empty list when fine)."""
    elementwise: bool = True
    """Applied to each element when the value is a list."""
    handles_none: bool = False
    """Called for ``None`` too (``default``, ``constant``, ``bool`` with ``empty``)."""
    shorthand: str | None = None
    """Argument name a scalar argument stands for."""
    round_trip: bool = True
    """``to_source(to_canonical(v)) == v`` for the values it accepts (after normalisation)."""


def _describe(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _require_text(value: Any, converter: str) -> str:
    if isinstance(value, str):
        return value
    raise ConversionError(f"{converter}: expected text, got {type(value).__name__} {_describe(value)}")


def _args_checker(
    allowed: dict[str, type | tuple[type, ...]], required: tuple[str, ...] = ()
) -> Callable[[Mapping[str, Any]], list[str]]:
    """A check_args for a converter whose arguments are a fixed set of typed keys."""

    def check(args: Mapping[str, Any]) -> list[str]:
        problems: list[str] = []
        for key, value in args.items():
            if key not in allowed:
                known = ", ".join(sorted(allowed)) or "none"
                problems.append(f"unknown argument {key!r} (arguments: {known})")
            elif value is not None and not isinstance(value, allowed[key]):
                expected = allowed[key]
                names = (
                    " or ".join(t.__name__ for t in expected)
                    if isinstance(expected, tuple)
                    else expected.__name__
                )
                problems.append(f"argument {key!r} must be {names}, got {_describe(value)}")
        for key in required:
            if key not in args:
                problems.append(f"argument {key!r} is required")
        return problems

    return check


# -- text -------------------------------------------------------------------------------------


def _trim(value: Any, args: Mapping[str, Any]) -> Any:
    text = _require_text(value, "trim").strip()
    if args.get("collapse"):
        text = " ".join(text.split())
    return text


def _upper(value: Any, args: Mapping[str, Any]) -> Any:
    return _require_text(value, "upper").upper()


def _lower(value: Any, args: Mapping[str, Any]) -> Any:
    return _require_text(value, "lower").lower()


def _text(value: Any, args: Mapping[str, Any]) -> Any:
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or not isinstance(value, int | Decimal | float):
        raise ConversionError(f"text: expected text or a number, got {_describe(value)}")
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


# -- tables -----------------------------------------------------------------------------------

_NO_DEFAULT = object()


def _table_lookup(table: Mapping[Any, Any], value: Any, ignore_case: bool) -> Any:
    if value in table:
        return table[value]
    # YAML reads unquoted 1 as int and the payload may carry "1" (or the other way round).
    text = str(value)
    for key, mapped in table.items():
        key_text = str(key)
        if key_text == text or (ignore_case and key_text.casefold() == text.casefold()):
            return mapped
    return _NO_DEFAULT


def _map_in(value: Any, args: Mapping[str, Any]) -> Any:
    table: Mapping[Any, Any] = args.get("table") or {}
    found = _table_lookup(table, value, bool(args.get("ignore_case")))
    if found is not _NO_DEFAULT:
        return found
    if "default" in args:
        return args["default"]
    if args.get("keep_unknown"):
        return value
    known = ", ".join(repr(k) for k in table)
    raise ConversionError(f"map: {_describe(value)} is not in the table (known: {known})")


def _map_out(value: Any, args: Mapping[str, Any]) -> Any:
    reverse: Mapping[Any, Any] | None = args.get("reverse")
    if reverse is None:
        reverse = {}
        for key, mapped in (args.get("table") or {}).items():
            reverse.setdefault(mapped, key)  # several source values per canonical: the first wins
    found = _table_lookup(reverse, value, bool(args.get("ignore_case")))
    if found is not _NO_DEFAULT:
        return found
    if "reverse_default" in args:
        return args["reverse_default"]
    if args.get("keep_unknown"):
        return value
    known = ", ".join(repr(k) for k in reverse)
    raise ConversionError(f"map (dump): {_describe(value)} has no source value (known: {known})")


def _check_map(args: Mapping[str, Any]) -> list[str]:
    problems = _args_checker(
        {"table": dict, "default": object, "reverse": dict, "reverse_default": object, "ignore_case": bool,
         "keep_unknown": bool},
        required=("table",),
    )(args)
    table = args.get("table")
    if isinstance(table, dict) and not table:
        problems.append("argument 'table' is empty")
    return problems


_KIND_TABLE = {"1": "person", "2": "organization"}


def _kind_in(value: Any, args: Mapping[str, Any]) -> Any:
    return _map_in(value, {"table": args.get("table") or _KIND_TABLE})


def _kind_out(value: Any, args: Mapping[str, Any]) -> Any:
    return _map_out(value, {"table": args.get("table") or _KIND_TABLE})


# -- defaults ---------------------------------------------------------------------------------


def _default(value: Any, args: Mapping[str, Any]) -> Any:
    return args.get("value") if value is None or value == "" else value


def _constant(value: Any, args: Mapping[str, Any]) -> Any:
    return args.get("value")


def _check_value(args: Mapping[str, Any]) -> list[str]:
    problems = _args_checker({"value": object}, required=("value",))(args)
    return problems


# -- dates and times --------------------------------------------------------------------------

_SAP_DATE = re.compile(r"^/Date\((?P<ms>-?\d+)(?P<offset>[+-]\d{4})?\)/$", re.ASCII)
_SAP_TIME = re.compile(r"^PT(?:(?P<h>\d+)H)?(?:(?P<m>\d+)M)?(?:(?P<s>\d+(?:\.\d+)?)S)?$", re.ASCII)
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_EXCEL_EPOCH = dt.datetime(1899, 12, 30, tzinfo=dt.UTC)


def _zone(args: Mapping[str, Any]) -> dt.tzinfo:
    name = args.get("tz") or "UTC"
    if name == "UTC":
        return dt.UTC
    try:
        return ZoneInfo(str(name))
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConversionError(f"unknown time zone {name!r}") from exc


def _parse_datetime(value: Any, args: Mapping[str, Any], converter: str) -> dt.datetime:
    """An aware datetime from any supported source form (naive values are in ``tz``)."""
    fmt = str(args.get("format") or "auto")
    zone = _zone(args)
    if isinstance(value, dt.datetime):
        parsed = value
    elif isinstance(value, dt.date):
        parsed = dt.datetime(value.year, value.month, value.day)
    elif isinstance(value, bool):
        raise ConversionError(f"{converter}: expected a date, got {_describe(value)}")
    elif isinstance(value, int | float) and fmt in ("excel", "epoch_ms", "epoch"):
        if value != value or value in (float("inf"), float("-inf")):
            raise ConversionError(f"{converter}: {_describe(value)} is not a number of days/seconds")
        if fmt == "excel":
            parsed = _EXCEL_EPOCH + dt.timedelta(days=float(value))
        else:
            parsed = _EPOCH + dt.timedelta(seconds=float(value) / (1000 if fmt == "epoch_ms" else 1))
    elif isinstance(value, str):
        text = value.strip()
        match = _SAP_DATE.match(text)
        if match is not None and fmt in ("auto", "sap"):
            try:
                parsed = _EPOCH + dt.timedelta(milliseconds=int(match.group("ms")))
            except OverflowError as exc:
                raise ConversionError(f"{converter}: {_describe(value)} is out of range") from exc
            offset = match.group("offset")
            if offset:
                # The ms count is UTC; the offset only says which zone the value was entered in.
                minutes = int(offset[1:3]) * 60 + int(offset[3:5])
                sign = 1 if offset[0] == "+" else -1
                try:
                    parsed = parsed.astimezone(dt.timezone(dt.timedelta(minutes=sign * minutes)))
                except (ValueError, OverflowError) as exc:
                    raise ConversionError(f"{converter}: {_describe(value)} has an impossible offset") from exc
        elif fmt == "sap" or text.startswith("/Date("):
            raise ConversionError(
                f"{converter}: {_describe(value)} is not an SAP date like /Date(1700000000000)/"
            )
        elif fmt in ("auto", "iso"):
            try:
                parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
            except ValueError as exc:
                raise ConversionError(f"{converter}: {_describe(value)} is not an ISO 8601 date: {exc}") from exc
        elif fmt in ("excel", "epoch", "epoch_ms"):
            try:
                return _parse_datetime(float(text), args, converter)
            except ValueError as exc:
                raise ConversionError(f"{converter}: {_describe(value)} is not a number") from exc
        else:
            try:
                parsed = dt.datetime.strptime(text, fmt)
            except ValueError as exc:
                raise ConversionError(
                    f"{converter}: {_describe(value)} does not match format {fmt!r}: {exc}"
                ) from exc
    else:
        raise ConversionError(f"{converter}: expected a date, got {type(value).__name__} {_describe(value)}")
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=zone)
    return parsed


def _datetime_in(value: Any, args: Mapping[str, Any]) -> Any:
    return _parse_datetime(value, args, "datetime").astimezone(dt.UTC)


def _format_datetime(value: dt.datetime, args: Mapping[str, Any], date_only: bool) -> Any:
    fmt = str(args.get("format") or "auto")
    output = str(args.get("output") or fmt)
    delta = value - _EPOCH
    # Integer arithmetic: total_seconds() is a float and loses milliseconds far from 1970.
    ms = (delta.days * 86400 + delta.seconds) * 1000 + delta.microseconds // 1000
    if output == "sap":
        return f"/Date({ms})/"
    if output == "epoch_ms":
        return ms
    if output == "epoch":
        return ms // 1000
    if output == "excel":
        return (value - _EXCEL_EPOCH).total_seconds() / 86400
    if output in ("auto", "iso"):
        if date_only:
            return value.date().isoformat()
        return value.isoformat().replace("+00:00", "Z")
    return value.strftime(output)


def _as_datetime(value: Any, converter: str) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC)
    if isinstance(value, str):
        try:
            return _as_datetime(dt.datetime.fromisoformat(value.replace("Z", "+00:00")), converter)
        except ValueError as exc:
            raise ConversionError(f"{converter} (dump): {_describe(value)} is not an ISO date") from exc
    raise ConversionError(f"{converter} (dump): expected a datetime, got {_describe(value)}")


def _datetime_out(value: Any, args: Mapping[str, Any]) -> Any:
    moment = _as_datetime(value, "datetime")
    if args.get("tz") and str(args.get("output") or args.get("format") or "auto") not in ("sap", "epoch_ms"):
        moment = moment.astimezone(_zone(args))
    return _format_datetime(moment, args, date_only=False)


def _date_in(value: Any, args: Mapping[str, Any]) -> Any:
    parsed = _parse_datetime(value, args, "date")
    if parsed.tzinfo is not None and parsed.utcoffset() and args.get("tz"):
        parsed = parsed.astimezone(_zone(args))
    return parsed.date().isoformat()


def _date_out(value: Any, args: Mapping[str, Any]) -> Any:
    if isinstance(value, str):
        try:
            day = dt.date.fromisoformat(value[:10])
        except ValueError as exc:
            raise ConversionError(f"date (dump): {_describe(value)} is not an ISO date") from exc
        moment = dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)
    else:
        moment = _as_datetime(value, "date")
    return _format_datetime(moment, args, date_only=True)


_DATE_FORMATS = ("auto", "iso", "sap", "excel", "epoch", "epoch_ms")


def _check_date(args: Mapping[str, Any]) -> list[str]:
    problems = _args_checker({"format": str, "output": str, "tz": str})(args)
    for key in ("format", "output"):
        fmt = args.get(key)
        if isinstance(fmt, str) and fmt not in _DATE_FORMATS and "%" not in fmt:
            problems.append(
                f"argument {key!r} {fmt!r} is neither one of {', '.join(_DATE_FORMATS)} "
                "nor a strftime format like '%d.%m.%Y'"
            )
    tz = args.get("tz")
    if isinstance(tz, str):
        try:
            _zone(args)
        except ConversionError as exc:
            problems.append(str(exc))
    return problems


def _sap_time_in(value: Any, args: Mapping[str, Any]) -> Any:
    if isinstance(value, dt.time):
        return value.isoformat()
    text = _require_text(value, "sap_time").strip()
    match = _SAP_TIME.match(text)
    if match is None or text == "PT":
        raise ConversionError(f"sap_time: {_describe(value)} is not an SAP time like PT13H45M00S")
    hours, minutes = int(match.group("h") or 0), int(match.group("m") or 0)
    seconds = int(float(match.group("s") or 0))
    if hours > 23 or minutes > 59 or seconds > 59:
        raise ConversionError(f"sap_time: {_describe(value)} is not a time of day")
    return f"{hours:02d}:{minutes:02d}:{seconds:02d}"


def _sap_time_out(value: Any, args: Mapping[str, Any]) -> Any:
    try:
        moment = value if isinstance(value, dt.time) else dt.time.fromisoformat(str(value))
    except ValueError as exc:
        raise ConversionError(f"sap_time (dump): {_describe(value)} is not a time HH:MM:SS") from exc
    return f"PT{moment.hour:02d}H{moment.minute:02d}M{moment.second:02d}S"


# -- numbers ----------------------------------------------------------------------------------

_MAX_DIGITS = 18  # beyond any amount of money; 1e309 is a broken value, not a credit limit
_ROUNDING = {"half_even": ROUND_HALF_EVEN, "half_up": ROUND_HALF_UP, "down": ROUND_DOWN}


def _decimal_in(value: Any, args: Mapping[str, Any]) -> Any:
    if isinstance(value, bool):
        raise ConversionError(f"decimal: expected a number, got {_describe(value)}")
    if isinstance(value, Decimal):
        number = value
    elif isinstance(value, int):
        number = Decimal(value)
    elif isinstance(value, float):
        # str() gives the shortest repr, so 0.1 stays 0.1 instead of 0.1000000000000000055...
        number = Decimal(str(value))
    elif isinstance(value, str):
        text = value.strip().replace(" ", "").replace("\u00a0", "")
        thousands = args.get("thousands_separator")
        if thousands:
            text = text.replace(str(thousands), "")
        separator = args.get("decimal_separator")
        if separator and separator != ".":
            text = text.replace(str(separator), ".")
        try:
            number = Decimal(text)
        except InvalidOperation:
            raise ConversionError(f"decimal: {_describe(value)} is not a number") from None
    else:
        raise ConversionError(f"decimal: expected a number, got {type(value).__name__} {_describe(value)}")
    if not number.is_finite():
        raise ConversionError(f"decimal: {_describe(value)} is not a finite number (NaN/Infinity are refused)")
    if number and number.adjusted() >= _MAX_DIGITS:
        raise ConversionError(f"decimal: {_describe(value)} is out of range (more than {_MAX_DIGITS} digits "
                              "before the decimal point)")
    scale = args.get("scale")
    if scale is not None:
        exponent = Decimal(1).scaleb(-int(scale))
        rounding = args.get("rounding")
        try:
            if rounding is None:
                quantized = number.quantize(exponent)
                if quantized != number:
                    raise ConversionError(
                        f"decimal: {_describe(value)} has more than {scale} decimal places "
                        "(set rounding: half_even, half_up or down to round)"
                    )
                number = quantized
            else:
                number = number.quantize(exponent, rounding=_ROUNDING[str(rounding)])
        except InvalidOperation:
            raise ConversionError(f"decimal: {_describe(value)} is too large") from None
    return number


def _decimal_out(value: Any, args: Mapping[str, Any]) -> Any:
    number = _decimal_in(value, {"scale": args.get("scale"), "rounding": args.get("rounding")})
    output = args.get("output") or "string"
    if output == "decimal":
        return number
    if output == "float":
        return float(number)
    text = format(number, "f")
    separator = args.get("decimal_separator")
    if separator and separator != ".":
        text = text.replace(".", str(separator))
    return text


def _check_decimal(args: Mapping[str, Any]) -> list[str]:
    problems = _args_checker(
        {"scale": int, "rounding": str, "output": str, "decimal_separator": str, "thousands_separator": str}
    )(args)
    scale = args.get("scale")
    if isinstance(scale, int) and not 0 <= scale <= 18:
        problems.append(f"argument 'scale' must be between 0 and 18, got {scale}")
    if args.get("rounding") is not None and str(args.get("rounding")) not in _ROUNDING:
        problems.append(f"argument 'rounding' must be one of {', '.join(_ROUNDING)}")
    if args.get("output") is not None and str(args.get("output")) not in ("string", "float", "decimal"):
        problems.append("argument 'output' must be string, float or decimal")
    return problems


# -- booleans ---------------------------------------------------------------------------------

_TRUE_WORDS = ("true", "yes", "y", "1", "x", "on", "ja", "wahr")
_FALSE_WORDS = ("false", "no", "n", "0", "off", "nein", "falsch")


def _words(args: Mapping[str, Any], key: str, default: tuple[str, ...]) -> set[str]:
    words = args.get(key)
    if words is None:
        return set(default)
    return {str(w).strip().casefold() for w in words}


def _bool_in(value: Any, args: Mapping[str, Any]) -> Any:
    if value is None or (isinstance(value, str) and not value.strip()):
        # ABAP flags are "X" or blank: blank means False there; elsewhere it means unknown.
        return False if args.get("empty") is False else None
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    text = str(value).strip().casefold()
    if text in _words(args, "true_values", _TRUE_WORDS):
        return True
    if text in _words(args, "false_values", _FALSE_WORDS):
        return False
    accepted = sorted(_words(args, "true_values", _TRUE_WORDS) | _words(args, "false_values", _FALSE_WORDS))
    raise ConversionError(f"bool: {_describe(value)} is not a boolean word (accepted: {', '.join(accepted)})")


def _bool_out(value: Any, args: Mapping[str, Any]) -> Any:
    if not isinstance(value, bool):
        value = _bool_in(value, {})
        if value is None:
            return None
    key = "true_output" if value else "false_output"
    return args.get(key, value)


def _check_bool(args: Mapping[str, Any]) -> list[str]:
    problems = _args_checker(
        {"true_values": list, "false_values": list, "true_output": object, "false_output": object,
         "empty": bool}
    )(args)
    if problems:
        return problems
    overlap = _words(args, "true_values", _TRUE_WORDS) & _words(args, "false_values", _FALSE_WORDS)
    if overlap:
        problems.append(f"words both true and false: {', '.join(sorted(overlap))}")
    return problems


# -- countries, phones, e-mail ----------------------------------------------------------------

# Names people type that pycountry's lookup does not know (it knows codes, English names,
# official and common names). Keys are case-folded.
_COUNTRY_ALIASES = {
    "uk": "GB", "u.k.": "GB", "great britain": "GB", "england": "GB", "scotland": "GB", "wales": "GB",
    "united kingdom": "GB", "usa": "US", "u.s.a.": "US", "u.s.": "US", "us": "US", "america": "US",
    "united states of america": "US", "russia": "RU", "turkey": "TR", "holland": "NL",
    "deutschland": "DE", "bundesrepublik deutschland": "DE", "brd": "DE", "österreich": "AT",
    "oesterreich": "AT", "schweiz": "CH", "suisse": "CH", "svizzera": "CH", "frankreich": "FR",
    "italien": "IT", "italia": "IT", "spanien": "ES", "españa": "ES", "espana": "ES",
    "niederlande": "NL", "nederland": "NL", "belgien": "BE", "belgique": "BE", "polen": "PL",
    "polska": "PL", "tschechien": "CZ", "czech republic": "CZ", "dänemark": "DK", "danmark": "DK",
    "schweden": "SE", "sverige": "SE", "norwegen": "NO", "norge": "NO", "finnland": "FI",
    "suomi": "FI", "luxemburg": "LU", "ungarn": "HU", "griechenland": "GR", "portugal": "PT",
    "irland": "IE", "china": "CN", "中国": "CN", "中华人民共和国": "CN", "日本": "JP", "japan": "JP",
    "korea": "KR", "south korea": "KR", "한국": "KR", "vereinigte staaten": "US", "vereinigtes königreich": "GB",
    "brasil": "BR", "méxico": "MX", "mexiko": "MX", "the netherlands": "NL", "ivory coast": "CI",
    "vatican": "VA", "macedonia": "MK", "swaziland": "SZ", "burma": "MM", "uae": "AE",
}


@functools.lru_cache(maxsize=4096)
def _country_lookup(text: str) -> str | None:
    import pycountry  # imported lazily: it loads its database on first use

    key = text.strip().casefold()
    if key in _COUNTRY_ALIASES:
        return _COUNTRY_ALIASES[key]
    try:
        found = pycountry.countries.lookup(text.strip())
    except LookupError:
        return None
    code: str = found.alpha_2
    return code


def _country_in(value: Any, args: Mapping[str, Any]) -> Any:
    text = _require_text(value, "country_code").strip()
    aliases: Mapping[str, str] = args.get("aliases") or {}
    for name, alias_code in aliases.items():
        if name.casefold() == text.casefold():
            return alias_code.upper()
    code = _country_lookup(text) if text else None
    if code is None:
        raise ConversionError(
            f"country_code: {_describe(value)} is not a country name or ISO 3166 code "
            "(add it under aliases: to map it)"
        )
    return code


def _country_out(value: Any, args: Mapping[str, Any]) -> Any:
    import pycountry

    output = args.get("output") or "alpha2"
    country = pycountry.countries.get(alpha_2=str(value).upper())
    if country is None:
        raise ConversionError(f"country_code (dump): {_describe(value)} is not an ISO 3166-1 alpha-2 code")
    if output == "alpha3":
        return country.alpha_3
    if output == "name":
        return getattr(country, "common_name", None) or country.name
    return country.alpha_2


def _check_country(args: Mapping[str, Any]) -> list[str]:
    problems = _args_checker({"output": str, "aliases": dict})(args)
    if args.get("output") not in (None, "alpha2", "alpha3", "name"):
        problems.append("argument 'output' must be alpha2, alpha3 or name")
    aliases = args.get("aliases")
    for name, code in (aliases.items() if isinstance(aliases, dict) else ()):
        if not isinstance(name, str):
            problems.append(f"alias {name!r} must be text")
        if not (isinstance(code, str) and re.fullmatch(r"[A-Za-z]{2}", code)):
            problems.append(f"alias {name!r} must map to a two-letter ISO code, got {code!r}")
    return problems


def _phone_in(value: Any, args: Mapping[str, Any]) -> Any:
    import phonenumbers

    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    text = _require_text(value, "phone").strip()
    region = args.get("region")
    try:
        number = phonenumbers.parse(text, str(region).upper() if region else None)
    except phonenumbers.NumberParseException as exc:
        hint = "" if region else " (no region argument: write it with +country code or set region:)"
        raise ConversionError(f"phone: {_describe(value)} is not a phone number: {exc}{hint}") from None
    valid = phonenumbers.is_valid_number(number) if args.get("strict") else phonenumbers.is_possible_number(number)
    if not valid:
        raise ConversionError(f"phone: {_describe(value)} is not a valid phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _phone_out(value: Any, args: Mapping[str, Any]) -> Any:
    import phonenumbers

    output = args.get("output") or "e164"
    if output == "e164":
        return value
    try:
        number = phonenumbers.parse(str(value), None)
    except phonenumbers.NumberParseException as exc:
        raise ConversionError(f"phone (dump): {_describe(value)} is not an E.164 number: {exc}") from None
    style = {
        "international": phonenumbers.PhoneNumberFormat.INTERNATIONAL,
        "national": phonenumbers.PhoneNumberFormat.NATIONAL,
    }[str(output)]
    return phonenumbers.format_number(number, style)


def _check_phone(args: Mapping[str, Any]) -> list[str]:
    import phonenumbers

    problems = _args_checker({"region": str, "strict": bool, "output": str})(args)
    region = args.get("region")
    if isinstance(region, str) and region.upper() not in phonenumbers.SUPPORTED_REGIONS:
        problems.append(f"argument 'region' {region!r} is not a supported region code like DE or US")
    if args.get("output") not in (None, "e164", "international", "national"):
        problems.append("argument 'output' must be e164, international or national")
    return problems


# A pragmatic address check (RFC 5322 is far wider): one @, no spaces, a dotted domain.
_EMAIL = re.compile(r"^[^@\s<>(),;:\"\[\]]+@[^@\s<>(),;:\"\[\]]+\.[^@\s<>(),;:\"\[\].]{2,}$")


def _email_in(value: Any, args: Mapping[str, Any]) -> Any:
    text = _require_text(value, "email").strip().lower()
    if text.startswith("mailto:"):
        text = text[len("mailto:"):]
    if not _EMAIL.match(text) or ".." in text:
        raise ConversionError(f"email: {_describe(value)} is not an e-mail address")
    return text


# -- lists ------------------------------------------------------------------------------------


def _split(value: Any, args: Mapping[str, Any]) -> Any:
    if isinstance(value, list | tuple):
        return [item for item in value if item not in (None, "")]
    text = _require_text(value, "split")
    sep = args.get("sep", args.get("value", ","))
    maxsplit = int(args.get("maxsplit", -1))
    if args.get("right"):
        parts = text.rsplit(sep, maxsplit) if sep else text.rsplit(None, maxsplit)
    else:
        parts = text.split(sep, maxsplit) if sep else text.split(None, maxsplit)
    return [part.strip() for part in parts if part.strip()]


def _split_out(value: Any, args: Mapping[str, Any]) -> Any:
    if not isinstance(value, list | tuple):
        return value
    sep = args.get("sep", args.get("value", ","))
    joiner = args.get("join", sep if sep else " ")
    return str(joiner).join(str(item) for item in value)


def _join(value: Any, args: Mapping[str, Any]) -> Any:
    if not isinstance(value, list | tuple):
        return value
    sep = args.get("sep", args.get("value", " "))
    return str(sep).join(str(item) for item in value if item not in (None, ""))


def _join_out(value: Any, args: Mapping[str, Any]) -> Any:
    return _split(value, {"sep": args.get("sep", args.get("value", " "))})


def _check_split(args: Mapping[str, Any]) -> list[str]:
    problems = _args_checker({"sep": (str, type(None)), "value": (str, type(None)), "maxsplit": int,
                              "right": bool, "join": str})(args)
    if args.get("sep", args.get("value")) == "":
        problems.append("argument 'sep' is empty (write null to split on white space)")
    return problems


def _item(value: Any, args: Mapping[str, Any]) -> Any:
    if not isinstance(value, list | tuple):
        return value
    index = int(args.get("index", args.get("value", 0)))
    try:
        return value[index]
    except IndexError:
        return None


BUILTIN_CONVERTERS: list[Converter] = [
    Converter("trim", "Strip leading and trailing white space (collapse: true also squeezes inner runs).",
              _trim, None, _args_checker({"collapse": bool}), round_trip=False),
    Converter("upper", "Upper-case text.", _upper, None, _args_checker({}), round_trip=False),
    Converter("lower", "Lower-case text.", _lower, None, _args_checker({}), round_trip=False),
    Converter("text", "Numbers to text (XLSX cells, numeric ids); text passes.", _text, None,
              _args_checker({}), round_trip=False),
    Converter("map", "Translate through a table: table, default, reverse (for dump), reverse_default, "
              "ignore_case.", _map_in, _map_out, _check_map),
    Converter("kind", "SAP BusinessPartnerCategory '1'/'2' to person/organization (table: to override).",
              _kind_in, _kind_out, _args_checker({"table": dict})),
    Converter("default", "Use value when the source is empty.", _default, None, _check_value,
              handles_none=True, shorthand="value", round_trip=False),
    Converter("constant", "Always value, whatever the source holds.", _constant, None, _check_value,
              handles_none=True, shorthand="value", round_trip=False),
    Converter("date", "A date (ISO YYYY-MM-DD canonical) from format: auto|iso|sap|excel|epoch|epoch_ms or "
              "strftime; output: for dump.", _date_in, _date_out, _check_date, shorthand="format"),
    Converter("datetime", "An aware UTC datetime from format: auto|iso|sap|excel|epoch|epoch_ms or strftime "
              "(tz: zone of naive values); output: for dump.", _datetime_in, _datetime_out, _check_date,
              shorthand="format"),
    Converter("sap_time", "SAP Edm.Time PT13H45M00S to 13:45:00.", _sap_time_in, _sap_time_out,
              _args_checker({})),
    Converter("decimal", "A finite Decimal (scale, rounding, decimal_separator, thousands_separator; "
              "output: string|float|decimal for dump).", _decimal_in, _decimal_out, _check_decimal,
              shorthand="scale"),
    Converter("bool", "Boolean words (true_values, false_values, empty: false for ABAP flags; "
              "true_output / false_output for dump).", _bool_in, _bool_out, _check_bool,
              handles_none=True),
    Converter("country_code", "Country name or code to ISO 3166-1 alpha-2 (aliases; output: "
              "alpha2|alpha3|name for dump).", _country_in, _country_out, _check_country, shorthand="output"),
    Converter("phone", "Phone number to E.164 (region: default region, strict: validate; output: "
              "e164|international|national for dump).", _phone_in, _phone_out, _check_phone,
              shorthand="region"),
    Converter("email", "Trim, lower-case and check an e-mail address.", _email_in, None, _args_checker({}),
              round_trip=False),
    Converter("split", "Text to a list (sep, default ','; maxsplit; right); dump joins with join or sep.",
              _split, _split_out, _check_split, elementwise=False, shorthand="sep"),
    Converter("join", "A list to text (sep, default ' '); dump splits.", _join, _join_out, _check_split,
              elementwise=False, shorthand="sep"),
    Converter("item", "One element of a list (index, default 0; -1 is the last); load only.", _item, None,
              _args_checker({"index": int, "value": int}), elementwise=False, shorthand="index",
              round_trip=False),
]
"""The converters every crmsync installation has."""

__all__ = ["BUILTIN_CONVERTERS", "ConversionError", "Converter"]
