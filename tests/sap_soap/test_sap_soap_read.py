"""Reading customers through FindByElements against the fake: paging, cursor order, payload shape."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from crmsync.connector import Cursor
from crmsync_sap.fake_soap import FakeSapSoap
from crmsync_sap.soap import SapSoapConnector

SoapFactory = Callable[..., SapSoapConnector]  # the make_connector fixture of conftest.py


def test_reads_every_page_in_cursor_order(make_connector: SoapFactory, fake_sap_soap: FakeSapSoap) -> None:
    connector = make_connector(page_size=7)
    records = list(connector.read_changes(None))
    assert len(records) == 25
    assert len({r.external_id for r in records}) == 25
    assert connector.context.api_calls == 4  # 7 + 7 + 7 + 4, paged by LastReturnedObjectID
    cursors = [r.cursor for r in records]
    assert cursors == sorted(cursors)  # SAP pages by id; the connector yields by (time, id)
    assert [r.external_id for r in records] != sorted(r.external_id for r in records)
    assert all(c is not None and c.timestamp.endswith("Z") and len(c.timestamp) == 20 for c in cursors)


def test_since_cursor_tie_breaks_on_id(make_connector: SoapFactory) -> None:
    connector = make_connector(page_size=5)
    records = list(connector.read_changes(None))
    # generated data: every fifth customer shares the previous one's LastChangeDateTime
    shared = [i for i in range(1, len(records)) if records[i].cursor.timestamp == records[i - 1].cursor.timestamp]
    assert shared
    pivot = shared[0] - 1
    since = records[pivot].cursor
    later = list(connector.read_changes(since))
    assert [r.external_id for r in later] == [r.external_id for r in records[pivot + 1:]]
    assert later[0].cursor.timestamp == since.timestamp  # same second, higher id: not missed


def test_reads_nothing_after_the_last_cursor(make_connector: SoapFactory) -> None:
    connector = make_connector()
    last = list(connector.read_changes(None))[-1].cursor
    assert list(connector.read_changes(last)) == []
    assert list(connector.read_changes(Cursor("2099-01-01T00:00:00Z"))) == []


def test_payload_is_plain_nested_data(make_connector: SoapFactory) -> None:
    records = list(make_connector().read_changes(None))
    payload = records[0].payload
    assert isinstance(payload, dict) and type(payload) is dict
    assert payload["LastChangeDateTime"] == records[0].cursor.timestamp
    assert isinstance(payload["AddressInformation"], list)
    assert isinstance(payload["AddressInformation"][0]["Address"]["PostalAddress"]["CityName"], str)
    assert "ChangeStateID" in payload and "UUID" in payload

    def no_none(value: object) -> bool:
        if isinstance(value, dict):
            return all(v is not None and no_none(v) for v in value.values())
        if isinstance(value, list):
            return all(no_none(v) for v in value)
        return not isinstance(value, dt.datetime)

    assert all(no_none(r.payload) for r in records)
    names = {r.payload.get("Organisation", {}).get("FirstLineName") for r in records}
    assert {"O'Brien & Sons Ltd", "Zoë Ingénierie SARL", "北京科技有限公司"} <= names


def test_a_change_moves_the_customer_to_the_end(make_connector: SoapFactory, fake_sap_soap: FakeSapSoap) -> None:
    connector = make_connector()
    first = list(connector.read_changes(None))
    fake_sap_soap.touch(first[0].external_id)
    later = list(connector.read_changes(first[-1].cursor))
    assert [r.external_id for r in later] == [first[0].external_id]
    assert later[0].payload["ChangeStateID"] != first[0].payload["ChangeStateID"]


def test_obsolete_customers_are_reported_deleted(make_connector: SoapFactory, fake_sap_soap: FakeSapSoap) -> None:
    some_id = sorted(fake_sap_soap.customers)[0]
    fake_sap_soap.customers[some_id]["LifeCycleStatusCode"] = "3"
    records = {r.external_id: r for r in make_connector().read_changes(None)}
    assert records[some_id].deleted is True
    assert sum(r.deleted for r in records.values()) == 1


def test_describe_names_the_hub_id_field(make_connector: SoapFactory) -> None:
    fields = make_connector().describe()
    assert fields["ExternalID"].external_id is True
    assert fields["InternalID"].createable is False
    assert "AddressInformation[0].Address.PostalAddress.CityName" in fields


def test_changes_during_a_read_wait_for_the_next_run(make_connector: SoapFactory) -> None:
    now = [dt.datetime(2026, 11, 24, 12, 0, 0, tzinfo=dt.UTC)]
    fake = FakeSapSoap(records=10, seed=5, clock=lambda: now[0]).start()
    try:
        info = fake.info()
        connector = make_connector(endpoint_url=info["url"], settle_seconds=5)
        connector.clock = lambda: now[0]
        ids = sorted(fake.customers)
        fake.touch(ids[-1])  # changed "just now": inside the settle window, so not read yet
        first = list(connector.read_changes(None))
        assert ids[-1] not in {r.external_id for r in first} and len(first) == 9
        now[0] += dt.timedelta(seconds=1)
        fake.touch(ids[0])  # a change while the run is still going
        now[0] += dt.timedelta(seconds=10)
        later = list(connector.read_changes(first[-1].cursor))
        assert [r.external_id for r in later] == [ids[-1], ids[0]]
    finally:
        fake.stop()
