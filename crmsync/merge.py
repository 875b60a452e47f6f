"""Per-field 3-way merge of an incoming record into the hub, with ownership and conflict policies.

For each field an endpoint delivers, three values meet: the *base* (what that endpoint held at
its last sync, from its snapshot), the *incoming* value, and the *hub* value. A field the
endpoint did not change is ignored; a change where the hub still holds the base flows into the
hub; a field changed on both sides to different values is a :class:`Conflict`, decided by the
``resolve_conflict`` hook, then the field's or pipeline's policy (``prefer``, ``latest``,
``manual``, or a plugin's). A field owned by another endpoint is not taken from a non-owner: the
edit is reported as rejected (and written back over when ownership is enforced).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from crmsync.canonical import normalize_value


@dataclass
class Side:
    """One side of a conflict: an endpoint's value and when it changed."""

    endpoint: str
    value: Any
    changed_at: dt.datetime | None = None


@dataclass
class Conflict:
    """A field changed on two sides to different values since their last sync."""

    hub_id: str
    field: str
    base: Any
    incoming: Side
    current: Side
    """The hub's value and the endpoint it came from."""
    prefer: Sequence[str] = ()
    """The pipeline's endpoint priority."""


@dataclass
class Resolution:
    """How a conflict was decided: the value to keep and which side won (or ``manual``)."""

    value: Any
    winner: str
    reason: str


ConflictPolicy = Callable[[Conflict], Resolution | None]


def prefer_policy(conflict: Conflict) -> Resolution | None:
    """The side whose endpoint comes first in the pipeline's ``prefer`` list wins."""
    order = list(conflict.prefer)

    def rank(side: Side) -> int:
        return order.index(side.endpoint) if side.endpoint in order else len(order)

    winner = min((conflict.incoming, conflict.current), key=rank)
    return Resolution(winner.value, winner.endpoint, f"prefer {winner.endpoint}")


def latest_policy(conflict: Conflict) -> Resolution | None:
    """The more recent change wins; equal or unknown times fall back to ``prefer``."""
    a, b = conflict.incoming, conflict.current
    if a.changed_at and b.changed_at and a.changed_at != b.changed_at:
        winner = a if a.changed_at > b.changed_at else b
        return Resolution(winner.value, winner.endpoint, f"latest change at {winner.endpoint}")
    return prefer_policy(conflict)


def manual_policy(conflict: Conflict) -> Resolution | None:
    """Hold the field; the conflict goes to the inbox (``crmsync conflicts``)."""
    return None


BUILTIN_POLICIES: dict[str, ConflictPolicy] = {
    "prefer": prefer_policy,
    "latest": latest_policy,
    "manual": manual_policy,
}


@dataclass
class MergeResult:
    """What merging one incoming record decided."""

    updates: dict[str, Any] = field(default_factory=dict)
    """Fields to set on the hub."""
    resolved: list[tuple[Conflict, Resolution]] = field(default_factory=list)
    held: list[Conflict] = field(default_factory=list)
    """Conflicts left for the inbox."""
    rejected: list[tuple[str, str]] = field(default_factory=list)
    """(field, owner) edits refused because another endpoint owns the field."""


def same(name: str, a: Any, b: Any) -> bool:
    return bool(normalize_value(name, a) == normalize_value(name, b))


def merge_record(
    *,
    hub_id: str,
    endpoint: str,
    incoming: Mapping[str, Any],
    base: Mapping[str, Any] | None,
    hub: Mapping[str, Any],
    hub_sources: Mapping[str, Sequence[Any]],
    fields: Collection[str],
    ownership: Mapping[str, str],
    prefer: Sequence[str],
    policy_for: Callable[[str], ConflictPolicy],
    resolve_hook: Callable[[Conflict], Resolution | None] | None = None,
    changed_at: dt.datetime | None = None,
) -> MergeResult:
    """Merge ``incoming`` from ``endpoint`` into ``hub``; ``base`` is ``None`` on first contact.

    ``hub_sources`` gives, per field, ``[endpoint, ISO change time, ...]`` of the hub's value (parsed
    only when a conflict needs it)."""
    result = MergeResult()
    for name in fields:
        new = incoming.get(name)
        current = hub.get(name)
        if same(name, new, current):
            continue
        first_contact = base is None
        if first_contact and normalize_value(name, new) is None:
            continue  # a record seen for the first time that lacks a value: it will receive the hub's
        if not first_contact and base is not None and same(name, new, base.get(name)):
            continue  # unchanged at the endpoint since its last sync
        owner = ownership.get(name)
        if owner is not None and owner != endpoint:
            result.rejected.append((name, owner))
            continue
        hub_unchanged = normalize_value(name, current) is None if first_contact else same(
            name, current, base.get(name) if base is not None else None)
        if owner == endpoint or hub_unchanged:
            result.updates[name] = new
            continue
        meta = hub_sources.get(name) or ("hub", None)
        source, at = meta[0], meta[1] if len(meta) > 1 else None
        source_at = dt.datetime.fromisoformat(at) if isinstance(at, str) and at else None
        conflict = Conflict(
            hub_id=hub_id, field=name, base=None if base is None else base.get(name),
            incoming=Side(endpoint, new, changed_at), current=Side(source, current, source_at), prefer=prefer,
        )
        resolution = resolve_hook(conflict) if resolve_hook else None
        if resolution is None:
            resolution = policy_for(name)(conflict)
        if resolution is None:
            result.held.append(conflict)
            continue
        result.resolved.append((conflict, resolution))
        if not same(name, resolution.value, current):
            result.updates[name] = resolution.value
    return result


__all__ = [
    "BUILTIN_POLICIES",
    "Conflict",
    "ConflictPolicy",
    "MergeResult",
    "Resolution",
    "Side",
    "latest_policy",
    "manual_policy",
    "merge_record",
    "prefer_policy",
]
