"""Flow tracing: hand-checked zones, shares that sum to one, batch equals loop."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from suandian.core.errors import InputError
from suandian.grid.flowtrace import trace_flows, trace_flows_batch

# Sources: hydro, coal, solar.
EF = np.array([0.0, 0.9, 0.0])


def _three_zones() -> tuple[np.ndarray, np.ndarray]:
    production = np.array(
        [
            [100.0, 0.0, 0.0],  # A: hydro 100 MWh
            [0.0, 100.0, 0.0],  # B: coal 100 MWh
            [0.0, 0.0, 30.0],  # C: solar 30 MWh
        ]
    )
    imports = np.zeros((3, 3))
    imports[1, 0] = 50.0  # A → B
    imports[2, 1] = 20.0  # B → C
    return production, imports


def test_three_zones_by_hand() -> None:
    # x_A: no imports, x_A = F_A / P_A = 0.
    # x_B: (100 + 50) x_B − 50 x_A = 0.9 × 100  →  x_B = 90 / 150 = 0.6.
    # x_C: (30 + 20) x_C − 20 x_B = 0  →  x_C = 20 × 0.6 / 50 = 0.24.
    # Shares: A = hydro 1; B = hydro 50/150 = 1/3, coal 2/3;
    #         C = 20/50 of B's pool (hydro 2/15, coal 4/15) + solar 30/50 = 9/15.
    production, imports = _three_zones()
    trace = trace_flows(production, imports, EF)
    np.testing.assert_allclose(trace.intensity_kgco2_per_kwh, [0.0, 0.6, 0.24], atol=1e-12)
    np.testing.assert_allclose(
        trace.shares_pu,
        [[1.0, 0.0, 0.0], [1 / 3, 2 / 3, 0.0], [2 / 15, 4 / 15, 9 / 15]],
        atol=1e-12,
    )


def test_a_zone_producing_nothing_takes_the_pool_of_the_clean_zone_it_imports_from() -> None:
    # Zone 0: hydro 80 + solar 20, lifecycle factors; zone 1: coal; zone 2 produces nothing and
    # imports 40 MWh from zone 0 only.
    ef = np.array([0.024, 0.9, 0.045])
    production = np.array([[80.0, 0.0, 20.0], [0.0, 100.0, 0.0], [0.0, 0.0, 0.0]])
    imports = np.zeros((3, 3))
    imports[2, 0] = 40.0
    trace = trace_flows(production, imports, ef)
    # x_0 = (0.024 × 80 + 0.045 × 20) / 100 = 0.0282.
    assert trace.intensity_kgco2_per_kwh[0] == pytest.approx(0.0282, abs=1e-12)
    assert trace.intensity_kgco2_per_kwh[2] == pytest.approx(0.0282, abs=1e-12)
    np.testing.assert_allclose(trace.shares_pu[2], [0.8, 0.0, 0.2], atol=1e-12)
    np.testing.assert_allclose(trace.shares_pu[2], trace.shares_pu[0], atol=1e-12)


def test_without_flows_each_zone_has_its_own_production_intensity() -> None:
    rng = np.random.default_rng(7)
    production = rng.uniform(0.0, 100.0, size=(5, 4))
    ef = np.array([0.0, 0.45, 0.9, 0.011])
    trace = trace_flows(production, np.zeros((5, 5)), ef)
    own = production @ ef / production.sum(axis=1)
    np.testing.assert_allclose(trace.intensity_kgco2_per_kwh, own, rtol=1e-12)
    np.testing.assert_allclose(
        trace.shares_pu, production / production.sum(axis=1, keepdims=True), rtol=1e-12
    )


@st.composite
def _networks(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n = draw(st.integers(1, 5))
    k = draw(st.integers(1, 4))
    energy = st.floats(0.0, 1e3, allow_nan=False, allow_infinity=False)
    production = draw(arrays(np.float64, (n, k), elements=energy))
    imports = draw(arrays(np.float64, (n, n), elements=energy))
    np.fill_diagonal(imports, 0.0)
    ef = draw(arrays(np.float64, (k,), elements=st.floats(0.0, 1.2)))
    return production, imports, ef


@given(_networks())
def test_shares_sum_to_one_and_emissions_are_conserved(
    network: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> None:
    production, imports, ef = network
    assume(np.all(production.sum(axis=1) > 1e-3))
    trace = trace_flows(production, imports, ef)

    assert trace.shares_pu.min() >= -1e-12
    np.testing.assert_allclose(trace.shares_pu.sum(axis=1), 1.0, atol=1e-9)
    assert trace.intensity_kgco2_per_kwh.min() >= ef.min() - 1e-9
    assert trace.intensity_kgco2_per_kwh.max() <= ef.max() + 1e-9
    # No double counting: intensity × net consumption (production + imports − exports), summed
    # over zones, is the emissions produced.
    net = production.sum(axis=1) + imports.sum(axis=1) - imports.sum(axis=0)
    produced = float((production @ ef).sum())
    consumed = float(trace.intensity_kgco2_per_kwh @ net)
    assert consumed == pytest.approx(produced, rel=1e-9, abs=1e-6)


def test_batch_equals_the_loop_over_intervals() -> None:
    rng = np.random.default_rng(3)
    t, n, k = 6, 4, 3
    production = rng.uniform(1.0, 100.0, size=(t, n, k))
    production[2, 1] = 0.0  # a zone that only imports in one interval
    imports = rng.uniform(0.0, 40.0, size=(t, n, n)) * (rng.random((t, n, n)) < 0.5)
    imports[:, np.arange(n), np.arange(n)] = 0.0
    imports[2, 1, 0] = 10.0
    ef = np.array([0.024, 0.9, 0.045])

    batch = trace_flows_batch(production, imports, ef)
    assert batch.intensity_kgco2_per_kwh.shape == (t, n)
    assert batch.shares_pu.shape == (t, n, k)
    for i in range(t):
        one = trace_flows(production[i], imports[i], ef)
        np.testing.assert_allclose(batch.intensity_kgco2_per_kwh[i], one.intensity_kgco2_per_kwh)
        np.testing.assert_allclose(batch.shares_pu[i], one.shares_pu, atol=1e-12)


def test_zone_without_supply_is_named_with_its_interval() -> None:
    production = np.ones((3, 2, 1))
    production[1, 1] = 0.0
    imports = np.zeros((3, 2, 2))
    with pytest.raises(InputError, match="zone 1 has no production and no imports in interval 1"):
        trace_flows_batch(production, imports, np.array([0.5]))
    with pytest.raises(InputError, match="zone 1 has no production and no imports, so"):
        trace_flows(production[1], imports[1], np.array([0.5]))


def test_non_producing_zones_that_only_feed_each_other_are_refused() -> None:
    production = np.array([[10.0], [0.0], [0.0]])
    imports = np.zeros((3, 3))
    imports[1, 2] = 5.0
    imports[2, 1] = 5.0
    with pytest.raises(InputError, match=r"zones \[1, 2\] produce nothing and import only"):
        trace_flows(production, imports, np.array([0.5]))


@pytest.mark.parametrize(
    ("production", "imports", "ef", "match"),
    [
        (np.ones(3), np.zeros((3, 3)), np.ones(1), r"shape \(N, K\)"),
        (np.ones((3, 2)), np.zeros((2, 2)), np.ones(2), r"must have shape \(N, N\) = \(3, 3\)"),
        (np.ones((3, 2)), np.zeros((3, 3)), np.ones(3), r"one factor per source, shape \(2,\)"),
        (-np.ones((2, 1)), np.zeros((2, 2)), np.ones(1), r"production_mwh must be ≥ 0"),
        (np.ones((2, 1)), -np.ones((2, 2)), np.ones(1), r"imports_mwh must be ≥ 0"),
        (np.ones((2, 1)), np.eye(2), np.ones(1), r"from zone 0 into itself; the diagonal"),
        (np.full((2, 1), np.nan), np.zeros((2, 2)), np.ones(1), "NaN or infinite"),
    ],
)
def test_invalid_inputs_say_what_and_how_to_fix(
    production: np.ndarray, imports: np.ndarray, ef: np.ndarray, match: str
) -> None:
    with pytest.raises(InputError, match=match):
        trace_flows(production, imports, ef)


def test_batch_shapes_and_diagonal_name_the_interval() -> None:
    with pytest.raises(InputError, match=r"shape \(T, N, K\)"):
        trace_flows_batch(np.ones((2, 1)), np.zeros((2, 2)), np.ones(1))
    imports = np.zeros((2, 2, 2))
    imports[1, 1, 1] = 3.0
    with pytest.raises(InputError, match="from zone 1 into itself in interval 1"):
        trace_flows_batch(np.ones((2, 2, 1)), imports, np.ones(1))
