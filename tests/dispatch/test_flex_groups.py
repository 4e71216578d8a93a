"""Flexible loads that share equipment: one cap per interval on the sum of a group's members."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose

from suandian.core.errors import InputError
from suandian.dispatch import (
    DispatchInputs,
    FlexGroup,
    FlexibleLoad,
    Generator,
    GridConnection,
    build_problem,
    check_invariants,
    diagnose,
    dispatch,
    rolling_dispatch,
    rule_dispatch,
    solve,
    update_problem,
)

CAP_MW = np.array([4.0, 3.0, 2.0, 4.0])


def _hall(cap_mw: np.ndarray = CAP_MW, *, group: str | None = "hall") -> DispatchInputs:
    """Four hours, PV of 5 MW in hours 1 and 2 only, import at 0.1 CNY/kWh, no fixed load.

    A: 4 MWh anywhere in hours 0–3, at most 4 MW; B: 4 MWh in hours 1–2, at most 4 MW. Both
    stand in the hall, which carries ``cap_mw`` of them together.
    """
    return DispatchInputs(
        interval_h=1.0,
        load_mw=np.zeros(4),
        grid=GridConnection(import_price_cny_per_kwh=0.1),
        generators=(Generator("pv", "pv", np.array([0.0, 5.0, 5.0, 0.0])),),
        flexible_loads=(
            FlexibleLoad("a", 0, 4, energy_mwh=4.0, p_max_mw=4.0, group=group),
            FlexibleLoad("b", 1, 3, energy_mwh=4.0, p_max_mw=4.0, group=group),
        ),
        flex_groups=(FlexGroup("hall", cap_mw),),
    )


def _group_sum(result_flex: np.ndarray) -> np.ndarray:
    return np.asarray(result_flex.sum(axis=0), dtype=np.float64)


def test_a_shared_cap_worked_by_hand() -> None:
    # Without the group both loads run on the free PV of hours 1 and 2 (8 of its 10 MWh):
    # cost 0. With the hall's cap [4, 3, 2, 4] MW, hours 1 and 2 carry 3 + 2 = 5 MWh of the
    # two together. B must get its 4 MWh there, so A gets the 1 MWh left and imports its other
    # 3 MWh in hours 0 and 3 (caps 4 and 4 allow it): 3 MWh × 100 CNY/MWh = 300 CNY, and the
    # PV curtails 10 − 5 = 5 MWh.
    free = dispatch(_hall(group=None))
    assert free.method == "lp"
    assert free.cost_cny == pytest.approx(0.0, abs=1e-6)

    inputs = _hall()
    result = dispatch(inputs)
    assert result.method == "lp", result.diagnosis
    check_invariants(inputs, result)
    assert result.cost_cny == pytest.approx(300.0, abs=1e-6)
    assert result.import_mwh == pytest.approx(3.0, abs=1e-9)
    assert result.curtailment_mwh == pytest.approx(5.0, abs=1e-6)
    assert_allclose(_group_sum(result.flex_p_mw)[1:3], [3.0, 2.0], atol=1e-9)
    assert result.flex_p_mw[1].sum() == pytest.approx(4.0, abs=1e-9)
    assert result.flex_p_mw[0, 1:3].sum() == pytest.approx(1.0, abs=1e-9)
    assert (_group_sum(result.flex_p_mw) <= CAP_MW + 1e-9).all()


def test_update_problem_moves_the_group_cap() -> None:
    # Raising hour 2's cap to 3 MW lets A take 2 MWh of PV: 2 MWh imported, 200 CNY.
    problem = build_problem(_hall())
    assert solve(problem).cost_cny == pytest.approx(300.0, abs=1e-6)
    wider = _hall(np.array([4.0, 3.0, 3.0, 4.0]))
    update_problem(problem, wider)
    result = solve(problem)
    check_invariants(wider, result)
    assert result.cost_cny == pytest.approx(200.0, abs=1e-6)
    assert result.cost_cny == pytest.approx(dispatch(wider).cost_cny, abs=1e-9)


def test_the_rules_share_the_cap_by_hand() -> None:
    # A first: its room is min(cap, 4) = [4, 3, 2, 4]; 4 MWh evenly is 1 MW each hour. B then
    # finds [3 − 1, 2 − 1] = [2, 1] MW left in hours 1 and 2: 3 of its 4 MWh, 1 MWh unserved.
    inputs = _hall()
    result = rule_dispatch(inputs)
    assert_allclose(result.flex_p_mw, [[1, 1, 1, 1], [0, 2, 1, 0]], atol=1e-12)
    assert_allclose(result.flex_unserved_mwh, [0.0, 1.0], atol=1e-12)
    check_invariants(inputs, result)


def test_the_rules_fill_around_a_low_cap_evenly() -> None:
    # One load of 6 MWh over four hours under caps [4, 1, 4, 4]: level 5/3 MW, hour 1 at 1 MW.
    inputs = DispatchInputs(
        interval_h=1.0,
        load_mw=np.zeros(4),
        grid=GridConnection(import_price_cny_per_kwh=0.1),
        flexible_loads=(FlexibleLoad("a", 0, 4, 6.0, 10.0, group="g"),),
        flex_groups=(FlexGroup("g", np.array([4.0, 1.0, 4.0, 4.0])),),
    )
    result = rule_dispatch(inputs)
    assert_allclose(result.flex_p_mw[0], [5 / 3, 1.0, 5 / 3, 5 / 3], rtol=1e-12)
    check_invariants(inputs, result)


@pytest.mark.parametrize(("window", "commit"), [(4, 4), (3, 2), (2, 1)])
def test_rolling_windows_keep_the_group_cap(window: int, commit: int) -> None:
    inputs = _hall()
    result = rolling_dispatch(inputs, window_steps=window, commit_steps=commit)
    check_invariants(inputs, result)
    assert (_group_sum(result.flex_p_mw) <= CAP_MW + 1e-9).all()
    if window == 4:
        assert result.cost_cny == pytest.approx(300.0, abs=1e-6)


def test_rolling_with_several_groups_and_free_loads() -> None:
    # Two days of 24 steps: a hall of daily classes with overlapping 36 h windows, a station of
    # 2 h blocks with 6 h windows, one free load; a PV hump at midday.
    n_t = 48
    hours = np.arange(n_t) % 24
    pv = np.clip(20.0 * np.sin(np.pi * (hours - 6) / 12), 0.0, None)
    hall_cap = np.full(n_t, 6.0) - 2.0 * (hours >= 18)
    station_cap = np.full(n_t, 2.0)
    loads = [
        FlexibleLoad("hall@0", 0, 36, 60.0, 6.0, group="hall"),
        FlexibleLoad("hall@1", 24, 48, 60.0, 6.0, group="hall"),
        *(
            FlexibleLoad(f"ev@{s}", s + 2, min(s + 8, n_t), 3.0, 2.0, group="ev")
            for s in range(0, 40, 2)
        ),
        FlexibleLoad("free", 0, 48, 10.0, 1.0),
    ]
    inputs = DispatchInputs(
        interval_h=1.0,
        load_mw=np.full(n_t, 3.0),
        grid=GridConnection(import_price_cny_per_kwh=0.3, import_limit_mw=30.0),
        generators=(Generator("pv", "pv", pv),),
        flexible_loads=tuple(loads),
        flex_groups=(FlexGroup("hall", hall_cap), FlexGroup("ev", station_cap)),
    )
    whole = dispatch(inputs)
    assert whole.method == "lp", whole.diagnosis
    check_invariants(inputs, whole)
    rolled = rolling_dispatch(inputs, window_steps=12, commit_steps=6)
    assert rolled.diagnosis is None, rolled.diagnosis
    check_invariants(inputs, rolled)
    for result in (whole, rolled):
        hall = result.flex_p_mw[:2].sum(axis=0)
        ev = result.flex_p_mw[2:-1].sum(axis=0)
        assert (hall <= hall_cap + 1e-6).all()
        assert (ev <= station_cap + 1e-6).all()
        for i, f in enumerate(inputs.flexible_loads):
            outside = np.ones(n_t, dtype=bool)
            outside[f.release_step : f.deadline_step] = False
            assert np.abs(result.flex_p_mw[i, outside]).max(initial=0.0) <= 1e-9


def test_a_group_cap_too_low_for_one_load_is_diagnosed_before_solving() -> None:
    # B needs 4 MWh in hours 1–2, but the hall carries 1 + 1 MW there.
    inputs = _hall(np.array([4.0, 1.0, 1.0, 4.0]))
    d = diagnose(inputs)
    assert d.kind == "flexible"
    assert "'b' needs 4 MWh" in d.message
    assert "group 'hall'" in d.message
    assert "at most 2 MWh fit" in d.message
    result = dispatch(inputs)
    assert result.method == "rules"
    assert result.diagnosis is not None and "group 'hall'" in result.diagnosis
    check_invariants(inputs, result)


def test_a_group_cap_too_low_for_two_loads_together_is_diagnosed() -> None:
    # Each load fits alone (3 MWh in 2 h under 2.5 MW), both together need 6 MWh of the 5.
    inputs = DispatchInputs(
        interval_h=1.0,
        load_mw=np.zeros(4),
        grid=GridConnection(import_price_cny_per_kwh=0.1),
        flexible_loads=(
            FlexibleLoad("a", 1, 3, 3.0, 4.0, group="hall"),
            FlexibleLoad("b", 1, 3, 3.0, 4.0, group="hall"),
        ),
        flex_groups=(FlexGroup("hall", np.full(4, 2.5)),),
    )
    d = diagnose(inputs)
    assert d.kind == "flexible"
    assert "can receive only 2 of its 3 MWh" in d.message
    assert "group 'hall' caps its members at 2.5–2.5 MW together" in d.message
    result = dispatch(inputs)
    assert result.method == "rules"
    check_invariants(inputs, result)
    assert result.flex_unserved_mwh.sum() == pytest.approx(1.0, abs=1e-9)


def test_bad_groups_say_what_to_do() -> None:
    with pytest.raises(InputError, match=r"flexible_loads\[0\]\.group: 'halls' is not a group"):
        DispatchInputs(
            interval_h=1.0,
            load_mw=np.zeros(4),
            grid=GridConnection(import_price_cny_per_kwh=0.1),
            flexible_loads=(FlexibleLoad("a", 0, 4, 1.0, 1.0, group="halls"),),
            flex_groups=(FlexGroup("hall", CAP_MW),),
        )
    with pytest.raises(InputError, match=r"flex_groups\[0\]\.cap_mw.*expected 4 values"):
        _hall(np.ones(3))
    with pytest.raises(InputError, match=r"flex_groups\[0\]\.cap_mw.*must be ≥ 0"):
        _hall(np.array([1.0, -1.0, 1.0, 1.0]))
    with pytest.raises(InputError, match="flex_groups: name 'hall' is used twice"):
        DispatchInputs(
            interval_h=1.0,
            load_mw=np.zeros(4),
            grid=GridConnection(import_price_cny_per_kwh=0.1),
            flex_groups=(FlexGroup("hall", CAP_MW), FlexGroup("hall", CAP_MW)),
        )
