"""One sync run of a pipeline: read -> map -> match -> merge -> plan -> write -> commit.

Inbound, per endpoint: records changed since the endpoint's cursor are read as a stream in
chunks; a record whose raw payload hash equals the stored one is skipped before mapping; the
rest are mapped, validated, matched to a hub record (binding, then the ``match_customer`` hook,
then tax id / name + country), merged field by field (:mod:`crmsync.merge`), and the chunk's
hub changes, bindings, snapshots, audit rows, dead letters, conflicts and the cursor after its
last record are written in ONE transaction.

Outbound, per endpoint that can write: hub records whose revision is ahead of what the endpoint
last held are diffed against its snapshot, mapped out, written in the connector's batch size,
and, after the endpoint acknowledged them, recorded in one transaction per batch. Writes are
upserts keyed by the hub id, so a batch repeated after a crash creates nothing twice.

A dry run does all of it inside one transaction that is rolled back, and calls no writer.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import itertools
import logging
import secrets
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, TypeVar

import orjson
from sqlalchemy.engine import Connection

from crmsync.canonical import normalize_value
from crmsync.config import Config, EndpointConfig, PipelineConfig
from crmsync.connector import (
    DELETE,
    WRITE,
    Connector,
    Cursor,
    EndpointContext,
    OutboundRecord,
    RawRecord,
    WriteResult,
)
from crmsync.errors import (
    ConfigError,
    ConnectorError,
    CrmsyncError,
    ErrorKind,
    MassDeleteError,
    RecordError,
    StateError,
)
from crmsync.logs import current_run_id
from crmsync.mapping import CompiledMapping, compile_mapping
from crmsync.matching import hub_keys
from crmsync.merge import ConflictPolicy, merge_record, same
from crmsync.plugins import PluginHost, get_host
from crmsync.retry import RetryPolicy
from crmsync.state import StateStore, dumps
from crmsync.state import records as db
from crmsync.state.records import BatchWrites, HubState, Snapshot
from crmsync.state.schema import runs
from crmsync.state.store import utcnow

log = logging.getLogger(__name__)
T = TypeVar("T")
READ_CHUNK = 500
METADATA_FIELDS = frozenset({"last_changed_at"})
"""Fields that describe a change rather than the customer: kept on the hub, never merged."""


GIVEN = "!"
"""Snapshot key prefix: the owner's value an endpoint was shown when its own edit of an owned field
was refused (without ``enforce_ownership`` its own value stays, until the owner changes)."""


def endpoint_value(snapshot: dict[str, Any], name: str) -> Any:
    """What to compare the hub with for ``name`` at an endpoint: its value, or the owner's value it was shown."""
    return snapshot[GIVEN + name] if GIVEN + name in snapshot else snapshot.get(name)


def payload_hash(payload: dict[str, Any]) -> str:
    """Hash of a raw payload, to skip unchanged records before mapping them."""
    return hashlib.sha256(orjson.dumps(payload, option=orjson.OPT_SORT_KEYS, default=str)).hexdigest()


TOMBSTONE = payload_hash({})
"""The payload hash of a record found missing from a complete read (already handled as deleted)."""


def new_hub_id() -> str:
    return "cus_" + secrets.token_hex(8)


def new_run_id(now: dt.datetime) -> str:
    return f"run_{now:%Y%m%dT%H%M%S}_{secrets.token_hex(3)}"


def chunked(items: Iterable[T], size: int) -> Iterator[list[T]]:
    iterator = iter(items)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


@dataclass
class Endpoint:
    """An endpoint opened for a run: its config, connector and compiled mapping."""

    config: EndpointConfig
    connector: Connector
    mapping: CompiledMapping

    @property
    def name(self) -> str:
        return self.config.name

    @functools.cached_property
    def inbound_fields(self) -> list[str]:
        """Canonical fields the endpoint delivers that take part in the merge."""
        return [f for f in self.mapping.inbound if f not in METADATA_FIELDS]

    @functools.cached_property
    def outbound_fields(self) -> list[str]:
        """Canonical fields written to the endpoint."""
        return [f for f in self.mapping.outbound if f not in METADATA_FIELDS]

    @property
    def deletes_propagate(self) -> bool:
        """Archived customers are deleted here (the endpoint's policy is ``propagate`` and it can delete)."""
        return self.config.delete_policy == "propagate" and DELETE in self.connector.capabilities


@dataclass
class PlanItem:
    """One planned write (what a dry run shows)."""

    endpoint: str
    action: str  # create | update | delete
    hub_id: str
    external_id: str | None
    changes: dict[str, tuple[Any, Any]]


@dataclass
class RunSummary:
    """What a run did, per endpoint and action."""

    run_id: str
    pipeline: str
    dry_run: bool
    started_at: dt.datetime
    finished_at: dt.datetime | None = None
    status: str = "running"
    counts: dict[str, Counter[str]] = field(default_factory=dict)
    api_calls: dict[str, int] = field(default_factory=dict)
    mapping_hashes: dict[str, str] = field(default_factory=dict)
    plan: list[PlanItem] = field(default_factory=list)
    error: str | None = None

    def count(self, endpoint: str, action: str, n: int = 1) -> None:
        self.counts.setdefault(endpoint, Counter())[action] += n

    def total(self, action: str) -> int:
        return sum(c[action] for c in self.counts.values())

    @property
    def duration(self) -> float:
        end = self.finished_at or utcnow()
        return (end - self.started_at).total_seconds()

    def as_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id, "pipeline": self.pipeline, "status": self.status, "dry_run": self.dry_run,
            "counts": {k: dict(v) for k, v in self.counts.items()}, "api_calls": self.api_calls,
            "duration_s": round(self.duration, 3), "error": self.error,
        }


def open_endpoint(config: EndpointConfig, host: PluginHost, *, sleep: Callable[[float], None] | None = None,
                  mapping: CompiledMapping | None = None) -> Endpoint:
    """Compile the endpoint's mapping and build its connector."""
    cls = host.connector_class(config.connector)
    compiled = mapping or compile_mapping(config.mapping, host.converters)
    if config.object not in cls.objects and cls.objects:
        raise ConfigError(f"connector {cls.name!r} does not sync {config.object!r}; it syncs "
                          f"{', '.join(cls.objects)}", path=f"endpoints.{config.name}.object")
    context = EndpointContext(
        name=config.name, object=config.object, options=config.options, fields=compiled.source_fields,
        retry=RetryPolicy.from_options(config.retry, sleep=sleep),
        classifier=lambda error, ctx: host.hook.classify_error(error=error, context=ctx),
    )
    return Endpoint(config, cls(context), compiled)


class SyncEngine:
    """Runs one pipeline against a state store."""

    def __init__(
        self,
        config: Config,
        pipeline: str,
        *,
        store: StateStore | None = None,
        host: PluginHost | None = None,
        clock: Callable[[], dt.datetime] = utcnow,
        sleep: Callable[[float], None] | None = None,
        progress: Callable[[str, str, int], None] | None = None,
        allow_mass_delete: bool = False,
        circuit_breaker: int | None = None,
    ) -> None:
        self.config = config
        self.pipeline: PipelineConfig = config.pipeline(pipeline)
        self.store = store or StateStore(config.state_url)
        self.host = host or get_host()
        self.clock = clock
        self.sleep = sleep
        self.progress = progress or (lambda endpoint, action, n: None)
        self._dry_conn: Connection | None = None
        self.allow_mass_delete = allow_mass_delete
        self.circuit_breaker = circuit_breaker
        """Overrides the endpoints' ``circuit_breaker`` (failed write batches in a row) when set."""
        self.summary: RunSummary | None = None
        self._policies: dict[str, ConflictPolicy] = {}
        self._heartbeat: Callable[[], None] = lambda: None
        self._remapped: set[str] = set()

    # -- the run -----------------------------------------------------------------------------
    def run(self, *, dry_run: bool = False, full: bool = False) -> RunSummary:
        """Run the pipeline once; returns the summary (also stored in ``runs`` unless dry)."""
        started = self.clock()
        summary = self.summary = RunSummary(new_run_id(started), self.pipeline.name, dry_run, started)
        self._policies = dict(self.host.conflict_policies)
        for name in (self.pipeline.conflicts.policy, *self.pipeline.conflicts.fields.values()):
            if name not in self._policies:
                raise ConfigError(f"unknown conflict policy {name!r}; known: {', '.join(sorted(self._policies))}",
                                  file=str(self.config.path), path=f"pipelines.{self.pipeline.name}.conflicts")
        endpoints = [open_endpoint(self.config.endpoints[n], self.host, sleep=self.sleep)
                     for n in self.pipeline.endpoints]
        summary.mapping_hashes = {e.name: e.mapping.hash for e in endpoints}
        lock = self.store.acquire_lock(self.pipeline.name, summary.run_id)
        run_token = current_run_id.set(summary.run_id)
        try:
            if dry_run:
                self._dry_conn = self.store.engine.connect()
                self._dry_conn.begin()
            else:
                self._record_run(summary, insert=True)
            self._heartbeat = (lambda: None) if dry_run else lock.heartbeat
            self._remapped = self._changed_mappings(summary)
            down: dict[str, ConnectorError] = {}
            for endpoint in endpoints:  # one endpoint failing does not stop the others' reads
                try:
                    self._inbound(endpoint, summary, full=full or endpoint.name in self._remapped)
                except ConnectorError as exc:
                    down[endpoint.name] = exc
                    log.error("run %s: reading %s stopped: %s", summary.run_id, endpoint.name, exc)
            for endpoint in endpoints:
                if endpoint.name in down:
                    continue
                try:
                    self._outbound(endpoint, summary)
                except ConnectorError as exc:
                    down[endpoint.name] = exc
                    log.error("run %s: writing to %s stopped: %s", summary.run_id, endpoint.name, exc)
            if down:
                first = next(iter(down.values()))
                raise type(first)("; ".join(f"{name}: {exc}" for name, exc in down.items())) from first
            rejected = summary.total("dead_letters") + summary.total("failed") + summary.total("batches_failed")
            summary.status = "rejected" if rejected else "ok"
        except CrmsyncError as exc:
            summary.status = "failed"
            summary.error = str(exc)
            raise
        except BaseException as exc:
            summary.status = "failed"
            # the first line only: a driver's message goes on with the statement's parameters (customer data)
            summary.error = f"{type(exc).__name__}: {str(exc).splitlines()[0][:300] if str(exc) else ''}"
            raise
        finally:
            summary.finished_at = self.clock()
            summary.api_calls = {e.name: e.connector.context.api_calls for e in endpoints}
            for endpoint in endpoints:
                try:
                    endpoint.connector.close()
                except Exception:  # a plugin's close must not keep the lock or the run unrecorded
                    log.exception("run %s: closing %s failed", summary.run_id, endpoint.name)
            try:
                if self._dry_conn is not None:
                    self._dry_conn.rollback()
                    self._dry_conn.close()
                    self._dry_conn = None
                else:
                    self._record_run(summary, insert=False)
            except StateError as exc:  # the run's own error says more; the lock must still go
                log.error("run %s: could not record the run: %s", summary.run_id, exc)
            finally:
                try:
                    lock.release()
                except StateError as exc:
                    log.error("run %s: could not release the lock (its lease expires): %s", summary.run_id, exc)
            try:
                self.host.hook.sync_finished(run=summary.as_dict())
            except Exception:
                log.exception("a sync_finished hook failed")
            log.info("run %s finished: %s, %s", summary.run_id, summary.status,
                     {k: dict(v) for k, v in summary.counts.items()})
            current_run_id.reset(run_token)
        return summary

    def _changed_mappings(self, summary: RunSummary) -> set[str]:
        """Endpoints whose mapping changed since the pipeline's last finished run: they are re-read
        in full and re-mapped (the hash skip is off for them), and every record is re-checked for them."""
        with self._tx() as conn:
            previous = db.last_mapping_hashes(conn, self.pipeline.name)
            changed = {name for name, digest in summary.mapping_hashes.items()
                       if previous is not None and previous.get(name) not in (None, digest)}
            for name in changed:
                log.warning("run %s: the mapping of %s changed since the last run: re-syncing it in full",
                            summary.run_id, name)
                summary.count(name, "mapping_changed")
                db.recheck_endpoint(conn, name)
        return changed

    @contextmanager
    def _tx(self) -> Iterator[Connection]:
        if self._dry_conn is not None:
            yield self._dry_conn
        else:
            with self.store.transaction() as conn:
                yield conn

    def _record_run(self, summary: RunSummary, *, insert: bool) -> None:
        values = {
            "status": summary.status, "finished_at": summary.finished_at, "error": summary.error,
            "counts": dumps({k: dict(v) for k, v in summary.counts.items()}),
            "mapping_hashes": dumps(summary.mapping_hashes), "api_calls": dumps(summary.api_calls),
        }
        with self.store.transaction() as conn:
            if insert:
                conn.execute(runs.insert().values(id=summary.run_id, pipeline=summary.pipeline,
                                                  started_at=summary.started_at, **values))
            else:
                conn.execute(runs.update().where(runs.c.id == summary.run_id).values(**values))

    # -- inbound ------------------------------------------------------------------------------
    def _inbound(self, endpoint: Endpoint, summary: RunSummary, *, full: bool) -> None:
        connector = endpoint.connector
        snapshot_read = full or connector.full_snapshot
        with self._tx() as conn:
            stored = Cursor.from_token(db.get_cursor(conn, self.pipeline.name, endpoint.name))
            retries = db.take_retries(conn, self.pipeline.name, endpoint.name, "in", self.clock())
            if retries:
                log.info("run %s: %s: retrying %d dead letters", summary.run_id, endpoint.name, len(retries))
                records = [RawRecord(r["external_id"], r["payload"]) for r in retries]
                db.flush(conn, self._inbound_chunk(conn, endpoint, records, summary), self.clock())
        overlap = max(endpoint.config.overlap_seconds, connector.cursor_overlap)
        since = None if snapshot_read or stored is None else stored.minus(overlap)
        log.info("run %s: reading %s since %s", summary.run_id, endpoint.name, since.to_token() if since else "start")
        seen: set[str] = set()
        for chunk in chunked(connector.read_changes(since), READ_CHUNK):
            if snapshot_read:
                seen.update(r.external_id for r in chunk)
            with self._tx() as conn:
                writes = self._inbound_chunk(conn, endpoint, chunk, summary)
                last = next((r.cursor for r in reversed(chunk) if r.cursor is not None), None)
                if last is not None and not connector.full_snapshot and (stored is None or last > stored):
                    writes.cursor = (self.pipeline.name, endpoint.name, last.to_token())
                    stored = last
                db.flush(conn, writes, self.clock())
            self._heartbeat()
            self.progress(endpoint.name, "read", len(chunk))
            log.info("run %s: %s batch of %d read and committed", summary.run_id, endpoint.name, len(chunk))
        if snapshot_read:  # only a read that finished can tell what is gone
            self._reconcile(endpoint, seen, summary)

    def _reconcile(self, endpoint: Endpoint, seen: set[str], summary: RunSummary) -> None:
        """Records bound to the endpoint that a complete read did not return were deleted there."""
        with self._tx() as conn:  # deletions already handled are not news again, nor part of the share
            live = db.bound_external_ids(conn, endpoint.name) - db.tombstones(conn, endpoint.name, TOMBSTONE)
        missing = sorted(live - seen)
        if not missing:
            return
        share = len(missing) / len(live)
        if len(missing) > 1 and share > self.pipeline.mass_delete_threshold and not self.allow_mass_delete:
            raise MassDeleteError(
                f"{endpoint.name}: {len(missing)} of {len(live)} records ({share:.0%}) are gone from the source, "
                f"more than the pipeline's mass_delete_threshold ({self.pipeline.mass_delete_threshold:.0%}); "
                "nothing was deleted. Check the source, then run with --allow-mass-delete if it is right.")
        for chunk in chunked(missing, READ_CHUNK):
            with self._tx() as conn:
                records = [RawRecord(external_id, {}, deleted=True) for external_id in chunk]
                db.flush(conn, self._inbound_chunk(conn, endpoint, records, summary), self.clock())
            self._heartbeat()

    def _inbound_chunk(self, conn: Connection, endpoint: Endpoint, chunk: list[RawRecord],
                       summary: RunSummary) -> BatchWrites:
        name = endpoint.name
        writes = BatchWrites()
        latest = {r.external_id: i for i, r in enumerate(chunk)}
        if len(latest) < len(chunk):  # a record read twice in one chunk: its newest version counts
            summary.count(name, "read", len(chunk) - len(latest))
            chunk = [r for i, r in enumerate(chunk) if latest[r.external_id] == i]
        bound = db.bound_hubs(conn, name, [r.external_id for r in chunk])
        snaps = db.load_snapshots(conn, name, set(bound.values()))
        hubs: dict[str, HubState] = {}
        mapped: list[tuple[RawRecord, str, dict[str, Any]]] = []
        for record in chunk:  # first pass: skip unchanged before mapping, map the rest once
            summary.count(name, "read")
            if not record.external_id.strip():
                self._dead_letter(writes, summary, endpoint, "in", record.external_id, None, record.payload,
                                  "record without an id: the endpoint returned an empty key", [])
                continue
            digest = payload_hash(record.payload)
            hub_id = bound.get(record.external_id)
            snap = snaps.get(hub_id) if hub_id else None
            if snap is not None and snap.payload_hash == digest and not record.deleted and name not in self._remapped:
                summary.count(name, "unchanged")
                continue
            if record.deleted and snap is not None and snap.data.get("archived") is True:
                # crmsync archived or deleted it there itself: the echo of its own write, not news
                summary.count(name, "unchanged")
                writes.snapshots[(name, snap.hub_id)] = Snapshot(name, snap.hub_id, snap.data, digest, snap.hub_rev,
                                                                 snap.etag)
                continue
            incoming: dict[str, Any] | None
            if record.merged_into and hub_id is not None:
                self._merged(conn, writes, summary, endpoint, record, hub_id, bound, hubs)
                continue
            if record.deleted:
                if hub_id is None:
                    summary.count(name, "deleted_unknown")  # never synced: nothing to propagate
                    continue
                incoming = self._map_deleted(endpoint, record)
            else:
                incoming = self._map_in(writes, summary, endpoint, record, hub_id)
            if incoming is not None:
                mapped.append((record, digest, incoming))
        # only records that survived the hash skip need their hub record
        wanted = {bound[m[0].external_id] for m in mapped if m[0].external_id in bound} - hubs.keys()
        hubs.update(db.load_hubs(conn, wanted))
        candidates = self._candidates(conn, endpoint, [m[2] for m in mapped if m[0].external_id not in bound])
        claims = self._claims(conn, endpoint, [m[0] for m in mapped if m[0].external_id not in bound], hubs)
        taken = set(bound.values())  # hub records bound in this endpoint: one record per endpoint per customer
        for record, digest, incoming in mapped:
            hub_id = bound.get(record.external_id)
            snap = snaps.get(hub_id) if hub_id else None
            claim = claims.get(record.external_id)
            if hub_id is None and claim is not None and claim not in taken:
                hub_id = claim  # our own write, whose answer was lost
                summary.count(name, "reclaimed")
                bound[record.external_id] = hub_id
                taken.add(hub_id)
                writes.bindings.append({"endpoint": name, "external_id": record.external_id, "hub_id": hub_id})
            if hub_id is None:
                hub_id = self._match(incoming, candidates, hubs, name, conn, taken)
                if hub_id is None:
                    hub_id = new_hub_id()
                    hubs[hub_id] = HubState(hub_id, {}, {}, 0, is_new=True)
                    summary.count(name, "hub_created")
                else:
                    summary.count(name, "matched")
                bound[record.external_id] = hub_id
                taken.add(hub_id)
                writes.bindings.append({"endpoint": name, "external_id": record.external_id, "hub_id": hub_id})
                snap = None
            if record.deleted:
                incoming = self._deleted(endpoint, incoming, summary)
            self._merge(writes, summary, endpoint, hubs[hub_id], snap, incoming, digest, record)
            writes.synced_ids.append((name, record.external_id))
        return writes

    def _merged(self, conn: Connection, writes: BatchWrites, summary: RunSummary, endpoint: Endpoint,
                record: RawRecord, loser_hub: str, bound: dict[str, str], hubs: dict[str, HubState]) -> None:
        """The endpoint merged this record into ``record.merged_into`` (a Salesforce account merge).

        The survivor takes the loser's place: if crmsync has not seen the survivor yet, the loser's
        binding simply moves to it. Otherwise the loser hub's records in other endpoints move to the
        survivor's hub where it has none there, and the loser hub is archived (its remaining records
        are told through the delete policies of their endpoints).
        """
        name = endpoint.name
        survivor = str(record.merged_into)
        summary.count(name, "merged")
        survivor_hub = bound.get(survivor) or db.bound_hubs(conn, name, [survivor]).get(survivor)
        writes.dropped_bindings.append((name, record.external_id))
        writes.merged.append({"endpoint": name, "external_id": record.external_id,
                              "hub_id": survivor_hub or loser_hub})
        if survivor_hub is None:
            writes.bindings.append({"endpoint": name, "external_id": survivor, "hub_id": loser_hub})
            bound[survivor] = loser_hub
            return
        if survivor_hub == loser_hub:
            return
        elsewhere = db.external_ids(conn, [loser_hub, survivor_hub])
        for other in elsewhere.get(loser_hub, {}):
            if other != name and other not in elsewhere.get(survivor_hub, {}):
                writes.moved.append((other, loser_hub, survivor_hub))
        hub = hubs.get(loser_hub) or hubs.setdefault(loser_hub, db.load_hubs(conn, [loser_hub])[loser_hub])
        if hub.data.get("archived") is not True:
            writes.audit.append({"run_id": summary.run_id, "hub_id": hub.id, "field": "archived",
                                 "old": dumps(hub.data.get("archived")), "new": dumps(True),
                                 "source": f"{name}:merged into {survivor}", "target": None})
            hub.data["archived"] = True
            hub.meta["archived"] = [name, self.clock().isoformat(), summary.run_id]
            hub.rev += 1
            hub.dirty = True
            writes.hubs[hub.id] = hub
        log.info("run %s: %s merged %s into %s: hub %s folded into %s", summary.run_id, name,
                 record.external_id, survivor, loser_hub, survivor_hub)

    def _map_deleted(self, endpoint: Endpoint, record: RawRecord) -> dict[str, Any]:
        """What a deleted record still says (a tombstone may carry no fields at all)."""
        try:
            return endpoint.mapping.load(record.payload) if record.payload else {}
        except RecordError:
            return {}

    def _map_in(self, writes: BatchWrites, summary: RunSummary, endpoint: Endpoint, record: RawRecord,
                hub_id: str | None) -> dict[str, Any] | None:
        """The record's canonical fields, or ``None`` after sending it to dead letters."""
        if "__error__" in record.payload:
            self._dead_letter(writes, summary, endpoint, "in", record.external_id, hub_id, record.payload,
                              str(record.payload["__error__"]), [])
            return None
        try:
            incoming = endpoint.mapping.load(record.payload)  # the compiler checks canonical types
            problems = [p for found in self.host.hook.validate_record(record=incoming, endpoint=endpoint.name)
                        for p in found]
            if problems:
                raise RecordError("; ".join(problems), rule="validate")
        except RecordError as exc:
            self._dead_letter(writes, summary, endpoint, "in", record.external_id, hub_id, record.payload,
                              str(exc), exc.problems)
            return None
        except Exception as exc:  # a poison record (or a plugin failing on it) must not stop the run
            log.exception("run %s: %s record %s could not be processed", summary.run_id, endpoint.name,
                          record.external_id)
            self._dead_letter(writes, summary, endpoint, "in", record.external_id, hub_id, record.payload,
                              f"poison record: {type(exc).__name__}: {exc}", [])
            return None
        return incoming

    def _deleted(self, endpoint: Endpoint, incoming: dict[str, Any], summary: RunSummary) -> dict[str, Any]:
        """Turn a deletion into the canonical change the endpoint's delete policy asks for.

        Only the flag is merged: a tombstone's empty fields must not erase the customer's data.
        """
        policy = endpoint.config.delete_policy
        summary.count(endpoint.name, "deleted_at_source")
        if policy in ("archive", "propagate"):
            return {"archived": True}
        if policy == "block":
            return {"blocked": True}
        return {}

    def _claims(self, conn: Connection, endpoint: Endpoint, unbound: list[RawRecord],
                hubs: dict[str, HubState]) -> dict[str, str]:
        """external id -> hub id, for unbound records carrying the id of a hub customer this endpoint
        has no record for yet (written by crmsync, acknowledgement lost)."""
        claimed = {r.external_id: h for r in unbound if (h := endpoint.connector.hub_id_of(r.payload))}
        if not claimed:
            return {}
        found = db.load_hubs(conn, set(claimed.values()))
        taken = db.external_ids(conn, list(found), endpoint.name)
        hubs.update({k: v for k, v in found.items() if k not in hubs})
        return {ext: hub for ext, hub in claimed.items() if hub in found and hub not in taken}

    def _candidates(self, conn: Connection, endpoint: Endpoint,
                    unbound: list[dict[str, Any]]) -> list[tuple[HubState, dict[str, str | None]]]:
        """Hub records (with their match keys) an unbound record of this chunk might be."""
        keys = [hub_keys(record) for record in unbound]
        found = db.match_candidates(conn, {k["tax_key"] for k in keys if k["tax_key"]},
                                    {k["name_key"] for k in keys if k["name_key"]}, endpoint.name)
        return [(hub, hub_keys(hub.data)) for hub in found]

    def _match(self, incoming: dict[str, Any], candidates: list[tuple[HubState, dict[str, str | None]]],
               hubs: dict[str, HubState], endpoint: str, conn: Connection, taken: set[str]) -> str | None:
        """A hub record for an unbound incoming record, never one ``taken`` in this endpoint already:
        the ``match_customer`` hook decides first, then the same tax id, then the same name and country."""
        keys = hub_keys(incoming)
        by_tax = [h for h, k in candidates if h.id not in taken and keys["tax_key"] and k["tax_key"] == keys["tax_key"]]
        by_name = [h for h, k in candidates if h.id not in taken and keys["name_key"]
                   and k["name_key"] == keys["name_key"] and h not in by_tax]
        pool = by_tax + by_name
        answer = self.host.hook.match_customer(record=incoming, candidates=[{"id": h.id, **h.data} for h in pool])
        chosen = pool[0] if pool else None
        if answer:
            chosen = next((h for h in pool if h.id == answer), None)
            if chosen is None and answer not in taken:
                if db.external_ids(conn, [answer], endpoint):
                    log.warning("match_customer answered %s, already bound in %s: not matched", answer, endpoint)
                else:
                    chosen = db.load_hubs(conn, [answer]).get(answer)
        if chosen is None:
            return None
        hubs.setdefault(chosen.id, chosen)
        return chosen.id

    def _policy_for(self, name: str) -> ConflictPolicy:
        return self._policies[self.pipeline.conflicts.fields.get(name, self.pipeline.conflicts.policy)]

    def _merge(self, writes: BatchWrites, summary: RunSummary, endpoint: Endpoint, hub: HubState,
               snap: Snapshot | None, incoming: dict[str, Any], digest: str, record: RawRecord) -> None:
        name = endpoint.name
        run_id = summary.run_id
        changed_at = incoming.get("last_changed_at")
        when = changed_at.isoformat() if isinstance(changed_at, dt.datetime) else self.clock().isoformat()
        base = None if snap is None else snap.data
        if record.deleted:  # a deletion changes its flag now, whatever the endpoint last held of it
            base = {**(base or {}), **{f: hub.data.get(f) for f in incoming}}
        result = merge_record(
            hub_id=hub.id, endpoint=name, incoming=incoming, base=base,
            hub=hub.data,
            hub_sources=hub.meta,
            fields=list(incoming) if record.deleted else endpoint.inbound_fields,
            ownership=self.pipeline.ownership, prefer=self.pipeline.conflicts.prefer,
            policy_for=self._policy_for,
            resolve_hook=lambda c: self.host.hook.resolve_conflict(conflict=c),
            changed_at=changed_at if isinstance(changed_at, dt.datetime) else None,
        )
        for field_name, value in result.updates.items():
            writes.audit.append({"run_id": run_id, "hub_id": hub.id, "field": field_name,
                                 "old": dumps(_jsonable(hub.data.get(field_name))), "new": dumps(_jsonable(value)),
                                 "source": name, "target": None})
            hub.data[field_name] = value
            hub.meta[field_name] = [name, when, run_id]
        if isinstance(changed_at, dt.datetime):
            hub.data["last_changed_at"] = max(changed_at, hub.data.get("last_changed_at") or changed_at)
        if result.updates:
            hub.rev += 1
            hub.dirty = True
            summary.count(name, "hub_updated" if not hub.is_new else "hub_filled")
        for conflict in result.held:
            writes.conflicts.append({
                "pipeline": self.pipeline.name, "hub_id": hub.id, "field": conflict.field, "run_id": run_id,
                "base": dumps(_jsonable(conflict.base)),
                "sides": dumps({side.endpoint: {"value": _jsonable(side.value),
                                                "at": side.changed_at.isoformat() if side.changed_at else None}
                                for side in (conflict.incoming, conflict.current)}),
            })
        summary.count(name, "conflicts_held", len(result.held))
        summary.count(name, "conflicts_resolved", len(result.resolved))
        summary.count(name, "owned_rejected", len(result.rejected))
        for field_name, owner in result.rejected:
            log.info("run %s: %s changed %s of %s, owned by %s: not applied", run_id, name, field_name, hub.id, owner)
        writes.hubs[hub.id] = hub
        # The endpoint holds `incoming` now; it is in sync unless the hub differs on a field it receives.
        held = {**(snap.data if snap else {}), **incoming}
        for field_name, _owner in result.rejected:
            if self.pipeline.enforce_ownership:
                held.pop(GIVEN + field_name, None)  # the owner's value is written back over the edit
            else:
                # Leave the endpoint's own value alone: remember which owner value it was shown, so
                # only a later change by the owner is written over it.
                held[GIVEN + field_name] = hub.data.get(field_name)
        etag_field = endpoint.connector.etag_field
        etag = record.payload.get(etag_field) if etag_field else None
        snapshot = Snapshot(name, hub.id, held, digest, snap.hub_rev if snap else 0,
                            str(etag) if etag is not None else None)
        changed, delete = self._owed(endpoint, hub, snapshot, exists=not record.deleted)
        if not changed and not delete:
            snapshot.hub_rev = hub.rev
        else:
            snapshot.hub_rev = min(snapshot.hub_rev, hub.rev - 1)
        writes.snapshots[(name, hub.id)] = snapshot

    @staticmethod
    def _owed(endpoint: Endpoint, hub: HubState, snap: Snapshot | None, exists: bool,
              held: Collection[str] = ()) -> tuple[list[str], bool]:
        """What the endpoint still needs of ``hub``: the fields whose value it lacks, and whether its
        record must be deleted (an archived customer, ``propagate``, not deleted there yet)."""
        base = snap.data if snap is not None else {}
        changed = [f for f in endpoint.outbound_fields
                   if not same(f, hub.data.get(f), endpoint_value(base, f))
                   and (snap is not None or normalize_value(f, hub.data.get(f)) is not None)
                   and f not in held]
        delete = (hub.data.get("archived") is True and endpoint.deletes_propagate and exists
                  and (snap is None or snap.payload_hash != TOMBSTONE))
        return changed, delete

    def _dead_letter(self, writes: BatchWrites, summary: RunSummary, endpoint: Endpoint, direction: str,
                     external_id: str | None, hub_id: str | None, payload: Any, error: str,
                     problems: list[dict[str, Any]]) -> None:
        summary.count(endpoint.name, "dead_letters")
        log.warning("run %s: %s record %s to dead letters: %s", summary.run_id, endpoint.name,
                    external_id or hub_id, error)
        writes.dead_letters.append({
            "run_id": summary.run_id, "pipeline": self.pipeline.name, "endpoint": endpoint.name,
            "direction": direction, "external_id": external_id, "hub_id": hub_id,
            "payload": dumps(_jsonable(payload)), "error": error, "problems": dumps(_jsonable(problems)),
        })

    # -- outbound -----------------------------------------------------------------------------
    def _outbound(self, endpoint: Endpoint, summary: RunSummary) -> None:
        connector = endpoint.connector
        if WRITE not in connector.capabilities or not endpoint.mapping.outbound:
            return
        failures = 0
        with self._tx() as conn:  # queued outbound retries become pending again
            db.take_retries(conn, self.pipeline.name, endpoint.name, "out", self.clock())
        after = ""
        while True:
            with self._tx() as conn:
                pending = db.pending_outbound(conn, endpoint.name, after, connector.batch_size)
                if not pending:
                    return
                after = pending[-1][0].id
                ids = db.external_ids(conn, [h.id for h, _ in pending], endpoint.name)
                held = db.held_fields(conn, [h.id for h, _ in pending])
            writes = BatchWrites()
            batch: list[tuple[OutboundRecord, HubState, Snapshot | None, list[str]]] = []
            for hub, snap in pending:
                external_id = ids.get(hub.id, {}).get(endpoint.name)
                base = snap.data if snap is not None else {}
                changed, delete = self._owed(endpoint, hub, snap, external_id is not None, held.get(hub.id, ()))
                if (not changed and not delete) or (external_id is None and hub.data.get("archived") is True):
                    # nothing owed, or an archived customer: never created anywhere
                    writes.snapshots[(endpoint.name, hub.id)] = self._synced(endpoint.name, hub, snap, [])
                    continue
                try:
                    # fields the hub no longer has are cleared at the endpoint, not left out
                    payload = {} if delete else endpoint.mapping.dump({**dict.fromkeys(changed), **hub.data},
                                                                      only=changed)
                except RecordError as exc:
                    self._dead_letter(writes, summary, endpoint, "out", external_id, hub.id,
                                      {f: hub.data.get(f) for f in changed}, str(exc), exc.problems)
                    continue
                record = OutboundRecord(hub.id, external_id, payload, "delete" if delete else "upsert",
                                        snap.etag if snap else None)
                batch.append((record, hub, snap, changed))
                summary.plan.append(PlanItem(endpoint.name, "delete" if delete else "update" if external_id else
                                             "create", hub.id, external_id,
                                             {f: (base.get(f), hub.data.get(f)) for f in changed}))
            if batch and self._dry_conn is None:
                try:
                    self._write(endpoint, batch, writes, summary)
                    failures = 0
                except ConnectorError as exc:
                    failures += 1
                    summary.count(endpoint.name, "batches_failed")
                    log.warning("run %s: a batch of %d for %s failed (%d in a row): %s", summary.run_id, len(batch),
                                endpoint.name, failures, exc)
                    if failures >= (self.circuit_breaker or endpoint.config.circuit_breaker):
                        summary.count(endpoint.name, "circuit_open")
                        raise
                    writes = BatchWrites()  # nothing of the failed batch is recorded: it is retried next run
            elif batch:
                for record, _, _, _ in batch:
                    summary.count(endpoint.name, "would_" + ("delete" if record.action == "delete" else
                                                             "update" if record.external_id else "create"))
            with self._tx() as conn:
                db.flush(conn, writes, self.clock())
            self._heartbeat()

    def _write(self, endpoint: Endpoint, batch: list[tuple[OutboundRecord, HubState, Snapshot | None, list[str]]],
               writes: BatchWrites, summary: RunSummary) -> None:
        records = [b[0] for b in batch]
        info: dict[str, Any] = {"run_id": summary.run_id, "endpoint": endpoint.name, "size": len(records)}
        self._call_sync_batch(info, lambda: endpoint.connector.write_batch(records))
        results = info["results_list"]
        if len(results) != len(records):
            raise CrmsyncError(f"connector {endpoint.connector.name!r} answered {len(results)} results "
                               f"for {len(records)} records")
        for (record, hub, snap, changed), result in zip(batch, results, strict=True):
            if result.ok:
                action = "deleted" if record.action == "delete" else "updated" if record.external_id else "created"
                summary.count(endpoint.name, action)
                if record.external_id is None and result.external_id:
                    writes.bindings.append({"endpoint": endpoint.name, "external_id": result.external_id,
                                            "hub_id": hub.id})
                elif record.external_id and result.external_id and result.external_id != record.external_id:
                    writes.dropped_bindings.append((endpoint.name, record.external_id))
                    writes.bindings.append({"endpoint": endpoint.name, "external_id": result.external_id,
                                            "hub_id": hub.id})
                for f in changed:
                    source = hub.meta.get(f, ["hub"])[0]
                    writes.audit.append({
                        "run_id": summary.run_id, "hub_id": hub.id, "field": f, "source": source,
                        "target": endpoint.name, "old": dumps(_jsonable(snap.data.get(f) if snap else None)),
                        "new": dumps(_jsonable(hub.data.get(f)))})
                synced = self._synced(endpoint.name, hub, snap, changed, result.etag)
                if record.action == "delete":  # gone there now: neither owed again nor news when read back
                    synced.data["archived"] = True
                    synced.payload_hash = TOMBSTONE
                writes.snapshots[(endpoint.name, hub.id)] = synced
            elif result.kind in (ErrorKind.RETRYABLE, ErrorKind.RATE_LIMITED):
                summary.count(endpoint.name, "retry_later")
            elif result.kind == ErrorKind.CONFLICT:
                self._write_conflict(writes, summary, endpoint, hub, changed, result)
            else:
                self._dead_letter(writes, summary, endpoint, "out", record.external_id, hub.id, record.payload,
                                  result.error or "rejected by the endpoint",
                                  [{"code": result.error_code, "message": result.error}])
                summary.count(endpoint.name, "failed")
        self.progress(endpoint.name, "written", len(records))

    def _write_conflict(self, writes: BatchWrites, summary: RunSummary, endpoint: Endpoint, hub: HubState,
                        changed: list[str], result: WriteResult) -> None:
        """The endpoint kept refusing the write because its record changed meanwhile (412 twice, a stale
        ChangeStateID): hold the fields in the inbox with both values, leave its snapshot as it is."""
        summary.count(endpoint.name, "conflicts_held", len(changed))
        theirs: dict[str, Any] = {}
        if result.payload:
            try:
                theirs = endpoint.mapping.load(result.payload)
            except RecordError:
                theirs = {}
        for field_name in changed:
            writes.conflicts.append({
                "pipeline": self.pipeline.name, "hub_id": hub.id, "field": field_name, "run_id": summary.run_id,
                "base": dumps(None),
                "sides": dumps({endpoint.name: {"value": _jsonable(theirs.get(field_name)), "at": None},
                                (hub.meta.get(field_name) or ["hub"])[0]: {
                                    "value": _jsonable(hub.data.get(field_name)), "at": None}}),
            })
        log.warning("run %s: %s refused the write of %s (%s): held in the conflict inbox", summary.run_id,
                    endpoint.name, hub.id, result.error)

    def _call_sync_batch(self, info: dict[str, Any], write: Callable[[], list[Any]]) -> None:
        """Run the write inside the ``sync_batch`` hook wrappers (metrics, audit plugins)."""

        def perform_write(batch: dict[str, Any]) -> None:
            results = write()
            batch["results_list"] = results
            ok = sum(1 for r in results if r.ok)
            batch["results"] = {"ok": ok, "failed": len(results) - ok}

        self.host.hook.sync_batch.call_extra([perform_write], {"batch": info})

    def _synced(self, endpoint: str, hub: HubState, snap: Snapshot | None, changed: list[str],
                etag: str | None = None) -> Snapshot:
        """The snapshot of an endpoint that now holds the hub's values of ``changed``."""
        data = dict(snap.data) if snap else {}
        for f in changed:
            data[f] = hub.data.get(f)
            data.pop(GIVEN + f, None)
        return Snapshot(endpoint, hub.id, data, snap.payload_hash if snap and not changed else "", hub.rev,
                        etag or (snap.etag if snap else None))


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value, "f")  # as canonical.to_json writes money
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


__all__ = ["Endpoint", "PlanItem", "RunSummary", "SyncEngine", "chunked", "open_endpoint", "payload_hash"]
