"""Infeasible plans never crash: a diagnosis in words and numbers, and the rule-based fallback."""

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from suandian.core.errors import InfeasiblePlan
from suandian.dispatch import (
    BatteryUnit,
    DispatchInputs,
    DispatchResult,
    FlexibleLoad,
    Generator,
    GridConnection,
    build_problem,
    check_invariants,
    diagnose,
    dispatch,
    rule_dispatch,
    solve,
)


def _no_simultaneous(result: DispatchResult) -> None:
    both = np.minimum(result.battery_charge_mw, result.battery_discharge_mw)
    assert both.max(initial=0.0) <= 1e-9
    assert np.minimum(result.grid_import_mw, result.grid_export_mw).max() <= 1e-9


# (7) Three hours from 17:00 Beijing time (09:00 UTC) on 2025-01-15; import limit 60 MW; an
# empty 20 MW / 20 MWh battery. 17:00: load 62 = 60 + PV 2; 18:00: load 64 = 60 + 4 — no
# spare to charge the battery. 19:00: load 72 > 60 + PV 3 + battery 0 → 9 MW short.
INDEX = pd.date_range("2025-01-15 09:00", periods=3, freq="1h", tz="UTC")


def _evening(**grid: object) -> DispatchInputs:
    return DispatchInputs(
        interval_h=1.0,
        load_mw=np.array([62.0, 64.0, 72.0]),
        generators=(Generator("pv", "pv", np.array([2.0, 4.0, 3.0])),),
        batteries=(BatteryUnit("bess", 20.0, 20.0, 0.9, 0.0, 1.0, 0.0, "free"),),
        grid=GridConnection(
            import_price_cny_per_kwh=np.array([0.57, 0.57, 0.57]),
            import_limit_mw=60.0,
            **grid,  # type: ignore[arg-type]
        ),
        index_utc=INDEX,
    )


def test_infeasible_plan_falls_back_to_rules_with_a_diagnosis() -> None:
    inputs = _evening()
    r = dispatch(inputs, "cost")
    assert r.method == "rules"
    assert r.status == "Infeasible"
    assert r.diagnosis is not None
    for text in ("load 72 MW", "2025-01-15 19:00", "import limit 60 MW", "generation 3 MW"):
        assert text in r.diagnosis
    assert "battery 0 MW" in r.diagnosis
    assert "9 MW cannot be served" in r.diagnosis
    # The greedy plan: import at the limit every hour, 9 MW unserved at 19:00.
    assert_allclose(r.grid_import_mw, [60.0, 60.0, 60.0], atol=1e-9)
    assert_allclose(r.unserved_mw, [0.0, 0.0, 9.0], atol=1e-9)
    assert r.unserved_mwh == pytest.approx(9.0, abs=1e-9)
    check_invariants(inputs, r)
    _no_simultaneous(r)


def test_solve_raises_infeasible_plan_with_the_same_words() -> None:
    with pytest.raises(InfeasiblePlan, match="load 72 MW at 2025-01-15 19:00"):
        solve(build_problem(_evening(), "cost"))


def test_elastic_form_serves_what_it_can() -> None:
    r = solve(build_problem(_evening(), "cost", elastic=True))
    assert r.elastic
    assert_allclose(r.unserved_mw, [0.0, 0.0, 9.0], atol=1e-6)
    check_invariants(_evening(), r)


def test_first_step_that_cannot_be_served_is_named() -> None:
    # Two hours of 70 MW against a 60 MW limit and a full 10 MW / 10 MWh battery: the battery
    # can cover either hour but not both; the diagnosis serves the first and names the second.
    inputs = DispatchInputs(
        interval_h=1.0,
        load_mw=np.array([70.0, 70.0]),
        batteries=(BatteryUnit("bess", 10.0, 10.0, 1.0, 0.0, 1.0, 1.0, "free"),),
        grid=GridConnection(import_price_cny_per_kwh=0.5, import_limit_mw=60.0),
    )
    d = diagnose(inputs)
    assert d.kind == "load"
    assert d.step == 1
    assert "at step 1" in d.message
    assert "battery 0 MW (0 MWh stored above its minimum)" in d.message
    assert "10 MW cannot be served" in d.message


def test_flexible_load_that_cannot_fit_its_window() -> None:
    # 50 MWh in 4 hours under a 10 MW cap: at most 40 MWh fit.
    inputs = DispatchInputs(
        interval_h=1.0,
        load_mw=np.zeros(6),
        flexible_loads=(FlexibleLoad("render", 1, 5, energy_mwh=50.0, p_max_mw=10.0),),
        grid=GridConnection(import_price_cny_per_kwh=0.3),
    )
    d = diagnose(inputs)
    assert d.kind == "flexible"
    assert "'render' needs 50 MWh" in d.message
    assert "at most 40 MWh fit under its 10 MW cap" in d.message
    r = dispatch(inputs)
    assert r.method == "rules"
    # Rules: spread evenly over the window, capped at 10 MW (12.5 would be needed); 10 MWh over.
    assert_allclose(r.flex_p_mw, [[0.0, 10.0, 10.0, 10.0, 10.0, 0.0]], atol=1e-9)
    assert_allclose(r.flex_unserved_mwh, [10.0], atol=1e-9)
    check_invariants(inputs, r)
    _no_simultaneous(r)


def test_flexible_load_short_of_supply() -> None:
    # The window fits 40 MWh, but the grid gives only 5 MW for 4 hours: 20 of 30 MWh.
    inputs = DispatchInputs(
        interval_h=1.0,
        load_mw=np.zeros(4),
        flexible_loads=(FlexibleLoad("render", 0, 4, energy_mwh=30.0, p_max_mw=10.0),),
        grid=GridConnection(import_price_cny_per_kwh=0.3, import_limit_mw=5.0),
    )
    d = diagnose(inputs)
    assert d.kind == "flexible"
    assert "only 20 of its 30 MWh" in d.message


def test_unreachable_end_state() -> None:
    # Empty 100 MWh battery charging at ≤ 10 MW for 2 hours (η = 1) cannot end full.
    inputs = DispatchInputs(
        interval_h=1.0,
        load_mw=np.zeros(2),
        batteries=(BatteryUnit("bess", 10.0, 100.0, 1.0, 0.0, 1.0, 0.0, 1.0),),
        grid=GridConnection(import_price_cny_per_kwh=0.3),
    )
    d = diagnose(inputs)
    assert d.kind == "end-state"
    assert "cannot end at 100 MWh" in d.message
    assert "at most 20 MWh" in d.message
    r = dispatch(inputs)
    assert r.method == "rules"
    check_invariants(inputs, r)
    _no_simultaneous(r)


def test_unreachable_green_target() -> None:
    # No on-site generation at all: a 50 % green target cannot be met (best 0 %).
    inputs = DispatchInputs(
        interval_h=1.0,
        load_mw=np.full(3, 10.0),
        grid=GridConnection(import_price_cny_per_kwh=0.3),
        green_target_pu=0.5,
    )
    d = diagnose(inputs)
    assert d.kind == "green-target"
    assert "target 50 %" in d.message
    assert "at best 0 %" in d.message


def test_rules_serve_a_feasible_park_greedily() -> None:
    # PV 30, 0; load 10, 10; battery 10 MW / 10 MWh η = 1 empty; export cap 5 MW.
    # Step 1: surplus 20 → charge 10, export 5, curtail 5. Step 2: discharge 10, no import.
    inputs = DispatchInputs(
        interval_h=1.0,
        load_mw=np.full(2, 10.0),
        generators=(Generator("pv", "pv", np.array([30.0, 0.0])),),
        batteries=(BatteryUnit("bess", 10.0, 10.0, 1.0, 0.0, 1.0, 0.0, "free"),),
        grid=GridConnection(import_price_cny_per_kwh=0.3, export_limit_mw=5.0),
    )
    r = rule_dispatch(inputs)
    assert r.method == "rules"
    assert r.diagnosis is None
    assert_allclose(r.battery_charge_mw, [[10.0, 0.0]], atol=1e-9)
    assert_allclose(r.battery_discharge_mw, [[0.0, 10.0]], atol=1e-9)
    assert_allclose(r.grid_export_mw, [5.0, 0.0], atol=1e-9)
    assert_allclose(r.generator_curtailment_mw, [[5.0, 0.0]], atol=1e-9)
    assert_allclose(r.grid_import_mw, [0.0, 0.0], atol=1e-9)
    check_invariants(inputs, r)
    _no_simultaneous(r)
