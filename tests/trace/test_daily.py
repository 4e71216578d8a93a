import numpy as np
import pytest

from suandian.core.errors import InputError
from suandian.trace.daily import Factors, daily_trace

from .test_attribution import LOAD, _worked  # the worked case of the attribution kernel


def _factors(lifecycle: bool = False) -> Factors:
    return Factors(
        location_kgco2_per_kwh=np.array([0.5, 0.25, 0.5, 0.5]),
        residual_kgco2_per_kwh=0.6,
        reference_kgco2_per_kwh=0.5306,
        reference_name="cn-national-2023",
        source_kgco2_per_kwh={"pv": 0.045, "wind": 0.011} if lifecycle else {},
        clean_grid_sources=frozenset({"hydro"}),
    )


def test_daily_metrics_of_the_worked_case() -> None:
    park, per_interval = _worked()
    day = daily_trace(LOAD, park, _factors(), per_day=4, contract_rows=[0])
    np.testing.assert_allclose(day.category_kwh[:, 0, :], per_interval.sum(axis=1), atol=1e-12)
    np.testing.assert_allclose(day.load_kwh[:, 0], LOAD.sum(axis=1), atol=1e-12)
    c = 2
    # C: matched = 1 (h1) + 0.8 (h2 storage) + 1 (h3) + 0.6 (h4 storage of on-site origin).
    assert day.matched_kwh[c, 0] == pytest.approx(3.4, abs=1e-12)
    assert day.share(day.matched_kwh)[c, 0] == pytest.approx(3.4 / 5, abs=1e-12)
    # CFE adds the clean grid part (hydro 0.6 in h2): 4.0 / 5.
    assert day.share(day.clean_kwh)[c, 0] == pytest.approx(0.8, abs=1e-12)
    # Grid residual: 1.2 in h2 + 0.4 storage-from-grid in h4.
    assert day.grid_kwh[c, 0] == pytest.approx(1.6, abs=1e-12)
    # E_LB = 1·0.5 + 2·0.25 + 1·0.5 + 1·0.5 = 2.0 kg.
    assert day.emissions_location_kgco2[c, 0] == pytest.approx(2.0, abs=1e-12)
    # E_MB = 1.6 · 0.6 (direct accounting: matched at 0) = 0.96 kg.
    assert day.emissions_market_kgco2[c, 0] == pytest.approx(0.96, abs=1e-12)
    # ΔE = 3.4 · 0.5306 = 1.80404 kg.
    assert day.avoided_kgco2[c, 0] == pytest.approx(3.4 * 0.5306, abs=1e-12)
    # A holds the direct contract: 3 kWh of wind.
    assert day.direct_kwh[0, 0] == pytest.approx(3.0, abs=1e-12)
    assert day.reference_name == "cn-national-2023"


def test_lifecycle_factors_charge_matched_energy() -> None:
    park, per_interval = _worked()
    day = daily_trace(LOAD, park, _factors(lifecycle=True), per_day=4, contract_rows=[0])
    c = 2
    cat = dict(zip(park.categories, per_interval[c].sum(axis=0), strict=True))
    pv = cat["onsite_pv"] + cat["storage_pv"]
    wind = cat["onsite_wind"] + cat["storage_wind"]
    assert day.emissions_market_kgco2[c, 0] == pytest.approx(
        1.6 * 0.6 + pv * 0.045 + wind * 0.011, abs=1e-12
    )
    assert day.avoided_kgco2[c, 0] == pytest.approx(
        pv * (0.5306 - 0.045) + wind * (0.5306 - 0.011), abs=1e-12
    )


def test_two_days_split_by_reshape() -> None:
    park, per_interval = _worked()
    factors = _factors()
    day = daily_trace(LOAD, park, factors, per_day=2, contract_rows=[0])
    np.testing.assert_allclose(day.load_kwh, LOAD.reshape(3, 2, 2).sum(axis=2), atol=1e-12)
    np.testing.assert_allclose(
        day.category_kwh, per_interval.reshape(3, 2, 2, -1).sum(axis=2), atol=1e-12
    )


def test_missing_load_is_left_out_not_zeroed_into_shares() -> None:
    park, _ = _worked()
    load = LOAD.copy()
    load[1, 3] = np.nan  # B's last hour is missing (it was 0 anyway)
    load[2, 0] = np.nan  # C's first hour is missing
    day = daily_trace(load, park, _factors(), per_day=4, contract_rows=[0])
    assert day.load_kwh[2, 0] == pytest.approx(4.0, abs=1e-12)
    assert day.category_kwh[2, 0].sum() == pytest.approx(4.0, abs=1e-12)


def test_partial_days_are_refused() -> None:
    park, _ = _worked()
    with pytest.raises(InputError, match="not whole days"):
        daily_trace(LOAD, park, _factors(), per_day=3, contract_rows=[0])


def test_chunking_does_not_change_results(monkeypatch) -> None:
    import suandian.trace.daily as daily_module

    park, _ = _worked()
    whole = daily_trace(LOAD, park, _factors(), per_day=2, contract_rows=[0])
    monkeypatch.setattr(daily_module, "_CHUNK", 2)  # consumers 0–1, then 2
    chunked = daily_trace(LOAD, park, _factors(), per_day=2, contract_rows=[0])
    for name in (
        "category_kwh",
        "load_kwh",
        "direct_kwh",
        "emissions_location_kgco2",
        "emissions_market_kgco2",
        "avoided_kgco2",
    ):
        np.testing.assert_allclose(getattr(chunked, name), getattr(whole, name), atol=1e-12)
