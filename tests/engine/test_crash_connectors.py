"""kill -9 of a real `crmsync sync` writing to each built-in connector's target, then a rerun:
every record arrives exactly once (the fakes run as their own `crmsync fake-server` processes)."""

from __future__ import annotations

import csv
import json
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

DRIVER = Path(__file__).with_name("crash_driver.py")
SOURCE_MAPPING = Path(__file__).with_name("crash_source.yaml")
N = 230


@pytest.fixture
def fake_process(request: pytest.FixtureRequest) -> Iterator[dict[str, Any]]:
    """`crmsync fake-server KIND` in a process of its own; yields its start-up line."""
    kind = request.param
    process = subprocess.Popen([sys.executable, "-m", "crmsync", "fake-server", kind, "--records", "0"],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert process.stdout is not None
        info = json.loads(process.stdout.readline())
        yield {"kind": kind, **info}
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=20)


def _state(url: str) -> Any:
    base = url.split("/sap/opu/")[0]
    with urllib.request.urlopen(f"{base}/__fake__/state", timeout=20) as response:
        return json.loads(response.read())


def _target(kind: str, info: dict[str, Any], tmp_path: Path, env: dict[str, str]) -> str:
    if kind == "salesforce":
        env["CRASH_SF_TOKEN"] = info["access_token"]
        return (f'{{connector: salesforce, object: Account, mapping: salesforce_account.yaml, options: '
                f'{{instance_url: "{info["url"]}", auth: token, access_token: "${{CRASH_SF_TOKEN}}"}}}}')
    env["CRASH_SAP_PASSWORD"] = info["password"]
    return (f'{{connector: sap-odata, object: A_BusinessPartner, mapping: sap_business_partner.yaml, options: '
            f'{{service_url: "{info["url"]}", username: "{info["username"]}", '
            f'password: "${{CRASH_SAP_PASSWORD}}"}}}}')


def _hub_ids(kind: str, info: dict[str, Any] | None, sheet: Path) -> list[str]:
    if kind == "spreadsheet":
        with sheet.open(encoding="utf-8", newline="") as handle:
            return [row["crmsync_id"] for row in csv.DictReader(handle)]
    assert info is not None
    state = _state(info["url"])
    if kind == "salesforce":
        return [r["Crmsync_Id__c"] for r in state["records"] if not r.get("IsDeleted")]
    return [p["BusinessPartnerIDByExtSystem"] for p in state["partners"]]


def _run(kind: str, info: dict[str, Any] | None, tmp_path: Path, env: dict[str, str],
         point: str, n: int) -> None:
    source = tmp_path / "source"
    source.mkdir()
    for i in range(N):
        (source / f"S{i:04d}.json").write_text(json.dumps(
            {"name": f"Kunde {i} GmbH", "city": "Köln", "country": "DE", "vat": f"DE{i:09d}",
             "_changed": "2026-01-01T00:00:00.000000Z"}), encoding="utf-8")
    sheet = tmp_path / "customers.csv"
    sheet.write_text("customer_id,company,city,country,vat_id\n", encoding="utf-8")
    target = (f'{{connector: spreadsheet, object: customers, mapping: spreadsheet_customers.yaml, '
              f'options: {{path: "{sheet}"}}}}' if kind == "spreadsheet" else _target(kind, info or {}, tmp_path, env))
    config = tmp_path / "crmsync.yaml"
    config.write_text(f"""
state: {{url: "sqlite:///{tmp_path / 'state.db'}"}}
endpoints:
  source: {{connector: jsonfile, object: customers, mapping: "{SOURCE_MAPPING}", options: {{folder: "{source}"}}}}
  target: {target}
pipelines:
  p: {{endpoints: [source, target]}}
""")
    crashed = subprocess.run([sys.executable, str(DRIVER), str(config), "p", point, str(n)], env=env,
                             capture_output=True, text=True, timeout=300)
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr[-2000:]
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'state.db'}")
    with engine.begin() as conn:  # the killed run's lease would expire; let that time pass
        conn.execute(sa.text("UPDATE locks SET expires_at = '2000-01-01 00:00:00'"))
    engine.dispose()
    for _ in range(2):
        rerun = subprocess.run([sys.executable, "-m", "crmsync", "-c", str(config), "sync", "p"], env=env,
                               capture_output=True, text=True, timeout=300)
        assert rerun.returncode == 0, rerun.stderr[-2000:]
    hub_ids = _hub_ids(kind, info, sheet)
    assert len(hub_ids) == N, f"{len(hub_ids)} records at the target for {N} sources"
    assert len(set(hub_ids)) == N, "no record written twice"


@pytest.mark.parametrize("fake_process", ["salesforce", "sap-odata"], indirect=True)
@pytest.mark.parametrize(("point", "n"), [("write", 1), ("commit", 3)])
def test_kill_9_while_writing_to_a_fake_loses_and_duplicates_nothing(
        fake_process: dict[str, Any], example_plugin_env: dict[str, str], tmp_path: Path, point: str, n: int) -> None:
    _run(fake_process["kind"], fake_process, tmp_path, dict(example_plugin_env), point, n)


@pytest.mark.parametrize(("point", "n"), [("write", 1), ("commit", 2)])
def test_kill_9_while_writing_a_spreadsheet_loses_and_duplicates_nothing(
        example_plugin_env: dict[str, str], tmp_path: Path, point: str, n: int) -> None:
    _run("spreadsheet", None, tmp_path, dict(example_plugin_env), point, n)
