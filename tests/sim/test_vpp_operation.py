"""A site of the bundled park operated as a VPP over simulated days: answers, re-plans, settling."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import numpy as np
import pytest

from suandian.core.errors import InputError
from suandian.core.times import local_hours_utc
from suandian.dispatch import check_invariants
from suandian.scenario.model import Park
from suandian.sim.park import ParkSeries, local_days
from suandian.sim.vpp_operation import VppOperation
from suandian.vpp import DemandResponseEvent, net_exchange_mw

FIRST = dt.date(2025, 6, 2)
DAYS = 24
SITE = "nanchuan"


_at = local_hours_utc


def _event(
    day: dt.date, direction: str, hours: tuple[float, float], target_mw: float, price: float
) -> DemandResponseEvent:
    return DemandResponseEvent(
        event_id=f"{direction}-{day}",
        direction=direction,  # type: ignore[arg-type]
        start_utc=_at(day, hours[0]),
        end_utc=_at(day, hours[1]),
        target_mw=target_mw,
        price_cny_per_kwh=price,
        penalty_cny_per_kwh=price / 2,
    )


@pytest.fixture(scope="module")
def operated(xining: Park, xining_year: ParkSeries) -> tuple[VppOperation, list]:  # type: ignore[type-arg]
    op = VppOperation(xining, local_days(xining_year, FIRST, DAYS), site=SITE)
    received = []
    for d in range(20, DAYS):  # 20 days of history before the first event
        day = FIRST + dt.timedelta(days=d)
        evening = _at(day, -6)
        received.append((evening, _event(day, "increase", (12, 14), 20.0, 0.2)))
        received.append((evening, _event(day, "reduce", (19, 21), 20.0, 4.0)))
    # Refused alone: an overlap with the evening event, one received after its start, one
    # crossing the local midnight.
    last = FIRST + dt.timedelta(days=DAYS - 1)
    overlap = _event(last, "reduce", (20, 22), 5.0, 4.0)
    received.append((_at(last, -5), replace(overlap, event_id="overlap")))
    late = DemandResponseEvent("late", "reduce", _at(last, 8), _at(last, 9), 1.0, 4.0)
    received.append((_at(last, 8.5), late))
    crossing = DemandResponseEvent("midnight", "reduce", _at(last, 23), _at(last, 25), 1.0, 4.0)
    received.append((_at(last, -5), crossing))
    days = [FIRST + dt.timedelta(days=d) for d in range(DAYS)]
    return op, op.run(days, received)


def test_every_event_is_answered_and_commitments_are_delivered(operated: tuple) -> None:  # type: ignore[type-arg]
    _op, results = operated
    settled = [s for r in results for s in r.settled]
    assert len(settled) == 4 * 2 + 3
    answers = {s.event.event_id: s.answer for s in settled}
    assert answers["late"].answer == "rejected" and "past" in answers["late"].reason
    assert answers["midnight"].answer == "rejected"
    assert "not open" in answers["midnight"].reason or "horizon" in answers["midnight"].reason
    evening = answers[f"reduce-{FIRST + dt.timedelta(days=DAYS - 1)}"]
    if evening.answer != "rejected":
        assert answers["overlap"].answer == "rejected"
        assert "overlaps accepted event" in answers["overlap"].reason
    committed = [s for s in settled if s.answer.answer != "rejected"]
    assert committed, "no event was committed on a summer site with a battery"
    for s in committed:
        st = s.settlement
        assert st is not None
        # Committed against the settlement baseline: delivered in full, within 5 %.
        assert st.delivered_mwh >= 0.95 * st.committed_mwh - 1e-6, s.event.event_id
        assert st.penalty_cny <= 0.05 * st.committed_mwh * 1000 * s.event.penalty_cny_per_kwh + 1e-6


def test_replans_keep_every_job_and_the_plan_valid(operated: tuple) -> None:  # type: ignore[type-arg]
    _op, results = operated
    for r in results:
        assert r.unserved_flex_mwh == pytest.approx(0.0, abs=1e-6)
        for c in r.commitments:
            assert (c.planned_shift_mw >= c.committed_mw - 1e-5).all()
            # The split covers the shift the resources make; the meter sees it against the
            # reference (the baseline), so the sum of the split is not compared with it.
            assert set(c.split_mw) and all(
                v.shape == c.reference_mw.shape for v in c.split_mw.values()
            )


def test_event_days_are_not_baseline_history(operated: tuple) -> None:  # type: ignore[type-arg]
    op, results = operated
    event_days = {r.day for r in results if r.commitments}
    assert event_days == op.event_days
    assert not event_days & set(op.history_mw)
    assert len(op.history_mw) >= 20


def test_settlement_uses_the_baseline_committed_against(operated: tuple) -> None:  # type: ignore[type-arg]
    _op, results = operated
    settled = 0
    for r in results:
        for s in r.settled:
            st = s.settlement
            if st is None:
                continue
            c = next(c for c in r.commitments if c.event.event_id == s.event.event_id)
            np.testing.assert_array_equal(st.baseline_mw, c.reference_mw)
            np.testing.assert_allclose(st.actual_mw, r.metered_mw[c.first_step : c.end_step])
            settled += 1
    assert settled


def test_a_later_intraday_event_the_day_before_does_not_move_a_committed_baseline(
    xining: Park, xining_year: ParkSeries
) -> None:
    # Day-ahead for day D+1 is answered first (D counts with its plan); then an intraday event
    # on D is committed, which makes D an event day. D+1 still settles on what it committed.
    op = VppOperation(xining, local_days(xining_year, FIRST, DAYS), site=SITE)
    for d in range(20):
        op.close(FIRST + dt.timedelta(days=d))
    day = FIRST + dt.timedelta(days=20)
    after = day + dt.timedelta(days=1)
    first = op.receive(_event(after, "reduce", (8, 10), 4.0, 4.0), now_utc=_at(day, 10))
    second = op.receive(_event(day, "increase", (10, 12), 4.0, 4.0), now_utc=_at(day, 7))
    assert first.answer != "rejected" and second.answer != "rejected"
    op.close(day)
    assert day in op.event_days  # the history D+1's baseline counted D in has changed
    (settled,) = op.close(after).settled
    assert settled.settlement is not None
    assert settled.settlement.delivered_mwh == pytest.approx(
        settled.settlement.committed_mwh, rel=1e-6
    )
    # An id answered once is not answered again, on any day.
    again = op.receive(_event(after, "reduce", (8, 10), 4.0, 4.0), now_utc=_at(day, 10))
    assert again.answer == "rejected" and "answered already" in again.reason


def test_closed_days_and_unknown_days_are_refused(xining: Park, xining_year: ParkSeries) -> None:
    op = VppOperation(xining, local_days(xining_year, FIRST, 2), site=SITE)
    op.close(FIRST)
    late = op.receive(_event(FIRST, "reduce", (19, 20), 1.0, 4.0), now_utc=_at(FIRST, -1))
    assert late.answer == "rejected" and "not open" in late.reason
    with pytest.raises(InputError, match="outside the simulated period"):
        op.portfolio(FIRST + dt.timedelta(days=5))
    # Without 5 similar days of history there is no baseline to commit against.
    second = FIRST + dt.timedelta(days=1)
    answer = op.receive(_event(second, "reduce", (19, 20), 1.0, 4.0), now_utc=_at(second, -1))
    assert answer.answer == "rejected" and "no settlement baseline" in answer.reason
    check_invariants(op.portfolio(second).inputs, op.portfolio(second).plan)
    assert net_exchange_mw(op.portfolio(second).plan).shape == (96,)


def test_delivery_is_tracked_as_the_event_runs(xining: Park, xining_year: ParkSeries) -> None:
    op = VppOperation(xining, local_days(xining_year, FIRST, DAYS), site=SITE)
    for d in range(20):
        op.close(FIRST + dt.timedelta(days=d))
    day = FIRST + dt.timedelta(days=20)
    answer = op.receive(_event(day, "increase", (10, 12), 4.0, 1.0), now_utc=_at(day, 7))
    assert answer.answer == "accepted"
    assert op.delivery(_at(day, 10)) == []  # under way, nothing metered yet
    (status,) = op.delivery(_at(day, 10.5))  # two 15-min intervals have ended
    assert (status.elapsed_steps, status.window_steps) == (2, 8)
    assert status.due_mwh == pytest.approx(4.0 * 0.5)
    assert status.delivered_mwh == pytest.approx(status.due_mwh, rel=1e-6) and status.on_track
    (done,) = op.delivery(_at(day, 12))
    assert done.elapsed_steps == 8
    assert op.delivery(_at(day, 13)) == []  # over
