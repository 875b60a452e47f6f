"""Secrets (SAP password, Salesforce client secret and access tokens) never reach logs, errors, the state
database, reports or printed output: a full sync at DEBUG, through the engine and through the CLI."""

from __future__ import annotations

import json
import logging
import traceback
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml
from click.testing import CliRunner
from sync_rig import MAPPINGS, Rig

from crmsync.cli import cli
from crmsync.errors import AuthError, ConfigError
from crmsync.state import StateStore
from crmsync_salesforce.fake import FakeSalesforce
from crmsync_sap.fake_odata import FakeSapOData
from crmsync_sap.fake_soap import FakeSapSoap

WRONG_SECRET = "Wrong-Client-Secret-7f3a9c2e51"
SOAP_PASSWORD = "Soap-Pw-4b8e0d1c77"


def _secrets(sf: FakeSalesforce, sap: FakeSapOData) -> list[str]:
    with sf.lock:
        tokens = sorted(sf._tokens)
    return [sf.client_secret, sap.password, sf.access_token, *tokens, WRONG_SECRET, SOAP_PASSWORD]


def _dump_state(url: str) -> str:
    """Every row of every table of the state database, as text."""
    store = StateStore(url, migrate=False)
    try:
        meta = sa.MetaData()
        lines: list[str] = []
        with store.connect() as conn:
            meta.reflect(conn)
            for table in meta.sorted_tables:
                lines.extend(f"{table.name}: {row!r}" for row in conn.execute(sa.select(table)))
        return "\n".join(lines)
    finally:
        store.dispose()


@pytest.fixture
def pipeline(rig: Rig) -> tuple[Rig, FakeSalesforce, FakeSapOData]:
    sf = rig.salesforce(fake=FakeSalesforce(records=6, seed=3))
    sap = rig.sap(fake=FakeSapOData(records=6, seed=3))
    rig.sheet()
    soap = FakeSapSoap(records=4, password=SOAP_PASSWORD)
    soap.start()
    rig.fakes.append(soap)
    info = soap.info()
    rig.endpoints["soap"] = {
        "connector": "sap-soap", "object": "Customer", "mapping": str(MAPPINGS / "sap_soap_customer.yaml"),
        "retry": {"max_attempts": 2, "initial_wait": 0.01},
        "options": {"endpoint_url": info["url"], "username": info["username"],
                    "password": rig._secret("soap_password", SOAP_PASSWORD)},
    }
    return rig, sf, sap


@pytest.fixture
def keep_root_logging() -> Iterator[None]:
    """The CLI's setup_logging replaces the root handlers: put them back for the other tests."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def _assert_clean(secrets: list[str], **texts: str) -> None:
    for where, text in texts.items():
        for secret in secrets:
            assert secret not in text, f"a secret ({secret[:4]}...) leaked into {where}"


def test_a_full_sync_at_debug_leaks_no_secret(pipeline: tuple[Rig, FakeSalesforce, FakeSapOData],
                                             caplog: pytest.LogCaptureFixture) -> None:
    rig, sf, sap = pipeline
    caplog.set_level(logging.DEBUG)
    first = rig.run()
    assert first.counts["sf"]["read"] >= 5 and first.counts["sap"]["read"] >= 5, first.counts
    assert first.counts["soap"]["read"] >= 1, first.counts
    # refreshes, retries and CSRF re-fetches are where credentials like to show up in logs
    sf.expire_tokens()
    sap.expire_csrf_tokens()
    sf.faults.add("status", 1, status=503, body="busy")
    sap.faults.add("status", 1, status=503, body="busy")
    sap.touch(sorted(sap.partners)[0], SearchTerm1="TOUCHED")
    second = rig.run()
    reports = json.dumps([first.as_dict(), second.as_dict()], default=str)
    # a run that fails on credentials: the error must not carry the secret it was given
    rig.monkeypatch.setenv("CRMSYNC_RIG_SF_CLIENT_SECRET", WRONG_SECRET)
    sf.expire_tokens()
    with pytest.raises(AuthError) as caught:
        rig.run()
    error = "".join(traceback.format_exception(caught.value)) + repr(caught.value)
    assert "invalid_client" in error
    config_repr = repr(rig.config()) + repr(rig.engine())
    _assert_clean(_secrets(sf, sap), logs=caplog.text, error=error, reports=reports,
                  state=_dump_state(rig.state_url), config=config_repr)
    assert "DEBUG" in caplog.text or caplog.records, "the logs were really captured"


def test_the_cli_at_debug_with_json_logs_leaks_no_secret(pipeline: tuple[Rig, FakeSalesforce, FakeSapOData],
                                                        keep_root_logging: None, tmp_path: Path) -> None:
    rig, sf, sap = pipeline
    config = tmp_path / "crmsync.yaml"
    config.write_text(yaml.safe_dump({"state": {"url": rig.state_url}, "endpoints": rig.endpoints,
                                      "pipelines": {"customers": {"endpoints": list(rig.endpoints)}}}),
                      encoding="utf-8")
    text = config.read_text(encoding="utf-8")
    assert "${CRMSYNC_RIG_SF_CLIENT_SECRET}" in text, "the file only references the secrets"
    runner = CliRunner()
    base = ["-c", str(config), "--log-level", "DEBUG", "--log-format", "json"]
    outputs = []
    for args in (["sync", "customers"], ["runs", "list"], ["deadletters", "list"], ["check"]):
        result = runner.invoke(cli, [*base, *args])
        assert result.exit_code in (0, 1, 2), (args, result.output, result.exception)
        outputs.append(result.output + (result.stderr if result.stderr_bytes is not None else ""))
    printed = "\n".join(outputs)
    json_lines = [line for line in printed.splitlines() if line.startswith("{") and '"level"' in line]
    assert json_lines and all(json.loads(line)["logger"] for line in json_lines), "JSON log lines were printed"
    sf.faults.add("status", 1, status=401, body='[{"errorCode":"INVALID_SESSION_ID","message":"expired"}]')
    rig.monkeypatch.setenv("CRMSYNC_RIG_SF_CLIENT_SECRET", WRONG_SECRET)
    sf.expire_tokens()
    failed = runner.invoke(cli, [*base, "sync", "customers"])
    assert failed.exit_code != 0
    printed += failed.output + failed.stderr
    _assert_clean(_secrets(sf, sap), printed=printed, config_file=text, state=_dump_state(rig.state_url))


def test_a_token_with_crlf_is_a_clear_config_error_that_does_not_echo_it(rig: Rig,
                                                                       caplog: pytest.LogCaptureFixture) -> None:
    token = "SeCrEt-Token-5d2a91\r\nX-Injected: 1"
    rig.salesforce()
    options = rig.endpoints["sf"]["options"]
    options.pop("client_secret")
    options.update(auth="token", access_token=rig._secret("sf_token", token))
    rig.memory()
    caplog.set_level(logging.DEBUG)
    with pytest.raises(ConfigError) as caught:
        rig.run()
    error = "".join(traceback.format_exception(caught.value))
    _assert_clean(["SeCrEt-Token-5d2a91"], error=error, logs=caplog.text, state=_dump_state(rig.state_url))
