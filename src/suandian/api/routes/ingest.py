"""Readings over HTTP: ``POST /v1/readings``, bulk JSON or CSV, checked row by row."""

from __future__ import annotations

from typing import Annotated, Any, Final

import orjson
from fastapi import APIRouter, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from suandian.api.context import ApiError, Operator, Platform, PlatformDep
from suandian.api.ingest import (
    MAX_BODY_BYTES,
    MAX_ROWS,
    IngestOutcome,
    TooLarge,
    frame_from_csv,
    frame_from_json,
    ingest,
)
from suandian.core.errors import InputError

__all__ = ["router"]

router = APIRouter(tags=["readings"])


class RowError(BaseModel):
    """One problem with one reading (a reading may have several)."""

    row: int = Field(description="1-based position of the reading in the request (CSV: data line).")
    meter_id: str
    field: str = Field(description="meter_id, start_utc or kwh.")
    value: str = Field(description="The value as sent.")
    reason: str = Field(description="What is wrong and how to fix it.")


class IngestReport(BaseModel):
    """What the request did; the accepted rows are committed when this answer is sent.

    ``rows = new + corrected + duplicate + rejected``.
    """

    rows: int = Field(description="Readings received.")
    new: int = Field(description="Readings that gave a meter and interval its first value.")
    corrected: int = Field(
        description="Readings with a new value for a stored meter and interval: kept as a "
        "new version."
    )
    duplicate: int = Field(description="Readings equal to what is stored: nothing written.")
    rejected: int = Field(description="Readings refused, each named in errors.")
    errors: list[RowError]


_READING_SCHEMA: Final[dict[str, Any]] = {
    "type": "object",
    "required": ["meter_id", "start_utc", "kwh"],
    "properties": {
        "meter_id": {"type": "string", "example": "m-pv-nanchuan"},
        "start_utc": {
            "type": "string",
            "description": "Interval start, ISO-8601 with its offset, on the interval grid.",
            "example": "2025-01-15T08:00:00Z",
        },
        "kwh": {"type": "number", "description": "Interval energy. [kWh]", "example": 12.5},
    },
}

_BODY: Final[dict[str, Any]] = {
    "requestBody": {
        "required": True,
        "description": f"Up to {MAX_ROWS:,} readings, as JSON or as CSV with the header "
        "meter_id,start_utc,kwh.",
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["readings"],
                    "properties": {
                        "resolution_min": {
                            "type": "integer",
                            "minimum": 1,
                            "maximum": 1440,
                            "description": "Interval length (default: the scenario's). [min]",
                        },
                        "readings": {
                            "type": "array",
                            "maxItems": MAX_ROWS,
                            "items": _READING_SCHEMA,
                        },
                    },
                },
            },
            "text/csv": {
                "schema": {"type": "string"},
                "example": "meter_id,start_utc,kwh\nm-pv-nanchuan,2025-01-15T08:00:00Z,12.5\n",
            },
        },
    }
}


@router.post(
    "/v1/readings",
    summary="Ingest meter readings (JSON or CSV)",
    response_model=IngestReport,
    openapi_extra=_BODY,
    responses={
        413: {"description": f"More than {MAX_ROWS:,} readings or {MAX_BODY_BYTES:,} bytes."},
        415: {"description": "Neither application/json nor text/csv."},
    },
)
async def post_readings(
    request: Request,
    platform: PlatformDep,
    _caller: Operator,
    resolution_min: Annotated[
        int | None,
        Query(ge=1, le=1440, description="Interval length (default: the scenario's). [min]"),
    ] = None,
) -> Response:
    """Check every reading and store the good ones; a re-sent reading changes nothing.

    Each reading is new, a duplicate of the stored value, a correction (a different value for a
    stored meter and interval, kept as a new version) or rejected with the field and the reason.
    The answer comes after the accepted readings are committed. Park admins and operators only.
    """
    kind = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
    if kind not in ("application/json", "text/csv", ""):
        raise ApiError(
            415,
            f"Content-Type {kind!r} is not taken; send application/json or text/csv "
            "(header meter_id,start_utc,kwh)",
        )
    body = await _body(request)
    try:
        outcome = await run_in_threadpool(
            _ingest_body, platform, body, csv=kind == "text/csv", resolution_min=resolution_min
        )
    except TooLarge as exc:
        raise ApiError(413, str(exc)) from None
    payload = {
        "rows": outcome.rows,
        "new": outcome.new,
        "corrected": outcome.corrected,
        "duplicate": outcome.duplicate,
        "rejected": outcome.rejected,
        "errors": outcome.errors(),
    }
    return Response(orjson.dumps(payload), media_type="application/json")


def _too_large(size: int) -> ApiError:
    return ApiError(
        413,
        f"the body has {size:,} bytes or more; at most {MAX_BODY_BYTES:,} bytes and "
        f"{MAX_ROWS:,} readings are taken per request — split it (nothing was stored)",
    )


async def _body(request: Request) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise _too_large(int(declared))
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise _too_large(size)
        chunks.append(chunk)
    return b"".join(chunks)


def _ingest_body(
    platform: Platform, body: bytes, *, csv: bool, resolution_min: int | None
) -> IngestOutcome:
    if csv:
        frame, declared = frame_from_csv(body), None
    else:
        frame, declared = frame_from_json(body)
    if declared is not None and resolution_min is not None and declared != resolution_min:
        raise InputError(
            f"resolution_min is {resolution_min} in the query but {declared} in the body; give one"
        )
    resolution = declared or resolution_min or platform.park.resolution_min
    return ingest(platform, frame, channel="http", resolution_min=resolution)
