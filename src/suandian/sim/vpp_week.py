"""A demonstration week of the park as a virtual power plant: two events a day, answered, settled.

:func:`vpp_week` simulates the park from ``history_days`` before ``start`` and operates one site
with :class:`~suandian.sim.vpp_operation.VppOperation`: the history days are closed without
events (they are the settlement baselines' history), then on each day of the week the grid
sends two day-ahead events, received at 18:00 Asia/Shanghai the evening before:

- **valley filling** (填谷, ``increase``) 12:00–14:00 local, at
  :data:`VALLEY_PRICE_CNY_PER_KWH` (0.2 CNY/kWh), penalty :data:`VALLEY_PENALTY_CNY_PER_KWH`
  (0.1 CNY/kWh) for energy committed and not delivered;
- **peak shaving** (削峰, ``reduce``) 19:00–21:00 local, at a price that varies over the week
  (:data:`PEAK_PRICES_CNY_PER_KWH`, 3.0–5.0 CNY/kWh, day k of the week takes entry k mod 7),
  penalty half the price.

Both ask for the same target, by default 40 % of the site's battery power (20 MW at
``nanchuan``: its battery is 50 MW / 200 MWh; 20 MW for a site without a battery): large enough
that the envelope matters — some events are accepted in full, some only partly or not at all —
and small enough that the battery alone could carry it over two hours when the plan leaves room.

Nothing is modelled here: answers, re-plans, metering and settlement are VppOperation's and the
portfolio's (:mod:`suandian.sim.vpp_operation`, :mod:`suandian.vpp.portfolio`); this module
schedules the events and collects what they produced.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
import pandas as pd

from suandian.core.errors import InputError
from suandian.core.times import LOCAL_TZ, local_hours_utc

if TYPE_CHECKING:
    from suandian.scenario.model import Park
    from suandian.vpp import Answer, Commitment, DemandResponseEvent, Direction, SettledEvent

__all__ = [
    "PEAK_HOURS",
    "PEAK_PRICES_CNY_PER_KWH",
    "RECEIVED_HOUR",
    "VALLEY_HOURS",
    "VALLEY_PENALTY_CNY_PER_KWH",
    "VALLEY_PRICE_CNY_PER_KWH",
    "VppWeek",
    "WeekDay",
    "WeekEvent",
    "default_target_mw",
    "progress_total",
    "vpp_week",
    "week_problems",
]

FloatArray = npt.NDArray[np.float64]

VALLEY_HOURS = (12.0, 14.0)
"""Local window of the valley-filling event, hours after midnight Asia/Shanghai."""
VALLEY_PRICE_CNY_PER_KWH = 0.2
VALLEY_PENALTY_CNY_PER_KWH = 0.1
PEAK_HOURS = (19.0, 21.0)
"""Local window of the peak-shaving event, hours after midnight Asia/Shanghai."""
PEAK_PRICES_CNY_PER_KWH = (3.0, 3.5, 4.0, 4.5, 5.0, 4.0, 3.5)
"""Peak-shaving price on day k of the week: entry k mod 7 (penalty: half of it)."""
RECEIVED_HOUR = -6.0
"""Reception of each day's events: 18:00 local the evening before (day-ahead)."""
TARGET_SHARE_OF_BATTERY_PU = 0.4
FALLBACK_TARGET_MW = 20.0


@dataclass(frozen=True)
class WeekEvent:
    """One event of the week: what was asked, answered, delivered and paid."""

    event_id: str
    direction: Direction
    local_date: dt.date
    start_local: dt.datetime
    end_local: dt.datetime
    """The window, tz-aware Asia/Shanghai, end exclusive."""
    received_utc: dt.datetime
    target_mw: float
    price_cny_per_kwh: float
    penalty_cny_per_kwh: float
    answer: Answer
    committed_mw: float
    reason: str
    """Why it is partly accepted or rejected ("" when accepted in full)."""
    index_utc: pd.DatetimeIndex
    """Interval starts of the window (settled events; empty otherwise)."""
    baseline_mw: FloatArray
    """(window,) settlement baseline: import − export expected without the event. [MW]"""
    metered_mw: FloatArray
    """(window,) metered import − export. [MW]"""
    delivered_mw: FloatArray
    """(window,) settled delivery, each interval capped at the commitment. [MW]"""
    committed_mwh: float
    delivered_mwh: float
    revenue_cny: float
    penalty_cny: float
    replan_cost_cny: float
    """The re-plan's cost against the plan before the event (0 when not committed). [CNY]"""
    delay_mwh_h: float
    """Flexible energy served later than planned before the event, times the delay. [MWh·h]"""
    record: SettledEvent
    """The record for the settlement reports (:mod:`suandian.vpp.reports`)."""

    @property
    def net_cny(self) -> float:
        return self.revenue_cny - self.penalty_cny

    @property
    def delivered_mean_mw(self) -> float:
        """Mean settled delivery over the window (0 when nothing was settled). [MW]"""
        return float(self.delivered_mw.mean()) if self.delivered_mw.size else 0.0

    @property
    def window_local(self) -> str:
        return f"{self.start_local:%H:%M}–{self.end_local:%H:%M}"


@dataclass(frozen=True)
class WeekDay:
    """One closed day of the week."""

    day: dt.date
    unserved_flex_mwh: float
    """Flexible energy not served by its deadline in the day's final plan (0: none late). [MWh]"""
    plan_cost_cny: float
    notes: tuple[str, ...]


@dataclass(frozen=True)
class VppWeek:
    """The operated week: its events, its days and the site's meter over it."""

    scenario: str
    site: str
    start: dt.date
    days: int
    history_days: int
    resolution_min: int
    events: tuple[WeekEvent, ...]
    week_days: tuple[WeekDay, ...]
    index_utc: pd.DatetimeIndex
    """Interval starts of the week."""
    metered_mw: FloatArray
    """(T,) the site's import − export over the week, events included. [MW]"""
    planned_before_mw: FloatArray
    """(T,) the same in each day's plan before its events were answered. [MW]"""

    @property
    def records(self) -> list[SettledEvent]:
        return [e.record for e in self.events]

    @property
    def deadline_misses(self) -> int:
        """Days whose final plan leaves flexible energy unserved by its deadline."""
        return sum(1 for d in self.week_days if d.unserved_flex_mwh > 1e-6)

    @property
    def unserved_flex_mwh(self) -> float:
        return float(sum(d.unserved_flex_mwh for d in self.week_days))


def default_target_mw(park: Park, site: str) -> float:
    """40 % of ``site``'s battery power, or 20 MW for a site without a battery. [MW]"""
    battery_mw = sum(b.p_mw for b in park.batteries if b.site == site)
    return TARGET_SHARE_OF_BATTERY_PU * battery_mw if battery_mw > 0 else FALLBACK_TARGET_MW


def week_problems(
    park: Park,
    *,
    start: dt.date,
    site: str | None,
    days: int,
    history_days: int,
    resolution_min: int,
) -> list[tuple[str, str]]:
    """What is wrong with these arguments, as ``(argument, message)`` pairs (empty: fine).

    The simulated period (history and week) must lie in the scenario's year, the one its
    generation and load are calibrated for.
    """
    from suandian.sim.dispatch_inputs import resolve_site

    problems: list[tuple[str, str]] = []
    if days < 1:
        problems.append(("days", f"{days}; operate at least one day"))
    if history_days < 1:
        problems.append(
            ("history_days", f"{history_days}; the baselines need metered days before the week")
        )
    if resolution_min <= 0 or 1440 % resolution_min:
        problems.append(("resolution_min", f"{resolution_min}; use 15, 30 or 60 minutes"))
    if days >= 1 and history_days >= 1:
        year = park.year
        first = start - dt.timedelta(days=history_days)
        last = start + dt.timedelta(days=days - 1)
        if first.year != year or last.year != year:
            lo = dt.date(year, 1, 1) + dt.timedelta(days=history_days)
            hi = dt.date(year, 12, 31) - dt.timedelta(days=days - 1)
            problems.append(
                (
                    "start",
                    f"{start}: with {history_days} history day(s) before and {days} day(s) "
                    f"operated the period runs {first} – {last}, outside scenario "
                    f"{park.name}'s year {year}; give a start from {lo} to {hi}",
                )
            )
    try:
        resolve_site(park, site)
    except InputError as exc:
        problems.append(("site", str(exc).removeprefix("site: ")))
    return problems


def progress_total(park: Park, *, start: dt.date, days: int, history_days: int) -> int:
    """Number of progress ticks :func:`vpp_week` reports: simulation stages, then one per day."""
    from suandian.sim.park import stage_count

    first = start - dt.timedelta(days=history_days)
    last = start + dt.timedelta(days=days - 1)
    years = last.year - first.year + 1
    return stage_count(park) * years + history_days + days


def _events(
    start: dt.date, days: int, target_mw: float
) -> list[tuple[dt.datetime, DemandResponseEvent]]:
    from suandian.vpp import DemandResponseEvent

    received: list[tuple[dt.datetime, DemandResponseEvent]] = []
    for k in range(days):
        day = start + dt.timedelta(days=k)
        now = local_hours_utc(day, RECEIVED_HOUR)
        peak_price = PEAK_PRICES_CNY_PER_KWH[k % len(PEAK_PRICES_CNY_PER_KWH)]
        valley = DemandResponseEvent(
            event_id=f"valley-{day.isoformat()}",
            direction="increase",
            start_utc=local_hours_utc(day, VALLEY_HOURS[0]),
            end_utc=local_hours_utc(day, VALLEY_HOURS[1]),
            target_mw=target_mw,
            price_cny_per_kwh=VALLEY_PRICE_CNY_PER_KWH,
            penalty_cny_per_kwh=VALLEY_PENALTY_CNY_PER_KWH,
        )
        peak = DemandResponseEvent(
            event_id=f"peak-{day.isoformat()}",
            direction="reduce",
            start_utc=local_hours_utc(day, PEAK_HOURS[0]),
            end_utc=local_hours_utc(day, PEAK_HOURS[1]),
            target_mw=target_mw,
            price_cny_per_kwh=peak_price,
            penalty_cny_per_kwh=peak_price / 2.0,
        )
        received += [(now, valley), (now, peak)]
    return received


def vpp_week(
    park: Park,
    *,
    start: dt.date,
    site: str | None = None,
    days: int = 7,
    history_days: int = 21,
    resolution_min: int = 15,
    target_mw: float | None = None,
    progress: Callable[[str], None] | None = None,
) -> VppWeek:
    """Operate ``site`` of ``park`` as a VPP for ``days`` local days from ``start``.

    Parameters
    ----------
    start
        First Asia/Shanghai day with events.
    site
        Site operated (default: the park's one site with assets).
    days
        Days with events.
    history_days
        Days before ``start`` operated without events, the baselines' history (a baseline
        needs 5 similar days: weekdays or weekend days, so at least 3 weeks for a week that
        includes a weekend).
    resolution_min
        Planning and settlement interval. [min]
    target_mw
        Target of every event (default: :func:`default_target_mw`). [MW]
    progress
        Called with a stage name after each simulation stage and each closed day.

    Raises
    ------
    InputError
        For arguments :func:`week_problems` refuses (the message names the argument).
    """
    from suandian.sim.dispatch_inputs import resolve_site
    from suandian.sim.park import simulate
    from suandian.sim.vpp_operation import VppOperation
    from suandian.vpp import net_exchange_mw

    problems = week_problems(
        park,
        start=start,
        site=site,
        days=days,
        history_days=history_days,
        resolution_min=resolution_min,
    )
    if problems:
        name, message = problems[0]
        raise InputError(f"{name}: {message}")
    site_id = resolve_site(park, site)
    target = default_target_mw(park, site_id) if target_mw is None else float(target_mw)
    if not np.isfinite(target) or target <= 0:
        raise InputError(f"target_mw: {target_mw} must be a positive number of MW")
    first = start - dt.timedelta(days=history_days)
    series = simulate(park, start=first, days=history_days + days, progress=progress)
    op = VppOperation(park, series, site=site_id, resolution_min=resolution_min, progress=progress)
    week = [start + dt.timedelta(days=k) for k in range(days)]
    # Each day's plan before its events: planned now, before any event reaches it.
    planned_before = [net_exchange_mw(op.portfolio(day).plan) for day in week]
    indexes: list[pd.DatetimeIndex] = []
    for day in week:
        day_index = op.portfolio(day).inputs.index_utc
        assert day_index is not None  # the portfolio refuses inputs without one
        indexes.append(day_index)
    index = pd.DatetimeIndex(indexes[0].append(indexes[1:]))
    received = _events(start, days, target)
    history = [first + dt.timedelta(days=k) for k in range(history_days)]
    results = op.run(history + week, received)

    reception = {event.event_id: now for now, event in received}
    events: list[WeekEvent] = []
    week_days: list[WeekDay] = []
    metered: list[FloatArray] = []
    for result in results[history_days:]:
        metered.append(result.metered_mw)
        week_days.append(
            WeekDay(result.day, result.unserved_flex_mwh, result.plan_cost_cny, result.notes)
        )
        commitments = {c.event.event_id: c for c in result.commitments}
        for record in result.settled:
            events.append(
                _week_event(record, commitments.get(record.event.event_id), reception, result.day)
            )
    return VppWeek(
        scenario=park.name,
        site=site_id,
        start=start,
        days=days,
        history_days=history_days,
        resolution_min=resolution_min,
        events=tuple(events),
        week_days=tuple(week_days),
        index_utc=index,
        metered_mw=np.concatenate(metered),
        planned_before_mw=np.concatenate(planned_before),
    )


def _week_event(
    record: SettledEvent,
    commitment: Commitment | None,
    reception: dict[str, dt.datetime],
    day: dt.date,
) -> WeekEvent:
    event, answer, settlement = record.event, record.answer, record.settlement
    empty = np.zeros(0, dtype=np.float64)
    if settlement is not None:
        index = event.steps(record.step_min)
        baseline, actual, delivered = (
            settlement.baseline_mw,
            settlement.actual_mw,
            settlement.delivered_mw,
        )
        money = (
            settlement.committed_mwh,
            settlement.delivered_mwh,
            settlement.revenue_cny,
            settlement.penalty_cny,
        )
    else:
        index = pd.DatetimeIndex([], tz="UTC")
        baseline = actual = delivered = empty
        money = (0.0, 0.0, 0.0, 0.0)
    return WeekEvent(
        event_id=event.event_id,
        direction=event.direction,
        local_date=day,
        start_local=event.start_utc.astimezone(LOCAL_TZ),
        end_local=event.end_utc.astimezone(LOCAL_TZ),
        received_utc=reception[event.event_id],
        target_mw=event.target_mw,
        price_cny_per_kwh=event.price_cny_per_kwh,
        penalty_cny_per_kwh=event.penalty_cny_per_kwh,
        answer=answer.answer,
        committed_mw=answer.committed_mw,
        reason=answer.reason,
        index_utc=index,
        baseline_mw=baseline,
        metered_mw=actual,
        delivered_mw=delivered,
        committed_mwh=money[0],
        delivered_mwh=money[1],
        revenue_cny=money[2],
        penalty_cny=money[3],
        replan_cost_cny=commitment.replan_cost_cny if commitment is not None else 0.0,
        delay_mwh_h=commitment.delay_mwh_h if commitment is not None else 0.0,
        record=record,
    )
