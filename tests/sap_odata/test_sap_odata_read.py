"""Incremental reads against the fake Gateway: order, paging, ties, deletions, enrichment."""

from __future__ import annotations

import datetime as dt

from crmsync.connector import Cursor
from crmsync_sap.fake_odata import FakeSapOData


def _fixed_clock(moment: dt.datetime):  # type: ignore[no-untyped-def]
    return lambda: moment


def test_full_read_returns_every_partner_in_cursor_order(fake_sap_odata, connect):
    connector = connect(fake_sap_odata)
    records = list(connector.read_changes(None))
    assert len(records) == len(fake_sap_odata.partners) == 25
    keys = [(r.cursor.timestamp, r.cursor.id) for r in records]
    assert keys == sorted(keys)
    assert len({r.external_id for r in records}) == 25
    assert all(r.external_id.startswith("00100000") and len(r.external_id) == 10 for r in records)
    assert all(r.payload["BusinessPartner"] == r.external_id for r in records)
    first = records[0].payload
    assert "__metadata" not in first and first["__etag"].startswith('W/"')
    assert isinstance(first["to_BusinessPartnerAddress"], list)
    assert first["to_BusinessPartnerAddress"][0]["__etag"]
    assert {r["BusinessPartnerRole"] for r in first["to_BusinessPartnerRole"]} == {"FLCU00", "FLCU01"}
    assert all(len(r.cursor.timestamp) == 20 and r.cursor.timestamp.endswith("Z") for r in records)


def test_generated_names_are_stored_faithfully(fake_sap_odata, connect):
    names = {r.payload["BusinessPartnerFullName"] for r in connect(fake_sap_odata).read_changes(None)}
    assert "O'Brien Logistics Ltd" in names
    assert "北京科技有限公司" in names
    assert any("Müller" in n for n in names)


def test_many_partners_in_one_second_are_never_missed_across_pages_and_runs(connect):
    moment = dt.datetime(2026, 11, 24, 10, 0, 0)
    fake = FakeSapOData(records=60, seed=3, page_size=7, clock=_fixed_clock(moment)).start()
    try:
        for bp in list(fake.partners)[:45]:
            fake.touch(bp, SearchTerm2="EDITED")
        connector = connect(fake)
        everything = list(connector.read_changes(None))
        assert len(everything) == 60
        same_second = [r for r in everything if r.cursor.timestamp == "2026-11-24T10:00:00Z"]
        assert len(same_second) == 45
        # a run that stopped in the middle of the tie resumes exactly after its last record
        stop = same_second[12].cursor
        resumed = list(connector.read_changes(stop))
        assert [r.external_id for r in resumed] == [r.external_id for r in everything
                                                     if (r.cursor.timestamp, r.cursor.id) > (stop.timestamp,
                                                                                             stop.id)]
        assert len(resumed) == 32
    finally:
        fake.stop()


def test_keyset_windows_with_page_size_option_cover_a_large_tie(connect):
    moment = dt.datetime(2026, 11, 24, 11, 30, 5)
    fake = FakeSapOData(records=30, seed=4, page_size=1000, clock=_fixed_clock(moment)).start()
    try:
        for bp in fake.partners:
            fake.touch(bp, SearchTerm2="X")
        records = list(connect(fake, page_size=4).read_changes(None))
        assert len(records) == 30 and len({r.external_id for r in records}) == 30
    finally:
        fake.stop()


def test_edit_after_a_run_is_read_in_the_next_run(fake_sap_odata, connect):
    connector = connect(fake_sap_odata)
    last = list(connector.read_changes(None))[-1].cursor
    assert list(connector.read_changes(last)) == []
    fake_sap_odata.clock = _fixed_clock(dt.datetime(2026, 12, 1, 9, 15, 0))
    fake_sap_odata.touch("0010000003", OrganizationBPName2="Zweigniederlassung")
    changed = list(connector.read_changes(last))
    assert [r.external_id for r in changed] == ["0010000003"]
    assert changed[0].cursor == Cursor("2026-12-01T09:15:00Z", "0010000003")


def test_never_changed_partners_are_read_by_creation_date(fake_sap_odata, connect):
    records = list(connect(fake_sap_odata).read_changes(None))
    never = [r for r in records if r.payload["LastChangeDate"] is None]
    assert never, "the generator leaves some partners unchanged"
    for record in never:
        assert record.payload["LastChangeTime"] == "PT00H00M00S"
        assert record.cursor.timestamp.startswith("2026-11-01T")


def test_archived_partners_and_deleted_customers_are_deletions(connect):
    fake = FakeSapOData(records=40, seed=2).start()
    try:
        fake.touch("0010000002", IsMarkedForArchiving=True)
        fake.partners["0010000004"]["to_Customer"]["DeletionIndicator"] = True
        by_id = {r.external_id: r for r in connect(fake).read_changes(None)}
        assert by_id["0010000002"].deleted and by_id["0010000004"].deleted
        expected = {bp for bp, p in fake.partners.items()
                    if p["IsMarkedForArchiving"] or p["to_Customer"]["DeletionIndicator"]}
        assert {bp for bp, r in by_id.items() if r.deleted} == expected
    finally:
        fake.stop()


def test_select_and_expand_follow_the_mapping_fields(fake_sap_odata, connect):
    fields = ("BusinessPartnerFullName", "to_BusinessPartnerAddress[0].CityName",
              "to_BusinessPartnerAddress[0].to_EmailAddress[0].EmailAddress", "to_Customer.VATRegistration")
    record = next(iter(connect(fake_sap_odata, fields=fields).read_changes(None)))
    payload = record.payload
    assert "Industry" not in payload and "to_BusinessPartnerRole" not in payload
    assert payload["BusinessPartnerFullName"]
    address = payload["to_BusinessPartnerAddress"][0]
    assert set(address) >= {"CityName", "AddressID", "to_EmailAddress"} and "StreetName" not in address
    assert "@" in address["to_EmailAddress"][0]["EmailAddress"]
    assert set(payload["to_Customer"]) >= {"VATRegistration", "DeletionIndicator"}


def test_receivables_enrichment_sums_open_items(fake_sap_odata, connect):
    connector = connect(fake_sap_odata, receivables_entity_set="A_OperationalAcctgDocItemCube")
    records = list(connector.read_changes(None))
    bp = records[0].external_id
    open_items = [i for i in fake_sap_odata.open_items
                  if i["Customer"] == bp and not i["ClearingAccountingDocument"]]
    summary = records[0].payload["__receivables"]
    assert summary["OpenItemCount"] == len(open_items)
    if open_items:
        assert summary["OpenAmount"] == str(sum(i["AmountInCompanyCodeCurrency"] for i in open_items))
    assert all("__receivables" in r.payload for r in records)


def test_server_errors_are_retried_with_backoff(fake_sap_odata, connect, sleeps):
    fake_sap_odata.faults.add("status", count=2, status=503, path_contains="A_BusinessPartner")
    records = list(connect(fake_sap_odata).read_changes(None))
    assert len(records) == 25
    assert len(sleeps) == 2


def test_truncated_page_is_retried(fake_sap_odata, connect, sleeps):
    fake_sap_odata.faults.add("truncate", count=1, path_contains="A_BusinessPartner")
    assert len(list(connect(fake_sap_odata).read_changes(None))) == 25
    assert len(sleeps) == 1


def test_rate_limit_waits_as_told(fake_sap_odata, connect, sleeps):
    fake_sap_odata.faults.add("status", count=1, status=429, headers={"Retry-After": "7"},
                              path_contains="A_BusinessPartner")
    assert len(list(connect(fake_sap_odata).read_changes(None))) == 25
    assert sleeps == [7.0]


def test_oauth_client_credentials(fake_sap_odata, connect):
    info = fake_sap_odata.info()
    connector = connect(fake_sap_odata, username=None, password=None, token_url=info["token_url"],
                        client_id=info["client_id"], client_secret=info["client_secret"])
    assert len(list(connector.read_changes(None))) == 25
    fake_sap_odata.bearer_tokens.clear()  # tokens revoked: one refresh, then on
    assert len(list(connector.read_changes(None))) == 25


def test_describe_reads_metadata(fake_sap_odata, connect):
    fields = connect(fake_sap_odata).describe()
    assert fields["BusinessPartnerFullName"].length == 81
    assert fields["OrganizationBPName1"].length == 40
    assert fields["BusinessPartner"].nillable is False and fields["BusinessPartner"].updateable is False
    assert fields["LastChangeDate"].type == "date" and fields["LastChangeTime"].type == "time"
    assert fields["BusinessPartnerIDByExtSystem"].external_id
    assert fields["to_BusinessPartnerAddress[0].CityName"].length == 40
    assert fields["to_Customer.VATRegistration"].length == 20


def test_dropped_connection_is_retried(fake_sap_odata, connect, sleeps):
    fake_sap_odata.faults.add("drop", count=1, path_contains="A_BusinessPartner")
    assert len(list(connect(fake_sap_odata).read_changes(None))) == 25
    assert len(sleeps) == 1


def test_persistent_outage_gives_up_with_a_retryable_error(fake_sap_odata, connect, sleeps):
    import pytest

    from crmsync.errors import RetryableError

    fake_sap_odata.faults.add("status", count=10, status=502, body="<html>Bad Gateway</html>")
    with pytest.raises(RetryableError, match="502"):
        list(connect(fake_sap_odata).read_changes(None))
    assert len(sleeps) == 3  # max_attempts=4


def test_credit_limit_enrichment(fake_sap_odata, connect):
    connector = connect(fake_sap_odata, credit_entity_set="A_CrdtMgmtCreditLimit", credit_segment="0000")
    records = list(connector.read_changes(None))
    limits = {row["BusinessPartner"]: row for row in fake_sap_odata.credit_limits}
    for record in records:
        row = limits[record.external_id]
        assert record.payload["CreditLimit"] == str(row["CreditLimitAmount"])
        assert record.payload["CreditLimitCurrency"] == row["CreditLimitAmountCurrency"]
