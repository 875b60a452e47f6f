"""Opening the state database, migrating it, and the one-run-per-pipeline lock.

SQLite gets WAL, a busy timeout and ``BEGIN IMMEDIATE`` for every transaction (so two
writers queue instead of failing mid-transaction). PostgreSQL uses psycopg 3, MariaDB PyMySQL.
The lock is a lease row in ``locks`` (holder run id, host/pid, expiry, renewed by heartbeats);
on PostgreSQL and MariaDB an advisory lock (``pg_try_advisory_lock`` / ``GET_LOCK``) held on a
dedicated connection backs it, so a lease left by a killed process is taken over at once.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa
from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

from crmsync.errors import LockHeldError, StateError
from crmsync.state import schema

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
LEASE = dt.timedelta(minutes=5)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def dumps(value: Any) -> str:
    """JSON text for the store (sorted keys, Decimal and datetime as strings)."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS, default=str).decode()


def loads(text: str | None) -> Any:
    return None if text is None else orjson.loads(text)


def redact_url(url: str) -> str:
    """The database URL without its password, for messages."""
    try:
        return sa.make_url(url).render_as_string(hide_password=True)
    except (sa.exc.ArgumentError, ValueError):
        return "<invalid database URL>"


def _sqlite_setup(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection: Any, record: Any) -> None:
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def on_begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


class StateStore:
    """The state database of one crmsync installation."""

    def __init__(self, url: str, *, migrate: bool = True) -> None:
        self.url = url
        try:
            self.engine = sa.create_engine(url, pool_pre_ping=True, future=True)
        except (sa.exc.ArgumentError, ImportError, ValueError) as exc:
            raise StateError(f"cannot open state database {redact_url(url)}: {type(exc).__name__}") from None
        self.dialect = self.engine.dialect.name
        if self.dialect == "sqlite":
            _sqlite_setup(self.engine)
        if migrate:
            self.upgrade(only_if_needed=True)

    def __repr__(self) -> str:
        return f"StateStore({redact_url(self.url)!r})"

    # -- migrations ------------------------------------------------------------------------
    def _alembic(self, connection: Connection) -> AlembicConfig:
        cfg = AlembicConfig()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        cfg.attributes["connection"] = connection
        return cfg

    def current_revision(self) -> str | None:
        with self.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()

    def head_revision(self) -> str | None:
        cfg = AlembicConfig()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        return ScriptDirectory.from_config(cfg).get_current_head()

    def upgrade(self, *, only_if_needed: bool = False) -> str | None:
        """Apply pending migrations; returns the revision now current."""
        if only_if_needed and self.current_revision() == self.head_revision():
            return self.head_revision()
        try:
            with self.engine.begin() as conn:
                command.upgrade(self._alembic(conn), "head")
        except sa.exc.OperationalError as exc:
            raise StateError(f"state database {redact_url(self.url)} unavailable: {exc.orig}") from None
        return self.head_revision()

    # -- connections -----------------------------------------------------------------------
    @contextmanager
    def connect(self) -> Iterator[Connection]:
        try:
            with self.engine.connect() as conn:
                yield conn
        except sa.exc.OperationalError as exc:
            raise StateError(f"state database {redact_url(self.url)} unavailable: {exc.orig}") from None

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """One transaction: committed when the block ends, rolled back if it raises."""
        try:
            with self.engine.begin() as conn:
                yield conn
        except sa.exc.OperationalError as exc:
            raise StateError(f"state database {redact_url(self.url)} unavailable: {exc.orig}") from None

    def dispose(self) -> None:
        self.engine.dispose()

    # -- the pipeline lock -------------------------------------------------------------------
    def acquire_lock(self, name: str, holder: str, *, lease: dt.timedelta = LEASE) -> RunLock:
        """Take the lock of pipeline ``name`` for run ``holder`` or raise :class:`LockHeldError`."""
        lock = RunLock(self, name, holder, lease)
        lock.acquire()
        return lock


class RunLock:
    """A held pipeline lock; renew with :meth:`heartbeat`, free with :meth:`release`."""

    def __init__(self, store: StateStore, name: str, holder: str, lease: dt.timedelta) -> None:
        self.store = store
        self.name = name
        self.holder = holder
        self.lease = lease
        self.owner = f"{socket.gethostname()} pid {os.getpid()}"
        self._advisory: Connection | None = None

    def _advisory_key(self) -> int:
        return int.from_bytes(hashlib.sha256(f"crmsync:{self.name}".encode()).digest()[:8], "big", signed=True)

    def _lock_name(self) -> str:
        """MariaDB lock names are server-wide: qualify by database, and keep within 64 characters."""
        database = self.store.engine.url.database or ""
        return "crmsync:" + hashlib.sha256(f"{database}:{self.name}".encode()).hexdigest()[:48]

    def _take_advisory(self) -> bool:
        """Hold a server-side lock on a dedicated connection; it dies with the process."""
        dialect = self.store.dialect
        if dialect not in ("postgresql", "mysql", "mariadb"):
            return False
        try:
            conn = self.store.engine.connect()
        except sa.exc.OperationalError as exc:
            raise StateError(f"state database {redact_url(self.store.url)} unavailable: {exc.orig}") from None
        try:
            if dialect == "postgresql":
                got = conn.execute(sa.text("SELECT pg_try_advisory_lock(:k)"), {"k": self._advisory_key()}).scalar()
            else:
                got = conn.execute(sa.text("SELECT GET_LOCK(:k, 0)"), {"k": self._lock_name()}).scalar()
            conn.commit()
        except BaseException:
            conn.close()
            raise
        if not got:
            conn.close()
            raise self._held_error()
        self._advisory = conn
        return True

    def _held_error(self) -> LockHeldError:
        with self.store.connect() as conn:
            row = conn.execute(sa.select(schema.locks).where(schema.locks.c.name == self.name)).first()
        if row is None:
            return LockHeldError(f"pipeline {self.name!r} is locked by another run")
        return self._describe(row)

    def acquire(self) -> None:
        advisory = self._take_advisory()
        now = utcnow()
        locks = schema.locks
        try:
            with self.store.transaction() as conn:
                row = conn.execute(sa.select(locks).where(locks.c.name == self.name)).first()
                if row is not None:
                    expires = row.expires_at if row.expires_at.tzinfo else row.expires_at.replace(tzinfo=dt.UTC)
                    if expires > now and not advisory:
                        raise self._describe(row)
                    conn.execute(sa.delete(locks).where(locks.c.name == self.name))
                conn.execute(sa.insert(locks).values(
                    name=self.name, holder=self.holder, owner=self.owner, acquired_at=now,
                    expires_at=now + self.lease,
                ))
        except sa.exc.IntegrityError:
            self._drop_advisory()
            raise self._held_error() from None
        except BaseException:
            self._drop_advisory()
            raise

    def _describe(self, row: Any) -> LockHeldError:
        return LockHeldError(
            f"pipeline {self.name!r} is locked by run {row.holder} ({row.owner}) "
            f"since {row.acquired_at:%Y-%m-%d %H:%M:%S} UTC"
        )

    def heartbeat(self) -> None:
        """Renew the lease; a run whose lease was taken over must stop (another run is going)."""
        with self.store.transaction() as conn:
            renewed = conn.execute(sa.update(schema.locks)
                                   .where(schema.locks.c.name == self.name, schema.locks.c.holder == self.holder)
                                   .values(expires_at=utcnow() + self.lease)).rowcount
        if renewed != 1:
            raise LockHeldError(f"pipeline {self.name!r}: the lease of run {self.holder} expired and was taken "
                                "over by another run; this run stops (what it committed stays)")

    def release(self) -> None:
        try:
            with self.store.transaction() as conn:
                conn.execute(sa.delete(schema.locks)
                             .where(schema.locks.c.name == self.name, schema.locks.c.holder == self.holder))
        finally:
            self._drop_advisory()

    def _drop_advisory(self) -> None:
        conn, self._advisory = self._advisory, None
        if conn is None:
            return
        try:  # the pool keeps sessions open, so free the lock explicitly before returning it
            if self.store.dialect == "postgresql":
                conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": self._advisory_key()})
            else:
                conn.execute(sa.text("SELECT RELEASE_LOCK(:k)"), {"k": self._lock_name()})
            conn.commit()
        except sa.exc.DBAPIError:
            conn.invalidate()  # a dead session holds no lock either
        finally:
            conn.close()


__all__ = ["RunLock", "StateStore", "dumps", "loads", "redact_url", "utcnow"]
