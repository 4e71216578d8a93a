"""Green-power attribution and the daily report over HTTP, from the stored readings.

Both trace one Asia/Shanghai day of the served scenario with
:func:`~suandian.reports.period.trace_period`, as ``suandian report daily`` does, and build the
day's :func:`~suandian.reports.daily.daily_report`:

- ``GET /v1/attribution``: per consumer and interval (60 or 15 min), the energy it drew from
  each source group (on-site PV, wind, hydro; the grid by source), with the day's totals;
- ``GET /v1/reports/daily``: the daily report as JSON, CSV or an Excel workbook (download).

A tenant sees only the consumers its organisation owns: never the park row, nor another
consumer, nor the meters of removed assets. Rows are removed before anything is serialised; an
unknown consumer and another tenant's answer 404 with the same message.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import tempfile
from pathlib import Path
from typing import Annotated, Any, Final, Literal

import numpy as np
import pandas as pd
from fastapi import APIRouter, Query
from fastapi.responses import Response
from pydantic import AwareDatetime, BaseModel, Field

from suandian.api.context import Caller, Platform, PlatformDep, not_found
from suandian.core.errors import InputError, NotFound, TimeError
from suandian.core.times import LOCAL_TZ, local_date_start_utc
from suandian.grid.factors import emission_factor
from suandian.reports.daily import METHOD, DailyReport, daily_report
from suandian.reports.period import DEFAULT_REFERENCE, trace_period
from suandian.store.platform import Principal

__all__ = ["FIRST_DAY", "XLSX_MEDIA_TYPE", "router", "scoped"]

router = APIRouter(tags=["reports"])

FIRST_DAY: Final = dt.date(2000, 1, 1)
"""Earliest local day a report or an attribution is traced for."""
XLSX_MEDIA_TYPE: Final = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV_MEDIA_TYPE: Final = "text/csv; charset=utf-8"
_PARK: Final = "park"

DateQuery = Annotated[
    dt.date,
    Query(
        ge=FIRST_DAY,
        le=dt.date(2100, 12, 31),
        description="Local (Asia/Shanghai) day, YYYY-MM-DD; not after today.",
    ),
]
ConsumerQuery = Annotated[
    str | None,
    Query(
        min_length=1,
        max_length=64,
        description="Only this consumer (asset id); default every consumer the caller sees.",
    ),
]
ResolutionQuery = Annotated[
    int, Query(ge=1, le=1440, description="Attribution interval: 60 or 15 minutes.")
]
FactorQuery = Annotated[
    str,
    Query(
        min_length=1,
        max_length=64,
        description="Reference emission factor for avoided CO₂ (`suandian factors`).",
    ),
]
LifecycleQuery = Annotated[
    bool, Query(description="Charge on-site green power its lifecycle factor (else 0).")
]
AsOfQuery = Annotated[
    AwareDatetime | None,
    Query(description="Recompute as the readings stood at this time (with offset)."),
]


# --- tracing and scoping -------------------------------------------------------------------------


def _check_day(day: dt.date) -> None:
    today = dt.datetime.now(LOCAL_TZ).date()
    if day > today:
        raise TimeError(
            f"date: {day.isoformat()} is in the future; the latest local day with readings is "
            f"today ({today.isoformat()}, Asia/Shanghai)"
        )


def _check_as_of(as_of: dt.datetime | None) -> dt.datetime | None:
    if as_of is None:
        return None
    cutoff = as_of.astimezone(dt.UTC)
    if not FIRST_DAY.year <= cutoff.year <= 2100:
        raise TimeError(
            f"as_of: {as_of.isoformat()} is outside {FIRST_DAY.year}–2100; give a time within "
            "those years, with its offset"
        )
    return cutoff


def traced_report(
    platform: Platform,
    *,
    day: dt.date,
    resolution_min: int,
    factor: str,
    lifecycle: bool,
    as_of: dt.datetime | None,
) -> DailyReport:
    """The daily report of ``day`` over every consumer and the park (no scoping yet)."""
    if resolution_min not in (15, 60):
        raise InputError(f"resolution: {resolution_min}; use 60 or 15 minutes")
    _check_day(day)
    cutoff = _check_as_of(as_of)
    try:
        emission_factor(factor)
    except NotFound as exc:
        raise InputError(f"factor: {exc}") from None
    with platform.readings() as store:
        traces = trace_period(
            store,
            platform.park,
            start=day,
            days=1,
            resolution_min=resolution_min,
            reference=factor,
            lifecycle=lifecycle,
            as_of=cutoff,
        )
    return daily_report(traces, platform.park, date=day, resolution_min=resolution_min)


def _refuse_foreign(caller: Principal, consumer: str | None) -> None:
    """A tenant naming a consumer it does not own learns nothing more than for an unknown one."""
    if consumer is not None and not caller.sees_all and consumer not in caller.assets:
        raise not_found(f"consumer {consumer!r}")


def scoped(report: DailyReport, caller: Principal, consumer: str | None) -> DailyReport:
    """``report`` as ``caller`` may see it, narrowed to ``consumer`` when given.

    Park roles see every row and, without ``consumer``, the park row. A tenant sees the rows of
    its own consumers only, and no names of meters outside them.
    """
    if caller.sees_all:
        return report.select(consumer)
    _refuse_foreign(caller, consumer)
    mine = (set(caller.assets) if consumer is None else {consumer}) - {_PARK}
    if consumer is not None and consumer not in set(report.rows["consumer"]) - {_PARK}:
        raise not_found(f"consumer {consumer!r}")
    rows = report.rows[report.rows["consumer"].isin(sorted(mine))].reset_index(drop=True)
    return dataclasses.replace(
        report,
        rows=rows,
        hourly={c: f for c, f in report.hourly.items() if c in mine},
        ignored_meters=[],
    )


def _opt(value: Any) -> float | None:
    x = float(value)
    return x if np.isfinite(x) else None


# --- attribution ---------------------------------------------------------------------------------


class IntervalOut(BaseModel):
    start_utc: dt.datetime
    start_local: dt.datetime = Field(description="The same instant in Asia/Shanghai time.")
    load_kwh: float | None = Field(description="None: the consumer's reading is missing.")
    by_source_kwh: dict[str, float | None] = Field(
        description="Energy from each source group (keys as in `sources`). [kWh]"
    )


class ConsumerAttributionOut(BaseModel):
    consumer: str
    name: str
    site: str
    load_kwh: float | None = Field(description="The day's consumption; None without data.")
    direct_kwh: float | None = Field(description="Supplied under direct contracts. [kWh]")
    by_source_kwh: dict[str, float | None] = Field(description="The day's totals. [kWh]")
    completeness_pct: float = Field(description="Share of the day's readings present. [%]")
    intervals: list[IntervalOut]


class AttributionOut(BaseModel):
    date: dt.date
    scenario: str
    resolution_min: int
    as_of: dt.datetime | None
    sources: list[str] = Field(
        description="Source groups: onsite_<pv|wind|hydro>, grid_<source>; storage is counted "
        "by the origin of its energy."
    )
    method: str
    consumers: list[ConsumerAttributionOut]


def _attribution(report: DailyReport, as_of: dt.datetime | None) -> AttributionOut:
    step = pd.Timedelta(minutes=report.resolution_min)
    start = local_date_start_utc(report.date)
    sources: list[str] = []
    consumers: list[ConsumerAttributionOut] = []
    for row in report.rows.to_dict("records"):
        consumer = str(row["consumer"])
        table = report.hourly[consumer]
        groups = [c for c in table.columns if c != "load_kwh"]
        names = [g.removesuffix("_kwh") for g in groups]
        sources += [n for n in names if n not in sources]
        index = pd.date_range(start, periods=len(table), freq=step)
        values = table[groups].to_numpy(dtype=np.float64)
        load = table["load_kwh"].to_numpy(dtype=np.float64)
        intervals = [
            IntervalOut(
                start_utc=t.to_pydatetime(),
                start_local=t.tz_convert(LOCAL_TZ).to_pydatetime(),
                load_kwh=_opt(load[k]),
                by_source_kwh={n: _opt(v) for n, v in zip(names, values[k], strict=True)},
            )
            for k, t in enumerate(index)
        ]
        consumers.append(
            ConsumerAttributionOut(
                consumer=consumer,
                name=str(row["name"]),
                site=str(row["site"]),
                load_kwh=_opt(row["load_kwh"]),
                direct_kwh=_opt(row["direct_kwh"]),
                by_source_kwh={
                    n: _opt(row.get(g, np.nan)) for n, g in zip(names, groups, strict=True)
                },
                completeness_pct=float(row["completeness_pct"]),
                intervals=intervals,
            )
        )
    return AttributionOut(
        date=report.date,
        scenario=report.scenario,
        resolution_min=report.resolution_min,
        as_of=as_of,
        sources=sources,
        method=METHOD["en"],
        consumers=consumers,
    )


@router.get("/v1/attribution", summary="Source composition per consumer and interval of a day")
def get_attribution(
    platform: PlatformDep,
    caller: Caller,
    date: DateQuery,
    consumer: ConsumerQuery = None,
    resolution: ResolutionQuery = 60,
    as_of: AsOfQuery = None,
) -> AttributionOut:
    """Where each consumer's energy came from, interval by interval (a tenant: its own)."""
    _refuse_foreign(caller, consumer)
    report = traced_report(
        platform,
        day=date,
        resolution_min=resolution,
        factor=DEFAULT_REFERENCE,
        lifecycle=False,
        as_of=as_of,
    )
    report = scoped(report, caller, consumer)
    rows = report.rows[report.rows["consumer"] != _PARK].reset_index(drop=True)
    return _attribution(dataclasses.replace(report, rows=rows), _check_as_of(as_of))


# --- daily report --------------------------------------------------------------------------------


class ReferenceFactorOut(BaseModel):
    name: str
    ef_kgco2_per_kwh: float


class SourceFactorsOut(BaseModel):
    accounting: Literal["direct", "lifecycle"]
    ef_kgco2_per_kwh: dict[str, float]


class ReportRowOut(BaseModel):
    """One consumer (or the park) for the day; also ``onsite_<source>_kwh``/``_pct`` and
    ``grid_<source>_kwh`` for each source group present. None: no data that day."""

    model_config = {"extra": "allow"}

    consumer: str
    name: str
    site: str
    load_kwh: float | None
    direct_kwh: float | None
    emissions_location_kgco2: float | None
    emissions_market_kgco2: float | None
    avoided_kgco2: float | None
    completeness_pct: float | None
    grid_clean_pct: float | None
    grid_fossil_pct: float | None
    green_share_pct: float | None
    cfe_pct: float | None


class DailyReportOut(BaseModel):
    date: dt.date
    scenario: str
    resolution_min: int
    reference_factor: ReferenceFactorOut
    location_factor: str
    residual_kgco2_per_kwh: float
    source_factors: SourceFactorsOut
    generation_completeness_pct: float
    ignored_meters: list[str]
    method: str
    consumers: list[ReportRowOut]
    park: ReportRowOut | None = Field(description="The park's totals (park roles, no consumer).")


@router.get(
    "/v1/reports/daily",
    summary="The daily green-power report (JSON, CSV or Excel)",
    response_model=DailyReportOut,
    responses={
        200: {
            "content": {
                "text/csv": {"schema": {"type": "string"}},
                XLSX_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}},
            },
            "description": "JSON by default; CSV or an Excel workbook with format=csv|xlsx.",
        }
    },
)
def get_daily_report(
    platform: PlatformDep,
    caller: Caller,
    date: DateQuery,
    consumer: ConsumerQuery = None,
    fmt: Annotated[Literal["json", "csv", "xlsx"], Query(alias="format")] = "json",
    lang: Annotated[Literal["zh", "en"], Query(description="Labels of the workbook.")] = "zh",
    factor: FactorQuery = DEFAULT_REFERENCE,
    resolution: ResolutionQuery = 60,
    lifecycle: LifecycleQuery = False,
    as_of: AsOfQuery = None,
) -> Any:
    """As ``suandian report daily``: composition, green share, CFE, emissions, avoided CO₂."""
    _refuse_foreign(caller, consumer)
    report = scoped(
        traced_report(
            platform,
            day=date,
            resolution_min=resolution,
            factor=factor,
            lifecycle=lifecycle,
            as_of=as_of,
        ),
        caller,
        consumer,
    )
    name = f"report-{report.date.isoformat()}"
    if fmt == "json":
        return report.to_json()
    if fmt == "csv":
        text = report.csv_frame().to_csv(index=False)
        return Response(
            text.encode("utf-8"),
            media_type=CSV_MEDIA_TYPE,
            headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
        )
    with tempfile.TemporaryDirectory() as tmp:
        path = report.write("xlsx", Path(tmp) / f"{name}.xlsx", lang)
        data = path.read_bytes()
    return Response(
        data,
        media_type=XLSX_MEDIA_TYPE,
        headers={"Content-Disposition": f'attachment; filename="{name}.xlsx"'},
    )
