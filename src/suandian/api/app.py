"""The FastAPI application: stores, error mapping, request logs and metrics, routers."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Final

from fastapi import FastAPI, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from suandian.api.context import ApiError, Platform
from suandian.api.mqtt import MqttSubscriber
from suandian.api.ratelimit import AuthFailureLimiter
from suandian.api.routes import ROUTERS
from suandian.core.errors import (
    ExecutorError,
    InfeasiblePlan,
    InputError,
    LedgerConflict,
    NotFound,
    StoreError,
    SuandianError,
)
from suandian.meters.registry import meters_for_park
from suandian.scenario import load_scenario
from suandian.scenario.model import Park
from suandian.settings import Settings
from suandian.store.platform import PlatformDirectory
from suandian.store.sql import database_url, engine_for, migrate

__all__ = ["STATUS_OF", "create_app"]

log = logging.getLogger("suandian.api")
access = logging.getLogger("suandian.api.access")

STATUS_OF: Final[tuple[tuple[type[SuandianError], int], ...]] = (
    (InputError, 422),
    (NotFound, 404),
    (InfeasiblePlan, 409),
    (LedgerConflict, 409),
    (ExecutorError, 502),
    (StoreError, 503),
)
"""HTTP status of each of suandian's errors (see :mod:`suandian.core.errors`)."""

DESCRIPTION = """
The energy–carbon brain of a green compute park: meters and readings, green-power attribution
and daily reports, certificates and evidence packs, dispatch plans, compute jobs, a Carbon Aware
SDK-compatible emissions API and the park's situational-awareness dashboard (`/dashboard`).

Every `/v1` call needs `Authorization: Bearer <token>`; a tenant sees only its own meters,
reports, certificates and jobs, and another tenant's id answers 404. Open without a token, as
they carry no tenant data: `/healthz`, `/readyz`, `/metrics`, the emissions API (`/emissions/...`,
`/locations`, read-only, compatible with the Carbon Aware SDK's Web API) and the dashboard's page
(which then asks for a token).
"""


def open_platform(settings: Settings, *, park: Park | None = None) -> Platform:
    """The stores ``settings`` name, migrated, the scenario the service serves and its meters."""
    park = park if park is not None else load_scenario(settings.scenario)
    engine = engine_for(database_url(settings), schema=settings.database_schema)
    migrate(engine)
    platform = Platform(
        settings=settings, park=park, engine=engine, directory=PlatformDirectory(engine)
    )
    # The scenario's meters are known from the start, so readings can arrive at once.
    with platform.readings() as store:
        store.register_meters(meters_for_park(park))
    return platform


def create_app(
    settings: Settings | None = None,
    *,
    park: Park | None = None,
    limiter: AuthFailureLimiter | None = None,
) -> FastAPI:
    """The service over the stores of ``settings`` (default: the environment's).

    ``park`` overrides the scenario named by ``settings.scenario``; ``limiter`` the
    authentication-failure limit.
    """
    settings = settings or Settings()
    platform = open_platform(settings, park=park)
    if limiter is not None:
        platform.limiter = limiter

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        subscriber = None
        if settings.mqtt_url:
            subscriber = MqttSubscriber(platform, settings.mqtt_url, settings.mqtt_topic_prefix)
            # Subscribed before the first request is served (or retrying in the background).
            await run_in_threadpool(subscriber.start)
        app.state.mqtt = subscriber
        try:
            yield
        finally:
            if subscriber is not None:
                await run_in_threadpool(subscriber.stop)
            platform.close()

    app = FastAPI(
        title="suandian",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.platform = platform
    _add_error_handlers(app)
    _add_request_middleware(app, platform)
    for router in ROUTERS:
        app.include_router(router)
    return app


def _error_body(exc: Exception, status: int) -> dict[str, object]:
    return {"detail": str(exc), "error": type(exc).__name__, "status": status}


def _add_error_handlers(app: FastAPI) -> None:
    async def suandian_error(_request: Request, exc: Exception) -> Response:
        status = next((s for cls, s in STATUS_OF if isinstance(exc, cls)), 500)
        return JSONResponse(_error_body(exc, status), status_code=status)

    async def api_error(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiError)
        return JSONResponse(
            {"detail": exc.detail, "error": "ApiError", "status": exc.status},
            status_code=exc.status,
            headers=exc.headers,
        )

    app.add_exception_handler(SuandianError, suandian_error)
    app.add_exception_handler(ApiError, api_error)


def _add_request_middleware(app: FastAPI, platform: Platform) -> None:
    metrics = platform.metrics

    @app.middleware("http")
    async def observe(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        t0 = time.perf_counter()
        status = 500
        try:
            response = await call_next(request)
            status = response.status_code
            return response
        finally:
            elapsed = time.perf_counter() - t0
            route = getattr(request.scope.get("route"), "path", "unmatched")
            metrics.requests.labels(request.method, route, str(status)).inc()
            metrics.latency.labels(route).observe(elapsed)
            principal = getattr(request.state, "principal", None)
            access.info(
                "request",
                extra={
                    "method": request.method,
                    "path": request.url.path,
                    "route": route,
                    "status": status,
                    "duration_ms": round(elapsed * 1000, 2),
                    "client": request.client.host if request.client else None,
                    "user": getattr(principal, "user", None),
                    "org": getattr(principal, "org", None),
                },
            )
