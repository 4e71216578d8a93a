"""Platform access: organisations, the consumer assets they own, users with a role, API tokens.

Revision ID: 0003_platform
Revises: 0002_jobs
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from suandian.ledger.tables import UtcDateTime

revision = "0003_platform"
down_revision = "0002_jobs"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "platform_orgs",
        sa.Column("org_id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("created_utc", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("org_id", name="pk_platform_orgs"),
    )
    op.create_table(
        "platform_org_assets",
        sa.Column("asset_id", sa.String(64), nullable=False),
        sa.Column("org_id", sa.String(64), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["platform_orgs.org_id"],
            name="fk_platform_org_assets_org_id_platform_orgs",
        ),
        sa.PrimaryKeyConstraint("asset_id", name="pk_platform_org_assets"),
    )
    op.create_index("ix_platform_org_assets_org_id", "platform_org_assets", ["org_id"])
    op.create_table(
        "platform_users",
        sa.Column("user_key", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("org_id", sa.String(64), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("created_utc", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"], ["platform_orgs.org_id"], name="fk_platform_users_org_id_platform_orgs"
        ),
        sa.PrimaryKeyConstraint("user_key", name="pk_platform_users"),
        sa.UniqueConstraint("name", name="uq_platform_users_name"),
    )
    op.create_index("ix_platform_users_org_id", "platform_users", ["org_id"])
    op.create_table(
        "platform_tokens",
        sa.Column("token_key", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("shown", sa.String(16), nullable=False),
        sa.Column("user_key", sa.Integer(), nullable=False),
        sa.Column("created_utc", UtcDateTime(), nullable=False),
        sa.Column("revoked_utc", UtcDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_key"],
            ["platform_users.user_key"],
            name="fk_platform_tokens_user_key_platform_users",
        ),
        sa.PrimaryKeyConstraint("token_key", name="pk_platform_tokens"),
        sa.UniqueConstraint("digest", name="uq_platform_tokens_digest"),
    )
    op.create_index("ix_platform_tokens_user_key", "platform_tokens", ["user_key"])


def downgrade() -> None:
    op.drop_table("platform_tokens")
    op.drop_table("platform_users")
    op.drop_table("platform_org_assets")
    op.drop_table("platform_orgs")
