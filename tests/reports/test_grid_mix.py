import numpy as np
import pandas as pd
import pytest

from suandian.core.times import local_year_grid
from suandian.reports.period import grid_mix_for
from suandian.scenario import load_scenario

XINING = load_scenario("xining").sites[0]


def test_own_zone_mix_averages_to_its_factor_over_the_year() -> None:
    idx = local_year_grid(2025, 60)
    sources, shares, intensity = grid_mix_for(XINING, idx)
    assert sources == ("fossil", "hydro", "solar", "wind")
    np.testing.assert_allclose(shares.sum(axis=1), 1.0, atol=1e-12)
    assert intensity.mean() == pytest.approx(0.1567, abs=1e-9)


def test_a_day_gets_the_same_figures_whatever_range_was_asked() -> None:
    year = local_year_grid(2025, 60)
    day = year[24 * 181 : 24 * 182]
    _, shares_day, intensity_day = grid_mix_for(XINING, day)
    _, shares_year, intensity_year = grid_mix_for(XINING, year)
    np.testing.assert_allclose(intensity_day, intensity_year[24 * 181 : 24 * 182], atol=1e-15)
    np.testing.assert_allclose(shares_day, shares_year[24 * 181 : 24 * 182], atol=1e-15)


def test_imports_from_a_neighbour_are_traced_into_the_mix() -> None:
    site = XINING.model_copy(
        update={"grid": XINING.grid.model_copy(update={"neighbours": [_gansu(0.3)]})}
    )
    idx = local_year_grid(2025, 60)
    sources, shares, intensity = grid_mix_for(site, idx)
    # 70 % own supply at 0.1567 on average, 30 % from Gansu at 0.477 on average; both zones'
    # modelled hours average to their factors, so the traced mean is the weighted mean.
    assert intensity.mean() == pytest.approx(0.7 * 0.1567 + 0.3 * 0.477, abs=1e-9)
    np.testing.assert_allclose(shares.sum(axis=1), 1.0, atol=1e-12)
    # The union of sources: Gansu brings no new one here, Qinghai has all four.
    assert set(sources) == {"fossil", "hydro", "solar", "wind"}


def test_importing_only_clean_power_lowers_the_intensity_in_proportion() -> None:
    clean = _gansu(0.5, ef=0.0, split={"hydro": 1.0})
    site = XINING.model_copy(
        update={"grid": XINING.grid.model_copy(update={"neighbours": [clean]})}
    )
    idx = pd.date_range("2025-06-30T16:00Z", periods=24, freq="h")
    _, _, own = grid_mix_for(XINING, idx)
    _, _, traced = grid_mix_for(site, idx)
    np.testing.assert_allclose(traced, 0.5 * own, atol=1e-12)


def _gansu(share: float, ef: float = 0.477, split: dict[str, float] | None = None):
    from suandian.scenario.model import NeighbourImport

    return NeighbourImport(
        zone="CN-GS",
        share_pu=share,
        ef_location_kgco2_per_kwh=ef,
        mix_non_fossil_pu=split or {"wind": 0.5, "solar": 0.3, "hydro": 0.2},
    )
