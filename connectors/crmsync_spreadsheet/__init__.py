"""The built-in spreadsheet connector: CSV and XLSX files (or drop folders) as crmsync endpoints.

Registers :class:`~crmsync_spreadsheet.connector.SpreadsheetConnector` as ``spreadsheet``
through the ``crmsync`` entry-point group, like any third-party plugin. The connector module
(and openpyxl) is imported only when the host asks for connectors.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from crmsync.plugins import hookimpl

if TYPE_CHECKING:
    from crmsync.connector import Connector


@hookimpl
def register_connectors(register: Callable[[type[Connector]], None]) -> None:
    from crmsync_spreadsheet.connector import SpreadsheetConnector

    register(SpreadsheetConnector)


def __getattr__(name: str) -> Any:
    # `from crmsync_spreadsheet import SpreadsheetConnector` without importing it at plugin load.
    if name in ("SpreadsheetConnector", "ERROR_KEY"):
        from crmsync_spreadsheet import connector

        return getattr(connector, name)
    raise AttributeError(name)


__all__ = ["ERROR_KEY", "SpreadsheetConnector", "register_connectors"]
