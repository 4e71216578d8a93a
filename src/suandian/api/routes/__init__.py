"""The service's routers, one module per capability; :data:`ROUTERS` is what the app mounts."""

from __future__ import annotations

from fastapi import APIRouter

from suandian.api.routes import admin, system

__all__ = ["ROUTERS"]

ROUTERS: tuple[APIRouter, ...] = (
    system.router,
    admin.router,
)
