"""The national network beside the park: hand-checked settlement, the jobs, both runs."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from suandian.compute.jobs import JobTable, Plan
from suandian.compute.transfer import Network
from suandian.core.errors import InputError
from suandian.scenario import load_scenario
from suandian.sim.closed_loop import closed_loop
from suandian.sim.network_loop import (
    HOME_ONLY_SHARE,
    JOBS_PER_SITE_DAY,
    ParkOutput,
    network_jobs,
    network_loop,
    settle_network,
)
from suandian.sim.park import simulate
from suandian.sim.site_signals import SiteSignals

T0 = pd.Timestamp("2025-07-01 16:00", tz="UTC")  # 00:00 on 2 July in Shanghai
SITES = ("xining", "east")


def _signals(network: Network | None) -> SiteSignals:
    return SiteSignals(
        sites=SITES,
        index_utc=pd.date_range(T0, periods=4, freq="h"),
        intensity_g_per_kwh=np.array([[150.0] * 4, [700.0] * 4]),
        surplus_mw=np.zeros((2, 4)),
        price_cny_per_kwh=np.full((2, 4), 0.4),
        capacity_mw=np.full((2, 4), 5.0),
        network=network,
    )


def test_settlement_by_hand() -> None:
    # "a" (2 MW, data at east) runs at xining in hours 0-1; "b" (3 MW) at east in hours 2-3.
    # The park left 1 MW curtailed and 0.5 MW exported in hour 0, nothing after.
    jobs = JobTable.from_arrays(
        ids=["a", "b"],
        power_mw=[2.0, 3.0],
        duration_steps=2,
        release_utc=[T0, T0],
        deadline_utc=[T0 + pd.Timedelta(hours=4)] * 2,
        sites=SITES,
        data_gb=[100.0, 50.0],
        data_site=["east", "east"],
        step_min=60,
    )
    plan = Plan(
        job_id=np.array(["a", "a", "b", "b"], dtype=object),
        site=np.array(["xining", "xining", "east", "east"], dtype=object),
        step=np.array([0, 1, 2, 3]),
        grid_start_utc=T0,
        step_min=60,
    )
    net = Network(SITES, np.zeros((2, 2)), np.full((2, 2), 10.0), cny_per_gb=0.5)
    park = ParkOutput(
        curtailed_mw=np.array([1.0, 0, 0, 0]),
        exported_mw=np.array([0.5, 0, 0, 0]),
        export_price_cny_per_kwh=np.full(4, 0.2),
        forecast_error_mw=np.zeros(4),
    )
    clean = np.array([[0.8] * 4, [0.1] * 4])
    got = settle_network(jobs, plan, _signals(net), clean, park, unplaced={})
    # energy 2·2 + 3·2 = 10 MWh; park output used 1 + 0.5 = 1.5 MWh (all in hour 0)
    assert got.energy_mwh == pytest.approx(10.0)
    assert got.park_output_used_mwh == pytest.approx(1.5)
    assert got.curtailment_absorbed_mwh == pytest.approx(1.0)
    assert got.green_share_pu == pytest.approx(0.15)
    # grid: xining 0.5 + 2 MWh at 150 g/kWh, east 6 MWh at 700 → 0.375 + 4.2 = 4.575 t
    assert got.emissions_tco2 == pytest.approx(4.575)
    # CFE: 1.5 + 0.8 · 2.5 + 0.1 · 6 = 4.1 of 10
    assert got.cfe_pu == pytest.approx(0.41)
    # cost: 8.5 MWh grid at 400 CNY/MWh + 0.5 MWh exported at 200 + 100 GB moved at 0.5
    assert got.cost_cny == pytest.approx(8.5 * 400 + 0.5 * 200 + 50.0)
    assert (got.jobs_moved, got.data_moved_gb, got.transfer_cny) == (1, 100.0, 50.0)
    assert got.energy_by_site_mwh == {"xining": 4.0, "east": 6.0}
    assert got.capacity_overrun_mwh == 0.0
    missed = settle_network(jobs, plan, _signals(net), clean, park, unplaced={"b": "full"})
    assert (missed.jobs_missed, missed.deadline_misses_mwh) == (1, pytest.approx(6.0))


def test_the_jobs_of_a_week() -> None:
    sites = tuple(s.id for s in load_scenario("national").sites)
    jobs = network_jobs(sites, T0, 7, seed=3)
    again = network_jobs(sites, T0, 7, seed=3)
    assert list(jobs.ids) == list(again.ids)  # seeded
    n = len(jobs)
    assert abs(n - JOBS_PER_SITE_DAY * 7 * len(sites)) < 4 * np.sqrt(n) + 20
    home = jobs.allowed.sum(axis=1) == 1
    assert abs(home.mean() - HOME_ONLY_SHARE) < 0.05
    # home-only jobs may run only where their data are; the others anywhere
    col = [sites.index(s) for s in jobs.data_site]
    assert jobs.allowed[np.arange(n), col].all()
    assert (jobs.allowed.sum(axis=1)[~home] == len(sites)).all()
    release, deadline = jobs.window_steps(T0)
    assert (release >= 0).all() and (deadline <= 7 * 24).all()
    # releases favour 09:00-18:00 on the Shanghai clock (T0 is a local midnight): twice as
    # many per hour as outside it, before the jobs that would overrun the week are left out
    local = pd.DatetimeIndex(jobs.release_ns, tz="UTC").tz_convert("Asia/Shanghai").hour
    busy = ((local >= 9) & (local < 18)).sum() / 9
    quiet = ((local < 9) | (local >= 18)).sum() / 15
    assert 1.7 < busy / quiet < 2.4
    assert (deadline - release >= jobs.duration_steps).all()


def test_a_week_beside_the_park() -> None:
    start = dt.date(2025, 4, 7)
    park = load_scenario("xining")
    loop = closed_loop(park, simulate(park, start=start, days=7), site="nanchuan")
    net = network_loop(load_scenario("national"), loop, first_day=start, days=7)
    unc, coo = net.uncoordinated, net.coordinated
    # the same jobs: what the coordinated run did not place is counted as missed
    assert coo.energy_mwh + coo.deadline_misses_mwh == pytest.approx(unc.energy_mwh, rel=1e-9)
    assert unc.jobs_moved == 0 and unc.transfer_cny == 0.0
    # the plan passed the validator (capacity included); following the grid pays in carbon
    assert coo.capacity_overrun_mwh == 0.0
    assert coo.emissions_tco2 < 0.9 * unc.emissions_tco2
    assert coo.cfe_pu > unc.cfe_pu and coo.green_share_pu > unc.green_share_pu
    assert coo.jobs_moved > 0 and coo.transfer_cny == pytest.approx(0.5 * coo.data_moved_gb)
    # the park's output the jobs take is at most what the park left unused
    assert (
        coo.park_output_used_mwh
        <= float(
            (loop.runs[2].available_mw - loop.runs[2].generation_mw + loop.runs[2].export_mw).sum()
        )
        + 1e-6
    )


def test_planning_rules_are_checked() -> None:
    start = dt.date(2025, 4, 7)
    park = load_scenario("xining")
    loop = closed_loop(park, simulate(park, start=start, days=1), site="nanchuan")
    national = load_scenario("national")
    with pytest.raises(InputError, match="plan_every_h 5: give a whole number of hours"):
        network_loop(national, loop, first_day=start, days=1, plan_every_h=5)
    with pytest.raises(InputError, match=r"reserve_pu 1.0: give a share of the hall in \[0, 1\)"):
        network_loop(national, loop, first_day=start, days=1, reserve_pu=1.0)
    with pytest.raises(InputError, match="cover different hours"):
        network_loop(national, loop, first_day=start, days=2)


def test_the_reserve_holds_back_only_the_hours_not_yet_known() -> None:
    from suandian.sim.network_loop import _with_reserve

    got = _with_reserve(np.full((2, 5), 20.0), 2, 0.25)
    assert got.tolist() == [[20.0, 20.0, 15.0, 15.0, 15.0]] * 2
