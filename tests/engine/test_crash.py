"""kill -9 of a real `crmsync sync` process at several points: the next run loses and duplicates nothing."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa

ROOT = Path(__file__).parents[2]
EXAMPLE = ROOT / "examples" / "crmsync-jsonfile"
DRIVER = Path(__file__).with_name("crash_driver.py")
N = 250


@pytest.fixture
def env(example_plugin_env: dict[str, str]) -> dict[str, str]:
    return example_plugin_env


def setup(tmp_path: Path, state_url: str) -> Path:
    left, right = tmp_path / "left", tmp_path / "right"
    left.mkdir()
    right.mkdir()
    for i in range(N):
        (left / f"L{i:04d}.json").write_text(json.dumps(
            {"name": f"Kunde {i} GmbH", "country": "DE", "vat": f"DE{i:09d}", "city": "Köln",
             "_changed": "2026-01-01T00:00:00.000000Z"}), encoding="utf-8")  # one shared timestamp
    mapping = EXAMPLE / "jsonfile_customers.yaml"
    config = tmp_path / "crmsync.yaml"
    config.write_text(f"""
state: {{url: "{state_url}"}}
endpoints:
  left: {{connector: jsonfile, object: customers, mapping: "{mapping}", options: {{folder: "{left}"}}}}
  right: {{connector: jsonfile, object: customers, mapping: "{mapping}", options: {{folder: "{right}"}}}}
pipelines:
  folders: {{endpoints: [left, right]}}
""")
    return config


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
@pytest.mark.parametrize(("point", "n"), [("read", 120), ("write", 2), ("commit", 3), ("commit", 5)])
def test_kill_9_then_rerun_loses_and_duplicates_nothing(
    env: dict[str, str], tmp_path: Path, state_url_for: Callable[[str], str], backend: str, point: str, n: int
) -> None:
    state_url = state_url_for(backend)
    config = setup(tmp_path, state_url)
    crashed = subprocess.run([sys.executable, str(DRIVER), str(config), "folders", point, str(n)], env=env,
                             capture_output=True, text=True, timeout=300)
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr
    if backend == "sqlite":  # its lease outlives the killed run until it expires; let time pass
        engine = sa.create_engine(state_url)
        with engine.begin() as conn:
            conn.execute(sa.text("UPDATE locks SET expires_at = :t"), {"t": "2000-01-01 00:00:00"})
        engine.dispose()
    # on PostgreSQL the advisory lock died with the process: the lease is taken over at once
    for _ in range(2):
        rerun = subprocess.run([sys.executable, "-m", "crmsync", "-c", str(config), "sync", "folders"], env=env,
                               capture_output=True, text=True, timeout=300)
        assert rerun.returncode == 0, rerun.stderr
    copies = [json.loads(f.read_text(encoding="utf-8")) for f in (tmp_path / "right").glob("*.json")]
    assert len(copies) == N, "nothing lost, nothing duplicated"
    assert sorted(c["vat"] for c in copies) == sorted(f"DE{i:09d}" for i in range(N))
    assert len({c["hub_id"] for c in copies}) == N
    engine = sa.create_engine(state_url)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT COUNT(*) FROM hub_records")).scalar_one() == N
        assert conn.execute(sa.text("SELECT COUNT(*) FROM bindings")).scalar_one() == 2 * N
    engine.dispose()
