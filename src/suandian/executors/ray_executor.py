"""Ray executor: launch each planned job at its planned time on its planned site.

Sites are Ray custom resources: a job planned at site ``a`` asks for ``{"site:a": 1}``, so Ray
places it only on nodes that advertise that resource. On a real cluster each node advertises its
site when it joins, e.g. ``ray start --address=HEAD:6379 --resources='{"site:xining": 1000}'``;
a test starts one local node that advertises all sites.

Time comes from an injectable :class:`Clock`. :class:`SimClock` maps plan time to wall time with a
speed-up, so a day of plan can run in seconds; with speed-up 1 it runs in real time.

Every job is in one of the states of :class:`JobState`. :meth:`RayExecutor.replan` swaps in a new
plan for jobs not yet launched and never loses or duplicates one: running and finished jobs keep
their launch, a failed job in the new plan is launched again, and a job that the new plan leaves
out must be cancelled explicitly. :meth:`RayExecutor.cancel` withdraws jobs for good (cancelled by
their tenant): one not yet launched never is, a running one is stopped, a finished one is kept.
Ray is imported only when a job is launched, so importing suandian does not load it.
"""

from __future__ import annotations

import datetime as dt
import enum
import math
import signal
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

from suandian.core.errors import ExecutorError, InputError
from suandian.core.times import require_utc
from suandian.executors.plan import Plan, PlannedJob

__all__ = [
    "SITE_RESOURCE_PREFIX",
    "Clock",
    "JobFunction",
    "JobRecord",
    "JobState",
    "Launcher",
    "Outcome",
    "RayExecutor",
    "RayLauncher",
    "SimClock",
    "run_command",
    "site_resource",
]

SITE_RESOURCE_PREFIX = "site:"

JobFunction = Callable[[PlannedJob], object]
"""What a job runs: called with its :class:`PlannedJob`; its return value is kept as the result."""


def site_resource(site: str) -> str:
    """Name of the Ray custom resource that marks nodes of ``site``: ``"site:<id>"``."""
    return f"{SITE_RESOURCE_PREFIX}{site}"


def _die_with_worker() -> None:  # pragma: no cover - runs in the forked child
    """Have the kernel kill the child when its worker dies (a stopped job's worker is killed)."""
    import ctypes

    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)


def run_command(job: PlannedJob) -> int:
    """Run a job's argv in the worker; a non-zero exit fails the job.

    On Linux the command dies with its worker, so stopping the job (:meth:`RayLauncher.cancel`
    kills the worker) stops the command too instead of leaving it running unowned.
    """
    if isinstance(job.command, str):
        raise InputError(f"job {job.job_id!r}: {job.command!r} is a callable name, not an argv")
    hook = _die_with_worker if sys.platform == "linux" else None
    return subprocess.run(job.command, check=True, preexec_fn=hook).returncode


# --- clock ---------------------------------------------------------------------------------------


class Clock(Protocol):
    """Plan time ↔ wall time (epoch seconds, as ``time.time()`` on every node of the cluster)."""

    def wall_now(self) -> float: ...
    def now_utc(self) -> dt.datetime: ...
    def wall_at(self, t_utc: dt.datetime) -> float: ...
    def utc_at(self, wall_s: float) -> dt.datetime: ...


class SimClock:
    """Plan time that starts at ``start_utc`` and runs ``speedup`` times faster than wall time.

    Parameters
    ----------
    start_utc : datetime
        Plan time at ``wall_origin_s``; tz-aware.
    speedup : float
        Plan seconds per wall second, > 0. 3600 runs an hour of plan per second; 1 is real time.
    wall_origin_s : float, optional
        Wall time (epoch seconds) at which plan time is ``start_utc``; default: now.
    wall : callable
        Source of wall time; default ``time.time``.
    """

    def __init__(
        self,
        start_utc: dt.datetime,
        speedup: float = 1.0,
        *,
        wall_origin_s: float | None = None,
        wall: Callable[[], float] = time.time,
    ) -> None:
        if not math.isfinite(speedup) or speedup <= 0:
            raise InputError(f"speedup must be a finite number > 0 (got {speedup})")
        self.start_utc: dt.datetime = require_utc(start_utc, "start_utc").to_pydatetime()
        self.speedup = float(speedup)
        self._wall = wall
        self.wall_origin_s = wall() if wall_origin_s is None else float(wall_origin_s)

    @classmethod
    def real_time(cls) -> SimClock:
        """Plan time equal to the current UTC time, at speed 1."""
        now = time.time()
        return cls(dt.datetime.fromtimestamp(now, dt.UTC), 1.0, wall_origin_s=now)

    def wall_now(self) -> float:
        return self._wall()

    def now_utc(self) -> dt.datetime:
        return self.utc_at(self._wall())

    def wall_at(self, t_utc: dt.datetime) -> float:
        plan_s = (require_utc(t_utc, "t_utc").to_pydatetime() - self.start_utc).total_seconds()
        return self.wall_origin_s + plan_s / self.speedup

    def utc_at(self, wall_s: float) -> dt.datetime:
        return self.start_utc + dt.timedelta(seconds=(wall_s - self.wall_origin_s) * self.speedup)


# --- launching -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """What one launch reported back."""

    start_wall_s: float | None
    """Wall time at which the job's function began in the worker; None if it never ran."""
    site: str | None
    """Site whose resource the task held, as seen inside the worker."""
    result: object = None
    error: str | None = None
    """Traceback or failure reason; None when the job succeeded."""


class Launcher(Protocol):
    """Starts jobs and reports their outcomes; :class:`RayLauncher` is the real one."""

    def launch(self, job: PlannedJob, fn: JobFunction) -> Hashable: ...

    def collect(
        self, handles: Sequence[Hashable], timeout_s: float
    ) -> list[tuple[Hashable, Outcome]]:
        """Outcomes of the finished ``handles``, waiting up to ``timeout_s`` for a first one."""
        ...

    def cancel(self, handle: Hashable) -> None:
        """Stop a launched job; its handle is not collected afterwards."""
        ...


def _run_in_task(fn: JobFunction, job: PlannedJob, prefix: str) -> Outcome:
    """Body of every Ray task: note the start and the site resource, run, never raise."""
    start = time.time()
    import ray

    held: dict[str, float] = ray.get_runtime_context().get_assigned_resources()  # type: ignore[no-untyped-call]
    site = next((k[len(prefix) :] for k in held if k.startswith(prefix)), None)
    try:
        result = fn(job)
    except Exception:
        return Outcome(start, site, error=traceback.format_exc())
    return Outcome(start, site, result=result)


class RayLauncher:
    """Launches each job as one Ray task that holds its site's resource.

    Parameters
    ----------
    num_cpus : float
        CPUs each task asks for. Default 1.
    use_gpus : bool
        Ask Ray for the job's GPUs (``num_gpus``). Default True; turn off to run GPU jobs on a
        cluster without GPUs (tests).

    The tasks are not retried by Ray (``max_retries=0``): a failure is reported to the executor,
    whose re-plan decides whether and where the job runs again.
    """

    def __init__(self, *, num_cpus: float = 1.0, use_gpus: bool = True) -> None:
        self.num_cpus = num_cpus
        self.use_gpus = use_gpus
        self._remote: Any = None

    def _task(self) -> Any:
        if self._remote is None:
            import ray

            if not ray.is_initialized():
                raise ExecutorError(
                    "Ray is not initialised; call ray.init(address=...) to join the cluster "
                    "(or ray.init(resources={'site:<id>': N, ...}) for a local one) first"
                )
            self._remote = ray.remote(_run_in_task)
        return self._remote

    def launch(self, job: PlannedJob, fn: JobFunction) -> Hashable:
        gpus = job.gpus if (self.use_gpus and job.gpus) else 0
        ref: Hashable = (
            self._task()
            .options(
                name=f"suandian:{job.job_id}",
                resources={site_resource(job.site): 1},
                num_cpus=self.num_cpus,
                num_gpus=gpus,
                max_retries=0,
                retry_exceptions=False,
            )
            .remote(fn, job, SITE_RESOURCE_PREFIX)
        )
        return ref

    def collect(
        self, handles: Sequence[Hashable], timeout_s: float
    ) -> list[tuple[Hashable, Outcome]]:
        if not handles:
            time.sleep(max(timeout_s, 0.0))
            return []
        import ray

        refs = list(handles)
        ray.wait(refs, num_returns=1, timeout=max(timeout_s, 0.0))
        ready, _ = ray.wait(refs, num_returns=len(refs), timeout=0)
        out: list[tuple[Hashable, Outcome]] = []
        for ref in ready:
            try:
                outcome = ray.get(ref)
            except Exception as exc:  # worker crash, node loss: the job failed
                outcome = Outcome(None, None, error=f"{type(exc).__name__}: {exc}")
            out.append((ref, outcome))
        return out

    def cancel(self, handle: Hashable) -> None:
        """Stop the task now: its worker is killed (``force=True``).

        A gentle ``ray.cancel`` only raises ``KeyboardInterrupt`` once the task returns to
        Python, which a job asleep or waiting on a subprocess does not do until it ends.
        """
        import ray

        ray.cancel(handle, force=True)


# --- executor ------------------------------------------------------------------------------------


class JobState(enum.StrEnum):
    PENDING = "pending"
    """Waiting for its planned start."""
    RUNNING = "running"
    """Launched; no outcome yet."""
    DONE = "done"
    FAILED = "failed"
    """Launched and failed; a re-plan that keeps it launches it again."""
    CANCELLED = "cancelled"
    """Dropped by a re-plan before launch, or withdrawn (:meth:`RayExecutor.cancel`)."""


_TERMINAL = frozenset({JobState.DONE, JobState.FAILED, JobState.CANCELLED})


@dataclass(frozen=True)
class JobRecord:
    """The executor's view of one job."""

    job: PlannedJob
    """The planned job as of the latest plan that placed it."""
    state: JobState
    launches: int = 0
    """How many times it was launched."""
    launched_utc: dt.datetime | None = None
    """Plan time at which the latest launch was submitted."""
    actual_start_utc: dt.datetime | None = None
    """Plan time at which the latest launch began in its worker."""
    site_seen: str | None = None
    """Site resource the latest launch held, as seen in the worker."""
    result: object = None
    error: str | None = None


class RayExecutor:
    """Launches a :class:`Plan` job by job at the planned times and tracks each job.

    Parameters
    ----------
    plan : Plan
        The first plan.
    clock : Clock
        Plan time; :class:`SimClock` for accelerated runs.
    functions : mapping, optional
        Callable name → function, for jobs whose ``command`` is a name. Jobs with an argv run
        :func:`run_command`.
    launcher : Launcher, optional
        Default :class:`RayLauncher`; tests of the bookkeeping inject a fake one.
    poll_s : float
        Longest wall time between two looks for finished jobs. Default 0.05 s.
    """

    def __init__(
        self,
        plan: Plan,
        *,
        clock: Clock,
        functions: Mapping[str, JobFunction] | None = None,
        launcher: Launcher | None = None,
        poll_s: float = 0.05,
    ) -> None:
        self._functions = dict(functions or {})
        self._check_functions(plan)
        self._clock = clock
        self._launcher: Launcher = launcher if launcher is not None else RayLauncher()
        self._poll_s = poll_s
        self._lock = threading.RLock()
        self._plan = plan
        self._records = {j.job_id: JobRecord(j, JobState.PENDING) for j in plan.jobs}
        self._handles: dict[Hashable, str] = {}

    @property
    def plan(self) -> Plan:
        return self._plan

    @property
    def records(self) -> dict[str, JobRecord]:
        """A snapshot of every job's record, by job id."""
        with self._lock:
            return dict(self._records)

    def states(self) -> dict[str, JobState]:
        with self._lock:
            return {k: r.state for k, r in self._records.items()}

    def _check_functions(self, plan: Plan) -> None:
        missing = sorted(
            {j.command for j in plan.jobs if isinstance(j.command, str)} - set(self._functions)
        )
        if missing:
            raise InputError(
                f"the plan names callables {missing} that the executor does not know; pass "
                "them in functions={name: callable}"
            )

    def _function(self, job: PlannedJob) -> JobFunction:
        return self._functions[job.command] if isinstance(job.command, str) else run_command

    # One step of the loop: launch what is due, then take in what finished.
    def _launch_due(self) -> None:
        now = self._clock.now_utc()
        due = sorted(
            (r.job for r in self._records.values() if r.state is JobState.PENDING),
            key=lambda j: (j.start_utc, -j.priority, j.job_id),
        )
        for job in due:
            if job.start_utc > now:
                break
            try:
                handle = self._launcher.launch(job, self._function(job))
            except Exception as exc:
                raise ExecutorError(
                    f"job {job.job_id!r} could not be launched on site {job.site!r}: {exc}"
                ) from exc
            rec = self._records[job.job_id]
            self._records[job.job_id] = replace(
                rec,
                state=JobState.RUNNING,
                launches=rec.launches + 1,
                launched_utc=self._clock.now_utc(),
                actual_start_utc=None,
                site_seen=None,
                result=None,
                error=None,
            )
            self._handles[handle] = job.job_id

    def _take(self, finished: Iterable[tuple[Hashable, Outcome]]) -> None:
        for handle, outcome in finished:
            job_id = self._handles.pop(handle, None)
            if job_id is None:
                continue  # stopped (cancel) after the handles were collected
            rec = self._records[job_id]
            start = (
                None if outcome.start_wall_s is None else self._clock.utc_at(outcome.start_wall_s)
            )
            self._records[job_id] = replace(
                rec,
                state=JobState.FAILED if outcome.error is not None else JobState.DONE,
                actual_start_utc=start,
                site_seen=outcome.site,
                result=outcome.result,
                error=outcome.error,
            )

    def poll(self) -> dict[str, JobState]:
        """Launch the jobs that are due and take in finished ones, without waiting."""
        with self._lock:
            self._launch_due()
            handles = list(self._handles)
        finished = self._launcher.collect(handles, 0.0) if handles else []
        with self._lock:
            self._take(finished)
            return self.states()

    def run(self, *, timeout_s: float) -> dict[str, JobState]:
        """Run until every job is done, failed or cancelled; return the states.

        Raises :class:`ExecutorError` naming the unfinished jobs if ``timeout_s`` (wall) passes.
        """
        deadline = self._clock.wall_now() + timeout_s
        while True:
            with self._lock:
                self._launch_due()
                handles = list(self._handles)
                pending = [r.job for r in self._records.values() if r.state is JobState.PENDING]
                if not handles and not pending:
                    return self.states()
                next_due = min((self._clock.wall_at(j.start_utc) for j in pending), default=None)
            now = self._clock.wall_now()
            if now > deadline:
                open_jobs = sorted(k for k, r in self.records.items() if r.state not in _TERMINAL)
                raise ExecutorError(
                    f"jobs {open_jobs} did not finish within {timeout_s} s of wall time; "
                    "check the cluster offers their site resources, or raise timeout_s"
                )
            wait = self._poll_s if next_due is None else min(self._poll_s, next_due - now)
            finished = self._launcher.collect(handles, max(wait, 0.0))
            with self._lock:
                self._take(finished)

    def cancel(self, job_ids: Iterable[str]) -> dict[str, JobState]:
        """Withdraw jobs: a pending or failed one is not launched, a running one is stopped.

        Each ends :attr:`JobState.CANCELLED`, except a done one, which stays done. Returns
        each job's state before the call. Unknown ids raise :class:`InputError`.
        """
        ids = list(dict.fromkeys(job_ids))
        with self._lock:
            unknown = sorted(set(ids) - self._records.keys())
            if unknown:
                raise InputError(f"cannot cancel unknown jobs {unknown}")
            before = {k: self._records[k].state for k in ids}
            stop = {k for k, s in before.items() if s is JobState.RUNNING}
            for handle, k in list(self._handles.items()):
                if k in stop:
                    del self._handles[handle]
                    try:
                        self._launcher.cancel(handle)
                    except Exception as exc:
                        raise ExecutorError(f"job {k!r} could not be stopped: {exc}") from exc
            for k, s in before.items():
                if s is not JobState.DONE:
                    self._records[k] = replace(self._records[k], state=JobState.CANCELLED)
            return before

    def replan(self, new_plan: Plan, *, cancel: Iterable[str] = ()) -> None:
        """Swap in ``new_plan`` for the jobs not yet launched.

        Rules, so that no job is lost or launched twice:

        - pending jobs take their new placement; new job ids are added as pending;
        - running and done jobs keep their launch, whatever the new plan says about them;
        - a failed (or cancelled) job present in the new plan becomes pending and is launched
          again at its new start;
        - a pending or failed job that the new plan leaves out must be named in ``cancel``,
          else :class:`InputError`; only jobs not running or done can be cancelled.

        ``new_plan.version`` must be greater than the current plan's.
        """
        cancelled = set(cancel)
        with self._lock:
            if new_plan.version <= self._plan.version:
                raise InputError(
                    f"new plan version {new_plan.version} is not newer than the current "
                    f"{self._plan.version}; give each re-plan a higher version"
                )
            unknown = sorted(cancelled - self._records.keys())
            if unknown:
                raise InputError(f"cannot cancel unknown jobs {unknown}")
            both = sorted(cancelled & set(new_plan.job_ids))
            if both:
                raise InputError(f"jobs {both} are both cancelled and in the new plan; pick one")
            launched = sorted(
                k for k in cancelled if self._records[k].state in (JobState.RUNNING, JobState.DONE)
            )
            if launched:
                raise InputError(f"jobs {launched} are already running or done; cannot cancel")
            lost = sorted(
                k
                for k, r in self._records.items()
                if k not in new_plan
                and k not in cancelled
                and r.state in (JobState.PENDING, JobState.FAILED)
            )
            if lost:
                raise InputError(
                    f"the new plan leaves out jobs {lost} that have not run to completion; "
                    "place them, or pass them in cancel=[...] to drop them"
                )
            self._check_functions(new_plan)
            for k in cancelled:
                self._records[k] = replace(self._records[k], state=JobState.CANCELLED)
            for job in new_plan.jobs:
                rec = self._records.get(job.job_id)
                if rec is None:
                    self._records[job.job_id] = JobRecord(job, JobState.PENDING)
                elif rec.state in (JobState.PENDING, JobState.FAILED, JobState.CANCELLED):
                    self._records[job.job_id] = replace(rec, job=job, state=JobState.PENDING)
            self._plan = new_plan
