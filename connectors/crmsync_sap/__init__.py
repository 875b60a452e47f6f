"""Built-in SAP connectors: OData v2 (API_BUSINESS_PARTNER) and, when present, SOAP.

Owns the plugin registration: ``register_connectors`` adds :class:`SapODataConnector`
(``connector: sap-odata``) and, if its module is installed, the SOAP connector;
``register_commands`` adds ``crmsync fake-server sap-odata`` (and the SOAP fake's command).
Connector modules are imported inside the hooks so loading the plugin stays cheap.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from crmsync.plugins import hookimpl

log = logging.getLogger(__name__)


@hookimpl
def register_connectors(register: Callable[[type[Any]], None]) -> None:
    from crmsync_sap.odata import SapODataConnector

    register(SapODataConnector)
    try:
        from crmsync_sap.soap import SapSoapConnector  # type: ignore[import-not-found,unused-ignore]
    except ImportError as exc:
        log.debug("SAP SOAP connector not available: %s", exc)
    else:
        register(SapSoapConnector)


@hookimpl
def register_commands(cli: Any) -> None:
    group = cli.commands.get("fake-server") if hasattr(cli, "commands") else None
    if group is None:
        return
    from crmsync_sap.fake_odata import fake_odata_command

    group.add_command(fake_odata_command(), name="sap-odata")
    try:
        from crmsync_sap.fake_soap import fake_soap_command  # type: ignore[import-not-found,unused-ignore]
    except ImportError as exc:
        log.debug("SAP SOAP fake not available: %s", exc)
    else:
        group.add_command(_as_command(fake_soap_command), name="sap-soap")


def _as_command(obj: Any) -> Any:
    """A click command, whether ``obj`` is one or a factory returning one."""
    import click

    return obj if isinstance(obj, click.Command) else obj()
