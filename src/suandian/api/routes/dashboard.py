"""The situational-awareness dashboard (绿电态势感知大屏): its page and its data API.

``GET /dashboard`` serves the page (no token needed to load it; it asks for one and calls the
API below with it), ``/dashboard/static/...`` its script, style and the installed Plotly.

``GET /v1/dashboard/days``, ``/v1/dashboard/day`` and ``/v1/dashboard/jobs`` give the figures:
a park role sees the park, a tenant only its own consumers, jobs and certificates.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path
from typing import Annotated, Final, Literal

import numpy as np
from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.responses import FileResponse, HTMLResponse
from pydantic import BaseModel, Field

from suandian.api.context import Caller, Platform, PlatformDep, not_found
from suandian.api.dashboard_data import (
    GROUPS,
    METER_KINDS,
    NO_READINGS,
    BatteryDay,
    DashboardCache,
    DayFigures,
    TenantView,
    boundary_labels,
    certificate_day,
    day_span,
    jobs_of_day,
    local_hours,
    view_for,
)
from suandian.core.errors import InputError, NotFound
from suandian.core.times import LOCAL_TZ

__all__ = ["router"]


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    cache = DashboardCache()
    app.state.dashboard = cache
    platform = getattr(app.state, "platform", None)
    if isinstance(platform, Platform):
        cache.warm(platform.readings, platform.park)  # served days are ready before asked for
    try:
        yield
    finally:
        cache.stop()  # before the app closes the readings store the warming thread reads


router = APIRouter(tags=["dashboard"], lifespan=_lifespan)

_STATIC = Path(str(resources.files("suandian.api") / "static"))
_PLOTLY = Path(str(resources.files("plotly") / "package_data" / "plotly.min.js"))
_ASSETS: Final = {
    "dashboard.js": (_STATIC / "dashboard.js", "text/javascript"),
    "dashboard.css": (_STATIC / "dashboard.css", "text/css"),
    "plotly.min.js": (_PLOTLY, "text/javascript"),
}
_FIRST_DAY: Final = dt.date(2000, 1, 1)
_LAST_DAY: Final = dt.date(2100, 12, 31)

DateQuery = Annotated[
    dt.date | None,
    Query(
        description="Asia/Shanghai day, YYYY-MM-DD (2000-01-01 to 2100-12-31); default: the "
        "last day with readings."
    ),
]


def _cache(request: Request) -> DashboardCache:
    cache = getattr(request.app.state, "dashboard", None)
    if cache is None:  # an app used without its lifespan (no warming then)
        cache = request.app.state.dashboard = DashboardCache()
        cache.stop()
    assert isinstance(cache, DashboardCache)
    return cache


def _checked(date: dt.date | None) -> dt.date | None:
    if date is not None and not _FIRST_DAY <= date <= _LAST_DAY:
        raise InputError(
            f"date: {date.isoformat()} is outside {_FIRST_DAY.isoformat()} to "
            f"{_LAST_DAY.isoformat()}; give an Asia/Shanghai day as YYYY-MM-DD"
        )
    return date


# --- the page ---------------------------------------------------------------------------------


@router.get("/dashboard", response_class=HTMLResponse, include_in_schema=False)
def dashboard_page() -> HTMLResponse:
    return HTMLResponse((_STATIC / "dashboard.html").read_text("utf-8"))


@router.get("/dashboard/static/{name}", include_in_schema=False)
def dashboard_static(name: str) -> FileResponse:
    asset = _ASSETS.get(name)
    if asset is None:
        raise not_found(f"static file {name!r}")
    path, media_type = asset
    return FileResponse(path, media_type=media_type, headers={"Cache-Control": "max-age=3600"})


# --- response models --------------------------------------------------------------------------


class DaysOut(BaseModel):
    scenario: str
    first_local_date: dt.date
    last_local_date: dt.date
    days: int = Field(description="Local days from the first to the last, both included.")
    cached_days: int = Field(
        description="Days assembled so far by the service's cache (it warms in the background)."
    )
    warm: bool = Field(
        description="Every day answers from the cache: warming has finished on the readings "
        "as they stand."
    )


class SourceSeries(BaseModel):
    source: str = Field(
        description="onsite_pv, onsite_wind, onsite_hydro, storage, grid_green or grid_fossil."
    )
    kwh: list[float | None] = Field(description="Per local hour; null where no load was metered.")


class DayOut(BaseModel):
    date: dt.date
    load_kwh: float
    green_share_pct: float | None = Field(description="Hourly-matched on-site green share.")
    cfe_pct: float | None = Field(description="Carbon-free energy score (24/7).")
    avoided_kgco2: float
    emissions_location_kgco2: float
    emissions_market_kgco2: float
    composition: list[SourceSeries]


class ReferenceFactor(BaseModel):
    name: str
    ef_kgco2_per_kwh: float


class ConsumerOut(BaseModel):
    consumer: str
    name: str
    name_zh: str
    site: str
    load_kwh: float | None
    onsite_kwh: float | None
    storage_kwh: float | None
    grid_green_kwh: float | None
    grid_fossil_kwh: float | None
    green_share_pct: float | None
    cfe_pct: float | None
    avoided_kgco2: float | None
    completeness_pct: float


class BatteryOut(BaseModel):
    battery: str
    site: str
    e_kwh: float = Field(description="Usable energy capacity.")
    charge_kwh: list[float | None] = Field(description="Metered charge per local hour.")
    discharge_kwh: list[float | None] = Field(description="Metered discharge per local hour.")
    soe_kwh: list[float] = Field(description="Energy held at each of the 25 hour boundaries.")
    green_soe_kwh: list[float] = Field(description="Part of it from on-site green power.")


class KindCompleteness(BaseModel):
    kind: str
    meters: int
    expected: int = Field(description="15-min readings expected: meters × 96.")
    present: int
    share_pct: float | None


class CertificatesOut(BaseModel):
    issued_kwh: float = Field(
        description="Issued for the day's hours (a tenant: allocated to its consumers)."
    )
    claimed_kwh: float
    available_kwh: float
    into_storage_kwh: float
    other_retired_kwh: float


class DashboardDayOut(BaseModel):
    scope: Literal["park", "tenant"]
    scenario: str
    park_title: str
    park_title_zh: str
    date: dt.date
    yesterday_date: dt.date
    hours_local: list[str]
    soe_times_local: list[str]
    reference_factor: ReferenceFactor
    today: DayOut
    yesterday: DayOut | None = Field(description="null when the day before has no readings.")
    consumers: list[ConsumerOut]
    storage: list[BatteryOut]
    completeness: list[KindCompleteness]
    certificates: CertificatesOut


class JobOut(BaseModel):
    tenant: str
    job_id: str
    status: str
    start_utc: dt.datetime = Field(description="Planned start; for an unplanned job, release.")
    end_utc: dt.datetime = Field(description="Planned end; for an unplanned job, deadline.")
    power_mw: float


class SiteJobs(BaseModel):
    site: str
    jobs: list[JobOut]


class DashboardJobsOut(BaseModel):
    scope: Literal["park", "tenant"]
    date: dt.date
    day_start_utc: dt.datetime
    day_end_utc: dt.datetime
    sites: list[SiteJobs]
    unplanned: list[JobOut]


# --- data -------------------------------------------------------------------------------------


def _opt(x: float) -> float | None:
    return None if math.isnan(x) else float(x)


def _series(values: Sequence[float] | np.ndarray) -> list[float | None]:
    return [_opt(float(v)) for v in values]


def _day_out(f: DayFigures) -> DayOut:
    return DayOut(
        date=f.date,
        load_kwh=f.load_kwh,
        green_share_pct=f.green_share_pct,
        cfe_pct=f.cfe_pct,
        avoided_kgco2=f.avoided_kgco2,
        emissions_location_kgco2=f.emissions_location_kgco2,
        emissions_market_kgco2=f.emissions_market_kgco2,
        composition=[
            SourceSeries(source=g, kwh=_series(f.hourly_kwh[:, k]))
            for k, g in enumerate(GROUPS)
            if g.startswith(("storage", "grid")) or np.nansum(f.hourly_kwh[:, k]) > 0
        ],
    )


def _consumers(view: TenantView) -> list[ConsumerOut]:
    onsite = [k for k, g in enumerate(GROUPS) if g.startswith("onsite_")]
    out = []
    for c in view.consumers:
        has = c.completeness_pct > 0
        daily = np.nansum(c.hourly_kwh, axis=0)

        def kwh(value: float, *, has: bool = has) -> float | None:
            return float(value) if has else None

        load = c.load_kwh
        out.append(
            ConsumerOut(
                consumer=c.consumer,
                name=c.name,
                name_zh=c.name_zh,
                site=c.site,
                load_kwh=kwh(load),
                onsite_kwh=kwh(daily[onsite].sum()),
                storage_kwh=kwh(daily[GROUPS.index("storage")]),
                grid_green_kwh=kwh(daily[GROUPS.index("grid_green")]),
                grid_fossil_kwh=kwh(daily[GROUPS.index("grid_fossil")]),
                green_share_pct=100.0 * c.matched_kwh / load if has and load > 0 else None,
                cfe_pct=100.0 * c.clean_kwh / load if has and load > 0 else None,
                avoided_kgco2=kwh(c.avoided_kgco2),
                completeness_pct=c.completeness_pct,
            )
        )
    return out


def _battery(b: BatteryDay) -> BatteryOut:
    return BatteryOut(
        battery=b.battery,
        site=b.site,
        e_kwh=b.e_kwh,
        charge_kwh=_series(b.charge_kwh),
        discharge_kwh=_series(b.discharge_kwh),
        soe_kwh=[float(v) for v in b.soe_kwh],
        green_soe_kwh=[float(v) for v in b.green_soe_kwh],
    )


def _completeness(view: TenantView) -> list[KindCompleteness]:
    out = []
    for kind in METER_KINDS:
        meters = [m for m in view.meters if m.kind == kind]
        if not meters:
            continue
        expected = 96 * len(meters)
        present = sum(m.present for m in meters)
        out.append(
            KindCompleteness(
                kind=kind,
                meters=len(meters),
                expected=expected,
                present=present,
                share_pct=100.0 * present / expected,
            )
        )
    return out


def _last_day(platform: Platform) -> dt.date:
    with platform.readings() as store:
        span = day_span(store)
    if span is None:
        raise NotFound(NO_READINGS)
    return span[1]


@router.get("/v1/dashboard/days", response_model=DaysOut)
def dashboard_days(request: Request, platform: PlatformDep, caller: Caller) -> DaysOut:
    """First and last Asia/Shanghai day with readings; starts assembling the days between."""
    cache = _cache(request)
    with platform.readings() as store:
        span = day_span(store)
        if span is None:
            raise NotFound(NO_READINGS)
        cached, warm = cache.progress(store, span)
    if not warm:
        cache.warm(platform.readings, platform.park)
    return DaysOut(
        scenario=platform.park.name,
        first_local_date=span[0],
        last_local_date=span[1],
        days=(span[1] - span[0]).days + 1,
        cached_days=cached,
        warm=warm,
    )


@router.get("/v1/dashboard/day", response_model=DashboardDayOut)
def dashboard_day(
    request: Request, platform: PlatformDep, caller: Caller, date: DateQuery = None
) -> DashboardDayOut:
    """One day as the dashboard shows it, with the day before; a tenant sees its own only."""
    cache = _cache(request)
    day = _checked(date)
    yesterday = None
    assembled = cache.assembled_days
    with platform.readings() as store:
        if day is None:
            span = day_span(store)
            if span is None:
                raise NotFound(NO_READINGS)
            day = span[1]
        park_day = cache.day(store, platform.park, day)
        before = day - dt.timedelta(days=1)
        span = day_span(store)
        if span is not None and before >= span[0]:
            yesterday = cache.day(store, platform.park, before)
    if cache.assembled_days > assembled:
        cache.warm(platform.readings, platform.park)  # a miss: new readings, or not warm yet
    view = view_for(park_day, caller)
    accounts = None if caller.sees_all else caller.assets
    certificates = certificate_day(platform.engine, day, accounts)
    return DashboardDayOut(
        scope="park" if caller.sees_all else "tenant",
        scenario=platform.park.name,
        park_title=platform.park.title or platform.park.name,
        park_title_zh=platform.park.title_zh or platform.park.title or platform.park.name,
        date=day,
        yesterday_date=before,
        hours_local=local_hours(),
        soe_times_local=boundary_labels(day),
        reference_factor=ReferenceFactor(
            name=park_day.reference_name, ef_kgco2_per_kwh=park_day.reference_kgco2_per_kwh
        ),
        today=_day_out(view.figures),
        yesterday=None if yesterday is None else _day_out(view_for(yesterday, caller).figures),
        consumers=_consumers(view),
        storage=[_battery(b) for b in park_day.batteries],
        completeness=_completeness(view),
        certificates=CertificatesOut(**certificates.__dict__),
    )


@router.get("/v1/dashboard/jobs", response_model=DashboardJobsOut)
def dashboard_jobs(
    platform: PlatformDep, caller: Caller, date: DateQuery = None
) -> DashboardJobsOut:
    """The job plan of one day as a timeline per site, and the jobs still waiting for a plan."""
    day = _checked(date)
    if day is None:
        try:
            day = _last_day(platform)
        except NotFound:
            day = dt.datetime.now(LOCAL_TZ).date()
    spans = jobs_of_day(platform.job_queue(), day, None if caller.sees_all else caller.org)
    sites: dict[str, list[JobOut]] = {}
    unplanned: list[JobOut] = []
    for j in spans:
        out = JobOut(
            tenant=j.tenant,
            job_id=j.job_id,
            status=j.status,
            start_utc=j.start_utc,
            end_utc=j.end_utc,
            power_mw=j.power_mw,
        )
        if j.planned and j.site is not None:
            sites.setdefault(j.site, []).append(out)
        else:
            unplanned.append(out)
    lo, hi = (
        dt.datetime(d.year, d.month, d.day, tzinfo=LOCAL_TZ).astimezone(dt.UTC)
        for d in (day, day + dt.timedelta(days=1))
    )
    return DashboardJobsOut(
        scope="park" if caller.sees_all else "tenant",
        date=day,
        day_start_utc=lo,
        day_end_utc=hi,
        sites=[SiteJobs(site=s, jobs=js) for s, js in sites.items()],
        unplanned=unplanned,
    )
