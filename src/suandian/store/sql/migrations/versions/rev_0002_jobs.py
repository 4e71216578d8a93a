"""Compute job queue: one row per tenant's job, with its status and planned site and start.

Revision ID: 0002_jobs
Revises: 0001_ledger
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from suandian.ledger.tables import UtcDateTime

revision = "0002_jobs"
down_revision = "0001_ledger"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "compute_jobs",
        sa.Column("key", sa.Integer(), nullable=False),
        sa.Column("tenant", sa.String(64), nullable=False),
        sa.Column("job_id", sa.String(128), nullable=False),
        sa.Column("power_mw", sa.Float(), nullable=False),
        sa.Column("duration_steps", sa.Integer(), nullable=False),
        sa.Column("step_min", sa.Integer(), nullable=False),
        sa.Column("release_utc", UtcDateTime(), nullable=False),
        sa.Column("deadline_utc", UtcDateTime(), nullable=False),
        sa.Column("interruptible", sa.Boolean(), nullable=False),
        sa.Column("checkpoint_steps", sa.Integer(), nullable=False),
        sa.Column("allowed_sites", sa.String(2000), nullable=False),
        sa.Column("data_gb", sa.Float(), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("submitted_utc", UtcDateTime(), nullable=False),
        sa.Column("site", sa.String(64), nullable=True),
        sa.Column("start_utc", UtcDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("key", name="pk_compute_jobs"),
        sa.UniqueConstraint("tenant", "job_id", name="uq_compute_jobs_tenant_job_id"),
    )


def downgrade() -> None:
    op.drop_table("compute_jobs")
