"""Plugin registration and option checking."""

from __future__ import annotations

import pytest

from crmsync.connector import DELETE, READ, WRITE, EndpointContext
from crmsync.errors import ConfigError
from crmsync.plugins import create_host
from crmsync_spreadsheet import SpreadsheetConnector
from crmsync_spreadsheet.options import parse_options


def test_registered_through_the_entry_point():
    host = create_host()
    assert host.connector_class("spreadsheet") is SpreadsheetConnector
    assert SpreadsheetConnector.capabilities == frozenset({READ, WRITE, DELETE})
    assert SpreadsheetConnector.full_snapshot is True


def test_defaults(tmp_path):
    options = parse_options({"path": str(tmp_path / "c.csv")})
    assert (options.key_column, options.hub_id_column, options.encoding) == ("customer_id", "crmsync_id", "utf-8")
    assert (options.backup, options.keep_backups, options.mode, options.header_row) == (True, 5, "sync", 1)
    assert options.format_of(options.path) == "csv"


@pytest.mark.parametrize(("options", "message"), [
    ({}, "x.options.path: required"),
    ({"path": "c.csv", "delimter": ";"}, "x.options.delimter: unknown option"),
    ({"path": "c.csv", "encoding": "klingon"}, "unknown encoding 'klingon'"),
    ({"path": "c.csv", "fallback_encodings": ["cp1252", "nope"]}, "unknown encoding 'nope'"),
    ({"path": "c.csv", "delimiter": "ab"}, "expected one character"),
    ({"path": "c.csv", "header_row": 0}, "expected an integer >= 1"),
    ({"path": "c.csv", "backup": "yes"}, "expected true or false"),
    ({"path": "c.csv", "mode": "mirror"}, "expected one of sync, export"),
    ({"path": "c.csv", "hub_id_column": "customer_id"}, "must differ from key_column"),
    ({"path": "../../etc/passwd"}, "leads outside"),
    ({"path": "c.ods"}, "cannot tell the format"),
])
def test_bad_options_name_the_key(tmp_path, monkeypatch, options, message):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        context = EndpointContext(name="x", object="c", options=options)
        SpreadsheetConnector(context).options.format_of(SpreadsheetConnector(context).options.path)


def test_tab_delimiter_spellings(tmp_path):
    for spelling in ("\t", "tab", "\\t"):
        assert parse_options({"path": str(tmp_path / "c.csv"), "delimiter": spelling}).delimiter == "\t"


def test_relative_path_resolves_against_base_dir(tmp_path):
    options = parse_options({"path": "data/c.csv", "base_dir": str(tmp_path)})
    assert options.path == tmp_path / "data" / "c.csv"
