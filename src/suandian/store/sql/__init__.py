"""The SQL store: SQLite (embedded default) or PostgreSQL, schema by Alembic migrations.

The migrations ship inside the package (``migrations/``, no ``alembic.ini``): an installed
suandian migrates its own database with :func:`migrate`, which builds the Alembic configuration
in code. ``postgresql://`` and ``postgres://`` URLs are served by psycopg 3.

SQLite connections run with foreign keys on, WAL journaling and ``BEGIN IMMEDIATE``
transactions: a writer takes the database's write lock when it begins, so two writers never
both read and then race to upgrade their locks.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError

from suandian.core.errors import InputError, StoreError
from suandian.ledger.service import Ledger
from suandian.settings import Settings
from suandian.store.jobs import JobQueue
from suandian.store.platform import PlatformDirectory

__all__ = [
    "MIGRATIONS_DIR",
    "database_url",
    "engine_for",
    "migrate",
    "normalise_url",
    "open_job_queue",
    "open_ledger",
    "open_platform",
]

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
SQLITE_FILENAME = "suandian.sqlite"


def database_url(settings: Settings) -> str:
    """``settings.database_url`` (SUANDIAN_DATABASE_URL), else SQLite in the data directory."""
    if settings.database_url:
        return settings.database_url
    return f"sqlite:///{(Path(settings.data_dir) / SQLITE_FILENAME).resolve()}"


def normalise_url(url: str) -> str:
    """Route PostgreSQL URLs to psycopg 3 (``postgresql+psycopg://``)."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _sqlite_setup(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _connect(dbapi_con: Any, _record: Any) -> None:
        dbapi_con.isolation_level = None  # SQLAlchemy's "begin" event below issues BEGIN
        cur = dbapi_con.cursor()
        cur.execute("PRAGMA foreign_keys = ON")
        cur.execute("PRAGMA journal_mode = WAL")
        cur.execute("PRAGMA synchronous = NORMAL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def engine_for(url: str, *, schema: str | None = None, pool_size: int = 20) -> Engine:
    """An engine for ``url``; ``schema`` (PostgreSQL only) puts it first on the search path.

    SQLite files get their directory created. ``pool_size`` bounds PostgreSQL connections
    (one per concurrent operation).
    """
    url = normalise_url(url)
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise InputError(
            f"database URL {url!r} is not a URL; use e.g. 'sqlite:////path/suandian.sqlite' or "
            "'postgresql://user@host:5432/db'"
        ) from None
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        if schema is not None:
            raise InputError("schema: SQLite has no schemas; use one file per ledger instead")
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(parsed, connect_args={"timeout": 30})
        _sqlite_setup(engine)
        return engine
    if backend == "postgresql":
        # The ledger's repeated statements are key lookups and narrow ranges, prepared once per
        # connection: run them on their generic plan instead of planning each execution again
        # (the planner would keep re-planning any statement taking an array of ids).
        options = ["-cplan_cache_mode=force_generic_plan"]
        if schema is not None:
            options.append(f"-csearch_path={schema}")
        connect_args: dict[str, Any] = {"connect_timeout": 5, "options": " ".join(options)}
        return create_engine(
            parsed,
            connect_args=connect_args,
            pool_size=pool_size,
            max_overflow=pool_size,
        )
    raise InputError(
        f"database URL {url!r}: backend {backend!r} is not supported; use sqlite or postgresql"
    )


def _alembic_config(engine: Engine) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["engine"] = engine
    return cfg


def migrate(engine: Engine, revision: str = "head") -> None:
    """Bring the database's schema to ``revision`` with the packaged Alembic migrations."""
    try:
        command.upgrade(_alembic_config(engine), revision)
    except DBAPIError as exc:
        raise StoreError(
            f"cannot migrate the database at {engine.url.render_as_string(hide_password=True)}: "
            f"{exc.orig}; check that it is reachable and writable"
        ) from None


def open_job_queue(url: str, *, schema: str | None = None) -> JobQueue:
    """Engine for ``url``, migrated to the latest schema, wrapped in a :class:`JobQueue`."""
    engine = engine_for(url, schema=schema)
    migrate(engine)
    return JobQueue(engine)


def open_ledger(url: str, *, schema: str | None = None, **ledger_args: Any) -> Ledger:
    """Engine for ``url``, migrated to the latest schema, wrapped in a :class:`Ledger`."""
    engine = engine_for(url, schema=schema)
    migrate(engine)
    return Ledger(engine, **ledger_args)


def open_platform(url: str, *, schema: str | None = None) -> PlatformDirectory:
    """Engine for ``url``, migrated, wrapped in a :class:`PlatformDirectory`."""
    engine = engine_for(url, schema=schema)
    migrate(engine)
    return PlatformDirectory(engine)
