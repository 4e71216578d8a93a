"""Compute jobs: the site that holds a job's data (empty for none).

Revision ID: 0005_job_data_site
Revises: 0004_openadr
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_job_data_site"
down_revision = "0004_openadr"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("compute_jobs") as batch:
        batch.add_column(sa.Column("data_site", sa.String(64), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("compute_jobs") as batch:
        batch.drop_column("data_site")
