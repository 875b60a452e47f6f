"""crmsync's Salesforce plugin: the ``salesforce`` connector and ``crmsync fake-server salesforce``.

Registered through the ``crmsync`` entry-point group like any third-party plugin. The connector
module (requests) and the fake server are imported only when the hooks run.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from crmsync.plugins import hookimpl

if TYPE_CHECKING:
    import click

    from crmsync.connector import Connector


@hookimpl
def register_connectors(register: Callable[[type[Connector]], None]) -> None:
    from crmsync_salesforce.connector import SalesforceConnector

    register(SalesforceConnector)


@hookimpl
def register_commands(cli: click.Group) -> None:
    group: Any = cli.commands.get("fake-server")
    if group is not None and hasattr(group, "add_command"):
        from crmsync_salesforce.cli import fake_salesforce_command

        group.add_command(fake_salesforce_command, name="salesforce")


__all__ = ["register_commands", "register_connectors"]
