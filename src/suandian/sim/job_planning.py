"""Planning the job queue onto a scenario's sites: the steps ``suandian jobs plan`` and
``POST /v1/jobs/plan`` share.

:func:`plan_queue` takes the park and every job of the queue, picks the queued and planned jobs
whose windows lie in a period of local (Asia/Shanghai) days, simulates the park over that period
(:func:`suandian.sim.site_signals.site_signals`) and places them with ``planner`` (multi-site LP
curves, then jobs packed under them), ``greedy`` (capacity-aware, lowest modelled intensity) or
``arrival`` (start at release on the first allowed site) under the capacity that running jobs,
and planned jobs it does not move, leave. It checks the plan
(:func:`suandian.compute.validate.check_plan` and that capacity per interval) and returns what
to write (:meth:`suandian.store.jobs.JobQueue.mark_planned`) and to show; it writes nothing.

The queue and the executors hold one start per job, so a job is planned as one block of steps:
an interruptible one is placed like a non-interruptible one, and what is checked is exactly what
will run.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from suandian.compute.jobs import Job, JobTable
from suandian.compute.objectives import OBJECTIVES, Objective
from suandian.core.errors import InfeasiblePlan, InputError
from suandian.core.times import LOCAL_TZ, local_date_start_utc

if TYPE_CHECKING:  # the store, the simulation and the planner load when a plan is made
    from suandian.compute.jobs import Plan
    from suandian.compute.planner import PackResult
    from suandian.scenario.model import Park
    from suandian.sim.site_signals import PlanTotals, SiteSignals
    from suandian.store.jobs import Assignment, QueuedJob

__all__ = [
    "STRATEGIES",
    "NothingToPlan",
    "QueuePlan",
    "Strategy",
    "one_step_min",
    "period_signals",
    "plan_period",
    "plan_queue",
]

Strategy = Literal["planner", "greedy", "arrival"]
STRATEGIES: tuple[Strategy, ...] = ("planner", "greedy", "arrival")
_CAPACITY_TOLERANCE_MW = 1e-9


@dataclass(frozen=True)
class NothingToPlan:
    """No queued or planned job to plan (in the period); ``note`` says which."""

    note: str


@dataclass(frozen=True)
class QueuePlan:
    """A checked plan of the queue's jobs in one period, not yet written."""

    first_day: dt.date
    """First local day of the period."""
    n_days: int
    start_utc: pd.Timestamp
    end_utc: pd.Timestamp
    """End of the period (exclusive)."""
    step_min: int
    jobs: dict[str, QueuedJob]
    """The jobs of the period by ``tenant/id``, in queue order."""
    starts: dict[str, tuple[str, dt.datetime]]
    """Site and start of every placed job, by ``tenant/id``."""
    unplaced: dict[str, str]
    """Why each job not placed stays (or goes back to) ``queued``, by ``tenant/id``."""
    held: list[QueuedJob]
    """Running or planned jobs not moved whose capacity was kept."""
    totals: dict[str, PlanTotals]
    """Energy, carbon and cost of the plan (under its strategy) and of the arrival baseline."""
    assignments: list[Assignment]
    """What :meth:`~suandian.store.jobs.JobQueue.mark_planned` writes: every site and start, and
    the unplaced jobs sent back to ``queued``."""


def plan_period(
    rows: list[QueuedJob], start: dt.date | None, days: int | None, *, max_days: int | None = None
) -> tuple[dt.date, int]:
    """The period to plan: given, or from the first release's local day to the last deadline.

    A period found from the deadlines longer than ``max_days`` is refused.
    """
    first = (
        start
        if start is not None
        else min(q.job.release_utc for q in rows).astimezone(LOCAL_TZ).date()
    )
    if days is None:
        last = max(q.job.deadline_utc for q in rows)
        span_s = (last - local_date_start_utc(first).to_pydatetime()).total_seconds()
        days = max(1, math.ceil(span_s / 86400.0))
        if max_days is not None and days > max_days:
            raise InputError(
                f"days: the queued jobs span {days} local days from {first}, more than "
                f"{max_days} in one request; give start and days (at most {max_days})"
            )
    return first, days


def one_step_min(rows: list[QueuedJob], which: str, fix: str) -> int:
    """The one ``step_min`` of ``rows``; refused, naming ``fix``, when they use several."""
    steps = {q.job.step_min for q in rows}
    if len(steps) > 1:
        raise InputError(f"{which} use different steps {sorted(steps)} min; {fix}")
    return steps.pop()


def period_signals(
    park: Park, first_day: dt.date, n_days: int, step_min: int, held: list[QueuedJob]
) -> tuple[SiteSignals, npt.NDArray[np.float64], list[QueuedJob]]:
    """The scenario simulated over the period as site signals, the capacity the ``held`` jobs
    (running, or planned and not moved) leave per site and interval [MW], and those counted."""
    from suandian.grid.site_mix import grid_mix_for
    from suandian.sim.park import simulate
    from suandian.sim.site_signals import site_signals

    series = simulate(park, start=first_day, days=n_days)
    signals = site_signals(park, series, step_min, grid_mix=grid_mix_for)
    held_mw, counted = _held_mw(held, signals)
    return signals, np.maximum(signals.capacity_mw - held_mw, 0.0), counted


def plan_queue(
    park: Park,
    everything: list[QueuedJob],
    *,
    strategy: Strategy,
    start: dt.date | None,
    days: int | None,
    scenario: str,
    max_days: int | None = None,
    last_day: dt.date | None = None,
    objective: Objective = "carbon",
    carbon_price_cny_per_t: float = 0.0,
) -> QueuePlan | NothingToPlan:
    """Plan the queued and planned jobs of ``everything`` (the whole queue) whose windows lie in
    the period onto ``park``'s sites, and check the plan (``InfeasiblePlan`` when it fails).

    ``scenario`` names the park in the reasons; ``max_days`` bounds a period found from the
    deadlines and ``last_day`` the period's end. ``objective`` (and ``carbon_price_cny_per_t``
    for ``weighted``) is the ``planner``'s; ``greedy`` and ``arrival`` have their own rules.
    """
    if objective not in OBJECTIVES:
        raise InputError(f"objective {objective!r}; use one of {', '.join(OBJECTIVES)}")
    if not (math.isfinite(carbon_price_cny_per_t) and carbon_price_cny_per_t >= 0):
        raise InputError(
            f"carbon_price_cny_per_t {carbon_price_cny_per_t}; give a price ≥ 0 CNY/tCO₂"
        )
    from suandian.compute.capacity import reachable_sites
    from suandian.compute.greedy import arrival_plan, greedy_plan
    from suandian.compute.validate import check_plan
    from suandian.sim.site_signals import plan_totals
    from suandian.store.jobs import Assignment

    rows = [q for q in everything if q.status in ("queued", "planned")]
    if not rows:
        return NothingToPlan("no queued or planned jobs to plan")
    first_day, n_days = plan_period(rows, start, days, max_days=max_days)
    if last_day is not None and first_day + dt.timedelta(days=n_days) > last_day:
        raise InputError(f"start: {first_day} + {n_days} days runs past {last_day}")
    lo = local_date_start_utc(first_day)
    hi = local_date_start_utc(first_day + dt.timedelta(days=n_days))
    inside = [q for q in rows if q.job.release_utc >= lo and q.job.deadline_utc <= hi]
    if not inside:
        return NothingToPlan(f"no queued or planned job has its window in [{lo}, {hi})")
    step_min = one_step_min(
        inside,
        "the jobs of the period",
        "plan them in separate periods or resubmit them on one step_min",
    )
    # Running jobs, and planned ones this run does not move, keep their capacity.
    moved = {(q.job.tenant, q.job.id) for q in inside}
    kept = [
        q
        for q in everything
        if q.site is not None
        and (
            q.status == "running"
            or (q.status == "planned" and (q.job.tenant, q.job.id) not in moved)
        )
    ]
    known = [s.id for s in park.sites]
    unplaced: dict[str, str] = {}
    jobs: list[Job] = []
    by_key: dict[str, QueuedJob] = {}
    for q in inside:
        key = f"{q.job.tenant}/{q.job.id}"
        by_key[key] = q
        sites = tuple(s for s in q.job.allowed_sites if s in known)
        if not sites:
            unplaced[key] = f"none of its allowed sites is a site of the {scenario} scenario"
            continue
        jobs.append(dataclasses.replace(q.job, id=key, allowed_sites=sites, interruptible=False))

    signals, capacity, held = period_signals(park, first_day, n_days, step_min, kept)
    on_grid: dict[str, Any] = {
        "sites": signals.sites,
        "grid_start_utc": signals.start_utc,
        "step_min": step_min,
    }
    plan: Plan | None = None
    placed: list[Job] = []
    if jobs:
        table = JobTable.from_jobs(jobs, sites=signals.sites)
        on_grid["delay_steps"] = reachable_sites(table, signals.for_planner())[1].delay_steps
        if strategy == "planner":
            packed = _two_level(
                table, signals, step_min, capacity, objective, carbon_price_cny_per_t
            )
            plan = packed.plan
            unplaced.update(packed.unplaced)
        elif strategy == "greedy":
            result = greedy_plan(
                table,
                intensity_g_per_kwh=signals.intensity_g_per_kwh,
                capacity_mw=capacity,
                **on_grid,
            )
            plan = result.plan
            unplaced.update(result.unplaced)
        else:
            plan = arrival_plan(table, **on_grid)
        placed = [j for j in jobs if j.id not in unplaced]
    assignments = [Assignment(by_key[k].job.tenant, by_key[k].job.id, None, None) for k in unplaced]
    totals: dict[str, PlanTotals] = {}
    starts: dict[str, tuple[str, dt.datetime]] = {}
    if plan is not None and placed:
        placed_table = JobTable.from_jobs(placed, sites=signals.sites)
        on_grid["delay_steps"] = reachable_sites(placed_table, signals.for_planner())[1].delay_steps
        problems = check_plan(placed_table, plan, network=signals.network)
        # arrival ignores capacity
        problems += _capacity_problems(plan, placed_table, signals, capacity)
        if problems:
            raise InfeasiblePlan(
                "the plan failed its check, nothing was written:\n  " + "\n  ".join(problems)
            )
        starts = _starts(plan)
        assignments += [
            Assignment(by_key[k].job.tenant, by_key[k].job.id, site, when)
            for k, (site, when) in starts.items()
        ]
        totals = {
            strategy: plan_totals(placed_table, plan, signals),
            "arrival": plan_totals(placed_table, arrival_plan(placed_table, **on_grid), signals),
        }
    return QueuePlan(
        first_day=first_day,
        n_days=n_days,
        start_utc=lo,
        end_utc=hi,
        step_min=step_min,
        jobs=by_key,
        starts=starts,
        unplaced=unplaced,
        held=held,
        totals=totals,
        assignments=assignments,
    )


def _two_level(
    table: JobTable,
    signals: SiteSignals,
    step_min: int,
    capacity_mw: npt.NDArray[np.float64],
    objective: Objective,
    carbon_price_cny_per_t: float,
) -> PackResult:
    """The multi-site planner: energy-level LP curves, then jobs packed under them.

    The on-site surplus is free green energy under every objective; slots are an hour when the
    period allows it.
    """
    from suandian.compute.planner import pack_jobs, plan_capacity

    kernel = signals.for_planner()
    per_hour = max(60 // step_min, 1)
    slot = per_hour if signals.intensity_g_per_kwh.shape[1] % per_hour == 0 else 1
    price = carbon_price_cny_per_t
    curves = plan_capacity(
        table,
        kernel,
        capacity_mw,
        slot_steps=slot,
        objective=objective,
        carbon_price_cny_per_t=price,
    )
    return pack_jobs(
        table,
        curves,
        kernel,
        capacity_mw=capacity_mw,
        objective=objective,
        carbon_price_cny_per_t=price,
    )


def _held_mw(
    held: list[QueuedJob], signals: SiteSignals
) -> tuple[npt.NDArray[np.float64], list[QueuedJob]]:
    """Power per site and interval of the jobs this plan keeps where they are (running, or
    planned outside the period) over the intervals their run covers [MW], and those jobs."""
    n_t = len(signals.index_utc)
    load = np.zeros((len(signals.sites), n_t))
    counted: list[QueuedJob] = []
    step_ns = signals.step_min * 60 * 10**9
    origin_ns = int(signals.index_utc.asi8[0])
    for q in held:
        if q.site not in signals.sites or q.start_utc is None:
            continue
        start_ns = pd.Timestamp(q.start_utc).value - origin_ns
        end_ns = start_ns + q.job.step_min * q.job.duration_steps * 60 * 10**9
        lo = max(start_ns // step_ns, 0)
        hi = min(-(-end_ns // step_ns), n_t)  # ceil: a partial interval counts
        if hi > lo:
            load[signals.sites.index(q.site), lo:hi] += q.job.power_mw
            counted.append(q)
    return load, counted


def _capacity_problems(
    plan: Plan, table: JobTable, signals: SiteSignals, capacity_mw: npt.NDArray[np.float64]
) -> list[str]:
    """Per site and interval, the jobs' power above the capacity left to them."""
    rows = pd.Index(signals.sites).get_indexer(pd.Index(np.asarray(plan.site, dtype=str)))
    power = table.power_mw[pd.Index(np.asarray(table.ids, dtype=str)).get_indexer(plan.job_id)]
    steps = np.asarray(plan.step, dtype=np.int64)
    outside = (steps < 0) | (steps >= capacity_mw.shape[1]) | (rows < 0)
    if outside.any():  # check_plan names the jobs (past their deadline, or on no site)
        return [f"{int(outside.sum())} plan row(s) fall outside the period's sites and intervals"]
    load = np.zeros(capacity_mw.shape)
    np.add.at(load, (rows, steps), power)
    over = np.argwhere(load > capacity_mw + _CAPACITY_TOLERANCE_MW)
    return [
        f"site {signals.sites[s]!r} runs {load[s, t]:.6g} MW at {signals.index_utc[t]}, over "
        f"the {capacity_mw[s, t]:.6g} MW left to this plan"
        for s, t in over[:5]
    ]


def _starts(plan: Plan) -> dict[str, tuple[str, dt.datetime]]:
    """Planned site and first step's start of every job in ``plan``."""
    frame = pd.DataFrame({"job": plan.job_id.astype(str), "site": plan.site, "step": plan.step})
    first = frame.sort_values("step").drop_duplicates("job")
    step = pd.Timedelta(minutes=plan.step_min)
    return {
        str(j): (str(site), (plan.grid_start_utc + int(k) * step).to_pydatetime())
        for j, site, k in first.itertuples(index=False)
    }
