"""Configuration: every kind of bad config gets an error naming file, key path and expectation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from crmsync.config import STARTER_CONFIG, load_config, parse_config
from crmsync.errors import ConfigError, SecretError

MAPPING = str(Path(__file__).parents[1] / "engine" / "memory_customers.yaml")


def good() -> dict[str, Any]:
    return {
        "state": {"url": "sqlite:///x.db"},
        "endpoints": {
            "a": {"connector": "memory", "object": "customers", "mapping": MAPPING,
                  "options": {"table": "a", "password": "${CRMSYNC_TEST_PW}"}},
            "b": {"connector": "memory", "object": "customers", "mapping": MAPPING},
        },
        "pipelines": {"p": {"endpoints": ["a", "b"], "ownership": {"credit_limit": "a"}}},
    }


def parse(data: Any, tmp_path: Path) -> Any:
    return parse_config(data, tmp_path / "crmsync.yaml")


def test_good_config_resolves_secrets_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRMSYNC_TEST_PW", "s3cr3t")
    config = parse(good(), tmp_path)
    assert config.endpoints["a"].options["password"] == "s3cr3t"
    assert "s3cr3t" not in repr(config), "options never appear in reprs"
    assert config.pipelines["p"].ownership == {"credit_limit": "a"}


def _set(data: dict[str, Any], path: str, value: Any) -> None:
    *parents, last = path.split(".")
    node = data
    for key in parents:
        node = node[key]
    if value is _DELETE:
        del node[last]
    else:
        node[last] = value


_DELETE = object()

BAD = [
    ("top level not a mapping", None, ["a", "list"], "expected a mapping"),
    ("unknown top-level key", "statee", {"url": "x"}, "unknown key"),
    ("no endpoints", "endpoints", {}, "at least one endpoint"),
    ("endpoint without connector", "endpoints.a.connector", _DELETE, "endpoints.a.connector: missing"),
    ("unknown endpoint key", "endpoints.a.conector", "memory", "endpoints.a.conector: unknown key"),
    ("mapping file missing", "endpoints.a.mapping", "nope.yaml", "mapping file 'nope.yaml' not found"),
    ("pipeline names unknown endpoint", "pipelines.p.endpoints", ["a", "zzz"], "unknown endpoint 'zzz'"),
    ("pipeline with one endpoint", "pipelines.p.endpoints", ["a"], "at least two endpoints"),
    ("ownership of unknown field", "pipelines.p.ownership", {"credit": "a"}, "not a canonical field"),
    ("owner outside pipeline", "pipelines.p.ownership", {"credit_limit": "x"}, "is not an endpoint"),
    ("bad delete policy", "endpoints.a.deletes", "explode", "expected one of ignore, archive"),
    ("bad mass delete threshold", "pipelines.p.mass_delete_threshold", 5, "between 0 and 1"),
    ("bad retry value", "endpoints.a.retry", {"max_attempts": -1}, "expected a positive number"),
    ("unknown retry key", "endpoints.a.retry", {"attempts": 3}, "unknown key"),
    ("prefer names a stranger", "pipelines.p.conflicts", {"prefer": ["q"]}, "is not an endpoint"),
    ("path traversal", "endpoints.a.options", {"path": "../../etc/passwd"}, "leaves the configuration folder"),
    ("enforce not a bool", "pipelines.p.enforce_ownership", "yes", "expected true or false"),
    ("circuit breaker zero", "endpoints.a.circuit_breaker", 0, "expected a whole number >= 1"),
    ("negative overlap", "endpoints.a.overlap_seconds", -5, "expected a number of seconds >= 0"),
]


@pytest.mark.parametrize(("case", "path", "value", "message"), BAD, ids=[b[0] for b in BAD])
def test_bad_config_is_refused_with_file_and_key_path(case: str, path: str | None, value: Any, message: str,
                                                      tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRMSYNC_TEST_PW", "x")
    data: Any = good()
    if path is None:
        data = value
    else:
        _set(data, path, value)
    with pytest.raises(ConfigError, match=message) as info:
        parse(data, tmp_path)
    assert str(tmp_path / "crmsync.yaml") in str(info.value)
    assert info.value.exit_code == 2


def test_plain_text_secret_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRMSYNC_TEST_PW", "x")
    data = good()
    data["endpoints"]["a"]["options"]["client_secret"] = "hunter2"
    with pytest.raises(SecretError, match="endpoints.a.options.client_secret: secrets must not be written") as info:
        parse(data, tmp_path)
    assert "hunter2" not in str(info.value)


def test_missing_environment_variable_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CRMSYNC_TEST_PW", raising=False)
    with pytest.raises(SecretError, match="environment variable CRMSYNC_TEST_PW is not set"):
        parse(good(), tmp_path)


def test_yaml_python_tags_are_refused(tmp_path: Path) -> None:
    file = tmp_path / "crmsync.yaml"
    file.write_text("state: !!python/object/apply:os.system ['echo pwned']\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(file)


def test_missing_file_says_how_to_create_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="crmsync init"):
        load_config(tmp_path / "absent.yaml")


def test_starter_config_is_valid_once_its_secrets_are_set(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SF_CLIENT_ID", "SF_CLIENT_SECRET", "SAP_USER", "SAP_PASSWORD"):
        monkeypatch.setenv(name, "x")
    file = tmp_path / "crmsync.yaml"
    file.write_text(STARTER_CONFIG)
    config = load_config(file)
    assert set(config.endpoints) == {"salesforce", "sap"}
    assert yaml.safe_load(STARTER_CONFIG)["pipelines"]["customers"]["ownership"]["credit_limit"] == "sap"


def test_database_password_in_the_file_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRMSYNC_TEST_PW", "x")
    data = good()
    data["state"]["url"] = "postgresql+psycopg://crm:hunter2@db.example/crm"
    with pytest.raises(SecretError, match="state.url: the database password must not be written") as info:
        parse(data, tmp_path)
    assert "hunter2" not in str(info.value)
    monkeypatch.setenv("CRMSYNC_DB_PW", "hunter2")
    data["state"]["url"] = "postgresql+psycopg://crm:${CRMSYNC_DB_PW}@db.example/crm"
    config = parse(data, tmp_path)
    assert "hunter2" not in repr(config)


@pytest.mark.parametrize("key", ["secret_key", "access_key", "passphrase", "credentials", "api_key"])
def test_more_secret_names_are_recognised(key: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRMSYNC_TEST_PW", "x")
    data = good()
    data["endpoints"]["a"]["options"][key] = "plain"
    with pytest.raises(SecretError, match=f"options.{key}"):
        parse(data, tmp_path)


def test_the_readme_example_config_is_valid(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import re

    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    block = re.search(r"```yaml\n(.*?)```", readme, re.S)
    assert block is not None
    for name in ("SAP_USER", "SAP_PASSWORD", "SF_CLIENT_ID", "SF_CLIENT_SECRET"):
        monkeypatch.setenv(name, "x")
    config = parse(yaml.safe_load(block.group(1)), tmp_path)
    assert set(config.endpoints) == {"sap", "salesforce"} and "customers" in config.pipelines
