"""Writes against the fake Gateway: deep insert, idempotency, ETags, CSRF, $batch results."""

from __future__ import annotations

import pytest

from crmsync.connector import OutboundRecord
from crmsync.errors import AuthError, ConnectorError, ErrorKind
from crmsync_sap.odata import hub_key


def _new(hub: str, name: str = "Neue Kunde GmbH") -> OutboundRecord:
    return OutboundRecord(hub, None, {
        "OrganizationBPName1": name,
        "to_BusinessPartnerAddress": [{"Country": "DE", "CityName": "Köln", "PostalCode": "50667",
                                       "StreetName": "Domkloster", "HouseNumber": "4"}],
        "to_Customer": {"VATRegistration": "DE999999999"},
    })


@pytest.mark.parametrize("use_batch", [True, False])
def test_create_is_a_customer_deep_insert(fake_sap_odata, connect, use_batch):
    connector = connect(fake_sap_odata, use_batch=use_batch)
    [result] = connector.write_batch([_new("hub-0001", "O'Brien & Söhne 北京")])
    assert result.ok and result.created and result.external_id == "0010000026"
    partner = fake_sap_odata.partners[result.external_id]
    assert partner["BusinessPartnerIDByExtSystem"] == "hub-0001"
    assert partner["BusinessPartnerFullName"] == "O'Brien & Söhne 北京"
    assert {r["BusinessPartnerRole"] for r in partner["to_BusinessPartnerRole"]} == {"FLCU00", "FLCU01"}
    assert partner["to_Customer"]["VATRegistration"] == "DE999999999"
    assert partner["to_BusinessPartnerAddress"][0]["CityName"] == "Köln"
    assert result.payload is not None and result.payload["BusinessPartner"] == "0010000026"


@pytest.mark.parametrize("use_batch", [True, False])
def test_create_after_a_lost_response_creates_no_duplicate(fake_sap_odata, connect, use_batch):
    connector = connect(fake_sap_odata, use_batch=use_batch)
    fake_sap_odata.faults.add("lose_response", path_contains="$batch" if use_batch else "A_BusinessPartner",
                              method="POST")
    with pytest.raises(ConnectorError):
        connector.write_batch([_new("hub-lost")])
    assert len(fake_sap_odata.partners) == 26  # applied, answer lost, not replayed
    [again] = connector.write_batch([_new("hub-lost")])
    assert again.ok and not again.created and again.external_id == "0010000026"
    assert len(fake_sap_odata.partners) == 26


def test_long_hub_ids_are_stored_as_a_stable_digest(fake_sap_odata, connect):
    hub = "6f1c2c0e-5a8b-4c1e-9a43-3f4c2b7d9e10"
    connector = connect(fake_sap_odata)
    [first] = connector.write_batch([_new(hub)])
    [second] = connector.write_batch([_new(hub)])
    assert first.created and not second.created and first.external_id == second.external_id
    assert fake_sap_odata.partners[first.external_id]["BusinessPartnerIDByExtSystem"] == hub_key(hub)
    assert len(hub_key(hub)) == 20


def test_update_sets_partner_and_first_address_fields(fake_sap_odata, connect):
    before = fake_sap_odata.etag_of("0010000005")
    connector = connect(fake_sap_odata)
    [result] = connector.write_batch([OutboundRecord("hub-5", "0010000005", {
        "OrganizationBPName1": "Umbenannt AG", "to_BusinessPartnerAddress": [{"CityName": "Bonn"}],
        "to_Customer": {"VATRegistration": "DE111111111"}})])
    assert result.ok and not result.created and result.external_id == "0010000005"
    partner = fake_sap_odata.partners["0010000005"]
    assert partner["OrganizationBPName1"] == "Umbenannt AG"
    assert partner["BusinessPartnerIDByExtSystem"] == "hub-5"
    assert partner["to_BusinessPartnerAddress"][0]["CityName"] == "Bonn"
    assert partner["to_Customer"]["VATRegistration"] == "DE111111111"
    assert partner["LastChangeDate"] is not None and fake_sap_odata.etag_of("0010000005") != before


@pytest.mark.parametrize("use_batch", [True, False])
def test_update_writes_the_first_phone_and_email_of_the_address(fake_sap_odata, connect, use_batch):
    connector = connect(fake_sap_odata, use_batch=use_batch)
    address = fake_sap_odata.partners["0010000007"]["to_BusinessPartnerAddress"][0]
    address["to_EmailAddress"].clear()  # no e-mail yet: it is added, the phone is changed in place
    [result] = connector.write_batch([OutboundRecord("hub-7", "0010000007", {"to_BusinessPartnerAddress": [{
        "to_PhoneNumber": [{"PhoneNumber": "+49309876543"}],
        "to_EmailAddress": [{"EmailAddress": "neu@example.com"}]}]})])
    assert result.ok, result.error
    assert [p["PhoneNumber"] for p in address["to_PhoneNumber"]] == ["+49309876543"]
    assert [e["EmailAddress"] for e in address["to_EmailAddress"]] == ["neu@example.com"]


def test_update_method_merge_uses_x_http_method(fake_sap_odata, connect):
    connector = connect(fake_sap_odata, update_method="MERGE", use_batch=False)
    [result] = connector.write_batch([OutboundRecord("hub-6", "0010000006", {"SearchTerm2": "MERGED"})])
    assert result.ok and fake_sap_odata.partners["0010000006"]["SearchTerm2"] == "MERGED"


@pytest.mark.parametrize("use_batch", [True, False])
def test_stale_etag_is_reread_and_retried_once(fake_sap_odata, connect, use_batch):
    stale = fake_sap_odata.etag_of("0010000007")
    fake_sap_odata.touch("0010000007", SearchTerm2="USER EDIT")
    connector = connect(fake_sap_odata, use_batch=use_batch)
    [result] = connector.write_batch([OutboundRecord("hub-7", "0010000007", {"SearchTerm1": "SYNCED"},
                                                     etag=stale)])
    assert result.ok
    partner = fake_sap_odata.partners["0010000007"]
    assert partner["SearchTerm1"] == "SYNCED" and partner["SearchTerm2"] == "USER EDIT"


def test_second_stale_etag_is_a_conflict(fake_sap_odata, connect):
    body = '{"error":{"code":"/IWBEP/CM_MGW_RT/022","message":{"lang":"en","value":"ETag mismatch"}}}'
    fake_sap_odata.faults.add("status", count=2, status=412, body=body, method="PATCH",
                              headers={"Content-Type": "application/json"})
    connector = connect(fake_sap_odata, use_batch=False)
    [result] = connector.write_batch([OutboundRecord("hub-8", "0010000008", {"SearchTerm1": "X"})])
    assert not result.ok and result.kind is ErrorKind.CONFLICT and result.error == "ETag mismatch"
    assert result.payload is not None and result.payload["BusinessPartner"] == "0010000008"


@pytest.mark.parametrize("use_batch", [True, False])
def test_expired_csrf_token_is_fetched_again_once(fake_sap_odata, connect, use_batch):
    connector = connect(fake_sap_odata, use_batch=use_batch)
    assert connector.write_batch([OutboundRecord("hub-9", "0010000009", {"SearchTerm1": "A"})])[0].ok
    calls = connector.context.api_calls
    fake_sap_odata.expire_csrf_tokens()
    assert connector.write_batch([OutboundRecord("hub-9", "0010000009", {"SearchTerm1": "B"})])[0].ok
    assert fake_sap_odata.partners["0010000009"]["SearchTerm1"] == "B"
    # lookup GET + rejected write + token fetch + repeated write (+1 address-less: no extra)
    assert connector.context.api_calls - calls == 4


def test_batch_maps_each_result_to_its_record_and_isolates_a_failure(fake_sap_odata, connect):
    connector = connect(fake_sap_odata)
    before = dict(fake_sap_odata.partners["0010000011"])
    results = connector.write_batch([
        OutboundRecord("hub-10", "0010000010", {"SearchTerm1": "OK ONE"}),
        OutboundRecord("hub-11", "0010000011", {"SearchTerm1": "ROLLED BACK",
                                                "to_BusinessPartnerAddress": [{"CityName": "C" * 41}]}),
        _new("hub-new", "Dritte GmbH"),
        OutboundRecord("hub-12", "0010000012", {"NoSuchField": "x"}),
        OutboundRecord("hub-13", "0099999999", {"SearchTerm1": "missing"}),
    ])
    assert [r.ok for r in results] == [True, False, True, False, False]
    assert "CityName" in (results[1].error or "") and "too long" in (results[1].error or "")
    assert results[1].error_code == "/IWBEP/CM_MGW_RT/021" and results[1].kind is ErrorKind.PERMANENT
    assert results[2].created and results[2].external_id == "0010000026"
    assert "NoSuchField" in (results[3].error or "")
    assert results[4].error_code == "NOT_FOUND"
    # the failed changeset was rolled back as a whole: the partner PATCH before the address did not stick
    assert fake_sap_odata.partners["0010000011"]["SearchTerm1"] == before["SearchTerm1"]
    assert fake_sap_odata.partners["0010000010"]["SearchTerm1"] == "OK ONE"
    assert fake_sap_odata.batch_count == 1


def test_delete_marks_the_partner_for_archiving(fake_sap_odata, connect):
    connector = connect(fake_sap_odata)
    results = connector.write_batch([OutboundRecord("hub-14", "0010000014", {}, action="delete"),
                                     OutboundRecord("hub-never", None, {}, action="delete")])
    assert [r.ok for r in results] == [True, True]
    assert fake_sap_odata.partners["0010000014"]["IsMarkedForArchiving"] is True


def test_write_retries_a_503_batch_without_creates(fake_sap_odata, connect, sleeps):
    fake_sap_odata.faults.add("status", count=1, status=503, path_contains="$batch")
    connector = connect(fake_sap_odata)
    [result] = connector.write_batch([OutboundRecord("hub-15", "0010000015", {"SearchTerm1": "RETRIED"})])
    assert result.ok and len(sleeps) == 1


def test_wrong_password_is_an_auth_error_without_the_secret(fake_sap_odata, connect):
    connector = connect(fake_sap_odata, password="wrong-Secret-123")
    with pytest.raises(AuthError) as info:
        list(connector.read_changes(None))
    assert "wrong-Secret-123" not in str(info.value) and "401" in str(info.value)
    assert "wrong-Secret-123" not in repr(connector)


def test_injection_in_hub_id_is_quoted(fake_sap_odata, connect):
    connector = connect(fake_sap_odata)
    [result] = connector.write_batch([_new("x' or BusinessPartner ne '")])
    assert result.ok and result.created
    [again] = connector.write_batch([_new("x' or BusinessPartner ne '")])
    assert not again.created and again.external_id == result.external_id


def test_lost_answer_of_an_update_batch_is_replayed_safely(fake_sap_odata, connect, sleeps):
    fake_sap_odata.faults.add("lose_response", path_contains="$batch")
    connector = connect(fake_sap_odata)
    [result] = connector.write_batch([OutboundRecord("hub-16", "0010000016", {"SearchTerm1": "ONCE"})])
    # the replay meets the ETag the first (applied) attempt moved on: re-read, repeat, done
    assert result.ok and fake_sap_odata.partners["0010000016"]["SearchTerm1"] == "ONCE"
    assert len(sleeps) == 1


def test_unusable_external_ids_are_rejected_per_record(fake_sap_odata, connect):
    connector = connect(fake_sap_odata)
    results = connector.write_batch([OutboundRecord("hub-17", "00100\n00017", {"SearchTerm1": "X"}),
                                     OutboundRecord("hub-18", "   ", {"SearchTerm1": "X"}),
                                     OutboundRecord("hub-19", "0010000019", {"SearchTerm1": "FINE"})])
    assert [r.ok for r in results] == [False, False, True]
    assert results[0].error_code == "NOT_FOUND"


def test_duplicate_hub_ids_in_one_batch_create_one_partner(fake_sap_odata, connect):
    connector = connect(fake_sap_odata)
    results = connector.write_batch([_new("hub-dup", "Erste GmbH"), _new("hub-other"),
                                     _new("hub-dup", "Zweite GmbH")])
    assert [r.ok for r in results] == [True, True, True]
    assert results[0].created and not results[2].created
    assert results[0].external_id == results[2].external_id
    assert len(fake_sap_odata.partners) == 27
    assert fake_sap_odata.partners[results[0].external_id]["OrganizationBPName1"] == "Zweite GmbH"
