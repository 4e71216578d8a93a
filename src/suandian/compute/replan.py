"""Re-planning what is left of a queue after a failure, a capacity change or new signals.

Given the queue (a :class:`~suandian.compute.jobs.JobTable`), the plan the jobs were placed by,
each job's state and the time now, :func:`replan_jobs` plans again the jobs that still have to
run, on the two-level planner (:func:`~suandian.compute.planner.plan_capacity` then
:func:`~suandian.compute.planner.pack_jobs`):

* ``done`` jobs are left alone;
* ``running`` jobs keep their placement, and their power is taken off the capacity in every step
  of it from the first plannable step on (a running job whose planned steps are all past is
  assumed to hold its power through the first plannable step);
* ``pending`` jobs are placed anew, and so are ``failed`` ones: from scratch, or — an
  interruptible job whose state says how many steps it had run (``done_steps``) — only the steps
  after its last checkpoint, ``duration − ⌊done / checkpoint⌋ · checkpoint``;
* nothing starts before the first plannable step, ``⌈now⌉`` on the signals' grid, and nothing
  ends after its deadline; a job whose remaining run no longer fits before its deadline, or that
  the packer cannot place, is reported in :attr:`Replan.unplaced` with the reason, never dropped.

The result is checked before it is returned, independently of the planner
(:mod:`suandian.compute.validate`): :func:`~suandian.compute.validate.check_plan` on the new rows
against the capacity the running jobs leave, and
:func:`~suandian.compute.validate.check_replan` that every job of the queue is exactly one of
finished, running, planned or unplaced. A failure raises
:class:`~suandian.core.errors.InfeasiblePlan` with the problems.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import pandas as pd

from suandian.compute.jobs import JobTable, Plan
from suandian.compute.planner import (
    Objective,
    SiteSignals,
    capacity_grid,
    pack_jobs,
    plan_capacity,
    take_jobs,
)
from suandian.compute.validate import check_plan, check_replan
from suandian.core.errors import InfeasiblePlan, InputError
from suandian.core.times import require_utc

__all__ = ["JOB_STATES", "Replan", "reduce_site_capacity", "replan_jobs"]

JOB_STATES = ("pending", "running", "done", "failed")
"""What :func:`replan_jobs` needs to know of each job."""

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

_NS_PER_MIN = 60 * 10**9
_OVERRUN_TOLERANCE_MW = 1e-9


@dataclass(frozen=True, eq=False)
class Replan:
    """A re-plan of what is left of a queue.

    Attributes
    ----------
    plan : Plan
        Rows of the jobs placed anew (pending and failed ones), on the signals' grid.
    work : JobTable
        What each placed job still has to run: its remaining ``duration_steps`` and a release no
        earlier than the first plannable step; ``check_plan(work, plan)`` holds.
    unplaced : dict
        Job id → why it can no longer be placed (deadline, capacity, horizon).
    running, finished : tuple of str
        Jobs left where they are.
    first_step : int
        First step of the signals' grid that new placements may use. [steps]
    capacity_left_mw : ndarray (sites, steps)
        Capacity after the running jobs' power, ≥ 0; what the new rows were packed under. [MW]
    overrun : list of str
        Sites and steps where running jobs alone exceed the capacity (they are not stopped).
    resumed_steps : dict
        Failed interruptible job id → run steps counted as done (at a checkpoint). [steps]
    energy_level : str
        ``"optimal"``, or why the energy-level LP was skipped and the jobs packed under the hard
        capacity alone.
    """

    plan: Plan
    work: JobTable
    unplaced: dict[str, str]
    running: tuple[str, ...]
    finished: tuple[str, ...]
    first_step: int
    capacity_left_mw: FloatArray
    overrun: list[str] = field(default_factory=list)
    resumed_steps: dict[str, int] = field(default_factory=dict)
    energy_level: str = "optimal"


def reduce_site_capacity(
    capacity_mw: Mapping[str, float] | npt.ArrayLike,
    signals: SiteSignals,
    *,
    site: str,
    from_utc: dt.datetime | pd.Timestamp,
    to_mw: float,
    until_utc: dt.datetime | pd.Timestamp | None = None,
) -> FloatArray:
    """Capacity with ``site`` cut to at most ``to_mw`` from ``from_utc`` (until ``until_utc``).

    A step is cut when it overlaps ``[from_utc, until_utc)``. Returns a (sites, steps) array.
    """
    cap = capacity_grid(capacity_mw, signals)
    if site not in signals.sites:
        raise InputError(f"site {site!r} is not among the signals' sites {list(signals.sites)}")
    if not (np.isfinite(to_mw) and to_mw >= 0):
        raise InputError(f"to_mw must be a finite number ≥ 0 MW (got {to_mw})")
    start_ns = signals.grid_start_utc.value
    step_ns = signals.step_min * _NS_PER_MIN
    lo = require_utc(from_utc, "from_utc").value
    hi = None if until_utc is None else require_utc(until_utc, "until_utc").value
    step_start = start_ns + np.arange(signals.n_steps, dtype=np.int64) * step_ns
    cut = step_start + step_ns > lo
    if hi is not None:
        cut &= step_start < hi
    s = signals.sites.index(site)
    cap[s, cut] = np.minimum(cap[s, cut], to_mw)
    return cap


def _states(states: Sequence[str] | npt.ArrayLike, jobs: JobTable) -> npt.NDArray[np.str_]:
    arr = np.asarray(states, dtype=str)
    if arr.shape != (len(jobs),):
        raise InputError(
            f"states: {arr.shape[0] if arr.ndim else 'a scalar'} value(s) for {len(jobs)} jobs; "
            "give one state per job, in the table's order"
        )
    bad = ~np.isin(arr, JOB_STATES)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputError(
            f"job {jobs.ids[i]!r}: state {str(arr[i])!r} is unknown; use one of "
            f"{', '.join(JOB_STATES)}"
        )
    return arr


def _first_step(now_utc: dt.datetime | pd.Timestamp, signals: SiteSignals) -> int:
    now_ns = require_utc(now_utc, "now_utc").value
    step_ns = signals.step_min * _NS_PER_MIN
    return max(0, -(-(now_ns - signals.grid_start_utc.value) // step_ns))


def _on_grid(plan: Plan, signals: SiteSignals) -> IntArray:
    """The plan's steps counted on the signals' grid."""
    if plan.step_min != signals.step_min:
        raise InputError(
            f"the current plan uses {plan.step_min}-min steps but the signals "
            f"{signals.step_min}-min; give both on the jobs' step"
        )
    step_ns = signals.step_min * _NS_PER_MIN
    offset_ns = pd.Timestamp(plan.grid_start_utc).value - signals.grid_start_utc.value
    if offset_ns % step_ns:
        raise InputError(
            f"the current plan's grid starts at {plan.grid_start_utc}, off the signals' "
            f"{signals.step_min}-min grid from {signals.grid_start_utc}; align the grids"
        )
    return np.asarray(plan.step, dtype=np.int64) + offset_ns // step_ns


def _running_load(
    jobs: JobTable,
    current: Plan | None,
    running: npt.NDArray[np.bool_],
    signals: SiteSignals,
    first: int,
) -> FloatArray:
    """Power of the running jobs per site and step, from ``first`` on."""
    n_s, n_t = len(signals.sites), signals.n_steps
    load = np.zeros((n_s, n_t))
    if not running.any():
        return load
    if current is None:
        raise InputError(
            f"jobs {list(jobs.ids[running][:5])} are running but no current plan is given; pass "
            "the plan they were launched from"
        )
    ids = pd.Index(np.asarray(jobs.ids, dtype=object).astype(str))
    row = ids.get_indexer(pd.Index(np.asarray(current.job_id, dtype=object).astype(str)))
    step = _on_grid(current, signals)
    site = pd.Index(list(signals.sites)).get_indexer(
        pd.Index(np.asarray(current.site, dtype=object).astype(str))
    )
    keep = row >= 0
    keep[keep] = running[row[keep]]
    unknown = keep & (site < 0)
    if unknown.any():
        i = int(np.flatnonzero(unknown)[0])
        raise InputError(
            f"job {current.job_id[i]!r} is running on site {current.site[i]!r}, which has no "
            f"signals; give signals and capacity for every site (have {list(signals.sites)})"
        )
    row, step, site = row[keep], step[keep], site[keep]
    has_rows = np.zeros(len(jobs), dtype=bool)
    has_rows[row] = True
    missing = running & ~has_rows
    if missing.any():
        raise InputError(
            f"jobs {list(jobs.ids[missing][:5])} are running but have no rows in the current "
            "plan; pass the plan they were launched from"
        )
    ahead = (step >= first) & (step < n_t)
    np.add.at(load, (site[ahead], step[ahead]), jobs.power_mw[row[ahead]])
    # Still running past its planned end: it holds its power through the first plannable step.
    last = np.full(len(jobs), -1, dtype=np.int64)
    np.maximum.at(last, row, step)
    site_of = np.full(len(jobs), -1, dtype=np.int64)
    site_of[row] = site
    overran = running & (last < first)
    if first < n_t and overran.any():
        at_first = np.full(int(overran.sum()), first, dtype=np.int64)
        np.add.at(load, (site_of[overran], at_first), jobs.power_mw[overran])
    return load


def _overrun(load: FloatArray, cap: FloatArray, signals: SiteSignals) -> list[str]:
    over = load > cap + _OVERRUN_TOLERANCE_MW
    lines = []
    for s in np.flatnonzero(over.any(axis=1)):
        steps = np.flatnonzero(over[s])
        worst = int(steps[np.argmax(load[s, steps] - cap[s, steps])])
        lines.append(
            f"site {signals.sites[s]!r}: running jobs take {load[s, worst]:.6g} MW in step "
            f"{worst}, over its capacity of {cap[s, worst]:.6g} MW ({len(steps)} step(s) over); "
            "running jobs are not stopped"
        )
    return lines


def replan_jobs(
    jobs: JobTable,
    current: Plan | None,
    states: Sequence[str] | npt.ArrayLike,
    *,
    now_utc: dt.datetime | pd.Timestamp,
    signals: SiteSignals,
    capacity_mw: Mapping[str, float] | npt.ArrayLike,
    done_steps: npt.ArrayLike | None = None,
    one_block: bool = False,
    objective: Objective = "carbon",
    carbon_price_cny_per_t: float = 0.0,
    slot_steps: int = 4,
) -> Replan:
    """Plan again the jobs of ``jobs`` that still have to run (module docstring).

    Parameters
    ----------
    jobs : JobTable
        The whole queue: every job, whatever its state.
    current : Plan or None
        The plan the jobs were placed by; needed for the running jobs' steps (None when nothing
        runs yet).
    states : sequence of str, one per job
        ``pending``, ``running``, ``done`` or ``failed``.
    now_utc : datetime
        Plan time now, tz-aware; new placements start at ``⌈now⌉`` on the signals' grid or later.
    signals : SiteSignals
        Signals as now forecast, over the horizon to plan.
    capacity_mw : mapping site → MW (or MW per step), or array (sites,) or (sites, steps)
        Capacity open to the jobs as now known, e.g. cut for a site from some time on
        (:func:`reduce_site_capacity`). [MW]
    done_steps : array of int, optional
        Run steps each job had completed when it failed; read only for failed interruptible
        jobs, which resume after their last checkpoint. Default: every failed job from scratch.
        [steps]
    one_block : bool
        Place every job as one block of consecutive steps, interruptible or not (executors
        that hold one start per job).
    objective, carbon_price_cny_per_t, slot_steps
        As for :func:`~suandian.compute.planner.plan_capacity`.

    Raises
    ------
    InputError
        On bad states, a running job without rows in ``current``, mismatched grids.
    InfeasiblePlan
        If the result fails its independent check (a planner bug, not a full site).
    """
    state = _states(states, jobs)
    if jobs.step_min != signals.step_min:
        raise InputError(
            f"jobs use {jobs.step_min}-min steps but the signals {signals.step_min}-min; "
            "resample the signals to the jobs' step"
        )
    n = len(jobs)
    first = _first_step(now_utc, signals)
    cap = capacity_grid(capacity_mw, signals)
    running = state == "running"
    load = _running_load(jobs, current, running, signals, first)
    overrun = _overrun(load, cap, signals)
    left = np.maximum(cap - load, 0.0)
    left[:, :first] = 0.0  # the past is not plannable

    todo = (state == "pending") | (state == "failed")
    remaining = jobs.duration_steps.copy()
    resumed: dict[str, int] = {}
    if done_steps is not None:
        done = np.broadcast_to(np.asarray(done_steps, dtype=np.int64), (n,))
        resumable = (state == "failed") & jobs.interruptible & (done > 0)
        bad = resumable & (done >= jobs.duration_steps)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise InputError(
                f"job {jobs.ids[i]!r}: done_steps {int(done[i])} ≥ its duration_steps "
                f"{int(jobs.duration_steps[i])}; a job that ran all its steps is done, not failed"
            )
        kept = done // jobs.checkpoint_steps * jobs.checkpoint_steps
        remaining = np.where(resumable, jobs.duration_steps - kept, remaining)
        for r in np.flatnonzero(resumable & (kept > 0)):
            i = int(r)
            resumed[str(jobs.ids[i])] = int(kept[i])

    step_ns = signals.step_min * _NS_PER_MIN
    first_ns = signals.grid_start_utc.value + first * step_ns
    release_ns = np.maximum(jobs.release_ns, first_ns)
    window = (jobs.deadline_ns - release_ns) // step_ns
    late = todo & (window < remaining)
    unplaced: dict[str, str] = {}
    for r in np.flatnonzero(late):
        i = int(r)
        unplaced[str(jobs.ids[i])] = (
            f"it can no longer meet its deadline: {max(int(window[i]), 0)} step(s) from "
            f"{pd.Timestamp(int(release_ns[i]), tz='UTC')} to its deadline_utc "
            f"{pd.Timestamp(int(jobs.deadline_ns[i]), tz='UTC')} but {int(remaining[i])} to run"
        )

    rows = np.flatnonzero(todo & ~late)
    work = dataclasses.replace(
        take_jobs(jobs, rows),
        duration_steps=remaining[rows],
        release_ns=release_ns[rows],
        interruptible=np.zeros(len(rows), dtype=bool) if one_block else jobs.interruptible[rows],
        _row={},
    )
    energy_level = "optimal"
    if len(rows):
        try:
            curves: object = plan_capacity(
                work,
                signals,
                left,
                objective=objective,
                carbon_price_cny_per_t=carbon_price_cny_per_t,
                slot_steps=slot_steps,
            )
        except InfeasiblePlan as exc:
            # The jobs cannot all fit: pack them under the hard capacity and report the rest.
            energy_level = f"skipped: {exc}"
            curves = left
        packed = pack_jobs(
            work,
            curves,  # type: ignore[arg-type]
            signals,
            capacity_mw=left,
            objective=objective,
            carbon_price_cny_per_t=carbon_price_cny_per_t,
        )
        plan = packed.plan
        unplaced.update(packed.unplaced)
        placed_rows = np.flatnonzero(~np.isin(work.ids.astype(str), list(packed.unplaced)))
        work = dataclasses.replace(take_jobs(work, placed_rows), _row={})
    else:
        plan = Plan(
            job_id=np.zeros(0, dtype=object),
            site=np.zeros(0, dtype=object),
            step=np.zeros(0, dtype=np.int64),
            grid_start_utc=signals.grid_start_utc,
            step_min=signals.step_min,
        )

    result = Replan(
        plan=plan,
        work=work,
        unplaced=unplaced,
        running=tuple(str(j) for j in jobs.ids[running]),
        finished=tuple(str(j) for j in jobs.ids[state == "done"]),
        first_step=first,
        capacity_left_mw=left,
        overrun=overrun,
        resumed_steps=resumed,
        energy_level=energy_level,
    )
    problems = check_replan(
        jobs.ids.astype(str),
        finished=result.finished,
        running=result.running,
        planned=plan,
        unplaced=unplaced,
    )
    if len(work):
        problems += check_plan(
            work,
            plan,
            site_capacity_mw=dict(zip(signals.sites, left, strict=True)),
            network=signals.network,
        )
    if problems:
        raise InfeasiblePlan(
            "the re-plan failed its independent check:\n  " + "\n  ".join(problems)
        )
    return result
