"""EV smart charging and the hydrogen electrolyzer as flexible loads of the dispatch LP."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from numpy.testing import assert_allclose

from suandian.core.times import LOCAL_TZ, local_day, local_hour
from suandian.dispatch import (
    DispatchInputs,
    DispatchResult,
    FlexibleLoad,
    check_invariants,
    dispatch,
    rolling_dispatch,
    rule_dispatch,
)
from suandian.scenario import Park
from suandian.sim.dispatch_inputs import (
    SiteDispatch,
    dispatch_forecast,
    dispatch_inputs,
    flexible_arrivals_mw,
    flexible_by_consumer,
)
from suandian.sim.metering import simulated_readings
from suandian.sim.park import ParkSeries, simulate

START = dt.date(2025, 7, 1)


@pytest.fixture(scope="module")
def three_days(xining: Park) -> ParkSeries:
    return simulate(xining, start=START, days=3)


@pytest.fixture(scope="module")
def hourly(xining: Park, three_days: ParkSeries) -> DispatchInputs:
    return dispatch_inputs(xining, three_days)


@pytest.fixture(scope="module")
def hourly_plan(hourly: DispatchInputs) -> DispatchResult:
    result = dispatch(hourly)
    assert result.method == "lp", result.diagnosis
    return result


def _members(inputs: DispatchInputs, group: str) -> tuple[np.ndarray, list[FlexibleLoad]]:
    where = np.flatnonzero([f.group == group for f in inputs.flexible_loads])
    return where, [inputs.flexible_loads[i] for i in where]


def _group_cap(inputs: DispatchInputs, group: str) -> np.ndarray:
    (cap,) = [g.cap_mw for g in inputs.flex_groups if g.name == group]
    return np.asarray(cap)


def test_ev_classes_are_released_when_the_block_has_arrived(
    hourly: DispatchInputs, three_days: ParkSeries
) -> None:
    _, ev = _members(hourly, "svc-12")
    # 2 h blocks of local time; a block is due 8 h after it starts, so the blocks starting at
    # 18, 20 and 22 h on the last day would leave after the period and stay fixed: 36 − 3.
    assert len(ev) == 33
    assert ev[0].name == "svc-12@2025-07-01T00:00"
    assert ev[9].name == "svc-12@2025-07-01T18:00"
    profile = three_days.load_mw["svc-12"].to_numpy().reshape(-1, 4).mean(axis=1)
    for j, f in enumerate(ev):
        start = 2 * j
        assert (f.release_step, f.deadline_step) == (start + 2, start + 8)
        assert f.energy_mwh == pytest.approx(0.8 * profile[start : start + 2].sum(), rel=1e-9)
        assert f.p_max_mw == pytest.approx(2.4, rel=1e-12)
    # The group's cap is the chargers less the inflexible sessions charging on arrival.
    fixed = profile.copy()
    fixed[: 2 * len(ev)] *= 0.2
    assert_allclose(_group_cap(hourly, "svc-12"), 2.4 - fixed, rtol=1e-9)


def test_the_electrolyzer_is_one_class_per_local_day_above_its_minimum(
    hourly: DispatchInputs,
) -> None:
    _, h2 = _members(hourly, "h2-01")
    assert [f.name for f in h2] == ["h2-01@2025-07-01", "h2-01@2025-07-02", "h2-01@2025-07-03"]
    assert hourly.index_utc is not None
    for d, f in enumerate(h2):
        assert (f.release_step, f.deadline_step) == (24 * d, 24 * (d + 1))
        assert hourly.index_utc[f.release_step].tz_convert(LOCAL_TZ).hour == 0
        # 2 MW × 24 h, less the 1 MW minimum stable load held fixed all day.
        assert f.energy_mwh == pytest.approx(24.0, rel=1e-9)
        assert f.p_max_mw == pytest.approx(4.0, rel=1e-12)
    assert_allclose(_group_cap(hourly, "h2-01"), 4.0, rtol=1e-12)


def test_the_lp_moves_ev_and_hydrogen_energy_inside_their_windows(
    hourly: DispatchInputs, hourly_plan: DispatchResult
) -> None:
    r = hourly_plan
    check_invariants(hourly, r)  # balance per step, every bound and cap, each class's energy
    for group in ("dc-nanchuan", "svc-12", "h2-01"):
        rows, members = _members(hourly, group)
        drawn = r.flex_p_mw[rows].sum(axis=0)
        assert (drawn <= _group_cap(hourly, group) + 1e-6).all(), group
        for i, f in zip(rows, members, strict=True):
            # Never before the block has arrived nor after the earliest departure.
            assert np.abs(r.flex_p_mw[i, : f.release_step]).max(initial=0.0) <= 1e-9
            assert np.abs(r.flex_p_mw[i, f.deadline_step :]).max(initial=0.0) <= 1e-9
            assert r.flex_p_mw[i].sum() * hourly.interval_h == pytest.approx(f.energy_mwh, abs=1e-6)
    # The stack runs between its 1 MW minimum and its 5 MW rating.
    rows, _ = _members(hourly, "h2-01")
    stack = 1.0 + r.flex_p_mw[rows].sum(axis=0)
    assert stack.min() >= 1.0 - 1e-9
    assert stack.max() <= 5.0 + 1e-6


def test_the_lp_runs_the_electrolyzer_on_midday_sun(
    hourly: DispatchInputs, hourly_plan: DispatchResult
) -> None:
    assert hourly.index_utc is not None
    midday = (local_hour(hourly.index_utc) >= 10.0) & (local_hour(hourly.index_utc) < 16.0)
    rows, _ = _members(hourly, "h2-01")
    planned = 1.0 + hourly_plan.flex_p_mw[rows].sum(axis=0)
    flat = np.full(hourly.n_steps, 2.0)  # the simulated profile: 2 MW around the clock
    share_flat = flat[midday].sum() / flat.sum()
    share_lp = planned[midday].sum() / planned.sum()
    assert share_flat == pytest.approx(0.25, abs=1e-12)
    # Midday is the valley tariff and the PV peak; the stack runs at its rating there.
    assert share_lp > 0.4
    ev_rows, _ = _members(hourly, "svc-12")
    assert hourly_plan.flex_p_mw[ev_rows][:, midday].sum() > 0.0


def test_rules_and_rolling_windows_keep_the_caps(hourly: DispatchInputs) -> None:
    rules = rule_dispatch(hourly)
    check_invariants(hourly, rules)
    rolled = rolling_dispatch(hourly, window_steps=36, commit_steps=12)
    assert rolled.diagnosis is None, rolled.diagnosis
    check_invariants(hourly, rolled)
    assert rolled.flex_unserved_mwh.sum() == pytest.approx(0.0, abs=1e-6)


def test_meters_read_the_dispatched_load_and_keep_each_class_energy(
    xining: Park, three_days: ParkSeries
) -> None:
    inputs = dispatch_inputs(xining, three_days, resolution_min=15)
    result = rolling_dispatch(inputs, window_steps=96, commit_steps=96)
    check_invariants(inputs, result)
    readings = simulated_readings(
        xining, three_days, dispatch=SiteDispatch("nanchuan", inputs, result)
    )
    kwh = readings.pivot(index="start_utc", columns="meter_id", values="kwh")
    arriving = flexible_arrivals_mw(xining, three_days, resolution_min=15)
    planned = flexible_by_consumer(xining, inputs, result)
    assert set(planned) == {"svc-12", "h2-01"}
    for asset in planned:
        simulated = three_days.load_mw[asset].to_numpy()
        fixed = simulated - arriving[asset]
        assert_allclose(kwh[f"m-{asset}"], (fixed + planned[asset]) * 250.0, rtol=1e-9)
        # Over the whole period the meter reads the simulated energy, at other times.
        assert kwh[f"m-{asset}"].sum() == pytest.approx(simulated.sum() * 250.0, rel=1e-9)
    # The electrolyzer's windows are the local days: each day meters its simulated energy.
    days = local_day(three_days.index)
    h2_kwh = kwh["m-h2-01"].to_numpy()
    for day in np.unique(days):
        assert h2_kwh[days == day].sum() == pytest.approx(48_000.0, rel=1e-9)
    assert h2_kwh.min() >= 1_000.0 * 0.25 - 1e-6  # never below the minimum stable load
    assert h2_kwh.max() <= 5_000.0 * 0.25 + 1e-6
    # Each EV class: the energy that arrived in its block is what the plan serves in its window.
    rows, members = _members(inputs, "svc-12")
    for i, f in zip(rows, members, strict=True):
        block = slice(f.deadline_step - 32, f.release_step)  # 8 h dwell, 2 h blocks at 15 min
        assert arriving["svc-12"][block].sum() * 0.25 == pytest.approx(f.energy_mwh, rel=1e-9)
        assert result.flex_p_mw[i].sum() * 0.25 == pytest.approx(f.energy_mwh, abs=1e-6)


def test_the_forecast_splits_the_fixed_load_the_same_way(
    xining: Park, three_days: ParkSeries, hourly: DispatchInputs
) -> None:
    forecast = dispatch_forecast(xining, three_days)
    assert forecast.load_mw is not None
    assert_allclose(np.asarray(forecast.load_mw), hourly.load_mw, rtol=1e-12)


def test_a_dwell_within_one_block_leaves_the_station_fixed(
    xining: Park, three_days: ParkSeries, hourly: DispatchInputs
) -> None:
    consumers = [
        c.model_copy(update={"ev": c.ev.model_copy(update={"dwell_h": 2.0})})
        if c.ev is not None
        else c
        for c in xining.consumers
    ]
    short = dispatch_inputs(xining.model_copy(update={"consumers": consumers}), three_days)
    assert _members(short, "svc-12")[1] == []
    assert "svc-12" not in {g.name for g in short.flex_groups}
    ev_mwh = sum(f.energy_mwh for f in _members(hourly, "svc-12")[1])
    assert short.load_mw.sum() == pytest.approx(hourly.load_mw.sum() + ev_mwh, rel=1e-9)
