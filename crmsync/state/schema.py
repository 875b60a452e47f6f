"""The state store's tables (SQLAlchemy Core). Migrations in ``migrations/`` create them.

JSON values are stored as text (orjson) so the three databases behave alike.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import mysql

metadata = sa.MetaData()

ID = 64  # hub ids, run ids, endpoint and pipeline names
EXT = 255  # external ids
EXTERNAL_ID = sa.String(EXT).with_variant(mysql.VARCHAR(EXT, collation="utf8mb4_bin"), "mysql", "mariadb")
"""External ids compare exactly: MariaDB's default collation would make "s-1" and "S-1" one record."""

hub_records = sa.Table(
    "hub_records", metadata,
    sa.Column("id", sa.String(ID), primary_key=True),
    sa.Column("data", sa.Text, nullable=False, doc="flat canonical record, JSON"),
    sa.Column("field_meta", sa.Text, nullable=False, doc="per field: [source endpoint, time, run id]"),
    sa.Column("rev", sa.Integer, nullable=False, doc="bumped on every change; outbound compares it"),
    sa.Column("tax_key", sa.String(64), index=True),
    sa.Column("name_key", sa.String(191), index=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

bindings = sa.Table(
    "bindings", metadata,
    sa.Column("endpoint", sa.String(ID), primary_key=True),
    sa.Column("external_id", EXTERNAL_ID, primary_key=True),
    sa.Column("hub_id", sa.String(ID), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.UniqueConstraint("endpoint", "hub_id", name="uq_bindings_endpoint_hub"),
)

snapshots = sa.Table(
    "snapshots", metadata,
    sa.Column("endpoint", sa.String(ID), primary_key=True),
    sa.Column("hub_id", sa.String(ID), primary_key=True),
    sa.Column("data", sa.Text, nullable=False, doc="canonical values the endpoint last held, JSON"),
    sa.Column("payload_hash", sa.String(64), nullable=False, doc="hash of the raw payload last read"),
    sa.Column("hub_rev", sa.Integer, nullable=False, doc="hub rev the endpoint is in sync with"),
    sa.Column("etag", sa.String(EXT)),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

cursors = sa.Table(
    "cursors", metadata,
    sa.Column("pipeline", sa.String(ID), primary_key=True),
    sa.Column("endpoint", sa.String(ID), primary_key=True),
    sa.Column("token", sa.String(1024)),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

runs = sa.Table(
    "runs", metadata,
    sa.Column("id", sa.String(ID), primary_key=True),
    sa.Column("pipeline", sa.String(ID), nullable=False, index=True),
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("finished_at", sa.DateTime(timezone=True)),
    sa.Column("status", sa.String(32), nullable=False),
    sa.Column("counts", sa.Text, nullable=False, doc="per endpoint and action, JSON"),
    sa.Column("mapping_hashes", sa.Text, nullable=False),
    sa.Column("api_calls", sa.Text, nullable=False),
    sa.Column("error", sa.Text),
)

audit = sa.Table(
    "audit", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.String(ID), nullable=False, index=True),
    sa.Column("hub_id", sa.String(ID), nullable=False, index=True),
    sa.Column("field", sa.String(ID), nullable=False),
    sa.Column("old", sa.Text),
    sa.Column("new", sa.Text),
    sa.Column("source", sa.String(ID), nullable=False, doc="endpoint the value came from"),
    sa.Column("target", sa.String(ID), doc="endpoint written, for outbound rows"),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
)

dead_letters = sa.Table(
    "dead_letters", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.String(ID), nullable=False),
    sa.Column("pipeline", sa.String(ID), nullable=False),
    sa.Column("endpoint", sa.String(ID), nullable=False),
    sa.Column("direction", sa.String(8), nullable=False, doc="in (reading) or out (writing)"),
    sa.Column("external_id", EXTERNAL_ID),
    sa.Column("hub_id", sa.String(ID)),
    sa.Column("payload", sa.Text, nullable=False),
    sa.Column("error", sa.Text, nullable=False),
    sa.Column("problems", sa.Text, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("status", sa.String(16), nullable=False, index=True, doc="open, retried, discarded"),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

conflicts = sa.Table(
    "conflicts", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("pipeline", sa.String(ID), nullable=False),
    sa.Column("hub_id", sa.String(ID), nullable=False, index=True),
    sa.Column("field", sa.String(ID), nullable=False),
    sa.Column("base", sa.Text),
    sa.Column("sides", sa.Text, nullable=False, doc="{endpoint: {value, at, run}}"),
    sa.Column("status", sa.String(16), nullable=False, index=True, doc="open, resolved, deferred"),
    sa.Column("resolution", sa.Text),
    sa.Column("run_id", sa.String(ID), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("resolved_at", sa.DateTime(timezone=True)),
)

merged_ids = sa.Table(
    "merged_ids", metadata,
    sa.Column("endpoint", sa.String(ID), primary_key=True),
    sa.Column("external_id", EXTERNAL_ID, primary_key=True),
    sa.Column("hub_id", sa.String(ID), nullable=False, doc="the survivor's hub record"),
    sa.Column("merged_at", sa.DateTime(timezone=True), nullable=False),
)
"""Ids of records an endpoint merged away (Salesforce merge losers), still resolvable to a customer."""

locks = sa.Table(
    "locks", metadata,
    sa.Column("name", sa.String(ID), primary_key=True),
    sa.Column("holder", sa.String(ID), nullable=False, doc="run id"),
    sa.Column("owner", sa.String(255), nullable=False, doc="host and pid"),
    sa.Column("acquired_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
)
