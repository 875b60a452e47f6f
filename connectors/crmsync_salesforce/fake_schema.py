"""The fake org's Account object: field definitions, as the describe call reports them.

The fake validates writes against these definitions (types, lengths, createable /
updateable, restricted picklists, unique external ids) and answers describe from them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class FieldDef:
    """One Account field of the fake org."""

    name: str
    type: str  # id, string, textarea, picklist, phone, url, email, currency, boolean, datetime, reference
    label: str
    length: int = 0
    nillable: bool = True
    createable: bool = True
    updateable: bool = True
    external_id: bool = False
    unique: bool = False
    picklist: tuple[str, ...] = ()
    restricted: bool = False
    default: Any = None

    def describe(self) -> dict[str, Any]:
        """The field as ``/sobjects/Account/describe`` lists it."""
        numeric = self.type in ("currency", "double")
        return {
            "name": self.name,
            "label": self.label,
            "type": self.type,
            "length": 0 if numeric or self.type in ("boolean", "datetime") else self.length,
            "precision": 18 if numeric else 0,
            "scale": 2 if numeric else 0,
            "nillable": self.nillable,
            "createable": self.createable,
            "updateable": self.updateable,
            "externalId": self.external_id,
            "unique": self.unique,
            "idLookup": self.name == "Id" or self.external_id,
            "custom": self.name.endswith("__c"),
            "defaultedOnCreate": self.default is not None or self.name in _SYSTEM,
            "restrictedPicklist": self.restricted,
            "picklistValues": [
                {"active": True, "defaultValue": False, "label": v, "validFor": None, "value": v}
                for v in self.picklist
            ],
            "referenceTo": ["Account"] if self.name == "MasterRecordId"
            else ["User"] if self.name == "OwnerId" else [],
            "soapType": _SOAP_TYPES.get(self.type, "xsd:string"),
        }


_SYSTEM = ("Id", "IsDeleted", "CreatedDate", "LastModifiedDate", "SystemModstamp", "OwnerId")
_SOAP_TYPES = {
    "id": "tns:ID", "reference": "tns:ID", "currency": "xsd:double", "double": "xsd:double",
    "boolean": "xsd:boolean", "datetime": "xsd:dateTime",
}
INDUSTRIES = (
    "Agriculture", "Banking", "Chemicals", "Construction", "Consulting", "Education", "Electronics",
    "Energy", "Engineering", "Food & Beverage", "Healthcare", "Manufacturing", "Retail",
    "Technology", "Transportation",
)
ACCOUNT_TYPES = (
    "Prospect", "Customer - Direct", "Customer - Channel", "Channel Partner / Reseller",
    "Installation Partner", "Technology Partner", "Other",
)
LIFECYCLE_STAGES = ("lead", "prospect", "customer", "former_customer")
CURRENCIES = ("EUR", "USD", "GBP", "CHF", "CNY", "JPY", "SEK", "BRL")


def _address(prefix: str, label: str) -> list[FieldDef]:
    return [
        FieldDef(f"{prefix}Street", "textarea", f"{label} Street", 255),
        FieldDef(f"{prefix}City", "string", f"{label} City", 40),
        FieldDef(f"{prefix}State", "string", f"{label} State/Province", 80),
        FieldDef(f"{prefix}PostalCode", "string", f"{label} Zip/Postal Code", 20),
        FieldDef(f"{prefix}Country", "string", f"{label} Country", 80),
    ]


ACCOUNT_FIELDS: dict[str, FieldDef] = {
    f.name: f
    for f in [
        FieldDef("Id", "id", "Account ID", 18, nillable=False, createable=False, updateable=False),
        FieldDef("IsDeleted", "boolean", "Deleted", nillable=False, createable=False,
                 updateable=False, default=False),
        FieldDef("MasterRecordId", "reference", "Master Record ID", 18, createable=False,
                 updateable=False),
        FieldDef("Name", "string", "Account Name", 255, nillable=False),
        FieldDef("AccountNumber", "string", "Account Number", 40),
        FieldDef("Type", "picklist", "Account Type", 255, picklist=ACCOUNT_TYPES),
        FieldDef("Industry", "picklist", "Industry", 255, picklist=INDUSTRIES),
        FieldDef("Phone", "phone", "Account Phone", 40),
        FieldDef("Website", "url", "Website", 255),
        *_address("Billing", "Billing"),
        *_address("Shipping", "Shipping"),
        FieldDef("Description", "textarea", "Account Description", 32000),
        FieldDef("OwnerId", "reference", "Owner ID", 18, nillable=False, default="0055g00000CrmSyncAAA"),
        FieldDef("CurrencyIsoCode", "picklist", "Account Currency", 3, nillable=False,
                 picklist=CURRENCIES, restricted=True, default="EUR"),
        FieldDef("Crmsync_Id__c", "string", "crmsync Id", 255, external_id=True, unique=True),
        FieldDef("SAP_Customer_Id__c", "string", "SAP Customer Id", 20, external_id=True),
        FieldDef("Email__c", "email", "Email", 80),
        FieldDef("Lifecycle_Stage__c", "picklist", "Lifecycle Stage", 255,
                 picklist=LIFECYCLE_STAGES, restricted=True),
        FieldDef("Tax_Id__c", "string", "Tax Id", 40),
        FieldDef("Credit_Limit__c", "currency", "Credit Limit"),
        FieldDef("Receivables__c", "currency", "Receivables"),
        FieldDef("Blocked__c", "boolean", "Blocked", nillable=False, default=False),
        FieldDef("CreatedDate", "datetime", "Created Date", nillable=False, createable=False,
                 updateable=False),
        FieldDef("LastModifiedDate", "datetime", "Last Modified Date", nillable=False,
                 createable=False, updateable=False),
        FieldDef("SystemModstamp", "datetime", "System Modstamp", nillable=False, createable=False,
                 updateable=False),
    ]
}
FIELDS_BY_LOWER = {name.lower(): f for name, f in ACCOUNT_FIELDS.items()}

__all__ = ["ACCOUNT_FIELDS", "FIELDS_BY_LOWER", "LIFECYCLE_STAGES", "FieldDef"]
