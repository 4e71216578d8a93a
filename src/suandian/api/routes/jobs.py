"""Deferrable compute jobs over HTTP: submit, list, show, cancel, and plan the queue.

The same queue as ``suandian jobs`` (:class:`~suandian.store.jobs.JobQueue`) and the same rules:
a submission is stored whole or not at all; queued, planned and running jobs can be cancelled (a
running job is stopped by the run that holds it), finished ones cannot.

Who may do what:

- a tenant's jobs are filed under its organisation id (``caller.org``); it may leave ``tenant``
  out or name itself, and naming another organisation answers 403. It lists, reads and cancels
  only its own jobs; another tenant's job answers 404, exactly as a job that does not exist;
- park admins and operators name the tenant (a tenant organisation of the platform), read and
  cancel every job and plan the queue;
- auditors read every job and change nothing (403).

``POST /v1/jobs/plan`` does what ``suandian jobs plan`` does, with the same function
(:func:`suandian.sim.job_planning.plan_queue`): it simulates the served scenario
over a period of at most :data:`MAX_PLAN_DAYS` local days, builds each site's signals, places the
queued and planned jobs whose windows lie in the period (``planner``, ``greedy`` or
``arrival``) under the capacity that running jobs and planned jobs it does not move leave,
checks the plan, writes every site and start in one transaction and answers with the
placements and, for each job it could not place, the reason.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Annotated, Final, Literal

from fastapi import APIRouter, Path, Query
from pydantic import AwareDatetime, BaseModel, Field, field_validator

from suandian.api.context import ApiError, Caller, Operator, Platform, PlatformDep, not_found
from suandian.compute.jobs import Job, check_sites
from suandian.compute.objectives import Objective
from suandian.compute.transfer import Network, check_transfers
from suandian.core.errors import InputError, NotFound
from suandian.sim.job_planning import NothingToPlan, Strategy, plan_queue
from suandian.store.jobs import QueuedJob
from suandian.store.platform import Principal

if TYPE_CHECKING:  # the simulation and the planner load when a plan is made
    from suandian.sim.site_signals import PlanTotals

__all__ = ["MAX_PLAN_DAYS", "router"]

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])

MAX_PLAN_DAYS: Final = 31
"""Longest period one plan request simulates and plans. [local days]"""
MAX_JOBS_PER_SUBMISSION: Final = 1000
_FIRST_DAY: Final = dt.date(2000, 1, 1)
_LAST_DAY: Final = dt.date(2100, 12, 31)
_ID_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$"
_ORG_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
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
    data_site: str = Field(
        default="",
        max_length=64,
        description="Site that holds the job's data (empty: none); running elsewhere first "
        "moves data_gb there.",
    )
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
    data_site: str
    priority: int
    submitted_utc: dt.datetime
    site: str | None = Field(description="Planned site, once planned.")
    start_utc: dt.datetime | None = Field(description="Planned start, once planned.")


class Submitted(BaseModel):
    queued: int
    jobs: list[JobOut]


class PlanIn(BaseModel):
    model_config = {"extra": "forbid"}

    strategy: Strategy = Field(
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
    objective: Objective = Field(
        default="carbon",
        description="What the planner strategy minimises: carbon, cost, green (grid energy: "
        "the highest on-site green share) or weighted (cost with carbon at carbon_price).",
    )
    carbon_price_cny_per_t: float = Field(
        default=100.0, ge=0, le=100_000, allow_inf_nan=False, description="For weighted."
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
    moved_gb: float = Field(description="Data moved to jobs that run away from their data.")
    transfer_cny: float = Field(description="Price of those moves (not in cost_cny).")


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
        data_site=j.data_site,
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


def _job(body: JobIn, tenant: str, sites: list[str], network: Network | None, where: str) -> Job:
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
            data_site=body.data_site,
            priority=body.priority,
            step_min=body.step_min,
        )
        check_sites([job], sites)
        check_transfers([job], network)
    except InputError as exc:
        raise InputError(f"{where}: {exc}") from None
    return job


@router.post("", status_code=201, summary="Queue jobs: all of them, or none")
def submit_jobs(body: JobsIn, platform: PlatformDep, caller: Caller) -> Submitted:
    """Every job is checked before anything is stored; one bad job refuses the submission."""
    if not (caller.can_operate or caller.role == "tenant"):
        raise ApiError(403, f"role {caller.role} cannot submit jobs; ask an operator")
    from suandian.sim.site_signals import park_network

    sites = [s.id for s in platform.park.sites]
    network = park_network(platform.park)
    tenants = {str(o["org"]) for o in platform.directory.orgs() if o["kind"] == "tenant"}
    jobs = []
    for i, record in enumerate(body.jobs):
        where = f"jobs[{i}]"
        tenant = _tenant_of(record, caller, tenants, where)
        jobs.append(_job(record, tenant, sites, network, where))
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


@router.post("/{tenant}/{job_id}/cancel", summary="Cancel a queued, planned or running job")
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


def _totals(t: PlanTotals) -> PlanTotalsOut:
    return PlanTotalsOut(
        energy_mwh=round(t.energy_mwh, 6),
        carbon_kgco2=round(t.carbon_kgco2, 3),
        cost_cny=round(t.cost_cny, 2),
        green_share_pu=None if t.green_share is None else round(t.green_share, 6),
        moved_gb=round(t.moved_gb, 3),
        transfer_cny=round(t.transfer_cny, 2),
    )


@router.post("/plan", summary="Plan the queue onto the scenario's sites and write the plan")
def plan_jobs(body: PlanIn, platform: PlatformDep, _: Operator) -> PlanOut:
    """Like ``suandian jobs plan``: a job that cannot be placed stays queued, with its reason."""
    park = platform.park
    queue = platform.job_queue()
    result = plan_queue(
        park,
        queue.jobs(),
        strategy=body.strategy,
        start=body.start,
        days=body.days,
        scenario=park.name,
        max_days=MAX_PLAN_DAYS,
        last_day=_LAST_DAY,
        objective=body.objective,
        carbon_price_cny_per_t=body.carbon_price_cny_per_t,
    )
    if isinstance(result, NothingToPlan):
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
            notes=[result.note],
        )
    n_planned = queue.mark_planned(result.assignments)
    starts = result.starts
    return PlanOut(
        scenario=park.name,
        strategy=body.strategy,
        start_utc=result.start_utc.to_pydatetime(),
        end_utc=result.end_utc.to_pydatetime(),
        step_min=result.step_min,
        planned=n_planned,
        jobs=[
            Placement(
                tenant=q.job.tenant,
                id=q.job.id,
                status="planned" if k in starts else "queued",
                site=starts[k][0] if k in starts else None,
                start_utc=starts[k][1] if k in starts else None,
                reason=result.unplaced.get(k),
            )
            for k, q in result.jobs.items()
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
            for q in result.held
        ],
        totals={name: _totals(t) for name, t in result.totals.items()},
        notes=[
            "grid intensity: modelled hourly zone mix averaging to the published factor, "
            "not measured"
        ],
    )
