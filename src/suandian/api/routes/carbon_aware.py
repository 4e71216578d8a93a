"""Carbon Aware SDK-compatible endpoints: the sites of the served scenario as a data source.

Paths, parameter names, JSON field names and status codes follow the Web API of the Green
Software Foundation's Carbon Aware SDK (v1.x), so existing carbon-aware tools can point at
suandian; ``docs/carbon_aware.md`` lists the SDK shapes followed and every difference.

Locations are the scenario's site ids; values are the *modelled* hourly location-based grid
intensity of each site's zone in gCO₂eq/kWh (:mod:`suandian.api.emissions`). The endpoints are
read-only and need no token: they carry no tenant data, only the zone intensity any tool may
read, as the SDK's own Web API does.

Bad parameters answer 400 with a ValidationProblemDetails-like body whose ``errors`` names each
parameter at fault, as the SDK does; this router's own route class turns FastAPI's request
validation errors into the same shape, so no malformed query reaches a handler.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Coroutine, Sequence
from typing import Annotated, Any, Final, NamedTuple, TypeVar

import numpy as np
import pandas as pd
from fastapi import APIRouter, Body, Depends, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException

from suandian.api.context import PlatformDep
from suandian.api.emissions import (
    DATA_END_UTC,
    DATA_START_UTC,
    STEP,
    HourlySeries,
    average_over_period,
    hourly_intensity,
    rolling_windows,
)
from suandian.core.times import UTC
from suandian.scenario.model import Site

__all__ = ["router"]

_T = TypeVar("_T")
_I = TypeVar("_I")

FORECAST_HORIZON: Final = pd.Timedelta(hours=48)
"""Span of a current forecast, from the start of the current hour."""
MAX_SPAN: Final = pd.Timedelta(days=31)
"""Longest period ``/emissions/bylocation(s)`` answer in one request (11 sites × 744 hours)."""
MAX_WINDOW_MIN: Final = 7 * 24 * 60
"""Largest accepted ``windowSize``. [min]"""
MAX_BATCH: Final = 100
"""Most items in one batch request."""
_MAX_TEXT: Final = 64

_OPEN = (
    " Open: needs no token (grid-zone data, no tenant data), read-only. Values are the modelled "
    "hourly location-based intensity of the site's grid zone (DESIGN §7), a model that averages "
    "to the zone's published factor over each local year, not measured data. [gCO2eq/kWh]"
)


class BadParameter(Exception):
    """One or more parameters are wrong: parameter name → messages."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        self.errors = errors
        super().__init__("; ".join(m for msgs in errors.values() for m in msgs))


def _bad(name: str, message: str) -> BadParameter:
    return BadParameter({name: [f"{name}: {message}"]})


class ValidationProblem(BaseModel):
    """RFC 9457 problem details with the parameters at fault (ASP.NET's
    ValidationProblemDetails, what the SDK answers for bad parameters)."""

    type: str = "https://tools.ietf.org/html/rfc9110#section-15.5.1"
    title: str = "One or more validation errors occurred."
    status: int = 400
    detail: str
    errors: dict[str, list[str]] = Field(description="Parameter name → what is wrong with it.")


def _problem(errors: dict[str, list[str]]) -> JSONResponse:
    body = ValidationProblem(
        detail="; ".join(m for msgs in errors.values() for m in msgs), errors=errors
    )
    return JSONResponse(body.model_dump(), status_code=400)


def _where(loc: tuple[object, ...], msg: str) -> tuple[str, str]:
    """The parameter a validation error is about, and its message naming it (and the batch
    item, for a body): ``("query", "windowSize")`` → windowSize; ``("body", 2, "endTime")`` →
    endTime, "[2] endTime: …"."""
    names = [str(x) for x in loc[1:] if isinstance(x, str)]
    name = names[-1] if names else str(loc[0]) if loc else "request"
    item = next((x for x in loc[1:-1] if isinstance(x, int)), None) if names else None
    prefix = f"[{item}] " if item is not None else ""
    return name, f"{prefix}{name}: {msg}"


class _SdkRoute(APIRoute):
    """Bad parameters answer 400 in the SDK's shape rather than the app's 422."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def answer(request: Request) -> Response:
            try:
                return await handler(request)
            except RequestValidationError as exc:
                errors: dict[str, list[str]] = {}
                for e in exc.errors():
                    name, message = _where(tuple(e.get("loc", ())), str(e.get("msg", "invalid")))
                    errors.setdefault(name, []).append(message)
                return _problem(errors)
            except BadParameter as exc:
                return _problem(exc.errors)
            except HTTPException as exc:
                if exc.status_code != 400:  # a body that is not JSON at all
                    raise
                return _problem({"body": [f"body: {exc.detail}; send a JSON array"]})

        return answer


router = APIRouter(tags=["carbon-aware"], route_class=_SdkRoute)

_BAD_REQUEST: dict[int | str, dict[str, Any]] = {
    400: {"model": ValidationProblem, "description": "A parameter is missing or wrong."}
}


# --- response shapes (the SDK's JSON names and casing) ------------------------------------------


class EmissionsData(BaseModel):
    """One hour of one location (the SDK's ``EmissionsData``)."""

    location: str = Field(description="Site id.", examples=["nanchuan"])
    time: dt.datetime = Field(description="Start of the interval, UTC.")
    rating: float = Field(description="Grid intensity over the interval. [gCO2eq/kWh]")
    duration: str = Field(
        description="Length of the interval as a .NET TimeSpan, [d.]hh:mm:ss.",
        examples=["01:00:00"],
    )


class EmissionsDataDTO(BaseModel):
    """A forecast point or window (the SDK's ``EmissionsDataDTO``)."""

    location: str
    timestamp: dt.datetime = Field(description="Start of the point or window, UTC.")
    duration: int = Field(description="Length of the point or window. [min]")
    value: float = Field(description="Mean grid intensity over it. [gCO2eq/kWh]")


class EmissionsForecastDTO(BaseModel):
    """A forecast of one location with its optimal windows (the SDK's
    ``EmissionsForecastDTO``)."""

    generatedAt: dt.datetime = Field(description="Start of the hour the forecast was made in.")
    requestedAt: dt.datetime
    location: str
    dataStartAt: dt.datetime
    dataEndAt: dt.datetime
    windowSize: int = Field(description="Length of the averaged windows. [min]")
    optimalDataPoints: list[EmissionsDataDTO] = Field(
        description="The windows of lowest mean intensity (all of them on a tie)."
    )
    forecastData: list[EmissionsDataDTO]


class CarbonIntensityDTO(BaseModel):
    """Mean intensity of one location over a period (the SDK's ``CarbonIntensityDTO``)."""

    location: str
    startTime: dt.datetime
    endTime: dt.datetime
    carbonIntensity: float = Field(description="Time-weighted mean. [gCO2eq/kWh]")


class LocationDTO(BaseModel):
    """A location the data source knows (the SDK's ``Location``)."""

    latitude: float = Field(description="[deg]")
    longitude: float = Field(description="[deg]")
    name: str


# --- batch request bodies (the SDK's JSON names) ------------------------------------------------


class CarbonIntensityBatchItem(BaseModel):
    """One period of ``POST /emissions/average-carbon-intensity/batch``."""

    location: str = Field(max_length=_MAX_TEXT, description="Site id.")
    startTime: str = Field(
        max_length=_MAX_TEXT,
        description="Start of the period, ISO 8601 with an offset.",
        json_schema_extra={"format": "date-time"},
    )
    endTime: str = Field(
        max_length=_MAX_TEXT,
        description="End of the period (exclusive), ISO 8601 with an offset.",
        json_schema_extra={"format": "date-time"},
    )


class EmissionsForecastBatchItem(BaseModel):
    """One forecast of ``POST /emissions/forecasts/batch``."""

    requestedAt: str = Field(
        max_length=_MAX_TEXT,
        description="When the forecast is asked for: the one made at the start of that hour.",
        json_schema_extra={"format": "date-time"},
    )
    location: str = Field(max_length=_MAX_TEXT, description="Site id.")
    dataStartAt: str | None = Field(
        None,
        max_length=_MAX_TEXT,
        description="[Optional] Start of the scoped data, inside the forecast.",
        json_schema_extra={"format": "date-time"},
    )
    dataEndAt: str | None = Field(
        None,
        max_length=_MAX_TEXT,
        description="[Optional] End of the scoped data, inside the forecast.",
        json_schema_extra={"format": "date-time"},
    )
    windowSize: int | None = Field(
        None, ge=1, le=MAX_WINDOW_MIN, description="[Optional] Duration of the workload. [min]"
    )


# --- parameters -----------------------------------------------------------------------------------

_OFFSET_AFTER_SPACE = re.compile(r"^(.*\d)\s(\d{2}(?::?\d{2})?)$")


def _time(name: str, text: str | None) -> pd.Timestamp | None:
    """An ISO 8601 time with an offset, inside the served data; ``None`` when absent."""
    if text is None or text.strip() == "":
        return None
    raw = text.strip()
    if len(raw) > _MAX_TEXT:
        raise _bad(name, f"{len(raw)} characters is too long for a time; write ISO 8601")
    # An unencoded '+' in a query string arrives as a space: '…T08:00:00 08:00'.
    m = _OFFSET_AFTER_SPACE.match(raw)
    if m:
        raw = f"{m.group(1)}+{m.group(2)}"
    try:
        parsed = dt.datetime.fromisoformat(raw)
    except ValueError:
        raise _bad(
            name,
            f"{text!r} is not an ISO 8601 time; write it like 2025-06-01T08:00:00Z or "
            "2025-06-01T16:00:00+08:00",
        ) from None
    if parsed.tzinfo is None:
        shown = parsed.isoformat()
        raise _bad(
            name,
            f"{text!r} has no time zone; add one, e.g. {shown}Z for UTC or {shown}+08:00 for "
            "Beijing time (encode '+' as %2B in a URL)",
        )
    try:
        inside = DATA_START_UTC.to_pydatetime() <= parsed <= DATA_END_UTC.to_pydatetime()
    except OverflowError:
        inside = False
    if not inside:
        raise _bad(
            name,
            f"{text!r} is outside the served data {DATA_START_UTC.isoformat()} .. "
            f"{DATA_END_UTC.isoformat()}; choose a time inside it",
        )
    return pd.Timestamp(parsed).tz_convert(UTC)


def _sites(platform_sites: list[Site], names: list[str], param: str) -> list[Site]:
    by_id = {s.id: s for s in platform_sites}
    wanted = list(dict.fromkeys(n.strip() for n in names if n.strip()))
    if not wanted:
        raise _bad(param, f"is not set; name one or more of {sorted(by_id)}")
    unknown = [n for n in wanted if n not in by_id]
    if unknown:
        shown = ", ".join(repr(n[:_MAX_TEXT]) for n in unknown[:5])
        raise _bad(param, f"unknown location {shown}; the locations are {sorted(by_id)}")
    return [by_id[n] for n in wanted]


def _timespan(delta: pd.Timedelta) -> str:
    """A .NET TimeSpan string: ``hh:mm:ss``, or ``d.hh:mm:ss`` from a day on."""
    seconds = int(delta.total_seconds())
    days, rest = divmod(seconds, 86_400)
    h, rest = divmod(rest, 3600)
    m, s = divmod(rest, 60)
    clock = f"{h:02d}:{m:02d}:{s:02d}"
    return f"{days}.{clock}" if days else clock


TIE_G_PER_KWH: Final = 1e-9
"""Values this close to the lowest are ties (sums of equal hours may differ in the last bit).
[gCO₂ kWh⁻¹]"""


def _lowest(values: list[float]) -> list[int]:
    """Positions of the lowest value and of every value tied with it."""
    if not values:
        return []
    array = np.asarray(values, dtype=np.float64)
    return [int(i) for i in np.flatnonzero(array <= array.min() + TIE_G_PER_KWH)]


def _now() -> pd.Timestamp:
    return pd.Timestamp(dt.datetime.now(UTC))


def _points(site: Site, series: HourlySeries) -> list[EmissionsData]:
    step = _timespan(STEP)
    return [
        EmissionsData(location=site.id, time=t.to_pydatetime(), rating=float(v), duration=step)
        for t, v in zip(series.index_utc, series.values_g_per_kwh, strict=True)
    ]


class _Period(NamedTuple):
    """``time``, ``toTime`` and ``durationMinutes`` of the emissions endpoints, as given."""

    time: str | None
    to_time: str | None
    duration_minutes: int


def _emissions(sites: list[Site], period: _Period) -> list[EmissionsData]:
    start = _time("time", period.time)
    end = _time("toTime", period.to_time)
    duration_minutes = period.duration_minutes
    if end is not None and start is None:
        raise _bad("time", "must be defined if toTime is defined")
    if start is None:
        start = _now()
    if end is None and start >= DATA_END_UTC:
        raise _bad(
            "time", f"{start.isoformat()} is where the served data ends; choose an earlier time"
        )
    if end is None and duration_minutes > 0:
        end = start + pd.Timedelta(minutes=duration_minutes)
        if end > DATA_END_UTC:
            raise _bad("durationMinutes", "runs past the end of the served data; shorten it")
    if end is not None:
        if end <= start:
            raise _bad("time", f"must be before toTime ({start.isoformat()} ≥ {end.isoformat()})")
        if end - start > MAX_SPAN:
            raise _bad("toTime", f"spans more than {MAX_SPAN.days} days; split the request")
    out: list[EmissionsData] = []
    for site in sites:
        out += _points(site, hourly_intensity(site, start, end if end is not None else start))
    return out


def _forecast(
    site: Site,
    requested: pd.Timestamp,
    data_start_at: str | None,
    data_end_at: str | None,
    window_size: int | None,
) -> EmissionsForecastDTO:
    """The forecast made at the start of the hour holding ``requested``, scoped and averaged."""
    generated = requested.floor(STEP)
    horizon_end = generated + FORECAST_HORIZON
    if horizon_end > DATA_END_UTC:
        raise _bad("requestedAt", "the served data ends before the forecast would; no forecast")
    start = _time("dataStartAt", data_start_at)
    end = _time("dataEndAt", data_end_at)
    span = f"the forecast covers {generated.isoformat()} .. {horizon_end.isoformat()}"
    if start is not None and not generated <= start < horizon_end:
        raise _bad("dataStartAt", f"{start.isoformat()} is outside the forecast; {span}")
    if end is not None and not generated < end <= horizon_end:
        raise _bad("dataEndAt", f"{end.isoformat()} is outside the forecast; {span}")
    start = start if start is not None else generated
    end = end if end is not None else horizon_end
    if start >= end:
        raise _bad(
            "dataStartAt", f"must be before dataEndAt ({start.isoformat()} ≥ {end.isoformat()})"
        )
    series = hourly_intensity(site, start, end)
    if window_size is None:
        window_min = int(STEP / pd.Timedelta(minutes=1))
        starts, values = series.index_utc, series.values_g_per_kwh
    else:
        window_min = window_size
        starts, values = rolling_windows(series, start, end, pd.Timedelta(minutes=window_size))
    data = [
        EmissionsDataDTO(
            location=site.id, timestamp=t.to_pydatetime(), duration=window_min, value=float(v)
        )
        for t, v in zip(starts, values, strict=True)
    ]
    return EmissionsForecastDTO(
        generatedAt=generated.to_pydatetime(),
        requestedAt=requested.to_pydatetime(),
        location=site.id,
        dataStartAt=start.to_pydatetime(),
        dataEndAt=end.to_pydatetime(),
        windowSize=window_min,
        optimalDataPoints=[data[i] for i in _lowest([d.value for d in data])],
        forecastData=data,
    )


def _average(site: Site, start_time: str | None, end_time: str | None) -> CarbonIntensityDTO:
    start = _time("startTime", start_time)
    end = _time("endTime", end_time)
    if start is None:
        raise _bad("startTime", "is not set; give the start of the period")
    if end is None:
        raise _bad("endTime", "is not set; give the end of the period")
    if start >= end:
        raise _bad("startTime", f"must be before endTime ({start.isoformat()} ≥ {end.isoformat()})")
    series = hourly_intensity(site, start, end)
    (mean,) = average_over_period(series, pd.DatetimeIndex([start]), pd.DatetimeIndex([end]))
    return CarbonIntensityDTO(
        location=site.id,
        startTime=start.to_pydatetime(),
        endTime=end.to_pydatetime(),
        carbonIntensity=float(mean),
    )


Locations = Annotated[
    list[str],
    Query(alias="location", description="Site id; repeat the parameter for several."),
]
Location = Annotated[str, Query(description="Site id.", max_length=_MAX_TEXT)]
TimeParam = Annotated[
    str | None,
    Query(
        description="[Optional] Start of the period, ISO 8601 with an offset (default: now).",
        json_schema_extra={"format": "date-time"},
    ),
]
ToTimeParam = Annotated[
    str | None,
    Query(
        alias="toTime",
        description="[Optional] End of the period (exclusive), ISO 8601 with an offset; "
        "without it, the hour that holds `time`.",
        json_schema_extra={"format": "date-time"},
    ),
]
DurationParam = Annotated[
    int,
    Query(
        alias="durationMinutes",
        ge=0,
        le=MAX_SPAN.days * 24 * 60,
        description="[Optional] Without `toTime`: the period is `time` + this many minutes.",
    ),
]


def _one_location(location: Location) -> list[str]:
    return [location]


def _locations(locations: Locations) -> list[str]:
    return locations


def _period(
    time: TimeParam = None, to_time: ToTimeParam = None, duration_minutes: DurationParam = 0
) -> _Period:
    return _Period(time, to_time, duration_minutes)


# The emissions endpoints take their parameters through dependencies, location first, so that
# FastAPI checks (and reports) them in that order.
OneLocation = Annotated[list[str], Depends(_one_location)]
SomeLocations = Annotated[list[str], Depends(_locations)]
Period = Annotated[_Period, Depends(_period)]


# --- endpoints ------------------------------------------------------------------------------------


@router.get(
    "/emissions/bylocation",
    response_model=list[EmissionsData],
    responses=_BAD_REQUEST,
    summary="Hourly grid intensity of one location",
    description="The hours that overlap [time, toTime)." + _OPEN,
)
def emissions_by_location(
    platform: PlatformDep,
    names: OneLocation,
    period: Period,
) -> list[EmissionsData]:
    return _emissions(_sites(platform.park.sites, names, "location"), period)


@router.get(
    "/emissions/bylocations",
    response_model=list[EmissionsData],
    responses=_BAD_REQUEST,
    summary="Hourly grid intensity of several locations",
    description="The hours that overlap [time, toTime), location after location." + _OPEN,
)
def emissions_by_locations(
    platform: PlatformDep,
    names: SomeLocations,
    period: Period,
) -> list[EmissionsData]:
    return _emissions(_sites(platform.park.sites, names, "location"), period)


@router.get(
    "/emissions/bylocations/best",
    response_model=list[EmissionsData],
    responses=_BAD_REQUEST,
    summary="The lowest-intensity hours among several locations",
    description="Of the hours of all `location`s that overlap [time, toTime), those with the "
    "lowest rating (every one of them on a tie)." + _OPEN,
)
def best_emissions_by_locations(
    platform: PlatformDep,
    names: SomeLocations,
    period: Period,
) -> list[EmissionsData]:
    data = emissions_by_locations(platform, names, period)
    return [data[i] for i in _lowest([d.rating for d in data])]


@router.get(
    "/emissions/forecasts/current",
    response_model=list[EmissionsForecastDTO],
    responses=_BAD_REQUEST,
    summary="Forecast of the next 48 hours and its optimal windows",
    description="The forecast made at the start of the current hour for the next "
    f"{int(FORECAST_HORIZON / pd.Timedelta(hours=1))} hours: the modelled hourly intensity of "
    "the site's zone for those hours (the same model `/emissions/bylocation` serves; no "
    "measured series exists to predict). Scoped to [dataStartAt, dataEndAt), averaged over "
    "rolling windows of `windowSize` minutes that advance an hour at a time; "
    "`optimalDataPoints` are the windows of lowest mean." + _OPEN,
)
def current_forecast(
    platform: PlatformDep,
    locations: Locations,
    data_start_at: Annotated[
        str | None,
        Query(
            alias="dataStartAt",
            description="[Optional] Start of the scoped data, inside the forecast "
            "(default: its first hour).",
            json_schema_extra={"format": "date-time"},
        ),
    ] = None,
    data_end_at: Annotated[
        str | None,
        Query(
            alias="dataEndAt",
            description="[Optional] End of the scoped data, inside the forecast "
            "(default: its end).",
            json_schema_extra={"format": "date-time"},
        ),
    ] = None,
    window_size: Annotated[
        int | None,
        Query(
            alias="windowSize",
            ge=1,
            le=MAX_WINDOW_MIN,
            description="[Optional] Duration of the workload (default: one data point, 60). [min]",
        ),
    ] = None,
) -> list[EmissionsForecastDTO]:
    sites = _sites(platform.park.sites, locations, "location")
    requested = _now()
    return [_forecast(site, requested, data_start_at, data_end_at, window_size) for site in sites]


@router.get(
    "/emissions/average-carbon-intensity",
    response_model=CarbonIntensityDTO,
    responses=_BAD_REQUEST,
    summary="Mean grid intensity of one location over a period",
    description="The mean over [startTime, endTime), each hour weighted by the part of the "
    "period it covers." + _OPEN,
)
def average_carbon_intensity(
    platform: PlatformDep,
    location: Location,
    start_time: Annotated[
        str,
        Query(
            alias="startTime",
            description="Start of the period, ISO 8601 with an offset.",
            json_schema_extra={"format": "date-time"},
        ),
    ],
    end_time: Annotated[
        str,
        Query(
            alias="endTime",
            description="End of the period (exclusive), ISO 8601 with an offset.",
            json_schema_extra={"format": "date-time"},
        ),
    ],
) -> CarbonIntensityDTO:
    (site,) = _sites(platform.park.sites, [location], "location")
    return _average(site, start_time, end_time)


def _batch(items: Sequence[_I], answer: Callable[[_I], _T]) -> list[_T]:
    """``answer(item)`` for each item, its position in the messages of its bad parameters."""
    out = []
    for index, item in enumerate(items):
        try:
            out.append(answer(item))
        except BadParameter as exc:
            raise BadParameter(
                {k: [f"[{index}] {m}" for m in msgs] for k, msgs in exc.errors.items()}
            ) from None
    return out


@router.post(
    "/emissions/forecasts/batch",
    response_model=list[EmissionsForecastDTO],
    responses=_BAD_REQUEST,
    summary="Forecasts as they were (or will be) made at given times",
    description="For each item, the forecast made at the start of the hour holding "
    "`requestedAt`, scoped and averaged as `/emissions/forecasts/current` does; for "
    "back-testing. The modelled series does not depend on when it is asked for, so a past "
    "forecast equals the modelled values of its hours. A POST only to carry the list: nothing "
    "is stored." + _OPEN,
)
def batch_forecasts(
    platform: PlatformDep,
    items: Annotated[list[EmissionsForecastBatchItem], Body(max_length=MAX_BATCH)],
) -> list[EmissionsForecastDTO]:
    def one(item: EmissionsForecastBatchItem) -> EmissionsForecastDTO:
        (site,) = _sites(platform.park.sites, [item.location], "location")
        requested = _time("requestedAt", item.requestedAt)
        if requested is None:
            raise _bad("requestedAt", "is not set; give the time the forecast is asked for")
        return _forecast(site, requested, item.dataStartAt, item.dataEndAt, item.windowSize)

    return _batch(items, one)


@router.post(
    "/emissions/average-carbon-intensity/batch",
    response_model=list[CarbonIntensityDTO],
    responses=_BAD_REQUEST,
    summary="Mean grid intensity over several periods",
    description="For each item, the mean over [startTime, endTime) as "
    "`/emissions/average-carbon-intensity` computes it. A POST only to carry the list: "
    "nothing is stored." + _OPEN,
)
def batch_average_carbon_intensity(
    platform: PlatformDep,
    items: Annotated[list[CarbonIntensityBatchItem], Body(max_length=MAX_BATCH)],
) -> list[CarbonIntensityDTO]:
    def one(item: CarbonIntensityBatchItem) -> CarbonIntensityDTO:
        (site,) = _sites(platform.park.sites, [item.location], "location")
        return _average(site, item.startTime, item.endTime)

    return _batch(items, one)


@router.get(
    "/locations",
    response_model=dict[str, LocationDTO],
    summary="The locations this data source serves",
    description="Every site of the served scenario by id, with its coordinates." + _OPEN,
)
def locations(platform: PlatformDep) -> dict[str, LocationDTO]:
    return {
        s.id: LocationDTO(latitude=s.lat_deg, longitude=s.lon_deg, name=s.id)
        for s in platform.park.sites
    }
