"""Certificate ledger: organisations, accounts, devices, metering, issuances, bundles, storage
charges and the event chain with its one-row head.

Revision ID: 0001_ledger
Revises:
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from suandian.ledger.chain import GENESIS_HASH
from suandian.ledger.tables import UtcDateTime

revision = "0001_ledger"
down_revision = None
branch_labels = None
depends_on = None


def _utc(name: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, UtcDateTime(), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "ledger_organisations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_ledger_organisations"),
        sa.UniqueConstraint("code", name="uq_ledger_organisations_code"),
    )
    op.create_table(
        "ledger_accounts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(64), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("accept_all", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_ledger_accounts"),
        sa.UniqueConstraint("code", name="uq_ledger_accounts_code"),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["ledger_organisations.id"],
            name="fk_ledger_accounts_organisation_id_ledger_organisations",
        ),
    )
    op.create_table(
        "ledger_account_accepts",
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("sender_id", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("account_id", "sender_id", name="pk_ledger_account_accepts"),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["ledger_accounts.id"],
            name="fk_ledger_account_accepts_account_id_ledger_accounts",
        ),
        sa.ForeignKeyConstraint(
            ["sender_id"],
            ["ledger_accounts.id"],
            name="fk_ledger_account_accepts_sender_id_ledger_accounts",
        ),
    )
    op.create_table(
        "ledger_devices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("capacity_mw", sa.Float(), nullable=False),
        sa.Column("site", sa.String(64), nullable=False),
        sa.Column("zone", sa.String(32), nullable=False),
        sa.Column("country", sa.String(2), nullable=False),
        sa.Column("commissioned_on", sa.Date(), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("emission_factor_g_per_kwh", sa.Float(), nullable=False),
        sa.Column("project_code", sa.String(12), nullable=False),
        sa.Column("round_trip_efficiency_pu", sa.Float(), nullable=True),
        sa.Column("next_cert_id", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_ledger_devices"),
        sa.UniqueConstraint("code", name="uq_ledger_devices_code"),
        sa.UniqueConstraint("project_code", name="uq_ledger_devices_project_code"),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["ledger_accounts.id"], name="fk_ledger_devices_owner_id_ledger_accounts"
        ),
    )
    op.create_table(
        "ledger_generation",
        sa.Column("device_id", sa.Integer(), nullable=False),
        _utc("start_utc"),
        _utc("end_utc"),
        sa.Column("wh", sa.BigInteger(), nullable=False),
        sa.Column("meter_ref", sa.String(200), nullable=False),
        sa.PrimaryKeyConstraint("device_id", "start_utc", name="pk_ledger_generation"),
        sa.ForeignKeyConstraint(
            ["device_id"],
            ["ledger_devices.id"],
            name="fk_ledger_generation_device_id_ledger_devices",
        ),
    )
    op.create_table(
        "ledger_consumption",
        sa.Column("account_id", sa.Integer(), nullable=False),
        _utc("start_utc"),
        _utc("end_utc"),
        sa.Column("wh", sa.BigInteger(), nullable=False),
        sa.Column("meter_ref", sa.String(200), nullable=False),
        sa.PrimaryKeyConstraint("account_id", "start_utc", name="pk_ledger_consumption"),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["ledger_accounts.id"],
            name="fk_ledger_consumption_account_id_ledger_accounts",
        ),
    )
    op.create_table(
        "ledger_issuances",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("device_id", sa.Integer(), nullable=False),
        _utc("start_utc"),
        _utc("end_utc"),
        sa.Column("wh", sa.BigInteger(), nullable=False),
        sa.Column("storage", sa.Boolean(), nullable=False),
        sa.Column("issuer_id", sa.Integer(), nullable=False),
        _utc("issued_utc"),
        sa.PrimaryKeyConstraint("id", name="pk_ledger_issuances"),
        sa.UniqueConstraint("device_id", "start_utc", name="uq_ledger_issuances_device_id"),
        sa.ForeignKeyConstraint(
            ["device_id"],
            ["ledger_devices.id"],
            name="fk_ledger_issuances_device_id_ledger_devices",
        ),
        sa.ForeignKeyConstraint(
            ["issuer_id"],
            ["ledger_accounts.id"],
            name="fk_ledger_issuances_issuer_id_ledger_accounts",
        ),
    )
    op.create_table(
        "ledger_storage_charges",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("device_id", sa.Integer(), nullable=False),
        _utc("start_utc"),
        _utc("end_utc"),
        sa.Column("wh", sa.BigInteger(), nullable=False),
        _utc("recorded_utc"),
        sa.PrimaryKeyConstraint("id", name="pk_ledger_storage_charges"),
        sa.ForeignKeyConstraint(
            ["device_id"],
            ["ledger_devices.id"],
            name="fk_ledger_storage_charges_device_id_ledger_devices",
        ),
    )
    op.create_index("ix_ledger_storage_charges_device_id", "ledger_storage_charges", ["device_id"])
    account_fk = "ledger_accounts.id"
    op.create_table(
        "ledger_bundles",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("device_id", sa.Integer(), nullable=False),
        sa.Column("issuance_id", sa.BigInteger(), nullable=False),
        sa.Column("parent_id", sa.BigInteger(), nullable=True),
        sa.Column("start_id", sa.BigInteger(), nullable=False),
        sa.Column("end_id", sa.BigInteger(), nullable=False),
        sa.Column("wh", sa.BigInteger(), nullable=False),
        _utc("start_utc"),
        _utc("end_utc"),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("country", sa.String(2), nullable=False),
        sa.Column("zone", sa.String(32), nullable=False),
        sa.Column("emission_factor_g_per_kwh", sa.Float(), nullable=False),
        sa.Column("storage", sa.Boolean(), nullable=False),
        sa.Column("issuer_id", sa.Integer(), nullable=False),
        _utc("expires_utc"),
        sa.Column("beneficiary_id", sa.Integer(), nullable=True),
        _utc("consumption_start_utc", nullable=True),
        _utc("consumption_end_utc", nullable=True),
        _utc("retired_utc", nullable=True),
        _utc("claimed_utc", nullable=True),
        sa.Column("charge_id", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_ledger_bundles"),
        sa.CheckConstraint("wh = end_id - start_id + 1", name="ck_ledger_bundles_face_value"),
        sa.ForeignKeyConstraint(
            ["device_id"], ["ledger_devices.id"], name="fk_ledger_bundles_device_id_ledger_devices"
        ),
        sa.ForeignKeyConstraint(
            ["issuance_id"],
            ["ledger_issuances.id"],
            name="fk_ledger_bundles_issuance_id_ledger_issuances",
        ),
        sa.ForeignKeyConstraint(
            ["owner_id"], [account_fk], name="fk_ledger_bundles_owner_id_ledger_accounts"
        ),
        sa.ForeignKeyConstraint(
            ["issuer_id"], [account_fk], name="fk_ledger_bundles_issuer_id_ledger_accounts"
        ),
        sa.ForeignKeyConstraint(
            ["beneficiary_id"],
            [account_fk],
            name="fk_ledger_bundles_beneficiary_id_ledger_accounts",
        ),
        sa.ForeignKeyConstraint(
            ["charge_id"],
            ["ledger_storage_charges.id"],
            name="fk_ledger_bundles_charge_id_ledger_storage_charges",
        ),
    )
    op.create_index("ix_ledger_bundles_owner_status", "ledger_bundles", ["owner_id", "status"])
    op.create_index("ix_ledger_bundles_device_start", "ledger_bundles", ["device_id", "start_utc"])
    op.create_index("ix_ledger_bundles_status_expires", "ledger_bundles", ["status", "expires_utc"])
    op.create_index(
        "ix_ledger_bundles_beneficiary_hour",
        "ledger_bundles",
        ["beneficiary_id", "consumption_start_utc"],
    )
    op.create_table(
        "ledger_events",
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        _utc("recorded_utc"),
        sa.Column("payload_json", sa.Text(), nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_ledger_events"),
    )
    head = op.create_table(
        "ledger_chain_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_ledger_chain_head"),
    )
    op.bulk_insert(head, [{"id": 1, "seq": 0, "hash": GENESIS_HASH}])


def downgrade() -> None:
    for table in (
        "ledger_chain_head",
        "ledger_events",
        "ledger_bundles",
        "ledger_storage_charges",
        "ledger_issuances",
        "ledger_consumption",
        "ledger_generation",
        "ledger_devices",
        "ledger_account_accepts",
        "ledger_accounts",
        "ledger_organisations",
    ):
        op.drop_table(table)
