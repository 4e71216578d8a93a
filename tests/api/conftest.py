"""The service on SQLite and on PostgreSQL (a fresh data directory and schema per test), with a
token for every role and two tenants.

Tenants: ``dc`` owns the data center ``dc-nanchuan``, ``silicon`` owns the enterprise
``silicon-a``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from suandian.api import create_app
from suandian.scenario.model import Park
from suandian.settings import Settings
from suandian.store.platform import PlatformDirectory
from suandian.store.sql import engine_for, migrate

TENANT_ASSETS = {"dc": "dc-nanchuan", "silicon": "silicon-a"}


@dataclass
class World:
    """A running app, its settings and an Authorization header per role and tenant."""

    app: FastAPI
    client: TestClient
    settings: Settings
    headers: dict[str, dict[str, str]]
    """``admin``, ``operator``, ``auditor``, ``dc``, ``silicon`` → headers."""
    backend: str

    def as_(self, who: str) -> dict[str, str]:
        return self.headers[who]


def make_settings(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Settings]:
    """Settings for a fresh data directory and, on PostgreSQL, a fresh schema (dropped after)."""
    if request.param == "sqlite":
        yield Settings(data_dir=tmp_path / "data")
        return
    url = request.getfixturevalue("postgres_url")
    schema = f"t_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(url, autocommit=True) as con:
        con.execute(f"CREATE SCHEMA {schema}")
    try:
        yield Settings(data_dir=tmp_path / "data", database_url=url, database_schema=schema)
    finally:
        with psycopg.connect(url, autocommit=True) as con:
            con.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture(params=["sqlite", "postgresql"])
def api_settings(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Settings]:
    yield from make_settings(request, tmp_path)


def grant_tokens(settings: Settings) -> dict[str, dict[str, str]]:
    """A token per park role and per tenant of :data:`TENANT_ASSETS`, as request headers."""
    from suandian.store.sql import database_url

    engine = engine_for(database_url(settings), schema=settings.database_schema)
    try:
        migrate(engine)
        directory = PlatformDirectory(engine)
        directory.ensure_org("park", kind="park")
        for org, asset in TENANT_ASSETS.items():
            directory.ensure_org(org, kind="tenant", assets=[asset])
        issued = {
            "admin": directory.create_token(user="admin", org="park", role="park_admin"),
            "operator": directory.create_token(user="op", org="park", role="operator"),
            "auditor": directory.create_token(user="audit", org="park", role="auditor"),
        }
        for org in TENANT_ASSETS:
            issued[org] = directory.create_token(user=f"{org}-user", org=org, role="tenant")
    finally:
        engine.dispose()
    return {who: {"Authorization": f"Bearer {t.token}"} for who, t in issued.items()}


@pytest.fixture
def world(api_settings: Settings, xining: Park) -> Iterator[World]:
    headers = grant_tokens(api_settings)
    app = create_app(api_settings, park=xining)
    with TestClient(app) as client:
        yield World(
            app=app,
            client=client,
            settings=api_settings,
            headers=headers,
            backend="postgresql" if api_settings.database_url else "sqlite",
        )
