"""Flexible plans held over their windows agree with the dense (F, T) layout they replace."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal

from suandian.core.errors import InputError
from suandian.dispatch import (
    DispatchInputs,
    FlexGroup,
    FlexibleLoad,
    FlexPlan,
    Generator,
    GridConnection,
    check_invariants,
    rolling_dispatch,
    rule_dispatch,
    schedule_frame,
)
from suandian.dispatch.problem import make_result
from suandian.sim.dispatch_inputs import flexible_by_asset


def _random_dense(seed: int, n_f: int, n_t: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A dense plan with random windows (some one interval long) and values only inside them."""
    rng = np.random.default_rng(seed)
    release = rng.integers(0, n_t, size=n_f)
    deadline = np.minimum(release + rng.integers(1, n_t + 1, size=n_f), n_t)
    dense = np.zeros((n_f, n_t))
    for i in range(n_f):
        dense[i, release[i] : deadline[i]] = rng.uniform(0.0, 5.0, size=deadline[i] - release[i])
    return dense, release, deadline


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n_f=st.integers(0, 12),
    n_t=st.integers(1, 40),
    n_labels=st.integers(1, 4),
)
def test_methods_match_the_dense_plan(seed: int, n_f: int, n_t: int, n_labels: int) -> None:
    dense, release, deadline = _random_dense(seed, n_f, n_t)
    plan = FlexPlan.from_dense(dense, release, deadline)
    assert_array_equal(plan.starts, release)
    assert_array_equal(plan.stops, deadline)
    assert_array_equal(plan.dense(n_t), dense)
    # Sums over rows add them in row order; numpy's axis-0 sum does too for wide arrays but sums
    # pairwise when a column is contiguous (one interval), so the two agree to rounding only.
    assert_allclose(plan.total_mw(n_t), dense.sum(axis=0), rtol=1e-12, atol=1e-12)
    assert_allclose(plan.energy_mwh(0.25), dense.sum(axis=1) * 0.25, rtol=1e-12, atol=1e-12)
    assert plan.max_abs() == pytest.approx(float(np.abs(dense).max(initial=0.0)), abs=0.0)
    labels = np.random.default_rng(seed).integers(-1, n_labels, size=n_f)
    by_label = plan.sum_by(labels, n_labels, n_t)
    for j in range(n_labels):
        assert_allclose(by_label[j], dense[labels == j].sum(axis=0), rtol=1e-12, atol=1e-12)
    mask = labels >= 0
    want = dense[mask].sum(axis=0)
    assert_allclose(plan.sum_rows(mask, n_t), want, rtol=1e-12, atol=1e-12)
    assert_allclose(plan.sum_rows(np.flatnonzero(mask), n_t), want, rtol=1e-12, atol=1e-12)
    for i in range(n_f):
        assert_array_equal(plan.by_row(i, n_t), dense[i])
    pieces = [dense[i, release[i] : deadline[i]] for i in range(n_f)]
    assert_array_equal(FlexPlan.from_pieces(release, pieces).dense(n_t), dense)


def test_a_dense_plan_outside_its_windows_is_refused() -> None:
    dense = np.array([[0.0, 1.0, 1.0, 0.5]])
    with pytest.raises(InputError, match="outside the loads' windows"):
        FlexPlan.from_dense(dense, [1], [3])
    with pytest.raises(InputError, match="one row per flexible load"):
        FlexPlan.from_dense(dense, [0, 1], [2, 3])


def test_offsets_must_cover_the_values() -> None:
    with pytest.raises(InputError, match="offsets"):
        FlexPlan(np.array([0]), np.array([0, 3]), np.zeros(2))


DAYS, STEPS_PER_DAY = 12, 24


def _many_classes() -> DispatchInputs:
    """Twelve hourly days of two halls and an EV station: 12 + 12 + 6 × 12 = 96 classes.

    Windows of the halls' classes span 30 h (two days overlap), the EV classes 4 h; PV peaks
    at noon, import prices rise in the evening, and the halls' caps dip at night, so the
    groups' caps bind in places.
    """
    n_t = DAYS * STEPS_PER_DAY
    hour = np.arange(n_t) % 24
    pv = np.clip(np.sin((hour - 6) / 12 * np.pi), 0.0, None) * 12.0
    price = np.where((hour >= 17) & (hour < 22), 1.2, 0.4)
    loads: list[FlexibleLoad] = []
    for d in range(DAYS):
        start = d * STEPS_PER_DAY
        for hall in ("hall-a", "hall-b"):
            loads.append(
                FlexibleLoad(f"{hall}@{d}", start, min(start + 30, n_t), 30.0, 4.0, group=hall)
            )
        for b in range(6):
            s = start + 4 * b
            loads.append(FlexibleLoad(f"ev@{d}-{b}", s, s + 4, 2.0, 1.5, group="ev"))
    night_cap = np.where((hour < 6) | (hour >= 22), 2.0, 5.0)
    return DispatchInputs(
        interval_h=1.0,
        load_mw=np.full(n_t, 3.0),
        grid=GridConnection(import_price_cny_per_kwh=price, export_price_cny_per_kwh=0.2),
        generators=(Generator("pv", "pv", pv),),
        flexible_loads=tuple(loads),
        flex_groups=(
            FlexGroup("hall-a", night_cap),
            FlexGroup("hall-b", night_cap),
            FlexGroup("ev", np.full(n_t, 3.0)),
        ),
    )


@pytest.mark.parametrize("method", ["rolling", "rules"])
def test_many_classes_give_the_same_totals_dense_and_compact(method: str) -> None:
    inputs = _many_classes()
    n_t, dt_h = inputs.n_steps, inputs.interval_h
    if method == "rolling":
        r = rolling_dispatch(inputs, window_steps=48, commit_steps=24)
        assert r.method == "lp-rolling"
    else:
        r = rule_dispatch(inputs)
    check_invariants(inputs, r)
    dense = r.flex_p_mw
    assert dense.shape == (len(inputs.flexible_loads), n_t)
    # Every class draws only inside its own window.
    for i, f in enumerate(inputs.flexible_loads):
        outside = np.delete(dense[i], np.s_[f.release_step : f.deadline_step])
        assert np.abs(outside).max(initial=0.0) == 0.0
    assert_array_equal(r.flex_load_mw, dense.sum(axis=0))
    assert_allclose(r.flex.energy_mwh(dt_h) + r.flex_unserved_mwh, _energy(inputs), atol=1e-6)
    assert_allclose(r.flex.energy_mwh(dt_h), dense.sum(axis=1) * dt_h, rtol=1e-12, atol=1e-12)

    # The same plan given densely to make_result gives the same figures, to the bit.
    again = make_result(
        inputs,
        r.objective,
        method=r.method,
        generator_p_mw=r.generator_p_mw,
        battery_charge_mw=r.battery_charge_mw,
        battery_discharge_mw=r.battery_discharge_mw,
        battery_soe_mwh=r.battery_soe_mwh,
        grid_import_mw=r.grid_import_mw,
        grid_export_mw=r.grid_export_mw,
        flex_p_mw=dense,
        unserved_mw=r.unserved_mw,
        flex_unserved_mwh=r.flex_unserved_mwh,
    )
    assert again.green_share_pu == r.green_share_pu
    assert again.cost_cny == r.cost_cny
    assert_array_equal(again.flex.values_mw, r.flex.values_mw)

    # Group columns of the schedule and each asset's metered flexible power are row sums.
    frame = schedule_frame(inputs, r)
    assert_array_equal(frame["flex_load_mw"].to_numpy(), dense.sum(axis=0))
    group_of = inputs.flex_group_of
    by_asset = flexible_by_asset(inputs, r)
    for j, g in enumerate(inputs.flex_groups):
        assert_array_equal(frame[f"flex_{g.name}_mw"].to_numpy(), dense[group_of == j].sum(axis=0))
        assert_array_equal(by_asset[g.name], dense[group_of == j].sum(axis=0))
    assert "flex_ev@0-0_mw" not in frame.columns  # over 24 classes: groups only


def _energy(inputs: DispatchInputs) -> np.ndarray:
    return np.array([f.energy_mwh for f in inputs.flexible_loads])
