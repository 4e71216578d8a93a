"""The capacity-aware greedy baseline and run-on-arrival across sites."""

from __future__ import annotations

import numpy as np
import pytest

from suandian.compute.greedy import arrival_plan, greedy_plan
from suandian.compute.jobs import JobTable, Plan
from suandian.compute.packing import take_jobs
from suandian.compute.strategies import lwa_non_interrupting
from suandian.compute.validate import check_plan
from suandian.core.errors import InputError

from .conftest import T0, job, signal

SITES = ("a", "b")


def _steps(plan: Plan, job_id: str) -> tuple[str, list[int]]:
    mask = plan.job_id == job_id
    sites = set(plan.site[mask])
    assert len(sites) == 1
    return sites.pop(), sorted(int(s) for s in plan.step[mask])


def test_hand_checked_two_sites_six_steps() -> None:
    # Intensity a: 5 1 1 4 4 4 ; b: 3 3 3 2 2 2 ; capacity 10 MW everywhere; arrival order.
    # j1 8 MW × 2 contiguous: best mean is a[1:3] = 1 → a 1,2; free a = 10 2 2 10 10 10.
    # j2 5 MW × 2 contiguous: a can only start at 3 or 4 (mean 4); b's best is 2 from step 3
    #    (earliest of 3, 4) → b 3,4; free b = 10 10 10 5 5 10.
    # j3 6 MW × 3 interruptible: on a the steps with ≥ 6 MW are 0,3,4,5 → 3 lowest 4,4,4 mean 4;
    #    on b they are 0,1,2,5 → 2,3,3 mean 2.67 → b 0,1,5; free b = 4 4 10 5 5 4.
    # j4 9 MW × 2 contiguous on b only: only step 2 has 9 MW free → cannot be placed.
    # j5 2 MW × 1 on a only, window steps 3..5: all 4 → earliest, a 3.
    jobs = JobTable.from_jobs(
        [
            job("j1", 0, 6, 2, power_mw=8.0, sites=SITES),
            job("j2", 0, 6, 2, power_mw=5.0, sites=SITES),
            job("j3", 0, 6, 3, power_mw=6.0, interruptible=True, sites=SITES),
            job("j4", 0, 6, 2, power_mw=9.0, sites=("b",)),
            job("j5", 3, 6, 1, power_mw=2.0, sites=("a",)),
        ],
        sites=SITES,
    )
    intensity = np.array([[5, 1, 1, 4, 4, 4], [3, 3, 3, 2, 2, 2]], dtype=float)
    result = greedy_plan(
        jobs,
        sites=SITES,
        intensity_g_per_kwh=intensity,
        capacity_mw=np.full((2, 6), 10.0),
        grid_start_utc=T0,
        step_min=30,
    )
    plan = result.plan
    assert _steps(plan, "j1") == ("a", [1, 2])
    assert _steps(plan, "j2") == ("b", [3, 4])
    assert _steps(plan, "j3") == ("b", [0, 1, 5])
    assert _steps(plan, "j5") == ("a", [3])
    assert set(result.unplaced) == {"j4"}
    assert "9 MW free for 2 consecutive 30-min steps" in result.unplaced["j4"]
    placed = JobTable.from_jobs(
        [
            job("j1", 0, 6, 2, power_mw=8.0, sites=SITES),
            job("j2", 0, 6, 2, power_mw=5.0, sites=SITES),
            job("j3", 0, 6, 3, power_mw=6.0, interruptible=True, sites=SITES),
            job("j5", 3, 6, 1, power_mw=2.0, sites=("a",)),
        ],
        sites=SITES,
    )
    assert check_plan(placed, plan, site_capacity_mw={"a": 10.0, "b": 10.0}) == []


def test_random_queue_is_valid_and_within_capacity() -> None:
    rng = np.random.default_rng(3)
    n_steps, n = 96, 200
    release = rng.integers(0, 60, n)
    duration = rng.integers(1, 12, n)
    deadline = np.minimum(release + duration + rng.integers(0, 30, n), n_steps)
    duration = np.minimum(duration, deadline - release)
    allowed = rng.random((n, 3)) < 0.6
    allowed[~allowed.any(axis=1), 0] = True
    jobs = JobTable.from_arrays(
        ids=[f"j{i}" for i in range(n)],
        power_mw=rng.uniform(0.5, 4.0, n),
        duration_steps=duration,
        release_utc=[T0 + np.timedelta64(30 * int(r), "m") for r in release],
        deadline_utc=[T0 + np.timedelta64(30 * int(d), "m") for d in deadline],
        interruptible=rng.random(n) < 0.5,
        sites=("a", "b", "c"),
        allowed=allowed,
        step_min=30,
    )
    capacity = {"a": 15.0, "b": 10.0, "c": 8.0}
    result = greedy_plan(
        jobs,
        sites=("a", "b", "c"),
        intensity_g_per_kwh=rng.uniform(100, 600, (3, n_steps)),
        capacity_mw=np.array([[capacity[s]] * n_steps for s in "abc"]),
        grid_start_utc=T0,
        step_min=30,
    )
    assert 0 < len(result.unplaced) < n  # capacity binds, yet most jobs fit
    keep = np.array([str(i) not in result.unplaced for i in jobs.ids])
    subset = take_jobs(jobs, np.flatnonzero(keep))
    assert check_plan(subset, result.plan, site_capacity_mw=capacity) == []


def test_without_capacity_limits_one_site_matches_lets_wait_awhile() -> None:
    # Independent reference: with room for every job, greedy on one site is the LWA
    # non-interrupting strategy (lowest-mean window, earliest on ties).
    values = [400, 380, 200, 150, 160, 300, 320, 100, 90, 500, 450, 250]
    grid = signal(values)
    jobs = JobTable.from_jobs(
        [job("x", 0, 12, 3), job("y", 2, 9, 2), job("z", 5, 12, 4), job("w", 0, 4, 1)]
    )
    result = greedy_plan(
        jobs,
        sites=("a",),
        intensity_g_per_kwh=np.array([values], dtype=float),
        capacity_mw=np.full((1, 12), 1e6),
        grid_start_utc=T0,
        step_min=30,
    )
    assert result.unplaced == {}
    lwa = lwa_non_interrupting(jobs, grid)
    for i, job_id in enumerate(jobs.ids):
        assert _steps(result.plan, str(job_id))[1] == list(lwa.steps_of(i))


def test_arrival_plan_starts_at_release_on_the_first_allowed_site() -> None:
    jobs = JobTable.from_jobs(
        [job("x", 1, 6, 2, sites=("b",)), job("y", 0, 6, 3, sites=SITES)], sites=SITES
    )
    plan = arrival_plan(jobs, sites=SITES, grid_start_utc=T0, step_min=30)
    assert _steps(plan, "x") == ("b", [1, 2])
    assert _steps(plan, "y") == ("a", [0, 1, 2])
    assert check_plan(jobs, plan) == []


def test_jobs_outside_the_period_or_on_other_steps_are_refused() -> None:
    jobs = JobTable.from_jobs([job("late", 4, 10, 2)])
    result = greedy_plan(
        jobs,
        sites=("a",),
        intensity_g_per_kwh=np.ones((1, 6)),
        capacity_mw=np.ones((1, 6)),
        grid_start_utc=T0,
        step_min=30,
    )
    assert "outside the planning period" in result.unplaced["late"]
    with pytest.raises(InputError, match="30-min steps but the signals 60-min"):
        greedy_plan(
            jobs,
            sites=("a",),
            intensity_g_per_kwh=np.ones((1, 6)),
            capacity_mw=np.ones((1, 6)),
            grid_start_utc=T0,
            step_min=60,
        )
