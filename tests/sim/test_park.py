import datetime as dt

import numpy as np
import pandas as pd
import pytest

from suandian.core.errors import InputError
from suandian.core.times import LOCAL_TZ
from suandian.scenario import Park
from suandian.sim.park import ParkSeries, simulate, simulate_year


def test_a_year_has_35040_intervals_and_every_series_is_complete(xining_year: ParkSeries) -> None:
    assert len(xining_year.index) == 35_040
    assert str(xining_year.index.tz) == "UTC"
    for frame in (xining_year.generation_mw, xining_year.load_mw):
        assert frame.notna().all().all()
        assert (frame.to_numpy() >= 0).all()


def test_annual_full_load_hours_match_targets_within_3_percent(
    xining: Park, xining_year: ParkSeries
) -> None:
    ih = xining_year.interval_h
    for pv in xining.pv_plants:
        flh = xining_year.generation_mw[pv.id].sum() * ih / pv.p_dc_mwp
        assert flh == pytest.approx(pv.target_full_load_h, rel=0.03)
    for farm in xining.wind_farms:
        flh = xining_year.generation_mw[farm.id].sum() * ih / farm.capacity_mw
        assert flh == pytest.approx(farm.target_full_load_h, rel=0.03)


@pytest.mark.slow
def test_calibration_holds_for_another_seed_and_year(xining: Park) -> None:
    other = xining.model_copy(update={"seed": 7})
    series = simulate_year(other, 2024)  # a leap year
    assert len(series.index) == 366 * 96
    pv = series.generation_mw["pv-nanchuan"].sum() * series.interval_h / 150.0
    wind = series.generation_mw["wind-nanchuan"].sum() * series.interval_h / 80.0
    assert pv == pytest.approx(1550.0, rel=0.03)
    assert wind == pytest.approx(1600.0, rel=0.03)


def test_pv_and_wind_never_exceed_nameplate(xining: Park, xining_year: ParkSeries) -> None:
    for pv in xining.pv_plants:
        assert xining_year.generation_mw[pv.id].max() <= pv.p_ac_mw + 1e-9
        assert pv.p_ac_mw <= pv.p_dc_mwp
    for farm in xining.wind_farms:
        assert xining_year.generation_mw[farm.id].max() <= farm.capacity_mw + 1e-9


def test_pv_is_zero_at_local_night(xining_year: ParkSeries) -> None:
    local_hour = xining_year.index.tz_convert(LOCAL_TZ).hour
    night = (local_hour >= 22) | (local_hour < 5)
    assert xining_year.generation_mw["pv-nanchuan"][night].max() == pytest.approx(0.0, abs=1e-9)


def test_pue_stays_in_bounds_and_averages_about_1_20(xining: Park, xining_year: ParkSeries) -> None:
    dc = xining.data_centers[0]
    pue = xining_year.data_center[dc.id]["pue"]
    assert pue.min() >= dc.pue.pue_min - 1e-12
    assert pue.max() <= dc.pue.pue_max + 1e-12
    assert pue.mean() == pytest.approx(1.20, abs=0.01)
    month = pue.index.tz_convert(LOCAL_TZ).month
    # Design figures: ≈1.15 October to April, ≈1.28 June to August.
    assert pue[np.isin(month, [10, 11, 12, 1, 2, 3, 4])].mean() == pytest.approx(1.15, abs=0.02)
    assert pue[np.isin(month, [6, 7, 8])].mean() == pytest.approx(1.28, abs=0.03)


def test_data_center_load_is_it_times_pue(xining: Park, xining_year: ParkSeries) -> None:
    dc = xining.data_centers[0]
    frame = xining_year.data_center[dc.id]
    it = frame["it_fixed_mw"] + frame["it_deferrable_mw"]
    np.testing.assert_allclose(frame["facility_mw"], it * frame["pue"], rtol=1e-12)
    np.testing.assert_allclose(xining_year.load_mw[dc.id], frame["facility_mw"], rtol=1e-12)
    assert it.mean() == pytest.approx(dc.it_mean_mw, rel=0.01)
    assert it.max() <= dc.it_capacity_mw + 1e-9
    assert frame["it_deferrable_mw"].sum() / it.sum() == pytest.approx(0.25, abs=0.01)


def test_enterprises_keep_their_mean(xining: Park, xining_year: ParkSeries) -> None:
    for c in xining.consumers:
        assert xining_year.load_mw[c.id].mean() == pytest.approx(c.mean_mw, rel=1e-9)


def test_ambient_temperature_is_plausible_for_xining(xining_year: ParkSeries) -> None:
    t = xining_year.weather["nanchuan"]["temp_air_c"]
    month = t.index.tz_convert(LOCAL_TZ).month
    assert t.mean() == pytest.approx(6.0, abs=1.0)
    assert t[month == 1].mean() < -3.0
    assert t[month == 7].mean() > 14.0


def test_same_seed_gives_identical_series_and_another_seed_does_not(
    xining: Park, xining_year: ParkSeries
) -> None:
    again = simulate_year(xining, 2025)
    pd.testing.assert_frame_equal(again.generation_mw, xining_year.generation_mw)
    pd.testing.assert_frame_equal(again.load_mw, xining_year.load_mw)
    other = simulate_year(xining.model_copy(update={"seed": 1}), 2025)
    assert not np.allclose(other.load_mw.to_numpy(), xining_year.load_mw.to_numpy())


def test_a_period_is_cut_from_the_calibrated_year(xining: Park, xining_year: ParkSeries) -> None:
    week = simulate(xining, start=dt.date(2025, 7, 1), days=7)
    assert len(week.index) == 7 * 96
    assert week.index[0] == pd.Timestamp("2025-06-30T16:00Z")
    pd.testing.assert_frame_equal(week.generation_mw, xining_year.generation_mw.loc[week.index])


def test_a_period_across_new_year_joins_two_years(xining: Park) -> None:
    series = simulate(xining, start=dt.date(2025, 12, 30), days=4)
    assert len(series.index) == 4 * 96
    assert series.index.is_monotonic_increasing and series.index.is_unique
    assert series.index[-1] == pd.Timestamp("2026-01-02T15:45Z")
    assert {"pv-nanchuan@2025", "pv-nanchuan@2026"} <= set(series.calibration)


def test_bad_periods_are_refused(xining: Park) -> None:
    with pytest.raises(InputError, match="at least one day"):
        simulate(xining, start=dt.date(2025, 1, 1), days=0)
    with pytest.raises(InputError, match="at most 10 years"):
        simulate(xining, start=dt.date(2025, 1, 1), days=365 * 12)


def test_unreachable_target_names_the_asset(xining: Park) -> None:
    pv = xining.pv_plants[0].model_copy(update={"target_full_load_h": 2950.0})
    park = xining.model_copy(update={"pv_plants": [pv]})
    with pytest.raises(InputError, match="pv_plants 'pv-nanchuan': target_full_load_h 2950"):
        simulate_year(park, 2025)
