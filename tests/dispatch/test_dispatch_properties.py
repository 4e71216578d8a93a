"""Invariants rebuilt from random plans, the post-solve netting, and in-place updates."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose

from suandian.core.errors import InputError
from suandian.dispatch import (
    OBJECTIVES,
    BatteryUnit,
    DispatchInputs,
    DispatchResult,
    FlexibleLoad,
    Generator,
    GridConnection,
    build_problem,
    check_invariants,
    dispatch,
    net_simultaneous,
    rule_dispatch,
    solve,
    update_problem,
)
from suandian.dispatch.constraints import objective_coefficients


def _no_simultaneous(result: DispatchResult) -> None:
    both = np.minimum(result.battery_charge_mw, result.battery_discharge_mw)
    assert both.max(initial=0.0) <= 1e-9
    assert np.minimum(result.grid_import_mw, result.grid_export_mw).max() <= 1e-9


def _random_inputs(seed: int, n_t: int = 48, *, end_free: bool = False) -> DispatchInputs:
    """A feasible 48-step park: three generators, two batteries, two flexible loads."""
    rng = np.random.default_rng(seed)
    hours = np.arange(n_t) % 24
    sun = np.clip(np.sin((hours - 6) / 12 * np.pi), 0, None)
    generators = (
        Generator("pv", "pv", 80 * sun * rng.uniform(0.3, 1.0, n_t)),
        Generator("wind", "wind", rng.uniform(0, 30, n_t)),
        Generator("hydro", "hydro", np.full(n_t, rng.uniform(0, 5))),
    )
    ends: list[object] = ["free", "free"] if end_free else ["cyclic", float(rng.uniform(0.3, 0.7))]
    batteries = tuple(
        BatteryUnit(
            f"b{i}",
            p_mw=float(rng.uniform(5, 20)),
            e_mwh=float(rng.uniform(20, 60)),
            round_trip_efficiency_pu=float(rng.uniform(0.8, 1.0)),
            soc_min_pu=0.1,
            soc_max_pu=0.9,
            soc_initial_pu=float(rng.uniform(0.2, 0.8)),
            end_soc=ends[i],  # type: ignore[arg-type]
        )
        for i in range(2)
    )
    flex = (
        FlexibleLoad("batch", 2, 30, energy_mwh=float(rng.uniform(20, 100)), p_max_mw=10.0),
        FlexibleLoad("etl", 20, n_t, energy_mwh=float(rng.uniform(10, 60)), p_max_mw=8.0),
    )
    price = rng.uniform(0.15, 0.6, n_t)
    return DispatchInputs(
        interval_h=float(rng.choice([0.25, 0.5, 1.0])),
        load_mw=rng.uniform(20, 50, n_t),
        generators=generators,
        batteries=batteries,
        flexible_loads=flex,
        grid=GridConnection(
            import_price_cny_per_kwh=price,
            export_price_cny_per_kwh=0.9 * price.min(),
            ef_kgco2_per_kwh=rng.uniform(0.1, 0.9, n_t),
            import_limit_mw=120.0,
            export_limit_mw=float(rng.uniform(0, 20)),
            export_limit_share_pu=0.2,
        ),
        carbon_price_cny_per_tco2=float(rng.uniform(0, 200)),
    )


@pytest.mark.parametrize("seed", range(8))
def test_random_plan_keeps_every_invariant(seed: int) -> None:
    inputs = _random_inputs(seed)
    objective = OBJECTIVES[seed % len(OBJECTIVES)]
    r = dispatch(inputs, objective)  # type: ignore[arg-type]
    assert r.method == "lp", r.diagnosis
    check_invariants(inputs, r)
    _no_simultaneous(r)
    assert r.notes == ()
    assert_allclose(
        r.flex_p_mw.sum(axis=1) * inputs.interval_h,
        [f.energy_mwh for f in inputs.flexible_loads],
        rtol=1e-9,
        atol=1e-6,
    )


@pytest.mark.parametrize("seed", range(4))
def test_solver_objective_is_the_cost_plus_tiny_throughput_and_storage_terms(seed: int) -> None:
    # Export price ≤ import price everywhere, so the LP's cost coefficients are the real ones;
    # the only differences are ε per MWh of battery and grid throughput and the credit ε_s per
    # MWh·h kept in storage.
    inputs = _random_inputs(seed)
    r = dispatch(inputs, "cost")
    coeffs = objective_coefficients(inputs, "cost")
    throughput_mwh = (
        r.battery_charge_mw.sum()
        + r.battery_discharge_mw.sum()
        + r.grid_import_mw.sum()
        + r.grid_export_mw.sum()
    ) * inputs.interval_h
    held_mwh_h = r.battery_soe_mwh.sum() * inputs.interval_h
    expected = (
        r.cost_cny
        + coeffs.throughput_per_mwh * throughput_mwh
        - coeffs.stored_credit_per_mwh_h * held_mwh_h
    )
    assert r.solver_objective_value == pytest.approx(expected, rel=1e-7)


@pytest.mark.parametrize("seed", range(4))
def test_optimum_is_never_worse_than_the_greedy_rules(seed: int) -> None:
    # With free end states and no target, the greedy plan (when it serves everything) is a
    # feasible point of the LP, so the LP's cost cannot exceed it.
    inputs = _random_inputs(seed, end_free=True)
    lp = dispatch(inputs, "cost")
    rules = rule_dispatch(inputs, "cost")
    check_invariants(inputs, rules)
    _no_simultaneous(rules)
    if rules.unserved_mwh == 0 and not rules.flex_unserved_mwh.any():
        assert lp.cost_cny <= rules.cost_cny + 1e-6 * abs(rules.cost_cny)


def test_daily_green_target_holds_each_local_day() -> None:
    import pandas as pd

    base = _random_inputs(3, end_free=True)
    index = pd.date_range("2025-07-01 16:00", periods=48, freq="1h", tz="UTC")  # 2 local days
    inputs = DispatchInputs(
        interval_h=1.0,
        load_mw=base.load_mw,
        generators=base.generators,
        batteries=base.batteries,
        flexible_loads=base.flexible_loads,
        grid=base.grid,
        index_utc=index,
        green_target_pu=0.6,
        green_target_period="day",
    )
    r = dispatch(inputs, "cost")
    assert r.method == "lp", r.diagnosis
    check_invariants(inputs, r)  # checks the target per day
    _no_simultaneous(r)
    for day in (slice(0, 24), slice(24, 48)):
        consumed = (inputs.load_mw[day] + r.flex_p_mw[:, day].sum(axis=0)).sum()
        assert r.grid_import_mw[day].sum() <= 0.4 * consumed + 1e-6


# --- the post-solve netting ---------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(
    charge=st.floats(0, 10),
    discharge=st.floats(0, 10),
    imp=st.floats(0, 10),
    exp=st.floats(0, 5),
    pv=st.floats(0, 20),
    eta=st.floats(0.6, 1.0),
)
def test_netting_keeps_balance_and_stored_energy(
    charge: float, discharge: float, imp: float, exp: float, pv: float, eta: float
) -> None:
    # One step, load chosen so that the given flows balance; any plan in, balance and the
    # change of stored energy must come out unchanged.
    load = pv + imp + discharge - charge - exp
    if load < 0:
        pv -= load
        load = 0.0
    inputs = DispatchInputs(
        interval_h=1.0,
        load_mw=np.array([load]),
        generators=(Generator("pv", "pv", np.array([pv])),),
        batteries=(BatteryUnit("b", 10, 100, eta, 0.0, 1.0, 0.5, "free"),),
        grid=GridConnection(import_price_cny_per_kwh=0.3, export_limit_mw=8.0),
    )
    n = net_simultaneous(
        inputs,
        generator_p_mw=np.array([[pv]]),
        battery_charge_mw=np.array([[charge]]),
        battery_discharge_mw=np.array([[discharge]]),
        grid_import_mw=np.array([imp]),
        grid_export_mw=np.array([exp]),
    )
    b = inputs.batteries[0]
    stored_before = b.efficiency_charge_pu * charge - discharge / b.efficiency_discharge_pu
    stored_after = (
        b.efficiency_charge_pu * n.battery_charge_mw[0, 0]
        - n.battery_discharge_mw[0, 0] / b.efficiency_discharge_pu
    )
    assert stored_after == pytest.approx(stored_before, abs=1e-9)
    supply = n.generator_p_mw.sum() + n.grid_import_mw[0] + n.battery_discharge_mw[0, 0]
    demand = load + n.battery_charge_mw[0, 0] + n.grid_export_mw[0]
    assert supply == pytest.approx(demand, abs=1e-9)
    assert min(n.grid_import_mw[0], n.grid_export_mw[0]) == 0.0
    assert 0.0 <= n.generator_p_mw[0, 0] <= pv + 1e-12
    assert n.grid_export_mw[0] <= max(exp, 8.0) + 1e-12
    # Netting is complete wherever import, export room and on-site output can absorb the
    # (1 − η)·a MW it frees.
    spare = (1 - eta) * min(charge, discharge / eta)
    if imp + (8.0 - exp) + pv >= spare:
        assert min(n.battery_charge_mw[0, 0], n.battery_discharge_mw[0, 0]) <= 1e-9


# --- updates in place --------------------------------------------------------------------------


def test_update_in_place_matches_a_fresh_build() -> None:
    first = _random_inputs(5)
    second = _random_inputs(6)
    # Same shape: keep the second's data but the first's interval and efficiencies.
    second = DispatchInputs(
        interval_h=first.interval_h,
        load_mw=second.load_mw,
        generators=second.generators,
        batteries=tuple(
            BatteryUnit(
                b.name,
                b2.p_mw,
                b2.e_mwh,
                b.round_trip_efficiency_pu,
                b2.soc_min_pu,
                b2.soc_max_pu,
                b2.soc_initial_pu,
                b2.end_soc,
            )
            for b, b2 in zip(first.batteries, second.batteries, strict=True)
        ),
        flexible_loads=second.flexible_loads,
        grid=second.grid,
    )
    problem = build_problem(first, "cost")
    solve(problem)
    update_problem(problem, second)
    warm = solve(problem)
    fresh = dispatch(second, "cost")
    check_invariants(second, warm)
    assert warm.cost_cny == pytest.approx(fresh.cost_cny, rel=1e-7, abs=1e-6)


def test_update_refuses_a_different_shape() -> None:
    problem = build_problem(_random_inputs(1), "cost")
    with pytest.raises(InputError, match="build_problem"):
        update_problem(problem, _random_inputs(1, n_t=40))
