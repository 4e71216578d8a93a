"""Time helpers: tz-aware UTC everywhere, the Asia/Shanghai local day in one place.

Intervals are period-start and half-open ``[start, start + resolution)``. The local day used by
reports, certificate vintages and daily caps is the Asia/Shanghai day (UTC+8, no daylight saving),
computed only by :func:`local_day`; a Shanghai day runs from 16:00 UTC to 16:00 UTC.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt
import pandas as pd

from suandian.core.errors import TimeError

__all__ = [
    "LOCAL_TZ",
    "UTC",
    "interval_grid",
    "interval_hours",
    "local_date_start_utc",
    "local_day",
    "local_hour",
    "local_hours_utc",
    "local_year_grid",
    "parse_local_date",
    "require_utc",
]

UTC = dt.UTC
LOCAL_TZ = ZoneInfo("Asia/Shanghai")

_FIX_NAIVE = (
    "attach a time zone: write an explicit offset such as '2025-01-15T08:00:00+00:00' "
    "(or 'Z'), or localize it, e.g. pd.Timestamp(x).tz_localize('UTC')"
)


def require_utc(value: dt.datetime | pd.Timestamp, field: str) -> pd.Timestamp:
    """Return ``value`` as a UTC timestamp; refuse a naive one.

    Naive datetimes are ambiguous (UTC? Beijing time?), so they are rejected rather than guessed.
    """
    ts = pd.Timestamp(value)
    if ts.tzinfo is None:
        raise TimeError(f"{field}: naive timestamp {value!s} has no time zone; {_FIX_NAIVE}")
    return ts.tz_convert(UTC)


def interval_hours(resolution_min: int) -> float:
    """Length of one interval. [h]"""
    if resolution_min <= 0 or 1440 % resolution_min != 0:
        raise TimeError(
            f"resolution_min: {resolution_min} does not divide a day; use one of 1, 5, 15, 30, 60"
        )
    return resolution_min / 60.0


def interval_grid(
    start_utc: dt.datetime | pd.Timestamp,
    end_utc: dt.datetime | pd.Timestamp,
    resolution_min: int = 15,
) -> pd.DatetimeIndex:
    """Interval starts of ``[start_utc, end_utc)`` at ``resolution_min``, tz-aware UTC.

    ``start_utc`` must sit on the grid (a multiple of the resolution since midnight UTC).
    """
    interval_hours(resolution_min)
    start = require_utc(start_utc, "start_utc")
    end = require_utc(end_utc, "end_utc")
    if end <= start:
        raise TimeError(f"end_utc {end} must be after start_utc {start}")
    step = pd.Timedelta(minutes=resolution_min)
    if start != start.floor(step):
        raise TimeError(
            f"start_utc {start} is not aligned to {resolution_min}-min intervals; "
            f"use {start.floor(step)} or {start.ceil(step)}"
        )
    return pd.date_range(start, end, freq=step, inclusive="left", name="start_utc")


def local_date_start_utc(day: dt.date) -> pd.Timestamp:
    """UTC instant at which the Asia/Shanghai local day ``day`` begins."""
    return pd.Timestamp(dt.datetime(day.year, day.month, day.day, tzinfo=LOCAL_TZ)).tz_convert(UTC)


def local_hours_utc(day: dt.date, hours: float) -> dt.datetime:
    """The UTC instant ``hours`` after the start of the Asia/Shanghai local day ``day`` (18:00
    the evening before is ``-6``)."""
    at: dt.datetime = (local_date_start_utc(day) + pd.Timedelta(hours=hours)).to_pydatetime()
    return at


def local_year_grid(year: int, resolution_min: int = 15) -> pd.DatetimeIndex:
    """Interval starts (UTC) of the Asia/Shanghai calendar year ``year``.

    A year of 365 days at 15 min has 35,040 intervals; it begins at 16:00 UTC on 31 December.
    """
    return interval_grid(
        local_date_start_utc(dt.date(year, 1, 1)),
        local_date_start_utc(dt.date(year + 1, 1, 1)),
        resolution_min,
    )


def local_day(index: pd.DatetimeIndex) -> npt.NDArray[np.datetime64]:
    """Asia/Shanghai calendar day of each UTC interval start, as ``datetime64[D]``.

    This is the only place the local day is computed; group reports by its result.
    """
    if index.tz is None:
        raise TimeError(f"index is naive; {_FIX_NAIVE}")
    local = index.tz_convert(LOCAL_TZ).tz_localize(None)
    return np.asarray(local.values.astype("datetime64[D]"))


def local_hour(index: pd.DatetimeIndex) -> npt.NDArray[np.float64]:
    """Asia/Shanghai clock time of each interval start, in fractional hours ``[0, 24)``."""
    if index.tz is None:
        raise TimeError(f"index is naive; {_FIX_NAIVE}")
    local = index.tz_convert(LOCAL_TZ)
    return np.asarray(local.hour + local.minute / 60.0, dtype=np.float64)


def parse_local_date(text: str, field: str = "date") -> dt.date:
    """Parse ``YYYY-MM-DD`` (an Asia/Shanghai calendar day)."""
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise TimeError(f"{field}: {text!r} is not a date; write it as YYYY-MM-DD") from None
