"""The portfolio answering events: hand-checked commitments, held windows, declines, delays."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from suandian.core.errors import InfeasiblePlan, InputError
from suandian.dispatch import (
    BatteryUnit,
    DispatchInputs,
    FlexibleLoad,
    GridConnection,
    check_invariants,
    dispatch,
)
from suandian.vpp.envelope import flexibility_envelope, replay_envelope
from suandian.vpp.events import DemandResponseEvent
from suandian.vpp.portfolio import Portfolio, delivery_so_far, net_exchange_mw

TOL_MW = 1e-6
T = 8
START = pd.Timestamp("2026-07-01T00:00:00Z")
INDEX = pd.date_range(START, periods=T, freq="1h")
NOW = START.to_pydatetime() - dt.timedelta(hours=12)


def _event(
    event_id: str,
    first: int,
    end: int,
    target_mw: float,
    *,
    direction: str = "reduce",
    price: float = 1.0,
) -> DemandResponseEvent:
    return DemandResponseEvent(
        event_id=event_id,
        direction=direction,  # type: ignore[arg-type]
        start_utc=INDEX[first].to_pydatetime(),
        end_utc=(START + pd.Timedelta(hours=end)).to_pydatetime(),
        target_mw=target_mw,
        price_cny_per_kwh=price,
        penalty_cny_per_kwh=0.5,
    )


def _battery_portfolio() -> Portfolio:
    """10 MW / 20 MWh at 50 %, η = 1, cyclic; 5 MW load; 0.5 CNY/kWh flat, export free at 0."""
    inputs = DispatchInputs(
        interval_h=1.0,
        load_mw=np.full(T, 5.0),
        grid=GridConnection(import_price_cny_per_kwh=0.5),
        batteries=(
            BatteryUnit(
                "bess", p_mw=10.0, e_mwh=20.0, round_trip_efficiency_pu=1.0, soc_initial_pu=0.5
            ),
        ),
        index_utc=INDEX,
    )
    return Portfolio(inputs, dispatch(inputs))


def test_commitment_is_planned_and_costed_by_hand() -> None:
    pf = _battery_portfolio()
    answer = pf.answer(_event("a", 2, 4, 10.0), now_utc=NOW)
    assert (answer.answer, answer.committed_mw) == ("accepted", 10.0)
    (c,) = pf.commitments
    # The plan imported 5 MW throughout; delivering 10 MW over [2, 4) needs a full battery at
    # 2 (10 MWh more imported in 0–1), exports 5 MW in 2–3, and 10 MWh to come back to 10 MWh
    # by the end: 50 MWh imported instead of 40, +10 MWh × 500 CNY/MWh = 5,000 CNY.
    np.testing.assert_allclose(c.reference_mw, [5.0, 5.0], atol=TOL_MW)
    np.testing.assert_allclose(c.planned_mw, [-5.0, -5.0], atol=1e-5)
    np.testing.assert_allclose(c.planned_shift_mw, [10.0, 10.0], atol=1e-5)
    np.testing.assert_allclose(c.split_mw["bess"], [10.0, 10.0], atol=1e-5)
    assert c.replan_cost_cny == pytest.approx(5_000.0, abs=0.1)
    assert c.delay_mwh_h == 0.0
    check_invariants(pf.inputs, pf.plan)


def test_a_costly_event_is_declined_with_the_figures() -> None:
    # The same 10 MW over 2 h at 0.2 CNY/kWh pays 4,000 CNY for a re-plan costing 5,000.
    pf = _battery_portfolio()
    before = pf.plan
    answer = pf.answer(_event("a", 2, 4, 10.0, price=0.2), now_utc=NOW)
    assert answer.answer == "rejected"
    assert "5,000 CNY" in answer.reason and "4,000 CNY" in answer.reason
    assert pf.plan is before and pf.commitments == []


def test_an_accepted_event_is_held_when_the_next_one_is_answered() -> None:
    pf = _battery_portfolio()
    pf.answer(_event("a", 2, 4, 10.0), now_utc=NOW)
    after_a = pf.plan
    # Asked without A held, the LP would take back A's discharge for [5, 7); held, the battery
    # is empty at 4 and C gets only what one hour of charging (and the plan's recharge after A,
    # the reference) allows: less.
    free = flexibility_envelope(
        pf.inputs, after_a, first_step=5, end_step=7, direction="reduce"
    ).portfolio_mw
    answer = pf.answer(_event("c", 5, 7, 10.0), now_utc=NOW)
    assert answer.answer == "partial"
    assert answer.committed_mw < free - 1.0
    meter = net_exchange_mw(pf.plan)
    assert (meter[2:4] <= net_exchange_mw(after_a)[2:4] + 1e-5).all()  # A still delivered
    c = pf.commitments[1]
    assert (c.planned_shift_mw >= answer.committed_mw - 1e-5).all()
    check_invariants(pf.inputs, pf.plan)
    # And it is the most C can get with A held: a little more is infeasible.
    with pytest.raises(InfeasiblePlan):
        replay_envelope(
            pf.inputs,
            after_a,
            first_step=5,
            end_step=7,
            direction="reduce",
            delta_mw=answer.committed_mw + 1e-3,
            held=[(2, 4, "reduce")],
        )


def test_overlap_past_and_outside_the_horizon_are_rejected_with_reasons() -> None:
    pf = _battery_portfolio()
    pf.answer(_event("a", 2, 4, 4.0), now_utc=NOW)
    overlap = pf.answer(_event("b", 3, 5, 1.0), now_utc=NOW)
    assert overlap.answer == "rejected" and "overlaps accepted event a" in overlap.reason
    late = pf.answer(_event("p", 5, 6, 1.0), now_utc=INDEX[5].to_pydatetime())
    assert late.answer == "rejected" and "in the past or under way" in late.reason
    beyond = DemandResponseEvent(
        "x", "reduce", INDEX[6].to_pydatetime(), INDEX[6] + pd.Timedelta(hours=4), 1.0, 1.0
    )
    outside = pf.answer(beyond, now_utc=NOW)
    assert outside.answer == "rejected" and "outside the planned horizon" in outside.reason
    assert [a.answer for a in pf.answers] == ["accepted", "rejected", "rejected", "rejected"]
    assert len(pf.commitments) == 1


def test_a_deferred_load_pays_its_delay() -> None:
    # 4 MWh at ≤ 2 MW anywhere in the day; cheapest hours 0–1 (0.3), then 2–3 (0.4).
    price = np.array([0.3, 0.3, 0.4, 0.4, 0.5, 0.5, 0.5, 0.5])
    inputs = DispatchInputs(
        interval_h=1.0,
        load_mw=np.full(T, 1.0),
        grid=GridConnection(import_price_cny_per_kwh=price),
        flexible_loads=(FlexibleLoad("batch", 0, T, energy_mwh=4.0, p_max_mw=2.0),),
        index_utc=INDEX,
    )
    pf = Portfolio(inputs, dispatch(inputs))
    answer = pf.answer(_event("r", 0, 2, 2.0, price=0.2), now_utc=NOW)
    assert (answer.answer, answer.committed_mw) == ("accepted", 2.0)
    (c,) = pf.commitments
    # The batch moves to hours 2–3: 4 MWh two hours later = 8 MWh·h; 4 MWh × 100 CNY/MWh more
    # = 400 CNY, less than the 2 MW × 2 h × 200 CNY/MWh = 800 CNY paid.
    assert c.delay_mwh_h == pytest.approx(8.0, abs=1e-5)
    assert c.replan_cost_cny == pytest.approx(400.0, abs=0.01)
    np.testing.assert_allclose(c.split_mw["batch"], [2.0, 2.0], atol=1e-5)
    assert pf.plan.flex_unserved_mwh.sum() == pytest.approx(0.0, abs=1e-9)


def test_delivery_so_far() -> None:
    pf = _battery_portfolio()
    pf.answer(_event("a", 2, 4, 4.0), now_utc=NOW)
    (c,) = pf.commitments
    # Reference 5 MW; metered 1.5 MW in the first hour: 3.5 of 4 MW delivered, 87.5 %.
    status = delivery_so_far(c, np.array([1.5]), interval_h=1.0)
    assert status.delivered_mwh == pytest.approx(3.5)
    assert status.due_mwh == pytest.approx(4.0)
    assert not status.on_track
    # Over-delivery counts up to the commitment only: 4 + 4 of 8 MWh due.
    done = delivery_so_far(c, np.array([0.5, -3.0]), interval_h=1.0)
    assert done.delivered_mwh == pytest.approx(8.0) and done.on_track
    with pytest.raises(InputError, match="metered_mw"):
        delivery_so_far(c, np.zeros(3), interval_h=1.0)


def test_inputs_without_times_are_refused() -> None:
    inputs = DispatchInputs(
        interval_h=1.0, load_mw=np.ones(2), grid=GridConnection(import_price_cny_per_kwh=0.5)
    )
    with pytest.raises(InputError, match="index_utc"):
        Portfolio(inputs, dispatch(inputs))


def test_an_intraday_answer_leaves_the_hours_that_began_as_planned() -> None:
    pf = _battery_portfolio()
    before = pf.plan
    # Received a minute into hour 4: hours 0–4 have begun and stay idle, so the battery holds
    # its 10 MWh into [5, 7): 5 MW for two hours (without the freeze it could charge first
    # and give 10 MW, as the first test shows).
    answer = pf.answer(_event("i", 5, 7, 10.0), now_utc=INDEX[4] + pd.Timedelta(minutes=1))
    assert answer.answer == "partial"
    assert answer.committed_mw == pytest.approx(5.0, abs=1e-5)
    np.testing.assert_allclose(pf.plan.battery_charge_mw[:, :5], before.battery_charge_mw[:, :5])
    np.testing.assert_allclose(pf.plan.grid_import_mw[:5], before.grid_import_mw[:5])
    check_invariants(pf.inputs, pf.plan)


def test_prices_that_are_not_numbers_are_refused() -> None:
    pf = _battery_portfolio()
    bad = DemandResponseEvent("n", "reduce", INDEX[2], INDEX[4], 1.0, float("nan"))
    answer = pf.answer(bad, now_utc=NOW)
    assert answer.answer == "rejected" and "finite" in answer.reason
