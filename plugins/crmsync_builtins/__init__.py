"""Built-in non-connector plugins: the mapping converters and the conflict policies.

Registered through the ``crmsync`` entry-point group exactly like a third-party plugin.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from crmsync.plugins import hookimpl

if TYPE_CHECKING:
    from crmsync.mapping.converters import Converter
    from crmsync.merge import ConflictPolicy


@hookimpl
def register_converters(register: Callable[[Converter], None]) -> None:
    from crmsync.mapping.converters import BUILTIN_CONVERTERS

    for converter in BUILTIN_CONVERTERS:
        register(converter)


@hookimpl
def register_conflict_policies(register: Callable[[str, ConflictPolicy], None]) -> None:
    from crmsync.merge import BUILTIN_POLICIES

    for name, policy in BUILTIN_POLICIES.items():
        register(name, policy)
