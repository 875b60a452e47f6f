"""check_mapping: capability and describe() checks, each problem with file, line, field and fix."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from crmsync.connector import READ, WRITE, FieldInfo
from crmsync.mapping import Problem, check_mapping

Write = Callable[[str], Path]

MAPPING = """
connector: salesforce
object: Account
key: Id
fields:
  organization_name: {source: Name, required: true, convert: [trim]}
  industry: {source: Industri}
  tax_id: {source: Tax_Id__c}
  credit_limit: {source: Credit_Limit__c, convert: [decimal]}
  blocked: {source: Blocked__c}
  owner: {source: OwnerId}
  website: {source: Website}
  lifecycle_stage: {source: Stage__c, convert: [{map: {table: {Lead: lead, Won: customer}}}]}
  billing_address.city: {source: "to_Address[0].City"}
  emails: {source: Email__c}
"""

DESCRIBE = {
    "Id": FieldInfo("Id", "id", 18, createable=False, updateable=False),
    "Name": FieldInfo("Name", "string", 255),
    "Industry": FieldInfo("Industry", "picklist", 40),
    "Tax_Id__c": FieldInfo("Tax_Id__c", "string", 20),
    "Credit_Limit__c": FieldInfo("Credit_Limit__c", "currency"),
    "Blocked__c": FieldInfo("Blocked__c", "string", 1),
    "OwnerId": FieldInfo("OwnerId", "reference", 18, createable=True, updateable=False),
    "Website": FieldInfo("Website", "url", 255, createable=False, updateable=False),
    "Stage__c": FieldInfo("Stage__c", "picklist", 40, picklist=("Lead", "Customer")),
    "Email__c": FieldInfo("Email__c", "email", 80),
}


def by_field(problems: list[Problem]) -> dict[str, list[Problem]]:
    found: dict[str, list[Problem]] = {}
    for problem in problems:
        found.setdefault(problem.field, []).append(problem)
    return found


def test_describe_checks(write_mapping: Write) -> None:
    path = write_mapping(MAPPING)
    problems = check_mapping(path, describe=DESCRIBE, capabilities={READ, WRITE})
    found = by_field(problems)
    assert found["industry"][0].message == "source field 'Industri' does not exist in Account"
    assert found["industry"][0].fix == "did you mean 'Industry'?"
    assert found["industry"][0].line == 6 and found["industry"][0].file == str(path)
    assert "tax_id" in found and found["tax_id"][0].severity == "warning"
    assert "holds up to 40 characters, Tax_Id__c only 20" in found["tax_id"][0].message
    assert "credit_limit" not in found
    assert found["blocked"][0].severity == "warning"
    assert "has type string, canonical blocked is bool" in found["blocked"][0].message
    assert "can be set on create but not updated" in found["owner"][0].message
    assert found["website"][0].message == "source field 'Website' is read-only at the endpoint"
    assert found["website"][0].fix == "write direction: in"
    assert "map writes Won, not in the picklist of Stage__c" in found["lifecycle_stage"][0].message
    assert "billing_address.city" in found  # to_Address is not in describe at all
    assert [p.severity for p in found["emails"]] == ["warning"]
    assert "organization_name" not in found
    text = str(found["website"][0])
    assert text.startswith(f"{path}:11: website: source field 'Website' is read-only")
    assert text.endswith("Fix: write direction: in")


def test_blocked_bool_mapped_to_text_is_a_type_warning(write_mapping: Write) -> None:
    path = write_mapping(MAPPING)
    describe = dict(DESCRIBE, Blocked__c=FieldInfo("Blocked__c", "boolean"), Name=FieldInfo("Name", "double"))
    found = by_field(check_mapping(path, describe=describe))
    assert "blocked" not in found
    assert "has type double, canonical organization_name is string" in found["organization_name"][0].message


def test_read_only_connector_cannot_be_written(write_mapping: Write) -> None:
    path = write_mapping("""
        connector: spreadsheet
        object: customers
        key: id
        fields:
          organization_name: company
          industry: {source: sector, direction: in}
        """)
    problems = check_mapping(path, capabilities={READ})
    assert [(p.field, p.line) for p in problems] == [("organization_name", 5)]
    assert problems[0].message == "direction both but connector 'spreadsheet' cannot write"
    assert "direction: in" in problems[0].fix
    assert check_mapping(path, capabilities={READ, WRITE}) == []


def test_nested_describe_names_are_checked_when_describe_lists_them(write_mapping: Write) -> None:
    path = write_mapping("""
        connector: sap
        object: A_BusinessPartner
        key: BusinessPartner
        fields:
          organization_name: OrganizationBPName1
          billing_address.city: {source: "to_BusinessPartnerAddress[0].CityName"}
          billing_address.street: {source: "to_BusinessPartnerAddress[0].Street"}
        """)
    describe = {name: FieldInfo(name) for name in (
        "BusinessPartner", "OrganizationBPName1", "to_BusinessPartnerAddress.CityName",
        "to_BusinessPartnerAddress.StreetName")}
    problems = check_mapping(path, describe=describe)
    assert [(p.field, p.fix) for p in problems] == [
        ("billing_address.street", "did you mean 'to_BusinessPartnerAddress.StreetName'?")]


def test_check_lists_every_structural_problem(write_mapping: Write) -> None:
    path = write_mapping("""
        connector: salesforce
        object: Account
        key: Id
        colour: blue
        fields:
          organisation_name: Name
          industry: {source: Industry, convert: [nope, {decimal: {scale: -1}}]}
        """)
    problems = check_mapping(path)
    messages = [p.message for p in problems]
    assert "unknown top-level key 'colour'" in messages
    assert "'organisation_name' is not a canonical field" in messages
    assert "unknown converter 'nope'" in messages
    assert "converter 'decimal': argument 'scale' must be between 0 and 18, got -1" in messages
    assert any(m.startswith("no name field is loaded") for m in messages)
    assert all(p.file == str(path) and p.line > 0 and p.fix for p in problems)
