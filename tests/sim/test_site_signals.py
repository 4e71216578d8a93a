"""Per-site signals for the scheduler: intensity, green surplus, tariff, capacity."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from suandian.compute.jobs import JobTable, Plan
from suandian.core.errors import InputError
from suandian.grid.site_mix import grid_mix_for
from suandian.scenario import load_scenario
from suandian.sim.park import simulate
from suandian.sim.site_signals import (
    DEFAULT_CAPACITY_MW,
    SiteSignals,
    plan_totals,
    signals_from_csv,
    site_signals,
)

CSV = Path(__file__).parents[1] / "compute" / "data" / "carbon-intensity-2020" / "ger_ci.csv"


@pytest.fixture(scope="module")
def xining() -> tuple[object, SiteSignals]:
    park = load_scenario("xining")
    series = simulate(park, start=dt.date(2025, 7, 1), days=2)
    return park, site_signals(park, series, 60, grid_mix=grid_mix_for)


def test_shapes_and_utc_index(xining: tuple[object, SiteSignals]) -> None:
    _, sig = xining
    assert sig.sites == ("nanchuan",)
    assert sig.index_utc.tz is not None and str(sig.index_utc.tz) == "UTC"
    # Two local days from 2025-07-01 00:00 Shanghai = 2025-06-30 16:00 UTC.
    assert sig.index_utc[0] == pd.Timestamp("2025-06-30 16:00", tz="UTC")
    assert sig.step_min == 60
    for arr in (sig.intensity_g_per_kwh, sig.surplus_mw, sig.price_cny_per_kwh, sig.capacity_mw):
        assert arr.shape == (1, 48)


def test_surplus_never_negative_and_capacity_is_it_headroom(
    xining: tuple[object, SiteSignals],
) -> None:
    _, sig = xining
    assert (sig.surplus_mw >= 0).all()
    assert sig.surplus_mw.max() > 0  # midday PV exceeds the fixed load in July
    # 40 MW hall less its fixed IT load (75 % of a ~30 MW mean): between 0 and 40 MW.
    assert (sig.capacity_mw > 0).all() and (sig.capacity_mw <= 40.0 + 1e-9).all()


def test_tariff_is_local_time_across_the_utc_day_boundary(
    xining: tuple[object, SiteSignals],
) -> None:
    _, sig = xining
    price = pd.Series(sig.price_cny_per_kwh[0], index=sig.index_utc)
    # Local 06:00 flat, 07:00–09:00 peak (23:00–01:00 UTC, across the UTC midnight), 09:00 valley.
    assert price[pd.Timestamp("2025-06-30 22:00", tz="UTC")] == pytest.approx(0.38)
    assert price[pd.Timestamp("2025-06-30 23:00", tz="UTC")] == pytest.approx(0.57)
    assert price[pd.Timestamp("2025-07-01 00:00", tz="UTC")] == pytest.approx(0.57)
    assert price[pd.Timestamp("2025-07-01 01:00", tz="UTC")] == pytest.approx(0.19)
    assert price[pd.Timestamp("2025-07-01 08:00", tz="UTC")] == pytest.approx(0.19)
    assert price[pd.Timestamp("2025-07-01 09:00", tz="UTC")] == pytest.approx(0.57)


def test_intensity_averages_to_the_published_factor_over_the_year() -> None:
    park = load_scenario("xining")
    year = site_signals(park, simulate(park), 60, grid_mix=grid_mix_for)
    factor = park.sites[0].grid.ef_location_kgco2_per_kwh
    # grid.mix promises a mean of exactly the factor over each local year [g/kWh = 1000 kg/kWh].
    assert year.intensity_g_per_kwh.mean() == pytest.approx(1000.0 * factor, rel=1e-9)
    # A short period shows the same hours as the year (figures do not depend on the range).
    week = site_signals(
        park, simulate(park, start=dt.date(2025, 3, 3), days=7), 60, grid_mix=grid_mix_for
    )
    pos = year.index_utc.get_indexer(week.index_utc)
    np.testing.assert_allclose(
        week.intensity_g_per_kwh, year.intensity_g_per_kwh[:, pos], rtol=1e-12
    )
    assert np.ptp(week.intensity_g_per_kwh) > 0  # modelled hourly shape, not a flat factor


def test_national_sites_without_assets() -> None:
    park = load_scenario("national")
    sig = site_signals(
        park, simulate(park, start=dt.date(2025, 1, 1), days=1), 15, grid_mix=grid_mix_for
    )
    assert len(sig.sites) == 11 and sig.intensity_g_per_kwh.shape == (11, 96)
    assert (sig.surplus_mw == 0).all()
    np.testing.assert_allclose(sig.capacity_mw, DEFAULT_CAPACITY_MW)
    factors = np.array([s.grid.ef_location_kgco2_per_kwh for s in park.sites]) * 1000.0
    # These zones have no modelled solar: the intensity is flat at the published factor.
    np.testing.assert_allclose(sig.intensity_g_per_kwh.mean(axis=1), factors, rtol=1e-9)


def test_signals_from_csv_maps_a_measured_series_onto_one_site() -> None:
    sig = signals_from_csv(
        CSV,
        site="berlin",
        start_utc=pd.Timestamp("2020-01-01", tz="UTC"),
        end_utc=pd.Timestamp("2020-01-02", tz="UTC"),
    )
    assert sig.sites == ("berlin",) and not sig.intensity_modelled
    assert sig.intensity_g_per_kwh.shape == (1, 48) and sig.step_min == 30
    frame = pd.read_csv(CSV)
    first = frame.loc[frame["Time"] == "2020-01-01 00:30:00", "Carbon Intensity"].item()
    assert sig.intensity_g_per_kwh[0, 1] == pytest.approx(first)
    assert sig.index_utc[1] == pd.Timestamp("2020-01-01 00:30", tz="UTC")
    with pytest.raises(InputError, match="choose a span inside it"):
        signals_from_csv(CSV, site="x", end_utc=pd.Timestamp("2021-01-01", tz="UTC"))


def test_plan_totals_by_hand() -> None:
    index = pd.date_range("2025-07-01", periods=3, freq="1h", tz="UTC")
    sig = SiteSignals(
        sites=("a",),
        index_utc=index,
        intensity_g_per_kwh=np.array([[100.0, 200.0, 300.0]]),
        surplus_mw=np.array([[5.0, 1.0, 0.0]]),
        price_cny_per_kwh=np.array([[0.2, 0.4, 0.6]]),
        capacity_mw=np.full((1, 3), 10.0),
    )
    jobs = JobTable.from_arrays(
        ids=["j"],
        power_mw=[2.0],
        duration_steps=[2],
        release_utc=[index[0]],
        deadline_utc=[index[0] + pd.Timedelta(hours=3)],
        sites=("a",),
        step_min=60,
    )
    plan = Plan(
        job_id=np.array(["j", "j"], dtype=object),
        site=np.array(["a", "a"], dtype=object),
        step=np.array([0, 1]),
        grid_start_utc=index[0],
        step_min=60,
    )
    totals = plan_totals(jobs, plan, sig)
    # Step 0: 2 MW all from 5 MW surplus. Step 1: 1 MW green, 1 MW grid × 200 g × 0.4 CNY.
    assert totals.energy_mwh == pytest.approx(4.0)
    assert totals.green_mwh == pytest.approx(3.0)
    assert totals.green_share == pytest.approx(0.75)
    assert totals.carbon_kgco2 == pytest.approx(200.0)  # 1 MWh × 200 g/kWh = 200 kg
    assert totals.cost_cny == pytest.approx(400.0)  # 1000 kWh × 0.4 CNY/kWh
