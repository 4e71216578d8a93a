"""Moving a job's data between sites: hand-checked times, and every strategy waiting for them."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from suandian.compute.capacity import reachable_sites
from suandian.compute.greedy import arrival_plan, greedy_plan
from suandian.compute.jobs import Job, JobTable, Plan
from suandian.compute.planner import SiteSignals, pack_jobs, plan_capacity, plan_cost
from suandian.compute.transfer import (
    Network,
    check_transfers,
    pair_rtt_ms,
    throughput_gbps,
    transfer_h,
)
from suandian.compute.validate import check_plan
from suandian.core.errors import InputError

T0 = dt.datetime(2025, 6, 2, tzinfo=dt.UTC)
STEP = dt.timedelta(minutes=15)
SITES = ("a", "b")
ONE_GB_PER_H = 8.0 / 3600.0  # Gbit/s: one GB takes one hour
CAP = {"a": 10.0, "b": 10.0}  # MW open to jobs


def network(cny_per_gb: float = 0.0) -> Network:
    """Two sites with no latency and one GB an hour between them."""
    return Network(
        sites=SITES,
        rtt_ms=np.zeros((2, 2)),
        gbps=np.full((2, 2), ONE_GB_PER_H),
        cny_per_gb=cny_per_gb,
    )


def job(
    job_id: str,
    data_gb: float,
    *,
    window: tuple[int, int] = (0, 16),
    steps: int = 4,
    sites: tuple[str, ...] = SITES,
    data_site: str = "a",
) -> Job:
    return Job(
        id=job_id,
        tenant="t",
        power_mw=1.0,
        duration_steps=steps,
        release_utc=T0 + window[0] * STEP,
        deadline_utc=T0 + window[1] * STEP,
        allowed_sites=sites,
        data_gb=data_gb,
        data_site=data_site,
    )


def signals(
    intensity: tuple[float, float] = (500.0, 100.0),
    price: tuple[float, float] | None = None,
    net: Network | None = None,
    n_steps: int = 16,
) -> SiteSignals:
    return SiteSignals(
        sites=SITES,
        grid_start_utc=pd.Timestamp(T0),
        step_min=15,
        intensity_g_per_kwh=np.repeat(np.array(intensity)[:, None], n_steps, axis=1),
        price_cny_per_kwh=None
        if price is None
        else np.repeat(np.array(price)[:, None], n_steps, axis=1),
        network=network() if net is None else net,
    )


def placement(result_plan: Plan) -> tuple[str, int]:
    sites = set(np.asarray(result_plan.site).tolist())
    assert len(sites) == 1
    return sites.pop(), int(np.asarray(result_plan.step).min())


def test_round_trip_through_the_nearer_hub_by_hand() -> None:
    # zhangjiakou (2, 17, 28) and qingpu (16, 2, 18) ms from Beijing, Shanghai, Guangzhou:
    # via Beijing 18, via Shanghai 19, via Guangzhou 46 → 18 ms
    rtt = pair_rtt_ms([[2, 17, 28], [16, 2, 18]])
    assert rtt.tolist() == [[0.0, 18.0], [18.0, 0.0]]


def test_throughput_is_the_link_or_the_windows_in_flight() -> None:
    # 8 streams × 6 MiB over 42 ms: 8 · 6 · 8,388,608 bit / 0.042 s = 9.5869 Gbit/s
    got = throughput_gbps([0.0, 20.0, 42.0], link_gbps=10.0, streams=8, window_mib=6.0)
    assert got[0] == 10.0 and got[1] == 10.0
    assert got[2] == pytest.approx(8 * 6 * 8 * 2**20 / 0.042 / 1e9, rel=1e-12)
    assert got[2] == pytest.approx(9.5869, abs=1e-4)


def test_transfer_time_by_hand() -> None:
    # 1,000 GB at 10 Gbit/s: 8,000 Gbit / 10 = 800 s, plus the 30 ms round trip
    assert transfer_h(1000.0, 30.0, 10.0) == pytest.approx(800.03 / 3600.0, rel=1e-12)
    assert transfer_h(0.0, 30.0, 10.0) == 0.0


def test_the_planner_waits_for_the_data_at_the_cleaner_site() -> None:
    # 2.5 GB take 2.5 h = 10 steps to b; the job's window has 16 steps and it runs 4
    table = JobTable.from_jobs([job("j", 2.5)], sites=SITES)
    sig = signals()
    allowed, moves = reachable_sites(table, sig)
    assert allowed.tolist() == [[True, True]]
    assert moves.delay_steps.tolist() == [[0, 10]]
    packed = pack_jobs(table, plan_capacity(table, sig, CAP), sig, capacity_mw=CAP)
    assert placement(packed.plan) == ("b", 10)
    assert (packed.moved_jobs, packed.moved_gb) == (1, 2.5)
    assert check_plan(table, packed.plan, network=sig.network) == []


def test_data_too_slow_to_move_keep_the_job_at_home() -> None:
    # 3.5 GB need 14 steps but only 12 of slack: b is out of reach, the job stays at dirty a
    table = JobTable.from_jobs([job("j", 3.5)], sites=SITES)
    sig = signals()
    allowed, _ = reachable_sites(table, sig)
    assert allowed.tolist() == [[True, False]]
    packed = pack_jobs(table, plan_capacity(table, sig, CAP), sig, capacity_mw=CAP)
    assert placement(packed.plan)[0] == "a"
    assert packed.moved_jobs == 0


def test_the_validator_catches_a_start_before_the_data_arrive() -> None:
    table = JobTable.from_jobs([job("j", 2.5)], sites=SITES)
    early = Plan(
        job_id=np.array(["j"] * 4, dtype=object),
        site=np.array(["b"] * 4, dtype=object),
        step=np.arange(9, 13),
        grid_start_utc=pd.Timestamp(T0),
        step_min=15,
    )
    problems = check_plan(table, early, network=network())
    assert len(problems) == 1
    assert "'j' starts on 'b'" in problems[0] and "before its 2.5 GB from 'a'" in problems[0]
    on_time = Plan(early.job_id, early.site, np.arange(10, 14), early.grid_start_utc, 15)
    assert check_plan(table, on_time, network=network()) == []
    # the same start is fine at the data's own site, and without data to move
    at_home = Plan(early.job_id, np.array(["a"] * 4, dtype=object), early.step, T0, 15)
    assert check_plan(table, at_home, network=network()) == []


def test_the_move_is_priced_into_the_cost_objective() -> None:
    # b is 0.1 CNY/kWh cheaper: 1 MW × 1 h saves 100 CNY; moving 2 GB costs 2 × price
    sig_cheap = signals(price=(0.5, 0.4), net=network(cny_per_gb=40.0))  # 80 CNY < 100
    sig_dear = signals(price=(0.5, 0.4), net=network(cny_per_gb=60.0))  # 120 CNY > 100
    table = JobTable.from_jobs([job("j", 2.0)], sites=SITES)
    for sig, where in ((sig_cheap, "b"), (sig_dear, "a")):
        curves = plan_capacity(table, sig, CAP, objective="cost")
        packed = pack_jobs(table, curves, sig, capacity_mw=CAP, objective="cost")
        assert placement(packed.plan)[0] == where
        assert packed.transfer_cny == (80.0 if where == "b" else 0.0)
        # the LP leaves the move out, so it stays a lower bound
        assert (
            curves.objective_value
            <= plan_cost(table, packed.site_p_mw, sig, objective="cost")
            + packed.transfer_cny
            + 1e-6
        )


def test_a_job_its_data_cannot_reach_in_time_is_refused_and_reported() -> None:
    far = job("far", 3.5, sites=("b",))
    with pytest.raises(InputError, match=r"job 'far': its 3.5 GB at 'a' take at least 3.5 h"):
        check_transfers([far], network())
    check_transfers([job("near", 2.5, sites=("b",))], network())
    with pytest.raises(InputError, match="the scenario has no network"):
        check_transfers([far], None)
    # allowed at its data site, or no data: nothing to move, nothing to check
    check_transfers([job("home", 1e9), job("none", 0.0, sites=("b",))], None)
    table = JobTable.from_jobs([far], sites=SITES)
    sig = signals()
    packed = pack_jobs(table, np.full((2, 16), 10.0), sig, capacity_mw=CAP)
    assert "cannot reach any of its allowed sites in time" in packed.unplaced["far"]


def test_no_network_no_move() -> None:
    table = JobTable.from_jobs([job("j", 2.5)], sites=SITES)
    sig = SiteSignals(
        sites=SITES,
        grid_start_utc=pd.Timestamp(T0),
        step_min=15,
        intensity_g_per_kwh=np.full((2, 16), 100.0),
    )
    # without a network nothing moves: only the data's own site is in reach
    allowed, _ = reachable_sites(table, sig)
    assert allowed.tolist() == [[True, False]]
    packed = pack_jobs(table, np.full((2, 16), 10.0), sig, capacity_mw=CAP)
    assert placement(packed.plan)[0] == "a"
    away = JobTable.from_jobs([job("away", 2.5, sites=("b",))], sites=SITES)
    packed = pack_jobs(away, np.full((2, 16), 10.0), sig, capacity_mw=CAP)
    assert "cannot reach any of its allowed sites in time" in packed.unplaced["away"]
    # the energy level leaves out a job that can run nowhere, instead of failing for all
    both = JobTable.from_jobs([job("away", 2.5, sites=("b",)), job("ok", 0.0)], sites=SITES)
    assert plan_capacity(both, sig, CAP).status == "Optimal"
    home_only = JobTable.from_jobs([job("h", 2.5, sites=("a",))], sites=SITES)
    allowed, moves = reachable_sites(home_only, sig)
    assert allowed.tolist() == [[True, False]] and not moves.delay_steps.any()


def test_arrival_takes_a_site_the_data_reach_in_time() -> None:
    # data at a, allowed on b and c only; b is 20 steps away (past the slack), c 2 steps
    net = Network(
        sites=("a", "b", "c"),
        rtt_ms=np.zeros((3, 3)),
        gbps=np.array([[1.0, 0.1, 1.0], [1.0] * 3, [1.0] * 3]) * ONE_GB_PER_H,
        cny_per_gb=0.0,
    )
    sig = SiteSignals(
        sites=("a", "b", "c"),
        grid_start_utc=pd.Timestamp(T0),
        step_min=15,
        intensity_g_per_kwh=np.full((3, 16), 100.0),
        network=net,
    )
    table = JobTable.from_jobs([job("j", 0.5, sites=("b", "c"))], sites=("a", "b", "c"))
    delay = reachable_sites(table, sig)[1].delay_steps
    assert delay.tolist() == [[0, 20, 2]]
    grid = {"sites": ("a", "b", "c"), "grid_start_utc": pd.Timestamp(T0), "step_min": 15}
    plan = arrival_plan(table, **grid, delay_steps=delay)
    assert placement(plan) == ("c", 2)
    assert check_plan(table, plan, network=net) == []
    far = JobTable.from_jobs([job("far", 5.0, sites=("b", "c"))], sites=("a", "b", "c"))
    with pytest.raises(InputError, match=r"job 'far': its 5 GB at 'a' reach none of its"):
        arrival_plan(far, **grid, delay_steps=reachable_sites(far, sig)[1].delay_steps)


def test_a_data_site_must_be_a_known_site() -> None:
    with pytest.raises(InputError, match=r"job 'j': data_site names unknown site 'z'"):
        JobTable.from_jobs([job("j", 1.0, data_site="z")], sites=SITES)
    with pytest.raises(InputError, match=r"job 'k': data_site 'z' is not among the sites"):
        JobTable.from_arrays(
            ids=["k"],
            power_mw=1.0,
            duration_steps=1,
            release_utc=[T0],
            deadline_utc=[T0 + STEP],
            sites=SITES,
            data_site=["z"],
        )
    with pytest.raises(InputError, match=r"job 'j': data_site must be a site id"):
        job("j", 1.0, data_site=None)  # type: ignore[arg-type]


def test_the_baselines_wait_for_the_data_too() -> None:
    jobs = [job("moves", 2.5, sites=("b",)), job("home", 2.5), job("free", 2.5, data_site="")]
    table = JobTable.from_jobs(jobs, sites=SITES)
    sig = signals()
    delay = reachable_sites(table, sig)[1].delay_steps
    grid = {"sites": SITES, "grid_start_utc": pd.Timestamp(T0), "step_min": 15}
    arrival = arrival_plan(table, **grid, delay_steps=delay)
    starts = {
        j: (
            str(np.asarray(arrival.site)[np.asarray(arrival.job_id) == j][0]),
            int(np.asarray(arrival.step)[np.asarray(arrival.job_id) == j].min()),
        )
        for j in ("moves", "home", "free")
    }
    # on arrival: at its data site if allowed (no wait), else after the move
    assert starts == {"moves": ("b", 10), "home": ("a", 0), "free": ("a", 0)}
    assert check_plan(table, arrival, network=sig.network) == []
    greedy = greedy_plan(
        table,
        intensity_g_per_kwh=sig.intensity_g_per_kwh,
        capacity_mw=np.full((2, 16), 10.0),
        **grid,
        delay_steps=delay,
    )
    assert greedy.unplaced == {}
    assert check_plan(table, greedy.plan, network=sig.network) == []
    on_b = np.asarray(greedy.plan.site) == "b"
    # all three prefer clean b; the two whose data are at a start there only after the move
    assert on_b.all()
    first = {
        j: int(np.asarray(greedy.plan.step)[np.asarray(greedy.plan.job_id) == j].min())
        for j in ("moves", "home", "free")
    }
    assert first["moves"] >= 10 and first["home"] >= 10 and first["free"] == 0
