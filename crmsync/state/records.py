"""Reading and writing the state tables in bulk, inside a transaction the caller owns.

The engine stages one batch's changes in a :class:`BatchWrites` and flushes it with
:func:`flush` in the same transaction as the cursor, so a batch is recorded whole or not at all.
Hot paths use Core statements with executemany, never ORM objects per row.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from typing import Any

import marshmallow
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from crmsync.canonical import CANONICAL_FIELDS, CANONICAL_SCHEMA, from_json, to_json
from crmsync.errors import ConfigError
from crmsync.matching import hub_keys
from crmsync.state.schema import (
    audit,
    bindings,
    conflicts,
    cursors,
    dead_letters,
    hub_records,
    merged_ids,
    runs,
    snapshots,
)
from crmsync.state.store import dumps, loads

IN_CHUNK = 500  # bound parameters per IN (...) list, safe on every backend


@dataclass
class HubState:
    """A hub record being worked on."""

    id: str
    data: dict[str, Any]
    meta: dict[str, list[Any]]
    """field -> [source endpoint, changed at ISO, run id]"""
    rev: int
    is_new: bool = False
    dirty: bool = False


@dataclass
class Snapshot:
    """What one endpoint held of a hub record at its last sync."""

    endpoint: str
    hub_id: str
    data: dict[str, Any]
    payload_hash: str
    hub_rev: int
    etag: str | None = None


@dataclass
class BatchWrites:
    """Everything one batch changes, flushed in one transaction."""

    hubs: dict[str, HubState] = field(default_factory=dict)
    bindings: list[dict[str, Any]] = field(default_factory=list)
    dropped_bindings: list[tuple[str, str]] = field(default_factory=list)
    synced_ids: list[tuple[str, str]] = field(default_factory=list)
    """(endpoint, external id) read and merged fine: their older inbound dead letters are settled."""
    merged: list[dict[str, Any]] = field(default_factory=list)
    """merged_ids rows: (endpoint, external id) merged away -> the survivor's hub id."""
    moved: list[tuple[str, str, str]] = field(default_factory=list)
    """(endpoint, from hub id, to hub id): a binding and its snapshot handed to another hub record."""
    snapshots: dict[tuple[str, str], Snapshot] = field(default_factory=dict)
    audit: list[dict[str, Any]] = field(default_factory=list)
    dead_letters: list[dict[str, Any]] = field(default_factory=list)
    conflicts: list[dict[str, Any]] = field(default_factory=list)
    cursor: tuple[str, str, str | None] | None = None
    """(pipeline, endpoint, token) to store."""


def _chunks(values: Collection[str]) -> Iterable[list[str]]:
    items = list(values)
    for start in range(0, len(items), IN_CHUNK):
        yield items[start:start + IN_CHUNK]


def get_cursor(conn: Connection, pipeline: str, endpoint: str) -> str | None:
    row = conn.execute(sa.select(cursors.c.token).where(
        cursors.c.pipeline == pipeline, cursors.c.endpoint == endpoint)).first()
    return None if row is None else row.token


def bound_hubs(conn: Connection, endpoint: str, external_ids: Collection[str]) -> dict[str, str]:
    """external id -> hub id for ``endpoint``."""
    found: dict[str, str] = {}
    for part in _chunks(external_ids):
        rows = conn.execute(sa.select(bindings.c.external_id, bindings.c.hub_id).where(
            bindings.c.endpoint == endpoint, bindings.c.external_id.in_(part)))
        found.update({r.external_id: r.hub_id for r in rows})
    return found


def bound_external_ids(conn: Connection, endpoint: str) -> set[str]:
    """Every external id bound for ``endpoint`` (for reconciling a complete read)."""
    rows = conn.execute(sa.select(bindings.c.external_id).where(bindings.c.endpoint == endpoint))
    return {r.external_id for r in rows}


def tombstones(conn: Connection, endpoint: str, tombstone_hash: str) -> set[str]:
    """External ids of ``endpoint`` whose last snapshot is a tombstone (found missing and handled)."""
    rows = conn.execute(sa.select(bindings.c.external_id).join(
        snapshots, sa.and_(snapshots.c.hub_id == bindings.c.hub_id, snapshots.c.endpoint == bindings.c.endpoint))
        .where(bindings.c.endpoint == endpoint, snapshots.c.payload_hash == tombstone_hash))
    return {r.external_id for r in rows}


def external_ids(conn: Connection, hub_ids: Collection[str], endpoint: str | None = None) -> dict[str, dict[str, str]]:
    """hub id -> {endpoint: external id}."""
    found: dict[str, dict[str, str]] = {}
    for part in _chunks(hub_ids):
        query = sa.select(bindings).where(bindings.c.hub_id.in_(part))
        if endpoint is not None:
            query = query.where(bindings.c.endpoint == endpoint)
        for r in conn.execute(query):
            found.setdefault(r.hub_id, {})[r.endpoint] = r.external_id
    return found


def load_snapshots(conn: Connection, endpoint: str, hub_ids: Collection[str]) -> dict[str, Snapshot]:
    found: dict[str, Snapshot] = {}
    for part in _chunks(hub_ids):
        rows = conn.execute(sa.select(snapshots).where(
            snapshots.c.endpoint == endpoint, snapshots.c.hub_id.in_(part)))
        for r in rows:
            found[r.hub_id] = Snapshot(endpoint, r.hub_id, from_json(loads(r.data)), r.payload_hash, r.hub_rev, r.etag)
    return found


def _hub_from_row(r: Any) -> HubState:
    return HubState(r.id, from_json(loads(r.data)), loads(r.field_meta), r.rev)


def load_hubs(conn: Connection, hub_ids: Collection[str]) -> dict[str, HubState]:
    found: dict[str, HubState] = {}
    for part in _chunks(hub_ids):
        for r in conn.execute(sa.select(hub_records).where(hub_records.c.id.in_(part))):
            found[r.id] = _hub_from_row(r)
    return found


def match_candidates(conn: Connection, tax_keys: Collection[str], name_keys: Collection[str],
                     endpoint: str) -> list[HubState]:
    """Hub records sharing a tax key or a name key with the given ones and not bound in ``endpoint``."""
    clauses = []
    if tax_keys:
        clauses.append(hub_records.c.tax_key.in_(list(tax_keys)))
    if name_keys:
        clauses.append(hub_records.c.name_key.in_(list(name_keys)))
    if not clauses:
        return []
    already = sa.exists().where(bindings.c.hub_id == hub_records.c.id, bindings.c.endpoint == endpoint)
    query = sa.select(hub_records).where(sa.or_(*clauses), ~already)
    return [_hub_from_row(r) for r in conn.execute(query)]


def held_fields(conn: Connection, hub_ids: Collection[str]) -> dict[str, set[str]]:
    """hub id -> fields with an open conflict: they are not written anywhere until resolved."""
    found: dict[str, set[str]] = {}
    for part in _chunks(hub_ids):
        rows = conn.execute(sa.select(conflicts.c.hub_id, conflicts.c.field).where(
            conflicts.c.hub_id.in_(part), conflicts.c.status.in_(("open", "deferred"))))
        for r in rows:
            found.setdefault(r.hub_id, set()).add(r.field)
    return found


def pending_outbound(conn: Connection, endpoint: str, after: str, limit: int) -> list[tuple[HubState, Snapshot | None]]:
    """Hub records the endpoint has not caught up with, by hub id after ``after``.

    A record with an open outbound dead letter for the endpoint waits for `deadletters retry`.
    """
    snap = snapshots.alias("s")
    blocked = sa.select(dead_letters.c.hub_id).where(
        dead_letters.c.endpoint == endpoint, dead_letters.c.direction == "out",
        dead_letters.c.status == "open", dead_letters.c.hub_id.is_not(None))
    query = (
        sa.select(hub_records, snap.c.data.label("s_data"), snap.c.payload_hash, snap.c.hub_rev, snap.c.etag)
        .select_from(hub_records.outerjoin(snap, sa.and_(snap.c.hub_id == hub_records.c.id,
                                                          snap.c.endpoint == endpoint)))
        .where(hub_records.c.id > after)
        .where(sa.or_(snap.c.hub_id.is_(None), snap.c.hub_rev < hub_records.c.rev))
        .where(hub_records.c.id.not_in(blocked))
        .order_by(hub_records.c.id)
        .limit(limit)
    )
    out: list[tuple[HubState, Snapshot | None]] = []
    for r in conn.execute(query):
        hub = _hub_from_row(r)
        snapshot = None if r.s_data is None else Snapshot(
            endpoint, r.id, from_json(loads(r.s_data)), r.payload_hash, r.hub_rev, r.etag)
        out.append((hub, snapshot))
    return out


def resolve_conflict(conn: Connection, conflict_id: int, value: Any, winner: str, now: dt.datetime) -> dict[str, Any]:
    """Settle an open conflict by hand: set the hub field, audit it, and let the next run write it out."""
    row = conn.execute(sa.select(conflicts).where(conflicts.c.id == conflict_id)).first()
    if row is None or row.status not in ("open", "deferred"):
        raise ConfigError(f"no open conflict {conflict_id}; see `crmsync conflicts list`")
    try:  # the canonical type, checked: "true" becomes True for a flag, "Germany" is refused for a country
        if row.field in CANONICAL_FIELDS:
            loaded: Any = CANONICAL_SCHEMA.load({row.field: value})
            for part in row.field.split("."):  # marshmallow nests dotted names on load
                loaded = loaded[part]
            value = loaded
    except marshmallow.ValidationError as exc:
        raise ConfigError(f"{row.field}: {'; '.join(exc.messages_dict.get(row.field, ['invalid value']))}") from None
    hub = load_hubs(conn, [row.hub_id])[row.hub_id]
    run_id = f"manual_{now:%Y%m%dT%H%M%S}"
    audit_row = {"run_id": run_id, "hub_id": hub.id, "field": row.field, "source": f"manual:{winner}",
                 "target": None, "old": dumps(to_json({"v": hub.data.get(row.field)})["v"]),
                 "new": dumps(to_json({"v": value})["v"])}
    hub.data[row.field] = value
    hub.meta[row.field] = [f"manual:{winner}", now.isoformat(), run_id]
    hub.rev += 1
    hub.dirty = True
    flush(conn, BatchWrites(hubs={hub.id: hub}, audit=[audit_row]), now)
    conn.execute(sa.update(conflicts).where(conflicts.c.id == conflict_id).values(
        status="resolved", resolved_at=now, resolution=dumps({"value": to_json({"v": value})["v"], "winner": winner})))
    return {"hub_id": hub.id, "field": row.field, "value": value}


def revert_run(conn: Connection, run_id: str, pipeline: str, now: dt.datetime, *,
               apply: bool) -> list[dict[str, Any]]:
    """Undo the hub changes of ``run_id``: each field goes back to its value before the run, unless it
    changed again since, in which case it becomes a conflict. Returns the plan; ``apply`` performs it
    (the next run, or `--apply`, writes the restored values to every endpoint)."""
    rows = conn.execute(sa.select(audit).where(audit.c.run_id == run_id, audit.c.target.is_(None))
                        .order_by(audit.c.id.desc())).all()
    first_old: dict[tuple[str, str], Any] = {}
    last_new: dict[tuple[str, str], Any] = {}
    for r in rows:  # newest first: the oldest "old" and the newest "new" of each field win
        first_old[(r.hub_id, r.field)] = loads(r.old)
        last_new.setdefault((r.hub_id, r.field), loads(r.new))
    hubs = load_hubs(conn, {hub_id for hub_id, _ in first_old})
    plan: list[dict[str, Any]] = []
    writes = BatchWrites()
    revert_id = f"revert_{run_id}"[:64]
    for (hub_id, name), old in first_old.items():
        hub = hubs.get(hub_id)
        if hub is None:
            continue
        current = to_json({name: hub.data.get(name)})[name]
        changed_since = current != last_new[(hub_id, name)]
        plan.append({"hub_id": hub_id, "field": name, "restore": old, "current": current,
                     "action": "conflict" if changed_since else "restore"})
        if not apply:
            continue
        if changed_since:
            writes.conflicts.append({
                "pipeline": pipeline, "hub_id": hub_id, "field": name, "run_id": revert_id, "base": dumps(old),
                "sides": dumps({f"revert:{run_id}": {"value": old, "at": now.isoformat()},
                                (hub.meta.get(name) or ["hub"])[0]: {"value": current, "at": None}}),
            })
            continue
        writes.audit.append({"run_id": revert_id, "hub_id": hub_id, "field": name, "old": dumps(current),
                             "new": dumps(old), "source": f"revert:{run_id}", "target": None})
        hub.data[name] = from_json({name: old})[name]
        hub.meta[name] = [f"revert:{run_id}", now.isoformat(), revert_id]
        if not hub.dirty:
            hub.rev += 1
            hub.dirty = True
        writes.hubs[hub_id] = hub
    if apply:
        flush(conn, writes, now)
    return plan


def defer_conflict(conn: Connection, conflict_id: int) -> bool:
    """Keep holding the field, out of the open list."""
    result = conn.execute(sa.update(conflicts).where(conflicts.c.id == conflict_id, conflicts.c.status == "open")
                          .values(status="deferred"))
    return bool(result.rowcount)


def last_mapping_hashes(conn: Connection, pipeline: str) -> dict[str, str] | None:
    """Mapping hashes of the pipeline's last finished run (``None`` before the first one)."""
    row = conn.execute(sa.select(runs.c.mapping_hashes).where(
        runs.c.pipeline == pipeline, runs.c.status.in_(("ok", "rejected"))).order_by(runs.c.started_at.desc())
        .limit(1)).first()
    return None if row is None else dict(loads(row.mapping_hashes))


def recheck_endpoint(conn: Connection, endpoint: str) -> None:
    """Make every hub record pending for ``endpoint`` again (its mapping changed) without losing what
    it holds: outbound diffs against the snapshots decide what is really written."""
    conn.execute(sa.update(snapshots).where(snapshots.c.endpoint == endpoint).values(hub_rev=-1))


def take_retries(conn: Connection, pipeline: str, endpoint: str, direction: str,
                 now: dt.datetime) -> list[dict[str, Any]]:
    """Dead letters queued by `crmsync deadletters retry`, marked retried (a new failure makes a new one)."""
    rows = conn.execute(sa.select(dead_letters).where(
        dead_letters.c.pipeline == pipeline, dead_letters.c.endpoint == endpoint,
        dead_letters.c.direction == direction, dead_letters.c.status == "retry").order_by(dead_letters.c.id)).all()
    if rows:
        conn.execute(sa.update(dead_letters).where(dead_letters.c.id.in_([r.id for r in rows]))
                     .values(status="retried", updated_at=now))
    return [{"external_id": r.external_id, "payload": loads(r.payload), "attempts": r.attempts} for r in rows]


def flush(conn: Connection, writes: BatchWrites, now: dt.datetime) -> None:
    """Write a staged batch. The caller's transaction makes it all-or-nothing."""
    new = [h for h in writes.hubs.values() if h.is_new]
    changed = [h for h in writes.hubs.values() if h.dirty and not h.is_new]
    if new:
        conn.execute(sa.insert(hub_records), [
            {"id": h.id, "data": dumps(to_json(h.data)), "field_meta": dumps(h.meta), "rev": h.rev,
             "created_at": now, "updated_at": now, **hub_keys(h.data)} for h in new])
    if changed:
        conn.execute(
            sa.update(hub_records).where(hub_records.c.id == sa.bindparam("h_id")).values(
                data=sa.bindparam("data"), field_meta=sa.bindparam("field_meta"), rev=sa.bindparam("rev"),
                tax_key=sa.bindparam("tax_key"), name_key=sa.bindparam("name_key"), updated_at=now),
            [{"h_id": h.id, "data": dumps(to_json(h.data)), "field_meta": dumps(h.meta), "rev": h.rev,
              **hub_keys(h.data)} for h in changed])
    if writes.merged:
        for row in writes.merged:
            conn.execute(sa.delete(merged_ids).where(merged_ids.c.endpoint == row["endpoint"],
                                                     merged_ids.c.external_id == row["external_id"]))
        conn.execute(sa.insert(merged_ids), [{**row, "merged_at": now} for row in writes.merged])
    for endpoint, old_hub, new_hub in writes.moved:
        conn.execute(sa.update(bindings).where(bindings.c.endpoint == endpoint, bindings.c.hub_id == old_hub)
                     .values(hub_id=new_hub))
        conn.execute(sa.update(snapshots).where(snapshots.c.endpoint == endpoint, snapshots.c.hub_id == old_hub)
                     .values(hub_id=new_hub, hub_rev=0))  # re-check the moved record against its new hub
    for endpoint, external_id in writes.dropped_bindings:
        conn.execute(sa.delete(bindings).where(bindings.c.endpoint == endpoint,
                                               bindings.c.external_id == external_id))
    if writes.bindings:
        conn.execute(sa.insert(bindings), [{**b, "created_at": now} for b in writes.bindings])
    if writes.snapshots:
        by_endpoint: dict[str, list[str]] = {}
        for endpoint, hub_id in writes.snapshots:
            by_endpoint.setdefault(endpoint, []).append(hub_id)
        for endpoint, hub_ids in by_endpoint.items():
            for part in _chunks(hub_ids):
                conn.execute(sa.delete(snapshots).where(snapshots.c.endpoint == endpoint,
                                                        snapshots.c.hub_id.in_(part)))
        conn.execute(sa.insert(snapshots), [
            {"endpoint": s.endpoint, "hub_id": s.hub_id, "data": dumps(to_json(s.data)),
             "payload_hash": s.payload_hash, "hub_rev": s.hub_rev, "etag": s.etag, "updated_at": now}
            for s in writes.snapshots.values()])
    if writes.audit:
        conn.execute(sa.insert(audit), [{**a, "at": now} for a in writes.audit])
    by_endpoint_ids: dict[str, list[str]] = {}
    for endpoint, external_id in writes.synced_ids:
        by_endpoint_ids.setdefault(endpoint, []).append(external_id)
    for endpoint, ids in by_endpoint_ids.items():
        for part in _chunks(ids):  # a later good version settles an older bad one
            conn.execute(sa.update(dead_letters).where(
                dead_letters.c.endpoint == endpoint, dead_letters.c.direction == "in",
                dead_letters.c.external_id.in_(part), dead_letters.c.status.in_(("open", "retry")),
            ).values(status="superseded", updated_at=now))
    if writes.dead_letters:
        conn.execute(sa.insert(dead_letters), [
            {"attempts": 1, "status": "open", "created_at": now, "updated_at": now, **d} for d in writes.dead_letters])
    if writes.conflicts:
        for c in writes.conflicts:
            conn.execute(sa.update(conflicts).where(
                conflicts.c.hub_id == c["hub_id"], conflicts.c.field == c["field"],
                conflicts.c.pipeline == c["pipeline"], conflicts.c.status.in_(("open", "deferred")),
            ).values(status="superseded", resolved_at=now))
        conn.execute(sa.insert(conflicts), [{"status": "open", "created_at": now, **c} for c in writes.conflicts])
    if writes.cursor is not None:
        pipeline, endpoint, token = writes.cursor
        conn.execute(sa.delete(cursors).where(cursors.c.pipeline == pipeline, cursors.c.endpoint == endpoint))
        conn.execute(sa.insert(cursors).values(pipeline=pipeline, endpoint=endpoint, token=token, updated_at=now))


__all__ = [
    "BatchWrites",
    "HubState",
    "Snapshot",
    "bound_external_ids",
    "bound_hubs",
    "defer_conflict",
    "external_ids",
    "flush",
    "get_cursor",
    "held_fields",
    "last_mapping_hashes",
    "load_hubs",
    "load_snapshots",
    "match_candidates",
    "pending_outbound",
    "recheck_endpoint",
    "resolve_conflict",
    "revert_run",
    "take_retries",
    "tombstones",
]
