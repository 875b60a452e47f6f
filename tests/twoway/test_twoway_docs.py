"""docs/two-way.md stays true: its YAML examples load with crmsync.config and its commands exist."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from crmsync.cli import cli
from crmsync.config import parse_config

DOC = Path(__file__).resolve().parents[2] / "docs" / "two-way.md"
BASE: dict[str, Any] = {
    "state": {"url": "sqlite:///state.db"},
    "endpoints": {
        "sap": {"connector": "sap-odata", "object": "A_BusinessPartner", "mapping": "sap_business_partner.yaml",
                "options": {"service_url": "http://127.0.0.1:1/sap/", "username": "${DOC_SAP_USER}",
                            "password": "${DOC_SAP_PASSWORD}"}},
        "salesforce": {"connector": "salesforce", "object": "Account", "mapping": "salesforce_account.yaml",
                       "options": {"instance_url": "http://127.0.0.1:1", "auth": "token",
                                   "access_token": "${DOC_SF_TOKEN}"}},
        "sheet": {"connector": "spreadsheet", "object": "customers", "mapping": "spreadsheet_customers.yaml",
                  "options": {"path": "customers.csv"}},
    },
    "pipelines": {"customers": {"endpoints": ["sap", "salesforce", "sheet"]}},
}


def merged(base: Any, extra: Any) -> Any:
    if isinstance(base, dict) and isinstance(extra, dict):
        return {**base, **{k: merged(base.get(k), v) for k, v in extra.items()}}
    return extra


def yaml_blocks() -> list[str]:
    return re.findall(r"```yaml\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.DOTALL)


@pytest.mark.parametrize("block", yaml_blocks())
def test_every_yaml_example_is_a_valid_configuration(block: str, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DOC_SAP_USER", "DOC_SAP_PASSWORD", "DOC_SF_TOKEN"):
        monkeypatch.setenv(name, "x")
    config = parse_config(merged(BASE, yaml.safe_load(block)), tmp_path / "crmsync.yaml")
    pipeline = config.pipeline("customers")
    assert pipeline.endpoints == ["sap", "salesforce", "sheet"]


def test_the_yaml_examples_cover_every_two_way_key() -> None:
    text = "\n".join(yaml_blocks())
    for key in ("ownership:", "enforce_ownership:", "conflicts:", "policy:", "prefer:", "fields:",
                "mass_delete_threshold:", "deletes:", "overlap_seconds:"):
        assert key in text, key


@pytest.mark.parametrize("command", [
    ["sync", "--help"], ["conflicts", "list", "--help"], ["conflicts", "show", "--help"],
    ["conflicts", "resolve", "--help"], ["runs", "show", "--help"],
])
def test_the_documented_commands_exist(command: list[str]) -> None:
    result = CliRunner().invoke(cli, command)
    assert result.exit_code == 0, result.output
    text = DOC.read_text(encoding="utf-8")
    if command[0] == "sync":
        for flag in ("--dry-run", "--full", "--allow-mass-delete"):
            assert flag in result.output and flag in text
    if command[:2] == ["conflicts", "resolve"]:
        for flag in ("--take", "--value", "--defer", "--apply"):
            assert flag in result.output and flag in text
    if command[:2] == ["conflicts", "list"]:
        assert "--status" in result.output
