"""Customer baselines for demand-response events: what the load would have been without the event.

Two methods, both over *similar days* — the most recent days of the same kind (working day:
Monday–Friday; or weekend) before the event day, within a look-back, that had no event and have
complete data:

``average`` ("10 of 10")
    the mean profile of the last ``days`` (10) similar days;
``high_of``  ("5 highest of 10")
    of those days, the ``high`` (5) with the highest mean load over the event window, averaged —
    a baseline that does not pay for load the consumer had already shed on a quiet day.

Optional *day-of adjustment*: the baseline is scaled by the ratio of the actual to the baseline
load over the hours before the event (``adjust_hours`` ending ``adjust_gap_hours`` before its
start, so that pre-event ramping is not rewarded), the ratio capped to ``1 ± adjust_cap_pu``
(±20 %). A window that would start before the event day's local midnight is not used (the
baseline is then unadjusted, with a note).

References: the "10 of 10" average with a same-day adjustment capped at 20 % is the baseline of
CAISO's proxy and reliability demand-response resources (California ISO, "Baseline Accuracy Work
Group Proposal", draft, 4 April 2017, §1); the "5 highest of 10 like days" average is NYISO's
Customer Baseline Load (NYISO, "Emergency Demand Response Program Manual").
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from suandian.core.errors import InputError

__all__ = [
    "Baseline",
    "BaselineMethod",
    "adjustment_window",
    "event_baseline",
    "similar_days",
]

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class BaselineMethod:
    """How a baseline is built (defaults: average of the last 10 similar days, adjusted)."""

    kind: Literal["average", "high_of"] = "average"
    days: int = 10
    """Similar days considered."""
    high: int = 5
    """For ``high_of``: the days with the highest event-window load that are averaged."""
    min_days: int = 5
    """Fewest similar days a baseline is built from; fewer is refused."""
    lookback_days: int = 45
    """How far back similar days are searched. [d]"""
    adjust: bool = True
    adjust_hours: float = 3.0
    """Length of the adjustment window. [h]"""
    adjust_gap_hours: float = 1.0
    """Gap between the adjustment window's end and the event's start. [h]"""
    adjust_cap_pu: float = 0.2
    """The adjustment ratio is clipped to [1 − cap, 1 + cap]."""

    def __post_init__(self) -> None:
        if self.kind not in ("average", "high_of"):
            raise InputError(f"kind: {self.kind!r} is not a baseline; use average or high_of")
        if not 1 <= self.min_days <= self.days:
            raise InputError(
                f"min_days: {self.min_days} must lie in 1..days ({self.days}); "
                "a baseline needs at least one day"
            )
        if self.kind == "high_of" and not 1 <= self.high <= self.days:
            raise InputError(f"high: {self.high} must lie in 1..days ({self.days})")
        if self.lookback_days < self.days:
            raise InputError(
                f"lookback_days: {self.lookback_days} is shorter than days ({self.days}); "
                "search at least as many days as are used"
            )
        if self.adjust_hours <= 0 or self.adjust_gap_hours < 0:
            raise InputError(
                "adjust_hours must be > 0 and adjust_gap_hours ≥ 0 "
                f"(got {self.adjust_hours}, {self.adjust_gap_hours})"
            )
        if not 0.0 <= self.adjust_cap_pu < 1.0:
            raise InputError(f"adjust_cap_pu: {self.adjust_cap_pu} must lie in [0, 1)")


@dataclass(frozen=True)
class Baseline:
    """The baseline of one event day."""

    profile_mw: FloatArray
    """Unadjusted baseline for every interval of the event's local day. [MW]"""
    adjusted_mw: FloatArray
    """``profile_mw`` × ``factor``. [MW]"""
    factor: float
    """Day-of adjustment ratio applied (1.0 when not adjusted)."""
    days: tuple[dt.date, ...]
    """The similar days used, most recent first."""
    notes: tuple[str, ...] = ()


def _kind(day: dt.date) -> bool:
    """True for a working day (Monday–Friday)."""
    return day.weekday() < 5


def similar_days(
    event_day: dt.date,
    available: Collection[dt.date],
    *,
    excluded: Collection[dt.date] = (),
    count: int = 10,
    lookback_days: int = 45,
) -> list[dt.date]:
    """The up to ``count`` most recent days before ``event_day`` of the same kind.

    A day qualifies when it is in ``available`` (complete data), not in ``excluded`` (event days)
    and at most ``lookback_days`` before the event day. Most recent first.
    """
    have, skip = set(available), set(excluded)
    chosen: list[dt.date] = []
    for back in range(1, lookback_days + 1):
        day = event_day - dt.timedelta(days=back)
        if _kind(day) == _kind(event_day) and day in have and day not in skip:
            chosen.append(day)
            if len(chosen) == count:
                break
    return chosen


def adjustment_window(event_mask: BoolArray, method: BaselineMethod) -> tuple[int, int] | None:
    """``[begin, end)`` intervals of the event day whose meter the day-of adjustment reads:
    ``adjust_hours`` ending ``adjust_gap_hours`` before the event's first interval; ``None``
    when adjustment is off or the window would begin before the local midnight."""
    mask = np.asarray(event_mask, dtype=bool)
    if not method.adjust or not mask.any():
        return None
    step_h = 24.0 / mask.size
    first = int(np.argmax(mask))
    end = first - round(method.adjust_gap_hours / step_h)
    begin = end - round(method.adjust_hours / step_h)
    return None if begin < 0 else (begin, end)


def event_baseline(
    history_mw: Mapping[dt.date, FloatArray],
    event_day: dt.date,
    event_mask: BoolArray,
    *,
    actual_mw: FloatArray | None = None,
    method: BaselineMethod | None = None,
    excluded_days: Collection[dt.date] = (),
) -> Baseline:
    """Baseline of ``event_day`` for an event over the intervals of ``event_mask``.

    Parameters
    ----------
    history_mw
        Complete local-day load profiles by day, each of the same number of intervals. [MW]
    event_day
        The event's local (Asia/Shanghai) day.
    event_mask
        True for the event's intervals of that day.
    actual_mw
        The event day's metered load, for the day-of adjustment (None: not adjusted). [MW]
    method
        Baseline method (default :class:`BaselineMethod`).
    excluded_days
        Earlier event days, never used as similar days.
    """
    method = method or BaselineMethod()
    mask = np.asarray(event_mask, dtype=bool)
    steps = mask.size
    if not mask.any():
        raise InputError("event_mask: no interval is in the event; give the event's intervals")
    days = similar_days(
        event_day,
        history_mw.keys(),
        excluded=excluded_days,
        count=method.days,
        lookback_days=method.lookback_days,
    )
    if len(days) < method.min_days:
        raise InputError(
            f"baseline for {event_day}: only {len(days)} similar non-event day(s) with complete "
            f"data in the {method.lookback_days} days before (need {method.min_days}); meter "
            "more history or lower min_days"
        )
    profiles = np.vstack([np.asarray(history_mw[d], dtype=np.float64) for d in days])
    if profiles.shape[1] != steps:
        raise InputError(
            f"history_mw: day profiles have {profiles.shape[1]} intervals but event_mask has "
            f"{steps}; give both on the same resolution"
        )
    notes: list[str] = []
    if len(days) < method.days:
        notes.append(f"{len(days)} similar days found of {method.days}")
    used = days
    if method.kind == "high_of":
        high = min(method.high, len(days))
        window_mean = profiles[:, mask].mean(axis=1)
        # Stable ranking: among equal loads the more recent day wins.
        order = np.argsort(-window_mean, kind="stable")[:high]
        profiles = profiles[np.sort(order)]
        used = [days[i] for i in np.sort(order)]
    profile = profiles.mean(axis=0)

    factor = 1.0
    if method.adjust and actual_mw is not None:
        actual = np.asarray(actual_mw, dtype=np.float64)
        if actual.shape != (steps,):
            raise InputError(f"actual_mw: {actual.shape} values; give {steps}, one per interval")
        window = adjustment_window(mask, method)
        if window is None:
            notes.append("no day-of adjustment: its window would begin before the local midnight")
        else:
            begin, end = window
            expected = float(profile[begin:end].sum())
            seen = float(actual[begin:end].sum())
            if expected > 0.0 and math.isfinite(seen):
                factor = float(
                    np.clip(seen / expected, 1.0 - method.adjust_cap_pu, 1.0 + method.adjust_cap_pu)
                )
            else:
                notes.append(
                    "no day-of adjustment: the baseline is not positive in its window (a ratio "
                    "of a net export means nothing)"
                )
    return Baseline(
        profile_mw=profile,
        adjusted_mw=profile * factor,
        factor=factor,
        days=tuple(used),
        notes=tuple(notes),
    )
