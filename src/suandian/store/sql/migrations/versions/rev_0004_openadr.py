"""OpenADR 3 VTN: OAuth2 clients, their access tokens and the programs, events, reports and vens.

Revision ID: 0004_openadr
Revises: 0003_platform
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from suandian.ledger.tables import UtcDateTime

revision = "0004_openadr"
down_revision = "0003_platform"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "openadr_clients",
        sa.Column("client_id", sa.String(64), nullable=False),
        sa.Column("role", sa.String(8), nullable=False),
        sa.Column("secret_digest", sa.String(64), nullable=False),
        sa.Column("created_utc", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("client_id", name="pk_openadr_clients"),
    )
    op.create_table(
        "openadr_tokens",
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("client_id", sa.String(64), nullable=False),
        sa.Column("expires_utc", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["openadr_clients.client_id"],
            name="fk_openadr_tokens_client_id_openadr_clients",
        ),
        sa.PrimaryKeyConstraint("digest", name="pk_openadr_tokens"),
    )
    op.create_index("ix_openadr_tokens_client_id", "openadr_tokens", ["client_id"])
    op.create_table(
        "openadr_objects",
        sa.Column("object_key", sa.Integer(), nullable=False),
        sa.Column("object_id", sa.String(128), nullable=False),
        sa.Column("object_type", sa.String(16), nullable=False),
        sa.Column("program_id", sa.String(128), nullable=True),
        sa.Column("event_id", sa.String(128), nullable=True),
        sa.Column("owner", sa.String(64), nullable=False),
        sa.Column("name", sa.String(128), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("answer", sa.Text(), nullable=True),
        sa.Column("created_utc", UtcDateTime(), nullable=False),
        sa.Column("modified_utc", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["owner"],
            ["openadr_clients.client_id"],
            name="fk_openadr_objects_owner_openadr_clients",
        ),
        sa.PrimaryKeyConstraint("object_key", name="pk_openadr_objects"),
        sa.UniqueConstraint("object_id", name="uq_openadr_objects_object_id"),
    )
    for column in ("object_type", "program_id", "event_id", "name"):
        op.create_index(f"ix_openadr_objects_{column}", "openadr_objects", [column])


def downgrade() -> None:
    op.drop_table("openadr_objects")
    op.drop_table("openadr_tokens")
    op.drop_table("openadr_clients")
