"""crmsync: two-way customer master data sync between SAP, Salesforce and spreadsheets.

The package is the host: it knows no vendor. Connectors and other plugins are loaded
through pluggy from the ``crmsync`` entry-point group (see :mod:`crmsync.plugins`).
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("crmsync")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0.0.0"

__all__ = ["__version__"]
