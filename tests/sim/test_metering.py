import datetime as dt

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from suandian.core.errors import InputError
from suandian.dispatch import DispatchResult, rolling_dispatch, rule_dispatch
from suandian.meters.registry import meters_for_park
from suandian.scenario import Park
from suandian.sim.dispatch_inputs import SiteDispatch, dispatch_inputs, flexible_by_data_center
from suandian.sim.metering import simulated_readings
from suandian.sim.park import ParkSeries, simulate


@pytest.fixture(scope="module")
def two_days(xining: Park) -> ParkSeries:
    return simulate(xining, start=dt.date(2025, 7, 1), days=2)


def test_every_meter_reads_and_the_site_balances(xining: Park, two_days: ParkSeries) -> None:
    series = two_days
    readings = simulated_readings(xining, series)  # dispatch=None: no plan, an idle battery
    assert set(readings["meter_id"]) == {m.meter_id for m in meters_for_park(xining)}
    assert (readings["kwh"] >= 0).all()
    assert len(readings) == 28 * 2 * 96
    kwh = readings.pivot(index="start_utc", columns="meter_id", values="kwh")
    gen = kwh[["m-pv-nanchuan", "m-wind-nanchuan"]].sum(axis=1)
    load = kwh[[f"m-{c}" for c in series.load_mw.columns]].sum(axis=1)
    # Produced + imported = consumed + exported, every interval (nothing curtailed is metered).
    np.testing.assert_allclose(
        gen + kwh["m-nanchuan-import"], load + kwh["m-nanchuan-export"], rtol=1e-9, atol=1e-6
    )
    # Export stays under the cap: 20 % of the available output (绿电直连 rules).
    available = series.generation_mw.sum(axis=1).to_numpy() * 250.0
    assert (kwh["m-nanchuan-export"].to_numpy() <= 0.2 * available + 1e-6).all()
    # Curtailed energy is not metered as produced.
    assert (gen.to_numpy() <= available + 1e-6).all()
    assert gen.sum() < available.sum()
    # Without a dispatch plan the battery stays idle: its meters read zero.
    assert kwh["m-bess-nanchuan-charge"].sum() == pytest.approx(0.0)
    assert kwh["m-bess-nanchuan-discharge"].sum() == pytest.approx(0.0)


def _balance_gap_kwh(kwh: pd.DataFrame, series: ParkSeries) -> np.ndarray:
    gen = kwh[["m-pv-nanchuan", "m-wind-nanchuan"]].sum(axis=1)
    load = kwh[[f"m-{c}" for c in series.load_mw.columns]].sum(axis=1)
    supply = gen + kwh["m-nanchuan-import"] + kwh["m-bess-nanchuan-discharge"]
    demand = load + kwh["m-nanchuan-export"] + kwh["m-bess-nanchuan-charge"]
    return np.asarray((supply - demand).to_numpy(), dtype=np.float64)


def _plan(xining: Park, series: ParkSeries, resolution_min: int, rules: bool) -> SiteDispatch:
    inputs = dispatch_inputs(xining, series, resolution_min=resolution_min)
    per_day = 24 * 60 // resolution_min
    result: DispatchResult = (
        rule_dispatch(inputs)
        if rules
        else rolling_dispatch(inputs, window_steps=per_day, commit_steps=per_day)
    )
    return SiteDispatch("nanchuan", inputs, result)


@pytest.mark.parametrize("rules", [False, True], ids=["lp", "rules"])
def test_meters_read_a_plan_at_the_simulation_resolution(
    xining: Park, two_days: ParkSeries, rules: bool
) -> None:
    plan = _plan(xining, two_days, 15, rules)
    readings = simulated_readings(xining, two_days, dispatch=plan)
    assert set(readings["meter_id"]) == {m.meter_id for m in meters_for_park(xining)}
    assert (readings["kwh"] >= -1e-9).all()
    kwh = readings.pivot(index="start_utc", columns="meter_id", values="kwh")
    # generation + import + discharge = consumption + export + charge, every interval.
    assert np.abs(_balance_gap_kwh(kwh, two_days)).max() <= 1e-6
    r = plan.result
    # Battery and grid meters read the plan itself.
    assert_allclose(kwh["m-bess-nanchuan-charge"], r.battery_charge_mw[0] * 250.0, atol=1e-9)
    assert_allclose(kwh["m-bess-nanchuan-discharge"], r.battery_discharge_mw[0] * 250.0)
    assert_allclose(kwh["m-nanchuan-import"], r.grid_import_mw * 250.0, atol=1e-6)
    assert_allclose(kwh["m-nanchuan-export"], r.grid_export_mw * 250.0, atol=1e-6)
    assert kwh["m-bess-nanchuan-charge"].sum() > 0.0
    # The data center reads fixed IT × PUE plus the moved deferrable load: the same energy
    # as simulated, at other times.
    # Load a plan leaves unserved (the rules, short of import) scales every meter down.
    dc = two_days.data_center["dc-nanchuan"]
    fixed_kwh = (dc["it_fixed_mw"] * dc["pue"]).to_numpy() * 250.0
    planned_load_kwh = (plan.inputs.load_mw + r.flex_p_mw.sum(axis=0)) * 250.0
    served_pu = 1.0 - r.unserved_mw * 250.0 / planned_load_kwh
    dc_flex_mw = flexible_by_data_center(xining, plan.inputs, r)["dc-nanchuan"]
    assert_allclose(kwh["m-dc-nanchuan"], (fixed_kwh + dc_flex_mw * 250.0) * served_pu, rtol=1e-9)
    consumption = kwh[[f"m-{c}" for c in two_days.load_mw.columns]].sum(axis=1)
    assert_allclose(consumption, planned_load_kwh - r.unserved_mw * 250.0, rtol=1e-9)
    if not rules:
        assert r.unserved_mwh == 0.0
        assert kwh["m-dc-nanchuan"].sum() == pytest.approx(dc["facility_mw"].sum() * 250.0)


def test_meters_of_an_hourly_plan_balance_every_quarter_hour(
    xining: Park, two_days: ParkSeries
) -> None:
    plan = _plan(xining, two_days, 60, rules=False)
    readings = simulated_readings(xining, two_days, dispatch=[plan])
    assert (readings["kwh"] >= -1e-9).all()
    kwh = readings.pivot(index="start_utc", columns="meter_id", values="kwh")
    assert np.abs(_balance_gap_kwh(kwh, two_days)).max() <= 1e-6
    # The battery holds its hourly power over the hour's four quarters.
    charge = kwh["m-bess-nanchuan-charge"].to_numpy().reshape(-1, 4)
    assert_allclose(charge, np.repeat(plan.result.battery_charge_mw[0][:, None] * 250.0, 4, 1))


def test_a_plan_for_another_series_is_refused(xining: Park, two_days: ParkSeries) -> None:
    plan = _plan(xining, two_days, 15, rules=True)
    longer = simulate(xining, start=dt.date(2025, 7, 1), days=3)
    with pytest.raises(InputError, match="plan on dispatch_inputs"):
        simulated_readings(xining, longer, dispatch=plan)
    with pytest.raises(InputError, match="not a site"):
        simulated_readings(xining, two_days, dispatch=SiteDispatch("x", plan.inputs, plan.result))
