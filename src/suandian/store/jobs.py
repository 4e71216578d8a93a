"""The compute job queue in the SQL store (SQLite by default, PostgreSQL in production).

Jobs arrive validated (:class:`~suandian.compute.jobs.Job`: windows that can hold the run,
positive power, tz-aware times, known sites) and are kept per tenant, one row each, with a status:

``queued`` → ``planned`` (a site and a start) → ``running`` → ``done`` | ``failed``; ``queued``,
``planned`` or ``running`` → ``cancelled`` (a running job's executor stops it); ``failed`` →
``queued`` to plan it again (:meth:`JobQueue.set_status`). :meth:`JobQueue.statuses` reads only
ids and statuses, for an executor that follows the queue while it runs.

A submission is one transaction: every job of it is stored, or — when any job id is already in
the tenant's queue or given twice — none, and the error lists the ids; jobs already queued are
never touched by a submission. A plan is written the same way (:meth:`JobQueue.mark_planned`):
all of its sites and starts, or — when a job is missing, no longer queued or planned, placed on a
site outside its ``allowed_sites`` or at a start outside its window — none.
The table is created by the packaged migration ``0002_jobs`` (:func:`suandian.store.sql.migrate`).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Boolean,
    Connection,
    Engine,
    Float,
    Integer,
    MetaData,
    Row,
    String,
    UniqueConstraint,
    insert,
    select,
    update,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from suandian.compute.jobs import Job
from suandian.core.errors import InputError, NotFound
from suandian.ledger.tables import NAMING, UtcDateTime

__all__ = ["JOB_STATUSES", "Assignment", "JobQueue", "JobRow", "JobsBase", "QueuedJob"]

JOB_STATUSES = ("queued", "planned", "running", "done", "failed", "cancelled")
_CANCELLABLE = ("queued", "planned", "running")
_PLANNABLE = ("queued", "planned")
_TRANSITIONS = {
    "planned": ("running",),
    "running": ("done", "failed"),
    "failed": ("queued",),
}
"""Status changes :meth:`JobQueue.set_status` makes (planning and cancelling have their own)."""


class JobsBase(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class JobRow(JobsBase):
    __tablename__ = "compute_jobs"
    __table_args__ = (UniqueConstraint("tenant", "job_id", name="uq_compute_jobs_tenant_job_id"),)

    key: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant: Mapped[str] = mapped_column(String(64))
    job_id: Mapped[str] = mapped_column(String(128))
    power_mw: Mapped[float] = mapped_column(Float)
    duration_steps: Mapped[int] = mapped_column(Integer)
    step_min: Mapped[int] = mapped_column(Integer)
    release_utc: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    deadline_utc: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    interruptible: Mapped[bool] = mapped_column(Boolean)
    checkpoint_steps: Mapped[int] = mapped_column(Integer)
    allowed_sites: Mapped[str] = mapped_column(String(2000))
    """Site ids separated by commas."""
    data_gb: Mapped[float] = mapped_column(Float)
    data_site: Mapped[str] = mapped_column(String(64), server_default="")
    """Site holding the job's data; empty for none."""
    priority: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    submitted_utc: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    site: Mapped[str | None] = mapped_column(String(64), nullable=True)
    start_utc: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)


@dataclass(frozen=True)
class QueuedJob:
    job: Job
    status: str
    submitted_utc: dt.datetime
    site: str | None
    """Planned site, once planned."""
    start_utc: dt.datetime | None
    """Planned start, once planned."""


@dataclass(frozen=True)
class Assignment:
    """A planned site and start for one job; ``site=None`` sends it back to ``queued``."""

    tenant: str
    job_id: str
    site: str | None
    start_utc: dt.datetime | None


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class JobQueue:
    """Jobs per tenant in a migrated SQL database (see the module docstring)."""

    def __init__(self, engine: Engine, *, clock: Callable[[], dt.datetime] = _now) -> None:
        self._engine = engine
        self._clock = clock

    def submit(self, jobs: Sequence[Job]) -> int:
        """Queue ``jobs`` in one transaction; returns how many were queued."""
        if not jobs:
            raise InputError("jobs: the submission holds no job; give at least one")
        keys = [(j.tenant, j.id) for j in jobs]
        twice = sorted(f"{t}/{i}" for (t, i), n in Counter(keys).items() if n > 1)
        if twice:
            raise InputError(
                f"job id(s) given twice in one submission: {', '.join(twice)}; ids are unique "
                "per tenant"
            )
        now = self._clock()
        with self._engine.begin() as conn:
            tenants = sorted({t for t, _ in keys})
            taken = {
                (r.tenant, r.job_id)
                for r in conn.execute(
                    select(JobRow.tenant, JobRow.job_id).where(JobRow.tenant.in_(tenants))
                )
            }
            clash = sorted(f"{t}/{i}" for t, i in keys if (t, i) in taken)
            if clash:
                raise InputError(
                    f"job id(s) already in the queue: {', '.join(clash)}; nothing of this "
                    "submission was queued — give new ids, or cancel the old jobs first"
                )
            conn.execute(insert(JobRow), [_row(j, now) for j in jobs])
        return len(jobs)

    def jobs(self, *, tenant: str | None = None, status: str | None = None) -> list[QueuedJob]:
        """Queued jobs, oldest submission first; optionally of one tenant and one status."""
        if status is not None and status not in JOB_STATUSES:
            raise InputError(f"status: {status!r}; use one of {', '.join(JOB_STATUSES)}")
        query = select(JobRow).order_by(JobRow.key)
        if tenant is not None:
            query = query.where(JobRow.tenant == tenant)
        if status is not None:
            query = query.where(JobRow.status == status)
        with self._engine.connect() as conn:
            return [_queued(r) for r in conn.execute(query)]

    def statuses(self, *, tenant: str | None = None) -> dict[tuple[str, str], str]:
        """(tenant, job id) → status of every job (of one tenant): a cheap read to poll."""
        query = select(JobRow.tenant, JobRow.job_id, JobRow.status)
        if tenant is not None:
            query = query.where(JobRow.tenant == tenant)
        with self._engine.connect() as conn:
            return {(r.tenant, r.job_id): r.status for r in conn.execute(query)}

    def get(self, tenant: str, job_id: str) -> QueuedJob:
        with self._engine.connect() as conn:
            row = conn.execute(
                select(JobRow).where(JobRow.tenant == tenant, JobRow.job_id == job_id)
            ).first()
        if row is None:
            raise NotFound(f"job {job_id!r} of tenant {tenant!r} is not in the queue")
        return _queued(row)

    def mark_planned(self, assignments: Sequence[Assignment]) -> int:
        """Write planned sites and starts in one transaction; returns how many jobs were planned.

        Only queued or planned jobs take a plan: an assignment with a site sets the job
        ``planned`` with that site and start; one without (a job the planner could not place)
        sets it back to ``queued`` with no site or start. If any job is missing, or running,
        finished or cancelled, nothing is written and the error lists them all; so too if a site
        is not among the job's ``allowed_sites`` or the run from the start would begin before
        its ``release_utc`` or end after its ``deadline_utc``.
        """
        for a in assignments:
            if (a.site is None) != (a.start_utc is None):
                raise InputError(
                    f"job {a.job_id!r} of tenant {a.tenant!r}: give both a site and a start, "
                    "or neither (to leave it queued)"
                )
            if a.start_utc is not None and a.start_utc.tzinfo is None:
                raise InputError(
                    f"job {a.job_id!r}: start_utc {a.start_utc} is naive; give it tz-aware, "
                    "e.g. start.replace(tzinfo=datetime.UTC)"
                )
        if not assignments:
            return 0
        keys = [(a.tenant, a.job_id) for a in assignments]
        twice = sorted(f"{t}/{i}" for (t, i), n in Counter(keys).items() if n > 1)
        if twice:
            raise InputError(f"job(s) assigned twice in one plan: {', '.join(twice)}")
        with self._engine.begin() as conn:
            tenants = sorted({t for t, _ in keys})
            rows = {
                (r.tenant, r.job_id): r
                for r in conn.execute(
                    select(
                        JobRow.key,
                        JobRow.tenant,
                        JobRow.job_id,
                        JobRow.status,
                        JobRow.allowed_sites,
                        JobRow.release_utc,
                        JobRow.deadline_utc,
                        JobRow.duration_steps,
                        JobRow.step_min,
                    ).where(JobRow.tenant.in_(tenants))
                )
            }
            found = {k: (r.key, r.status) for k, r in rows.items()}
            missing = sorted(f"{t}/{i}" for t, i in keys if (t, i) not in found)
            if missing:
                raise NotFound(
                    f"job(s) not in the queue: {', '.join(missing)}; nothing was planned"
                )
            stuck = sorted(
                f"{t}/{i} ({found[t, i][1]})" for t, i in keys if found[t, i][1] not in _PLANNABLE
            )
            if stuck:
                raise InputError(
                    f"job(s) no longer queued or planned: {', '.join(stuck)}; nothing was "
                    "planned — plan again without them"
                )
            misplaced = [
                line for a in assignments if (line := _misplaced(a, rows[a.tenant, a.job_id]))
            ]
            if misplaced:
                raise InputError(
                    "the plan places job(s) where they may not run, nothing was planned:\n  "
                    + "\n  ".join(misplaced)
                )
            for a in assignments:
                conn.execute(
                    update(JobRow)
                    .where(JobRow.key == found[a.tenant, a.job_id][0])
                    .values(
                        status="queued" if a.site is None else "planned",
                        site=a.site,
                        start_utc=a.start_utc,
                    )
                )
        return sum(a.site is not None for a in assignments)

    def set_status(self, tenant: str, job_id: str, status: str) -> None:
        """Move a job along its life: ``planned`` → ``running`` → ``done`` | ``failed``, and
        ``failed`` → ``queued`` (its site and start cleared) to plan it again.

        Any other change is refused with the job's status and the changes open to it.
        """
        if status not in JOB_STATUSES:
            raise InputError(f"status: {status!r}; use one of {', '.join(JOB_STATUSES)}")
        with self._engine.begin() as conn:
            row = _key_and_status(conn, tenant, job_id)
            open_to = _TRANSITIONS.get(row.status, ())
            if status not in open_to:
                then = f"it can go to {' or '.join(open_to)}" if open_to else "it stays so"
                raise InputError(
                    f"job {job_id!r} of tenant {tenant!r} is {row.status}; it cannot become "
                    f"{status} ({then})"
                )
            values: dict[str, object] = {"status": status}
            if status == "queued":
                values |= {"site": None, "start_utc": None}
            conn.execute(update(JobRow).where(JobRow.key == row.key).values(**values))

    def cancel(self, tenant: str, job_id: str) -> None:
        """Cancel a queued, planned or running job; a finished or cancelled one is refused.

        A running job is marked cancelled at once; the executor that runs it (``suandian jobs
        run``) sees that at its next read of the queue and stops it. From then on the queue
        refuses its ``done`` or ``failed``, so it cannot end both cancelled and done.
        """
        with self._engine.begin() as conn:
            row = _key_and_status(conn, tenant, job_id)
            if row.status not in _CANCELLABLE:
                raise InputError(
                    f"job {job_id!r} of tenant {tenant!r} is {row.status}; only a queued or "
                    "planned job, or a running one (its run is stopped), can be cancelled"
                )
            conn.execute(update(JobRow).where(JobRow.key == row.key).values(status="cancelled"))


def _misplaced(a: Assignment, r: Any) -> str | None:
    """Why an assignment breaks its job's residency or window, or None."""
    if a.site is None or a.start_utc is None:
        return None
    who = f"job {a.tenant}/{a.job_id}"
    allowed = [s for s in r.allowed_sites.split(",") if s]
    if a.site not in allowed:
        return f"{who}: site {a.site!r} is not among its allowed_sites {allowed}; pick one of them"
    end = a.start_utc + dt.timedelta(minutes=r.step_min * r.duration_steps)
    if a.start_utc < r.release_utc:
        return (
            f"{who}: start_utc {a.start_utc.isoformat()} is before its release_utc "
            f"{r.release_utc.isoformat()}; start it at the release or later"
        )
    if end > r.deadline_utc:
        return (
            f"{who}: start_utc {a.start_utc.isoformat()} runs to {end.isoformat()}, past its "
            f"deadline_utc {r.deadline_utc.isoformat()}; start it by "
            f"{(r.deadline_utc - (end - a.start_utc)).isoformat()}"
        )
    return None


def _row(job: Job, now: dt.datetime) -> dict[str, object]:
    for site in job.allowed_sites:
        if "," in site:
            raise InputError(f"job {job.id!r}: site id {site!r} holds a comma; rename the site")
    return {
        "tenant": job.tenant,
        "job_id": job.id,
        "power_mw": job.power_mw,
        "duration_steps": job.duration_steps,
        "step_min": job.step_min,
        "release_utc": job.release_utc,
        "deadline_utc": job.deadline_utc,
        "interruptible": job.interruptible,
        "checkpoint_steps": job.checkpoint_steps,
        "allowed_sites": ",".join(job.allowed_sites),
        "data_gb": job.data_gb,
        "data_site": job.data_site,
        "priority": job.priority,
        "status": "queued",
        "submitted_utc": now,
        "site": None,
        "start_utc": None,
    }


def _queued(r: Any) -> QueuedJob:
    """A row of ``compute_jobs`` (a Core row of :class:`JobRow`'s columns) as a queued job."""
    job = Job(
        id=r.job_id,
        tenant=r.tenant,
        power_mw=r.power_mw,
        duration_steps=r.duration_steps,
        release_utc=r.release_utc,
        deadline_utc=r.deadline_utc,
        interruptible=r.interruptible,
        checkpoint_steps=r.checkpoint_steps,
        allowed_sites=tuple(s for s in r.allowed_sites.split(",") if s),
        data_gb=r.data_gb,
        data_site=r.data_site,
        priority=r.priority,
        step_min=r.step_min,
    )
    return QueuedJob(job, r.status, r.submitted_utc, r.site, r.start_utc)


def _key_and_status(conn: Connection, tenant: str, job_id: str) -> Row[int, str]:
    """The queue row's key and status; :class:`NotFound` when the job is not queued."""
    row = conn.execute(
        select(JobRow.key, JobRow.status).where(JobRow.tenant == tenant, JobRow.job_id == job_id)
    ).first()
    if row is None:
        raise NotFound(f"job {job_id!r} of tenant {tenant!r} is not in the queue")
    return row
