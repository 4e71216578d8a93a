"""Keep a running :class:`~suandian.executors.ray_executor.RayExecutor` on a plan of what is left.

:class:`Replanner` plans a queue (:func:`suandian.compute.replan.replan_jobs`), hands the plan to
a :class:`RayExecutor` and drives the executor's loop. It plans again, and swaps the new plan in
with :meth:`RayExecutor.replan`, whenever

* a job fails (seen when the executor takes in its outcome),
* the capacity changes (:meth:`Replanner.set_capacity`, e.g. a site cut from some time on), or
* the signals change (:meth:`Replanner.set_signals`, a new forecast),
* jobs are cancelled (:meth:`Replanner.cancel`): one not yet launched is dropped and never
  launched, a running one is stopped, a done one stays done; reason ``cancelled: <ids>``, or
* jobs are submitted (:meth:`Replanner.submit`): planned with the others, reason
  ``new submission``.

Every re-plan covers the pending and failed jobs and leaves running and finished ones where they
are; the kernel checks that every job is exactly one of finished, running, planned or
unplaceable. A job the new plan cannot place is cancelled in the executor and reported in
:attr:`Replanner.unplaced` with the reason; a later re-plan that finds room for it launches it
after all.

Each job's changes can be followed with ``on_change`` (a :class:`JobChange` per change: planned,
running, done, failed, unplaced, cancelled); :class:`QueueRecorder` writes them into the job queue
of :mod:`suandian.store.jobs`, so the queue shows what runs, and :class:`QueueWatcher`, passed as
``watch``, reads the queue at each step (at most every ``every_s``) and hands cancellations and
new submissions to the re-planner.

The re-planner calls :meth:`RayExecutor.poll` itself, so no job is launched between the
snapshot of the states a re-plan starts from and the swap: do not run the executor's own loop
(:meth:`RayExecutor.run`) beside it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from suandian.compute.jobs import Job, JobTable
from suandian.compute.jobs import Plan as StepPlan
from suandian.compute.planner import Objective, SiteSignals, capacity_grid, take_jobs
from suandian.compute.replan import Replan, replan_jobs
from suandian.core.errors import ExecutorError, InputError
from suandian.executors.plan import Command, Plan, PlannedJob
from suandian.executors.ray_executor import (
    Clock,
    JobFunction,
    JobState,
    Launcher,
    RayExecutor,
)

if TYPE_CHECKING:
    from suandian.store.jobs import JobQueue, QueuedJob

__all__ = [
    "JobChange",
    "JobCommand",
    "Placement",
    "QueueRecorder",
    "QueueWatcher",
    "ReplanEvent",
    "Replanner",
    "SiteCommand",
]

_NS_PER_MIN = 60 * 10**9
_KERNEL_STATE = {
    JobState.PENDING: "pending",
    JobState.RUNNING: "running",
    JobState.DONE: "done",
    JobState.FAILED: "failed",
}


def _on_sites(table: JobTable, sites: tuple[str, ...]) -> JobTable:
    """``table`` with its ``allowed`` matrix over ``sites`` (a superset of its own)."""
    if table.sites == sites:
        return table
    allowed = np.zeros((len(table), len(sites)), dtype=bool)
    for k, site in enumerate(table.sites):
        allowed[:, sites.index(site)] = table.allowed[:, k]
    return dataclasses.replace(table, sites=sites, allowed=allowed, _row={})


def _concat(a: JobTable, b: JobTable) -> JobTable:
    """The rows of ``a`` then ``b``, on the sites of ``b`` (which hold those of ``a``)."""
    a = _on_sites(a, b.sites)

    def cat(name: str) -> Any:
        return np.concatenate([getattr(a, name), getattr(b, name)])

    return JobTable(
        ids=cat("ids"),
        tenants=cat("tenants"),
        power_mw=cat("power_mw"),
        duration_steps=cat("duration_steps"),
        release_ns=cat("release_ns"),
        deadline_ns=cat("deadline_ns"),
        interruptible=cat("interruptible"),
        checkpoint_steps=cat("checkpoint_steps"),
        sites=a.sites,
        allowed=cat("allowed"),
        data_gb=cat("data_gb"),
        data_site=cat("data_site"),
        priority=cat("priority"),
        step_min=a.step_min,
    )


@dataclass(frozen=True)
class Placement:
    """Where and when the executor runs (or ran) a job: one block of steps."""

    site: str
    start_utc: dt.datetime
    steps: int
    """Steps of the block. [steps]"""
    step_min: int

    @property
    def end_utc(self) -> dt.datetime:
        return self.start_utc + dt.timedelta(minutes=self.step_min * self.steps)


@dataclass(frozen=True)
class ReplanEvent:
    """One plan handed to the executor."""

    version: int
    reason: str
    """``start``, ``failed: <ids>``, ``cancelled: <ids>``, ``new submission``, ``capacity`` or
    ``signals`` (joined when several)."""
    now_utc: dt.datetime
    """Plan time the re-plan was computed for (clock time + lead)."""
    result: Replan | None
    """The kernel's re-plan; None for a first plan handed in (``Replanner(plan=...)``)."""
    plan: Plan
    cancelled: tuple[str, ...]
    """Jobs taken out of the executor because the new plan cannot place them."""


ChangeKind = Literal["planned", "running", "done", "failed", "unplaced", "cancelled"]


@dataclass(frozen=True)
class JobChange:
    """One change of one job, as :class:`Replanner` reports it to ``on_change``.

    Per job the changes come in the order they happen: ``planned`` (with the placement; again
    whenever a re-plan moves it), ``running`` at each launch, then ``done`` or ``failed`` (with
    the error); a failed job is ``planned`` again by the re-plan that follows, or
    ``unplaced`` (with the reason) when no re-plan can place it. ``cancelled`` (reason
    ``before launch`` or ``while running``) is the last change of a withdrawn job.
    """

    job_id: str
    tenant: str
    kind: ChangeKind
    job: PlannedJob | None = None
    """The placement, for ``planned``."""
    reason: str | None = None
    """The error for ``failed``; why for ``unplaced``."""


SiteCommand = Callable[[str], Command]
"""A job's command for the site it is planned at."""
JobCommand = Command | SiteCommand
"""What a job runs: one command wherever it runs, or one per site."""


def _at_site(command: JobCommand, site: str) -> Command:
    return command(site) if callable(command) else command


class Replanner:
    """Plans a queue, launches it on a :class:`RayExecutor` and re-plans on every change.

    Parameters
    ----------
    jobs : JobTable
        The queue, every job once.
    signals : SiteSignals
        Signals over the horizon, on the jobs' step.
    capacity_mw : mapping site → MW (or MW per step), or array (sites,) or (sites, steps)
        Capacity open to the jobs. [MW]
    clock : Clock
        Plan time (:class:`~suandian.executors.ray_executor.SimClock` for accelerated runs).
    command : JobCommand or mapping job id → JobCommand
        What each job runs: one for all, or one per job. A :data:`SiteCommand` is called with
        the site a plan gives the job, each time it is planned, so a job re-placed on another
        site runs that site's command.
    functions, launcher
        Passed to :class:`RayExecutor`.
    lead : timedelta
        Plan time between a re-plan's snapshot and the first start it may place, so that the
        plan is in the executor before its first start is due. Default 0.
    objective, carbon_price_cny_per_t, slot_steps
        Passed to :func:`~suandian.compute.replan.replan_jobs`.
    poll_s : float
        Wall seconds between two polls in :meth:`run`. Default 0.02.
    plan : Plan, optional
        A first plan to launch as it is (e.g. the job queue's) instead of planning afresh:
        every job of ``jobs`` once, each as one block on the signals' grid at an allowed site.
        Re-plans start from it.
    on_change : callable, optional
        Called with a :class:`JobChange` for each change of a job, from :meth:`step` (and from
        the constructor for the first plan); e.g. a :class:`QueueRecorder`.
    watch : callable, optional
        Called with the re-planner at the start of each :meth:`step`, before the executor
        launches anything; it may call :meth:`cancel` and :meth:`submit`. E.g. a
        :class:`QueueWatcher`.
    """

    def __init__(
        self,
        jobs: JobTable,
        *,
        signals: SiteSignals,
        capacity_mw: Mapping[str, float] | npt.ArrayLike,
        clock: Clock,
        command: JobCommand | Mapping[str, JobCommand],
        functions: Mapping[str, JobFunction] | None = None,
        launcher: Launcher | None = None,
        lead: dt.timedelta = dt.timedelta(0),
        objective: Objective = "carbon",
        carbon_price_cny_per_t: float = 0.0,
        slot_steps: int = 4,
        poll_s: float = 0.02,
        on_change: Callable[[JobChange], None] | None = None,
        plan: Plan | None = None,
        watch: Callable[[Replanner], None] | None = None,
    ) -> None:
        if lead < dt.timedelta(0):
            raise InputError(f"lead must be ≥ 0 (got {lead}); it is plan time ahead of now")
        self._jobs = jobs
        self._ids = [str(j) for j in jobs.ids]
        self._commands = self._command_map(command)
        self._signals = signals
        self._capacity = capacity_grid(capacity_mw, signals)
        self._clock = clock
        self._lead = lead
        self._objective: Objective = objective
        self._carbon_price = carbon_price_cny_per_t
        self._slot_steps = slot_steps
        self._poll_s = poll_s
        self._placement: dict[str, Placement] = {}
        self._handled_failure: dict[str, int] = {}
        self._progress: dict[str, int] = {}
        self._dirty: list[str] = []
        self._on_change = on_change
        self._watch = watch
        self.cancelled: dict[str, str] = {}
        """Withdrawn job id → ``before launch`` or ``while running``."""
        self.submitted: list[str] = []
        """Jobs taken in by :meth:`submit`, in order."""
        self._told: dict[str, tuple[str, object]] = {}
        """Job id → the last change reported: kind and placement (or launches)."""
        self._tenant = {j: str(jobs.tenants[jobs.row(j)]) for j in self._ids}
        self.unplaced: dict[str, str] = {}
        """Job id → why the latest plan could not place it."""
        self.history: list[ReplanEvent] = []
        """Every plan handed to the executor, the first one included."""
        result: Replan | None = None
        if plan is None:
            result, plan = self._plan(dict.fromkeys(self._ids, "pending"), version=0)
        else:
            self._check_given(plan)
        self.executor = RayExecutor(
            plan, clock=clock, functions=functions, launcher=launcher, poll_s=poll_s
        )
        self._adopt("start", result, plan, cancelled=())

    # --- inputs ----------------------------------------------------------------------------------

    def _command_map(self, command: JobCommand | Mapping[str, JobCommand]) -> dict[str, JobCommand]:
        if isinstance(command, Mapping):
            missing = [j for j in self._ids if j not in command]
            if missing:
                raise InputError(
                    f"command: no command for job(s) {missing[:5]}; give one per job, or one "
                    "command for all"
                )
            return {j: command[j] for j in self._ids}
        return dict.fromkeys(self._ids, command)

    def set_capacity(self, capacity_mw: Mapping[str, float] | npt.ArrayLike) -> None:
        """New capacity (e.g. a site cut from some time on); the next :meth:`step` re-plans."""
        self._capacity = capacity_grid(capacity_mw, self._signals)
        self._dirty.append("capacity")

    def set_signals(
        self,
        signals: SiteSignals,
        *,
        capacity_mw: Mapping[str, float] | npt.ArrayLike | None = None,
    ) -> None:
        """A new forecast; the next :meth:`step` re-plans.

        Give ``capacity_mw`` too when the new signals cover other sites or steps.
        """
        if capacity_mw is None:
            if self._capacity.shape != (len(signals.sites), signals.n_steps) or tuple(
                signals.sites
            ) != tuple(self._signals.sites):
                raise InputError(
                    "the new signals cover other sites or steps than the capacity; pass "
                    "capacity_mw for them too"
                )
            capacity = self._capacity
        else:
            capacity = capacity_grid(capacity_mw, signals)
        self._signals, self._capacity = signals, capacity
        self._dirty.append("signals")

    def note_progress(self, job_id: str, done_steps: int) -> None:
        """Record how many run steps ``job_id`` has completed, of its whole run. [steps]

        If the job then fails and is interruptible, it resumes after its last checkpoint.
        """
        if job_id not in self._commands:
            raise InputError(f"job {job_id!r} is not in the queue")
        if isinstance(done_steps, bool) or done_steps < 0:
            raise InputError(f"job {job_id!r}: done_steps must be a whole number ≥ 0")
        self._progress[job_id] = int(done_steps)

    @property
    def job_ids(self) -> tuple[str, ...]:
        """The jobs the re-planner holds (not the cancelled ones)."""
        return tuple(self._ids)

    def tenant(self, job_id: str) -> str:
        """Tenant of a job the re-planner holds or held."""
        return self._tenant[job_id]

    def knows(self, job_id: str) -> bool:
        """Whether ``job_id`` is, or was (cancelled), one of the re-planner's jobs."""
        return job_id in self._commands or job_id in self.cancelled

    def cancel(self, job_ids: Sequence[str]) -> list[str]:
        """Withdraw jobs; the next :meth:`step` re-plans what is left without them.

        A job not yet launched (or failed and waiting for its re-plan) is never launched; a
        running one is stopped; each is reported ``cancelled`` and leaves the queue the
        re-planner plans. A done job stays done. Returns the jobs withdrawn; ids already
        withdrawn are skipped, unknown ones raise :class:`InputError`.
        """
        unknown = sorted({j for j in job_ids if not self.knows(j)})
        if unknown:
            raise InputError(f"cannot cancel jobs {unknown[:5]}: not in the re-planner's queue")
        todo = [j for j in dict.fromkeys(job_ids) if j not in self.cancelled]
        held = self.executor.records
        before = self.executor.cancel([j for j in todo if j in held])
        gone = [j for j in todo if before.get(j) is not JobState.DONE]
        if not gone:
            return []
        for j in gone:
            self.cancelled[j] = (
                "while running" if before.get(j) is JobState.RUNNING else "before launch"
            )
            self._placement.pop(j, None)
            self.unplaced.pop(j, None)
            self._progress.pop(j, None)
            self._handled_failure.pop(j, None)
        keep = [i for i, j in enumerate(self._ids) if j not in self.cancelled]
        self._jobs = dataclasses.replace(take_jobs(self._jobs, keep), _row={})
        self._ids = [self._ids[i] for i in keep]
        for j in gone:
            self._tell(j, "cancelled", reason=self.cancelled[j], key=self.cancelled[j])
        self._dirty.append(f"cancelled: {', '.join(sorted(gone))}")
        return gone

    def submit(
        self, jobs: Sequence[Job], *, command: JobCommand | Mapping[str, JobCommand]
    ) -> None:
        """Take in new jobs; the next :meth:`step` plans them with the rest (``new submission``).

        The jobs must be new to the re-planner, on its step and allowed at some of its sites
        (their other sites are not offered); ``command`` is one for all or one per job.
        """
        if not jobs:
            return
        ids = [j.id for j in jobs]
        taken = sorted({j for j in ids if self.knows(j)} | {j for j in ids if ids.count(j) > 1})
        if taken:
            raise InputError(
                f"jobs {taken[:5]} are already in the re-planner (or given twice); job ids are "
                "unique in a run"
            )
        sites = self._signals.sites
        nowhere = sorted(j.id for j in jobs if not set(j.allowed_sites) & set(sites))
        if nowhere:
            raise InputError(
                f"jobs {nowhere[:5]} may run at none of the sites {list(sites)}; they cannot "
                "join this run"
            )
        placeable = [
            dataclasses.replace(j, allowed_sites=tuple(s for s in j.allowed_sites if s in sites))
            for j in jobs
        ]
        new = JobTable.from_jobs(placeable, sites=tuple(sites))
        if new.step_min != self._jobs.step_min:
            raise InputError(
                f"jobs {ids[:5]} use {new.step_min}-min steps, the run {self._jobs.step_min}-min; "
                "plan them in a run of their own"
            )
        if isinstance(command, Mapping):
            missing = [j for j in ids if j not in command]
            if missing:
                raise InputError(f"command: no command for job(s) {missing[:5]}")
            commands = {j: command[j] for j in ids}
        else:
            commands = dict.fromkeys(ids, command)
        self._jobs = _concat(self._jobs, new)
        self._ids += ids
        self._commands |= commands
        self._tenant |= {j.id: j.tenant for j in jobs}
        self.submitted += ids
        self._dirty.append("new submission")

    # --- planning --------------------------------------------------------------------------------

    def current_plan(self) -> StepPlan:
        """The placement the executor holds for every job, as plan rows on the signals' grid."""
        sig = self._signals
        step_ns = sig.step_min * _NS_PER_MIN
        ids, sites, steps = [], [], []
        for job_id, p in self._placement.items():
            start = (pd.Timestamp(p.start_utc).value - sig.grid_start_utc.value) // step_ns
            ids += [job_id] * p.steps
            sites += [p.site] * p.steps
            steps.append(np.arange(start, start + p.steps, dtype=np.int64))
        return StepPlan(
            job_id=np.array(ids, dtype=object),
            site=np.array(sites, dtype=object),
            step=np.concatenate(steps) if steps else np.zeros(0, dtype=np.int64),
            grid_start_utc=sig.grid_start_utc,
            step_min=sig.step_min,
        )

    @property
    def placements(self) -> dict[str, Placement]:
        """The placement of every job the executor holds, by job id."""
        return dict(self._placement)

    def _plan(self, states: Mapping[str, str], *, version: int) -> tuple[Replan, Plan]:
        now = self._clock.now_utc() + self._lead
        done = [self._progress.get(j, 0) if states[j] == "failed" else 0 for j in self._ids]
        result = replan_jobs(
            self._jobs,
            self.current_plan(),
            [states[j] for j in self._ids],
            now_utc=now,
            signals=self._signals,
            capacity_mw=self._capacity,
            done_steps=done,
            one_block=True,
            objective=self._objective,
            carbon_price_cny_per_t=self._carbon_price,
            slot_steps=self._slot_steps,
        )
        sig = self._signals
        first: dict[str, tuple[str, int]] = {}  # job → (site, first step)
        rows = zip(result.plan.job_id, result.plan.site, result.plan.step, strict=True)
        for job_id, site, k in sorted(rows, key=lambda r: -int(r[2])):
            first[str(job_id)] = (str(site), int(k))
        step = dt.timedelta(minutes=sig.step_min)
        start_of = sig.grid_start_utc.to_pydatetime()
        jobs = self._jobs
        planned = []
        for i, (job_id, k) in enumerate(
            zip(result.work.ids, result.work.duration_steps, strict=True)
        ):
            row = jobs.row(str(job_id))
            site, s0 = first[str(job_id)]
            planned.append(
                PlannedJob(
                    job_id=str(job_id),
                    tenant=str(jobs.tenants[row]) or "-",
                    site=site,
                    start_utc=start_of + s0 * step,
                    duration=int(k) * step,
                    power_mw=float(result.work.power_mw[i]),
                    command=_at_site(self._commands[str(job_id)], site),
                    interruptible=bool(jobs.interruptible[row]),
                    priority=int(jobs.priority[row]),
                )
            )
        plan = Plan.of(planned, created_utc=self._clock.now_utc(), version=version)
        return result, plan

    def _check_given(self, plan: Plan) -> None:
        """Refuse a first plan that the re-plans could not start from."""
        missing = sorted(set(self._ids) - set(plan.job_ids))
        extra = sorted(set(plan.job_ids) - set(self._ids))
        if missing or extra:
            raise InputError(
                f"plan: jobs {missing[:5]} of the queue are not in it and jobs {extra[:5]} in "
                "it are not in the queue; give a plan of exactly the queue's jobs"
            )
        sig = self._signals
        step = dt.timedelta(minutes=sig.step_min)
        origin = sig.grid_start_utc.to_pydatetime()
        end = origin + sig.n_steps * step
        for job in plan.jobs:
            row = self._jobs.row(job.job_id)
            where = f"plan: job {job.job_id!r}"
            sites = self._jobs.sites
            if job.site not in sites or not self._jobs.allowed[row, sites.index(job.site)]:
                raise InputError(f"{where}: site {job.site!r} is not among its allowed sites")
            n = int(self._jobs.duration_steps[row])
            if (job.start_utc - origin) % step or job.duration != n * step:
                raise InputError(
                    f"{where}: start {job.start_utc.isoformat()} and duration {job.duration} "
                    f"are not one block of its {n} steps of "
                    f"{sig.step_min} min on the signals' grid from {origin.isoformat()}"
                )
            if job.start_utc < origin or job.end_utc > end:
                raise InputError(
                    f"{where}: runs {job.start_utc.isoformat()}–{job.end_utc.isoformat()}, "
                    f"outside the signals' horizon {origin.isoformat()}–{end.isoformat()}; "
                    "give signals that cover it"
                )

    def _adopt(
        self, reason: str, result: Replan | None, plan: Plan, *, cancelled: tuple[str, ...]
    ) -> None:
        for job in plan.jobs:
            self._placement[job.job_id] = Placement(
                job.site,
                job.start_utc,
                round(job.duration / dt.timedelta(minutes=self._signals.step_min)),
                self._signals.step_min,
            )
        self.unplaced = {} if result is None else dict(result.unplaced)
        for job in plan.jobs:
            self._tell(job.job_id, "planned", job, key=(job.site, job.start_utc, job.duration))
        for job_id, why in self.unplaced.items():
            self._tell(job_id, "unplaced", reason=why, key=why)
        self.history.append(
            ReplanEvent(
                plan.version, reason, self._clock.now_utc() + self._lead, result, plan, cancelled
            )
        )

    def _tell(
        self,
        job_id: str,
        kind: ChangeKind,
        job: PlannedJob | None = None,
        *,
        reason: str | None = None,
        key: object = None,
    ) -> None:
        """Report a change once (a re-plan that leaves a job where it was reports nothing)."""
        if self._on_change is None or self._told.get(job_id) == (kind, key):
            return
        self._told[job_id] = (kind, key)
        self._on_change(JobChange(job_id, self._tenant[job_id], kind, job, reason))

    def _tell_outcomes(self) -> None:
        """Report the launches and outcomes the last poll took in."""
        if self._on_change is None:
            return
        for job_id, rec in self.executor.records.items():
            if rec.state in (JobState.PENDING, JobState.CANCELLED):
                continue  # not launched, or already reported and handed back to a re-plan
            told = self._told.get(job_id)
            if told is None or told[0] in ("planned", "unplaced") or told[1] != rec.launches:
                self._tell(job_id, "running", key=rec.launches)
            if rec.state is JobState.DONE:
                self._tell(job_id, "done", key=rec.launches)
            elif rec.state is JobState.FAILED:
                self._tell(job_id, "failed", reason=rec.error, key=rec.launches)

    def _kernel_states(self) -> dict[str, str]:
        records = self.executor.records
        out = {}
        for j in self._ids:
            rec = records.get(j)
            if rec is None:
                out[j] = "pending"
            elif rec.state is JobState.CANCELLED:
                # Cancelled here only for want of room: it still has to run.
                out[j] = "failed" if rec.launches else "pending"
            else:
                out[j] = _KERNEL_STATE[rec.state]
        return out

    def replan(self, reason: str) -> ReplanEvent:
        """Plan what is left now and swap it into the executor."""
        held, gone = set(self._ids), set(self.cancelled)
        stray = sorted(set(self.executor.records) - held - gone)
        if stray or held & gone or len(held) != len(self._ids):
            raise ExecutorError(
                f"re-plan {reason!r}: jobs {stray[:5]} in the executor are neither held nor "
                f"cancelled, or jobs {sorted(held & gone)[:5]} are both; a re-planner bug"
            )
        states = self._kernel_states()
        version = self.executor.plan.version + 1
        result, plan = self._plan(states, version=version)
        records = self.executor.records
        cancel = tuple(
            j
            for j in result.unplaced
            if j in records and records[j].state in (JobState.PENDING, JobState.FAILED)
        )
        self.executor.replan(plan, cancel=cancel)
        after = self.executor.records
        raced = [j.job_id for j in plan.jobs if after[j.job_id].state is not JobState.PENDING]
        if raced:
            raise ExecutorError(
                f"jobs {raced} were launched while re-plan {version} was computed; let the "
                "re-planner drive the executor (do not call RayExecutor.run beside it)"
            )
        for j, s in states.items():
            if s == "failed":
                self._handled_failure[j] = records[j].launches
        self._adopt(reason, result, plan, cancelled=cancel)
        return self.history[-1]

    # --- loop ------------------------------------------------------------------------------------

    def step(self) -> dict[str, JobState]:
        """Follow the ``watch``, launch what is due, take in outcomes, re-plan if anything changed.

        Cancellations and submissions that the ``watch`` hands in are re-planned before the
        executor's poll, so a cancelled job due now is not launched and a new one is placed.
        """
        if self._watch is not None:
            self._watch(self)
            if self._dirty:
                self._dirty, reasons = [], self._dirty
                self.replan("; ".join(dict.fromkeys(reasons)))
        states = self.executor.poll()
        self._tell_outcomes()
        records = self.executor.records
        failed = sorted(
            j
            for j, r in records.items()
            if r.state is JobState.FAILED and self._handled_failure.get(j) != r.launches
        )
        reasons = list(dict.fromkeys(self._dirty))
        if failed:
            reasons.insert(0, f"failed: {', '.join(failed)}")
        if reasons:
            self._dirty.clear()
            self.replan("; ".join(reasons))
            states = self.executor.states()
        return states

    def finished(self) -> bool:
        """Every job done, or reported unplaceable and not waiting in the executor."""
        if self._dirty:
            return False
        records = self.executor.records
        for j in self._ids:
            rec = records.get(j)
            state = None if rec is None else rec.state
            if state is JobState.DONE:
                continue
            if j in self.unplaced and state in (None, JobState.CANCELLED):
                continue
            return False
        return True

    def run(self, *, timeout_s: float) -> dict[str, JobState]:
        """Step until :meth:`finished`; raise :class:`ExecutorError` after ``timeout_s`` (wall)."""
        deadline = time.monotonic() + timeout_s
        while True:
            states = self.step()
            if self.finished():
                return states
            if time.monotonic() > deadline:
                open_jobs = sorted(j for j, s in states.items() if s is not JobState.DONE)
                raise ExecutorError(
                    f"jobs {open_jobs[:10]} did not finish within {timeout_s} s of wall time; "
                    "check the cluster offers their site resources, or raise timeout_s"
                )
            time.sleep(self._poll_s)


class QueueRecorder:
    """Writes a :class:`Replanner`'s job changes into a :class:`~suandian.store.jobs.JobQueue`.

    Pass it as ``on_change``; the re-planner's job ids and tenants must be the queue's.

    ============  ===========================================================================
    change        queue
    ============  ===========================================================================
    planned       ``planned`` with the site and start (:meth:`JobQueue.mark_planned`); a
                  ``failed`` job is first set back to ``queued``
    running       ``running``
    done          ``done``
    failed        ``failed``, then ``queued`` for the re-plan that follows
    unplaced      ``queued`` (no site, no start)

    cancelled     ``cancelled`` (:meth:`JobQueue.cancel`), unless the queue says so already
    ============  ===========================================================================

    A write refused because the queue holds the job cancelled (its tenant cancelled it between
    two reads of a :class:`QueueWatcher`) is dropped: the watcher's next read withdraws the job
    from the run, and the queue keeps it cancelled. Any other refused write does not stop the
    run either: it is kept in :attr:`problems` with the change, for the caller to report.
    """

    def __init__(self, queue: JobQueue) -> None:
        self.queue = queue
        self.problems: list[str] = []

    def __call__(self, change: JobChange) -> None:
        from suandian.core.errors import SuandianError

        try:
            self._write(change)
        except SuandianError as exc:
            try:
                cancelled = self.queue.get(change.tenant, change.job_id).status == "cancelled"
            except SuandianError:
                cancelled = False
            if not cancelled:
                self.problems.append(f"{change.tenant}/{change.job_id} {change.kind}: {exc}")

    def _write(self, change: JobChange) -> None:
        from suandian.store.jobs import Assignment

        q, tenant, job_id = self.queue, change.tenant, change.job_id
        if change.kind == "cancelled":
            if q.get(tenant, job_id).status != "cancelled":
                q.cancel(tenant, job_id)
        elif change.kind in ("running", "done"):
            q.set_status(tenant, job_id, change.kind)
        elif change.kind == "failed":
            q.set_status(tenant, job_id, "failed")
            q.set_status(tenant, job_id, "queued")
        else:
            status = q.get(tenant, job_id).status
            if status == "failed":
                q.set_status(tenant, job_id, "queued")
            if change.kind == "planned":
                assert change.job is not None
                place = Assignment(tenant, job_id, change.job.site, change.job.start_utc)
                q.mark_planned([place])
            elif status == "planned":
                q.mark_planned([Assignment(tenant, job_id, None, None)])


class QueueWatcher:
    """Hands a :class:`Replanner` the cancellations and new submissions of a job queue.

    Pass it as ``watch``. At each step, at most every ``every_s`` wall seconds, it reads the
    queue's ids and statuses (:meth:`JobQueue.statuses`, no job rows) and

    * cancels (:meth:`Replanner.cancel`) the re-planner's jobs that the queue holds cancelled;
    * submits (:meth:`Replanner.submit`) jobs that reached the queue after the watcher was made
      and are queued or planned there, fetching only their rows. One the run cannot take (an id
      it already holds for another tenant, no site of the run, another step) stays in the queue
      as it is and is kept in :attr:`skipped` with the reason.

    Parameters
    ----------
    queue : JobQueue
    command : callable
        The command a new job runs, from its queue row.
    tenant : str, optional
        Follow only this tenant's jobs.
    every_s : float
        Shortest wall time between two reads. Default 0.2 s.
    before_submit : callable, optional
        Called with the re-planner and the new rows before they are submitted, e.g. to give it
        signals over a longer horizon (:meth:`Replanner.set_signals`) when a new job is due
        after the current one ends.
    """

    def __init__(
        self,
        queue: JobQueue,
        *,
        command: Callable[[QueuedJob], JobCommand],
        tenant: str | None = None,
        every_s: float = 0.2,
        before_submit: Callable[[Replanner, Sequence[QueuedJob]], None] | None = None,
    ) -> None:
        self.queue = queue
        self.tenant = tenant
        self.every_s = every_s
        self._command = command
        self._before_submit = before_submit
        self._seen = set(queue.statuses(tenant=tenant))
        """Jobs in the queue when the watcher was made, or handled since: not new."""
        self._last = -math.inf
        self.skipped: dict[str, str] = {}
        """``tenant/job id`` → why the run could not take the job."""

    def __call__(self, rp: Replanner) -> None:
        now = time.monotonic()
        if now - self._last < self.every_s:
            return
        self._last = now
        statuses = self.queue.statuses(tenant=self.tenant)
        held = set(rp.job_ids)
        gone = [
            j
            for (t, j), status in statuses.items()
            if status == "cancelled" and j in held and rp.tenant(j) == t
        ]
        if gone:
            rp.cancel(gone)
        new = {k for k, status in statuses.items() if k not in self._seen and status in _TAKEN}
        if not new:
            return
        self._seen |= new
        rows = [
            q
            for status in _TAKEN
            for q in self.queue.jobs(tenant=self.tenant, status=status)
            if (q.job.tenant, q.job.id) in new
        ]
        if rows and self._before_submit is not None:
            self._before_submit(rp, rows)
        for q in rows:
            try:
                rp.submit([q.job], command=self._command(q))
            except InputError as exc:
                self.skipped[f"{q.job.tenant}/{q.job.id}"] = str(exc)


_TAKEN = ("queued", "planned")
"""Queue statuses of a new job that a :class:`QueueWatcher` hands to the run."""
