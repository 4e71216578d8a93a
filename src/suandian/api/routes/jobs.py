"""Deferrable compute jobs over HTTP: submit, list, show, cancel, and plan the queue.

The same queue as ``suandian jobs`` (:class:`~suandian.store.jobs.JobQueue`) and the same rules:
a submission is stored whole or not at all, only queued or planned jobs can be cancelled.

Who may do what:

- a tenant's jobs are filed under its organisation id (``caller.org``); it may leave ``tenant``
  out or name itself, and naming another organisation answers 403. It lists, reads and cancels
  only its own jobs; another tenant's job answers 404, exactly as a job that does not exist;
- park admins and operators name the tenant (a tenant organisation of the platform), read and
  cancel every job and plan the queue;
- auditors read every job and change nothing (403).

``POST /v1/jobs/plan`` does what ``suandian jobs plan`` does: it simulates the served scenario
over a period of at most :data:`MAX_PLAN_DAYS` local days, builds each site's signals, places the
queued and planned jobs whose windows lie in the period (``planner``, ``greedy`` or
``arrival``) under the capacity that running jobs and planned jobs it does not move leave,
checks the plan, writes every site and start in one transaction and answers with the
placements and, for each job it could not place, the reason.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from typing import Annotated, Any, Final, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
from fastapi import APIRouter, Path, Query
from pydantic import AwareDatetime, BaseModel, Field, field_validator

from suandian.api.context import ApiError, Caller, Operator, Platform, PlatformDep, not_found
from suandian.compute.jobs import Job, JobTable, check_sites
from suandian.core.errors import InfeasiblePlan, InputError, NotFound
from suandian.core.times import LOCAL_TZ, local_date_start_utc
from suandian.store.jobs import Assignment, QueuedJob
from suandian.store.platform import Principal

__all__ = ["MAX_PLAN_DAYS", "router"]

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])

MAX_PLAN_DAYS: Final = 31
"""Longest period one plan request simulates and plans. [local days]"""
MAX_JOBS_PER_SUBMISSION: Final = 1000
_FIRST_DAY: Final = dt.date(2000, 1, 1)
_LAST_DAY: Final = dt.date(2100, 12, 31)
_ID_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$"
_ORG_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
_CAPACITY_TOLERANCE_MW: Final = 1e-9
_STEP_MIN = Literal[15, 30, 60]
JobStatus = Literal["queued", "planned", "running", "done", "failed", "cancelled"]

TenantPath = Annotated[str, Path(pattern=_ORG_PATTERN, description="The job's tenant.")]
JobIdPath = Annotated[str, Path(pattern=_ID_PATTERN, description="The job's id.")]


class JobIn(BaseModel):
    """One job, as ``suandian jobs submit`` reads it; times carry their offset."""

    model_config = {"extra": "forbid"}

    id: str = Field(pattern=_ID_PATTERN, description="Unique within the tenant's queue.")
    tenant: str | None = Field(
        default=None,
        pattern=_ORG_PATTERN,
        description="Organisation the job is filed under: a tenant's own (default for a "
        "tenant caller); park roles must name it.",
    )
    power_mw: float | None = Field(
        default=None, gt=0, le=10_000, allow_inf_nan=False, description="Draw while it runs. [MW]"
    )
    gpus: int | None = Field(default=None, ge=1, le=10_000_000, description="Instead of power_mw.")
    gpu_kw: float | None = Field(
        default=None, gt=0, le=100, allow_inf_nan=False, description="Power per GPU. [kW]"
    )
    duration_h: float | None = Field(
        default=None, gt=0, le=24 * 366, allow_inf_nan=False, description="Run time. [h]"
    )
    duration_steps: int | None = Field(default=None, ge=1, le=366 * 24 * 12)
    release: AwareDatetime = Field(description="Earliest start, with offset.")
    deadline: AwareDatetime = Field(description="Latest end, with offset.")
    interruptible: bool = False
    checkpoint_h: float | None = Field(default=None, gt=0, le=24 * 366, allow_inf_nan=False)
    allowed_sites: list[str] | None = Field(
        default=None,
        min_length=1,
        max_length=100,
        description="Sites the job may run on (default: every site of the scenario).",
    )
    data_gb: float = Field(default=0.0, ge=0, le=1e9, allow_inf_nan=False)
    priority: int = Field(default=0, ge=-1_000_000, le=1_000_000)
    step_min: _STEP_MIN = 15

    @field_validator("release", "deadline")
    @classmethod
    def _sane_year(cls, value: dt.datetime) -> dt.datetime:
        if not _FIRST_DAY.year <= value.astimezone(dt.UTC).year <= _LAST_DAY.year:
            raise ValueError(f"give a time between {_FIRST_DAY} and {_LAST_DAY}")
        return value


class JobsIn(BaseModel):
    jobs: list[JobIn] = Field(min_length=1, max_length=MAX_JOBS_PER_SUBMISSION)


class JobOut(BaseModel):
    id: str
    tenant: str
    status: str
    power_mw: float
    duration_steps: int
    step_min: int
    duration_h: float
    release_utc: dt.datetime
    deadline_utc: dt.datetime
    interruptible: bool
    checkpoint_steps: int
    allowed_sites: list[str]
    data_gb: float
    priority: int
    submitted_utc: dt.datetime
    site: str | None = Field(description="Planned site, once planned.")
    start_utc: dt.datetime | None = Field(description="Planned start, once planned.")


class Submitted(BaseModel):
    queued: int
    jobs: list[JobOut]


class PlanIn(BaseModel):
    model_config = {"extra": "forbid"}

    strategy: Literal["planner", "greedy", "arrival"] = Field(
        default="greedy",
        description="planner (multi-site LP curves, then jobs packed under them), greedy "
        "(lowest intensity, capacity-aware) or arrival (start at release).",
    )
    start: dt.date | None = Field(
        default=None,
        ge=_FIRST_DAY,
        le=_LAST_DAY,
        description="First local (Asia/Shanghai) day; default: the first release's day.",
    )
    days: int | None = Field(
        default=None,
        ge=1,
        le=MAX_PLAN_DAYS,
        description="Local days to plan; default: up to the last deadline.",
    )


class Placement(BaseModel):
    tenant: str
    id: str
    status: Literal["planned", "queued"]
    site: str | None
    start_utc: dt.datetime | None
    reason: str | None = Field(description="Why the job stays queued, when not placed.")


class HeldJob(BaseModel):
    tenant: str
    id: str
    status: str
    site: str | None
    start_utc: dt.datetime | None
    power_mw: float


class PlanTotalsOut(BaseModel):
    energy_mwh: float
    carbon_kgco2: float
    cost_cny: float
    green_share_pu: float | None = Field(description="On-site green share of the energy.")


class PlanOut(BaseModel):
    scenario: str
    strategy: str
    start_utc: dt.datetime | None
    end_utc: dt.datetime | None
    step_min: int | None
    planned: int = Field(description="Jobs given a site and a start by this plan.")
    jobs: list[Placement]
    held: list[HeldJob] = Field(description="Running or planned jobs whose capacity was kept.")
    totals: dict[str, PlanTotalsOut] = Field(
        description="The plan's and the arrival baseline's energy, carbon and cost."
    )
    notes: list[str]


def _out(q: QueuedJob) -> JobOut:
    j = q.job
    return JobOut(
        id=j.id,
        tenant=j.tenant,
        status=q.status,
        power_mw=j.power_mw,
        duration_steps=j.duration_steps,
        step_min=j.step_min,
        duration_h=j.duration_h,
        release_utc=j.release_utc,
        deadline_utc=j.deadline_utc,
        interruptible=j.interruptible,
        checkpoint_steps=j.checkpoint_steps,
        allowed_sites=list(j.allowed_sites),
        data_gb=j.data_gb,
        priority=j.priority,
        submitted_utc=q.submitted_utc,
        site=q.site,
        start_utc=q.start_utc,
    )


def _steps(hours: float, step_min: int, where: str) -> int:
    steps = hours * 60.0 / step_min
    if abs(steps - round(steps)) > 1e-9 or round(steps) < 1:
        raise InputError(f"{where}: {hours} h is not a whole number of {step_min}-min steps")
    return round(steps)


def _tenant_of(body: JobIn, caller: Principal, tenants: set[str], where: str) -> str:
    if caller.role == "tenant":
        if body.tenant is not None and body.tenant != caller.org:
            raise ApiError(
                403,
                f"{where}.tenant: {body.tenant!r}; a tenant files jobs under its own "
                f"organisation {caller.org!r} only — leave tenant out or give {caller.org!r}",
            )
        return caller.org
    if body.tenant is None:
        raise InputError(f"{where}.tenant: missing; name the tenant organisation of the job")
    if body.tenant not in tenants:
        raise InputError(
            f"{where}.tenant: {body.tenant!r} is not a tenant organisation of the platform; "
            f"use one of {', '.join(sorted(tenants)) or '(none yet: create one first)'}"
        )
    return body.tenant


def _job(body: JobIn, tenant: str, sites: list[str], where: str) -> Job:
    if body.power_mw is not None:
        power_mw = body.power_mw
    elif body.gpus is not None and body.gpu_kw is not None:
        power_mw = body.gpus * body.gpu_kw / 1000.0
    else:
        raise InputError(f"{where}: give power_mw, or gpus and gpu_kw")
    if body.duration_steps is not None:
        duration = body.duration_steps
    elif body.duration_h is not None:
        duration = _steps(body.duration_h, body.step_min, f"{where}.duration_h")
    else:
        raise InputError(f"{where}: give duration_h or duration_steps")
    checkpoint = (
        1
        if body.checkpoint_h is None
        else _steps(body.checkpoint_h, body.step_min, f"{where}.checkpoint_h")
    )
    try:
        job = Job(
            id=body.id,
            tenant=tenant,
            power_mw=power_mw,
            duration_steps=duration,
            release_utc=body.release.astimezone(dt.UTC),
            deadline_utc=body.deadline.astimezone(dt.UTC),
            interruptible=body.interruptible,
            checkpoint_steps=checkpoint,
            allowed_sites=tuple(body.allowed_sites or sites),
            data_gb=body.data_gb,
            priority=body.priority,
            step_min=body.step_min,
        )
        check_sites([job], sites)
    except InputError as exc:
        raise InputError(f"{where}: {exc}") from None
    return job


@router.post("", status_code=201, summary="Queue jobs: all of them, or none")
def submit_jobs(body: JobsIn, platform: PlatformDep, caller: Caller) -> Submitted:
    """Every job is checked before anything is stored; one bad job refuses the submission."""
    if not (caller.can_operate or caller.role == "tenant"):
        raise ApiError(403, f"role {caller.role} cannot submit jobs; ask an operator")
    sites = [s.id for s in platform.park.sites]
    tenants = {str(o["org"]) for o in platform.directory.orgs() if o["kind"] == "tenant"}
    jobs = []
    for i, record in enumerate(body.jobs):
        where = f"jobs[{i}]"
        jobs.append(_job(record, _tenant_of(record, caller, tenants, where), sites, where))
    queue = platform.job_queue()
    n = queue.submit(jobs)
    return Submitted(queued=n, jobs=[_out(queue.get(j.tenant, j.id)) for j in jobs])


@router.get("", summary="Jobs in the queue (a tenant: its own)")
def list_jobs(
    platform: PlatformDep,
    caller: Caller,
    tenant: Annotated[str | None, Query(pattern=_ORG_PATTERN)] = None,
    status: Annotated[JobStatus | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> list[JobOut]:
    """Oldest submission first. A tenant asking for another tenant's jobs gets none."""
    if not caller.sees_all:
        if tenant is not None and tenant != caller.org:
            return []
        tenant = caller.org
    rows = platform.job_queue().jobs(tenant=tenant, status=status)
    return [_out(q) for q in rows[:limit]]


def _visible(platform: Platform, caller: Principal, tenant: str, job_id: str) -> QueuedJob:
    what = f"job {tenant}/{job_id}"
    if not caller.owns_tenant(tenant):
        raise not_found(what)
    try:
        return platform.job_queue().get(tenant, job_id)
    except NotFound:
        raise not_found(what) from None


@router.get("/{tenant}/{job_id}", summary="One job")
def get_job(tenant: TenantPath, job_id: JobIdPath, platform: PlatformDep, caller: Caller) -> JobOut:
    return _out(_visible(platform, caller, tenant, job_id))


@router.post("/{tenant}/{job_id}/cancel", summary="Cancel a queued or planned job")
def cancel_job(
    tenant: TenantPath, job_id: JobIdPath, platform: PlatformDep, caller: Caller
) -> JobOut:
    """A tenant cancels its own jobs; park admins and operators any job; auditors none."""
    _visible(platform, caller, tenant, job_id)
    if not (caller.can_operate or caller.role == "tenant"):
        raise ApiError(403, f"role {caller.role} cannot cancel jobs; ask an operator")
    queue = platform.job_queue()
    queue.cancel(tenant, job_id)
    return _out(queue.get(tenant, job_id))


# --- planning ----------------------------------------------------------------------------------


def _period(rows: list[QueuedJob], start: dt.date | None, days: int | None) -> tuple[dt.date, int]:
    first = (
        start
        if start is not None
        else min(q.job.release_utc for q in rows).astimezone(LOCAL_TZ).date()
    )
    if days is None:
        last = max(q.job.deadline_utc for q in rows)
        span_s = (last - local_date_start_utc(first).to_pydatetime()).total_seconds()
        days = max(1, math.ceil(span_s / 86400.0))
        if days > MAX_PLAN_DAYS:
            raise InputError(
                f"days: the queued jobs span {days} local days from {first}, more than "
                f"{MAX_PLAN_DAYS} in one request; give start and days (at most {MAX_PLAN_DAYS})"
            )
    return first, days


def _held_mw(
    held: list[QueuedJob], sites: tuple[str, ...], index_utc: pd.DatetimeIndex, step_min: int
) -> tuple[npt.NDArray[np.float64], list[QueuedJob]]:
    """Power per site and interval of the jobs this plan keeps where they are. [MW]"""
    n_t = len(index_utc)
    load = np.zeros((len(sites), n_t))
    counted: list[QueuedJob] = []
    step_ns = step_min * 60 * 10**9
    origin_ns = int(index_utc.asi8[0])
    for q in held:
        if q.site not in sites or q.start_utc is None:
            continue
        start_ns = pd.Timestamp(q.start_utc).value - origin_ns
        end_ns = start_ns + q.job.step_min * q.job.duration_steps * 60 * 10**9
        lo = max(start_ns // step_ns, 0)
        hi = min(-(-end_ns // step_ns), n_t)  # a partial interval counts
        if hi > lo:
            load[sites.index(q.site), lo:hi] += q.job.power_mw
            counted.append(q)
    return load, counted


def _over_capacity(
    plan: Any, table: JobTable, sites: tuple[str, ...], capacity_mw: npt.NDArray[np.float64]
) -> list[str]:
    rows = pd.Index(sites).get_indexer(pd.Index(np.asarray(plan.site, dtype=str)))
    power = table.power_mw[pd.Index(np.asarray(table.ids, dtype=str)).get_indexer(plan.job_id)]
    load = np.zeros(capacity_mw.shape)
    np.add.at(load, (rows, np.asarray(plan.step, dtype=np.int64)), power)
    over = np.argwhere(load > capacity_mw + _CAPACITY_TOLERANCE_MW)
    return [
        f"site {sites[s]!r} runs {load[s, t]:.6g} MW in interval {t}, over the "
        f"{capacity_mw[s, t]:.6g} MW left to this plan"
        for s, t in over[:5]
    ]


def _starts(plan: Any) -> dict[str, tuple[str, dt.datetime]]:
    frame = pd.DataFrame({"job": plan.job_id.astype(str), "site": plan.site, "step": plan.step})
    first = frame.sort_values("step").drop_duplicates("job")
    step = pd.Timedelta(minutes=plan.step_min)
    return {
        str(j): (str(site), (plan.grid_start_utc + int(k) * step).to_pydatetime())
        for j, site, k in first.itertuples(index=False)
    }


def _totals(t: Any) -> PlanTotalsOut:
    return PlanTotalsOut(
        energy_mwh=round(t.energy_mwh, 6),
        carbon_kgco2=round(t.carbon_kgco2, 3),
        cost_cny=round(t.cost_cny, 2),
        green_share_pu=None if t.green_share is None else round(t.green_share, 6),
    )


@router.post("/plan", summary="Plan the queue onto the scenario's sites and write the plan")
def plan_jobs(body: PlanIn, platform: PlatformDep, _: Operator) -> PlanOut:
    """Like ``suandian jobs plan``: a job that cannot be placed stays queued, with its reason."""
    from suandian.compute.greedy import arrival_plan, greedy_plan
    from suandian.compute.planner import pack_jobs, plan_capacity
    from suandian.compute.validate import check_plan
    from suandian.grid.site_mix import grid_mix_for
    from suandian.sim.park import simulate
    from suandian.sim.site_signals import PlanTotals, plan_totals, site_signals

    park = platform.park
    queue = platform.job_queue()
    everything = queue.jobs()
    rows = [q for q in everything if q.status in ("queued", "planned")]

    def empty(note: str) -> PlanOut:
        return PlanOut(
            scenario=park.name,
            strategy=body.strategy,
            start_utc=None,
            end_utc=None,
            step_min=None,
            planned=0,
            jobs=[],
            held=[],
            totals={},
            notes=[note],
        )

    if not rows:
        return empty("no queued or planned jobs to plan")
    first_day, n_days = _period(rows, body.start, body.days)
    if first_day + dt.timedelta(days=n_days) > _LAST_DAY:
        raise InputError(f"start: {first_day} + {n_days} days runs past {_LAST_DAY}")
    lo = local_date_start_utc(first_day)
    hi = local_date_start_utc(first_day + dt.timedelta(days=n_days))
    inside = [q for q in rows if q.job.release_utc >= lo and q.job.deadline_utc <= hi]
    if not inside:
        return empty(f"no queued or planned job has its window in [{lo}, {hi})")
    steps = {q.job.step_min for q in inside}
    if len(steps) > 1:
        raise InputError(
            f"the jobs of the period use different steps {sorted(steps)} min; plan them in "
            "separate periods or resubmit them on one step_min"
        )
    step_min = steps.pop()
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
            unplaced[key] = f"none of its allowed sites is a site of the {park.name} scenario"
            continue
        # One start per job in the queue: an interruptible job is placed as one block.
        jobs.append(dataclasses.replace(q.job, id=key, allowed_sites=sites, interruptible=False))

    series = simulate(park, start=first_day, days=n_days)
    signals = site_signals(park, series, step_min, grid_mix=grid_mix_for)
    held_mw, held = _held_mw(kept, signals.sites, signals.index_utc, step_min)
    capacity = np.maximum(signals.capacity_mw - held_mw, 0.0)
    on_grid: dict[str, Any] = {
        "sites": signals.sites,
        "grid_start_utc": signals.start_utc,
        "step_min": step_min,
    }
    plan: Any = None
    placed: list[Job] = []
    if jobs:
        table = JobTable.from_jobs(jobs, sites=signals.sites)
        if body.strategy == "planner":
            kernel = signals.for_planner()
            per_hour = max(60 // step_min, 1)
            slot = per_hour if signals.intensity_g_per_kwh.shape[1] % per_hour == 0 else 1
            curves = plan_capacity(table, kernel, capacity, slot_steps=slot)
            packed = pack_jobs(table, curves, kernel, capacity_mw=capacity)
            plan = packed.plan
            unplaced.update(packed.unplaced)
        elif body.strategy == "greedy":
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
        problems = check_plan(placed_table, plan)
        problems += _over_capacity(plan, placed_table, signals.sites, capacity)
        if problems:
            raise InfeasiblePlan(
                "the plan failed its check, nothing was written: " + "; ".join(problems)
            )
        starts = _starts(plan)
        assignments += [
            Assignment(by_key[k].job.tenant, by_key[k].job.id, site, when)
            for k, (site, when) in starts.items()
        ]
        totals = {
            body.strategy: plan_totals(placed_table, plan, signals),
            "arrival": plan_totals(placed_table, arrival_plan(placed_table, **on_grid), signals),
        }
    n_planned = queue.mark_planned(assignments)
    return PlanOut(
        scenario=park.name,
        strategy=body.strategy,
        start_utc=lo.to_pydatetime(),
        end_utc=hi.to_pydatetime(),
        step_min=step_min,
        planned=n_planned,
        jobs=[
            Placement(
                tenant=q.job.tenant,
                id=q.job.id,
                status="planned" if k in starts else "queued",
                site=starts[k][0] if k in starts else None,
                start_utc=starts[k][1] if k in starts else None,
                reason=unplaced.get(k),
            )
            for k, q in by_key.items()
        ],
        held=[
            HeldJob(
                tenant=q.job.tenant,
                id=q.job.id,
                status=q.status,
                site=q.site,
                start_utc=q.start_utc,
                power_mw=q.job.power_mw,
            )
            for q in held
        ],
        totals={name: _totals(t) for name, t in totals.items()},
        notes=[
            "grid intensity: modelled hourly zone mix averaging to the published factor, "
            "not measured"
        ],
    )
