"""What a request works on (:class:`Platform`) and who makes it (:class:`Principal`).

Every route takes the platform and the caller as dependencies; tenant scoping is the route's
job, with the helpers here: a tenant asking for another tenant's thing gets 404, exactly as for a
thing that does not exist, so ids of other tenants cannot be probed.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Engine

from suandian.api.metrics import Metrics
from suandian.api.ratelimit import AuthFailureLimiter
from suandian.core.errors import NotFound
from suandian.ledger.service import Ledger
from suandian.scenario.model import Park
from suandian.settings import Settings
from suandian.store.jobs import JobQueue
from suandian.store.platform import PlatformDirectory, Principal
from suandian.store.readings import ReadingsStore

__all__ = [
    "Admin",
    "ApiError",
    "Caller",
    "Operator",
    "Platform",
    "PlatformDep",
    "not_found",
]


class ApiError(Exception):
    """An HTTP answer other than the store's own errors: 401, 403, 429."""

    def __init__(self, status: int, detail: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = headers or {}


def not_found(what: str) -> NotFound:
    """The one answer for a missing thing and for another tenant's thing."""
    return NotFound(f"{what}: not found")


@dataclass
class Platform:
    """The stores and the scenario one running service works on.

    The readings store is one DuckDB file with one writer: it is opened once and every use takes
    :meth:`readings`, which serialises access across the server's worker threads (and the MQTT
    subscriber).
    """

    settings: Settings
    park: Park
    engine: Engine
    directory: PlatformDirectory
    metrics: Metrics = field(default_factory=Metrics)
    limiter: AuthFailureLimiter = field(default_factory=AuthFailureLimiter)
    _readings: ReadingsStore | None = None
    _readings_lock: threading.RLock = field(default_factory=threading.RLock)

    @contextmanager
    def readings(self) -> Iterator[ReadingsStore]:
        """The readings store, held for the duration of the ``with`` block."""
        with self._readings_lock:
            if self._readings is None:
                self._readings = ReadingsStore(self.settings.data_dir)
            yield self._readings

    def job_queue(self) -> JobQueue:
        return JobQueue(self.engine)

    def ledger(self) -> Ledger:
        return Ledger(self.engine)

    def close(self) -> None:
        with self._readings_lock:
            if self._readings is not None:
                self._readings.close()
                self._readings = None
        self.engine.dispose()


def get_platform(request: Request) -> Platform:
    platform: Platform = request.app.state.platform
    return platform


PlatformDep = Annotated[Platform, Depends(get_platform)]

_bearer = HTTPBearer(
    auto_error=False,
    description="An API token from `suandian admin create-token` (sent as `Bearer sd_...`).",
)


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def authenticate(
    request: Request,
    platform: PlatformDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The caller of ``request``; 401 without a valid token, 429 after repeated failures."""
    client = _client(request)
    retry_s = platform.limiter.blocked_for(client)
    if retry_s > 0:
        raise ApiError(
            429,
            f"too many failed authentications from {client}; retry in {retry_s} s",
            headers={"Retry-After": str(retry_s)},
        )
    principal = None
    if credentials is not None and credentials.scheme.lower() == "bearer":
        principal = platform.directory.authenticate(credentials.credentials)
    if principal is None:
        platform.limiter.failed(client)
        platform.metrics.auth_failures.inc()
        raise ApiError(
            401,
            "missing or invalid API token; send 'Authorization: Bearer <token>' with a token "
            "from 'suandian admin create-token'",
            headers={"WWW-Authenticate": "Bearer"},
        )
    request.state.principal = principal
    return principal


Caller = Annotated[Principal, Depends(authenticate)]


def require_operator(caller: Caller) -> Principal:
    if not caller.can_operate:
        raise ApiError(403, f"role {caller.role} cannot change park data; ask an operator")
    return caller


def require_admin(caller: Caller) -> Principal:
    if caller.role != "park_admin":
        raise ApiError(403, f"role {caller.role} cannot manage access; ask a park admin")
    return caller


Operator = Annotated[Principal, Depends(require_operator)]
Admin = Annotated[Principal, Depends(require_admin)]
