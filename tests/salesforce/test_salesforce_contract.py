"""Contract tests: the Salesforce connector against the fake org over loopback HTTP."""

from __future__ import annotations

import pytest

from crmsync.connector import Cursor, OutboundRecord
from crmsync.errors import AuthError, BudgetExceededError, ErrorKind, PermanentError, RateLimitedError
from crmsync_salesforce.fake import FakeSalesforce

FIELDS = ("Name", "BillingCity", "BillingCountry", "Tax_Id__c", "Lifecycle_Stage__c")


def read_all(connector, since=None):
    return list(connector.read_changes(since))


def test_incremental_read_pages_and_shared_timestamps_none_missed(make_connector):
    # 450 rows in groups sharing one SystemModstamp, pages of 200: group boundaries cross pages
    with FakeSalesforce(records=450, seed=7) as fake:
        connector = make_connector(FIELDS, fake=fake, query_batch_size=200)
        records = read_all(connector)
        assert len(records) == 450
        keys = [(r.cursor.timestamp, r.cursor.id) for r in records]
        assert keys == sorted(keys) and len(set(keys)) == 450
        stamps = [r.cursor.timestamp for r in records]
        assert max(stamps.count(s) for s in set(stamps)) > 20  # the case being tested exists
        assert fake.requests_seen >= 3  # paged
        # resume from every cursor in a shared-timestamp group: exactly the rest comes back
        for cut in (0, 150, 199, 200, 201, 333, 449):
            rest = read_all(connector, records[cut].cursor)
            assert [r.external_id for r in rest] == [r.external_id for r in records[cut + 1:]]
        assert set(records[0].payload) >= {"Id", "Name", "SystemModstamp", "IsDeleted", "Crmsync_Id__c"}
        assert "attributes" not in records[0].payload
        assert all(r.cursor.timestamp.endswith("Z") and len(r.cursor.timestamp) == 24 for r in records)


def test_read_sees_user_edits_after_cursor(fake_salesforce, make_connector):
    ids = [fake_salesforce.add(Name=f"Edit {i}") for i in range(3)]
    connector = make_connector(("Name",))
    first = read_all(connector)
    assert read_all(connector, first[-1].cursor) == []
    fake_salesforce.touch(ids[0], Name="Edited O'Brien")
    changed = read_all(connector, first[-1].cursor)
    assert [(r.external_id, r.payload["Name"]) for r in changed] == [(ids[0], "Edited O'Brien")]


def test_read_with_cursor_without_id_and_default_fields(fake_salesforce, make_connector):
    fake_salesforce.add(Name="A")
    connector = make_connector()  # no mapped fields: everything describe lists
    records = read_all(connector)
    assert "Credit_Limit__c" in records[0].payload
    again = read_all(connector, Cursor(records[0].cursor.timestamp))
    assert [r.external_id for r in again] == [records[0].external_id]


def upsert(hub_id, name, external_id=None, **fields):
    return OutboundRecord(hub_id=hub_id, external_id=external_id, payload={"Name": name, **fields})


def test_create_update_upsert_idempotent(fake_salesforce, make_connector):
    connector = make_connector()
    batch = [upsert(f"hub-{i}", f"Kunde {i}", BillingCity="Zürich") for i in range(250)]
    first = connector.write_batch(batch)
    assert all(r.ok and r.created for r in first)
    again = connector.write_batch(batch)  # repeated after a crash
    assert all(r.ok and not r.created for r in again)
    assert [r.external_id for r in again] == [r.external_id for r in first]
    assert len(fake_salesforce.find()) == 250
    # update by Salesforce id, hub id field set on an org-born record
    born = fake_salesforce.add(Name="Born in Salesforce")
    result = connector.write_batch([upsert("hub-born", "Renamed", external_id=born)])
    assert result[0].ok and result[0].external_id == born and not result[0].created
    row = fake_salesforce.get(born)
    assert row["Name"] == "Renamed" and row["Crmsync_Id__c"] == "hub-born"


def test_lost_response_after_apply_then_retry_creates_no_duplicate(fake_salesforce, make_connector, sleeps):
    connector = make_connector()
    fake_salesforce.faults.add("lose_response", path_contains="/composite/sobjects")
    results = connector.write_batch([upsert("hub-lost", "Lost Ack GmbH")])
    assert results[0].ok and not results[0].created  # the retry found the applied row
    assert fake_salesforce.faults.applied == {"lose_response": 1}
    assert len(fake_salesforce.find(Crmsync_Id__c="hub-lost")) == 1
    assert len(sleeps) == 1


def test_truncated_answer_is_retried(fake_salesforce, make_connector):
    connector = make_connector()
    fake_salesforce.faults.add("truncate", path_contains="/composite/sobjects")
    results = connector.write_batch([upsert("hub-t", "Truncated")])
    assert results[0].ok
    assert len(fake_salesforce.find(Crmsync_Id__c="hub-t")) == 1


def test_partial_batch_failure_maps_results_in_order(fake_salesforce, make_connector):
    connector = make_connector()
    batch = [
        upsert("ok-1", "Good One"),
        OutboundRecord("bad-1", None, {"BillingCity": "No Name"}),
        upsert("ok-2", "Good Two", Lifecycle_Stage__c="customer"),
        upsert("bad-2", "Bad Stage", Lifecycle_Stage__c="alien"),
        upsert("bad-3", "x" * 256),
        upsert("ok-1", "Duplicate hub id in one batch"),
    ]
    results = connector.write_batch(batch)
    assert [r.ok for r in results] == [True, False, True, False, False, False]
    assert results[1].error_code == "REQUIRED_FIELD_MISSING" and "Name" in results[1].error
    assert results[3].error_code == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST" and "alien" in results[3].error
    assert results[4].error_code == "STRING_TOO_LONG"
    assert results[5].error_code == "DUPLICATE_HUB_ID"
    assert all(r.kind is ErrorKind.PERMANENT for r in results if not r.ok)
    assert {r["Crmsync_Id__c"] for r in fake_salesforce.find()} == {"ok-1", "ok-2"}
    assert fake_salesforce.find(Crmsync_Id__c="ok-1")[0]["Name"] == "Good One"


def test_unknown_field_fails_the_call_with_invalid_field(fake_salesforce, make_connector):
    connector = make_connector()
    with pytest.raises(PermanentError, match="INVALID_FIELD.*Nope__c"):
        connector.write_batch([upsert("h", "N", Nope__c=1)])


def test_expired_token_refreshed_once(fake_salesforce, make_connector):
    connector = make_connector(("Name",))
    fake_salesforce.add(Name="A")
    assert len(read_all(connector)) == 1
    before = fake_salesforce.token_requests
    fake_salesforce.expire_tokens()
    assert len(read_all(connector)) == 1
    assert fake_salesforce.token_requests == before + 1


def test_second_401_is_an_auth_error_not_a_loop(fake_salesforce, make_connector, sleeps):
    connector = make_connector(("Name",))
    body = '[{"message":"Session expired or invalid","errorCode":"INVALID_SESSION_ID"}]'
    fake_salesforce.faults.add("status", count=5, status=401, body=body, path_contains="/query")
    with pytest.raises(AuthError, match="INVALID_SESSION_ID"):
        read_all(connector)
    assert fake_salesforce.faults.applied["status"] == 2 and sleeps == []


def test_bad_client_secret_is_an_auth_error_without_the_secret(fake_salesforce, make_connector):
    connector = make_connector(("Name",), client_secret="wrong-secret-value")
    with pytest.raises(AuthError) as info:
        read_all(connector)
    assert "invalid_client" in str(info.value) and "wrong-secret-value" not in str(info.value)
    assert "wrong-secret-value" not in repr(connector.options)


def test_503_is_retried(fake_salesforce, make_connector, sleeps):
    fake_salesforce.add(Name="A")
    connector = make_connector(("Name",))
    fake_salesforce.faults.add("status", count=2, status=503, path_contains="/queryAll")
    assert len(read_all(connector)) == 1
    assert len(sleeps) == 2


def test_dropped_connection_on_read_is_retried(fake_salesforce, make_connector):
    fake_salesforce.add(Name="A")
    connector = make_connector(("Name",))
    fake_salesforce.faults.add("drop", path_contains="/queryAll")
    assert len(read_all(connector)) == 1


def test_request_limit_exceeded_is_rate_limited(make_connector, sleeps):
    with FakeSalesforce(daily_quota=3) as fake:
        connector = make_connector(("Name",), fake=fake)
        read_all(connector)
        read_all(connector)
        read_all(connector)
        with pytest.raises(RateLimitedError, match="REQUEST_LIMIT_EXCEEDED"):
            read_all(connector)
        assert connector.api_usage == (3, 3)
        assert len(sleeps) == 3  # waited between attempts, then gave up


def test_api_budget_per_run(fake_salesforce, make_connector, sleeps):
    connector = make_connector(("Name",), api_budget_per_run=3)
    read_all(connector)  # token + query
    read_all(connector)  # query
    with pytest.raises(BudgetExceededError, match="api_budget_per_run of 3"):
        read_all(connector)
    assert sleeps == []


def test_delete_then_query_all_sees_deleted(fake_salesforce, make_connector):
    connector = make_connector(("Name",))
    written = connector.write_batch([upsert("d-1", "Doomed"), upsert("d-2", "Kept")])
    start = read_all(connector)[-1].cursor
    doomed = written[0].external_id
    results = connector.write_batch([OutboundRecord("d-1", doomed, {}, action="delete"),
                                     OutboundRecord("d-3", None, {}, action="delete")])
    assert [r.ok for r in results] == [True, True]
    again = connector.write_batch([OutboundRecord("d-1", doomed, {}, action="delete")])
    assert again[0].ok  # repeated delete: already gone, fine
    changes = read_all(connector, start)
    assert [(r.external_id, r.deleted) for r in changes] == [(doomed, True)]


def test_merge_loser_comes_with_merged_into(fake_salesforce, make_connector):
    master = fake_salesforce.add(Name="Survivor")
    loser = fake_salesforce.add(Name="Loser")
    connector = make_connector(("Name",))
    start = read_all(connector)[-1].cursor
    fake_salesforce.merge(master, loser)
    changes = {r.external_id: r for r in read_all(connector, start)}
    assert changes[loser].deleted and changes[loser].merged_into == master
    assert not changes[master].deleted and changes[master].merged_into is None


def test_describe(fake_salesforce, make_connector):
    fields = make_connector().describe()
    assert fields["Crmsync_Id__c"].external_id
    assert fields["Lifecycle_Stage__c"].picklist == ("lead", "prospect", "customer", "former_customer")
    assert fields["Name"].length == 255 and not fields["Name"].nillable
    assert not fields["SystemModstamp"].updateable


def test_bulk_write_above_threshold(fake_salesforce, make_connector):
    born = fake_salesforce.add(Name="Bulk Born")
    connector = make_connector(bulk_threshold=10)
    batch = [upsert(f"bulk-{i}", f"Bulk {i}", Blocked__c=i % 2 == 0) for i in range(30)]
    batch.append(upsert("bulk-bad", "Bad", Lifecycle_Stage__c="alien"))
    batch.append(upsert("bulk-born", "Bulk Renamed", external_id=born))
    results = connector.write_batch(batch)
    assert all(r.ok and r.created for r in results[:30])
    assert not results[30].ok and results[30].error_code == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
    assert results[31].ok and results[31].external_id == born
    assert fake_salesforce.get(born)["Crmsync_Id__c"] == "bulk-born"
    assert fake_salesforce.find(Crmsync_Id__c="bulk-0")[0]["Blocked__c"] is True
    again = connector.write_batch(batch[:30])
    assert all(r.ok and not r.created for r in again)
    assert len(fake_salesforce.find()) == 31


def test_injection_strings_round_trip(fake_salesforce, make_connector):
    connector = make_connector(("Name", "Description"))
    nasty = ["O'Brien", "' OR Name != '", "\\'", "%_", "Zoë 北京科技有限公司 😀", "a\\b\nc\t\"d\"", "\u202eevil"]
    results = connector.write_batch([upsert(f"n-{i}", v, Description=v) for i, v in enumerate(nasty)])
    assert all(r.ok for r in results)
    records = read_all(connector)
    assert [r.payload["Name"] for r in records] == nasty
    # a cursor id with quotes cannot break the WHERE clause
    assert read_all(connector, Cursor(records[-1].cursor.timestamp, "~' OR Id != '")) == []


def test_static_token_auth_cannot_refresh(fake_salesforce, make_connector):
    fake_salesforce.add(Name="A")
    connector = make_connector(("Name",), auth="token", access_token=fake_salesforce.issue_token(),
                               client_id=None, client_secret=None)
    assert len(read_all(connector)) == 1
    fake_salesforce.expire_tokens()
    with pytest.raises(AuthError, match="cannot refresh"):
        read_all(connector)


def test_usage_warning_near_quota(make_connector, caplog):
    with FakeSalesforce(daily_quota=10) as fake:
        fake.api_usage = 8
        read_all(make_connector(("Name",), fake=fake))
    assert "daily API usage at 9 of 10" in caplog.text


def test_decimal_and_bad_numbers(fake_salesforce, make_connector):
    from decimal import Decimal

    connector = make_connector()
    results = connector.write_batch([
        upsert("m-1", "Money", Credit_Limit__c=Decimal("12500.50")),
        upsert("m-2", "NaN", Credit_Limit__c=float("nan")),
        upsert("m-3", "Inf", Credit_Limit__c=Decimal("Infinity")),
        upsert("m-4", "Long", Description="x" * 100_000),
    ])
    assert [r.ok for r in results] == [True, False, False, False]
    assert results[1].error_code == "INVALID_VALUE" and results[1].kind is ErrorKind.PERMANENT
    assert results[3].error_code == "STRING_TOO_LONG" and "max length=32000" in results[3].error
    assert fake_salesforce.find(Crmsync_Id__c="m-1")[0]["Credit_Limit__c"] == 12500.5


def test_edits_during_a_paged_read_are_not_missed(make_connector):
    with FakeSalesforce(records=600, seed=9) as fake:
        connector = make_connector(("Name",), fake=fake, query_batch_size=200)
        stream = connector.read_changes(None)
        seen = [next(stream) for _ in range(250)]  # into the second page
        early, late = seen[10].external_id, None
        rest = list(stream)
        late = rest[-5].external_id
        fake.touch(early, Name="edited early")
        fake.touch(late, Name="edited late")
        first_pass = seen + rest
        assert len({r.external_id for r in first_pass}) == len(first_pass) == 600
        changes = read_all(connector, first_pass[-1].cursor)
        assert [(r.external_id, r.payload["Name"]) for r in changes] == [
            (early, "edited early"), (late, "edited late")]


def test_expired_query_locator_restarts_from_last_record(make_connector):
    with FakeSalesforce(records=500, seed=2) as fake:
        connector = make_connector(("Name",), fake=fake, query_batch_size=200)
        stream = connector.read_changes(None)
        first = [next(stream) for _ in range(200)]
        fake._cursors.clear()  # the org dropped the cursor between pages
        records = first + list(stream)
        assert [r.external_id for r in records] == [r["Id"] for r in sorted(
            fake.records, key=lambda r: (r["SystemModstamp"], r["Id"]))]


def test_touch_and_add_validate_like_the_api(fake_salesforce):
    rid = fake_salesforce.add(Name="A", Crmsync_Id__c="x")
    fake_salesforce.touch(rid, Crmsync_Id__c="x", Phone="1")
    with pytest.raises(ValueError, match="duplicate value"):
        fake_salesforce.add(Name="B", Crmsync_Id__c="x")
    with pytest.raises(ValueError, match="No such column"):
        fake_salesforce.touch(rid, Nope__c=1)


def test_api_budget_per_day_leaves_the_rest_of_the_org_quota(fake_salesforce, make_connector, sleeps):
    connector = make_connector(("Name",), api_budget_per_day=1)
    read_all(connector)  # the first answer tells the org's 24-hour usage
    with pytest.raises(BudgetExceededError, match="api_budget_per_day of 1 calls is used up"):
        read_all(connector)
    assert sleeps == []
