"""The fake itself: deterministic data, --data files, the click command, SAP selection semantics."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from crmsync_sap.fake_soap import FakeSapSoap, fake_soap_command, generate_customers


def test_generated_customers_are_deterministic_and_varied() -> None:
    first, again = generate_customers(30, seed=3), generate_customers(30, seed=3)
    assert first == again and first != generate_customers(30, seed=4)
    names = json.dumps(first, ensure_ascii=False)
    assert "'" in names and "ë" in names and "北京" in names
    assert len({c["InternalID"] for c in first}) == 30


def test_command_has_the_shared_options() -> None:
    assert {p.name for p in fake_soap_command.params} >= {"port", "records", "seed", "data"}
    result = CliRunner().invoke(fake_soap_command, ["--data", "/nonexistent/file.json"])
    assert result.exit_code == 2


def test_data_file_customers_are_served(tmp_path: Path) -> None:
    data = [{"InternalID": "42", "CategoryCode": "2", "Organisation": {"FirstLineName": "Émile & Cie"},
             "LastChangeDateTime": "2026-02-03T04:05:06+01:00"}]
    (tmp_path / "customers.json").write_text(json.dumps(data), "utf-8")
    with FakeSapSoap(data=json.loads((tmp_path / "customers.json").read_text("utf-8"))) as fake:
        state = fake.dump_state()
    [customer] = state["customers"]
    assert customer["LastChangeDateTime"] == "2026-02-03T03:05:06Z" and customer["ChangeStateID"]


def test_selection_rows_follow_sap_semantics() -> None:
    from crmsync_sap.fake_soap import _selected

    rows = [{"InclusionExclusionCode": "I", "IntervalBoundaryTypeCode": "3",
             "LowerBoundaryInternalID": "10", "UpperBoundaryInternalID": "20"},
            {"InclusionExclusionCode": "I", "IntervalBoundaryTypeCode": "1", "LowerBoundaryInternalID": "50"},
            {"InclusionExclusionCode": "E", "IntervalBoundaryTypeCode": "1", "LowerBoundaryInternalID": "15"}]
    assert [v for v in ("10", "15", "20", "30", "50") if _selected(v, rows, str)] == ["10", "20", "50"]
