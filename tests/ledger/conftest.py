"""Ledgers on SQLite and PostgreSQL (a fresh file or schema per test) and a small park on them."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import Engine, text

from suandian.ledger import AccountKind, Ledger, MeterReading, Source
from suandian.store.sql import engine_for, migrate

UTC = dt.UTC
H0 = dt.datetime(2025, 3, 1, 4, tzinfo=UTC)  # 12:00 in Shanghai
HOUR = dt.timedelta(hours=1)
TABLES = (
    "ledger_organisations",
    "ledger_accounts",
    "ledger_account_accepts",
    "ledger_devices",
    "ledger_generation",
    "ledger_consumption",
    "ledger_issuances",
    "ledger_bundles",
    "ledger_storage_charges",
    "ledger_events",
    "ledger_chain_head",
)


@dataclass
class Clock:
    now: dt.datetime = field(default_factory=lambda: dt.datetime(2025, 6, 1, tzinfo=UTC))

    def __call__(self) -> dt.datetime:
        return self.now


EngineFactory = Callable[[], Engine]


@pytest.fixture(params=["sqlite", "postgresql"])
def make_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[EngineFactory]:
    """Makes migrated engines on one database: a fresh SQLite file or PostgreSQL schema each."""
    engines: list[Engine] = []
    schemas: list[str] = []
    url = ""
    if request.param == "postgresql":
        url = request.getfixturevalue("postgres_url")

    def make() -> Engine:
        if request.param == "sqlite":
            engine = engine_for(f"sqlite:///{tmp_path}/ledger-{len(engines)}.sqlite")
        else:
            schema = f"t_{uuid.uuid4().hex[:16]}"
            with psycopg.connect(url, autocommit=True) as con:
                con.execute(f"CREATE SCHEMA {schema}")
            schemas.append(schema)
            engine = engine_for(url, schema=schema)
        migrate(engine)
        engines.append(engine)
        return engine

    yield make
    for engine in engines:
        engine.dispose()
    if schemas:
        with psycopg.connect(url, autocommit=True) as con:
            for schema in schemas:
                con.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def ledger(make_engine: EngineFactory, clock: Clock) -> Ledger:
    return Ledger(make_engine(), clock=clock)


def build_park(ledger: Ledger) -> None:
    """Accounts and devices most tests share.

    operator (park_operator) issues; gen (generator) owns pv-1, wind-1 and bess-1 and accepts
    only trader; trader (generator) accepts anyone; c1 (consumer) accepts gen and trader; c2
    (consumer) accepts no one; audit (auditor).
    """
    ledger.create_organisation(code="park", name="Nanchuan park operator")
    ledger.create_organisation(code="solar-co", name="Solar Co")
    ledger.create_organisation(code="factory", name="Battery factory")
    ledger.create_account(code="operator", organisation="park", kind=AccountKind.PARK_OPERATOR)
    ledger.create_account(code="audit", organisation="park", kind="auditor")
    ledger.create_account(code="trader", organisation="solar-co", kind="generator", accept_all=True)
    ledger.create_account(code="gen", organisation="solar-co", kind="generator", accepts=["trader"])
    ledger.create_account(
        code="c1", organisation="factory", kind="consumer", accepts=["gen", "trader"]
    )
    ledger.create_account(code="c2", organisation="factory", kind="consumer")
    common: dict[str, Any] = {
        "site": "nanchuan",
        "zone": "CN-QH",
        "commissioned_on": dt.date(2024, 6, 30),
        "owner": "gen",
    }
    ledger.register_device(
        code="pv-1",
        name="PV 1",
        source=Source.PV,
        capacity_mw=10.0,
        emission_factor_g_per_kwh=45.0,
        project_code="QHXN0PV00001",
        **common,
    )
    ledger.register_device(
        code="wind-1",
        name="Wind 1",
        source="wind",
        capacity_mw=5.0,
        emission_factor_g_per_kwh=11.0,
        project_code="QHXN0WD00001",
        **common,
    )
    ledger.register_device(
        code="bess-1",
        name="Battery 1",
        source="storage",
        capacity_mw=4.0,
        emission_factor_g_per_kwh=0.0,
        project_code="QHXN0ST00001",
        round_trip_efficiency_pu=0.9,
        **common,
    )


def reading(start: dt.datetime, wh: int, minutes: int = 60, ref: str = "m@v1") -> MeterReading:
    return MeterReading(start, start + dt.timedelta(minutes=minutes), wh, ref)


def snapshot(ledger: Ledger) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every ledger table, to show that a refused operation changed nothing."""
    out = {}
    with ledger.engine.connect() as conn:
        for t in TABLES:
            rows = conn.execute(text(f"SELECT * FROM {t}")).all()
            out[t] = sorted((tuple(r) for r in rows), key=repr)
    return out


@pytest.fixture
def park(ledger: Ledger) -> Ledger:
    """The shared park, with pv-1 metered 1,000 Wh in H0 and issued (bundle owned by gen)."""
    build_park(ledger)
    return ledger
