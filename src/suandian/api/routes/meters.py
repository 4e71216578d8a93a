"""Meters and their readings over HTTP: list, show, read a range, register.

The same store as ``suandian meters`` (:class:`~suandian.store.readings.ReadingsStore`). A tenant
sees only the consumption meters of the consumer assets its organisation owns; another meter,
known or not, answers 404 with the same message. Park roles see every meter; park admins and
operators register meters, auditors only read.

Readings are interval energy at 15-min UTC interval starts, half-open ``[start, end)``: the latest
value of each interval, or with ``as_of`` the value the store held at that time (before later
corrections arrived). An interval without a reading is left out, never sent as 0.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Hashable, Mapping
from typing import Annotated, Any, Final

import numpy as np
import pandas as pd
from fastapi import APIRouter, Path, Query
from pydantic import AwareDatetime, BaseModel, Field

from suandian.api.context import Caller, Operator, Platform, PlatformDep, not_found
from suandian.core.errors import InputError, TimeError
from suandian.store.platform import Principal
from suandian.store.readings import GENERATION_SOURCES, Meter, MeterKind

__all__ = ["MAX_READING_DAYS", "READING_RESOLUTION_MIN", "router"]

router = APIRouter(prefix="/v1/meters", tags=["meters"])

MAX_READING_DAYS: Final = 31
"""Longest range one readings request returns (2,976 intervals of 15 min). [days]"""
MAX_METERS_PER_REQUEST: Final = 10_000
READING_RESOLUTION_MIN: Final = 15
"""Readings are stored per 15-min interval."""
_FIRST: Final = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
_LAST: Final = dt.datetime(2101, 1, 1, tzinfo=dt.UTC)
_ID_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$"

MeterIdPath = Annotated[str, Path(min_length=1, max_length=128, description="The meter's id.")]


class MeterOut(BaseModel):
    meter_id: str
    kind: MeterKind
    site: str
    asset_id: str | None = Field(
        description="Generator, storage or consumer; None on the grid tie."
    )
    source: str | None = Field(description="pv, wind or hydro for generation meters.")
    nameplate_kw: float | None = Field(description="Generation and storage meters only. [kW]")


class MeterIn(BaseModel):
    """One meter, as :class:`~suandian.store.readings.Meter` describes it."""

    model_config = {"extra": "forbid"}

    meter_id: str = Field(pattern=_ID_PATTERN)
    kind: MeterKind
    site: str = Field(min_length=1, max_length=64)
    asset_id: str | None = Field(default=None, min_length=1, max_length=64)
    source: str | None = Field(
        default=None, description=f"One of {', '.join(GENERATION_SOURCES)} (generation meters)."
    )
    nameplate_kw: float | None = Field(
        default=None, gt=0, le=1e8, allow_inf_nan=False, description="[kW]"
    )


class MetersIn(BaseModel):
    model_config = {"extra": "forbid"}

    meters: list[MeterIn] = Field(min_length=1, max_length=MAX_METERS_PER_REQUEST)


class Registered(BaseModel):
    registered: int = Field(
        description="Meters added or changed (an identical one changes nothing)."
    )
    meters: list[MeterOut]


class ReadingOut(BaseModel):
    start_utc: dt.datetime
    kwh: float


class ReadingsOut(BaseModel):
    meter_id: str
    start_utc: dt.datetime
    end_utc: dt.datetime
    resolution_min: int
    as_of: dt.datetime | None = Field(
        description="Values as the store held them then; None: latest."
    )
    intervals: int = Field(description="Intervals in [start_utc, end_utc).")
    missing: int = Field(description="Intervals without a reading (left out of readings).")
    total_kwh: float = Field(description="Sum over the readings present. [kWh]")
    readings: list[ReadingOut]


def _text(value: Any) -> str | None:
    return None if value is None or (isinstance(value, float) and value != value) else str(value)


def _meter_out(row: Mapping[Hashable, Any]) -> MeterOut:
    """A row of :meth:`ReadingsStore.meters` (its missing values are None or NaN)."""
    nameplate = row["nameplate_kw"]
    return MeterOut(
        meter_id=str(row["meter_id"]),
        kind=row["kind"],
        site=str(row["site"]),
        asset_id=_text(row["asset_id"]),
        source=_text(row["source"]),
        nameplate_kw=None if _text(nameplate) is None else float(nameplate),
    )


def visible(caller: Principal, meter: MeterOut) -> bool:
    """Park roles see every meter; a tenant the consumption meters of its own assets."""
    if caller.sees_all:
        return True
    return meter.kind == "consumption" and caller.owns_asset(meter.asset_id)


def _meters(platform: Platform) -> list[MeterOut]:
    with platform.readings() as store:
        frame = store.meters()
    return [_meter_out(r) for r in frame.to_dict("records")]


def _visible_meter(platform: Platform, caller: Principal, meter_id: str) -> MeterOut:
    for m in _meters(platform):
        if m.meter_id == meter_id and visible(caller, m):
            return m
    raise not_found(f"meter {meter_id!r}")


@router.get("", summary="Registered meters (a tenant: its own consumption meters)")
def list_meters(
    platform: PlatformDep,
    caller: Caller,
    kind: Annotated[MeterKind | None, Query(description="Only meters of this kind.")] = None,
    site: Annotated[str | None, Query(max_length=64, description="Only this site.")] = None,
    asset_id: Annotated[str | None, Query(max_length=64, description="Only this asset.")] = None,
) -> list[MeterOut]:
    """As ``suandian meters list``, in registration order."""
    return [
        m
        for m in _meters(platform)
        if visible(caller, m)
        and (kind is None or m.kind == kind)
        and (site is None or m.site == site)
        and (asset_id is None or m.asset_id == asset_id)
    ]


@router.get("/{meter_id}", summary="One meter")
def get_meter(meter_id: MeterIdPath, platform: PlatformDep, caller: Caller) -> MeterOut:
    return _visible_meter(platform, caller, meter_id)


def _bounded(value: dt.datetime, name: str) -> pd.Timestamp:
    ts = pd.Timestamp(value).tz_convert("UTC")
    if not _FIRST <= ts.to_pydatetime() < _LAST:
        raise TimeError(
            f"{name}: {value.isoformat()} is outside {_FIRST.date()} – {_LAST.date()}; give a time "
            "within that range, with its offset"
        )
    return ts


@router.get("/{meter_id}/readings", summary="A meter's readings over a range")
def get_readings(
    meter_id: MeterIdPath,
    platform: PlatformDep,
    caller: Caller,
    start: Annotated[
        AwareDatetime, Query(description="First interval start, with offset, on the 15-min grid.")
    ],
    end: Annotated[AwareDatetime, Query(description="End (exclusive), with offset.")],
    as_of: Annotated[
        AwareDatetime | None,
        Query(description="The values as the store held them at this time (default: latest)."),
    ] = None,
) -> ReadingsOut:
    """Latest values (or those known ``as_of``) of ``[start, end)``, at most 31 days."""
    meter = _visible_meter(platform, caller, meter_id)
    lo, hi = _bounded(start, "start"), _bounded(end, "end")
    cutoff = None if as_of is None else _bounded(as_of, "as_of")
    step = pd.Timedelta(minutes=READING_RESOLUTION_MIN)
    for name, ts in (("start", lo), ("end", hi)):
        if ts != ts.floor(step):
            raise TimeError(
                f"{name}: {ts.isoformat()} is not on the {READING_RESOLUTION_MIN}-min grid; use "
                f"{ts.floor(step).isoformat()} or {ts.ceil(step).isoformat()}"
            )
    if hi <= lo:
        raise TimeError(f"end: {hi.isoformat()} must be after start {lo.isoformat()}")
    if hi - lo > pd.Timedelta(days=MAX_READING_DAYS):
        raise InputError(
            f"end: [{lo.isoformat()}, {hi.isoformat()}) spans more than {MAX_READING_DAYS} days; "
            "ask for the range in parts"
        )
    with platform.readings() as store:
        kwh = store.dense(
            [meter.meter_id], lo, hi, resolution_min=READING_RESOLUTION_MIN, as_of=cutoff
        )[0]
    index = pd.date_range(lo, hi, freq=step, inclusive="left")
    present = np.isfinite(kwh)
    return ReadingsOut(
        meter_id=meter.meter_id,
        start_utc=lo.to_pydatetime(),
        end_utc=hi.to_pydatetime(),
        resolution_min=READING_RESOLUTION_MIN,
        as_of=None if cutoff is None else cutoff.to_pydatetime(),
        intervals=len(index),
        missing=int((~present).sum()),
        total_kwh=float(kwh[present].sum()),
        readings=[
            ReadingOut(start_utc=t.to_pydatetime(), kwh=float(v))
            for t, v in zip(index[present], kwh[present], strict=True)
        ],
    )


@router.post("", status_code=201, summary="Register meters (park admins and operators)")
def register_meters(body: MetersIn, platform: PlatformDep, caller: Operator) -> Registered:
    """Add meters, or change the site, asset, source or nameplate of known ones, all or none.

    A meter's kind is fixed (its readings would change meaning); the site must be one of the
    served scenario's.
    """
    sites = [s.id for s in platform.park.sites]
    meters = []
    for i, m in enumerate(body.meters):
        where = f"meters[{i}]"
        if m.site not in sites:
            raise InputError(
                f"{where}.site: {m.site!r} is not a site of scenario {platform.park.name}; "
                f"use one of {', '.join(sites)}"
            )
        try:
            meters.append(Meter(**m.model_dump()))
        except InputError as exc:
            raise InputError(f"{where}: {exc}") from None
    with platform.readings() as store:
        n = store.register_meters(meters)
        frame = store.meters()
    wanted = {m.meter_id for m in meters}
    rows = [r for r in frame.to_dict("records") if r["meter_id"] in wanted]
    return Registered(registered=n, meters=[_meter_out(r) for r in rows])
