"""Every crmsync hook, typed; each docstring is the hook's reference documentation.

Plugins implement hooks with ``@crmsync.plugins.hookimpl``. Registration hooks take a
``register`` callback so one plugin can contribute several things; the others are called
per record, per batch or per run. docs/plugins.md has a section per hook and
tests/test_hooks.py a test named after each; a test checks that both exist.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pluggy

from crmsync.errors import ErrorKind

if TYPE_CHECKING:
    import click

    from crmsync.connector import Connector
    from crmsync.mapping.converters import Converter
    from crmsync.merge import Conflict, ConflictPolicy, Resolution

hookspec = pluggy.HookspecMarker("crmsync")


@hookspec
def register_connectors(register: Callable[[type[Connector]], None]) -> None:
    """Contribute connector classes.

    Call ``register(ConnectorClass)`` once per class; ``ConnectorClass.name`` is the value of
    ``connector:`` in crmsync.yaml. Two plugins registering one name is an error at start-up.
    """


@hookspec
def register_converters(register: Callable[[Converter], None]) -> None:
    """Contribute mapping converters.

    Call ``register(Converter(...))`` per converter; its ``name`` is what mapping files write in
    ``convert:``. Built-in converters (trim, upper, map, date, phone_e164...) come this way too.
    """


@hookspec
def register_conflict_policies(register: Callable[[str, ConflictPolicy], None]) -> None:
    """Contribute conflict policies.

    Call ``register(name, policy)``; ``policy(conflict)`` returns a
    :class:`~crmsync.merge.Resolution` or ``None`` (hold the field in the conflict inbox).
    Pipelines name the policy in ``conflicts: {policy: NAME}``.
    """


@hookspec
def register_commands(cli: click.Group) -> None:
    """Add sub-commands to the ``crmsync`` command line: ``@cli.command()`` on your functions."""


@hookspec
def validate_record(record: dict[str, Any], endpoint: str) -> list[str]:
    """Check one mapped (canonical, flat) record read from ``endpoint``.

    Return a list of problems (empty when fine). A record with problems goes to dead letters
    with them as the reason and is not synced. Data-quality plugins implement this.
    """
    raise NotImplementedError


@hookspec(firstresult=True)
def match_customer(record: dict[str, Any], candidates: list[dict[str, Any]]) -> str | None:
    """Decide which hub customer an unbound incoming record is.

    ``record`` is the mapped canonical record; ``candidates`` are hub records (each with ``id``)
    found by the built-in rules (same tax id, same normalised name and country). Return a hub id,
    or ``None`` to let the next plugin or the built-in rules decide. First non-None answer wins.
    """


@hookspec(firstresult=True)
def resolve_conflict(conflict: Conflict) -> Resolution | None:
    """Resolve a field changed on two sides before the pipeline's policy is applied.

    Return a :class:`~crmsync.merge.Resolution` or ``None`` to fall through to the policy.
    """


@hookspec(firstresult=True)
def classify_error(error: BaseException, context: dict[str, Any]) -> ErrorKind | None:
    """Classify an exception raised by a connector call for the retry policy.

    ``context`` holds ``endpoint`` and ``operation``. Return an :class:`~crmsync.errors.ErrorKind`
    or ``None`` to let the built-in rules decide (crmsync errors carry their own kind).
    """


@hookspec
def sync_batch(batch: dict[str, Any]) -> None:
    """Around the write of one batch: implement it with ``@hookimpl(wrapper=True)`` and ``yield`` once.

    ``batch`` has ``run_id``, ``endpoint``, ``size``; after the ``yield`` it also has ``results``
    (``ok`` / ``failed`` counts). Metrics and audit plugins implement this.
    """


@hookspec
def sync_finished(run: dict[str, Any]) -> None:
    """Called once when a run ends, with its summary (id, pipeline, status, counts per endpoint).

    Reports and notifications implement this. Exceptions raised here are logged, not fatal.
    """
