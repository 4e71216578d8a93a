"""Settings read once at an entry point (environment prefix ``SUANDIAN_``) and passed down."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings"]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SUANDIAN_", extra="ignore")

    data_dir: Path = Field(
        Path("suandian-data"),
        description="Embedded data directory: DuckDB time series, SQLite records.",
    )
    database_url: str | None = Field(
        None, description="PostgreSQL URL for transactional records; unset uses SQLite."
    )
