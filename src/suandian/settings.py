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
    database_schema: str | None = Field(
        None, description="PostgreSQL schema to keep the records in; unset: the default path."
    )
    scenario: str = Field(
        "xining", description="Park scenario the service serves: a bundled name or a YAML file."
    )
    mqtt_url: str | None = Field(
        None,
        description="MQTT broker to take meter readings from, e.g. mqtt://127.0.0.1:1883; "
        "unset: no MQTT ingestion.",
    )
    mqtt_topic_prefix: str = Field(
        "suandian/readings", description="Readings arrive on <prefix>/<meter_id>."
    )
