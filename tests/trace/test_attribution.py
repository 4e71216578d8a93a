"""Attribution kernel: a case worked on paper, then conservation properties."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from suandian.core.errors import InputError
from suandian.trace.attribution import Contract, attribute_consumers, attribute_park

# --- the worked case ------------------------------------------------------------------------------
#
# Two generators (0: PV, 1: wind), three consumers A, B, C, one battery with η = 0.8 that starts
# empty, a direct contract wind → A capped at 2 kWh per hour, and a grid of fossil + hydro.
#
# hour  PV  wind  A  B  C  charge  discharge  grid mix (fossil, hydro)
#   1    6    4   3  2  1     4        0        (1.0, 0.0)
#   2    0    1   2  2  2     0        2        (0.5, 0.5)
#   3   10    0   1  1  1     0        0        (1.0, 0.0)
#   4    0    0   1  0  1     0        2        (1.0, 0.0)
#
# Hour 1. Direct: min(wind 4, A 3, cap 2) = 2 → A has 1 left; remaining load 1 + 2 + 1 = 4.
#   Pool PV 6 + wind 2 = 8; the charge of 4 takes it pro-rata: PV 3, wind 1; 4 left
#   (PV 3, wind 1) serve the remaining 4 exactly: ¾ PV, ¼ wind per kWh.
#   Battery pool: 0.8 × (PV 3, wind 1) = (PV 2.4, wind 0.8).
# Hour 2. Direct: min(1, 2, 2) = 1 → A 1 left; remaining 5. No on-site pool.
#   Discharge 2 at the pool's mix (3 : 1) → PV 1.5, wind 0.5; pool left (0.9, 0.3).
#   Per kWh of remaining load: storage PV 0.3, storage wind 0.1; the other 3 kWh from the grid
#   at (0.5, 0.5): fossil 0.3, hydro 0.3.
# Hour 3. No direct (wind 0); PV 10 serves all 3 kWh, 7 are exported and never counted.
# Hour 4. Discharge 2 but the pool holds 1.2 (PV 0.9, wind 0.3): the other 0.8 is taken at the
#   grid mix (fossil). Remaining load 2 → per kWh: storage PV 0.45, wind 0.15, grid-fossil 0.4.
#
# Consumer C: hour 1 1 kWh clean; hour 2 2 kWh of which storage 0.8 + grid hydro 0.6 clean;
#   hour 3 1 clean; hour 4 0.6 clean of 1 → CFE = (1 + 1.4 + 1 + 0.6) / 5 = 0.8.

GEN = np.array([[6.0, 0.0, 10.0, 0.0], [4.0, 1.0, 0.0, 0.0]])
LOAD = np.array([[3.0, 2.0, 1.0, 1.0], [2.0, 2.0, 1.0, 0.0], [1.0, 2.0, 1.0, 1.0]])
MIX = np.array([[1.0, 0.0], [0.5, 0.5], [1.0, 0.0], [1.0, 0.0]])
CHARGE = np.array([[4.0, 0.0, 0.0, 0.0]])
DISCHARGE = np.array([[0.0, 2.0, 0.0, 2.0]])


def _worked():
    park = attribute_park(
        generation_kwh=GEN,
        generation_source=["pv", "wind"],
        total_load_kwh=LOAD.sum(axis=0),
        grid_mix_pu=MIX,
        grid_sources=["fossil", "hydro"],
        contract_load_kwh=LOAD[:1],
        contracts=[Contract(generator=1, consumer=0, priority=0, cap_kwh=2.0)],
        charge_kwh=CHARGE,
        discharge_kwh=DISCHARGE,
        round_trip_efficiency_pu=[0.8],
    )
    return park, attribute_consumers(LOAD, park, contract_rows=[0])


def test_worked_case_categories_and_fractions() -> None:
    park, _ = _worked()
    assert park.categories == (
        "onsite_pv",
        "onsite_wind",
        "storage_pv",
        "storage_wind",
        "storage_grid_fossil",
        "storage_grid_hydro",
        "grid_fossil",
        "grid_hydro",
    )
    expected = np.array(
        [
            [0.75, 0.25, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
            [0.0, 0.0, 0.3, 0.1, 0.0, 0.0, 0.3, 0.3],
            [1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
            [0.0, 0.0, 0.45, 0.15, 0.4, 0.0, 0.0, 0.0],
        ]
    )
    np.testing.assert_allclose(park.fraction_pu, expected, atol=1e-12)
    np.testing.assert_allclose(park.direct_kwh, [[2.0, 1.0, 0.0, 0.0]], atol=1e-12)
    np.testing.assert_allclose(park.remaining_load_kwh, [4.0, 5.0, 3.0, 2.0], atol=1e-12)


def test_worked_case_per_consumer() -> None:
    _, out = _worked()
    # A, hour 1: direct wind 2 + 1 kWh at (¾ PV, ¼ wind).
    np.testing.assert_allclose(out[0, 0], [0.75, 2.25, 0, 0, 0, 0, 0, 0], atol=1e-12)
    # A, hour 2: direct wind 1 + 1 kWh at (0.3, 0.1, grid 0.3, 0.3).
    np.testing.assert_allclose(out[0, 1], [0, 1.0, 0.3, 0.1, 0, 0, 0.3, 0.3], atol=1e-12)
    # B, hour 2: 2 kWh at the same fractions.
    np.testing.assert_allclose(out[1, 1], [0, 0, 0.6, 0.2, 0, 0, 0.6, 0.6], atol=1e-12)
    # C, hour 4: 1 kWh at (0.45, 0.15, storage-grid 0.4).
    np.testing.assert_allclose(out[2, 3], [0, 0, 0.45, 0.15, 0.4, 0, 0, 0], atol=1e-12)
    # Everyone's energy is fully attributed.
    np.testing.assert_allclose(out.sum(axis=2), LOAD, atol=1e-12)
    # C's CFE: clean categories are everything but fossil.
    clean = np.array([1, 1, 1, 1, 0, 1, 0, 1], dtype=bool)
    assert out[2][:, clean].sum() / LOAD[2].sum() == pytest.approx(0.8, abs=1e-12)


def test_worked_case_park_flows() -> None:
    park, _ = _worked()
    # Exports: hour 3 the 7 kWh of PV surplus, nothing else.
    np.testing.assert_allclose(park.export_onsite_kwh.sum(axis=0), [0, 0, 7.0, 0], atol=1e-12)
    assert park.export_storage_kwh.sum() == pytest.approx(0.0, abs=1e-12)
    # On-site used + exported + charged = generated (21 kWh).
    used = park.direct_kwh.sum() + (park.fraction_pu[:, :2].T * park.remaining_load_kwh).sum()
    charged_onsite = park.charge_by_key_kwh[:2].sum()
    assert used + park.export_onsite_kwh.sum() + charged_onsite == pytest.approx(21.0, abs=1e-9)
    # Battery pool: 0 → (2.4, 0.8) → (0.9, 0.3) → (0.9, 0.3) → empty.
    pool = park.storage_pool_kwh[0]
    np.testing.assert_allclose(pool[1, :2], [2.4, 0.8], atol=1e-12)
    np.testing.assert_allclose(pool[2, :2], [0.9, 0.3], atol=1e-12)
    np.testing.assert_allclose(pool[4], 0.0, atol=1e-12)
    np.testing.assert_allclose(park.discharge_by_key_kwh[:, 3], [0.9, 0.3, 0.8, 0.0], atol=1e-12)


def test_a_consumer_covered_on_site_every_hour_has_cfe_one() -> None:
    gen = np.array([[5.0, 5.0, 5.0]])
    load = np.array([[2.0, 3.0, 1.0], [4.0, 9.0, 0.5]])
    park = attribute_park(
        generation_kwh=gen,
        generation_source=["wind"],
        total_load_kwh=load.sum(axis=0),
        grid_mix_pu=np.ones((3, 1)),
        grid_sources=["fossil"],
        contract_load_kwh=load[:1],
        contracts=[Contract(generator=0, consumer=0)],
    )
    out = attribute_consumers(load, park, contract_rows=[0])
    assert out[0, :, 0].sum() / load[0].sum() == pytest.approx(1.0, abs=1e-12)
    # The other consumer gets what is left: hour 2 only 2 of 9 kWh are on-site.
    np.testing.assert_allclose(out[1, :, 0], [3.0, 2.0, 0.5], atol=1e-12)


def test_excess_is_never_counted() -> None:
    park = attribute_park(
        generation_kwh=np.array([[100.0]]),
        generation_source=["pv"],
        total_load_kwh=np.array([1.0]),
        grid_mix_pu=np.ones((1, 1)),
        grid_sources=["fossil"],
    )
    out = attribute_consumers(np.array([[1.0]]), park)
    assert out.sum() == pytest.approx(1.0, abs=1e-12)
    assert park.export_onsite_kwh.sum() == pytest.approx(99.0, abs=1e-12)


def test_missing_load_is_nan_not_zero() -> None:
    load = np.array([[1.0, np.nan], [1.0, 1.0]])
    park = attribute_park(
        generation_kwh=np.array([[1.0, 1.0]]),
        generation_source=["pv"],
        total_load_kwh=np.nansum(load, axis=0),
        grid_mix_pu=np.ones((2, 1)),
        grid_sources=["fossil"],
    )
    out = attribute_consumers(load, park)
    assert np.isnan(out[0, 1]).all()
    # onsite_pv, storage_pv, storage_grid_fossil, grid_fossil
    np.testing.assert_allclose(out[1, 1], [1.0, 0.0, 0.0, 0.0], atol=1e-12)


def test_bad_inputs_say_what_is_wrong() -> None:
    common = {
        "generation_source": ["pv"],
        "total_load_kwh": np.array([1.0]),
        "grid_sources": ["fossil"],
    }
    with pytest.raises(InputError, match="energies must be ≥ 0"):
        attribute_park(generation_kwh=np.array([[-1.0]]), grid_mix_pu=np.ones((1, 1)), **common)
    with pytest.raises(InputError, match="sum to 1"):
        attribute_park(generation_kwh=np.array([[1.0]]), grid_mix_pu=[[0.5]], **common)
    with pytest.raises(InputError, match="one per storage device"):
        attribute_park(
            generation_kwh=np.array([[1.0]]),
            grid_mix_pu=np.ones((1, 1)),
            charge_kwh=np.array([[1.0]]),
            **common,
        )


# --- properties -----------------------------------------------------------------------------------


@st.composite
def _cases(draw: st.DrawFn):
    t = draw(st.integers(1, 6))
    g = draw(st.integers(1, 3))
    c = draw(st.integers(1, 4))
    s = draw(st.integers(0, 2))
    energy = st.floats(0.0, 50.0, allow_nan=False)
    gen = draw(arrays(np.float64, (g, t), elements=energy))
    load = draw(arrays(np.float64, (c, t), elements=energy))
    charge = draw(arrays(np.float64, (s, t), elements=energy))
    discharge = draw(arrays(np.float64, (s, t), elements=energy))
    eta = draw(st.lists(st.floats(0.5, 1.0), min_size=s, max_size=s))
    sources = draw(st.lists(st.sampled_from(["pv", "wind", "hydro"]), min_size=g, max_size=g))
    raw_mix = draw(arrays(np.float64, (t, 2), elements=st.floats(0.01, 1.0)))
    mix = raw_mix / raw_mix.sum(axis=1, keepdims=True)
    with_contract = draw(st.booleans())
    cap = draw(st.floats(0.0, 30.0))
    contracts = [Contract(generator=0, consumer=0, cap_kwh=cap)] if with_contract else []
    return gen, load, charge, discharge, eta, sources, mix, contracts


@settings(max_examples=150, deadline=None)
@given(_cases())
def test_conservation(case) -> None:
    gen, load, charge, discharge, eta, sources, mix, contracts = case
    park = attribute_park(
        generation_kwh=gen,
        generation_source=sources,
        total_load_kwh=load.sum(axis=0),
        grid_mix_pu=mix,
        grid_sources=["fossil", "hydro"],
        contract_load_kwh=load[:1] if contracts else None,
        contracts=contracts,
        charge_kwh=charge if len(eta) else None,
        discharge_kwh=discharge if len(eta) else None,
        round_trip_efficiency_pu=eta,
    )
    out = attribute_consumers(load, park, contract_rows=[0] if contracts else ())
    # Σ attributed = Σ consumed, per consumer and interval; nothing negative.
    np.testing.assert_allclose(out.sum(axis=2), load, atol=1e-9)
    assert out.min() >= -1e-9
    # Fractions of remaining load sum to 1 wherever there is remaining load.
    has_load = park.remaining_load_kwh > 1e-9
    np.testing.assert_allclose(park.fraction_pu[has_load].sum(axis=1), 1.0, atol=1e-9)
    # On-site: used (direct + pool to consumers) + exported + charged = generated.
    n_on = len(park.onsite_sources)
    onsite_served = (park.fraction_pu[:, :n_on].T * park.remaining_load_kwh).sum()
    charged_onsite = park.charge_by_key_kwh[:n_on].sum()
    assert park.direct_kwh.sum() + onsite_served + park.export_onsite_kwh.sum() + (
        charged_onsite
    ) == pytest.approx(gen.sum(), abs=1e-6)
    # Storage: discharged = served to consumers + exported.
    storage_served = (
        park.fraction_pu[:, n_on : n_on + len(park.pool_keys)].T * park.remaining_load_kwh
    ).sum()
    assert storage_served + park.export_storage_kwh.sum() == pytest.approx(
        discharge.sum() if len(eta) else 0.0, abs=1e-6
    )
    # Storage pool balance: start + η × charge − taken from the pool = end, per device and key.
    for s_i, e in enumerate(eta):
        pool = park.storage_pool_kwh[s_i]
        assert pool.min() >= -1e-9
        # end = start + η × charge − what discharges took from the pool (excess came from grid)
        assert pool[-1].sum() == pytest.approx(
            pool[0].sum()
            + e * charge[s_i].sum()
            - _taken_from_pool(pool, e, charge[s_i], discharge[s_i]),
            abs=1e-6,
        )


def _taken_from_pool(pool, eta, charge, discharge) -> float:
    """Energy that discharges took out of the pool, replayed interval by interval."""
    content, taken = pool[0].sum(), 0.0
    for c, d in zip(charge, discharge, strict=True):
        content += eta * c
        out = min(d, content)
        taken += out
        content -= out
    return taken
