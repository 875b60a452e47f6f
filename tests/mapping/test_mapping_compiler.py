"""compile_mapping: the file format, load and dump, nested paths, lists and error reporting."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from crmsync.canonical import validate_flat
from crmsync.errors import MappingError, RecordError
from crmsync.mapping import CompiledMapping, Converter, compile_mapping
from crmsync.mapping.converters import BUILTIN_CONVERTERS, ConversionError

Compile = Callable[[str], CompiledMapping]
Write = Callable[[str], Path]

BASIC = """
connector: salesforce
object: Account
key: Id
fields:
  organization_name: {source: Name, required: true, convert: [trim]}
  billing_address.city: {source: BillingAddress.city, convert: [trim]}
  country: {source: BillingAddress.country, direction: in, convert: [country_code]}
  billing_address.country: {source: BillingAddress.country, convert: [country_code]}
  emails: {source: Email__c, convert: [{split: ","}, email]}
  credit_limit: {source: Credit_Limit__c, direction: in, convert: [{decimal: {scale: 2}}]}
  blocked: {source: Blocked__c, convert: [bool]}
  kind: {constant: organization}
  website: Website
"""


def test_compiled_mapping_attributes(write_mapping: Write) -> None:
    path = write_mapping(BASIC)
    mapping = compile_mapping(path)
    assert (mapping.connector, mapping.object, mapping.key) == ("salesforce", "Account", "Id")
    assert mapping.path == path
    assert mapping.hash == hashlib.sha256(path.read_bytes()).hexdigest()
    assert mapping.source_fields == ("Id", "Name", "BillingAddress.city", "BillingAddress.country", "Email__c",
                                     "Credit_Limit__c", "Blocked__c", "Website")
    assert "credit_limit" in mapping.inbound and "credit_limit" not in mapping.outbound
    assert "kind" in mapping.inbound and "kind" not in mapping.outbound
    assert "country" not in mapping.outbound and "billing_address.country" in mapping.outbound
    first = mapping.fields[0]
    assert (first.canonical, first.source, first.direction, first.required, first.line) == (
        "organization_name", "Name", "both", True, 5)
    assert first.converters == (("trim", {}),)
    assert mapping.fields[4].converters == (("split", {"sep": ","}), ("email", {}))


def test_load_reads_nested_payloads_and_fills_absent_fields_with_none(compile_text: Compile) -> None:
    mapping = compile_text(BASIC)
    record = mapping.load({"Name": "  Zoë Ingénierie  ", "BillingAddress": {"city": "Málaga", "country": "Spain"},
                           "Email__c": "A@X.es, b@y.ES", "Credit_Limit__c": 1500, "Blocked__c": "",
                           "Website": ""})
    assert record == {
        "organization_name": "Zoë Ingénierie", "billing_address.city": "Málaga", "country": "ES",
        "billing_address.country": "ES", "emails": ["a@x.es", "b@y.es"], "credit_limit": Decimal("1500.00"),
        "blocked": None, "kind": "organization", "website": None,
    }
    assert validate_flat(record) == {}
    empty = mapping.load({"Name": "Acme"})
    assert set(empty) == mapping.inbound
    assert empty["billing_address.city"] is None and empty["emails"] is None


def test_load_reports_every_problem_of_a_record(compile_text: Compile) -> None:
    mapping = compile_text(BASIC)
    with pytest.raises(RecordError) as info:
        mapping.load({"Name": "   ", "BillingAddress": {"country": "Atlantis"}, "Email__c": "x@y.de, nope",
                      "Credit_Limit__c": "NaN", "Blocked__c": "perhaps"})
    problems = {p["field"]: p for p in info.value.problems}
    assert set(problems) == {"organization_name", "country", "billing_address.country", "emails",
                             "credit_limit", "blocked"}
    assert problems["organization_name"]["rule"] == "required"
    assert problems["emails"] == {"field": "emails", "source": "Email__c", "value": "x@y.de, nope",
                                  "rule": "email", "message": "email: 'nope' is not an e-mail address"}
    assert problems["credit_limit"]["rule"] == "decimal" and problems["credit_limit"]["value"] == "NaN"
    assert info.value.field == "organization_name" and info.value.rule == "required"
    assert "6 mapping problems" in str(info.value)


def test_dump_builds_nested_source_payload_and_respects_only(compile_text: Compile) -> None:
    mapping = compile_text(BASIC)
    record = {"organization_name": "O'Brien", "billing_address.city": "Dublin", "billing_address.country": "IE",
              "emails": ["a@x.ie", "b@y.ie"], "credit_limit": Decimal("5"), "blocked": True, "kind": "person",
              "website": None}
    assert mapping.dump(record) == {
        "Name": "O'Brien", "BillingAddress": {"city": "Dublin", "country": "IE"}, "Email__c": "a@x.ie,b@y.ie",
        "Blocked__c": True, "Website": None,
    }
    assert mapping.dump(record, only=["blocked", "billing_address.city"]) == {
        "BillingAddress": {"city": "Dublin"}, "Blocked__c": True}
    assert mapping.dump({"blocked": False}) == {"Blocked__c": False}
    assert mapping.dump({}) == {}


def test_dump_reports_required_and_conversion_problems(compile_text: Compile) -> None:
    mapping = compile_text(BASIC)
    with pytest.raises(RecordError) as info:
        mapping.dump({"organization_name": None, "billing_address.country": "XX"})
    assert {p["field"]: p["rule"] for p in info.value.problems} == {
        "organization_name": "required", "billing_address.country": "country_code"}


INDEXED = """
connector: sap
object: A_BusinessPartner
key: BusinessPartner
fields:
  organization_name: OrganizationBPName1
  billing_address.city: {source: "to_BusinessPartnerAddress[0].CityName"}
  shipping_address.city: {source: "to_BusinessPartnerAddress[1].CityName"}
  emails[0]: {source: "to_BusinessPartnerAddress[0].to_EmailAddress[0].EmailAddress", convert: [email]}
  emails[1]: {source: "to_BusinessPartnerAddress[0].to_EmailAddress[1].EmailAddress", convert: [email]}
  phones[0]: {source: "to_BusinessPartnerAddress[0].to_PhoneNumber[0].PhoneNumber", convert: [{phone: DE}]}
  last_changed_at: {source: LastChangeDate, direction: in, convert: [{datetime: sap}]}
"""


def test_indexed_paths_read_odata_results_wrappers_and_plain_lists(compile_text: Compile) -> None:
    mapping = compile_text(INDEXED)
    odata = {"OrganizationBPName1": "北京科技有限公司", "LastChangeDate": "/Date(1700000000000)/",
             "to_BusinessPartnerAddress": {"results": [
                 {"CityName": "北京", "to_EmailAddress": {"results": [{"EmailAddress": "Info@BJ.cn"}]},
                  "to_PhoneNumber": {"results": []}}]}}
    record = mapping.load(odata)
    assert record["billing_address.city"] == "北京" and record["shipping_address.city"] is None
    assert record["emails"] == ["info@bj.cn"] and record["phones"] is None
    assert record["last_changed_at"] == dt.datetime(2023, 11, 14, 22, 13, 20, tzinfo=dt.UTC)
    plain = {"to_BusinessPartnerAddress": [{"CityName": "Köln"}, {"CityName": "Bonn"}],
             "OrganizationBPName1": "Müller GmbH"}
    assert mapping.load(plain)["shipping_address.city"] == "Bonn"


def test_indexed_paths_dump_nested_lists(compile_text: Compile) -> None:
    mapping = compile_text(INDEXED)
    payload = mapping.dump({"organization_name": "Müller GmbH", "billing_address.city": "Köln",
                            "shipping_address.city": "Bonn", "emails": ["a@m.de", "b@m.de", "c@m.de"],
                            "phones": ["+49301234567"]})
    assert payload == {
        "OrganizationBPName1": "Müller GmbH",
        "to_BusinessPartnerAddress": [
            {"CityName": "Köln", "to_EmailAddress": [{"EmailAddress": "a@m.de"}, {"EmailAddress": "b@m.de"}],
             "to_PhoneNumber": [{"PhoneNumber": "+49301234567"}]},
            {"CityName": "Bonn"},
        ],
    }
    assert mapping.load(payload)["emails"] == ["a@m.de", "b@m.de"]


def test_one_source_read_by_two_fields(compile_text: Compile) -> None:
    mapping = compile_text("""
        connector: spreadsheet
        object: people
        key: id
        fields:
          first_name: {source: name, direction: in, convert: [{split: {sep: " ", maxsplit: 1, right: true}}, item]}
          last_name: {source: name, convert: [{split: {sep: " ", maxsplit: 1, right: true}}, {item: -1}, join]}
        """)
    assert mapping.load({"name": "Anna Maria Nuñez"}) == {"first_name": "Anna Maria", "last_name": "Nuñez"}
    assert mapping.dump({"first_name": "X", "last_name": "Nuñez"}) == {"name": "Nuñez"}


def test_default_and_constant_apply_to_empty_values(compile_text: Compile) -> None:
    mapping = compile_text("""
        connector: spreadsheet
        object: customers
        key: id
        direction: in
        fields:
          organization_name: company
          lifecycle_stage: {source: stage, convert: [{default: customer}]}
          currency: {source: currency, convert: [{constant: EUR}]}
        """)
    assert mapping.load({"company": "Acme", "stage": ""}) == {
        "organization_name": "Acme", "lifecycle_stage": "customer", "currency": "EUR"}
    assert mapping.outbound == frozenset()
    assert mapping.dump({"organization_name": "Acme"}) == {}


def test_canonical_type_is_enforced(compile_text: Compile) -> None:
    mapping = compile_text("""
        connector: spreadsheet
        object: customers
        key: id
        fields:
          organization_name: company
          country: country
          credit_limit: limit
          blocked: blocked
          lifecycle_stage: stage
        """)
    with pytest.raises(RecordError) as info:
        mapping.load({"company": "x" * 300, "country": "Germany", "limit": 1.5, "blocked": "yes", "stage": "won"})
    rules = {p["field"]: (p["rule"], p["message"]) for p in info.value.problems}
    assert rules["organization_name"][0] == "max_length"
    assert rules["country"] == ("country", "country: 'Germany' is not an ISO 3166-1 alpha-2 code; "
                                "add the country_code converter")
    assert rules["credit_limit"][0] == "type" and "add the decimal converter" in rules["credit_limit"][1]
    assert rules["blocked"][0] == "type" and "add the bool converter" in rules["blocked"][1]
    assert rules["lifecycle_stage"][0] == "choices"
    record = mapping.load({"company": "Acme", "country": "DE", "limit": 10, "blocked": True})
    assert record["credit_limit"] == Decimal(10)


def test_plugin_converters_can_be_passed_in(write_mapping: Write) -> None:
    def reverse(value: Any, args: Any) -> Any:
        if not isinstance(value, str):
            raise ConversionError("reverse: expected text")
        return value[::-1]

    converters = {c.name: c for c in BUILTIN_CONVERTERS}
    converters["reverse"] = Converter("reverse", "Reverse text.", reverse, reverse)
    path = write_mapping("""
        connector: x
        object: y
        key: id
        fields:
          organization_name: {source: name, convert: [reverse]}
        """)
    mapping = compile_mapping(path, converters=converters)
    assert mapping.load({"name": "emca"}) == {"organization_name": "acme"}
    assert mapping.dump({"organization_name": "acme"}) == {"name": "emca"}
    with pytest.raises(MappingError, match="unknown converter 'reverse'"):
        compile_mapping(path)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("connector: x\nobject: y\nkey: id\nfields:\n  organization_name: a\n  organization_name: b\n",
         ["line 6", "'organization_name' is written twice (lines 5 and 6)", "keep one of them"]),
        ("connector: x\nobject: y\nkey: id\nfields: !!python/object:os.system {}\n",
         ["line 4", "YAML tag refused", "remove tags such as !!python/object"]),
        ("connector: x\nobject: y\nkey: id\nfields:\n  organisation_name: a\n",
         ["line 5", "'organisation_name' is not a canonical field", "did you mean 'organization_name'?"]),
        ("connector: x\nobject: y\nkey: id\nfields:\n  organization_name: {source: a, convert: [trimm]}\n",
         ["line 5", "unknown converter 'trimm'", "did you mean 'trim'?"]),
        ("connector: x\nobject: y\nkey: id\nfields:\n  organization_name: {source: a, convert: [{map: {}}]}\n",
         ["converter 'map': argument 'table' is required"]),
        ("connector: x\nobject: y\nkey: id\nfields:\n  organization_name: {source: a, direction: sideways}\n",
         ["direction 'sideways' is not in/out/both"]),
        ("connector: x\nobject: y\nkey: id\nfields:\n  organization_name: {src: a}\n",
         ["unknown key 'src'", "no source"]),
        ("connector: x\nobject: y\nfields:\n  organization_name: a\n", ["'key' must be a non-empty string"]),
        ("connector: x\nobject: y\nkey: id\nfields:\n  industry: a\n",
         ["no name field is loaded", "map organization_name"]),
        ("connector: x\nobject: y\nkey: id\nfields:\n  organization_name: a\n  emails: e\n  emails[0]: f\n",
         ["'emails' is mapped twice"]),
        ("connector: x\nobject: y\nkey: id\nfields:\n  organization_name: a\n  industry: a\n",
         ["source 'a' is written by two fields", "set direction: in on all but one"]),
        ("connector: x\nobject: y\nkey: id\nfields:\n  organization_name: a\n  industry[0]: b\n",
         ["'industry' is not a list field"]),
        ("connector: x\nobject: y\nkey: id\nfields:\n  organization_name: 'a..b'\n",
         ["segment '' is not NAME or NAME[INDEX]"]),
        ("connector: x\nobject: y\nkey: id\nfields: [1, 2\n", ["invalid YAML"]),
        ("- just a list\n", ["must be a mapping with connector, object, key and fields"]),
    ],
)
def test_compile_errors_name_file_line_field_and_fix(write_mapping: Write, text: str, expected: list[str]) -> None:
    path = write_mapping(text)
    with pytest.raises(MappingError) as info:
        compile_mapping(path)
    message = str(info.value)
    assert str(path) in message
    for part in expected:
        assert part in message
    assert info.value.file == str(path)


def test_python_tags_are_never_constructed(write_mapping: Write, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = write_mapping(f"connector: !!python/object/apply:os.system ['touch {marker}']\nobject: y\nkey: id\n")
    with pytest.raises(MappingError, match="YAML tag refused"):
        compile_mapping(path)
    assert not marker.exists()


def test_missing_and_non_utf8_files(tmp_path: Path) -> None:
    with pytest.raises(MappingError, match="cannot read the mapping file"):
        compile_mapping(tmp_path / "nope.yaml")
    bad = tmp_path / "latin1.yaml"
    bad.write_bytes("connector: x\nobject: Zo\xeb\n".encode("latin-1"))
    with pytest.raises(MappingError, match="not UTF-8 text"):
        compile_mapping(bad)
