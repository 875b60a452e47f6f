"""SOQL literal quoting (connector side) against the fake org's SOQL parser (server side)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crmsync_salesforce.fake_soql import SoqlError, parse
from crmsync_salesforce.soql import (
    check_field_name,
    cursor_timestamp,
    soql_datetime,
    soql_like_quote,
    soql_quote,
)

INJECTIONS = ["' OR Name != '", "\\'", "%_", "O'Brien", "\\", "'; DELETE", "a\nb\rc\td\be\ff", '"x"',
              "\\' OR Id != \\'", "\u202e", "北京科技有限公司", "😀"]


def test_soql_quote_escapes_backslash_first():
    assert soql_quote("O'Brien") == "'O\\'Brien'"
    assert soql_quote("\\'") == "'\\\\\\''"
    assert soql_quote("a\nb") == "'a\\nb'"
    assert soql_quote("%_") == "'%_'"  # wildcards are literal outside LIKE
    assert soql_like_quote("50%_off") == "'50\\%\\_off'"


def test_soql_quote_refuses_nul_and_non_strings():
    with pytest.raises(ValueError, match="NUL"):
        soql_quote("a\x00b")
    with pytest.raises(TypeError):
        soql_quote(5)  # type: ignore[arg-type]


@pytest.mark.parametrize("value", INJECTIONS)
def test_quoted_value_matches_exactly_one_row(value):
    rows = [{"Name": value, "Id": "1"}, {"Name": "other", "Id": "2"}, {"Name": value + "x", "Id": "3"}]
    query = parse(f"SELECT Id FROM Account WHERE Name = {soql_quote(value)}")
    assert [r["Id"] for r in query.run(rows)] == ["1"]
    like = parse(f"SELECT Id FROM Account WHERE Name LIKE {soql_like_quote(value)}")
    assert [r["Id"] for r in like.run(rows)] == ["1"]


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",))))
def test_any_text_round_trips_through_the_parser(value):
    rows = [{"Name": value, "Id": "1"}, {"Name": value + "'", "Id": "2"}]
    assert [r["Id"] for r in parse(f"SELECT Id FROM Account WHERE Name = {soql_quote(value)}").run(rows)] \
        == ["1"]


def test_fake_parser_refuses_what_salesforce_refuses():
    with pytest.raises(SoqlError, match="dateTime") as info:
        parse("SELECT Id FROM Account WHERE SystemModstamp > '2026-01-01T00:00:00Z'")
    assert info.value.code == "INVALID_FIELD"
    with pytest.raises(SoqlError) as info:
        parse("SELECT Id FROM Account WHERE Name = 'a' AND Name = 'b' OR Name = 'c'")
    assert info.value.code == "MALFORMED_QUERY"
    with pytest.raises(SoqlError) as info:
        parse("SELECT Nope FROM Account")
    assert info.value.code == "INVALID_FIELD"
    with pytest.raises(SoqlError) as info:
        parse("SELECT Id FROM Nope__c")
    assert info.value.code == "INVALID_TYPE"
    with pytest.raises(SoqlError, match="Illegal"):
        parse("SELECT Id FROM Account WHERE Name = 'a\\_'")


def test_fake_parser_operators_order_limit():
    rows = [{"Id": f"00{i}", "Name": n, "Credit_Limit__c": c, "Blocked__c": b, "SystemModstamp": s}
            for i, (n, c, b, s) in enumerate([("b", 10.0, False, 5), ("A", None, True, 5), ("c", 30.0, False, 9)])]
    q = parse("select Id, name from account where (Credit_Limit__c >= 10 or Blocked__c = true) "
              "and Name != 'zz' and Id IN ('000', '001', '002') order by Name desc nulls last limit 2")
    assert [r["Id"] for r in q.run(rows)] == ["002", "000"]
    q = parse("SELECT Id FROM Account WHERE SystemModstamp = 1970-01-01T00:00:00.005Z AND NOT Name LIKE 'a%'")
    assert [r["Id"] for r in q.run(rows)] == ["000"]
    q = parse("SELECT Id FROM Account WHERE Credit_Limit__c = null")
    assert [r["Id"] for r in q.run(rows)] == ["001"]
    assert parse("SELECT COUNT() FROM Account").count


def test_datetime_helpers():
    assert cursor_timestamp("2026-11-23T10:00:00.000+0000") == "2026-11-23T10:00:00.000Z"
    assert cursor_timestamp("2026-11-23T11:00:00+01:00") == "2026-11-23T10:00:00.000Z"
    assert soql_datetime("2026-11-23T10:00:00Z") == "2026-11-23T10:00:00.000Z"
    with pytest.raises(ValueError):
        soql_datetime("2026-11-23T10:00:00Z OR Name != ''")
    with pytest.raises(ValueError):
        soql_datetime("2026-11-23T10:00:00")
    with pytest.raises(ValueError):
        check_field_name("Name, (SELECT Id FROM Contacts)")
    assert check_field_name("Owner.Name") == "Owner.Name"
