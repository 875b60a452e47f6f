"""external ids compare exactly on MariaDB / MySQL (binary collation)

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from alembic import op
from sqlalchemy.dialects import mysql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

COLUMNS = (("bindings", False), ("merged_ids", False), ("dead_letters", True))


def upgrade() -> None:
    if op.get_bind().dialect.name not in ("mysql", "mariadb"):
        return  # SQLite and PostgreSQL compare text exactly already
    for table, nullable in COLUMNS:
        op.alter_column(table, "external_id", existing_type=mysql.VARCHAR(255),
                        type_=mysql.VARCHAR(255, collation="utf8mb4_bin"), existing_nullable=nullable)


def downgrade() -> None:
    if op.get_bind().dialect.name not in ("mysql", "mariadb"):
        return
    for table, nullable in COLUMNS:
        op.alter_column(table, "external_id", existing_type=mysql.VARCHAR(255, collation="utf8mb4_bin"),
                        type_=mysql.VARCHAR(255), existing_nullable=nullable)
