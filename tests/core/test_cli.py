"""The command line: every documented exit code, and the commands people read runs with."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from rich.console import Console

import crmsync.cli
import crmsync.engine
import crmsync.plugins
from crmsync.errors import UnreachableError
from crmsync.plugins import create_host
from crmsync.state import StateStore
from crmsync.testing import MEMORY_TABLES, MemoryConnector, MemoryPlugin, memory_table

MAPPING = Path(__file__).parents[1] / "engine" / "memory_customers.yaml"


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    host = create_host(extra_plugins=(MemoryPlugin(),))
    monkeypatch.setattr(crmsync.cli, "get_host", lambda: host)
    monkeypatch.setattr(crmsync.engine, "get_host", lambda: host)
    monkeypatch.setattr(crmsync.plugins, "get_host", lambda: host)
    monkeypatch.setattr(crmsync.cli, "console", Console(width=250))
    MEMORY_TABLES.clear()
    file = tmp_path / "crmsync.yaml"
    file.write_text(f"""
state: {{url: "sqlite:///{tmp_path / 'state.db'}"}}
endpoints:
  erp: {{connector: memory, object: customers, mapping: "{MAPPING}", options: {{table: erp}}}}
  crm: {{connector: memory, object: customers, mapping: "{MAPPING}", options: {{table: crm}}}}
pipelines:
  customers: {{endpoints: [erp, crm], conflicts: {{policy: manual}}}}
""")
    yield file
    MEMORY_TABLES.clear()


def cli(config: Path, *args: str) -> Result:
    return CliRunner().invoke(crmsync.cli.cli, ["-c", str(config), *args], catch_exceptions=False)


def test_help_documents_the_exit_codes() -> None:
    result = CliRunner().invoke(crmsync.cli.cli, ["--help"])
    assert result.exit_code == 0
    for line in ("0  success", "1  finished, but some records were rejected", "2  usage or configuration error",
                 "3  another run holds the pipeline lock", "4  a connector or the state database was unreachable"):
        assert line in result.output


def test_every_command_explains_itself() -> None:
    def walk(group: Any, path: list[str]) -> Iterator[list[str]]:
        for name, command in group.commands.items():
            yield [*path, name]
            if hasattr(command, "commands"):
                yield from walk(command, [*path, name])

    for path in walk(crmsync.cli.cli, []):
        result = CliRunner().invoke(crmsync.cli.cli, [*path, "--help"])
        assert result.exit_code == 0, path
        assert len(result.output.split("\n\n")[1].strip()) > 10, f"`crmsync {' '.join(path)} --help` explains nothing"


def test_sync_exit_0_then_runs_history_and_customer_views(config: Path) -> None:
    memory_table("erp").put("E1", name="O'Brien Ltd", country="IE", vat="IE1", city="Dublin")
    result = cli(config, "sync", "customers")
    assert result.exit_code == 0, result.output
    assert "hub created" in result.output and "ok" in result.output
    listing = cli(config, "runs", "list")
    run_id = re.search(r"run_\w+", listing.output)
    assert run_id, listing.output
    shown = cli(config, "runs", "show", run_id.group(0))
    assert "created" in shown.output and "API calls" in shown.output
    view = cli(config, "customers", "show", "E1")
    assert "O'Brien Ltd" in view.output and "erp=E1" in view.output
    assert "Dublin" in cli(config, "history", "E1").output
    assert cli(config, "customers", "show", "nobody").exit_code == 2


def test_dry_run_prints_the_plan_and_writes_nothing(config: Path) -> None:
    memory_table("erp").put("E1", name="Plan AG", country="DE", city="Bonn")
    result = cli(config, "sync", "customers", "--dry-run")
    assert result.exit_code == 0
    assert "DRY RUN" in result.output and "create" in result.output and "Bonn" in result.output
    assert memory_table("crm").records == {}
    assert "run_" not in cli(config, "runs", "list").output


def test_rejected_records_exit_1_and_dead_letters_can_be_retried(config: Path) -> None:
    memory_table("erp").put("E1", name="Bad Country Ltd", country="Atlantis")
    result = cli(config, "sync", "customers")
    assert result.exit_code == 1
    listing = cli(config, "deadletters", "list")
    assert "Atlantis" in listing.output
    letter_id = re.search(r"│ (\d+)\s+│ erp", listing.output)
    assert letter_id, listing.output
    shown = cli(config, "deadletters", "show", letter_id.group(1))
    assert json.loads(shown.output)["external_id"] == "E1"
    assert "1 dead letter(s) queued" in cli(config, "deadletters", "retry", letter_id.group(1)).output
    assert cli(config, "sync", "customers").exit_code == 1  # still bad: a new dead letter
    assert "1 dead letter(s) discarded" in cli(config, "deadletters", "discard", "2").output
    assert cli(config, "sync", "customers").exit_code == 0


def test_config_error_exits_2_with_file_and_key(tmp_path: Path) -> None:
    bad = tmp_path / "crmsync.yaml"
    bad.write_text("endpoints: {a: {connector: memory}}\n")
    result = CliRunner().invoke(crmsync.cli.cli, ["-c", str(bad), "sync", "x"])
    assert result.exit_code == 2
    assert "endpoints.a.object: missing" in result.output


def test_lock_held_exits_3_and_names_the_holder(config: Path, tmp_path: Path) -> None:
    store = StateStore(f"sqlite:///{tmp_path / 'state.db'}")
    lock = store.acquire_lock("customers", "run_elsewhere")
    try:
        result = cli(config, "sync", "customers")
    finally:
        lock.release()
        store.dispose()
    assert result.exit_code == 3
    assert "run_elsewhere" in result.output


def test_unreachable_endpoint_exits_4(config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def down(self: Any, since: Any) -> Any:
        raise UnreachableError("connection refused", endpoint=self.context.name)

    monkeypatch.setattr(MemoryConnector, "read_changes", down)
    result = cli(config, "sync", "customers")
    assert result.exit_code == 4
    assert "[erp] connection refused" in result.output


def test_unreachable_state_database_exits_4(tmp_path: Path, config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRMSYNC_TEST_DB_URL", "postgresql+psycopg://nobody:pw@127.0.0.1:1/none")
    text = config.read_text().replace(f"sqlite:///{tmp_path / 'state.db'}", "${CRMSYNC_TEST_DB_URL}")
    config.write_text(text)
    result = cli(config, "sync", "customers")
    assert result.exit_code == 4
    assert "unavailable" in result.output and "pw@" not in result.output


def test_conflict_inbox_show_and_resolve(config: Path) -> None:
    erp, crm = memory_table("erp"), memory_table("crm")
    erp.put("E1", name="Both Sides GmbH", country="DE", city="Bonn")
    assert cli(config, "sync", "customers").exit_code == 0
    crm_id = next(iter(crm.records))
    erp.put("E1", city="Hamburg")
    crm.put(crm_id, city="Köln")
    assert cli(config, "sync", "customers").exit_code == 0
    listing = cli(config, "conflicts", "list")
    assert "billing_address.city" in listing.output and "Köln" in listing.output
    shown = json.loads(cli(config, "conflicts", "show", "1").output)
    assert set(shown["sides"]) == {"erp", "crm"}
    usage = cli(config, "conflicts", "resolve", "1")
    assert usage.exit_code == 2
    resolved = cli(config, "conflicts", "resolve", "1", "--take", "crm", "--apply")
    assert resolved.exit_code == 0, resolved.output
    assert erp.records["E1"]["city"] == "Köln" and crm.records[crm_id]["city"] == "Köln"
    assert "manual:crm" in cli(config, "history", "E1").output


def test_init_writes_a_starter_config_and_refuses_to_overwrite(tmp_path: Path) -> None:
    target = tmp_path / "new.yaml"
    assert CliRunner().invoke(crmsync.cli.cli, ["init", str(target)]).exit_code == 0
    assert "pipelines:" in target.read_text()
    again = CliRunner().invoke(crmsync.cli.cli, ["init", str(target)])
    assert again.exit_code == 2 and "--force" in again.output


def test_check_without_connecting(config: Path) -> None:
    result = cli(config, "check", "--no-connect")
    assert result.exit_code == 0, result.output
    assert "memory_customers.yaml: ok" in result.output


def test_runs_revert_restores_or_raises_a_conflict(config: Path) -> None:
    erp, crm = memory_table("erp"), memory_table("crm")
    erp.put("E1", name="Revert GmbH", country="DE", city="Bonn")
    erp.put("E2", name="Other GmbH", country="DE", city="Ulm")
    assert cli(config, "sync", "customers").exit_code == 0
    erp.put("E1", city="Köln")
    erp.put("E2", city="Jena")
    assert cli(config, "sync", "customers").exit_code == 0
    bad_run = re.search(r"run_\w+", cli(config, "runs", "list").output)
    assert bad_run
    crm_e2 = next(i for i, r in crm.records.items() if r["name"] == "Other GmbH")
    crm.put(crm_e2, city="Gera")  # changed again since the run: must not be reverted silently
    assert cli(config, "sync", "customers").exit_code == 0
    plan = cli(config, "runs", "list")
    runs_newest_first = re.findall(r"run_\w+", plan.output)
    target = runs_newest_first[1]
    shown = cli(config, "runs", "revert", target)
    assert "nothing changed" in shown.output and "restore" in shown.output and "conflict" in shown.output
    crm_e1 = next(i for i, r in crm.records.items() if r["name"] == "Revert GmbH")
    assert crm.records[crm_e1]["city"] == "Köln"
    applied = cli(config, "runs", "revert", target, "--apply")
    assert applied.exit_code == 0, applied.output
    assert crm.records[crm_e1]["city"] == "Bonn" and erp.records["E1"]["city"] == "Bonn"
    assert crm.records[crm_e2]["city"] == "Gera"
    assert "billing_address.city" in cli(config, "conflicts", "list").output
    assert "revert:" in cli(config, "history", "E1").output


def test_json_logs_carry_the_run_id_on_every_run_line(config: Path) -> None:
    memory_table("erp").put("E1", name="Log GmbH", country="DE")
    result = CliRunner().invoke(crmsync.cli.cli, ["-c", str(config), "--log-format", "json", "--log-level", "INFO",
                                                  "sync", "customers"], catch_exceptions=False)
    assert result.exit_code == 0
    lines = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    engine_lines = [entry for entry in lines if entry["logger"] == "crmsync.engine"]
    assert engine_lines, result.stderr
    run_ids = {entry.get("run_id") for entry in engine_lines}
    assert len(run_ids) == 1 and next(iter(run_ids), "").startswith("run_")
    assert any("batch of 1 read and committed" in entry["message"] for entry in engine_lines)


def test_mappings_preview_reads_a_live_endpoint(config: Path) -> None:
    memory_table("erp").put("E1", name="  Vorschau GmbH ", country="Deutschland")
    result = cli(config, "mappings", "preview", str(MAPPING), "--endpoint", "erp", "--sample", "5")
    assert result.exit_code == 0, result.output
    assert "Vorschau GmbH" in result.output and "DE" in result.output
    assert cli(config, "mappings", "preview", str(MAPPING)).exit_code == 2
