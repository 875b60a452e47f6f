"""Hostile configuration and mapping files, and hostile XML from a SOAP service."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from sync_rig import MAPPINGS, Rig

from crmsync.cli import cli
from crmsync.config import load_config
from crmsync.errors import ConfigError, MappingError, PermanentError
from crmsync.mapping import check_mapping, compile_mapping
from crmsync.plugins import get_host
from crmsync_sap.fake_soap import FakeSapSoap

PWNED = "!!python/object/apply:os.system ['touch {marker}']"

XXE = """<?xml version="1.0"?>
<!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<soap-env:Envelope xmlns:soap-env="http://schemas.xmlsoap.org/soap/envelope/"><soap-env:Body>
<n0:CustomerByElementsResponse_sync xmlns:n0="http://sap.com/xi/SAPGlobal20/Global">
<Customer><InternalID>1</InternalID><CategoryCode>2</CategoryCode><Organisation><FirstLineName>&xxe;</FirstLineName>
</Organisation><LastChangeDateTime>2026-01-01T00:00:00Z</LastChangeDateTime></Customer><Log/>
</n0:CustomerByElementsResponse_sync></soap-env:Body></soap-env:Envelope>"""
LAUGHS = XXE.replace('<!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>', """<!DOCTYPE r [
 <!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">
 <!ENTITY xxe "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">]>""")


def _config_text(tmp_path: Path, endpoint_extra: str = "", mapping: str = "memory.yaml") -> str:
    return f"""\
state: {{url: "sqlite:///{tmp_path / 'state.db'}"}}
endpoints:
  a: {{connector: spreadsheet, object: customers, mapping: {mapping}, options: {{path: a.csv}}{endpoint_extra}}}
  b: {{connector: spreadsheet, object: customers, mapping: spreadsheet_customers.yaml, options: {{path: b.csv}}}}
pipelines:
  customers: {{endpoints: [a, b]}}
"""


def test_python_object_tags_in_the_config_are_refused_and_never_run(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    config = tmp_path / "crmsync.yaml"
    config.write_text(_config_text(tmp_path).replace("customers: {endpoints: [a, b]}",
                                                     f"customers: {PWNED.format(marker=marker)}"), encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(config)
    result = CliRunner().invoke(cli, ["-c", str(config), "sync", "customers"])
    assert result.exit_code == 2, result.output
    assert not marker.exists(), "the tag was never constructed"


def test_python_object_tags_in_a_mapping_are_refused_and_never_run(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    mapping = tmp_path / "evil.yaml"
    mapping.write_text("connector: memory\nobject: customers\nkey: id\nfields:\n"
                       f"  organization_name: {PWNED.format(marker=marker)}\n", encoding="utf-8")
    with pytest.raises(MappingError, match="python/object"):
        compile_mapping(mapping, get_host().converters)
    problems = check_mapping(mapping)
    assert any("python/object" in str(p) for p in problems)
    result = CliRunner().invoke(cli, ["mappings", "check", str(mapping)])
    assert result.exit_code == 2 and "python/object" in result.output
    assert not marker.exists()
    with pytest.raises(yaml.YAMLError):  # and the plain-data loader would not build it either
        yaml.safe_load(mapping.read_text(encoding="utf-8"))


@pytest.mark.parametrize(("extra", "mapping", "where"), [
    ("", "../../etc/passwd", "endpoints.a.mapping"),
    (", retry: {max_attempts: 1}", "../../../../../../etc/passwd", "endpoints.a.mapping"),
], ids=["mapping", "deep-mapping"])
def test_a_mapping_path_leaving_the_config_folder_is_refused(tmp_path: Path, extra: str, mapping: str,
                                                            where: str) -> None:
    config = tmp_path / "crmsync.yaml"
    config.write_text(_config_text(tmp_path, extra, mapping=mapping), encoding="utf-8")
    with pytest.raises(ConfigError, match="leaves the configuration folder") as caught:
        load_config(config)
    assert where in str(caught.value) and "root:" not in str(caught.value)


@pytest.mark.parametrize("option", ["path", "private_key_file"])
def test_an_option_path_leaving_the_config_folder_is_refused(tmp_path: Path, option: str) -> None:
    config = tmp_path / "crmsync.yaml"
    text = _config_text(tmp_path, mapping=str(MAPPINGS / "spreadsheet_customers.yaml"))
    text = text.replace("options: {path: a.csv}", f"options: {{path: a.csv, {option}: ../../etc/passwd}}")
    config.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match="leaves the configuration folder") as caught:
        load_config(config)
    assert f"endpoints.a.options.{option}" in str(caught.value)


def test_a_mapping_that_names_a_missing_field_is_reported_by_mappings_check(tmp_path: Path) -> None:
    mapping = tmp_path / "typo.yaml"
    mapping.write_text("connector: memory\nobject: customers\nkey: id\nfields:\n"
                       "  organization_name: {source: name}\n  organisation_nmae: {source: nmae}\n",
                       encoding="utf-8")
    result = CliRunner().invoke(cli, ["mappings", "check", str(mapping)])
    assert result.exit_code == 2, result.output
    assert "organisation_nmae" in result.output and "typo.yaml" in result.output


def test_a_mapping_source_field_the_endpoint_lacks_is_reported_by_check(rig: Rig, tmp_path: Path) -> None:
    sf = rig.salesforce()
    mapping = tmp_path / "salesforce_typo.yaml"
    mapping.write_text((MAPPINGS / "salesforce_account.yaml").read_text(encoding="utf-8")
                       .replace("source: Website", "source: Webseite__c"), encoding="utf-8")
    rig.endpoints["sf"]["mapping"] = str(mapping)
    rig.sheet()
    config = tmp_path / "crmsync.yaml"
    config.write_text(yaml.safe_dump({"state": {"url": rig.state_url}, "endpoints": rig.endpoints,
                                      "pipelines": {"customers": {"endpoints": ["sf", "sheet"]}}}),
                      encoding="utf-8")
    result = CliRunner().invoke(cli, ["-c", str(config), "check"])
    assert result.exit_code == 2, result.output
    assert "Webseite__c" in result.output
    assert sf.find() == []


@pytest.mark.parametrize("body", [XXE, LAUGHS], ids=["xxe", "billion-laughs"])
def test_soap_entity_attacks_are_refused_by_an_engine_run(rig: Rig, body: str) -> None:
    soap = FakeSapSoap()
    soap.start()
    rig.fakes.append(soap)
    info = soap.info()
    rig.endpoints["soap"] = {
        "connector": "sap-soap", "object": "Customer", "mapping": str(MAPPINGS / "sap_soap_customer.yaml"),
        "retry": {"max_attempts": 3, "initial_wait": 0.01},
        "options": {"endpoint_url": info["url"], "username": info["username"],
                    "password": rig._secret("soap_password", info["password"])},
    }
    mem = rig.memory()
    soap.faults.add("status", 5, status=200, body=body, headers={"Content-Type": "text/xml"})
    with pytest.raises(PermanentError, match="DTD") as caught:
        rig.run()
    assert "root:" not in str(caught.value) and not rig.sleeps, "refused at once, never retried"
    assert rig.hub_count() == 0 and not mem.records
    for table_rows in (rig.dead(), rig.hubs()):
        assert "root:" not in repr(table_rows)
