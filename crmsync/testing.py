"""What plugin authors and the test suite import: the fake-server base and its fault switches.

:class:`FakeServer` is a real HTTP server on 127.0.0.1 (a free port unless one is given),
served from a background thread. A vendor fake subclasses it and implements :meth:`FakeServer.handle`;
the base applies injected faults before (or after) the handler runs:

==================  ==============================================================
``status``          answer ``status`` (default 503) with ``body`` and ``headers``
``slow``            sleep ``delay`` seconds, then answer normally
``drop``            close the connection without answering (nothing applied)
``lose_response``   apply the request, then close the connection (lost acknowledgement)
``truncate``        answer normally but cut the body in half
==================  ==============================================================

Faults are added in-process with ``server.faults.add(...)`` or, for a fake started by
``crmsync fake-server``, with ``POST /__fake__/faults`` and a JSON body of the same keywords.
``GET /__fake__/state`` returns the subclass's :meth:`FakeServer.dump_state` for assertions.
"""

from __future__ import annotations

import json
import logging
import signal
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType
from typing import Any

from crmsync.connector import DELETE, READ, WRITE, Connector, Cursor, OutboundRecord, RawRecord, WriteResult
from crmsync.plugins import hookimpl

log = logging.getLogger(__name__)

FAULT_KINDS = ("status", "slow", "drop", "lose_response", "truncate")


@dataclass
class FakeRequest:
    """One request as the handler sees it."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body or b"null")

    def header(self, name: str, default: str | None = None) -> str | None:
        return self.headers.get(name.lower(), default)


@dataclass
class FakeResponse:
    """What the handler answers."""

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, data: Any, status: int = 200, headers: dict[str, str] | None = None) -> FakeResponse:
        return cls(status, json.dumps(data).encode(), {"Content-Type": "application/json", **(headers or {})})


@dataclass
class Fault:
    """One injected fault, applied to the next ``count`` matching requests."""

    kind: str
    count: int = 1
    path_contains: str | None = None
    method: str | None = None
    status: int = 503
    body: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0

    def matches(self, request: FakeRequest) -> bool:
        if self.method and request.method != self.method.upper():
            return False
        return not self.path_contains or self.path_contains in request.path


class FaultSwitches:
    """Thread-safe list of pending faults, and a count of those applied by kind."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: list[Fault] = []
        self.applied: dict[str, int] = {}

    def add(self, kind: str, count: int = 1, **options: Any) -> None:
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {kind!r}; one of {', '.join(FAULT_KINDS)}")
        with self._lock:
            self._pending.append(Fault(kind, count, **options))

    def clear(self) -> None:
        with self._lock:
            self._pending.clear()

    def take(self, request: FakeRequest) -> Fault | None:
        with self._lock:
            for fault in self._pending:
                if fault.matches(request):
                    fault.count -= 1
                    if fault.count <= 0:
                        self._pending.remove(fault)
                    self.applied[fault.kind] = self.applied.get(fault.kind, 0) + 1
                    return fault
        return None


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go in separate sends: without it each costs ~40 ms

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("fake %s: " + format, self.server.app.name, *args)

    def _dispatch(self) -> None:
        parsed = urllib.parse.urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        request = FakeRequest(
            method=self.command,
            path=urllib.parse.unquote(parsed.path),
            query=dict(urllib.parse.parse_qsl(parsed.query, keep_blank_values=True)),
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
        )
        app = self.server.app
        if request.path.startswith("/__fake__/"):
            self._send(app.control(request))
            return
        fault = app.faults.take(request)
        if fault and fault.kind == "drop":
            self.close_connection = True
            self.connection.shutdown(2)
            return
        if fault and fault.kind == "status":
            self._send(FakeResponse(fault.status, fault.body.encode(), fault.headers))
            return
        if fault and fault.kind == "slow":
            time.sleep(fault.delay)
        with app.lock:
            app.requests_seen += 1
            try:
                response = app.handle(request)
            except Exception as exc:  # the fake must answer, like a real server's 500
                log.exception("fake %s handler failed", app.name)
                response = FakeResponse(500, f"fake server error: {exc}".encode())
        if fault and fault.kind == "lose_response":
            self.close_connection = True
            self.connection.shutdown(2)
            return
        if fault and fault.kind == "truncate":
            self._send(response, truncate=True)
            return
        self._send(response)

    def _send(self, response: FakeResponse, truncate: bool = False) -> None:
        body = response.body
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if truncate:
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(2)
            return
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_MERGE = _dispatch


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    app: FakeServer


class FakeServer:
    """Base of the vendor fakes: a loopback HTTP server in a thread, with fault switches."""

    name = "fake"

    def __init__(self, port: int = 0) -> None:
        self.port = port
        self.faults = FaultSwitches()
        self.lock = threading.RLock()
        self.requests_seen = 0
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- subclass API -------------------------------------------------------------------
    def handle(self, request: FakeRequest) -> FakeResponse:
        """Answer one request (called under ``self.lock``)."""
        raise NotImplementedError

    def info(self) -> dict[str, Any]:
        """The start-up line printed by ``crmsync fake-server``: at least ``url``."""
        return {"url": self.base_url}

    def dump_state(self) -> Any:
        """The fake's data for ``GET /__fake__/state``."""
        return {}

    # -- lifecycle -----------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("fake server not started")
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def start(self) -> FakeServer:
        httpd = _Server(("127.0.0.1", self.port), _Handler)
        httpd.app = self
        self._httpd = httpd
        self._thread = threading.Thread(target=lambda: httpd.serve_forever(poll_interval=0.05),
                                        name=f"fake-{self.name}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> FakeServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def control(self, request: FakeRequest) -> FakeResponse:
        if request.path == "/__fake__/faults" and request.method == "POST":
            try:
                self.faults.add(**request.json())
            except (TypeError, ValueError) as exc:
                return FakeResponse.json({"error": str(exc)}, 400)
            return FakeResponse.json({"ok": True})
        if request.path == "/__fake__/faults" and request.method == "DELETE":
            self.faults.clear()
            return FakeResponse.json({"ok": True})
        if request.path == "/__fake__/state":
            with self.lock:
                return FakeResponse.json(self.dump_state())
        return FakeResponse.json({"error": "unknown control path"}, 404)


def serve_until_stopped(server: FakeServer, echo: Callable[[str], None] | None = None) -> None:
    """Start ``server``, print its info as one JSON line, and serve until SIGTERM or Ctrl-C."""
    server.start()
    line = json.dumps(server.info())
    (echo or print)(line)
    sys.stdout.flush()
    stopped = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stopped.set()

    signal.signal(signal.SIGTERM, on_signal)
    try:
        stopped.wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


__all__ = [
    "FAULT_KINDS",
    "FakeRequest",
    "FakeResponse",
    "FakeServer",
    "Fault",
    "FaultSwitches",
    "MemoryConnector",
    "MemoryPlugin",
    "MemoryTable",
    "memory_table",
    "serve_until_stopped",
]


# -- an in-memory connector for engine tests and plugin authors' experiments -------------------


class MemoryTable:
    """An in-memory endpoint: records by id with a change stamp, edited by tests like a user would."""

    def __init__(self, key: str = "id", hub_id_field: str = "hub_id") -> None:
        self.key = key
        self.hub_id_field = hub_id_field
        self.records: dict[str, dict[str, Any]] = {}
        self.stamps: dict[str, str] = {}
        self.deleted: set[str] = set()
        self._by_hub: dict[str, str] = {}
        self.merged: dict[str, str] = {}
        self._tick = 0
        self.writes = 0
        self.reject: dict[str, str] = {}
        """hub id, record id or ``*`` (every record) -> the error message its writes get."""

    def _stamp(self) -> str:
        self._tick += 1
        return f"2026-01-01T00:00:00.{self._tick:06d}Z"

    def put(self, record_id: str, **fields: Any) -> dict[str, Any]:
        """Create or change a record as a user of the system would."""
        record = self.records.setdefault(record_id, {self.key: record_id})
        record.update(fields)
        if self.hub_id_field in fields:
            self._by_hub[fields[self.hub_id_field]] = record_id
        self.stamps[record_id] = self._stamp()
        self.deleted.discard(record_id)
        return record

    def merge(self, survivor: str, loser: str) -> None:
        """Merge ``loser`` into ``survivor`` as a CRM does: the loser is deleted, pointing at the survivor."""
        self.merged[loser] = survivor
        self.delete(loser)

    def delete(self, record_id: str) -> None:
        self.deleted.add(record_id)
        self.stamps[record_id] = self._stamp()

    def by_hub_id(self, hub_id: str) -> dict[str, Any] | None:
        record_id = self._by_hub.get(hub_id)
        return None if record_id is None else self.records.get(record_id)


MEMORY_TABLES: dict[str, MemoryTable] = {}


def memory_table(name: str) -> MemoryTable:
    """The shared table ``name`` (created on first use)."""
    return MEMORY_TABLES.setdefault(name, MemoryTable())


class MemoryConnector(Connector):
    """Reads and writes a :class:`MemoryTable` named by the ``table`` option."""

    name = "memory"
    key_field = "id"
    hub_id_field = "hub_id"
    cursor_field = "stamp"
    capabilities = frozenset({READ, WRITE, DELETE})
    batch_size = 50

    @property
    def table(self) -> MemoryTable:
        return memory_table(str(self.context.options.get("table", self.context.name)))

    def read_changes(self, since: Cursor | None) -> Iterator[RawRecord]:
        table = self.table
        order = sorted(table.stamps.items(), key=lambda item: (item[1], item[0]))
        for record_id, stamp in order:
            cursor = Cursor(stamp, record_id)
            if since is not None and cursor <= since:
                continue
            self.context.api_calls += 1
            yield RawRecord(record_id, dict(table.records[record_id]), cursor,
                            deleted=record_id in table.deleted, merged_into=table.merged.get(record_id))

    def write_batch(self, records: Sequence[OutboundRecord]) -> list[WriteResult]:
        table = self.table
        table.writes += 1
        self.context.api_calls += 1
        results = []
        for record in records:
            target = record.external_id or (table.by_hub_id(record.hub_id) or {}).get(table.key)
            problem = (table.reject.get("*") or table.reject.get(record.hub_id)
                       or (target and table.reject.get(target)))
            if problem:
                results.append(WriteResult(False, error=problem, error_code="REJECTED"))
                continue
            if record.action == "delete":
                if target:
                    table.delete(target)
                results.append(WriteResult(True, external_id=target))
                continue
            created = target is None
            new_id = target or f"m{len(table.records) + 1:05d}"
            table.put(new_id, **record.payload, **{table.hub_id_field: record.hub_id})
            results.append(WriteResult(True, external_id=new_id, created=created))
        return results



class MemoryPlugin:
    """Register with ``create_host(extra_plugins=(MemoryPlugin(),))`` to get ``connector: memory``."""

    @hookimpl
    def register_connectors(self, register: Callable[[type[Connector]], None]) -> None:
        register(MemoryConnector)
