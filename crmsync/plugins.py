"""The plugin host: builds the pluggy PluginManager and loads every plugin from entry points.

Built-in plugins (connectors, converters, policies) are declared in the ``crmsync``
entry-point group of crmsync's own pyproject.toml, exactly as a third-party plugin declares
itself, and are loaded the same way. A plugin that fails to import is reported (name and
error) and the others still load. ``CRMSYNC_DISABLE_PLUGINS=a,b`` skips the named ones.
"""

from __future__ import annotations

import functools
import importlib.metadata
import logging
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pluggy

from crmsync import hookspecs
from crmsync.errors import ConfigError

if TYPE_CHECKING:
    from crmsync.connector import Connector
    from crmsync.mapping.converters import Converter
    from crmsync.merge import ConflictPolicy

log = logging.getLogger(__name__)

PROJECT = "crmsync"
hookimpl = pluggy.HookimplMarker(PROJECT)


@dataclass(frozen=True)
class PluginInfo:
    """A plugin as found in the entry-point group."""

    name: str
    module: str
    distribution: str
    version: str
    error: str | None = None
    disabled: bool = False


@dataclass
class PluginHost:
    """The PluginManager with what it loaded and what it could not load."""

    pm: pluggy.PluginManager
    plugins: list[PluginInfo] = field(default_factory=list)

    @property
    def hook(self) -> pluggy.HookRelay:
        return self.pm.hook

    @functools.cached_property
    def connectors(self) -> dict[str, type[Connector]]:
        """Connector classes by their ``name``."""
        found: dict[str, type[Connector]] = {}

        def register(cls: type[Connector]) -> None:
            if cls.name in found and found[cls.name] is not cls:
                raise ConfigError(f"two plugins register connector {cls.name!r}")
            found[cls.name] = cls

        self.pm.hook.register_connectors(register=register)
        return found

    @functools.cached_property
    def converters(self) -> dict[str, Converter]:
        """Mapping converters by name."""
        found: dict[str, Converter] = {}

        def register(converter: Converter) -> None:
            if converter.name in found:
                raise ConfigError(f"two plugins register converter {converter.name!r}")
            found[converter.name] = converter

        self.pm.hook.register_converters(register=register)
        return found

    @functools.cached_property
    def conflict_policies(self) -> dict[str, ConflictPolicy]:
        """Conflict policies by name."""
        found: dict[str, ConflictPolicy] = {}

        def register(name: str, policy: ConflictPolicy) -> None:
            found[name] = policy

        self.pm.hook.register_conflict_policies(register=register)
        return found

    def connector_class(self, name: str) -> type[Connector]:
        """The connector registered as ``name``, or a ConfigError listing the known ones."""
        try:
            return self.connectors[name]
        except KeyError:
            known = ", ".join(sorted(self.connectors)) or "none"
            raise ConfigError(f"unknown connector {name!r}; installed connectors: {known}") from None


def _disabled() -> set[str]:
    return {n.strip() for n in os.environ.get("CRMSYNC_DISABLE_PLUGINS", "").split(",") if n.strip()}


def create_host(extra_plugins: tuple[object, ...] = ()) -> PluginHost:
    """A new PluginManager with every entry-point plugin loaded, plus ``extra_plugins``."""
    pm = pluggy.PluginManager(PROJECT)
    pm.add_hookspecs(hookspecs)
    host = PluginHost(pm)
    disabled = _disabled()
    for ep in sorted(importlib.metadata.entry_points(group=PROJECT), key=lambda e: e.name):
        dist = ep.dist.name if ep.dist else "?"
        version = ep.dist.version if ep.dist else "?"
        if ep.name in disabled:
            host.plugins.append(PluginInfo(ep.name, ep.value, dist, version, disabled=True))
            continue
        if pm.has_plugin(ep.name):
            continue  # the same distribution seen twice on sys.path
        try:
            plugin = ep.load()
            pm.register(plugin, name=ep.name)
        except Exception as exc:  # a broken plugin must not stop the others
            message = f"{type(exc).__name__}: {exc}"
            log.error("plugin %r (%s) failed to load: %s", ep.name, ep.value, message)
            host.plugins.append(PluginInfo(ep.name, ep.value, dist, version, error=message))
            continue
        host.plugins.append(PluginInfo(ep.name, ep.value, dist, version))
    for plugin in extra_plugins:
        pm.register(plugin)
    return host


@functools.cache
def get_host() -> PluginHost:
    """The process-wide plugin host (built on first use)."""
    return create_host()


__all__ = ["PluginHost", "PluginInfo", "create_host", "get_host", "hookimpl"]
