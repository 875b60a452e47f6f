"""The alembic migrations build exactly the tables of crmsync/state/schema.py, on every backend."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from crmsync.state import StateStore
from crmsync.state.schema import metadata


def test_migrations_match_the_schema(state_url: str) -> None:
    store = StateStore(state_url)
    try:
        assert store.current_revision() == store.head_revision()
        with store.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), metadata)
        assert diff == [], f"schema.py and the migrations differ: {diff}"
    finally:
        store.dispose()


def test_upgrade_is_idempotent(sqlite_url: str) -> None:
    store = StateStore(sqlite_url)
    try:
        first = store.current_revision()
        assert store.upgrade() == first
    finally:
        store.dispose()
