"""Liveness, readiness and Prometheus metrics: open to the network, carrying no tenant data."""

from __future__ import annotations

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from suandian.api.context import ApiError, PlatformDep

__all__ = ["router"]

router = APIRouter(tags=["system"])


@router.get("/healthz", summary="The process answers")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="The stores answer")
def readyz(platform: PlatformDep) -> dict[str, object]:
    """Ready when the SQL store answers a query and the readings store is open."""
    try:
        with platform.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        with platform.readings() as store:
            meters = len(store.meters())
    except Exception as exc:
        raise ApiError(503, f"not ready: {type(exc).__name__}: {exc}") from None
    return {"status": "ready", "scenario": platform.park.name, "meters": meters}


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
def metrics(platform: PlatformDep) -> Response:
    return Response(generate_latest(platform.metrics.registry), media_type=CONTENT_TYPE_LATEST)
