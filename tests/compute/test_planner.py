"""The two-level multi-site planner: hand-checked toys, the LP bound, plan checks, refusals."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from suandian.compute.jobs import Job, JobTable
from suandian.compute.planner import (
    SiteSignals,
    pack_jobs,
    plan_capacity,
    plan_cost,
    take_jobs,
)
from suandian.compute.validate import check_plan
from suandian.core.errors import InfeasiblePlan

T0 = dt.datetime(2025, 6, 2, tzinfo=dt.UTC)
STEP = dt.timedelta(minutes=15)


def job(
    job_id: str,
    power_mw: float,
    steps: int,
    window: tuple[int, int],
    sites: tuple[str, ...],
    *,
    interruptible: bool = False,
) -> Job:
    return Job(
        id=job_id,
        tenant="t",
        power_mw=power_mw,
        duration_steps=steps,
        release_utc=T0 + window[0] * STEP,
        deadline_utc=T0 + window[1] * STEP,
        interruptible=interruptible,
        allowed_sites=sites,
    )


def signals(intensity: list[list[float]], sites: tuple[str, ...] = ("a", "b")) -> SiteSignals:
    return SiteSignals(
        sites=sites,
        grid_start_utc=pd.Timestamp(T0),
        step_min=15,
        intensity_g_per_kwh=np.array(intensity, dtype=np.float64),
    )


def placed_table(jobs: JobTable, unplaced: dict[str, str]) -> JobTable:
    return take_jobs(jobs, np.flatnonzero(~np.isin(jobs.ids, list(unplaced))))


def test_two_sites_four_steps_by_hand() -> None:
    # Site a: 100, 200, 300, 400 g/kWh; site b: 250 flat; 1 MW each; steps of 0.25 h.
    # j2 (1 MW, 2 steps, not interruptible, a only) and j1 (1 MW, 2 steps, interruptible,
    # a or b), both in [0, 4).
    # j2 on a at 0–1 (100 + 200) · 0.25 = 75 kg, j1 on b: 2 · 250 · 0.25 = 125 kg → 200 kg.
    # The alternative j1 on a at 0–1 (75) and j2 on a at 2–3 (175) costs 250 kg.
    # LP bound: a's two cheap steps (75) and 0.5 MWh more at b (125) = 200 kg: tight here.
    jobs = JobTable.from_jobs(
        [
            job("j1", 1.0, 2, (0, 4), ("a", "b"), interruptible=True),
            job("j2", 1.0, 2, (0, 4), ("a",)),
        ],
        sites=("a", "b"),
    )
    sig = signals([[100, 200, 300, 400], [250, 250, 250, 250]])
    cap = {"a": 1.0, "b": 1.0}
    curves = plan_capacity(jobs, sig, cap, slot_steps=1)
    assert curves.objective_value == pytest.approx(200.0, abs=1e-6)
    packed = pack_jobs(jobs, curves, sig, capacity_mw=cap)
    assert packed.unplaced == {}
    assert check_plan(jobs, packed.plan, site_capacity_mw=cap) == []
    assert plan_cost(jobs, packed.site_p_mw, sig) == pytest.approx(200.0, abs=1e-6)
    rows = pd.DataFrame({"job": packed.plan.job_id, "site": packed.plan.site})
    assert set(rows.loc[rows["job"] == "j2", "site"]) == {"a"}
    assert set(rows.loc[rows["job"] == "j1", "site"]) == {"b"}


def test_surplus_is_free_green_energy() -> None:
    # One 1-MW step to run in [0, 2) at site a (300, 100 g/kWh); 1 MW of surplus in step 0:
    # running in step 0 costs nothing, so the LP bound and the plan are both 0.
    jobs = JobTable.from_jobs([job("j", 1.0, 1, (0, 2), ("a",))], sites=("a",))
    sig = SiteSignals(
        sites=("a",),
        grid_start_utc=pd.Timestamp(T0),
        step_min=15,
        intensity_g_per_kwh=np.array([[300.0, 100.0]]),
        surplus_mw=np.array([[1.0, 0.0]]),
    )
    curves = plan_capacity(jobs, sig, {"a": 2.0}, slot_steps=1)
    assert curves.objective_value == pytest.approx(0.0, abs=1e-6)
    packed = pack_jobs(jobs, curves, sig, capacity_mw={"a": 2.0})
    assert packed.plan.step.tolist() == [0]
    assert plan_cost(jobs, packed.site_p_mw, sig) == pytest.approx(0.0, abs=1e-9)


def test_residency_is_respected_even_when_another_site_is_cleaner() -> None:
    sig = signals([[10, 10, 10, 10], [500, 100, 300, 200]])
    jobs = JobTable.from_jobs(
        [job("j", 0.5, 2, (0, 4), ("b",), interruptible=True)], sites=("a", "b")
    )
    cap = {"a": 1.0, "b": 1.0}
    packed = pack_jobs(jobs, plan_capacity(jobs, sig, cap, slot_steps=1), sig, capacity_mw=cap)
    assert set(packed.plan.site) == {"b"}
    assert sorted(packed.plan.step.tolist()) == [1, 3]
    assert check_plan(jobs, packed.plan, site_capacity_mw=cap) == []


def test_a_job_that_cannot_meet_its_deadline_is_reported() -> None:
    jobs = JobTable.from_jobs(
        [
            job("big", 2.0, 1, (0, 4), ("a",)),  # more power than the site has
            job("x1", 1.0, 4, (0, 4), ("a",)),
            job("x2", 1.0, 4, (0, 4), ("a",)),  # needs the steps x1 takes
        ],
        sites=("a",),
    )
    sig = signals([[100, 200, 300, 400]], sites=("a",))
    cap = {"a": 1.0}
    with pytest.raises(InfeasiblePlan, match="capacity"):
        plan_capacity(jobs, sig, cap, slot_steps=1)
    packed = pack_jobs(jobs, np.zeros((1, 4)), sig, capacity_mw=cap)
    assert set(packed.unplaced) == {"big", "x2"} or set(packed.unplaced) == {"big", "x1"}
    assert "exceeds the capacity" in packed.unplaced["big"]
    other = ({"x1", "x2"} & set(packed.unplaced)).pop()
    assert "taken by other jobs" in packed.unplaced[other]
    placed = placed_table(jobs, packed.unplaced)
    assert len(placed) == 1
    assert check_plan(placed, packed.plan, site_capacity_mw=cap) == []


def test_window_outside_the_horizon_is_reported() -> None:
    jobs = JobTable.from_jobs([job("late", 1.0, 2, (3, 8), ("a",))], sites=("a",))
    sig = signals([[1, 2, 3, 4]], sites=("a",))
    packed = pack_jobs(jobs, np.ones((1, 4)), sig, capacity_mw={"a": 1.0})
    assert "planning horizon" in packed.unplaced["late"]


@pytest.mark.parametrize("seed", range(12))
def test_lp_bound_never_exceeds_the_packed_plan(seed: int) -> None:
    rng = np.random.default_rng(seed)
    sites = ("a", "b", "c")
    n_t, n = 16, 12
    intensity = rng.uniform(50, 800, (len(sites), n_t // 4)).repeat(4, axis=1)
    sig = signals(intensity.tolist(), sites=sites)
    duration = rng.integers(1, 7, n)
    release = rng.integers(0, n_t - duration + 1)
    deadline = np.minimum(release + duration + rng.integers(0, 8, n), n_t)
    allowed = rng.random((n, len(sites))) < 0.6
    allowed[np.arange(n), rng.integers(0, len(sites), n)] = True
    jobs = JobTable.from_arrays(
        ids=[f"j{i}" for i in range(n)],
        power_mw=rng.uniform(0.1, 1.0, n),
        duration_steps=duration,
        release_utc=pd.DatetimeIndex([T0 + int(s) * STEP for s in release]),
        deadline_utc=pd.DatetimeIndex([T0 + int(s) * STEP for s in deadline]),
        sites=sites,
        allowed=allowed,
        interruptible=rng.random(n) < 0.5,
    )
    cap = {s: 2.5 for s in sites}
    curves = plan_capacity(jobs, sig, cap)
    packed = pack_jobs(jobs, curves, sig, capacity_mw=cap)
    placed = placed_table(jobs, packed.unplaced)
    assert check_plan(placed, packed.plan, site_capacity_mw=cap) == []
    assert (packed.site_p_mw <= 2.5 + 1e-9).all()
    # the plan's carbon recomputed from its rows
    site_row = {s: j for j, s in enumerate(sites)}
    p = placed.power_mw[[placed.row(str(j)) for j in packed.plan.job_id]]
    cost = intensity[[site_row[s] for s in packed.plan.site], packed.plan.step]
    carbon = float((p * cost).sum() * 0.25)
    assert plan_cost(jobs, packed.site_p_mw, sig) == pytest.approx(carbon, rel=1e-9)
    assert not packed.unplaced  # 2.5 MW a site leaves room for everyone
    if not packed.unplaced:
        assert curves.objective_value <= carbon * (1 + 1e-7) + 1e-6
