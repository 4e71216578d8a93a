"""SQL tables of the certificate ledger (SQLAlchemy 2 typed declarative).

Quantities are integers of Wh (BIGINT), certificate IDs BIGINT, timestamps tz-aware UTC
(``timestamptz`` on PostgreSQL; on SQLite UTC text, refused when naive). The schema is created
by the Alembic migrations in :mod:`suandian.store.sql`, never by ``create_all`` in production;
``tests/ledger`` checks the two agree.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from suandian.core.errors import TimeError

__all__ = [
    "AccountAcceptRow",
    "AccountRow",
    "Base",
    "BundleRow",
    "ChainEventRow",
    "ChainHeadRow",
    "ConsumptionRow",
    "DeviceRow",
    "GenerationRow",
    "IssuanceRow",
    "OrganisationRow",
    "StorageChargeRow",
    "UtcDateTime",
]

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UtcDateTime(TypeDecorator[dt.datetime]):
    """Tz-aware UTC datetimes on every database; a naive value is refused, never guessed."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise TimeError(
                f"naive datetime {value.isoformat()} reached the ledger store; attach a time "
                "zone, e.g. datetime(..., tzinfo=datetime.UTC)"
            )
        value = value.astimezone(dt.UTC)
        # SQLite keeps text without an offset: store UTC wall time, read it back as UTC.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(
        self, value: dt.datetime | None, dialect: Dialect
    ) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class OrganisationRow(Base):
    __tablename__ = "ledger_organisations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))


class AccountRow(Base):
    __tablename__ = "ledger_accounts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("ledger_organisations.id"))
    kind: Mapped[str] = mapped_column(String(16))
    accept_all: Mapped[bool] = mapped_column(Boolean, default=False)


class AccountAcceptRow(Base):
    """Account ``account_id`` accepts transfers from ``sender_id``."""

    __tablename__ = "ledger_account_accepts"

    account_id: Mapped[int] = mapped_column(ForeignKey("ledger_accounts.id"), primary_key=True)
    sender_id: Mapped[int] = mapped_column(ForeignKey("ledger_accounts.id"), primary_key=True)


class DeviceRow(Base):
    __tablename__ = "ledger_devices"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    """The device number; its certificate IDs are ``[id << 48, (id + 1) << 48)``."""
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    source: Mapped[str] = mapped_column(String(16))
    capacity_mw: Mapped[float] = mapped_column(Float)
    site: Mapped[str] = mapped_column(String(64))
    zone: Mapped[str] = mapped_column(String(32))
    country: Mapped[str] = mapped_column(String(2))
    commissioned_on: Mapped[dt.date] = mapped_column(Date)
    owner_id: Mapped[int] = mapped_column(ForeignKey("ledger_accounts.id"))
    emission_factor_g_per_kwh: Mapped[float] = mapped_column(Float)
    project_code: Mapped[str] = mapped_column(String(12), unique=True)
    round_trip_efficiency_pu: Mapped[float | None] = mapped_column(Float, nullable=True)
    next_cert_id: Mapped[int] = mapped_column(BigInteger)
    """First ID of the next range this device issues."""


class GenerationRow(Base):
    """Metered generation (or storage discharge) of a device over one production interval."""

    __tablename__ = "ledger_generation"

    device_id: Mapped[int] = mapped_column(ForeignKey("ledger_devices.id"), primary_key=True)
    start_utc: Mapped[dt.datetime] = mapped_column(UtcDateTime, primary_key=True)
    end_utc: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    wh: Mapped[int] = mapped_column(BigInteger)
    meter_ref: Mapped[str] = mapped_column(String(200))


class ConsumptionRow(Base):
    """Metered consumption of a consumer account over one clock hour."""

    __tablename__ = "ledger_consumption"

    account_id: Mapped[int] = mapped_column(ForeignKey("ledger_accounts.id"), primary_key=True)
    start_utc: Mapped[dt.datetime] = mapped_column(UtcDateTime, primary_key=True)
    end_utc: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    wh: Mapped[int] = mapped_column(BigInteger)
    meter_ref: Mapped[str] = mapped_column(String(200))


class IssuanceRow(Base):
    """One issue of one device-interval; its id is the first certificate ID it issued."""

    __tablename__ = "ledger_issuances"
    __table_args__ = (UniqueConstraint("device_id", "start_utc"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    device_id: Mapped[int] = mapped_column(ForeignKey("ledger_devices.id"))
    start_utc: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    end_utc: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    wh: Mapped[int] = mapped_column(BigInteger)
    storage: Mapped[bool] = mapped_column(Boolean)
    issuer_id: Mapped[int] = mapped_column(ForeignKey("ledger_accounts.id"))
    issued_utc: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class BundleRow(Base):
    __tablename__ = "ledger_bundles"
    __table_args__ = (
        CheckConstraint("wh = end_id - start_id + 1", name="face_value"),
        Index("ix_ledger_bundles_owner_status", "owner_id", "status"),
        Index("ix_ledger_bundles_device_start", "device_id", "start_utc"),
        Index("ix_ledger_bundles_status_expires", "status", "expires_utc"),
        Index("ix_ledger_bundles_beneficiary_hour", "beneficiary_id", "consumption_start_utc"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("ledger_devices.id"))
    issuance_id: Mapped[int] = mapped_column(ForeignKey("ledger_issuances.id"))
    parent_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    start_id: Mapped[int] = mapped_column(BigInteger)
    end_id: Mapped[int] = mapped_column(BigInteger)
    wh: Mapped[int] = mapped_column(BigInteger)
    start_utc: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    end_utc: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    owner_id: Mapped[int] = mapped_column(ForeignKey("ledger_accounts.id"))
    status: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(16))
    country: Mapped[str] = mapped_column(String(2))
    zone: Mapped[str] = mapped_column(String(32))
    emission_factor_g_per_kwh: Mapped[float] = mapped_column(Float)
    storage: Mapped[bool] = mapped_column(Boolean)
    issuer_id: Mapped[int] = mapped_column(ForeignKey("ledger_accounts.id"))
    expires_utc: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    beneficiary_id: Mapped[int | None] = mapped_column(
        ForeignKey("ledger_accounts.id"), nullable=True
    )
    consumption_start_utc: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)
    consumption_end_utc: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)
    retired_utc: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)
    claimed_utc: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)
    charge_id: Mapped[int | None] = mapped_column(
        ForeignKey("ledger_storage_charges.id"), nullable=True
    )
    """Storage charge record that cancelled this bundle (never claimable by a consumer)."""


class StorageChargeRow(Base):
    """Energy certificates cancelled into a storage device while it charged."""

    __tablename__ = "ledger_storage_charges"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("ledger_devices.id"), index=True)
    start_utc: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    end_utc: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    wh: Mapped[int] = mapped_column(BigInteger)
    recorded_utc: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class ChainEventRow(Base):
    __tablename__ = "ledger_events"

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    kind: Mapped[str] = mapped_column(String(32))
    recorded_utc: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    payload_json: Mapped[str] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class ChainHeadRow(Base):
    """One row (id 1): the last event's seq and hash, locked to serialise appends."""

    __tablename__ = "ledger_chain_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(String(64))
