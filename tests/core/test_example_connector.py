"""The example connector of docs/writing-a-connector.md, installed for real and run through the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
EXAMPLE = ROOT / "examples" / "crmsync-jsonfile"


@pytest.fixture
def installed(example_plugin_env: dict[str, str]) -> dict[str, str]:
    return example_plugin_env


def crmsync(env: dict[str, str], *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "crmsync", *args], env=env, cwd=cwd, capture_output=True,
                          text=True, timeout=120)


def test_installed_example_is_listed_as_a_plugin(installed: dict[str, str], tmp_path: Path) -> None:
    result = crmsync(installed, "plugins", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "crmsync-jsonfile" in result.stdout and "jsonfile" in result.stdout


def test_example_connector_syncs_two_folders(installed: dict[str, str], tmp_path: Path) -> None:
    left, right = tmp_path / "left", tmp_path / "right"
    left.mkdir()
    right.mkdir()
    for i, name in enumerate(["O'Brien Ltd", "Zoë Café", "北京科技有限公司"]):
        (left / f"L{i}.json").write_text(json.dumps(
            {"name": name, "country": "Germany", "vat": f"de{i}", "city": "Berlin", "credit": "10",
             "_changed": f"2026-01-01T00:00:0{i}.000000Z"}, ensure_ascii=False), encoding="utf-8")
    mapping = EXAMPLE / "jsonfile_customers.yaml"
    (tmp_path / "crmsync.yaml").write_text(f"""
state: {{url: "sqlite:///{tmp_path / 'state.db'}"}}
endpoints:
  left: {{connector: jsonfile, object: customers, mapping: "{mapping}", options: {{folder: "{left}"}}}}
  right: {{connector: jsonfile, object: customers, mapping: "{mapping}", options: {{folder: "{right}"}}}}
pipelines:
  folders: {{endpoints: [left, right]}}
""")
    first = crmsync(installed, "sync", "folders", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    copies = [json.loads(f.read_text(encoding="utf-8")) for f in sorted(right.glob("*.json"))]
    assert sorted(c["name"] for c in copies) == sorted(["O'Brien Ltd", "Zoë Café", "北京科技有限公司"])
    assert {c["country"] for c in copies} == {"DE"}
    second = crmsync(installed, "sync", "folders", cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    assert len(list(right.glob("*.json"))) == 3
    runs = crmsync(installed, "runs", "list", cwd=tmp_path)
    assert runs.stdout.count("folders") == 2
