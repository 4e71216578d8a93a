"""Hourly grid intensity of the served scenario's sites, for the Carbon Aware SDK-compatible API.

The values are the *modelled* hourly location-based intensity of each site's grid zone
(DESIGN §7), computed by the kernel the reports and the job planner use,
:func:`suandian.grid.site_mix.grid_mix_for`: a model around the published factor that averages
to it over each Asia/Shanghai calendar year, not measured data.

The series of one site is built a whole local year at a time and kept in a process-wide cache
keyed by (site, year), so a request costs a slice and a few sums once its years are built
(building one site-year takes a few milliseconds; see ``docs/carbon_aware.md``).

Averages over a period weight every hourly value by the part of the period it covers
(the Carbon Aware SDK's ``AverageOverPeriod``): with values ``v_i`` on ``[t_i, t_i + 1 h)``,
the cumulative integral ``F`` is piecewise linear, and the mean over ``[a, b)`` is
``(F(b) − F(a)) / (b − a)``, exact for partial hours.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt
import pandas as pd

from suandian.core.errors import InputError
from suandian.core.times import LOCAL_TZ, UTC, local_date_start_utc, local_year_grid
from suandian.grid.site_mix import grid_mix_for
from suandian.scenario.model import Site

__all__ = [
    "DATA_END_UTC",
    "DATA_FIRST_YEAR",
    "DATA_LAST_YEAR",
    "DATA_START_UTC",
    "STEP",
    "HourlySeries",
    "average_over_period",
    "hourly_intensity",
    "rolling_windows",
]

FloatArray = npt.NDArray[np.float64]

STEP: Final = pd.Timedelta(hours=1)
"""Resolution of the served series."""

DATA_FIRST_YEAR: Final = 2020
"""First Asia/Shanghai calendar year the API serves."""
DATA_LAST_YEAR: Final = 2035
"""Last Asia/Shanghai calendar year the API serves."""

DATA_START_UTC: Final = local_date_start_utc(dt.date(DATA_FIRST_YEAR, 1, 1))
"""Start of the served data, 1 January of :data:`DATA_FIRST_YEAR`, 00:00 Asia/Shanghai."""
DATA_END_UTC: Final = local_date_start_utc(dt.date(DATA_LAST_YEAR + 1, 1, 1))
"""End (exclusive) of the served data."""

_CACHE_SIZE: Final = 512
"""Site-years kept (one is 8,784 floats at most, 70 kB): 11 sites × 16 years fit."""


@dataclass(frozen=True)
class HourlySeries:
    """One site's hourly intensity over ``[start_utc, start_utc + len(values) h)``."""

    start_utc: pd.Timestamp
    values_g_per_kwh: FloatArray
    """Location-based intensity of each hour. [gCO₂ kWh⁻¹]"""

    @property
    def index_utc(self) -> pd.DatetimeIndex:
        return pd.date_range(self.start_utc, periods=len(self.values_g_per_kwh), freq=STEP)

    @property
    def end_utc(self) -> pd.Timestamp:
        return self.start_utc + len(self.values_g_per_kwh) * STEP


class _YearCache:
    """(site as JSON, local year) → the year's hourly intensity, least recently used out."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._items: OrderedDict[tuple[str, int], FloatArray] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, site: Site, year: int) -> FloatArray:
        key = (site.model_dump_json(), year)
        with self._lock:
            hit = self._items.get(key)
            if hit is not None:
                self._items.move_to_end(key)
                return hit
        _, _, kg_per_kwh = grid_mix_for(site, local_year_grid(year, 60))
        values = np.asarray(kg_per_kwh, dtype=np.float64) * 1000.0
        values.setflags(write=False)
        with self._lock:
            self._items[key] = values
            while len(self._items) > self._size:
                self._items.popitem(last=False)
        return values


_years = _YearCache(_CACHE_SIZE)


def _local_year(ts: pd.Timestamp) -> int:
    return int(ts.tz_convert(LOCAL_TZ).year)


def hourly_intensity(site: Site, start_utc: pd.Timestamp, end_utc: pd.Timestamp) -> HourlySeries:
    """The hours of ``site`` that overlap ``[start_utc, end_utc)`` (one hour if they are equal).

    Both bounds must be tz-aware and inside ``[DATA_START_UTC, DATA_END_UTC]``.
    """
    for name, ts in (("start_utc", start_utc), ("end_utc", end_utc)):
        if ts.tzinfo is None:
            raise InputError(f"{name}: naive timestamp {ts}; pass a tz-aware UTC time")
    if end_utc < start_utc:
        raise InputError(f"end_utc {end_utc} is before start_utc {start_utc}; swap them")
    first = start_utc.tz_convert(UTC).floor(STEP)
    last = end_utc.tz_convert(UTC).ceil(STEP)
    if last == first:
        last = first + STEP
    if first < DATA_START_UTC or last > DATA_END_UTC:
        raise InputError(
            f"[{start_utc}, {end_utc}) is outside the served data "
            f"[{DATA_START_UTC}, {DATA_END_UTC}); choose times inside it"
        )
    y0, y1 = _local_year(first), _local_year(last - STEP)
    parts = [_years.get(site, year) for year in range(y0, y1 + 1)]
    origin = local_date_start_utc(dt.date(y0, 1, 1))
    lo = int((first - origin) / STEP)
    hi = int((last - origin) / STEP)
    values = np.concatenate(parts)[lo:hi]
    return HourlySeries(start_utc=first, values_g_per_kwh=values)


def _hours_since(series: HourlySeries, index_utc: pd.DatetimeIndex) -> FloatArray:
    if index_utc.tz is None:
        raise InputError("the period bounds are naive; pass tz-aware UTC times")
    ns = index_utc.tz_convert(UTC).as_unit("ns").asi8 - series.start_utc.as_unit("ns").value
    return np.asarray(ns / STEP.value, dtype=np.float64)


def average_over_period(
    series: HourlySeries, starts_utc: pd.DatetimeIndex, ends_utc: pd.DatetimeIndex
) -> FloatArray:
    """Mean intensity over each ``[starts_utc[k], ends_utc[k])``, partial hours weighted by the
    time they cover. [gCO₂ kWh⁻¹]

    Every period must lie inside the series and be longer than zero.
    """
    a = _hours_since(series, starts_utc)
    b = _hours_since(series, ends_utc)
    n = len(series.values_g_per_kwh)
    if a.size and (a.min() < 0.0 or b.max() > n or np.any(b <= a)):
        raise InputError("a period lies outside the series or is empty; choose one inside it")
    boundaries = np.arange(n + 1, dtype=np.float64)
    integral = np.concatenate(([0.0], np.cumsum(series.values_g_per_kwh)))  # g/kWh × h
    out: FloatArray = (np.interp(b, boundaries, integral) - np.interp(a, boundaries, integral)) / (
        b - a
    )
    return out


def rolling_windows(
    series: HourlySeries,
    start_utc: pd.Timestamp,
    end_utc: pd.Timestamp,
    window: pd.Timedelta,
    tick: pd.Timedelta = STEP,
) -> tuple[pd.DatetimeIndex, FloatArray]:
    """Starts and mean intensities of the windows of length ``window`` that begin at
    ``start_utc``, ``start_utc + tick``, … and end no later than ``end_utc``.

    No window when ``window`` is longer than ``[start_utc, end_utc)``.
    """
    if window <= pd.Timedelta(0) or tick <= pd.Timedelta(0):
        raise InputError(f"window {window} and tick {tick} must be longer than zero")
    n = int((end_utc - start_utc - window) // tick) + 1 if end_utc - start_utc >= window else 0
    starts = pd.date_range(start_utc, periods=n, freq=tick)
    if n == 0:
        return starts, np.zeros(0)
    return starts, average_over_period(series, starts, starts + window)
