"""The packaged migrations build exactly the schema the models describe, on both databases."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from suandian.core.errors import InputError
from suandian.ledger.tables import Base
from suandian.settings import Settings
from suandian.store.jobs import JobsBase
from suandian.store.openadr import OpenadrBase
from suandian.store.platform import PlatformBase
from suandian.store.sql import MIGRATIONS_DIR, database_url, engine_for, migrate, normalise_url

from .conftest import EngineFactory


def test_migrated_schema_matches_the_models(make_engine: EngineFactory) -> None:
    engine = make_engine()
    migrate(engine)  # a second upgrade is a no-op
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        # Every table of the store: the ledger's, the job queue's and the platform's.
        metadata = [Base.metadata, JobsBase.metadata, PlatformBase.metadata, OpenadrBase.metadata]
        diffs = compare_metadata(ctx, metadata)  # type: ignore[arg-type]
        assert diffs == []
        assert "alembic_version" in inspect(conn).get_table_names()


def test_migrations_ship_inside_the_package() -> None:
    assert (MIGRATIONS_DIR / "env.py").is_file()
    assert list((MIGRATIONS_DIR / "versions").glob("rev_*.py"))


def test_urls(tmp_path: Path) -> None:
    assert normalise_url("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalise_url("postgres://u@h/db") == "postgresql+psycopg://u@h/db"
    assert database_url(Settings(data_dir=tmp_path)) == f"sqlite:///{tmp_path / 'suandian.sqlite'}"
    assert database_url(Settings(database_url="postgresql://x/y")) == "postgresql://x/y"
    with pytest.raises(InputError, match="not supported"):
        engine_for("mysql://u@h/db")
    with pytest.raises(InputError, match="no schemas"):
        engine_for(f"sqlite:///{tmp_path}/x.sqlite", schema="s")
