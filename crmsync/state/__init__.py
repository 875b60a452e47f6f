"""The state store: hub records, bindings, snapshots, cursors, runs, audit, dead letters, conflicts.

:class:`~crmsync.state.store.StateStore` opens the database (SQLite, PostgreSQL or MariaDB),
applies the alembic migrations on first use, and owns the pipeline lock. The tables are in
:mod:`crmsync.state.schema`.
"""

from crmsync.state.store import RunLock, StateStore, dumps, loads

__all__ = ["RunLock", "StateStore", "dumps", "loads"]
