"""Demand-response events and the park's answer to each: accepted, partly accepted or rejected.

An event (需求响应事件) asks the park to lower (削峰, peak shaving) or raise (填谷, valley filling)
its draw from the grid by ``target_mw`` over ``[start_utc, end_utc)``, at ``price_cny_per_kwh`` for
delivered energy and ``penalty_cny_per_kwh`` for energy committed and not delivered. Day-ahead
invitations arrive before the event's local day; intraday instructions on the day.

:func:`answer_event` decides what the park commits, given the flexibility it has in each interval
of the event (the portfolio envelope, MW) and the events it already accepted:

- an event that has started or ended, a window that is empty or off the interval grid, a
  non-positive target or a negative price → **rejected**, with the reason;
- an event overlapping an accepted event → **rejected** (one commitment per interval);
- a target the envelope cannot hold in every interval → **partly accepted** at the largest
  power the envelope holds throughout the window, or **rejected** when that is below
  ``min_commit_mw``;
- an event whose price does not cover ``min_price_cny_per_kwh`` → **rejected** (declined).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from suandian.core.errors import InputError
from suandian.core.times import require_utc
from suandian.vpp.settlement import Direction

__all__ = ["Answer", "DemandResponseEvent", "EventAnswer", "answer_event"]

FloatArray = npt.NDArray[np.float64]
Answer = Literal["accepted", "partial", "rejected"]


@dataclass(frozen=True)
class DemandResponseEvent:
    event_id: str
    direction: Direction
    start_utc: dt.datetime
    end_utc: dt.datetime
    target_mw: float
    price_cny_per_kwh: float
    penalty_cny_per_kwh: float = 0.0
    kind: Literal["day_ahead", "intraday"] = "day_ahead"

    def steps(self, step_min: int) -> pd.DatetimeIndex:
        """The event's interval starts on a ``step_min`` grid."""
        return pd.date_range(
            require_utc(self.start_utc, "start_utc"),
            require_utc(self.end_utc, "end_utc"),
            freq=f"{step_min}min",
            inclusive="left",
        )

    def overlaps(self, other: DemandResponseEvent) -> bool:
        return self.start_utc < other.end_utc and other.start_utc < self.end_utc


@dataclass(frozen=True)
class EventAnswer:
    event_id: str
    answer: Answer
    committed_mw: float
    """Power committed in every interval of the event (0 when rejected). [MW]"""
    reason: str
    """Why it is partly accepted or rejected ("" when accepted in full)."""


def _problem(event: DemandResponseEvent, now_utc: dt.datetime, step_min: int) -> str | None:
    for name in ("start_utc", "end_utc"):
        value = getattr(event, name)
        if not isinstance(value, dt.datetime) or value.tzinfo is None:
            return f"{name}: {value!s} has no time zone; give UTC times with an offset"
    if event.direction not in ("reduce", "increase"):
        return f"direction: {event.direction!r}; use reduce or increase"
    if event.end_utc <= event.start_utc:
        return (
            f"end_utc {event.end_utc.isoformat()} is not after start_utc "
            f"{event.start_utc.isoformat()}; give a window of at least one interval"
        )
    step = dt.timedelta(minutes=step_min)
    for name in ("start_utc", "end_utc"):
        edge: dt.datetime = getattr(event, name)
        if (edge - dt.datetime(2000, 1, 1, tzinfo=dt.UTC)) % step:
            return f"{name}: {edge.isoformat()} is not on the {step_min}-min interval grid"
    if event.start_utc <= now_utc:
        return (
            f"the event starts at {event.start_utc.isoformat()}, not after now "
            f"({now_utc.isoformat()}); events in the past or under way cannot be answered"
        )
    if not np.isfinite(event.target_mw) or event.target_mw <= 0:
        return f"target_mw: {event.target_mw} must be a positive number of MW"
    prices = (event.price_cny_per_kwh, event.penalty_cny_per_kwh)
    if not all(np.isfinite(p) and p >= 0 for p in prices):
        return (
            f"price_cny_per_kwh and penalty_cny_per_kwh must be finite numbers ≥ 0 (got "
            f"{prices[0]}, {prices[1]})"
        )
    return None


def answer_event(
    event: DemandResponseEvent,
    *,
    envelope_mw: FloatArray,
    accepted: Sequence[DemandResponseEvent],
    now_utc: dt.datetime,
    step_min: int = 15,
    min_commit_mw: float = 0.0,
    min_price_cny_per_kwh: float = 0.0,
) -> EventAnswer:
    """What the park commits to ``event`` (see the module docstring).

    ``envelope_mw`` gives, for each interval of the event, the power the portfolio can shift in
    the event's direction for the whole window. [MW]
    """

    def rejected(reason: str) -> EventAnswer:
        return EventAnswer(event.event_id, "rejected", 0.0, reason)

    problem = _problem(event, require_utc(now_utc, "now_utc").to_pydatetime(), step_min)
    if problem is not None:
        return rejected(problem)
    clash = next((a for a in accepted if a.overlaps(event)), None)
    if clash is not None:
        return rejected(
            f"overlaps accepted event {clash.event_id} ({clash.start_utc.isoformat()} – "
            f"{clash.end_utc.isoformat()}); one commitment per interval"
        )
    if event.price_cny_per_kwh < min_price_cny_per_kwh:
        return rejected(
            f"declined: price {event.price_cny_per_kwh} CNY/kWh is below the park's "
            f"minimum {min_price_cny_per_kwh} CNY/kWh"
        )
    envelope = np.asarray(envelope_mw, dtype=np.float64)
    n = len(event.steps(step_min))
    if envelope.shape != (n,):
        raise InputError(
            f"envelope_mw: {envelope.shape} values for event {event.event_id}; give {n}, one "
            "per interval of the event"
        )
    holdable = float(max(0.0, envelope.min()))
    if holdable >= event.target_mw - 1e-9:
        return EventAnswer(event.event_id, "accepted", event.target_mw, "")
    if holdable <= min_commit_mw or holdable <= 1e-9:
        return rejected(
            f"the park's flexibility holds only {holdable:.3f} MW through the window "
            f"(target {event.target_mw:.3f} MW)"
        )
    worst = event.steps(step_min)[int(np.argmin(envelope))]
    return EventAnswer(
        event.event_id,
        "partial",
        holdable,
        f"partly accepted: {holdable:.3f} of {event.target_mw:.3f} MW; the envelope is "
        f"smallest at {worst.isoformat()}",
    )
