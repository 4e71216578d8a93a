"""``suandian jobs emit`` and ``suandian jobs run``: the queue's plan handed to executors.

``suandian jobs emit --to kubernetes|slurm`` hands the queue's planned jobs to a cluster as text:
suspended Kubernetes Job manifests (:mod:`suandian.executors.kubernetes`) or ``sbatch`` lines
(:mod:`suandian.executors.slurm`). The queue stores no command for a job, so ``--command`` gives
the argv every job runs, with ``{tenant}``, ``{job_id}`` and ``{site}`` filled in per job.
``suandian jobs run`` launches them on Ray with a
:class:`~suandian.executors.replanner.Replanner` that starts from the queue's plan, writes every
status change into the queue and re-plans failures; it reads the queue as it runs, stops or
drops jobs cancelled there and plans jobs submitted meanwhile. Ray loads only inside that command.

Both register on :data:`suandian.cli_jobs.app.jobs_app`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import shlex
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from suandian.cli_jobs.app import (
    _one_step_min,
    _period,
    _period_signals,
    _queue,
    err,
    jobs_app,
    out,
)
from suandian.compute.objectives import OBJECTIVES
from suandian.core.errors import InputError
from suandian.scenario import load_scenario

if TYPE_CHECKING:  # the SQL store and the executors load inside the commands
    from suandian.executors.plan import Plan as ExecPlan
    from suandian.store.jobs import JobQueue, QueuedJob

__all__: list[str] = []


_TARGETS = ("kubernetes", "slurm")
_MAX_RUN_DAYS = 31
"""Longest period ``jobs run`` simulates signals for when new jobs extend it. [local days]"""
_PLACEHOLDERS = ("tenant", "job_id", "site")


def _site_argv(template: str, q: QueuedJob) -> Callable[[str], tuple[str, ...]]:
    """The job's ``--command`` at whichever site a plan gives it (checked once now)."""
    _argv(template, q)
    return lambda site: _argv(template, dataclasses.replace(q, site=site))


def _argv(template: str, q: QueuedJob) -> tuple[str, ...]:
    """``--command`` split like a shell line, with the job's fields filled in per argument."""
    try:
        words = shlex.split(template)
    except ValueError as exc:
        raise InputError(f"--command {template!r}: {exc}; quote it as in a POSIX shell") from None
    if not words:
        raise InputError("--command is empty; give the argv each job runs, e.g. 'python -m train'")
    fields = {"tenant": q.job.tenant, "job_id": q.job.id, "site": q.site or ""}
    try:
        return tuple(w.format(**fields) for w in words)
    except (KeyError, IndexError, ValueError) as exc:
        raise InputError(
            f"--command {template!r}: cannot fill in {exc}; the placeholders are "
            f"{', '.join('{' + p + '}' for p in _PLACEHOLDERS)} (write {{{{ and }}}} for braces)"
        ) from None


def _planned(queue: JobQueue, tenant: str | None) -> list[QueuedJob]:
    """The planned jobs, refused when two tenants' ids clash (executors key jobs by id)."""
    rows = queue.jobs(tenant=tenant, status="planned")
    owners: dict[str, list[str]] = {}
    for q in rows:
        owners.setdefault(q.job.id, []).append(q.job.tenant)
    clash = sorted(f"{j} ({', '.join(t)})" for j, t in owners.items() if len(t) > 1)
    if clash:
        raise InputError(
            f"job id(s) planned for several tenants: {'; '.join(clash)}; an executor keys jobs "
            "by id, so hand over one tenant at a time with --tenant T"
        )
    return rows


def _executor_plan(rows: list[QueuedJob], command: str, now_utc: dt.datetime) -> ExecPlan:
    """The executors' :class:`~suandian.executors.plan.Plan` of planned queue rows.

    The queue keeps power, not GPUs, so no GPU count is asked for.
    """
    from suandian.executors.plan import Plan as ExecPlan
    from suandian.executors.plan import PlannedJob

    jobs = []
    for q in rows:
        assert q.site is not None and q.start_utc is not None  # planned rows carry both
        jobs.append(
            PlannedJob(
                job_id=q.job.id,
                tenant=q.job.tenant,
                site=q.site,
                start_utc=q.start_utc,
                duration=dt.timedelta(minutes=q.job.step_min * q.job.duration_steps),
                power_mw=q.job.power_mw,
                command=_argv(command, q),
                interruptible=q.job.interruptible,
                priority=q.job.priority,
            )
        )
    return ExecPlan.of(jobs, created_utc=now_utc)


def _partitions(given: list[str], plan_sites: tuple[str, ...], known: set[str]) -> dict[str, str]:
    """Site → Slurm partition: each planned site's own id, unless ``--partition`` maps it."""
    partitions = {s: s for s in plan_sites}
    for item in given:
        site, sep, partition = item.partition("=")
        site, partition = site.strip(), partition.strip()
        if not sep or not site or not partition:
            raise InputError(
                f"--partition {item!r}: write SITE=PARTITION, e.g. --partition xining=gpu"
            )
        if site not in known:
            raise InputError(
                f"--partition {item!r}: no job in the queue may run at site {site!r} (sites: "
                f"{', '.join(sorted(known)) or 'none'}); check the site id"
            )
        partitions[site] = partition
    return partitions


@jobs_app.command("emit")
def jobs_emit(
    to: Annotated[str, typer.Option("--to", help="kubernetes (Job manifests) or slurm (sbatch).")],
    command: Annotated[
        str,
        typer.Option(
            help="The argv each job runs, as a shell line (the queue stores none); {tenant}, "
            "{job_id} and {site} are filled in, e.g. 'python -m train --job {job_id}'."
        ),
    ],
    out_file: Annotated[
        Path | None, typer.Option("--out", help="Write to this file (default: stdout).")
    ] = None,
    tenant: Annotated[str | None, typer.Option(help="Only this tenant's jobs.")] = None,
    image: Annotated[
        str | None, typer.Option(help="Container image (kubernetes; required there).")
    ] = None,
    namespace: Annotated[str | None, typer.Option(help="Namespace (kubernetes).")] = None,
    partition: Annotated[
        list[str] | None,
        typer.Option(
            help="SITE=PARTITION (slurm), repeatable; a site not given uses its id as partition."
        ),
    ] = None,
    cluster_tz: Annotated[
        str, typer.Option(help="Time zone the Slurm controller reads --begin in (slurm).")
    ] = "Asia/Shanghai",
    account: Annotated[str | None, typer.Option(help="--account to charge (slurm).")] = None,
) -> None:
    """Print the planned jobs as suspended Kubernetes Jobs or as sbatch lines, for launching."""
    from suandian.executors.kubernetes import manifests_yaml
    from suandian.executors.slurm import sbatch_lines

    if to not in _TARGETS:
        raise InputError(f"--to {to!r}; use one of {', '.join(_TARGETS)}")
    if to == "kubernetes" and not image:
        raise InputError("--to kubernetes needs --image, e.g. --image registry.local/train:1")
    queue = _queue()
    rows = _planned(queue, tenant)
    if not rows:
        whose = "" if tenant is None else f" of tenant {tenant!r}"
        err.print(f"no planned jobs{whose} to emit; plan the queue first with `suandian jobs plan`")
        return
    plan = _executor_plan(rows, command, dt.datetime.now(dt.UTC))
    if to == "kubernetes":
        assert image is not None
        text = manifests_yaml(plan, image=image, namespace=namespace)
        what = "Kubernetes Job manifest(s)"
    else:
        known = {s for q in queue.jobs() for s in q.job.allowed_sites}
        partitions = _partitions(partition or [], plan.sites, known)
        lines = sbatch_lines(plan, partitions=partitions, cluster_tz=cluster_tz, account=account)
        text = "".join(line + "\n" for line in lines)
        what = "sbatch line(s)"
    if out_file is None:
        sys.stdout.write(text)
        return
    try:
        out_file.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise InputError(f"--out {out_file}: cannot write it ({exc.strerror})") from None
    out.print(f"wrote {len(plan)} {what} to {out_file}")


@jobs_app.command("run")
def jobs_run(
    command: Annotated[
        str,
        typer.Option(
            help="The argv each job runs in its Ray worker, as a shell line (the queue stores "
            "none); {tenant}, {job_id} and {site} are filled in."
        ),
    ],
    scenario: Annotated[str, typer.Option(help="Scenario whose sites the jobs run on.")] = "xining",
    tenant: Annotated[str | None, typer.Option(help="Only this tenant's jobs.")] = None,
    speedup: Annotated[
        float | None,
        typer.Option(
            help="Simulate: plan time starts at the first planned start and runs this many "
            "times faster than wall time (3600: an hour a second). Default: real time."
        ),
    ] = None,
    ray_address: Annotated[
        str | None,
        typer.Option(help="Ray cluster to join (default: start a local one with every site)."),
    ] = None,
    timeout: Annotated[float, typer.Option(help="Give up after this many wall seconds.")] = 86400.0,
    objective: Annotated[
        str, typer.Option(help="Objective of the re-plans, as for `jobs plan`.")
    ] = "carbon",
    carbon_price: Annotated[
        float, typer.Option(help="Carbon price of the weighted objective. [CNY/tCO₂]")
    ] = 100.0,
) -> None:
    """Launch the planned jobs on Ray at their planned times and sites; re-plan failures."""
    from rich.progress import Progress

    from suandian.compute.jobs import JobTable
    from suandian.core.times import local_date_start_utc
    from suandian.executors.ray_executor import SimClock, site_resource
    from suandian.executors.replanner import JobChange, QueueRecorder, QueueWatcher, Replanner

    if speedup is not None and not (math.isfinite(speedup) and speedup > 0):
        raise InputError(f"--speedup {speedup}: give a number > 0, e.g. 3600")
    if objective not in OBJECTIVES:
        raise InputError(f"--objective {objective!r}; use one of {', '.join(OBJECTIVES)}")
    if not (math.isfinite(carbon_price) and carbon_price >= 0):
        raise InputError(f"--carbon-price {carbon_price}; give a price ≥ 0 CNY/tCO₂, e.g. 100")
    park = load_scenario(scenario)
    queue = _queue()
    rows = _planned(queue, tenant)
    if not rows:
        whose = "" if tenant is None else f" of tenant {tenant!r}"
        out.print(f"no planned jobs{whose} to run; plan the queue first with `suandian jobs plan`")
        return
    known = [s.id for s in park.sites]
    elsewhere = sorted(
        f"{q.job.tenant}/{q.job.id} at {q.site}" for q in rows if q.site not in known
    )
    if elsewhere:
        raise InputError(
            f"job(s) planned at sites outside the {scenario} scenario: {', '.join(elsewhere)}; "
            "give their --scenario"
        )
    step_min = _one_step_min(
        rows, "the planned jobs", "run them one tenant or one step at a time (--tenant)"
    )
    first_start = min(q.start_utc for q in rows if q.start_utc is not None)
    if speedup is None:
        now_utc = dt.datetime.now(dt.UTC)
        late = sorted(
            f"{q.job.tenant}/{q.job.id} ({q.start_utc:%Y-%m-%d %H:%M}Z)"
            for q in rows
            if q.start_utc is not None and q.start_utc < now_utc
        )
        if late:
            raise InputError(
                f"job(s) planned to start in the past: {', '.join(late[:5])}; plan them again "
                "with `suandian jobs plan`, or replay the plan with --speedup"
            )
    first_day, n_days = _period(rows, None, None)
    running = queue.jobs(status="running")
    signals, capacity, _ = _period_signals(park, first_day, n_days, step_min, running)
    table = JobTable.from_jobs(
        [
            dataclasses.replace(
                q.job, allowed_sites=tuple(s for s in q.job.allowed_sites if s in known)
            )
            for q in rows
        ],
        sites=signals.sites,
    )
    plan = _executor_plan(rows, command, dt.datetime.now(dt.UTC))
    # A re-plan may move a job, and a job submitted during the run has no site yet: {site} is
    # filled in with the site of each plan.
    commands = {q.job.id: _site_argv(command, q) for q in rows}

    import ray

    started = not ray.is_initialized()
    if started:
        if ray_address is None:
            ray.init(
                resources={site_resource(s): 1000 for s in signals.sites},
                include_dashboard=False,
                log_to_driver=False,
            )
        else:
            ray.init(address=ray_address, log_to_driver=False)
    recorder = QueueRecorder(queue)
    horizon = {"days": n_days}

    def extend(rp: Replanner, new: Sequence[QueuedJob]) -> None:
        # A job due after the signals end: simulate up to its deadline (within _MAX_RUN_DAYS).
        last = max(q.job.deadline_utc for q in new)
        span = last - local_date_start_utc(first_day).to_pydatetime()
        days = min(math.ceil(span / dt.timedelta(days=1)), _MAX_RUN_DAYS)
        if days <= horizon["days"]:
            return
        more, capacity_more, _ = _period_signals(park, first_day, days, step_min, running)
        rp.set_signals(more.for_planner(), capacity_mw=capacity_more)
        horizon["days"] = days
        out.print(f"signals extended to {days} local days from {first_day} for new jobs")

    watcher = QueueWatcher(
        queue,
        command=lambda q: _site_argv(command, q),
        tenant=tenant,
        every_s=0.2,
        before_submit=extend,
    )
    try:
        with Progress(console=out, transient=False) as progress:
            bar = progress.add_task("jobs done", total=len(rows))

            def on_change(change: JobChange) -> None:
                recorder(change)
                where = f" at {change.job.site} {change.job.start_utc:%H:%M}Z" if change.job else ""
                why = f": {change.reason.strip().splitlines()[-1]}" if change.reason else ""
                progress.console.print(f"{change.tenant}/{change.job_id} {change.kind}{where}{why}")
                if change.job_id not in counted:  # a job submitted while the run is under way
                    counted.add(change.job_id)
                    progress.update(bar, total=len(counted))
                if change.kind in ("done", "cancelled"):
                    progress.advance(bar)

            counted = {q.job.id for q in rows}

            # Plan time starts now that Ray is up: setting up must not eat into the plan.
            clock = SimClock.real_time() if speedup is None else SimClock(first_start, speedup)
            rp = Replanner(
                table,
                signals=signals.for_planner(),
                capacity_mw=capacity,
                clock=clock,
                command=commands,
                lead=dt.timedelta(minutes=step_min),
                objective=objective,
                carbon_price_cny_per_t=carbon_price,
                slot_steps=max(60 // step_min, 1),
                on_change=on_change,
                plan=plan,
                watch=watcher,
            )
            rp.run(timeout_s=timeout)
    finally:
        if started:
            ray.shutdown()
    for problem in recorder.problems:
        err.print(f"queue not updated: {problem}")
    for key, why in watcher.skipped.items():
        err.print(f"submitted during the run but not taken in: {key}: {why}")
    ours = {(q.job.tenant, q.job.id) for q in rows} | {(rp.tenant(j), j) for j in rp.submitted}
    done = sum((q.job.tenant, q.job.id) in ours for q in queue.jobs(status="done"))
    total = len(rows) + len(rp.submitted)
    ran = total - len(rp.unplaced) - len(rp.cancelled)
    extra = f", {len(rp.cancelled)} cancelled" if rp.cancelled else ""
    extra += f", {len(rp.submitted)} submitted during the run" if rp.submitted else ""
    out.print(
        f"{ran} of {total} job(s) ran{extra}, {len(rp.history) - 1} re-plan(s); {done} done "
        "in the queue"
    )
    for job_id, why in rp.unplaced.items():
        out.print(f"could not be placed again, back in the queue: {job_id}: {why}")
