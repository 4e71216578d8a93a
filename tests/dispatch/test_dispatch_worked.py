"""The dispatch LP on toy parks small enough to solve on paper; the working is in the comments.

Every plan is also checked against the rebuilt physics (``check_invariants``) and for charge
and discharge of one battery in the same interval (never more than 1e-9 MW) — except the last
case, where stored energy must be destroyed and the result says so.
"""

import numpy as np
import pytest
from numpy.testing import assert_allclose

from suandian.dispatch import (
    BatteryUnit,
    DispatchInputs,
    DispatchResult,
    FlexibleLoad,
    Generator,
    GridConnection,
    check_invariants,
    dispatch,
)


def _checked(inputs: DispatchInputs, result: DispatchResult) -> DispatchResult:
    check_invariants(inputs, result)
    assert result.method == "lp"
    assert result.status == "Optimal"
    both = np.minimum(result.battery_charge_mw, result.battery_discharge_mw)
    assert both.max(initial=0.0) <= 1e-9
    assert np.minimum(result.grid_import_mw, result.grid_export_mw).max() <= 1e-9
    return result


def _battery(**kw: object) -> BatteryUnit:
    spec: dict = dict(
        name="bess",
        p_mw=10.0,
        e_mwh=10.0,
        round_trip_efficiency_pu=1.0,
        soc_min_pu=0.0,
        soc_max_pu=1.0,
        soc_initial_pu=0.0,
        end_soc="free",
    )
    spec.update(kw)
    return BatteryUnit(**spec)


# --- (1) the battery shifts cheap energy ---------------------------------------------------------
#
# Δt = 1 h, load 10 MW in both steps, import price 0.2 then 1.0 CNY/kWh, battery 10 MW / 10 MWh,
# η = 1, empty at the start, free end.
# Without the battery: 0.2 × 10 MWh × 1000 + 1.0 × 10 MWh × 1000 = 12,000 CNY.
# Optimum: import 20 MW in step 1 (10 for the load, 10 into the battery), discharge 10 MW in
# step 2 and import nothing: cost = 0.2 × 20 × 1000 = 4,000 CNY.
# With η_rt = 0.81 (η_c = η_d = 0.9): charging 10 MW stores 9 MWh, which gives 8.1 MW back;
# step 2 imports 1.9 MW: cost = 4,000 + 1.0 × 1.9 × 1000 = 5,900 CNY (1 MWh charged at 200 CNY
# returns 0.81 MWh worth 810 CNY, so charging at full power pays).


def test_battery_shifts_cheap_energy() -> None:
    inputs = DispatchInputs(
        interval_h=1.0,
        load_mw=np.array([10.0, 10.0]),
        grid=GridConnection(import_price_cny_per_kwh=np.array([0.2, 1.0])),
        batteries=(_battery(),),
    )
    r = _checked(inputs, dispatch(inputs, "cost"))
    assert_allclose(r.battery_charge_mw, [[10.0, 0.0]], atol=1e-6)
    assert_allclose(r.battery_discharge_mw, [[0.0, 10.0]], atol=1e-6)
    assert_allclose(r.battery_soe_mwh, [[10.0, 0.0]], atol=1e-6)
    assert_allclose(r.grid_import_mw, [20.0, 0.0], atol=1e-6)
    assert r.cost_cny == pytest.approx(4000.0, abs=1e-3)
    assert r.objective_value == pytest.approx(4000.0, abs=1e-3)
    assert r.equivalent_full_cycles[0] == pytest.approx(1.0, abs=1e-9)


def test_battery_losses_follow_the_efficiency_split() -> None:
    inputs = DispatchInputs(
        interval_h=1.0,
        load_mw=np.array([10.0, 10.0]),
        grid=GridConnection(import_price_cny_per_kwh=np.array([0.2, 1.0])),
        batteries=(_battery(round_trip_efficiency_pu=0.81),),
    )
    r = _checked(inputs, dispatch(inputs, "cost"))
    assert_allclose(r.battery_charge_mw, [[10.0, 0.0]], atol=1e-6)
    assert_allclose(r.battery_soe_mwh, [[9.0, 0.0]], atol=1e-6)
    assert_allclose(r.battery_discharge_mw, [[0.0, 8.1]], atol=1e-6)
    assert r.cost_cny == pytest.approx(5900.0, abs=1e-3)


# --- (2) PV surplus, export cap, curtailment ------------------------------------------------------
#
# PV available 30, 50, 10 MW; load 20 MW; import 0.5, export 0.3 CNY/kWh; export ≤ 20 % of the
# available output and ≤ 8 MW → caps 6, 8, 2 MW.
# Step 1: surplus 10 → export 6, curtail 4. Step 2: surplus 30 → export 8, curtail 22.
# Step 3: deficit 10 → import 10.
# Cost = 0.5 × 10 × 1000 − 0.3 × (6 + 8) × 1000 = 5,000 − 4,200 = 800 CNY; curtailed 26 MWh.
# With a 5 MW / 5 MWh battery (η = 1, empty, free end) the battery fills from energy that would
# be curtailed anyway (steps 1–2) and covers 5 MW of step 3: import 5, exports unchanged.
# Cost = 0.5 × 5 × 1000 − 4,200 = −1,700 CNY; curtailed 26 − 5 = 21 MWh.

PV = np.array([30.0, 50.0, 10.0])


def _surplus_inputs(batteries: tuple[BatteryUnit, ...] = ()) -> DispatchInputs:
    return DispatchInputs(
        interval_h=1.0,
        load_mw=np.full(3, 20.0),
        generators=(Generator("pv", "pv", PV),),
        grid=GridConnection(
            import_price_cny_per_kwh=0.5,
            export_price_cny_per_kwh=0.3,
            export_limit_mw=8.0,
            export_limit_share_pu=0.2,
        ),
        batteries=batteries,
    )


def test_export_cap_forces_curtailment() -> None:
    inputs = _surplus_inputs()
    r = _checked(inputs, dispatch(inputs, "cost"))
    assert_allclose(r.grid_export_mw, [6.0, 8.0, 0.0], atol=1e-6)
    assert_allclose(r.generator_curtailment_mw, [[4.0, 22.0, 0.0]], atol=1e-6)
    assert_allclose(r.grid_import_mw, [0.0, 0.0, 10.0], atol=1e-6)
    assert r.cost_cny == pytest.approx(800.0, abs=1e-3)
    assert r.curtailment_mwh == pytest.approx(26.0, abs=1e-6)


def test_battery_stores_what_would_be_curtailed() -> None:
    inputs = _surplus_inputs((_battery(p_mw=5.0, e_mwh=5.0),))
    r = _checked(inputs, dispatch(inputs, "cost"))
    assert_allclose(r.grid_export_mw, [6.0, 8.0, 0.0], atol=1e-6)
    assert_allclose(r.battery_discharge_mw, [[0.0, 0.0, 5.0]], atol=1e-6)
    assert r.cost_cny == pytest.approx(-1700.0, abs=1e-3)
    assert r.curtailment_mwh == pytest.approx(21.0, abs=1e-6)


# --- (3) a flexible job moves to the cheapest steps before its deadline --------------------------
#
# Prices 0.5, 0.2, 0.3, 0.05 CNY/kWh; fixed load 10 MW; a 20 MWh job released at step 0 with
# deadline step 3 (exclusive) and a 15 MW cap. Step 3 is cheapest but past the deadline, so
# the job runs 15 MW in step 1 (0.2) and the last 5 MW in step 2 (0.3).
# Cost = (0.5 + 0.2 + 0.3 + 0.05) × 10 × 1000 + (0.2 × 15 + 0.3 × 5) × 1000 = 10,500 + 4,500.


def test_flexible_job_runs_in_cheapest_window_steps() -> None:
    inputs = DispatchInputs(
        interval_h=1.0,
        load_mw=np.full(4, 10.0),
        grid=GridConnection(import_price_cny_per_kwh=np.array([0.5, 0.2, 0.3, 0.05])),
        flexible_loads=(FlexibleLoad("train", 0, 3, energy_mwh=20.0, p_max_mw=15.0),),
    )
    r = _checked(inputs, dispatch(inputs, "cost"))
    assert_allclose(r.flex_p_mw, [[0.0, 15.0, 5.0, 0.0]], atol=1e-6)
    assert r.cost_cny == pytest.approx(15000.0, abs=1e-3)


def test_flexible_job_respects_release_step() -> None:
    # Released at step 2: only steps 2 (0.3) and 3 (0.05) are open; 15 MW at 0.05, 5 at 0.3.
    inputs = DispatchInputs(
        interval_h=1.0,
        load_mw=np.zeros(4),
        grid=GridConnection(import_price_cny_per_kwh=np.array([0.01, 0.01, 0.3, 0.05])),
        flexible_loads=(FlexibleLoad("late", 2, 4, energy_mwh=20.0, p_max_mw=15.0),),
    )
    r = _checked(inputs, dispatch(inputs, "cost"))
    assert_allclose(r.flex_p_mw, [[0.0, 0.0, 5.0, 15.0]], atol=1e-6)


# --- (4) cost and carbon disagree when the cheap step is dirty -----------------------------------
#
# A 10 MWh job, window both steps, 10 MW cap, no other load. Step 1: 0.2 CNY/kWh at
# 0.9 kgCO₂/kWh; step 2: 0.6 CNY/kWh at 0.1 kgCO₂/kWh.
# cost   → step 1: 2,000 CNY, 9,000 kgCO₂.    carbon → step 2: 6,000 CNY, 1,000 kgCO₂.
# cost+carbon per MWh: step 1 200 + 0.9·P, step 2 600 + 0.1·P; equal at P = 500 CNY/t.
#   P = 100  → step 1: 2,000 + 100 × 9 t = 2,900 CNY.
#   P = 1000 → step 2: 6,000 + 1000 × 1 t = 7,000 CNY.
# green: both steps import 10 MWh; the cost tie-break picks step 1.


def _dirty_cheap(carbon_price: float = 0.0) -> DispatchInputs:
    return DispatchInputs(
        interval_h=1.0,
        load_mw=np.zeros(2),
        grid=GridConnection(
            import_price_cny_per_kwh=np.array([0.2, 0.6]),
            ef_kgco2_per_kwh=np.array([0.9, 0.1]),
        ),
        flexible_loads=(FlexibleLoad("job", 0, 2, energy_mwh=10.0, p_max_mw=10.0),),
        carbon_price_cny_per_tco2=carbon_price,
    )


def test_cost_and_carbon_pick_different_steps() -> None:
    inputs = _dirty_cheap()
    cost = _checked(inputs, dispatch(inputs, "cost"))
    carbon = _checked(inputs, dispatch(inputs, "carbon"))
    assert_allclose(cost.flex_p_mw, [[10.0, 0.0]], atol=1e-6)
    assert_allclose(carbon.flex_p_mw, [[0.0, 10.0]], atol=1e-6)
    assert cost.cost_cny == pytest.approx(2000.0, abs=1e-3)
    assert cost.emissions_kgco2 == pytest.approx(9000.0, abs=1e-3)
    assert carbon.cost_cny == pytest.approx(6000.0, abs=1e-3)
    assert carbon.emissions_kgco2 == pytest.approx(1000.0, abs=1e-3)
    assert carbon.objective_value == pytest.approx(1000.0, abs=1e-3)


@pytest.mark.parametrize(
    ("carbon_price", "step", "value"), [(100.0, 0, 2900.0), (1000.0, 1, 7000.0)]
)
def test_cost_plus_carbon_switches_at_the_break_even_price(
    carbon_price: float, step: int, value: float
) -> None:
    inputs = _dirty_cheap(carbon_price)
    r = _checked(inputs, dispatch(inputs, "cost+carbon"))
    expected = np.zeros((1, 2))
    expected[0, step] = 10.0
    assert_allclose(r.flex_p_mw, expected, atol=1e-6)
    assert r.objective_value == pytest.approx(value, abs=1e-3)


def test_green_objective_breaks_ties_by_cost() -> None:
    inputs = _dirty_cheap()
    r = _checked(inputs, dispatch(inputs, "green"))
    assert_allclose(r.flex_p_mw, [[10.0, 0.0]], atol=1e-6)
    assert r.objective_value == pytest.approx(10.0, abs=1e-6)  # MWh imported


# --- green-match target ------------------------------------------------------------------------
#
# PV 20 MW then 0; load 10 MW in both steps; import 0.3, export 0.25 CNY/kWh; battery
# 10 MW / 10 MWh, η_rt = 0.81, empty, free end.
# Cost alone: storing 1 MWh of surplus saves 0.81 × 0.3 = 0.243 < 0.25 earned by exporting it,
# so the surplus is exported and step 2 imports 10: green share 1 − 10/20 = 0.5.
# Target 0.85 over the horizon: import ≤ 0.15 × 20 = 3 MWh, so the battery must deliver 7 MW
# in step 2: charge 7 / 0.81 = 8.642 MW in step 1, export the other 1.358 MW.


def test_green_target_forces_storage() -> None:
    base = dict(
        interval_h=1.0,
        load_mw=np.full(2, 10.0),
        generators=(Generator("pv", "pv", np.array([20.0, 0.0])),),
        grid=GridConnection(import_price_cny_per_kwh=0.3, export_price_cny_per_kwh=0.25),
        batteries=(_battery(round_trip_efficiency_pu=0.81),),
    )
    free_inputs = DispatchInputs(**base)
    free = _checked(free_inputs, dispatch(free_inputs, "cost"))
    assert free.green_share_pu == pytest.approx(0.5, abs=1e-6)
    assert_allclose(free.grid_export_mw, [10.0, 0.0], atol=1e-6)

    inputs = DispatchInputs(**base, green_target_pu=0.85)
    r = _checked(inputs, dispatch(inputs, "cost"))
    assert r.green_share_pu == pytest.approx(0.85, abs=1e-6)
    assert_allclose(r.battery_charge_mw, [[7.0 / 0.81, 0.0]], atol=1e-6)
    assert_allclose(r.battery_discharge_mw, [[0.0, 7.0]], atol=1e-6)
    assert_allclose(r.grid_import_mw, [0.0, 3.0], atol=1e-6)
    assert_allclose(r.grid_export_mw, [10.0 - 7.0 / 0.81, 0.0], atol=1e-6)


# --- (8) end conditions ---------------------------------------------------------------------------
#
# Load 10 MW; prices 1.0 then 0.2; battery 10 MW / 20 MWh, η = 1, half full (10 MWh).
# free:   discharge 10 in step 1, nothing in step 2 → 0.2 × 10 × 1000 = 2,000 CNY, ends empty.
# cyclic: same, then recharge 10 in step 2 → 0.2 × 20 × 1000 = 4,000 CNY, ends at 10 MWh.
# 0.75:   must end at 15 MWh, but step 2 can add only 10 → step 1 discharges only 5:
#         1.0 × 5 × 1000 + 0.2 × 20 × 1000 = 9,000 CNY.


@pytest.mark.parametrize(
    ("end_soc", "cost", "end_mwh"),
    [("free", 2000.0, 0.0), ("cyclic", 4000.0, 10.0), (0.75, 9000.0, 15.0)],
)
def test_end_condition_holds(end_soc: object, cost: float, end_mwh: float) -> None:
    inputs = DispatchInputs(
        interval_h=1.0,
        load_mw=np.full(2, 10.0),
        grid=GridConnection(import_price_cny_per_kwh=np.array([1.0, 0.2])),
        batteries=(_battery(e_mwh=20.0, soc_initial_pu=0.5, end_soc=end_soc),),
    )
    r = _checked(inputs, dispatch(inputs, "cost"))
    assert r.cost_cny == pytest.approx(cost, abs=1e-3)
    assert r.battery_soe_mwh[0, -1] == pytest.approx(end_mwh, abs=1e-6)


def test_quarter_hour_intervals_scale_energy() -> None:
    # Case (1) at Δt = 0.25 h: every MWh figure is a quarter → cost 1,000 CNY. The battery's
    # 10 MWh is no longer binding; 10 MW for 15 min stores 2.5 MWh.
    inputs = DispatchInputs(
        interval_h=0.25,
        load_mw=np.array([10.0, 10.0]),
        grid=GridConnection(import_price_cny_per_kwh=np.array([0.2, 1.0])),
        batteries=(_battery(),),
    )
    r = _checked(inputs, dispatch(inputs, "cost"))
    assert r.cost_cny == pytest.approx(1000.0, abs=1e-3)
    assert_allclose(r.battery_soe_mwh, [[2.5, 0.0]], atol=1e-6)


def test_no_import_in_order_to_export() -> None:
    # Xining's valley: export pays 0.3247 CNY/kWh, import costs 0.19. PV 12 MW, load 10 MW,
    # export ≤ 20 % of 12 = 2.4 MW. An LP with both prices would import 0.4 MW just to export
    # 2.4; one meter cannot import and export at once, so the plan exports the 2 MW surplus.
    # Cost = −0.3247 × 2 × 1000 = −649.4 CNY (reported at the real export price).
    inputs = DispatchInputs(
        interval_h=1.0,
        load_mw=np.array([10.0]),
        generators=(Generator("pv", "pv", np.array([12.0])),),
        grid=GridConnection(
            import_price_cny_per_kwh=0.19,
            export_price_cny_per_kwh=0.3247,
            import_limit_mw=60.0,
            export_limit_share_pu=0.2,
        ),
    )
    r = _checked(inputs, dispatch(inputs, "cost"))
    assert_allclose(r.grid_import_mw, [0.0], atol=1e-9)
    assert_allclose(r.grid_export_mw, [2.0], atol=1e-6)
    assert r.cost_cny == pytest.approx(-649.4, abs=1e-3)


def test_forced_dump_is_the_only_simultaneous_case_and_is_reported() -> None:
    # A full 10 MWh battery (η_rt = 0.81) must end empty within one hour, with no load and no
    # export: the only way is to charge and discharge at once, c = d, which destroys
    # d·(1/η_d − η_c) = d·(1/0.9 − 0.9) MWh per hour → d = 10 / 0.2111 = 47.37 MW. The LP
    # does exactly that, the netting cannot remove it (the spare energy has nowhere to go)
    # and the result says so.
    inputs = DispatchInputs(
        interval_h=1.0,
        load_mw=np.zeros(1),
        grid=GridConnection(import_price_cny_per_kwh=0.3, export_limit_mw=0.0),
        batteries=(
            _battery(p_mw=50.0, round_trip_efficiency_pu=0.81, soc_initial_pu=1.0, end_soc=0.0),
        ),
    )
    r = dispatch(inputs, "cost")
    check_invariants(inputs, r)
    assert_allclose(r.battery_charge_mw, [[10.0 / (1 / 0.9 - 0.9)]], rtol=1e-9)
    assert_allclose(r.battery_discharge_mw, r.battery_charge_mw, rtol=1e-9)
    assert "destroyed to reach a fixed end state" in r.notes[0]
