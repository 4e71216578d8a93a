"""Alembic environment of suandian's SQL store, run from code (``suandian.store.sql.migrate``).

There is no ``alembic.ini``: the caller puts its engine into ``config.attributes["engine"]``.
"""

from __future__ import annotations

from alembic import context

from suandian.ledger.tables import Base
from suandian.store.jobs import JobsBase
from suandian.store.openadr import OpenadrBase
from suandian.store.platform import PlatformBase

config = context.config
engine = config.attributes.get("engine")
if engine is None:
    raise RuntimeError(
        "suandian migrations run through suandian.store.sql.migrate(engine), not the alembic CLI"
    )

with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=[
            Base.metadata,
            JobsBase.metadata,
            PlatformBase.metadata,
            OpenadrBase.metadata,
        ],
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
