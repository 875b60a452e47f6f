"""The plugin host: entry points, broken plugins, disabling, and the built-ins registered like third parties."""

from __future__ import annotations

import importlib.metadata
import sys
import types
from pathlib import Path
from typing import Any

import pytest

from crmsync.plugins import create_host, hookimpl


class _FakeDist:
    name = "crmsync-thirdparty"
    version = "9.9"


def _entry_point(name: str, module: str) -> Any:
    ep = importlib.metadata.EntryPoint(name=name, value=module, group="crmsync")
    object.__setattr__(ep, "dist", _FakeDist())
    return ep


@pytest.fixture
def third_party(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two extra entry points: one good plugin module, one that fails to import."""
    good = types.ModuleType("crmsync_test_goodplugin")

    class EchoConnector:
        name = "echo"
        objects = ()
        capabilities = frozenset({"read"})

    @hookimpl
    def register_connectors(register: Any) -> None:
        register(EchoConnector)

    good.register_connectors = register_connectors  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "crmsync_test_goodplugin", good)
    real = importlib.metadata.entry_points

    def entry_points(**kwargs: Any) -> Any:
        found = list(real(**kwargs))
        if kwargs.get("group") == "crmsync":
            found += [_entry_point("goodplugin", "crmsync_test_goodplugin"),
                      _entry_point("brokenplugin", "crmsync_test_does_not_exist")]
        return found

    monkeypatch.setattr(importlib.metadata, "entry_points", entry_points)


def test_builtin_plugins_load_from_the_entry_point_group() -> None:
    host = create_host()
    names = {p.name: p for p in host.plugins}
    assert {"builtins", "salesforce", "sap", "spreadsheet"} <= set(names)
    assert all(names[n].distribution == "crmsync" for n in ("builtins", "salesforce", "sap", "spreadsheet"))
    assert {"trim", "decimal", "country_code", "phone"} <= set(host.converters)
    assert {"prefer", "latest", "manual"} <= set(host.conflict_policies)


def test_third_party_plugin_loads_and_a_broken_one_is_reported(third_party: None) -> None:
    host = create_host()
    info = {p.name: p for p in host.plugins}
    assert info["goodplugin"].error is None and info["goodplugin"].version == "9.9"
    assert "echo" in host.connectors
    assert info["brokenplugin"].error is not None
    assert "ModuleNotFoundError" in info["brokenplugin"].error
    assert "trim" in host.converters, "the other plugins still load"


def test_disabled_plugins_are_skipped(third_party: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRMSYNC_DISABLE_PLUGINS", "goodplugin, brokenplugin")
    host = create_host()
    info = {p.name: p for p in host.plugins}
    assert info["goodplugin"].disabled and info["brokenplugin"].disabled
    assert "echo" not in host.connectors


def test_unknown_connector_lists_the_installed_ones() -> None:
    from crmsync.errors import ConfigError

    with pytest.raises(ConfigError, match="installed connectors: .*spreadsheet"):
        create_host().connector_class("sharepoint")


def test_builtin_connectors_are_declared_as_entry_points_in_pyproject() -> None:
    text = (Path(__file__).parents[2] / "pyproject.toml").read_text()
    for line in ('salesforce = "crmsync_salesforce"', 'sap = "crmsync_sap"', 'spreadsheet = "crmsync_spreadsheet"',
                 'builtins = "crmsync_builtins"'):
        assert line in text
