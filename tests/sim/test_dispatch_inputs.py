"""The adapter from a simulated park to the dispatch LP: energy kept, tariff in local time."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from suandian.core.errors import InputError
from suandian.core.times import LOCAL_TZ
from suandian.dispatch import DispatchInputs, FlexibleLoad, check_invariants, dispatch
from suandian.scenario import Park, load_scenario
from suandian.sim.dispatch_inputs import (
    dispatch_forecast,
    dispatch_inputs,
    dispatchable_sites,
    flexible_by_data_center,
    resolve_site,
)
from suandian.sim.park import ParkSeries, simulate

START = dt.date(2025, 7, 1)


def _dc_classes(inputs: DispatchInputs) -> list[FlexibleLoad]:
    return [f for f in inputs.flexible_loads if f.group == "dc-nanchuan"]


@pytest.fixture(scope="module")
def three_days(xining: Park) -> ParkSeries:
    return simulate(xining, start=START, days=3)


def test_flexible_energy_is_the_deferrable_it_load_times_pue(
    xining: Park, three_days: ParkSeries
) -> None:
    inputs = dispatch_inputs(xining, three_days)
    dc = three_days.data_center["dc-nanchuan"]
    deferrable_mwh = float((dc["it_deferrable_mw"] * dc["pue"]).sum() * three_days.interval_h)
    flexible_mwh = sum(f.energy_mwh for f in _dc_classes(inputs))
    assert flexible_mwh == pytest.approx(deferrable_mwh, rel=1e-9)
    # Fixed + flexible (the EV station's and electrolyzer's classes too) is all the park's
    # load: nothing lost in the hourly means.
    total_mwh = float(three_days.load_mw.to_numpy().sum() * three_days.interval_h)
    all_flexible_mwh = sum(f.energy_mwh for f in inputs.flexible_loads)
    assert inputs.load_mw.sum() * inputs.interval_h + all_flexible_mwh == pytest.approx(
        total_mwh, rel=1e-9
    )
    # Per local day: that day's deferrable energy, released at local midnight, due 24 h later.
    assert inputs.interval_h == 1.0
    assert inputs.n_steps == 72
    assert [f.name for f in _dc_classes(inputs)] == [
        "dc-nanchuan@2025-07-01",
        "dc-nanchuan@2025-07-02",
        "dc-nanchuan@2025-07-03",
    ]
    assert inputs.index_utc is not None
    local = dc.index.tz_convert(LOCAL_TZ)
    for d, f in enumerate(_dc_classes(inputs)):
        assert (f.release_step, f.deadline_step) == (24 * d, 24 * (d + 1))
        assert inputs.index_utc[f.release_step].tz_convert(LOCAL_TZ).hour == 0
        day = local.date == START + dt.timedelta(days=d)
        day_mwh = float((dc["it_deferrable_mw"] * dc["pue"])[day].sum() * 0.25)
        assert f.energy_mwh == pytest.approx(day_mwh, rel=1e-9)
        headroom = ((xining.data_centers[0].it_capacity_mw - dc["it_fixed_mw"]) * dc["pue"])[day]
        hourly = headroom.to_numpy().reshape(-1, 4).mean(axis=1)
        assert f.p_max_mw == pytest.approx(hourly.max(), rel=1e-9)
        assert f.energy_mwh <= f.p_max_mw * 24


@pytest.mark.parametrize(("local_hour", "price"), [(9, 0.19), (19, 0.57), (3, 0.38), (23, 0.38)])
def test_import_price_follows_the_tariff_in_local_time(
    xining: Park, three_days: ParkSeries, local_hour: int, price: float
) -> None:
    inputs = dispatch_inputs(xining, three_days)
    assert inputs.index_utc is not None
    hours = inputs.index_utc.tz_convert(LOCAL_TZ).hour
    prices = inputs.import_price_cny_per_kwh[hours == local_hour]
    assert prices.size == 3
    assert_allclose(prices, price, rtol=1e-12)
    # 09:00 Beijing time is 01:00 UTC: the UTC clock would put the valley price elsewhere.
    utc_09 = inputs.index_utc.hour == 9
    assert not np.allclose(inputs.import_price_cny_per_kwh[utc_09], 0.19)


def test_the_rest_of_the_park(xining: Park, three_days: ParkSeries) -> None:
    inputs = dispatch_inputs(xining, three_days, carbon_price_cny_per_tco2=80.0)
    assert [(g.name, g.source) for g in inputs.generators] == [
        ("pv-nanchuan", "pv"),
        ("wind-nanchuan", "wind"),
    ]
    pv = three_days.generation_mw["pv-nanchuan"].to_numpy().reshape(-1, 4).mean(axis=1)
    assert_allclose(inputs.generators[0].available_mw, pv, rtol=1e-12)
    (b,) = inputs.batteries
    assert (b.name, b.p_mw, b.e_mwh, b.round_trip_efficiency_pu) == ("bess-nanchuan", 50, 200, 0.9)
    assert (b.soc_min_pu, b.soc_max_pu, b.soc_initial_pu, b.end_soc) == (0.05, 0.95, 0.5, "cyclic")
    assert inputs.grid.import_limit_mw == 60.0
    assert inputs.grid.export_limit_share_pu == 0.2
    assert_allclose(inputs.export_price_cny_per_kwh, 0.3247)
    assert_allclose(inputs.ef_kgco2_per_kwh, 0.1567)
    assert inputs.carbon_price_cny_per_tco2 == 80.0


def test_quarter_hour_inputs_keep_the_same_energy(xining: Park, three_days: ParkSeries) -> None:
    hourly = dispatch_inputs(xining, three_days)
    quarter = dispatch_inputs(xining, three_days, resolution_min=15)
    assert quarter.n_steps == 288
    assert quarter.interval_h == 0.25
    assert quarter.load_mw.sum() * 0.25 == pytest.approx(hourly.load_mw.sum(), rel=1e-9)
    assert [f.energy_mwh for f in quarter.flexible_loads] == pytest.approx(
        [f.energy_mwh for f in hourly.flexible_loads], rel=1e-9
    )
    assert [(f.release_step, f.deadline_step) for f in _dc_classes(quarter)] == [
        (0, 96),
        (96, 192),
        (192, 288),
    ]


def test_the_adapted_park_dispatches(xining: Park, three_days: ParkSeries) -> None:
    inputs = dispatch_inputs(xining, three_days)
    result = dispatch(inputs)
    assert result.method == "lp", result.diagnosis
    check_invariants(inputs, result)
    flex = flexible_by_data_center(xining, inputs, result)
    assert list(flex) == ["dc-nanchuan"]
    assert flex["dc-nanchuan"].sum() == pytest.approx(
        sum(f.energy_mwh for f in _dc_classes(inputs)), rel=1e-6
    )


def test_deferral_windows_other_than_a_day(xining: Park, three_days: ParkSeries) -> None:
    dc = xining.data_centers[0]
    twelve = xining.model_copy(
        update={"data_centers": [dc.model_copy(update={"deferral_window_h": 12.0})]}
    )
    inputs = dispatch_inputs(twelve, three_days)
    assert len(_dc_classes(inputs)) == 6  # two 12 h blocks a day
    assert _dc_classes(inputs)[1].name == "dc-nanchuan@2025-07-01T12:00"
    assert all(f.deadline_step - f.release_step == 12 for f in _dc_classes(inputs))
    thirty_six = xining.model_copy(
        update={"data_centers": [dc.model_copy(update={"deferral_window_h": 36.0})]}
    )
    inputs = dispatch_inputs(thirty_six, three_days)
    assert [(f.release_step, f.deadline_step) for f in _dc_classes(inputs)] == [
        (0, 36),
        (24, 60),
        (48, 72),  # cut at the end of the period
    ]
    none = xining.model_copy(
        update={"data_centers": [dc.model_copy(update={"deferral_window_h": 0.0})]}
    )
    inputs = dispatch_inputs(none, three_days)
    assert _dc_classes(inputs) == []
    assert "dc-nanchuan" not in {g.name for g in inputs.flex_groups}
    total_mwh = float(three_days.load_mw.to_numpy().sum() * 0.25)
    others_mwh = sum(f.energy_mwh for f in inputs.flexible_loads)
    assert inputs.load_mw.sum() + others_mwh == pytest.approx(total_mwh, rel=1e-9)


def test_forecast_maps_the_same_way(xining: Park, three_days: ParkSeries) -> None:
    inputs = dispatch_inputs(xining, three_days)
    forecast = dispatch_forecast(xining, three_days)
    assert forecast.available_mw is not None and forecast.load_mw is not None
    assert_allclose(np.asarray(forecast.available_mw), inputs.available_mw)
    assert_allclose(np.asarray(forecast.load_mw), inputs.load_mw)


def test_bad_requests_say_what_to_do(xining: Park, three_days: ParkSeries) -> None:
    with pytest.raises(InputError, match="multiple of the simulation's 15 min"):
        dispatch_inputs(xining, three_days, resolution_min=20)
    with pytest.raises(InputError, match="not a site of xining"):
        dispatch_inputs(xining, three_days, site="nowhere")
    national = load_scenario("national")
    assert dispatchable_sites(national) == []
    with pytest.raises(InputError, match="--site"):
        resolve_site(national)
    no_tariff = xining.model_copy(
        update={
            "sites": [
                xining.sites[0].model_copy(
                    update={"grid": xining.sites[0].grid.model_copy(update={"tariff": None})}
                )
            ]
        }
    )
    with pytest.raises(InputError, match="no tariff"):
        dispatch_inputs(no_tariff, three_days)


def test_a_local_day_that_is_not_a_utc_day(xining: Park, three_days: ParkSeries) -> None:
    # The first flexible load starts at 2025-07-01 00:00 Beijing time, 2025-06-30 16:00 UTC.
    inputs = dispatch_inputs(xining, three_days)
    assert inputs.index_utc is not None
    assert inputs.index_utc[0] == pd.Timestamp("2025-06-30 16:00", tz="UTC")
