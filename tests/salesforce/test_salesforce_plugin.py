"""The plugin registers the connector and the ``fake-server salesforce`` command."""

from __future__ import annotations

import json

import click
from click.testing import CliRunner

import crmsync_salesforce
from crmsync.plugins import create_host
from crmsync_salesforce.cli import fake_salesforce_command
from crmsync_salesforce.connector import SalesforceConnector


def test_connector_registered_through_entry_point():
    host = create_host()
    assert host.connector_class("salesforce") is SalesforceConnector
    assert SalesforceConnector.objects == ("Account", "Contact")
    assert SalesforceConnector.capabilities == {"read", "write", "delete", "bulk"}


def test_command_added_to_fake_server_group():
    cli = click.Group("crmsync")
    group = click.Group("fake-server")
    cli.add_command(group)
    crmsync_salesforce.register_commands(cli=cli)
    assert group.commands["salesforce"] is fake_salesforce_command
    crmsync_salesforce.register_commands(cli=click.Group("bare"))  # no group: nothing happens


def test_command_prints_info_line(monkeypatch):
    seen = {}

    def fake_serve(server, echo=None):
        server.start()
        try:
            echo(json.dumps(server.info()))
            seen["records"] = len(server.records)
        finally:
            server.stop()

    monkeypatch.setattr("crmsync_salesforce.cli.serve_until_stopped", fake_serve)
    result = CliRunner().invoke(fake_salesforce_command, ["--records", "25", "--seed", "3"])
    assert result.exit_code == 0, result.output
    info = json.loads(result.output)
    assert info["url"].startswith("http://127.0.0.1:") and {"client_id", "client_secret", "access_token"} <= set(info)
    assert seen["records"] == 25
