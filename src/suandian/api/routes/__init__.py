"""The service's routers, one module per capability; :data:`ROUTERS` is what the app mounts."""

from __future__ import annotations

from fastapi import APIRouter

from suandian.api.routes import (
    admin,
    carbon_aware,
    certificates,
    dashboard,
    dispatch,
    ingest,
    jobs,
    meters,
    openadr,
    reports,
    scenario,
    system,
)

__all__ = ["ROUTERS"]

ROUTERS: tuple[APIRouter, ...] = (
    system.router,
    admin.router,
    scenario.router,
    meters.router,
    ingest.router,
    reports.router,
    certificates.router,
    dispatch.router,
    jobs.router,
    carbon_aware.router,
    dashboard.router,
    openadr.router,
)
