"""The fake org's SOQL subset: parse a query and evaluate it over in-memory Account rows.

Supported: ``SELECT f, ... | COUNT() FROM Account [WHERE cond] [ORDER BY f [ASC|DESC]
[NULLS FIRST|LAST], ...] [LIMIT n] [OFFSET n]`` where ``cond`` uses ``= != <> < > <= >=``,
``IN (...)``, ``NOT IN (...)``, ``LIKE``, ``AND``, ``OR``, ``NOT`` and parentheses. Like real
SOQL it refuses AND and OR mixed without parentheses, quoted datetimes, escapes ``\\_`` /
``\\%`` outside LIKE, and unknown fields, with Salesforce's error codes.
Rows hold datetimes as epoch milliseconds (see :mod:`crmsync_salesforce.fake`).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from crmsync_salesforce.fake_schema import FIELDS_BY_LOWER, FieldDef

Row = Mapping[str, Any]
Predicate = Callable[[Row], bool]

_TOKEN = re.compile(
    r"""\s*(?:
      (?P<string>'(?:[^'\\]|\\.)*')
    | (?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,3})?(?:Z|[+-]\d{2}:?\d{2}))
    | (?P<date>\d{4}-\d{2}-\d{2})
    | (?P<number>-?\d+(?:\.\d+)?)
    | (?P<op><=|>=|!=|<>|=|<|>)
    | (?P<punct>[(),])
    | (?P<ident>[A-Za-z_][A-Za-z0-9_.]*)
    )""",
    re.VERBOSE | re.DOTALL,
)
_UNESCAPE = {"\\": "\\", "'": "'", '"': '"', "n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f"}


class SoqlError(Exception):
    """A query Salesforce would refuse: ``code`` is its errorCode."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class Query:
    """A parsed query."""

    object: str
    fields: list[str]
    count: bool = False
    where: Predicate | None = None
    order: list[tuple[str, bool, bool]] = field(default_factory=list)  # (field, descending, nulls_last)
    limit: int | None = None
    offset: int = 0

    def run(self, rows: Sequence[Row]) -> list[Row]:
        """The matching rows in query order, after OFFSET and LIMIT."""
        where = self.where
        found = [r for r in rows if where is None or where(r)]
        for name, descending, nulls_last in reversed(self.order):
            present = [r for r in found if r.get(name) is not None]
            absent = [r for r in found if r.get(name) is None]
            present.sort(key=lambda r, n=name: _sort_key(n, r[n]), reverse=descending)  # type: ignore[misc]
            found = present + absent if nulls_last else absent + present
        found = found[self.offset:]
        return found if self.limit is None else found[: self.limit]


def _sort_key(name: str, value: Any) -> Any:
    # text sorts case-insensitively like Salesforce; ids compare as they are
    if isinstance(value, str) and name != "Id":
        return value.casefold()
    return value


def to_millis(value: dt.datetime) -> int:
    return int(value.timestamp() * 1000)


def parse_literal_datetime(text: str) -> int:
    """A SOQL datetime literal as epoch milliseconds."""
    iso = text[:-1] + "+00:00" if text.endswith("Z") else text
    match = re.match(r"^(.*)([+-]\d{2}):?(\d{2})$", iso)
    if match:
        iso = f"{match.group(1)}{match.group(2)}:{match.group(3)}"
    return to_millis(dt.datetime.fromisoformat(iso))


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens: list[tuple[str, str]] = []
        pos = 0
        while pos < len(text):
            if text[pos:].strip() == "":
                break
            match = _TOKEN.match(text, pos)
            if not match or match.end() == pos:
                raise SoqlError("MALFORMED_QUERY", f"unexpected token: '{text[pos:].strip()[:20]}'")
            kind = match.lastgroup or ""
            self.tokens.append((kind, match.group(kind)))
            pos = match.end()
        self.pos = 0

    def peek(self, offset: int = 0) -> tuple[str, str]:
        index = self.pos + offset
        return self.tokens[index] if index < len(self.tokens) else ("end", "")

    def next(self) -> tuple[str, str]:
        token = self.peek()
        self.pos += 1
        return token

    def keyword(self, *words: str) -> bool:
        kind, value = self.peek()
        if kind == "ident" and value.upper() in words:
            self.pos += 1
            return True
        return False

    def expect_keyword(self, word: str) -> None:
        if not self.keyword(word):
            raise SoqlError("MALFORMED_QUERY", f"unexpected token: '{self.peek()[1] or '<end>'}'"
                                               f" (expected {word})")

    def expect(self, value: str) -> None:
        token = self.next()
        if token[1] != value:
            raise SoqlError("MALFORMED_QUERY", f"unexpected token: '{token[1] or '<end>'}'")

    def field_def(self, name: str, obj: str) -> FieldDef:
        found = FIELDS_BY_LOWER.get(name.lower())
        if found is None:
            raise SoqlError(
                "INVALID_FIELD",
                f"No such column '{name}' on entity '{obj}'. If you are attempting to use a custom "
                "field, be sure to append the '__c' after the custom field name. Please reference "
                "your WSDL or the describe call for the appropriate names.",
            )
        return found


def parse(text: str) -> Query:
    """Parse ``text``; raise :class:`SoqlError` the way Salesforce would refuse it."""
    p = _Parser(text)
    p.expect_keyword("SELECT")
    raw_fields: list[str] = []
    count = False
    if p.peek()[1].upper() == "COUNT" and p.peek(1)[1] == "(":
        p.next(), p.next()
        p.expect(")")
        count = True
    else:
        while True:
            kind, value = p.next()
            if kind != "ident":
                raise SoqlError("MALFORMED_QUERY", f"unexpected token: '{value or '<end>'}'")
            raw_fields.append(value)
            if p.peek()[1] != ",":
                break
            p.next()
    p.expect_keyword("FROM")
    kind, obj = p.next()
    if kind != "ident":
        raise SoqlError("MALFORMED_QUERY", f"unexpected token: '{obj or '<end>'}'")
    if obj.lower() != "account":
        raise SoqlError("INVALID_TYPE", f"sObject type '{obj}' is not supported. If you are "
                        "attempting to use a custom object, be sure to append the '__c' after the "
                        "entity name. Please reference your WSDL or the describe call for the "
                        "appropriate names.")
    obj = "Account"
    fields = [p.field_def(f, obj).name for f in raw_fields]
    if len({f.lower() for f in fields}) != len(fields):
        dup = next(f for f in fields if fields.count(f) > 1)
        raise SoqlError("MALFORMED_QUERY", f"duplicate field selected: {dup}")
    query = Query(obj, fields, count=count)
    if p.keyword("WHERE"):
        query.where = _condition(p, obj)
    if p.keyword("ORDER"):
        p.expect_keyword("BY")
        while True:
            kind, value = p.next()
            if kind != "ident":
                raise SoqlError("MALFORMED_QUERY", f"unexpected token: '{value or '<end>'}'")
            name = p.field_def(value, obj).name
            descending = False
            if p.keyword("DESC"):
                descending = True
            else:
                p.keyword("ASC")
            nulls_last = descending
            if p.keyword("NULLS"):
                if p.keyword("LAST"):
                    nulls_last = True
                else:
                    p.expect_keyword("FIRST")
                    nulls_last = False
            query.order.append((name, descending, nulls_last))
            if p.peek()[1] != ",":
                break
            p.next()
    if p.keyword("LIMIT"):
        query.limit = _integer(p)
    if p.keyword("OFFSET"):
        query.offset = _integer(p)
        if query.offset > 2000:
            raise SoqlError("NUMBER_OUTSIDE_VALID_RANGE",
                            f"Maximum SOQL offset allowed is 2000; you requested {query.offset}")
    if p.peek()[0] != "end":
        raise SoqlError("MALFORMED_QUERY", f"unexpected token: '{p.peek()[1]}'")
    return query


def _integer(p: _Parser) -> int:
    kind, value = p.next()
    if kind != "number" or "." in value or value.startswith("-"):
        raise SoqlError("MALFORMED_QUERY", f"unexpected token: '{value or '<end>'}'")
    return int(value)


def _condition(p: _Parser, obj: str) -> Predicate:
    parts = [_factor(p, obj)]
    joiner = ""
    while True:
        if p.peek()[0] == "ident" and p.peek()[1].upper() in ("AND", "OR"):
            word = p.next()[1].upper()
            if joiner and word != joiner:
                raise SoqlError("MALFORMED_QUERY",
                                f"unexpected token: '{word}' (use parentheses to mix AND and OR)")
            joiner = word
            parts.append(_factor(p, obj))
        else:
            break
    if len(parts) == 1:
        return parts[0]
    if joiner == "AND":
        return lambda row: all(part(row) for part in parts)
    return lambda row: any(part(row) for part in parts)


def _factor(p: _Parser, obj: str) -> Predicate:
    if p.keyword("NOT"):
        inner = _factor(p, obj)
        return lambda row: not inner(row)
    if p.peek()[1] == "(":
        p.next()
        inner = _condition(p, obj)
        p.expect(")")
        return inner
    kind, name = p.next()
    if kind != "ident":
        raise SoqlError("MALFORMED_QUERY", f"unexpected token: '{name or '<end>'}'")
    fdef = p.field_def(name, obj)
    negate = p.keyword("NOT")
    if p.keyword("IN"):
        p.expect("(")
        values = [_value(p, fdef, like=False)]
        while p.peek()[1] == ",":
            p.next()
            values.append(_value(p, fdef, like=False))
        p.expect(")")
        wanted = {_norm(fdef, v) for v in values}
        key = fdef.name

        def is_in(row: Row) -> bool:
            return _norm(fdef, row.get(key)) in wanted

        return (lambda row: not is_in(row)) if negate else is_in
    if negate:
        raise SoqlError("MALFORMED_QUERY", "unexpected token: 'NOT'")
    if p.keyword("LIKE"):
        kind, raw = p.next()
        if kind != "string":
            raise SoqlError("MALFORMED_QUERY", f"unexpected token: '{raw or '<end>'}'")
        pattern = _like_regex(raw[1:-1])
        key = fdef.name
        return lambda row: isinstance(row.get(key), str) and bool(pattern.match(row[key]))
    kind, op = p.next()
    if kind != "op":
        raise SoqlError("MALFORMED_QUERY", f"unexpected token: '{op or '<end>'}'")
    value = _value(p, fdef, like=False)
    return _compare(fdef, op, value)


def _compare(fdef: FieldDef, op: str, value: Any) -> Predicate:
    key = fdef.name
    wanted = _norm(fdef, value)
    if op in ("=", "!=", "<>"):
        equal = op == "="
        return lambda row: (_norm(fdef, row.get(key)) == wanted) is equal
    if value is None:
        raise SoqlError("MALFORMED_QUERY", f"invalid operator on null: {op}")
    compare: dict[str, Callable[[Any, Any], bool]] = {
        "<": lambda a, b: a < b, ">": lambda a, b: a > b,
        "<=": lambda a, b: a <= b, ">=": lambda a, b: a >= b,
    }
    test = compare[op]

    def ordered(row: Row) -> bool:
        have = _norm(fdef, row.get(key))
        return have is not None and bool(test(have, wanted))

    return ordered


def _norm(fdef: FieldDef, value: Any) -> Any:
    # text equality is case-insensitive in SOQL; ids and external ids are compared as given
    if isinstance(value, str) and fdef.type not in ("id", "reference") and not fdef.external_id:
        return value.casefold()
    return value


def _value(p: _Parser, fdef: FieldDef, like: bool) -> Any:
    kind, raw = p.next()
    if kind == "ident" and raw.lower() == "null":
        return None
    if fdef.type == "datetime":
        if kind == "datetime":
            return parse_literal_datetime(raw)
        raise SoqlError(
            "INVALID_FIELD",
            f"value of filter criterion for field '{fdef.name}' must be of type dateTime and "
            "should not be enclosed in quotes",
        )
    if fdef.type == "boolean":
        if kind == "ident" and raw.lower() in ("true", "false"):
            return raw.lower() == "true"
        raise SoqlError("INVALID_FIELD",
                        f"value of filter criterion for field '{fdef.name}' must be of type boolean "
                        "and should not be enclosed in quotes")
    if fdef.type in ("currency", "double"):
        if kind == "number":
            return float(raw)
        raise SoqlError("INVALID_FIELD",
                        f"value of filter criterion for field '{fdef.name}' must be of type double "
                        "and should not be enclosed in quotes")
    if kind != "string":
        raise SoqlError("MALFORMED_QUERY", f"unexpected token: '{raw or '<end>'}'")
    return unescape(raw[1:-1], like=like)


def unescape(body: str, like: bool) -> str:
    """The value of a string literal's body; ``\\_`` and ``\\%`` are kept escaped for LIKE."""
    out: list[str] = []
    i = 0
    while i < len(body):
        char = body[i]
        if char != "\\":
            out.append(char)
            i += 1
            continue
        nxt = body[i + 1] if i + 1 < len(body) else ""
        if nxt in _UNESCAPE:
            out.append(_UNESCAPE[nxt])
        elif like and nxt in ("_", "%"):
            out.append("\\" + nxt)
        else:
            raise SoqlError("MALFORMED_QUERY",
                            f"Invalid string literal '{body}'. Illegal character sequence '\\{nxt}' "
                            "in string literal.")
        i += 2
    return "".join(out)


def _like_regex(body: str) -> re.Pattern[str]:
    value = unescape(body, like=True)
    pattern: list[str] = []
    i = 0
    while i < len(value):
        char = value[i]
        if char == "\\" and i + 1 < len(value) and value[i + 1] in "_%":
            pattern.append(re.escape(value[i + 1]))
            i += 2
            continue
        pattern.append(".*" if char == "%" else "." if char == "_" else re.escape(char))
        i += 1
    return re.compile("^" + "".join(pattern) + "$", re.IGNORECASE | re.DOTALL)


__all__ = ["Query", "SoqlError", "parse", "parse_literal_datetime", "to_millis", "unescape"]
