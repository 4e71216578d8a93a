"""Flexibility envelopes: hand-checked cases and the replay through the dispatch LP."""

from __future__ import annotations

import numpy as np
import pytest

from suandian.core.errors import InfeasiblePlan, InputError
from suandian.dispatch import (
    BatteryUnit,
    DispatchInputs,
    DispatchResult,
    FlexGroup,
    FlexibleLoad,
    Generator,
    GridConnection,
    check_invariants,
    dispatch,
)
from suandian.dispatch.problem import make_result
from suandian.vpp.envelope import (
    envelope_profile,
    flexibility_envelope,
    replay_envelope,
)

TOL_MW = 1e-6
T = 8


def _battery_park(**battery: float) -> tuple[DispatchInputs, DispatchResult]:
    """10 MW / 20 MWh at 50 %, η = 1, cyclic; 5 MW load; flat plan (battery idle)."""
    unit = BatteryUnit(
        "bess",
        p_mw=10.0,
        e_mwh=20.0,
        round_trip_efficiency_pu=battery.get("eta", 1.0),
        soc_initial_pu=0.5,
    )
    inputs = DispatchInputs(
        interval_h=1.0,
        load_mw=np.full(T, 5.0),
        grid=GridConnection(import_price_cny_per_kwh=0.5),
        batteries=(unit,),
    )
    idle = np.zeros((1, T))
    plan = make_result(
        inputs,
        "cost",
        method="lp",
        generator_p_mw=np.zeros((0, T)),
        battery_charge_mw=idle,
        battery_discharge_mw=idle,
        battery_soe_mwh=np.full((1, T), 10.0),
        grid_import_mw=np.full(T, 5.0),
        grid_export_mw=np.zeros(T),
    )
    check_invariants(inputs, plan)
    return inputs, plan


@pytest.mark.parametrize("direction", ["reduce", "increase"])
def test_battery_at_the_start_is_limited_by_its_energy_not_its_power(direction: str) -> None:
    # 10 MWh stored (or 10 MWh of room) over a 2 h window from the first interval: 5 MW, not 10.
    inputs, plan = _battery_park()
    env = flexibility_envelope(inputs, plan, first_step=0, end_step=2, direction=direction)  # type: ignore[arg-type]
    assert env.resource_mw["bess"] == pytest.approx(5.0, abs=TOL_MW)
    assert env.portfolio_mw == pytest.approx(5.0, abs=TOL_MW)
    assert env.duration_h == 2.0
    # 4 h window: 10 MWh / 4 h.
    env4 = flexibility_envelope(inputs, plan, first_step=0, end_step=4, direction=direction)  # type: ignore[arg-type]
    assert env4.portfolio_mw == pytest.approx(2.5, abs=TOL_MW)
    check_invariants(inputs, env4.replay)
    sign = 1.0 if direction == "reduce" else -1.0
    shift = sign * (env4.replay.grid_import_mw[:4] - 5.0)
    assert (-shift >= 2.5 - TOL_MW).all()


@pytest.mark.parametrize("direction", ["reduce", "increase"])
def test_battery_later_in_the_day_prepares_and_reaches_its_power(direction: str) -> None:
    # Window [2, 4): 2 h before it to fill (empty) the battery at 5 MW, then 10 MW for 2 h
    # (20 MWh), then 4 h to come back to 10 MWh (cyclic). Power-limited: 10 MW.
    inputs, plan = _battery_park()
    env = flexibility_envelope(inputs, plan, first_step=2, end_step=4, direction=direction)  # type: ignore[arg-type]
    assert env.portfolio_mw == pytest.approx(10.0, abs=TOL_MW)
    soe = env.replay.battery_soe_mwh[0]
    full, empty = (20.0, 0.0) if direction == "reduce" else (0.0, 20.0)
    assert soe[1] == pytest.approx(full, abs=TOL_MW)
    assert soe[3] == pytest.approx(empty, abs=TOL_MW)
    assert soe[-1] == pytest.approx(10.0, abs=TOL_MW)
    check_invariants(inputs, env.replay)


def test_a_full_battery_cannot_raise_its_draw_by_destroying_energy() -> None:
    # Full at the start, η = 0.81: charging 10 MW while discharging 8.1 MW would keep it full
    # and draw (1 − η)·10 = 1.9 MW, which the LP alone would offer; no battery can do that.
    unit = BatteryUnit(
        "bess", p_mw=10.0, e_mwh=10.0, round_trip_efficiency_pu=0.81, soc_initial_pu=1.0
    )
    inputs = DispatchInputs(
        interval_h=1.0,
        load_mw=np.full(4, 5.0),
        grid=GridConnection(import_price_cny_per_kwh=0.5),
        batteries=(unit,),
    )
    plan = dispatch(inputs)
    env = flexibility_envelope(inputs, plan, first_step=0, end_step=2, direction="increase")
    assert env.resource_mw["bess"] == pytest.approx(0.0, abs=TOL_MW)
    assert env.portfolio_mw == pytest.approx(0.0, abs=TOL_MW)
    assert env.notes == ()
    # Window [1, 2): the plan idles; discharging 8.1 MW at t = 0 (10 MWh → 1 MWh at η_d = 0.9)
    # makes room for 10 MW at t = 1 (+9 MWh at η_c = 0.9, back to full, the cyclic end):
    # Δ = 10 MW, the power limit.
    later = flexibility_envelope(inputs, plan, first_step=1, end_step=2, direction="increase")
    assert later.portfolio_mw == pytest.approx(10.0, abs=TOL_MW)
    assert (later.delivered_mw >= later.portfolio_mw - TOL_MW).all()
    check_invariants(inputs, later.replay)


def test_profile_of_the_battery() -> None:
    # 2 h windows [t, t + 2): from t = 0 only the stored 10 MWh (5 MW); from t = 1 one hour of
    # charging first (20 MWh for 2 h: 10 MW, the power limit); a window ending at t = 7 leaves
    # one hour to charge 10 MWh back (20 − 2Δ + 10 ≥ 10: still 10 MW); one ending at t = 8
    # must leave 10 MWh (20 − 2Δ = 10: 5 MW).
    inputs, plan = _battery_park()
    profile = envelope_profile(inputs, plan, direction="reduce", duration_steps=2)
    expected = [5.0, 10.0, 10.0, 10.0, 10.0, 10.0, 5.0, np.nan]
    np.testing.assert_allclose(profile, expected, atol=TOL_MW)


def _flex_park(release: int, deadline: int) -> tuple[DispatchInputs, DispatchResult]:
    """A 4 MWh, 2 MW deferrable load in [release, deadline); hours 2 and 3 are cheapest."""
    price = np.full(T, 0.8)
    price[2:4] = 0.2
    inputs = DispatchInputs(
        interval_h=1.0,
        load_mw=np.full(T, 1.0),
        grid=GridConnection(import_price_cny_per_kwh=price),
        flexible_loads=(
            FlexibleLoad(
                "batch", release_step=release, deadline_step=deadline, energy_mwh=4.0, p_max_mw=2.0
            ),
        ),
    )
    plan = dispatch(inputs)
    np.testing.assert_allclose(plan.flex_p_mw[0, 2:4], 2.0, atol=TOL_MW)
    return inputs, plan


def test_deferrable_load_moves_its_planned_power_when_its_window_leaves_room() -> None:
    inputs, plan = _flex_park(0, T)
    env = flexibility_envelope(inputs, plan, first_step=2, end_step=4, direction="reduce")
    assert env.resource_mw["batch"] == pytest.approx(2.0, abs=TOL_MW)
    assert env.portfolio_mw == pytest.approx(2.0, abs=TOL_MW)
    # The 4 MWh moves to the cheapest other hours and is still served in full.
    assert env.replay.flex_p_mw[0].sum() == pytest.approx(4.0, abs=TOL_MW)
    np.testing.assert_allclose(env.replay.flex_p_mw[0, 2:4], 0.0, atol=TOL_MW)
    check_invariants(inputs, env.replay)
    # Raising it in [5, 7), where the plan leaves it idle: up to its power cap, the energy
    # taken from hours 2–3.
    up = flexibility_envelope(inputs, plan, first_step=5, end_step=7, direction="increase")
    assert up.portfolio_mw == pytest.approx(2.0, abs=TOL_MW)
    check_invariants(inputs, up.replay)


def test_deferrable_load_cannot_move_when_the_window_is_all_its_time() -> None:
    inputs, plan = _flex_park(2, 4)
    env = flexibility_envelope(inputs, plan, first_step=2, end_step=4, direction="reduce")
    assert env.portfolio_mw == pytest.approx(0.0, abs=TOL_MW)
    # Outside its own window it has nothing to give either.
    later = flexibility_envelope(inputs, plan, first_step=4, end_step=6, direction="reduce")
    assert later.portfolio_mw == pytest.approx(0.0, abs=TOL_MW)


def test_curtailment_never_fills_the_valley() -> None:
    # Solar covers the load with a surplus curtailed (no export): raising the draw from the
    # grid by curtailing more would be no flexibility; the park has none to offer.
    inputs = DispatchInputs(
        interval_h=1.0,
        load_mw=np.full(T, 2.0),
        grid=GridConnection(import_price_cny_per_kwh=0.5, export_limit_mw=0.0),
        generators=(Generator("pv", "pv", np.full(T, 6.0)),),
        flexible_loads=(FlexibleLoad("batch", 0, 2, energy_mwh=2.0, p_max_mw=1.0),),
    )
    plan = dispatch(inputs)
    env = flexibility_envelope(inputs, plan, first_step=4, end_step=6, direction="increase")
    assert env.portfolio_mw == pytest.approx(0.0, abs=TOL_MW)


def test_errors_name_the_problem() -> None:
    inputs, plan = _battery_park()
    with pytest.raises(InputError, match="window"):
        flexibility_envelope(inputs, plan, first_step=3, end_step=3, direction="reduce")
    with pytest.raises(InputError, match="direction"):
        flexibility_envelope(inputs, plan, first_step=0, end_step=2, direction="sideways")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="'nope'"):
        flexibility_envelope(
            inputs, plan, first_step=0, end_step=2, direction="reduce", resources=["nope"]
        )
    with pytest.raises(InfeasiblePlan):
        replay_envelope(
            inputs, plan, first_step=0, end_step=2, direction="reduce", delta_mw=5.0 + 1e-3
        )


def _random_park(rng: np.random.Generator) -> DispatchInputs:
    n_t = 12
    pv = np.clip(rng.normal(4.0, 3.0, n_t), 0.0, None) * (np.sin(np.linspace(0, np.pi, n_t)) > 0)
    flex = []
    for i in range(int(rng.integers(1, 4))):
        release = int(rng.integers(0, n_t - 3))
        deadline = int(rng.integers(release + 2, n_t + 1))
        p_max = float(rng.uniform(0.5, 3.0))
        energy = float(rng.uniform(0.2, 0.9)) * p_max * (deadline - release) * 0.5
        flex.append(
            FlexibleLoad(
                f"f{i}", release, deadline, energy_mwh=energy, p_max_mw=p_max, group="hall"
            )
        )
    return DispatchInputs(
        interval_h=0.5,
        load_mw=rng.uniform(1.0, 6.0, n_t),
        grid=GridConnection(
            import_price_cny_per_kwh=rng.uniform(0.2, 1.0, n_t),
            export_price_cny_per_kwh=0.1,
            import_limit_mw=float(rng.uniform(9.0, 14.0)),
            export_limit_mw=float(rng.uniform(0.0, 3.0)),
        ),
        generators=(Generator("pv", "pv", pv),),
        batteries=tuple(
            BatteryUnit(
                f"b{i}",
                p_mw=float(rng.uniform(1.0, 4.0)),
                e_mwh=float(rng.uniform(2.0, 8.0)),
                round_trip_efficiency_pu=float(rng.uniform(0.8, 1.0)),
                soc_initial_pu=float(rng.uniform(0.1, 0.9)),
                soc_min_pu=0.05,
                soc_max_pu=0.95,
            )
            for i in range(int(rng.integers(0, 3)))
        ),
        flexible_loads=tuple(flex),
        flex_groups=(FlexGroup("hall", np.full(n_t, float(rng.uniform(2.0, 5.0)))),),
    )


@pytest.mark.parametrize("seed", range(12))
def test_replay_delivers_the_envelope_and_no_more_is_possible(seed: int) -> None:
    rng = np.random.default_rng(seed)
    inputs = _random_park(rng)
    plan = dispatch(inputs)
    assert plan.method == "lp"
    first = int(rng.integers(0, inputs.n_steps - 2))
    end = int(rng.integers(first + 1, min(first + 5, inputs.n_steps) + 1))
    for direction in ("reduce", "increase"):
        env = flexibility_envelope(
            inputs, plan, first_step=first, end_step=end, direction=direction
        )
        check_invariants(inputs, env.replay)
        assert (env.delivered_mw >= env.portfolio_mw - TOL_MW).all()
        # Independently of the envelope's own bookkeeping: the meter sees the shift.
        sign = 1.0 if direction == "reduce" else -1.0
        before = (plan.grid_import_mw - plan.grid_export_mw)[first:end]
        after = (env.replay.grid_import_mw - env.replay.grid_export_mw)[first:end]
        assert (sign * (before - after) >= env.portfolio_mw - TOL_MW).all()
        # No more curtailment than planned inside the window.
        used_more = env.replay.generator_p_mw[:, first:end] - plan.generator_p_mw[:, first:end]
        assert (used_more >= -TOL_MW).all()
        # Each resource alone offers no more than all of them together can.
        for name, delta in env.resource_mw.items():
            assert 0.0 <= delta <= env.portfolio_mw + TOL_MW, name
        if not env.notes:
            with pytest.raises(InfeasiblePlan):
                replay_envelope(
                    inputs,
                    plan,
                    first_step=first,
                    end_step=end,
                    direction=direction,
                    delta_mw=env.portfolio_mw + 1e-3,
                )


def test_extra_blocks_of_the_dispatch_lp_survive_an_update() -> None:
    # The hook the envelopes use: blocks defined after the recipe are kept by update_problem.
    from suandian.dispatch import build_problem, solve, update_problem
    from suandian.dispatch.constraints import LinearProblem

    def define_extra_column(lp: LinearProblem, inputs: DispatchInputs) -> None:
        slack = lp.add_variables("extra-slack", np.zeros(1), np.inf)
        lp.add_cost(slack, 0.0)

    inputs, _ = _battery_park()
    problem = build_problem(inputs, extra=(define_extra_column,))
    assert problem.lp.variables["extra-slack"].shape == (1,)
    cheaper = DispatchInputs(
        interval_h=1.0,
        load_mw=np.full(T, 4.0),
        grid=GridConnection(import_price_cny_per_kwh=0.4),
        batteries=inputs.batteries,
    )
    update_problem(problem, cheaper)
    result = solve(problem)
    check_invariants(cheaper, result)
    assert result.grid_import_mw.sum() == pytest.approx(4.0 * T, abs=TOL_MW)
