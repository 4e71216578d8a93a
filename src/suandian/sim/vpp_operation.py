"""A site of a simulated park operated as a virtual power plant, one Asia/Shanghai day at a time.

:class:`VppOperation` plans each local day of the site with the dispatch LP (one solve over the
day, the batteries' end state as the scenario says), answers the demand-response events received
for that day with a :class:`~suandian.vpp.portfolio.Portfolio`, meters the day when it closes
and settles its events against their customer baseline
(:func:`~suandian.vpp.baseline.event_baseline`, days with events excluded).

**The baseline is fixed when the event is answered** and the commitment is made against it
(the commitment's ``reference_mw``), so that what the park commits is what it is settled on:
its similar days are those known then — closed days with their meter, days not closed yet with
their current plan (the meter they will have, see below) or, when they already hold
commitments, excluded as event days — and its day-of adjustment reads the plan's meter in the
adjustment hours, which are then held as planned by every later re-plan of the day. A later
change to the history (a day before becoming an event day by an intraday event answered after)
does not move a baseline already committed against.

What "metered" means here: the site's grid exchange (import − export) of the day's final plan,
i.e. the simulation's realised day follows the plan exactly (no forecast error between planning
and metering). The commitment also keeps the plan's meter before the event
(``plan_before_mw``): the shift against it is the park's physical effort, which can differ
from the settled delivery by the day's own difference from its similar days (weather, the day
of the week).

Events are answered within one local day: a window that crosses the local midnight is outside
the day's plan and is rejected with that reason. Intervals that have begun when an event is
received are not re-planned. An event id answered once (on any day) is not answered again.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
import pandas as pd

from suandian.core.errors import InputError, SuandianError
from suandian.core.times import local_date_start_utc, local_day, require_utc
from suandian.sim.park import local_days

if TYPE_CHECKING:
    from suandian.scenario.model import Park
    from suandian.sim.park import ParkSeries
    from suandian.vpp import (
        BaselineMethod,
        Commitment,
        DeliveryStatus,
        DemandResponseEvent,
        EventAnswer,
        EventSettlement,
        Held,
        Portfolio,
        SettledEvent,
    )

__all__ = ["DayResult", "VppOperation"]

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class DayResult:
    """One closed local day: its meter, commitments and settled events."""

    day: dt.date
    metered_mw: FloatArray
    """(T,) import − export at the site's grid meter over the day. [MW]"""
    commitments: tuple[Commitment, ...]
    settled: tuple[SettledEvent, ...]
    """Every event answered for the day (rejected ones with no settlement)."""
    unserved_flex_mwh: float
    """Flexible energy not served by its deadline in the day's final plan (0: no job late)."""
    plan_cost_cny: float
    """The final plan's cost objective (before event revenue). [CNY]"""
    notes: tuple[str, ...] = ()


@dataclass
class VppOperation:
    """Operate ``site`` of ``park`` over the simulated ``series`` day by day (module docstring).

    Call :meth:`receive` for each event as it arrives (it plans the event's day on first use)
    and :meth:`close` for each day once it is over, in order; days closed without events are
    the baselines' history.
    """

    park: Park
    series: ParkSeries
    site: str | None = None
    resolution_min: int = 15
    method: BaselineMethod | None = None
    min_commit_mw: float = 0.0
    min_price_cny_per_kwh: float = 0.0
    progress: Callable[[str], None] | None = None
    history_mw: dict[dt.date, FloatArray] = field(default_factory=dict)
    event_days: set[dt.date] = field(default_factory=set)
    answered: dict[str, EventAnswer] = field(default_factory=dict)
    """Every event id answered, with its answer."""
    _open: dict[dt.date, Portfolio] = field(default_factory=dict)
    _closed: set[dt.date] = field(default_factory=set)

    def __post_init__(self) -> None:
        days = local_day(self.series.index)
        self.first_day = pd.Timestamp(days[0]).date()
        self.last_day = pd.Timestamp(days[-1]).date()

    @property
    def step_min(self) -> int:
        return self.resolution_min

    def _event_day(self, event: DemandResponseEvent) -> dt.date:
        start = pd.Timestamp(event.start_utc)
        return pd.Timestamp(local_day(pd.DatetimeIndex([start]))[0]).date()

    def portfolio(self, day: dt.date) -> Portfolio:
        """The day's portfolio: planned on first use, then holding its commitments."""
        from suandian.dispatch import dispatch
        from suandian.sim.dispatch_inputs import dispatch_inputs
        from suandian.vpp import Portfolio

        if day in self._closed:
            raise InputError(f"day {day}: already closed; events for it can no longer be taken")
        if not self.first_day <= day <= self.last_day:
            raise InputError(
                f"day {day}: outside the simulated period {self.first_day} – {self.last_day}"
            )
        if day not in self._open:
            inputs = dispatch_inputs(
                self.park,
                local_days(self.series, day, 1),
                site=self.site,
                resolution_min=self.resolution_min,
            )
            self._open[day] = Portfolio(
                inputs,
                dispatch(inputs),
                min_commit_mw=self.min_commit_mw,
                min_price_cny_per_kwh=self.min_price_cny_per_kwh,
            )
        return self._open[day]

    def receive(self, event: DemandResponseEvent, *, now_utc: dt.datetime) -> EventAnswer:
        """Answer ``event`` received at ``now_utc`` (and re-plan its day when committing).

        The commitment is measured against the event's settlement baseline (the similar days'
        meter, adjusted by the plan's meter before the event), so that what the park commits is
        what it is paid for; without enough metered history the event is rejected. Every event
        gets an answer: what cannot be planned is rejected with the reason.
        """
        from suandian.vpp import EventAnswer

        earlier = self.answered.get(event.event_id)
        if earlier is not None:
            return EventAnswer(
                event.event_id,
                "rejected",
                0.0,
                f"event {event.event_id} was answered already ({earlier.answer}); an event id is "
                "answered once",
            )
        try:
            answer = self._receive(event, now_utc)
        except SuandianError as exc:
            answer = EventAnswer(event.event_id, "rejected", 0.0, f"cannot be planned: {exc}")
        self.answered[event.event_id] = answer
        return answer

    def _receive(self, event: DemandResponseEvent, now_utc: dt.datetime) -> EventAnswer:
        from suandian.vpp import BaselineMethod, EventAnswer, adjustment_window, net_exchange_mw

        require_utc(now_utc, "now_utc")
        try:
            day = self._event_day(event)
        except (TypeError, ValueError) as exc:
            return EventAnswer(event.event_id, "rejected", 0.0, f"start_utc: {exc}")
        if day in self._closed or not self.first_day <= day <= self.last_day:
            return EventAnswer(
                event.event_id,
                "rejected",
                0.0,
                f"the event's day {day} is not open for answers (operated: {self.first_day} – "
                f"{self.last_day}, closed up to {max(self._closed, default='none')})",
            )
        portfolio = self.portfolio(day)
        window = portfolio.window(event)
        if window is None or portfolio.check(event, now_utc=now_utc) is not None:
            return portfolio.answer(event, now_utc=now_utc)  # rejected, with the reason
        first, end = window
        mask = np.zeros(portfolio.inputs.n_steps, dtype=bool)
        mask[first:end] = True
        try:
            baseline = self._baseline(day, mask, net_exchange_mw(portfolio.plan))
        except InputError as exc:
            return portfolio.reject(event, f"no settlement baseline: {exc}")
        # The baseline read the plan's meter before the event (the day-of adjustment): keep
        # those hours' meter as planned from here on (both ways: the ratio scales a profile
        # that may be negative, so either move could lower what the event delivers).
        adjusted = adjustment_window(mask, self.method or BaselineMethod())
        keep: list[Held] = []
        if adjusted is not None:
            keep = [(adjusted[0], adjusted[1], "reduce"), (adjusted[0], adjusted[1], "increase")]
        return portfolio.answer(event, now_utc=now_utc, reference_mw=baseline[mask], also_hold=keep)

    def _baseline(self, day: dt.date, mask: BoolArray, actual_mw: FloatArray) -> FloatArray:
        """The event's baseline over the day as known now (module docstring): the similar days'
        meter — days not closed yet with their current plan, or as event days when they hold
        commitments — adjusted by ``actual_mw`` (the day's plan)."""
        from suandian.vpp import BaselineMethod, event_baseline, net_exchange_mw

        history: dict[dt.date, FloatArray] = dict(self.history_mw)
        excluded = set(self.event_days)
        lookback = (self.method or BaselineMethod()).lookback_days
        for back in range(1, lookback + 1):
            other = day - dt.timedelta(days=back)
            if other in self._closed or other < self.first_day:
                continue
            portfolio = self.portfolio(other)  # planned now if not yet
            if portfolio.commitments:
                excluded.add(other)
            else:
                history[other] = net_exchange_mw(portfolio.plan)
        return event_baseline(
            history,
            day,
            mask,
            actual_mw=actual_mw,
            method=self.method,
            excluded_days=excluded,
        ).adjusted_mw

    def delivery(self, now_utc: dt.datetime) -> list[DeliveryStatus]:
        """How each committed event under way at ``now_utc`` is delivering, from the meter of
        its intervals that have ended (the simulation meters the plan)."""
        from suandian.vpp import delivery_so_far, net_exchange_mw

        now = require_utc(now_utc, "now_utc")
        out: list[DeliveryStatus] = []
        for portfolio in self._open.values():
            index = portfolio.inputs.index_utc
            assert index is not None  # a portfolio needs it
            step = pd.Timedelta(minutes=self.resolution_min)
            ended = int(index.searchsorted(now - step, side="right"))
            metered = net_exchange_mw(portfolio.plan)
            for c in portfolio.commitments:
                if not c.first_step < ended or c.event.end_utc <= now - step:
                    continue
                last = min(ended, c.end_step)
                out.append(
                    delivery_so_far(
                        c, metered[c.first_step : last], interval_h=self.resolution_min / 60.0
                    )
                )
        return out

    def close(self, day: dt.date) -> DayResult:
        """Meter ``day``, add it to the baselines' history and settle its events."""
        from suandian.vpp import net_exchange_mw

        portfolio = self.portfolio(day)
        self._closed.add(day)
        del self._open[day]
        metered = net_exchange_mw(portfolio.plan)
        committed = {c.event.event_id: c for c in portfolio.commitments}
        settled: list[SettledEvent] = []
        notes: list[str] = []
        if committed:
            self.event_days.add(day)
        for answer in portfolio.answers:
            commitment = committed.get(answer.event_id)
            if commitment is None:
                event = portfolio.events[answer.event_id]
                settled.append(self._record(event, answer, None))
                continue
            try:
                settlement = self._settle(commitment, metered)
            except InputError as exc:
                notes.append(f"event {answer.event_id} not settled: {exc}")
                settlement = None
            settled.append(self._record(commitment.event, answer, settlement))
        if day not in self.event_days:
            self.history_mw[day] = metered
        plan = portfolio.plan
        if self.progress is not None:
            self.progress(f"{day}: {len(portfolio.answers)} event(s), {len(committed)} committed")
        return DayResult(
            day=day,
            metered_mw=metered,
            commitments=tuple(portfolio.commitments),
            settled=tuple(settled),
            unserved_flex_mwh=float(np.sum(plan.flex_unserved_mwh)),
            plan_cost_cny=float(plan.objective_value),
            notes=tuple(notes),
        )

    def run(
        self, days: Iterable[dt.date], received: Iterable[tuple[dt.datetime, DemandResponseEvent]]
    ) -> list[DayResult]:
        """Operate ``days`` in order, answering each event at its reception time and closing each
        day at its end (events received for a day already closed are answered as rejected)."""
        queue = sorted(received, key=lambda pair: pair[0])
        out: list[DayResult] = []
        k = 0
        for day in sorted(days):
            day_end = local_date_start_utc(day + dt.timedelta(days=1))
            while k < len(queue) and queue[k][0] < day_end:
                now, event = queue[k]
                self.receive(event, now_utc=now)
                k += 1
            out.append(self.close(day))
        return out

    def _record(
        self, event: DemandResponseEvent, answer: EventAnswer, settlement: EventSettlement | None
    ) -> SettledEvent:
        from suandian.vpp import BaselineMethod, SettledEvent

        m = self.method or BaselineMethod()
        name = (
            f"average {m.days}-of-{m.days}" if m.kind == "average" else f"high {m.high}-of-{m.days}"
        )
        if m.adjust:
            name += f", day-of adjusted ±{m.adjust_cap_pu:.0%}"
        return SettledEvent(
            event=event,
            answer=answer,
            settlement=settlement,
            baseline_method=name,
            step_min=self.resolution_min,
        )

    def _settle(self, commitment: Commitment, metered: FloatArray) -> EventSettlement:
        from suandian.vpp import settle_event

        sl = slice(commitment.first_step, commitment.end_step)
        event = commitment.event
        return settle_event(
            direction=event.direction,
            baseline_mw=commitment.reference_mw,  # fixed when answered (module docstring)
            actual_mw=metered[sl],
            committed_mw=commitment.committed_mw,
            price_cny_per_kwh=event.price_cny_per_kwh,
            penalty_cny_per_kwh=event.penalty_cny_per_kwh,
            step_h=self.resolution_min / 60.0,
        )
