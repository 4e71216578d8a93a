"""The demo's closed loop: one accounting for both runs, hand-checked, and the runs' invariants."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from numpy.testing import assert_allclose

from suandian.dispatch import DispatchInputs, FlexibleLoad, FlexPlan, Forecast, Generator
from suandian.dispatch import GridConnection as Grid
from suandian.scenario import Park
from suandian.sim.closed_loop import (
    Operation,
    SiteLoop,
    closed_loop,
    deadline_shortfall_mwh,
    operate_coordinated,
    operate_uncoordinated,
    settle,
    site_loop,
)
from suandian.sim.forecast import PERFECT_FORECAST, ForecastError, site_forecast
from suandian.sim.park import ParkSeries, simulate


def _two_hours(available_mw: list[float], clean: list[float]) -> SiteLoop:
    inputs = DispatchInputs(
        interval_h=1.0,
        load_mw=np.array([6.0, 6.0]),
        grid=Grid(import_price_cny_per_kwh=0.5, export_price_cny_per_kwh=0.1, ef_kgco2_per_kwh=0.2),
        generators=(Generator("pv", "pv", np.array(available_mw)),),
    )
    return SiteLoop(
        site="s",
        inputs=inputs,
        forecast=Forecast(),
        arrivals_mw=np.zeros(2),
        compute_arrivals_mw={},
        clean_share_pu=np.array(clean),
    )


def _op(loop: SiteLoop, **flows: list[float]) -> Operation:
    zero = [0.0, 0.0]
    a = {k: np.array(flows.get(k, zero)) for k in ("gen", "ch", "dis", "imp", "exp")}
    # A battery of 81 % round trip: 0.9 each way.
    return Operation(
        mode="coordinated",
        interval_h=1.0,
        load_mw=np.asarray(loop.inputs.load_mw),
        flex_mw=np.zeros(2),
        available_mw=loop.inputs.available_mw.sum(axis=0),
        generation_mw=a["gen"],
        charge_mw=a["ch"],
        discharge_mw=a["dis"],
        stored_in_mwh=0.9 * a["ch"],
        stored_out_mwh=a["dis"] / 0.9,
        stored_initial_mwh=0.0,
        stored_final_mwh=0.0,
        import_mw=a["imp"],
        export_mw=a["exp"],
        unserved_mw=np.zeros(2),
        compute_shortfall_mwh=np.zeros(0),
    )


def test_green_stored_at_noon_and_used_at_night_counts_as_green() -> None:
    # Hour 0: 10 MW of sun, 6 MW load, 4 MW into the battery (3.6 MWh stored).
    # Hour 1: no sun; the battery gives 3.6 × 0.9 = 3.24 MW, the grid 2.76 MW.
    # Green = (6 + 3.24) / 12 = 0.77; CFE adds half the grid's 2.76: (9.24 + 1.38) / 12 = 0.885.
    # Cost 2.76 MWh × 500 CNY/MWh = 1,380 CNY; emissions 2,760 kWh × 0.2 kg = 0.552 t.
    loop = _two_hours([10.0, 0.0], clean=[0.5, 0.5])
    op = _op(loop, gen=[10.0, 0.0], ch=[4.0, 0.0], dis=[0.0, 3.24], imp=[0.0, 2.76])
    assert_allclose(op.balance_residual_mw(), 0.0, atol=1e-12)
    f = settle(op, loop)
    assert f.green_share_pu == pytest.approx(0.77, abs=1e-12)
    assert f.cfe_pu == pytest.approx(0.885, abs=1e-12)
    assert f.cost_cny == pytest.approx(1380.0, abs=1e-9)
    assert f.emissions_tco2 == pytest.approx(0.552, abs=1e-12)
    assert f.consumption_mwh == pytest.approx(12.0, abs=1e-12)
    assert f.curtailment_mwh == pytest.approx(0.0, abs=1e-12)


def test_grid_energy_through_the_battery_stays_grid_with_its_clean_share() -> None:
    # Hour 0: no sun; the grid serves 6 MW and charges 4 MW (clean share 25 %).
    # Hour 1: the battery gives 3.24 MW of that grid energy (25 % clean), the grid 2.76 MW (50 %).
    # Green 0; CFE = (6 × 0.25 + 3.24 × 0.25 + 2.76 × 0.5) / 12 = 3.69 / 12 = 0.3075.
    loop = _two_hours([0.0, 0.0], clean=[0.25, 0.5])
    op = _op(loop, ch=[4.0, 0.0], dis=[0.0, 3.24], imp=[10.0, 2.76])
    assert_allclose(op.balance_residual_mw(), 0.0, atol=1e-12)
    f = settle(op, loop)
    assert f.green_share_pu == pytest.approx(0.0, abs=1e-12)
    assert f.cfe_pu == pytest.approx(0.3075, abs=1e-12)
    assert f.cost_cny == pytest.approx(12.76 * 500.0, abs=1e-9)
    assert f.emissions_tco2 == pytest.approx(12.76 * 0.2, abs=1e-12)


def test_deadline_shortfall_on_a_hand_case() -> None:
    # Load a: 3 MWh due in [0, 3), served 1 + 1 + 0 → 1 MWh short.
    # Load b: 2 MWh due in [1, 3), served 1 + 1 → on time.
    loads = [FlexibleLoad("a", 0, 3, 3.0, 2.0), FlexibleLoad("b", 1, 3, 2.0, 2.0)]
    plan = FlexPlan.from_pieces([0, 1], [[1.0, 1.0, 0.0], [1.0, 1.0]])
    assert_allclose(deadline_shortfall_mwh(loads, plan, 1.0), [1.0, 0.0], atol=1e-12)
    # Half-hour intervals halve the energy served: a gets 1, b gets 1.
    assert_allclose(deadline_shortfall_mwh(loads, plan, 0.5), [2.0, 1.0], atol=1e-12)


@pytest.fixture(scope="module")
def two_days(xining: Park) -> ParkSeries:
    return simulate(xining, start=dt.date(2025, 4, 10), days=2)


def test_both_runs_serve_the_same_load_and_balance(xining: Park, two_days: ParkSeries) -> None:
    loop = site_loop(xining, two_days, site="nanchuan")
    flexible_mwh = sum(f.energy_mwh for f in loop.inputs.flexible_loads)
    # What arrives is exactly what the flexible classes hold.
    assert loop.arrivals_mw.sum() * loop.inputs.interval_h == pytest.approx(flexible_mwh, rel=1e-9)
    unc, coo = operate_uncoordinated(loop), operate_coordinated(loop)
    for op in (unc, coo):
        assert_allclose(op.balance_residual_mw(), 0.0, atol=1e-9)
        assert op.unserved_mw.sum() == pytest.approx(0.0, abs=1e-9)
        assert op.flex_mw.sum() * op.interval_h == pytest.approx(flexible_mwh, rel=1e-9)
        assert op.compute_shortfall_mwh.sum() == pytest.approx(0.0, abs=1e-9)
        assert (op.generation_mw <= op.available_mw + 1e-9).all()
    fu, fc = settle(unc, loop), settle(coo, loop, reference=unc)
    assert fc.consumption_mwh == pytest.approx(fu.consumption_mwh, rel=1e-12)
    assert fc.curtailment_absorbed_mwh == pytest.approx(
        fu.curtailment_mwh - fc.curtailment_mwh, abs=1e-9
    )
    assert fu.deadline_misses_mwh == 0.0 and fc.deadline_misses_mwh == 0.0


@pytest.mark.parametrize("month", [1, 4, 7])
def test_with_perfect_forecasts_coordination_is_greener_and_cheaper(
    xining: Park, month: int
) -> None:
    # On known weather the plan is run as planned, so each window's optimum is realised. On
    # forecasts, two days can go either way (forecast errors, end effects); the year is below.
    series = simulate(xining, start=dt.date(2025, month, 10), days=2)
    loop = site_loop(xining, series, site="nanchuan", forecast_error=PERFECT_FORECAST)
    unc = settle(operate_uncoordinated(loop), loop)
    coo = settle(operate_coordinated(loop), loop)
    assert coo.green_share_pu >= unc.green_share_pu - 1e-9
    assert coo.cost_cny <= unc.cost_cny + 1e-6 * abs(unc.cost_cny)


def test_the_forecast_errs_within_physics(xining: Park, two_days: ParkSeries) -> None:
    loop = site_loop(xining, two_days, site="nanchuan", forecast_error=PERFECT_FORECAST)
    forecast = site_forecast(xining, two_days, loop.inputs, site="nanchuan")
    avail = np.asarray(forecast.available_mw)
    real = loop.inputs.available_mw
    assert avail.shape == real.shape
    assert avail.min() >= 0.0
    assert not np.allclose(avail, real)
    pv = [j for j, g in enumerate(loop.inputs.generators) if g.source == "pv"]
    night = two_days.weather["nanchuan"]["ghi_clear_w_per_m2"].to_numpy().reshape(-1, 4).max(1) == 0
    assert_allclose(avail[pv][:, night], real[pv][:, night], atol=1e-12)  # no sun, no PV error
    with pytest.raises(ValueError, match="phi"):
        ForecastError(phi_per_h=1.0)


def test_the_year_coordinated_is_greener_at_lower_cost(
    xining: Park, xining_year: ParkSeries
) -> None:
    # The demo's year (docs/closed_loop.md): hourly green share 63.0 % → 64.6 % with forecasts,
    # cost 65.2 → 55.1 MCNY. Margins below leave room for model changes, not for a reversal.
    loop = closed_loop(xining, xining_year, site="nanchuan")
    unc, coo = loop.uncoordinated, loop.coordinated
    assert coo.green_share_pu >= unc.green_share_pu + 0.01
    assert coo.cfe_pu > unc.cfe_pu
    assert coo.cost_cny <= unc.cost_cny
    assert coo.emissions_tco2 < unc.emissions_tco2
    assert coo.curtailment_absorbed_mwh > 0.0
    assert coo.deadline_misses_mwh == pytest.approx(0.0, abs=1e-6)
    assert coo.flexible_mwh == pytest.approx(unc.flexible_mwh, rel=1e-9)
