"""Read-only views of the state for people: run history, a customer's history, the 360-degree view,
dead letters and the conflict inbox. The CLI renders them; nothing here writes except the
small status changes of dead letters and conflicts that their commands ask for.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from crmsync.canonical import from_json
from crmsync.state.schema import (
    audit,
    bindings,
    conflicts,
    dead_letters,
    hub_records,
    merged_ids,
    runs,
    snapshots,
)
from crmsync.state.store import loads


def list_runs(conn: Connection, pipeline: str | None = None, limit: int = 20) -> list[dict[str, Any]]:
    query = sa.select(runs).order_by(runs.c.started_at.desc()).limit(limit)
    if pipeline:
        query = query.where(runs.c.pipeline == pipeline)
    return [_run(r) for r in conn.execute(query)]


def get_run(conn: Connection, run_id: str) -> dict[str, Any] | None:
    row = conn.execute(sa.select(runs).where(runs.c.id == run_id)).first()
    if row is None:
        return None
    run = _run(row)
    run["dead_letters"] = conn.execute(sa.select(sa.func.count()).select_from(dead_letters)
                                       .where(dead_letters.c.run_id == run_id)).scalar_one()
    run["conflicts"] = conn.execute(sa.select(sa.func.count()).select_from(conflicts)
                                    .where(conflicts.c.run_id == run_id)).scalar_one()
    return run


def _run(r: Any) -> dict[str, Any]:
    started = _aware(r.started_at)
    finished = _aware(r.finished_at) if r.finished_at else None
    counts = loads(r.counts) or {}
    duration = (finished - started).total_seconds() if finished else None
    read = sum(c.get("read", 0) for c in counts.values())
    return {
        "id": r.id, "pipeline": r.pipeline, "status": r.status, "started_at": started, "finished_at": finished,
        "duration_s": duration, "counts": counts, "api_calls": loads(r.api_calls) or {},
        "mapping_hashes": loads(r.mapping_hashes) or {}, "error": r.error,
        "records_per_s": round(read / duration, 1) if duration else None,
    }


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def resolve_customer(conn: Connection, ident: str) -> str | None:
    """A hub id from a hub id or any endpoint's external id."""
    if conn.execute(sa.select(hub_records.c.id).where(hub_records.c.id == ident)).first():
        return ident
    row = conn.execute(sa.select(bindings.c.hub_id).where(bindings.c.external_id == ident)).first()
    if row is None:  # a record merged away resolves to the customer it was merged into
        row = conn.execute(sa.select(merged_ids.c.hub_id).where(merged_ids.c.external_id == ident)).first()
    return None if row is None else str(row.hub_id)


def customer_view(conn: Connection, hub_id: str) -> dict[str, Any]:
    """The 360-degree view: hub values with source and time per field, ids, conflicts, dead letters."""
    row = conn.execute(sa.select(hub_records).where(hub_records.c.id == hub_id)).one()
    data = from_json(loads(row.data))
    meta = loads(row.field_meta)
    ids = {b.endpoint: b.external_id for b in conn.execute(sa.select(bindings).where(bindings.c.hub_id == hub_id))}
    synced = {s.endpoint: {"hub_rev": s.hub_rev, "updated_at": _aware(s.updated_at)}
              for s in conn.execute(sa.select(snapshots).where(snapshots.c.hub_id == hub_id))}
    open_conflicts = [_conflict(c) for c in conn.execute(
        sa.select(conflicts).where(conflicts.c.hub_id == hub_id, conflicts.c.status.in_(("open", "deferred"))))]
    letters = [_letter(d) for d in conn.execute(
        sa.select(dead_letters).where(dead_letters.c.hub_id == hub_id, dead_letters.c.status == "open"))]
    return {
        "id": hub_id, "rev": row.rev, "fields": {k: {"value": v, "source": meta.get(k, [None])[0],
                                                      "at": meta.get(k, [None, None])[1]} for k, v in data.items()},
        "external_ids": ids, "endpoints": synced, "conflicts": open_conflicts, "dead_letters": letters,
    }


def history(conn: Connection, hub_id: str) -> list[dict[str, Any]]:
    rows = conn.execute(sa.select(audit).where(audit.c.hub_id == hub_id).order_by(audit.c.id))
    return [{"run_id": r.run_id, "field": r.field, "old": loads(r.old), "new": loads(r.new), "source": r.source,
             "target": r.target, "at": _aware(r.at)} for r in rows]


def list_dead_letters(conn: Connection, status: str = "open", endpoint: str | None = None,
                      limit: int = 100) -> list[dict[str, Any]]:
    query = sa.select(dead_letters).order_by(dead_letters.c.id).limit(limit)
    if status != "all":
        query = query.where(dead_letters.c.status == status)
    if endpoint:
        query = query.where(dead_letters.c.endpoint == endpoint)
    return [_letter(d) for d in conn.execute(query)]


def get_dead_letter(conn: Connection, letter_id: int) -> dict[str, Any] | None:
    row = conn.execute(sa.select(dead_letters).where(dead_letters.c.id == letter_id)).first()
    return None if row is None else _letter(row)


def set_dead_letter_status(conn: Connection, letter_ids: list[int], status: str) -> int:
    result = conn.execute(sa.update(dead_letters).where(dead_letters.c.id.in_(letter_ids),
                                                        dead_letters.c.status == "open")
                          .values(status=status, updated_at=dt.datetime.now(dt.UTC)))
    return int(result.rowcount)


def _letter(d: Any) -> dict[str, Any]:
    return {"id": d.id, "run_id": d.run_id, "pipeline": d.pipeline, "endpoint": d.endpoint,
            "direction": d.direction, "external_id": d.external_id, "hub_id": d.hub_id,
            "payload": loads(d.payload), "error": d.error, "problems": loads(d.problems), "attempts": d.attempts,
            "status": d.status, "created_at": _aware(d.created_at)}


def list_conflicts(conn: Connection, status: str = "open") -> list[dict[str, Any]]:
    query = sa.select(conflicts).order_by(conflicts.c.id)
    if status != "all":
        query = query.where(conflicts.c.status == status)
    return [_conflict(c) for c in conn.execute(query)]


def get_conflict(conn: Connection, conflict_id: int) -> dict[str, Any] | None:
    row = conn.execute(sa.select(conflicts).where(conflicts.c.id == conflict_id)).first()
    return None if row is None else _conflict(row)


def _conflict(c: Any) -> dict[str, Any]:
    return {"id": c.id, "pipeline": c.pipeline, "hub_id": c.hub_id, "field": c.field, "base": loads(c.base),
            "sides": loads(c.sides), "status": c.status, "resolution": loads(c.resolution), "run_id": c.run_id,
            "created_at": _aware(c.created_at)}


__all__ = [
    "customer_view",
    "get_conflict",
    "get_dead_letter",
    "get_run",
    "history",
    "list_conflicts",
    "list_dead_letters",
    "list_runs",
    "resolve_customer",
    "set_dead_letter_status",
]
