"""Realistic source records of each default mapping's endpoint, shared by the mapping tests."""

from __future__ import annotations

from typing import Any

SALESFORCE: list[dict[str, Any]] = [
    {"Id": "001000000000001AAA", "Name": "O'Brien & Sons Ltd", "Industry": "Retail", "Phone": "+353 1 234 5678",
     "Website": "https://obrien.example.ie", "Email__c": "info@obrien.example.ie",
     "BillingStreet": "O'Connell Street 1", "BillingCity": "Dublin", "BillingState": None,
     "BillingPostalCode": "D01 F5P2", "BillingCountry": "Ireland", "ShippingStreet": "", "ShippingCity": None,
     "ShippingState": None, "ShippingPostalCode": None, "ShippingCountry": None, "OwnerId": "005000000000001",
     "Lifecycle_Stage__c": "customer", "Tax_Id__c": "IE1234567T", "Credit_Limit__c": 25000.5,
     "Receivables__c": 1234.56, "CurrencyIsoCode": "EUR", "Blocked__c": False,
     "SystemModstamp": "2026-11-23T10:00:00.000+0000"},
    {"Id": "001000000000002AAA", "Name": "北京科技有限公司", "Industry": None, "Phone": "+86 10 6552 9988",
     "Website": None, "Email__c": None, "BillingStreet": "长安街 1号", "BillingCity": "北京",
     "BillingPostalCode": "100000", "BillingCountry": "China", "Lifecycle_Stage__c": "Former Customer",
     "Credit_Limit__c": None, "CurrencyIsoCode": "CNY", "Blocked__c": True,
     "SystemModstamp": "2026-11-23T10:00:00.000+0000"},
    {"Id": "001000000000003AAA", "Name": "Zoë Ingénierie SARL", "BillingCity": "Paris",
     "BillingCountry": "France", "ShippingCountry": "Germany", "ShippingCity": "München",
     "Lifecycle_Stage__c": "Prospect", "Credit_Limit__c": 0, "Blocked__c": False},
]

SAP_ODATA: list[dict[str, Any]] = [
    {"BusinessPartner": "1000001", "BusinessPartnerCategory": "2", "OrganizationBPName1": "Müller Maschinenbau GmbH",
     "FirstName": "", "LastName": "", "Industry": "ZMAC",
     "to_BusinessPartnerAddress": {"results": [{
         "StreetName": "Hauptstraße 5", "PostalCode": "10115", "CityName": "Berlin", "Region": "BE",
         "Country": "DE", "to_EmailAddress": {"results": [{"EmailAddress": "info@mueller.example.de"}]},
         "to_PhoneNumber": {"results": [{"PhoneNumber": "+49301234567"}]}}]},
     "to_Customer": {"VATRegistration": "DE123456789"}, "BusinessPartnerIsBlocked": False,
     "IsMarkedForArchiving": False, "CreditLimit": "50000.00",
     "__receivables": {"OpenAmount": "1234.567", "OverdueAmount": "0", "Currency": "EUR", "OpenItemCount": 3},
     "LastChangeDate": "/Date(1763856000000)/"},
    {"BusinessPartner": "1000002", "BusinessPartnerCategory": "1", "OrganizationBPName1": "",
     "FirstName": "Seán", "LastName": "O'Neill",
     "to_BusinessPartnerAddress": {"results": [{"CityName": "Dublin", "Country": "IE",
                                                "to_EmailAddress": {"results": []},
                                                "to_PhoneNumber": {"results": []}}]},
     "to_Customer": None, "BusinessPartnerIsBlocked": True, "IsMarkedForArchiving": False,
     "LastChangeDate": "/Date(1763856000000+0000)/"},
]

SAP_SOAP: list[dict[str, Any]] = [
    {"UUID": "0f0b1f8e-8d4b-4b9e-9a0a-2a6f0d9a5b01", "InternalID": "1000001", "CategoryCode": "2",
     "LifeCycleStatusCode": "2", "ChangeStateID": "20261123100000",
     "Organisation": {"FirstLineName": "株式会社さくら商事"},
     "BlockedIndicator": False,
     "AddressInformation": [{"UUID": "x", "Address": {"EmailURI": "contact1@example.com",
                                                       "PhoneNumber": "+49 30 1234567",
                                                       "PostalAddress": {"CountryCode": "JP", "CityName": "東京",
                                                                         "StreetPostalCode": "100-0001",
                                                                         "StreetName": "千代田", "HouseID": "1"}}}],
     "VATRegistration": {"CountryCode": "JP", "TaxID": "JP123456789"},
     "CreationDateTime": "2026-10-24T10:00:00Z", "LastChangeDateTime": "2026-11-23T10:00:00Z"},
    {"InternalID": "1000002", "CategoryCode": "1", "LifeCycleStatusCode": "4",
     "Person": {"GivenName": "Zoë", "FamilyName": "D'Arcy"}, "BlockedIndicator": True,
     "AddressInformation": [{"Address": {"PostalAddress": {"CountryCode": "FR", "CityName": "Paris"}}}],
     "LastChangeDateTime": "2026-11-23T10:00:00Z"},
]

SPREADSHEET: list[dict[str, Any]] = [
    {"customer_id": "C-001", "company": "D'Angelo Trasporti S.p.A.", "first_name": "", "last_name": "",
     "email": "info@dangelo.example.it; ordini@dangelo.example.it", "phone": "+39 02 1234 5678",
     "street": "Via Roma 1", "postal_code": "20121", "city": "Milano", "country": "Italy",
     "vat_id": "IT12345678901", "industry": "Logistics", "lifecycle_stage": "customer", "owner": "jdoe",
     "credit_limit": "10000.00", "currency": "EUR", "blocked": "no"},
    {"customer_id": "C-002", "company": "", "first_name": "José", "last_name": "Nuñez", "email": "",
     "phone": "", "street": "", "postal_code": "", "city": "Málaga", "country": "Spain", "vat_id": "",
     "industry": "", "lifecycle_stage": "lead", "owner": "", "credit_limit": "", "currency": "", "blocked": ""},
    {"customer_id": "C-003", "company": "Ünal Tekstil A.Ş.", "email": "SATIS@UNAL.example.com.tr",
     "phone": "+90 532 123 4567", "postal_code": 34000, "city": "İstanbul", "country": "Türkiye",
     "lifecycle_stage": "former customer", "credit_limit": 2500, "currency": "try", "blocked": "yes"},
]
