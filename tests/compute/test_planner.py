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
from suandian.core.errors import InfeasiblePlan, InputError

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
    # the bound from the interior point's duals is the simplex optimum
    simplex = plan_capacity(jobs, sig, cap, solver="simplex")
    assert curves.objective_value == pytest.approx(simplex.objective_value, rel=1e-7)
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


def test_a_non_interruptible_job_cannot_dodge_the_middle_of_its_window() -> None:
    # 1 MW, 4 steps, not interruptible, window [0, 6): slack 2, so whatever its start it runs
    # steps 2 and 3 (500 g/kWh). Starts 0, 1, 2 cost 0.25 · (1 + 1 + 500 + 500) = 250.5 kg, as
    # does the LP with the unavoidable steps as a lower bound (without them, steps 0, 1, 4, 5
    # would give 1 kg).
    jobs = JobTable.from_jobs([job("j", 1.0, 4, (0, 6), ("a",))], sites=("a",))
    sig = signals([[1, 1, 500, 500, 1, 1]], sites=("a",))
    curves = plan_capacity(jobs, sig, {"a": 1.0}, slot_steps=1)
    assert curves.objective_value == pytest.approx(250.5, abs=1e-6)
    packed = pack_jobs(jobs, curves, sig, capacity_mw={"a": 1.0})
    assert plan_cost(jobs, packed.site_p_mw, sig) == pytest.approx(250.5, abs=1e-9)


def test_rounding_deadlines_up_does_not_let_a_group_serve_past_its_jobs_deadlines() -> None:
    # 1 MW, 2 steps in [0, 2) at 500 g/kWh: 2 · 0.25 · 500 = 250 kg. Rounding the deadline up to
    # 4 slots widens the group to the 1-g/kWh steps 2–3, but no job of it may run there.
    jobs = JobTable.from_jobs([job("j", 1.0, 2, (0, 2), ("a",), interruptible=True)], sites=("a",))
    sig = signals([[500, 500, 1, 1]], sites=("a",))
    exact = plan_capacity(jobs, sig, {"a": 1.0}, slot_steps=1)
    rounded = plan_capacity(jobs, sig, {"a": 1.0}, slot_steps=1, deadline_bucket_slots=4)
    assert exact.objective_value == pytest.approx(250.0, abs=1e-6)
    assert rounded.objective_value == pytest.approx(250.0, abs=1e-6)


def test_repair_moves_a_placed_job_to_make_room() -> None:
    # Under a flat curve (no prices) the first pass puts "flex" (1 MW, 4 steps, a or b, no
    # slack: first in order) on a, the cleaner site, which leaves no room for "only-a" (1 MW,
    # 2 steps, a only). The repair lifts flex, places only-a on a and flex on b again:
    # carbon 4 · 0.25 · 500 + 2 · 0.25 · 100 = 550 kg.
    jobs = JobTable.from_jobs(
        [
            job("flex", 1.0, 4, (0, 4), ("a", "b")),
            job("only-a", 1.0, 2, (0, 4), ("a",), interruptible=True),
        ],
        sites=("a", "b"),
    )
    sig = signals([[100, 100, 100, 100], [500, 500, 500, 500]])
    cap = {"a": 1.0, "b": 1.0}
    packed = pack_jobs(jobs, np.ones((2, 4)), sig, capacity_mw=cap)
    assert packed.unplaced == {}
    assert packed.repaired == 1
    rows = pd.DataFrame({"job": packed.plan.job_id, "site": packed.plan.site})
    assert set(rows.loc[rows["job"] == "flex", "site"]) == {"b"}
    assert set(rows.loc[rows["job"] == "only-a", "site"]) == {"a"}
    assert check_plan(jobs, packed.plan, site_capacity_mw=cap) == []
    assert plan_cost(jobs, packed.site_p_mw, sig) == pytest.approx(550.0, abs=1e-9)


def test_a_job_that_cannot_move_is_left_in_place_and_the_newcomer_reported() -> None:
    # "fixed" (a only, no slack) holds a; "late" (a only) finds no room and nothing can move.
    jobs = JobTable.from_jobs(
        [job("fixed", 1.0, 4, (0, 4), ("a",)), job("late", 1.0, 1, (0, 4), ("a",))],
        sites=("a",),
    )
    sig = signals([[100, 100, 100, 100]], sites=("a",))
    packed = pack_jobs(jobs, np.ones((1, 4)), sig, capacity_mw={"a": 1.0})
    assert set(packed.unplaced) == {"late"}
    assert "taken by other jobs" in packed.unplaced["late"]
    assert packed.plan.step.tolist() == [0, 1, 2, 3]


def test_the_improvement_sweep_moves_a_job_to_its_cheaper_step() -> None:
    # The curve leaves step 0 empty, so the first pass avoids it and takes step 1 (300 g/kWh,
    # 75 kg); the sweep prices the true cost and moves the job to step 0 (100 g/kWh, 25 kg).
    jobs = JobTable.from_jobs([job("j", 1.0, 1, (0, 2), ("a",))], sites=("a",))
    sig = signals([[100, 300]], sites=("a",))
    curve = np.array([[0.0, 1.0]])
    first = pack_jobs(jobs, curve, sig, capacity_mw={"a": 1.0}, improve_sweeps=0)
    assert first.plan.step.tolist() == [1]
    swept = pack_jobs(jobs, curve, sig, capacity_mw={"a": 1.0})
    assert swept.plan.step.tolist() == [0]
    assert swept.improved == 1
    assert plan_cost(jobs, swept.site_p_mw, sig) == pytest.approx(25.0, abs=1e-9)


@pytest.mark.parametrize("seed", range(6))
def test_a_tight_park_packs_validly_and_the_bound_holds(seed: int) -> None:
    # 400 jobs on 3 sites over a day at 70 % of capacity: batches collide, the repair runs;
    # the plan must pass the independent check and cost no less than the LP bound.
    rng = np.random.default_rng(seed)
    sites = ("a", "b", "c")
    n_t, n = 96, 400
    intensity = rng.uniform(50, 800, (len(sites), n_t // 4)).repeat(4, axis=1)
    sig = signals(intensity.tolist(), sites=sites)
    duration = rng.integers(1, 17, n)
    release = rng.integers(0, n_t - duration + 1)
    deadline = np.minimum(release + duration + rng.integers(0, 40, n), n_t)
    allowed = rng.random((n, len(sites))) < 0.4
    allowed[np.arange(n), rng.integers(0, len(sites), n)] = True
    power = rng.uniform(0.05, 0.5, n)
    jobs = JobTable.from_arrays(
        ids=[f"j{i}" for i in range(n)],
        power_mw=power,
        duration_steps=duration,
        release_utc=pd.DatetimeIndex([T0 + int(s) * STEP for s in release]),
        deadline_utc=pd.DatetimeIndex([T0 + int(s) * STEP for s in deadline]),
        sites=sites,
        allowed=allowed,
        interruptible=rng.random(n) < 0.5,
    )
    cap_mw = float((power * duration).sum()) / (n_t * len(sites) * 0.7)
    cap = {s: cap_mw for s in sites}
    curves = plan_capacity(jobs, sig, cap, deadline_bucket_slots=6)
    packed = pack_jobs(jobs, curves, sig, capacity_mw=cap)
    placed = placed_table(jobs, packed.unplaced)
    assert check_plan(placed, packed.plan, site_capacity_mw=cap) == []
    assert (packed.site_p_mw <= cap_mw + 1e-9).all()
    assert all("capacity" in why for why in packed.unplaced.values())
    # unplaced jobs carry no carbon: bound the placed ones alone then
    bound = curves if not packed.unplaced else plan_capacity(placed, sig, cap)
    assert bound.objective_value <= plan_cost(jobs, packed.site_p_mw, sig) * (1 + 1e-7)


def test_a_job_cut_off_by_the_horizon_leaves_the_bound_to_the_others() -> None:
    # "late" needs 2 steps but only step 3 of [3, 8) lies in the 4-step horizon: no plan runs
    # it, so the LP bounds "ok" alone (1 MW, 1 step at 100 g/kWh: 25 kg) and the packer reports
    # "late".
    jobs = JobTable.from_jobs(
        [job("late", 1.0, 2, (3, 8), ("a",)), job("ok", 1.0, 1, (0, 4), ("a",))], sites=("a",)
    )
    sig = signals([[100, 200, 300, 400]], sites=("a",))
    curves = plan_capacity(jobs, sig, {"a": 1.0}, slot_steps=1)
    assert curves.objective_value == pytest.approx(25.0, abs=1e-6)
    packed = pack_jobs(jobs, curves, sig, capacity_mw={"a": 1.0})
    assert set(packed.unplaced) == {"late"} and "planning horizon" in packed.unplaced["late"]
    assert plan_cost(jobs, packed.site_p_mw, sig) == pytest.approx(25.0, abs=1e-9)


def test_green_takes_the_most_surplus_where_carbon_takes_the_cleaner_grid() -> None:
    # Site a: 500 g/kWh, 0.5 MW of surplus in steps 4-7. Site b: 100 g/kWh, no surplus. A 1 MW
    # job of 4 steps: at a in steps 4-7 half of it comes from the grid, 0.5 MW × 500 = 250 kg
    # per MWh-step, more than the 100 at b. Carbon runs it at b; green (the least grid energy)
    # at a, in the surplus.
    sig = SiteSignals(
        sites=("a", "b"),
        grid_start_utc=pd.Timestamp(T0),
        step_min=15,
        intensity_g_per_kwh=np.array([[500.0] * 16, [100.0] * 16]),
        price_cny_per_kwh=np.full((2, 16), 0.4),
        surplus_mw=np.array([[0.0] * 4 + [0.5] * 4 + [0.0] * 8, [0.0] * 16]),
    )
    jobs = JobTable.from_jobs([job("j", 1.0, 4, (0, 16), ("a", "b"))])
    where = {}
    for objective in ("carbon", "green"):
        curves = plan_capacity(jobs, sig, {"a": 5.0, "b": 5.0}, objective=objective)
        packed = pack_jobs(jobs, curves, sig, capacity_mw={"a": 5.0, "b": 5.0}, objective=objective)
        assert check_plan(jobs, packed.plan) == []
        where[objective] = (str(packed.plan.site[0]), sorted(int(k) for k in packed.plan.step))
        # the LP is a bound in the objective's own unit: MWh of grid energy for green
        cost = plan_cost(jobs, packed.site_p_mw, sig, objective=objective)
        assert curves.objective_value <= cost + 1e-6
    assert where == {"carbon": ("b", where["carbon"][1]), "green": ("a", [4, 5, 6, 7])}
    green_cost = plan_cost(
        jobs,
        np.array([[0.0] * 4 + [1.0] * 4 + [0.0] * 8, [0.0] * 16]),
        sig,
        objective="green",
    )
    assert green_cost == pytest.approx(4 * 0.5 * 0.25 * (1 + 1e-6 * 500), rel=1e-12)


def test_an_unknown_objective_is_refused() -> None:
    sig = signals([[1.0] * 4, [1.0] * 4])
    with pytest.raises(InputError, match="use one of carbon, cost, green, weighted"):
        plan_cost(
            JobTable.from_jobs([job("j", 1.0, 1, (0, 4), ("a",))]),
            np.zeros((2, 4)),
            sig,
            objective="best",
        )  # type: ignore[arg-type]
