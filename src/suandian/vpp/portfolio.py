"""The park's portfolio answering demand-response events: decide, split, re-plan, track delivery.

:class:`Portfolio` holds one site's current plan (a dispatch LP plan over a horizon, e.g. one
local day at 15 min) and the events it has committed to. For each event it:

1. checks the event itself (:func:`~suandian.vpp.events.answer_event` with an unbounded
   envelope: window, grid, time, target, price, overlap with accepted events) and that its
   window lies inside the plan's horizon;
2. computes the portfolio's flexibility envelope over the window
   (:func:`~suandian.vpp.envelope.flexibility_envelope`) against a reference — the settlement
   baseline when one is given, else the plan's own meter — keeping every commitment already
   made and leaving the intervals that have begun as planned;
3. answers with :func:`~suandian.vpp.events.answer_event`: accepted, partly accepted at what the
   envelope holds, or rejected;
4. re-plans: the cheapest plan that shifts the meter by the committed power in every interval of
   the window (:func:`~suandian.vpp.envelope.replay_envelope`), which is how the target is split
   across resources — the LP takes the cheapest flexibility first, within every battery's energy
   and every flexible load's window (deadlines kept) — and declines the event when that re-plan
   costs more than the event pays at full delivery.

The commitment records the reference (``reference_mw``), the plan's meter before the event
(``plan_before_mw``) and after (``planned_mw``), each resource's share, the re-plan's cost and
the delay it imposes on flexible loads (MWh·h: energy served later than in the plan before,
times how much later). :func:`delivery_so_far` compares the metered exchange with the reference
as the event runs.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import pandas as pd

from suandian.core.errors import InfeasiblePlan, InputError
from suandian.core.units import KWH_PER_MWH
from suandian.dispatch import DispatchInputs, DispatchResult
from suandian.vpp.envelope import Held, flexibility_envelope, replay_envelope
from suandian.vpp.events import DemandResponseEvent, EventAnswer, answer_event
from suandian.vpp.settlement import direction_sign

__all__ = ["Commitment", "DeliveryStatus", "Portfolio", "delivery_so_far", "net_exchange_mw"]

FloatArray = npt.NDArray[np.float64]


def net_exchange_mw(result: DispatchResult) -> FloatArray:
    """(T,) import − export at the park's grid meter. [MW]"""
    return np.asarray(result.grid_import_mw - result.grid_export_mw, dtype=np.float64)


@dataclass(frozen=True)
class Commitment:
    """An event the portfolio committed to (accepted or partly accepted), and how."""

    event: DemandResponseEvent
    answer: EventAnswer
    first_step: int
    end_step: int
    """The event's window in intervals of the plan (exclusive end)."""
    envelope_mw: float
    """What the portfolio could hold through the window when the event was answered. [MW]"""
    reference_mw: FloatArray
    """(window,) grid exchange (import − export) the delivery is measured against: the
    ``reference_mw`` given to :meth:`Portfolio.answer` (e.g. the settlement baseline), else the
    plan's before the event. [MW]"""
    planned_mw: FloatArray
    """(window,) planned grid exchange after the re-plan. [MW]"""
    split_mw: Mapping[str, FloatArray]
    """Per battery and flexible load: (window,) shift of its consumption in the event's
    direction (positive = towards the target). [MW]"""
    replan_cost_cny: float
    """The re-plan's objective minus the plan's before (for the cost objective: CNY; may be
    negative when the event moves load to cheaper hours)."""
    delay_mwh_h: float
    """Energy of flexible loads served later than planned before, times the delay. [MWh·h]"""
    plan_before_mw: FloatArray | None = None
    """(window,) the plan's grid exchange before the event. [MW]"""
    also_held: tuple[Held, ...] = ()
    """Further windows kept from this answer on (e.g. the hours the baseline's day-of
    adjustment reads)."""

    @property
    def committed_mw(self) -> float:
        return self.answer.committed_mw

    @property
    def planned_shift_mw(self) -> FloatArray:
        """(window,) planned shift of the meter in the event's direction. [MW]"""
        sign = direction_sign(self.event.direction)
        return sign * (self.reference_mw - self.planned_mw)


@dataclass(frozen=True)
class DeliveryStatus:
    """How a committed event is going, from the metered intervals seen so far."""

    event_id: str
    elapsed_steps: int
    window_steps: int
    committed_mw: float
    delivered_mw: FloatArray
    """(elapsed,) metered shift against the reference, in the event's direction. [MW]"""
    delivered_mwh: float
    """Energy of the shift so far, each interval capped at the commitment. [MWh]"""
    due_mwh: float
    """Committed energy of the elapsed intervals. [MWh]"""

    @property
    def on_track(self) -> bool:
        """Within 5 % of the committed energy so far."""
        return self.delivered_mwh >= 0.95 * self.due_mwh - 1e-9


def delivery_so_far(
    commitment: Commitment, metered_mw: FloatArray, *, interval_h: float
) -> DeliveryStatus:
    """Delivery of ``commitment`` from the metered exchange of its first intervals.

    ``metered_mw``: import − export in the event's intervals metered so far (at most the
    window's length). [MW]
    """
    metered = np.asarray(metered_mw, dtype=np.float64)
    n = commitment.end_step - commitment.first_step
    if metered.ndim != 1 or metered.size > n:
        raise InputError(
            f"metered_mw: {metered.shape} values; give at most {n}, one per elapsed interval "
            f"of event {commitment.event.event_id}"
        )
    if not np.isfinite(metered).all():
        raise InputError("metered_mw: every value must be a finite number of MW")
    sign = direction_sign(commitment.event.direction)
    shift = sign * (commitment.reference_mw[: metered.size] - metered)
    capped = np.clip(shift, 0.0, commitment.committed_mw)
    return DeliveryStatus(
        event_id=commitment.event.event_id,
        elapsed_steps=int(metered.size),
        window_steps=n,
        committed_mw=commitment.committed_mw,
        delivered_mw=shift,
        delivered_mwh=float(capped.sum() * interval_h),
        due_mwh=float(commitment.committed_mw * metered.size * interval_h),
    )


def _delay_mwh_h(before: DispatchResult, after: DispatchResult, n_t: int, dt_h: float) -> float:
    """Σ over flexible loads and intervals of (energy served by t before − after)⁺ · Δt."""
    if before.flex.n_rows == 0:
        return 0.0
    cum_before = np.cumsum(before.flex.dense(n_t), axis=1) * dt_h
    cum_after = np.cumsum(after.flex.dense(n_t), axis=1) * dt_h
    return float(np.maximum(cum_before - cum_after, 0.0).sum() * dt_h)


def _resource_q(inputs: DispatchInputs, result: DispatchResult) -> dict[str, FloatArray]:
    n_t = inputs.n_steps
    q = {
        b.name: result.battery_charge_mw[i] - result.battery_discharge_mw[i]
        for i, b in enumerate(inputs.batteries)
    }
    dense = result.flex.dense(n_t)
    q.update({f.name: dense[i] for i, f in enumerate(inputs.flexible_loads)})
    return q


@dataclass
class Portfolio:
    """One site's plan and the demand-response events it has answered (see the module doc).

    ``min_commit_mw``: a partial commitment below this is rejected instead.
    ``min_price_cny_per_kwh``: events paying less are declined.
    ``resources``: batteries and flexible loads offered (all by default).
    """

    inputs: DispatchInputs
    plan: DispatchResult
    min_commit_mw: float = 0.0
    min_price_cny_per_kwh: float = 0.0
    resources: Sequence[str] | None = None
    commitments: list[Commitment] = field(default_factory=list)
    answers: list[EventAnswer] = field(default_factory=list)
    events: dict[str, DemandResponseEvent] = field(default_factory=dict)
    """Every event answered, by id."""

    def __post_init__(self) -> None:
        if self.inputs.index_utc is None:
            raise InputError(
                "inputs: index_utc is missing; the portfolio places events by time, give the "
                "dispatch inputs' UTC index"
            )
        self._index = self.inputs.index_utc
        self.step_min = round(self.inputs.interval_h * 60)

    @property
    def held(self) -> list[Held]:
        """Every window a re-plan must keep: the committed events' and what they hold also."""
        out: list[Held] = []
        for c in self.commitments:
            out.append((c.first_step, c.end_step, c.event.direction))
            out.extend(c.also_held)
        return out

    def window(self, event: DemandResponseEvent) -> tuple[int, int] | None:
        """The event's ``[first_step, end_step)`` in the plan; ``None`` when its window is off
        the plan's grid or horizon (or its times are not tz-aware)."""
        try:
            steps = event.steps(self.step_min)
        except (InputError, TypeError, ValueError):
            return None
        if len(steps) == 0:
            return None
        first = self._index.get_indexer(steps[:1])[0]
        if first < 0 or first + len(steps) > len(self._index):
            return None
        return int(first), int(first + len(steps))

    def answer(
        self,
        event: DemandResponseEvent,
        *,
        now_utc: dt.datetime,
        reference_mw: FloatArray | None = None,
        also_hold: Sequence[Held] = (),
    ) -> EventAnswer:
        """Answer ``event`` and, when committing, re-plan; the answer is also recorded.

        ``reference_mw``: (window,) import − export the delivery is measured against, e.g. the
        settlement baseline over the event's intervals; by default the plan's own. The
        commitment is then what the meter can hold below (``reduce``) or above (``increase``)
        that reference in every interval, whatever the plan did. [MW]
        ``also_hold``: windows of the plan to keep from this answer on, as for accepted events
        (e.g. those whose meter the reference depends on).
        """
        if event.event_id in self.events:
            return EventAnswer(
                event.event_id,
                "rejected",
                0.0,
                f"event {event.event_id} was answered already ({self._answer_of(event.event_id)})",
            )
        result = self._answer(event, now_utc, reference_mw, tuple(also_hold))
        self.answers.append(result)
        self.events[event.event_id] = event
        return result

    def _ask(
        self, event: DemandResponseEvent, now_utc: dt.datetime, envelope_mw: FloatArray
    ) -> EventAnswer:
        return answer_event(
            event,
            envelope_mw=envelope_mw,
            accepted=[c.event for c in self.commitments],
            now_utc=now_utc,
            step_min=self.step_min,
            min_commit_mw=self.min_commit_mw,
            min_price_cny_per_kwh=self.min_price_cny_per_kwh,
        )

    def check(self, event: DemandResponseEvent, *, now_utc: dt.datetime) -> EventAnswer | None:
        """The rejection of ``event`` for what is wrong with it alone (its window, time, target,
        price, an overlap with an accepted event, a window outside the plan), or ``None``."""
        try:
            n = len(event.steps(self.step_min))
        except InputError as exc:
            return EventAnswer(event.event_id, "rejected", 0.0, str(exc))
        # Nothing asked of the envelope: only the event's own checks can refuse it.
        checked = self._ask(event, now_utc, np.full(n, np.inf))
        if checked.answer == "rejected":
            return checked
        if self.window(event) is None:
            step = self._index[1] - self._index[0] if len(self._index) > 1 else pd.Timedelta(0)
            return EventAnswer(
                event.event_id,
                "rejected",
                0.0,
                f"the window {event.start_utc.isoformat()} – {event.end_utc.isoformat()} is "
                f"outside the planned horizon {self._index[0].isoformat()} – "
                f"{(self._index[-1] + step).isoformat()}",
            )
        return None

    def reject(self, event: DemandResponseEvent, reason: str) -> EventAnswer:
        """Record ``event`` as rejected for a reason found outside the portfolio."""
        result = EventAnswer(event.event_id, "rejected", 0.0, reason)
        if event.event_id not in self.events:
            self.answers.append(result)
            self.events[event.event_id] = event
        return result

    def _answer_of(self, event_id: str) -> str:
        return next(a.answer for a in self.answers if a.event_id == event_id)

    def _answer(
        self,
        event: DemandResponseEvent,
        now_utc: dt.datetime,
        reference_mw: FloatArray | None,
        also_hold: tuple[Held, ...],
    ) -> EventAnswer:
        refused = self.check(event, now_utc=now_utc)
        if refused is not None:
            return refused
        window = self.window(event)
        assert window is not None  # checked
        first, end = window
        n = end - first
        before_x = net_exchange_mw(self.plan)
        reference = before_x.copy()
        if reference_mw is not None:
            given = np.asarray(reference_mw, dtype=np.float64)
            if given.shape != (end - first,):
                raise InputError(
                    f"reference_mw: {given.shape} values for event {event.event_id}; give "
                    f"{end - first}, one per interval of the event"
                )
            reference[first:end] = given
        # Intervals that have begun stay as planned; the rest may be re-planned.
        common = {
            "first_step": first,
            "end_step": end,
            "direction": event.direction,
            "resources": self.resources,
            "held": [*self.held, *also_hold],
            "reference_mw": reference if reference_mw is not None else None,
            "fixed_steps": int(self._index.searchsorted(pd.Timestamp(now_utc), side="left")),
        }
        envelope = flexibility_envelope(
            self.inputs,
            self.plan,
            per_resource=False,
            **common,  # type: ignore[arg-type]
        )
        answer = self._ask(event, now_utc, np.full(n, envelope.portfolio_mw))
        if answer.answer == "rejected" and envelope.margin_mw < 0:
            side = "below" if event.direction == "reduce" else "above"
            return EventAnswer(
                event.event_id,
                "rejected",
                0.0,
                f"the park's draw cannot get {side} the reference (the settlement baseline) in "
                f"every interval of the window: {-envelope.margin_mw:.3f} MW short at best",
            )
        if answer.answer == "rejected":
            return answer
        if answer.committed_mw >= envelope.portfolio_mw:
            replan = envelope.replay  # partly accepted: the envelope's own replay delivers it
        else:
            try:
                replan = replay_envelope(
                    self.inputs,
                    self.plan,
                    delta_mw=answer.committed_mw,
                    **common,  # type: ignore[arg-type]
                )
            except InfeasiblePlan as exc:  # below the envelope, a replay always exists
                return EventAnswer(event.event_id, "rejected", 0.0, f"re-plan failed: {exc}")
        cost = float(replan.objective_value - self.plan.objective_value)
        pays = answer.committed_mw * (end - first) * self.inputs.interval_h * KWH_PER_MWH
        revenue = pays * event.price_cny_per_kwh
        if cost > revenue + 1e-6:
            return EventAnswer(
                event.event_id,
                "rejected",
                0.0,
                f"declined: delivering {answer.committed_mw:.3f} MW would raise the plan's cost "
                f"by {cost:,.0f} CNY, more than the {revenue:,.0f} CNY the event pays",
            )
        sign = direction_sign(event.direction)
        before_q = _resource_q(self.inputs, self.plan)
        after_q = _resource_q(self.inputs, replan)
        chosen = self.resources if self.resources is not None else list(before_q)
        split = {r: sign * (before_q[r] - after_q[r])[first:end] for r in chosen}
        after_x = net_exchange_mw(replan)
        self.commitments.append(
            Commitment(
                event=event,
                answer=answer,
                first_step=first,
                end_step=end,
                envelope_mw=envelope.portfolio_mw,
                reference_mw=reference[first:end].copy(),
                plan_before_mw=before_x[first:end].copy(),
                planned_mw=after_x[first:end].copy(),
                split_mw=split,
                replan_cost_cny=cost,
                delay_mwh_h=_delay_mwh_h(
                    self.plan, replan, self.inputs.n_steps, self.inputs.interval_h
                ),
                also_held=also_hold,
            )
        )
        self.plan = replan
        return answer
