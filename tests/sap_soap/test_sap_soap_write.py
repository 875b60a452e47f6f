"""Writing customers through MaintainBundle_V1 against the fake: creates, updates, locks, Log errors."""

from __future__ import annotations

from collections.abc import Callable

from crmsync.connector import OutboundRecord
from crmsync.errors import ErrorKind
from crmsync_sap.fake_soap import FakeSapSoap
from crmsync_sap.soap import SapSoapConnector

SoapFactory = Callable[..., SapSoapConnector]  # the make_connector fixture of conftest.py


def _org(name: str, **extra: object) -> dict[str, object]:
    return {"CategoryCode": "2", "Organisation": {"FirstLineName": name}, **extra}


def test_create_stores_the_hub_id(make_connector: SoapFactory, fake_sap_soap: FakeSapSoap) -> None:
    connector = make_connector()
    payload = _org("Ōsaka Trading 株式会社", AddressInformation=[
        {"Address": {"EmailURI": "info@osaka.example", "PostalAddress": {"CountryCode": "JP", "CityName": "大阪"}}}])
    [result] = connector.write_batch([OutboundRecord(hub_id="hub-1", external_id=None, payload=payload)])
    assert result.ok and result.created and result.external_id
    [stored] = fake_sap_soap.by_external_id("hub-1")
    assert stored["InternalID"] == result.external_id
    assert stored["Organisation"]["FirstLineName"] == "Ōsaka Trading 株式会社"
    assert stored["AddressInformation"][0]["Address"]["PostalAddress"]["CityName"] == "大阪"
    # the new customer is the newest change
    last = list(connector.read_changes(None))[-1]
    assert last.external_id == result.external_id and last.payload["ExternalID"] == "hub-1"


def test_repeated_bundle_creates_nothing_twice(make_connector: SoapFactory, fake_sap_soap: FakeSapSoap) -> None:
    connector = make_connector()
    batch = [OutboundRecord(hub_id=f"hub-{n}", external_id=None, payload=_org(f"D'Angelo {n}")) for n in range(3)]
    first = connector.write_batch(batch)
    again = connector.write_batch(batch)  # e.g. after a crash before the bindings were committed
    assert all(r.ok for r in first + again)
    assert [r.external_id for r in first] == [r.external_id for r in again]
    assert len(fake_sap_soap.customers) == 25 + 3
    assert all(len(fake_sap_soap.by_external_id(f"hub-{n}")) == 1 for n in range(3))


def test_lost_acknowledgement_is_retried_without_duplicate(make_connector: SoapFactory,
                                                           fake_sap_soap: FakeSapSoap, sleeps: list[float]) -> None:
    connector = make_connector()
    fake_sap_soap.faults.add("lose_response", method="POST")
    [result] = connector.write_batch([OutboundRecord(hub_id="hub-lost", external_id=None, payload=_org("Lost Ack"))])
    assert result.ok
    assert len(fake_sap_soap.by_external_id("hub-lost")) == 1
    assert len(sleeps) == 1 and connector.context.api_calls == 2


def test_update_with_current_change_state(make_connector: SoapFactory, fake_sap_soap: FakeSapSoap) -> None:
    connector = make_connector()
    target = next(iter(connector.read_changes(None)))
    change = {"Organisation": {"SecondLineName": "c/o Zoë"}, "BlockedIndicator": True}
    [result] = connector.write_batch([OutboundRecord(hub_id="hub-9", external_id=target.external_id,
                                                     payload=change, etag=target.payload["ChangeStateID"])])
    assert result.ok and not result.created and result.external_id == target.external_id
    stored = fake_sap_soap.customers[target.external_id]
    assert stored["Organisation"] == {**target.payload["Organisation"], "SecondLineName": "c/o Zoë"}
    assert stored["BlockedIndicator"] is True and stored["ExternalID"] == "hub-9"
    assert stored["ChangeStateID"] != target.payload["ChangeStateID"]
    assert stored["LastChangeDateTime"] > target.payload["LastChangeDateTime"]


def test_stale_change_state_is_a_conflict(make_connector: SoapFactory, fake_sap_soap: FakeSapSoap) -> None:
    connector = make_connector()
    target = next(iter(connector.read_changes(None)))
    fake_sap_soap.touch(target.external_id)  # someone edits it in SAP meanwhile
    [result] = connector.write_batch([OutboundRecord(hub_id="hub-9", external_id=target.external_id,
                                                     payload=_org("Mine"), etag=target.payload["ChangeStateID"])])
    assert not result.ok and result.kind is ErrorKind.CONFLICT
    assert result.error and "changed in the meantime" in result.error
    assert fake_sap_soap.customers[target.external_id]["Organisation"]["FirstLineName"] != "Mine"


def test_log_errors_reject_only_their_record(make_connector: SoapFactory, fake_sap_soap: FakeSapSoap) -> None:
    connector = make_connector()
    results = connector.write_batch([
        OutboundRecord(hub_id="ok-1", external_id=None, payload=_org("Good One")),
        OutboundRecord(hub_id="bad-1", external_id=None, payload={"CategoryCode": "2", "Organisation": {}}),
        OutboundRecord(hub_id="bad-2", external_id="0000000404", payload=_org("Ghost")),
        OutboundRecord(hub_id="bad-3", external_id=None, payload={"Unknown": "x"}),
        OutboundRecord(hub_id="ok-2", external_id=None,
                       payload={"CategoryCode": "1", "Person": {"GivenName": "Seán", "FamilyName": "O'Neill"}}),
    ])
    assert [r.ok for r in results] == [True, False, False, False, True]
    assert results[1].error == "Name is missing: Organisation/FirstLineName must not be empty"
    assert results[1].error_code == "CUSTOMER_NAME_MISSING" and results[1].kind is ErrorKind.PERMANENT
    assert results[2].error == "Customer 0000000404 does not exist"
    assert results[3].error_code == "INVALID_PAYLOAD" and "Unknown" in (results[3].error or "")
    assert fake_sap_soap.by_external_id("bad-1") == [] and len(fake_sap_soap.by_external_id("ok-2")) == 1
    assert connector.context.api_calls == 1


def test_bundles_follow_batch_size(make_connector: SoapFactory, fake_sap_soap: FakeSapSoap) -> None:
    connector = make_connector(batch_size=2)
    batch = [OutboundRecord(hub_id=f"b-{n}", external_id=None, payload=_org(f"Batch {n}")) for n in range(5)]
    results = connector.write_batch(batch)
    assert all(r.ok for r in results) and len(results) == 5
    assert fake_sap_soap.calls["MaintainBundle_V1"] == 3


def test_delete_and_repeated_delete(make_connector: SoapFactory, fake_sap_soap: FakeSapSoap) -> None:
    connector = make_connector()
    victim = sorted(fake_sap_soap.customers)[0]
    record = OutboundRecord(hub_id="hub-d", external_id=victim, payload={}, action="delete")
    assert connector.write_batch([record])[0].ok
    assert victim not in fake_sap_soap.customers
    assert connector.write_batch([record])[0].ok  # already gone counts as done
