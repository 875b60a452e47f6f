"""OData v2 ``$filter`` evaluation for the fake SAP Gateway.

Owns a tokenizer and a recursive-descent parser for the ``$filter`` subset SAP Gateway
applications are asked for: ``eq ne gt ge lt le``, ``and or not``, parentheses,
``substringof startswith endswith tolower toupper length trim``, navigation paths to a 0..1
entity (``to_Customer/VATRegistration``) and the literals ``'str'`` (``''`` escapes),
``datetime''``, ``datetimeoffset''``, ``time''``, ``guid''``, numbers, ``true``, ``false``, ``null``.
A parse error raises :class:`FilterError` with a message in SAP's words.
"""

from __future__ import annotations

import datetime as dt
import decimal
import re
from collections.abc import Callable
from typing import Any

from crmsync_sap.odata_wire import parse_time

Predicate = Callable[[dict[str, Any]], Any]


class FilterError(ValueError):
    """The ``$filter`` expression is not valid OData v2 (answered with HTTP 400)."""


_TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<typed>(?:datetimeoffset|datetime|time|guid|binary|X)'(?:[^']|'')*')
  | (?P<string>'(?:[^']|'')*')
  | (?P<number>-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?[mMdDfFlL]?)
  | (?P<punct>[(),])
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*(?:/[A-Za-z_][A-Za-z0-9_]*)*)
""", re.VERBOSE)

_COMPARE = {"eq", "ne", "gt", "ge", "lt", "le"}
_FUNCS = {"substringof", "startswith", "endswith", "tolower", "toupper", "length", "trim"}


def _tokens(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match:
            raise FilterError(f"Invalid token detected at position {pos + 1}")
        pos = match.end()
        kind = match.lastgroup or ""
        if kind != "ws":
            out.append((kind, match.group()))
    return out


def _literal(kind: str, text: str) -> Any:
    if kind == "string":
        return text[1:-1].replace("''", "'")
    if kind == "number":
        plain = text.rstrip("mMdDfFlL")
        return decimal.Decimal(plain) if ("." in plain or "e" in plain.lower()) else int(plain)
    prefix, _, rest = text.partition("'")
    value = rest[:-1].replace("''", "'")
    try:
        if prefix == "datetime":
            return dt.datetime.fromisoformat(value)
        if prefix == "datetimeoffset":
            moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
            return moment.astimezone(dt.UTC).replace(tzinfo=None) if moment.tzinfo else moment
        if prefix == "time":
            return parse_time(value)
    except ValueError:
        raise FilterError(f"Invalid {prefix} literal {text!r}") from None
    return value


def _cmp(op: str, left: Any, right: Any) -> bool:
    if op == "eq":
        return bool(left == right)
    if op == "ne":
        return bool(left != right)
    if left is None or right is None:
        return False
    try:
        if op == "gt":
            return bool(left > right)
        if op == "ge":
            return bool(left >= right)
        if op == "lt":
            return bool(left < right)
        return bool(left <= right)
    except TypeError:
        raise FilterError(f"Operator '{op}' incompatible with operand types") from None


class _Parser:
    def __init__(self, text: str, resolve: Callable[[str], Predicate]) -> None:
        self.tokens = _tokens(text)
        self.pos = 0
        self.resolve = resolve

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self, expected: str | None = None) -> tuple[str, str]:
        token = self.peek()
        if token is None:
            raise FilterError("Unexpected end of $filter expression")
        if expected is not None and token[1] != expected:
            raise FilterError(f"Expected '{expected}' but found '{token[1]}'")
        self.pos += 1
        return token

    def parse(self) -> Predicate:
        pred = self.or_expr()
        if self.peek() is not None:
            raise FilterError(f"Unexpected token '{self.peek()[1]}' in $filter")  # type: ignore[index]
        return pred

    def or_expr(self) -> Predicate:
        left = self.and_expr()
        while self.peek() == ("name", "or"):
            self.take()
            right = self.and_expr()
            left = (lambda a, b: lambda row: bool(a(row)) or bool(b(row)))(left, right)
        return left

    def and_expr(self) -> Predicate:
        left = self.not_expr()
        while self.peek() == ("name", "and"):
            self.take()
            right = self.not_expr()
            left = (lambda a, b: lambda row: bool(a(row)) and bool(b(row)))(left, right)
        return left

    def not_expr(self) -> Predicate:
        if self.peek() == ("name", "not"):
            self.take()
            inner = self.not_expr()
            return lambda row: not inner(row)
        return self.comparison()

    def comparison(self) -> Predicate:
        left = self.primary()
        token = self.peek()
        if token and token[0] == "name" and token[1] in _COMPARE:
            op = self.take()[1]
            right = self.primary()
            return lambda row: _cmp(op, left(row), right(row))
        return left

    def primary(self) -> Predicate:
        kind, text = self.take()
        if text == "(":
            inner = self.or_expr()
            self.take(")")
            return inner
        if kind in ("string", "typed", "number"):
            value = _literal(kind, text)
            return lambda row: value
        if kind == "name":
            if text in ("true", "false"):
                flag = text == "true"
                return lambda row: flag
            if text == "null":
                return lambda row: None
            if text in _FUNCS and self.peek() == ("punct", "("):
                return self.function(text)
            return self.resolve(text)
        raise FilterError(f"Unexpected token '{text}' in $filter")

    def function(self, name: str) -> Predicate:
        self.take("(")
        args = [self.or_expr()]
        while self.peek() == ("punct", ","):
            self.take()
            args.append(self.or_expr())
        self.take(")")

        def text(value: Any) -> str:
            return "" if value is None else str(value)

        arity = 2 if name in ("substringof", "startswith", "endswith") else 1
        if len(args) != arity:
            raise FilterError(f"Function '{name}' expects {arity} argument(s)")
        a = args[0]
        b = args[1] if arity == 2 else a
        funcs: dict[str, Predicate] = {
            "substringof": lambda row: text(a(row)) in text(b(row)),
            "startswith": lambda row: text(a(row)).startswith(text(b(row))),
            "endswith": lambda row: text(a(row)).endswith(text(b(row))),
            "tolower": lambda row: text(a(row)).lower(),
            "toupper": lambda row: text(a(row)).upper(),
            "length": lambda row: len(text(a(row))),
            "trim": lambda row: text(a(row)).strip(),
        }
        return funcs[name]


def compile_filter(text: str, resolve: Callable[[str], Predicate]) -> Predicate:
    """A predicate for ``text``; ``resolve(path)`` gives the accessor of a property path."""
    return _Parser(text, resolve).parse()


__all__ = ["FilterError", "Predicate", "compile_filter"]
