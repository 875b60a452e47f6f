"""The entity model of API_BUSINESS_PARTNER as far as crmsync uses it, and its EDMX rendering.

Owns the property lists (real SAP names, Edm types, lengths, keys, navigation properties) of
A_BusinessPartner, A_BusinessPartnerAddress, A_AddressEmailAddress, A_AddressPhoneNumber,
A_BusinessPartnerRole, A_Customer, and of the receivables entity set
A_OperationalAcctgDocItemCube (on a real system it belongs to the service
API_OPLACCTGDOCITEMCUBE_SRV; the fake serves it beside the partner entity sets). The fake
serves a credit-limit entity set A_CrdtMgmtCreditLimit (credit management; the
connector's field names for it are options, because releases differ). The fake
renders ``$metadata`` from this model and validates writes against it; the connector never
trusts it for a real system and reads the server's own ``$metadata`` instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from xml.sax.saxutils import quoteattr

NAMESPACE = "API_BUSINESS_PARTNER"


@dataclass(frozen=True)
class Prop:
    """One entity property."""

    name: str
    type: str = "Edm.String"
    max_length: int | None = None
    key: bool = False
    nullable: bool = True
    creatable: bool = True
    updatable: bool = True
    precision: int | None = None
    scale: int | None = None
    label: str = ""
    display_format: str | None = None


@dataclass(frozen=True)
class Nav:
    """One navigation property (``many``: a collection, else 0..1)."""

    name: str
    target: str
    many: bool


@dataclass(frozen=True)
class EntityType:
    """An entity type and the entity set that exposes it (``A_X`` / ``A_XType``)."""

    set_name: str
    props: tuple[Prop, ...]
    navs: tuple[Nav, ...] = ()

    @property
    def type_name(self) -> str:
        return f"{self.set_name}Type"

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.props if p.key)

    def prop(self, name: str) -> Prop | None:
        return next((p for p in self.props if p.name == name), None)

    def nav(self, name: str) -> Nav | None:
        return next((n for n in self.navs if n.name == name), None)


def _s(name: str, length: int, **kw: object) -> Prop:
    return Prop(name, "Edm.String", length, **kw)  # type: ignore[arg-type]


def _date(name: str, **kw: object) -> Prop:
    return Prop(name, "Edm.DateTime", precision=0, display_format="Date", **kw)  # type: ignore[arg-type]


def _bool(name: str, **kw: object) -> Prop:
    return Prop(name, "Edm.Boolean", **kw)  # type: ignore[arg-type]


BUSINESS_PARTNER = EntityType("A_BusinessPartner", (
    _s("BusinessPartner", 10, key=True, nullable=False, updatable=False, label="Business Partner"),
    _s("Customer", 10, creatable=False, updatable=False, label="Customer"),
    _s("Supplier", 10, creatable=False, updatable=False, label="Supplier"),
    _s("AcademicTitle", 4), _s("AuthorizationGroup", 4),
    _s("BusinessPartnerCategory", 1, updatable=False, label="Business Partner Category"),
    _s("BusinessPartnerFullName", 81, label="Business Partner Full Name"),
    _s("BusinessPartnerGrouping", 4, updatable=False, label="Business Partner Grouping"),
    _s("BusinessPartnerName", 81, creatable=False, updatable=False),
    Prop("BusinessPartnerUUID", "Edm.Guid", creatable=False, updatable=False),
    _s("CorrespondenceLanguage", 2),
    _s("CreatedByUser", 12, creatable=False, updatable=False),
    _date("CreationDate", creatable=False, updatable=False, label="Created On"),
    Prop("CreationTime", "Edm.Time", precision=0, creatable=False, updatable=False, label="Created At"),
    _s("FirstName", 40), _s("FormOfAddress", 4), _s("Industry", 10),
    _s("InternationalLocationNumber1", 7), _bool("IsFemale"), _bool("IsMale"),
    _s("IsNaturalPerson", 1), _bool("IsSexUnknown"), _s("GenderCodeName", 1), _s("Language", 2),
    _date("LastChangeDate", creatable=False, updatable=False, label="Changed On"),
    Prop("LastChangeTime", "Edm.Time", precision=0, creatable=False, updatable=False, label="Changed At"),
    _s("LastChangedByUser", 12, creatable=False, updatable=False),
    _s("LastName", 40), _s("LegalForm", 2),
    _s("OrganizationBPName1", 40, label="Name 1"), _s("OrganizationBPName2", 40, label="Name 2"),
    _s("OrganizationBPName3", 40, label="Name 3"), _s("OrganizationBPName4", 40, label="Name 4"),
    _date("OrganizationFoundationDate"), _date("OrganizationLiquidationDate"),
    _s("SearchTerm1", 20), _s("SearchTerm2", 20), _s("AdditionalLastName", 40), _date("BirthDate"),
    _bool("BusinessPartnerIsBlocked"), _s("BusinessPartnerType", 4),
    _s("ETag", 26, creatable=False, updatable=False),
    _s("GroupBusinessPartnerName1", 40), _s("GroupBusinessPartnerName2", 40),
    _s("IndependentAddressID", 10, creatable=False, updatable=False),
    _s("MiddleName", 40), _s("NameCountry", 3), _s("PersonFullName", 80),
    _s("PersonNumber", 10, creatable=False, updatable=False),
    _bool("IsMarkedForArchiving"), _s("BusinessPartnerIDByExtSystem", 20),
    _s("TradingPartner", 6),
), (
    Nav("to_BusinessPartnerAddress", "A_BusinessPartnerAddress", True),
    Nav("to_BusinessPartnerRole", "A_BusinessPartnerRole", True),
    Nav("to_Customer", "A_Customer", False),
))

BUSINESS_PARTNER_ADDRESS = EntityType("A_BusinessPartnerAddress", (
    _s("BusinessPartner", 10, key=True, nullable=False, updatable=False),
    _s("AddressID", 10, key=True, nullable=False, updatable=False),
    Prop("ValidityStartDate", "Edm.DateTimeOffset", precision=0),
    Prop("ValidityEndDate", "Edm.DateTimeOffset", precision=0),
    _s("AuthorizationGroup", 4), Prop("AddressUUID", "Edm.Guid", creatable=False, updatable=False),
    _s("AdditionalStreetPrefixName", 40), _s("AdditionalStreetSuffixName", 40),
    _s("AddressTimeZone", 6), _s("CareOfName", 40), _s("CityCode", 12), _s("CityName", 40),
    _s("CompanyPostalCode", 10), _s("Country", 3), _s("County", 40), _s("DeliveryServiceNumber", 10),
    _s("DeliveryServiceTypeCode", 4), _s("District", 40), _s("FormOfAddress", 4),
    _s("FullName", 80), _s("HomeCityName", 40), _s("HouseNumber", 10),
    _s("HouseNumberSupplementText", 10), _s("Language", 2), _s("POBox", 10),
    _s("POBoxDeviatingCityName", 40), _s("POBoxDeviatingCountry", 3),
    _s("POBoxDeviatingRegion", 3), _bool("POBoxIsWithoutNumber"), _s("POBoxLobbyName", 40),
    _s("POBoxPostalCode", 10), _s("Person", 10, creatable=False, updatable=False),
    _s("PostalCode", 10), _s("PrfrdCommMediumType", 3), _s("Region", 3), _s("StreetName", 60),
    _s("StreetPrefixName", 40), _s("StreetSuffixName", 40), _s("TaxJurisdiction", 15),
    _s("TransportZone", 10), _s("AddressIDByExternalSystem", 20),
), (
    Nav("to_EmailAddress", "A_AddressEmailAddress", True),
    Nav("to_PhoneNumber", "A_AddressPhoneNumber", True),
))

ADDRESS_EMAIL = EntityType("A_AddressEmailAddress", (
    _s("AddressID", 10, key=True, nullable=False), _s("Person", 10, key=True, nullable=False),
    _s("OrdinalNumber", 3, key=True, nullable=False), _bool("IsDefaultEmailAddress"),
    _s("EmailAddress", 241), _s("SearchEmailAddress", 20), _s("AddressCommunicationRemarkText", 50),
))

ADDRESS_PHONE = EntityType("A_AddressPhoneNumber", (
    _s("AddressID", 10, key=True, nullable=False), _s("Person", 10, key=True, nullable=False),
    _s("OrdinalNumber", 3, key=True, nullable=False), _s("DestinationLocationCountry", 3),
    _bool("IsDefaultPhoneNumber"), _s("PhoneNumber", 30), _s("PhoneNumberExtension", 10),
    _s("InternationalPhoneNumber", 30), _s("PhoneNumberType", 1),
    _s("AddressCommunicationRemarkText", 50),
))

BUSINESS_PARTNER_ROLE = EntityType("A_BusinessPartnerRole", (
    _s("BusinessPartner", 10, key=True, nullable=False, updatable=False),
    _s("BusinessPartnerRole", 6, key=True, nullable=False, updatable=False),
    Prop("ValidFrom", "Edm.DateTimeOffset", precision=0),
    Prop("ValidTo", "Edm.DateTimeOffset", precision=0),
    _s("AuthorizationGroup", 4),
))

CUSTOMER = EntityType("A_Customer", (
    _s("Customer", 10, key=True, nullable=False, updatable=False),
    _s("AuthorizationGroup", 4), _s("BillingIsBlockedForCustomer", 2),
    _s("CreatedByUser", 12, creatable=False, updatable=False),
    _date("CreationDate", creatable=False, updatable=False),
    _s("CustomerAccountGroup", 4), _s("CustomerClassification", 2),
    _s("CustomerFullName", 220, creatable=False, updatable=False),
    _s("CustomerName", 80, creatable=False, updatable=False), _s("DeliveryIsBlocked", 2),
    _s("FreeDefinedAttribute01", 20), _s("NFPartnerIsNaturalPerson", 1),
    _s("OrderIsBlockedForCustomer", 2), _bool("PostingIsBlocked"), _s("Supplier", 10),
    _s("CustomerCorporateGroup", 10), _s("FiscalAddress", 10), _s("Industry", 4),
    _s("IndustryCode1", 10), _s("InternationalLocationNumber1", 7), _s("NielsenRegion", 2),
    _s("ResponsibleType", 2), _s("TaxNumber1", 16), _s("TaxNumber2", 11), _s("TaxNumber3", 18),
    _s("TaxNumber4", 18), _s("TaxNumber5", 60), _s("TaxNumberType", 2), _s("VATRegistration", 20),
    _bool("DeletionIndicator"),
))

OPEN_ITEM = EntityType("A_OperationalAcctgDocItemCube", (
    _s("CompanyCode", 4, key=True, nullable=False), _s("FiscalYear", 4, key=True, nullable=False),
    _s("AccountingDocument", 10, key=True, nullable=False),
    _s("AccountingDocumentItem", 3, key=True, nullable=False),
    _s("Customer", 10), _s("FinancialAccountType", 1), _s("DebitCreditCode", 1),
    _date("PostingDate"), _date("NetDueDate"), _date("ClearingDate"),
    _s("ClearingAccountingDocument", 10),
    Prop("AmountInCompanyCodeCurrency", "Edm.Decimal", precision=23, scale=3),
    _s("CompanyCodeCurrency", 5),
))

CREDIT_LIMIT = EntityType("A_CrdtMgmtCreditLimit", (
    _s("BusinessPartner", 10, key=True, nullable=False), _s("CreditSegment", 10, key=True, nullable=False),
    Prop("CreditLimitAmount", "Edm.Decimal", precision=23, scale=2), _s("CreditLimitAmountCurrency", 5),
    _date("CreditLimitValidityEndDate"), _bool("CreditLimitIsExceeded"),
))

ENTITY_TYPES: dict[str, EntityType] = {
    e.set_name: e for e in (BUSINESS_PARTNER, BUSINESS_PARTNER_ADDRESS, ADDRESS_EMAIL, ADDRESS_PHONE,
                            BUSINESS_PARTNER_ROLE, CUSTOMER, OPEN_ITEM, CREDIT_LIMIT)
}


def _assoc_name(source: EntityType, nav: Nav) -> str:
    return f"assoc_{source.set_name}_{nav.name}"


def render_edmx() -> str:
    """The service's ``$metadata`` document (EDMX 1.0, OData v2, SAP annotations)."""
    out: list[str] = [
        '<?xml version="1.0" encoding="utf-8"?>',
        '<edmx:Edmx Version="1.0" xmlns:edmx="http://schemas.microsoft.com/ado/2007/06/edmx" '
        'xmlns:m="http://schemas.microsoft.com/ado/2007/08/dataservices/metadata" '
        'xmlns:sap="http://www.sap.com/Protocols/SAPData">',
        '<edmx:DataServices m:DataServiceVersion="2.0">',
        f'<Schema Namespace="{NAMESPACE}" xml:lang="en" sap:schema-version="1" '
        'xmlns="http://schemas.microsoft.com/ado/2008/09/edm">',
    ]
    for entity in ENTITY_TYPES.values():
        out.append(f'<EntityType Name="{entity.type_name}" sap:content-version="1">')
        out.append("<Key>" + "".join(f'<PropertyRef Name="{k}"/>' for k in entity.keys) + "</Key>")
        for p in entity.props:
            attrs = [f'Name="{p.name}"', f'Type="{p.type}"']
            if not p.nullable:
                attrs.append('Nullable="false"')
            if p.max_length is not None:
                attrs.append(f'MaxLength="{p.max_length}"')
            if p.precision is not None:
                attrs.append(f'Precision="{p.precision}"')
            if p.scale is not None:
                attrs.append(f'Scale="{p.scale}"')
            if p.display_format:
                attrs.append(f'sap:display-format="{p.display_format}"')
            attrs.append(f"sap:label={quoteattr(p.label or p.name)}")
            if not p.creatable:
                attrs.append('sap:creatable="false"')
            if not p.updatable:
                attrs.append('sap:updatable="false"')
            out.append(f'<Property {" ".join(attrs)}/>')
        for nav in entity.navs:
            assoc = _assoc_name(entity, nav)
            out.append(f'<NavigationProperty Name="{nav.name}" Relationship="{NAMESPACE}.{assoc}" '
                       f'FromRole="FromRole_{assoc}" ToRole="ToRole_{assoc}"/>')
        out.append("</EntityType>")
    for entity in ENTITY_TYPES.values():
        for nav in entity.navs:
            assoc = _assoc_name(entity, nav)
            target = ENTITY_TYPES[nav.target]
            out.append(f'<Association Name="{assoc}" sap:content-version="1">'
                       f'<End Type="{NAMESPACE}.{entity.type_name}" Multiplicity="1" '
                       f'Role="FromRole_{assoc}"/>'
                       f'<End Type="{NAMESPACE}.{target.type_name}" '
                       f'Multiplicity="{"*" if nav.many else "0..1"}" Role="ToRole_{assoc}"/>'
                       "</Association>")
    out.append(f'<EntityContainer Name="{NAMESPACE}_Entities" m:IsDefaultEntityContainer="true" '
               'sap:message-scope-supported="true" sap:supported-formats="atom json xlsx">')
    for entity in ENTITY_TYPES.values():
        out.append(f'<EntitySet Name="{entity.set_name}" EntityType="{NAMESPACE}.{entity.type_name}" '
                   'sap:content-version="1"/>')
    for entity in ENTITY_TYPES.values():
        for nav in entity.navs:
            assoc = _assoc_name(entity, nav)
            out.append(f'<AssociationSet Name="{assoc}" Association="{NAMESPACE}.{assoc}" '
                       'sap:creatable="false" sap:updatable="false" sap:deletable="false" '
                       'sap:content-version="1">'
                       f'<End EntitySet="{entity.set_name}" Role="FromRole_{assoc}"/>'
                       f'<End EntitySet="{nav.target}" Role="ToRole_{assoc}"/>'
                       "</AssociationSet>")
    out.append("</EntityContainer>")
    out.append("</Schema></edmx:DataServices></edmx:Edmx>")
    return "\n".join(out)


__all__ = ["ENTITY_TYPES", "NAMESPACE", "EntityType", "Nav", "Prop", "render_edmx"]
