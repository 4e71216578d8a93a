"""``suandian jobs``: submit deferrable compute jobs to the queue, plan, list and cancel them.

Mounted on the main app as ``app.add_typer(jobs_app, name="jobs")``. The queue lives in the SQL
store (``SUANDIAN_DATABASE_URL`` or SQLite in the data directory). A submission is a JSON or
YAML list of jobs (or ``{"jobs": [...]}``), each with

``id``, ``tenant``; ``power_mw`` — or ``gpus`` and ``gpu_kw`` (power = GPUs × power per GPU);
``duration_h`` (a whole number of ``step_min`` steps, default 15 min) or ``duration_steps``;
``release`` and ``deadline`` as ISO-8601 times with their offset (``2025-07-01T09:00+08:00``);
optionally ``interruptible``, ``checkpoint_h``, ``allowed_sites`` (default: every site of the
scenario), ``data_gb``, ``priority``, ``step_min``.

Every job is checked before anything is stored: a window too short for the run, power ≤ 0, a
naive time, an unknown site or an unknown field refuses the whole submission with one line per
problem, and the jobs already queued stay as they are.

``suandian jobs plan`` places the queued (and already planned) jobs whose windows lie in a
period of local days: it simulates the scenario over the period, builds each site's signals
(:func:`suandian.sim.site_signals.site_signals`), plans with ``planner`` (the multi-site
planner), ``greedy`` (capacity-aware, lowest modelled intensity) or ``arrival`` (start at release
on the first allowed site) under the capacity that running jobs, and planned jobs it does not
move, leave; checks the plan with :func:`suandian.compute.validate.check_plan` and that capacity
per interval, and writes every planned site and start in one transaction; a job that cannot be
placed stays (or goes back to) ``queued`` and its reason is printed.

``suandian jobs emit`` and ``suandian jobs run`` are in :mod:`suandian.cli_jobs.launch`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import typer
import yaml
from rich.console import Console
from rich.table import Table

from suandian.compute.jobs import Job, JobTable, check_sites
from suandian.core.errors import InfeasiblePlan, InputError, SuandianError
from suandian.core.times import LOCAL_TZ, local_date_start_utc, parse_local_date
from suandian.scenario import load_scenario
from suandian.settings import Settings

if TYPE_CHECKING:  # the SQL store, the simulation and the planner load inside the commands
    from suandian.compute.jobs import Plan
    from suandian.compute.planner import PackResult
    from suandian.scenario.model import Park
    from suandian.sim.site_signals import PlanTotals, SiteSignals
    from suandian.store.jobs import JobQueue, QueuedJob

__all__ = ["jobs_app", "parse_jobs"]

jobs_app = typer.Typer(
    help="Deferrable compute jobs: submit, plan, show, cancel, emit, run (算电协同).",
    no_args_is_help=True,
)

out = Console(markup=False)
err = Console(stderr=True, markup=False)

_FIELDS = {
    "id",
    "tenant",
    "power_mw",
    "gpus",
    "gpu_kw",
    "duration_h",
    "duration_steps",
    "release",
    "deadline",
    "interruptible",
    "checkpoint_h",
    "allowed_sites",
    "data_gb",
    "priority",
    "step_min",
}


def _time(value: object, where: str) -> dt.datetime:
    try:
        t = pd.Timestamp(str(value))
    except ValueError:
        raise InputError(f"{where}: {value!r} is not an ISO-8601 time") from None
    if t.tzinfo is None:
        raise InputError(
            f"{where}: {value!r} has no offset; write e.g. 2025-07-01T09:00+08:00 or …Z for UTC"
        )
    return t.tz_convert("UTC").to_pydatetime()


def _steps(hours: object, step_min: int, where: str) -> int:
    steps = _number(hours, where, "hours, e.g. 1.5") * 60.0 / step_min
    if steps != round(steps) or steps <= 0:
        raise InputError(f"{where}: {hours} h is not a whole number of {step_min}-min steps")
    return round(steps)


def _number(value: object, where: str, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InputError(f"{where}: {value!r} is not a number; give {what}")
    return float(value)


def _whole(value: object, where: str, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
        raise InputError(f"{where}: {value!r} is not a whole number; give {what}")
    return int(value)


def _flag(value: object, where: str) -> bool:
    if not isinstance(value, bool):
        raise InputError(f"{where}: {value!r} is not true or false; write true or false unquoted")
    return value


def _job(record: Any, index: int, sites: list[str]) -> Job:
    where = f"jobs[{index}]"
    if not isinstance(record, dict):
        raise InputError(f"{where}: expected an object with id, tenant, power_mw, …")
    unknown = sorted(set(record) - _FIELDS)
    if unknown:
        raise InputError(
            f"{where}: unknown field(s) {', '.join(unknown)}; known: {sorted(_FIELDS)}"
        )
    missing = [k for k in ("id", "tenant", "release", "deadline") if k not in record]
    if missing:
        raise InputError(f"{where}: missing {', '.join(missing)}")
    where = f"{where} (job {record['id']!r})"
    step_min = _whole(record.get("step_min", 15), f"{where}.step_min", "minutes, e.g. 15")
    if "power_mw" in record:
        power_mw = _number(record["power_mw"], f"{where}.power_mw", "MW, e.g. 0.5")
    elif "gpus" in record and "gpu_kw" in record:
        gpus = _number(record["gpus"], f"{where}.gpus", "GPUs, e.g. 512")
        power_mw = gpus * _number(record["gpu_kw"], f"{where}.gpu_kw", "kW per GPU, e.g. 0.7")
        power_mw /= 1000.0
    else:
        raise InputError(f"{where}: give power_mw, or gpus and gpu_kw")
    if "duration_steps" in record:
        duration = _whole(record["duration_steps"], f"{where}.duration_steps", "steps, e.g. 8")
    elif "duration_h" in record:
        duration = _steps(record["duration_h"], step_min, f"{where}.duration_h")
    else:
        raise InputError(f"{where}: give duration_h or duration_steps")
    checkpoint = (
        _steps(record["checkpoint_h"], step_min, f"{where}.checkpoint_h")
        if "checkpoint_h" in record
        else 1
    )
    allowed = record.get("allowed_sites", sites)
    if isinstance(allowed, str):
        allowed = [allowed]
    return Job(
        id=str(record["id"]),
        tenant=str(record["tenant"]),
        power_mw=power_mw,
        duration_steps=duration,
        release_utc=_time(record["release"], f"{where}.release"),
        deadline_utc=_time(record["deadline"], f"{where}.deadline"),
        interruptible=_flag(record.get("interruptible", False), f"{where}.interruptible"),
        checkpoint_steps=checkpoint,
        allowed_sites=tuple(str(s) for s in allowed),
        data_gb=_number(record.get("data_gb", 0.0), f"{where}.data_gb", "GB, e.g. 120"),
        priority=_whole(record.get("priority", 0), f"{where}.priority", "a whole number, e.g. 1"),
        step_min=step_min,
    )


def parse_jobs(text: str, sites: list[str]) -> list[Job]:
    """Jobs from JSON or YAML text; every bad job is reported at once (``InputError``)."""
    try:
        data = yaml.safe_load(text)  # JSON is YAML
    except yaml.YAMLError as exc:
        raise InputError(f"the submission is neither JSON nor YAML: {exc}") from None
    if isinstance(data, dict) and "jobs" in data:
        data = data["jobs"]
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list) or not data:
        raise InputError("the submission holds no job; give a list of jobs or {'jobs': [...]}")
    jobs: list[Job] = []
    problems: list[str] = []
    for i, record in enumerate(data):
        try:
            job = _job(record, i, sites)
            check_sites([job], sites)
            jobs.append(job)
        except (SuandianError, ValueError, TypeError) as exc:
            message = str(exc)
            where = f"jobs[{i}]"
            problems.append(message if message.startswith(where) else f"{where}: {message}")
    if problems:
        raise InputError(
            f"{len(problems)} of {len(data)} job(s) refused, nothing queued:\n  "
            + "\n  ".join(problems)
        )
    return jobs


@jobs_app.command("submit")
def jobs_submit(
    file: Annotated[
        Path | None, typer.Argument(help="JSON or YAML file with the jobs (or use --json).")
    ] = None,
    text: Annotated[str | None, typer.Option("--json", help="The jobs as JSON text.")] = None,
    scenario: Annotated[str, typer.Option(help="Scenario whose sites jobs may name.")] = "xining",
) -> None:
    """Queue jobs; one bad job refuses the whole submission, with every reason."""
    if (file is None) == (text is None):
        raise InputError("give the jobs as FILE or as --json TEXT (one of them)")
    if file is not None:
        try:
            text = file.read_text(encoding="utf-8")
        except OSError as exc:
            raise InputError(f"{file}: cannot read it ({exc.strerror})") from None
    assert text is not None
    park = load_scenario(scenario)
    jobs = parse_jobs(text, [s.id for s in park.sites])
    n = _queue().submit(jobs)
    out.print(f"queued {n} job(s)")


@jobs_app.command("show")
def jobs_show(
    tenant: Annotated[str | None, typer.Option(help="Only this tenant's jobs.")] = None,
    status: Annotated[str | None, typer.Option(help="Only jobs in this status.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """List queued jobs with their window, power and status."""
    rows = _queue().jobs(tenant=tenant, status=status)
    if as_json:
        payload = [
            {
                "id": q.job.id,
                "tenant": q.job.tenant,
                "status": q.status,
                "power_mw": q.job.power_mw,
                "duration_h": q.job.duration_h,
                "release_utc": q.job.release_utc.isoformat(),
                "deadline_utc": q.job.deadline_utc.isoformat(),
                "interruptible": q.job.interruptible,
                "allowed_sites": list(q.job.allowed_sites),
                "site": q.site,
                "start_utc": None if q.start_utc is None else q.start_utc.isoformat(),
            }
            for q in rows
        ]
        sys.stdout.write(json.dumps({"jobs": payload}, ensure_ascii=False) + "\n")
        return
    table = Table("tenant", "id", "status", "MW", "h", "release (local)", "deadline (local)")
    for q in rows:
        table.add_row(
            q.job.tenant,
            q.job.id,
            q.status,
            f"{q.job.power_mw:g}",
            f"{q.job.duration_h:g}",
            q.job.release_utc.astimezone(LOCAL_TZ).strftime("%Y-%m-%d %H:%M"),
            q.job.deadline_utc.astimezone(LOCAL_TZ).strftime("%Y-%m-%d %H:%M"),
        )
    table.caption = f"{len(rows)} job(s)"
    out.print(table)


@jobs_app.command("cancel")
def jobs_cancel(
    tenant: Annotated[str, typer.Option(help="The job's tenant.")],
    job_id: Annotated[str, typer.Option("--id", help="The job's id.")],
) -> None:
    """Cancel a queued or planned job."""
    _queue().cancel(tenant, job_id)
    out.print(f"cancelled job {job_id} of {tenant}")


_STRATEGIES = ("planner", "greedy", "arrival")
_CAPACITY_TOLERANCE_MW = 1e-9


def _queue() -> JobQueue:
    from suandian.store.sql import database_url, open_job_queue

    return open_job_queue(database_url(Settings()))


def _period(rows: list[QueuedJob], start: str | None, days: int | None) -> tuple[dt.date, int]:
    """The period to plan: given, or from the first release's local day to the last deadline."""
    first = (
        parse_local_date(start, "--start")
        if start is not None
        else min(q.job.release_utc for q in rows).astimezone(LOCAL_TZ).date()
    )
    if days is None:
        last = max(q.job.deadline_utc for q in rows)
        span_s = (last - local_date_start_utc(first).to_pydatetime()).total_seconds()
        days = max(1, math.ceil(span_s / 86400.0))
    if days < 1:
        raise InputError(f"--days {days}: plan at least one day")
    return first, days


def _one_step_min(rows: list[QueuedJob], which: str, fix: str) -> int:
    """The one ``step_min`` of ``rows``; refused, naming ``fix``, when they use several."""
    steps = {q.job.step_min for q in rows}
    if len(steps) > 1:
        raise InputError(f"{which} use different steps {sorted(steps)} min; {fix}")
    return steps.pop()


def _period_signals(
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


def _two_level(
    table: JobTable, signals: SiteSignals, step_min: int, capacity_mw: npt.NDArray[np.float64]
) -> PackResult:
    """The multi-site planner: energy-level LP curves, then jobs packed under them.

    The LP follows carbon with the on-site surplus as free green energy; slots are an hour
    when the period allows it.
    """
    from suandian.compute.planner import pack_jobs, plan_capacity

    kernel = signals.for_planner()
    per_hour = max(60 // step_min, 1)
    slot = per_hour if signals.intensity_g_per_kwh.shape[1] % per_hour == 0 else 1
    curves = plan_capacity(table, kernel, capacity_mw, slot_steps=slot)
    return pack_jobs(table, curves, kernel, capacity_mw=capacity_mw)


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
    load = np.zeros(capacity_mw.shape)
    np.add.at(load, (rows, np.asarray(plan.step, dtype=np.int64)), power)
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


def _totals_json(t: PlanTotals) -> dict[str, float | None]:
    return {
        "energy_mwh": round(t.energy_mwh, 6),
        "carbon_kgco2": round(t.carbon_kgco2, 3),
        "cost_cny": round(t.cost_cny, 2),
        "green_share": None if t.green_share is None else round(t.green_share, 6),
    }


@jobs_app.command("plan")
def jobs_plan(
    scenario: Annotated[str, typer.Option(help="Scenario whose sites the jobs run on.")] = "xining",
    strategy: Annotated[
        str,
        typer.Option(
            help="planner (multi-site LP curves, then jobs packed under them), greedy (lowest "
            "intensity, capacity-aware) or arrival."
        ),
    ] = "greedy",
    start: Annotated[
        str | None,
        typer.Option(help="First local day YYYY-MM-DD (default: the first release's day)."),
    ] = None,
    days: Annotated[
        int | None, typer.Option(help="Local days to plan (default: up to the last deadline).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Plan the queued jobs of a period onto the scenario's sites and write the plan."""
    from suandian.compute.greedy import arrival_plan, greedy_plan
    from suandian.compute.validate import check_plan
    from suandian.sim.site_signals import plan_totals
    from suandian.store.jobs import Assignment

    if strategy not in _STRATEGIES:
        raise InputError(f"--strategy {strategy!r}; use one of {', '.join(_STRATEGIES)}")
    park = load_scenario(scenario)
    queue = _queue()
    everything = queue.jobs()
    rows = [q for q in everything if q.status in ("queued", "planned")]
    if not rows:
        out.print("no queued or planned jobs to plan")
        return
    first_day, n_days = _period(rows, start, days)
    lo = local_date_start_utc(first_day)
    hi = local_date_start_utc(first_day + dt.timedelta(days=n_days))
    inside = [q for q in rows if q.job.release_utc >= lo and q.job.deadline_utc <= hi]
    if not inside:
        out.print(f"no queued or planned job has its window in [{lo}, {hi})")
        return
    step_min = _one_step_min(
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
        # The queue and the executors hold one start per job, so a job is planned as one
        # block of steps: an interruptible one is placed like a non-interruptible one here,
        # and what is checked below is exactly what will run.
        jobs.append(dataclasses.replace(q.job, id=key, allowed_sites=sites, interruptible=False))

    signals, capacity, held = _period_signals(park, first_day, n_days, step_min, kept)
    on_grid: dict[str, Any] = {
        "sites": signals.sites,
        "grid_start_utc": signals.start_utc,
        "step_min": step_min,
    }
    plan: Plan | None = None
    placed: list[Job] = []
    if jobs:
        table = JobTable.from_jobs(jobs, sites=signals.sites)
        if strategy == "planner":
            packed = _two_level(table, signals, step_min, capacity)
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
    comparison: dict[str, PlanTotals] = {}
    starts: dict[str, tuple[str, dt.datetime]] = {}
    if plan is not None and placed:
        placed_table = JobTable.from_jobs(placed, sites=signals.sites)
        problems = check_plan(placed_table, plan)
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
        comparison = {
            strategy: plan_totals(placed_table, plan, signals),
            "arrival": plan_totals(placed_table, arrival_plan(placed_table, **on_grid), signals),
        }
    n_planned = queue.mark_planned(assignments)

    if as_json:
        payload: dict[str, Any] = {
            "scenario": scenario,
            "strategy": strategy,
            "start_utc": lo.isoformat(),
            "end_utc": hi.isoformat(),
            "step_min": step_min,
            "intensity": "modelled hourly zone mix averaging to the published factor",
            "planned": n_planned,
            "held": [
                {
                    "tenant": q.job.tenant,
                    "id": q.job.id,
                    "status": q.status,
                    "site": q.site,
                    "start_utc": None if q.start_utc is None else q.start_utc.isoformat(),
                    "power_mw": q.job.power_mw,
                }
                for q in held
            ],
            "jobs": [
                {
                    "tenant": by_key[k].job.tenant,
                    "id": by_key[k].job.id,
                    "status": "planned" if k in starts else "queued",
                    "site": starts[k][0] if k in starts else None,
                    "start_utc": starts[k][1].isoformat() if k in starts else None,
                    "reason": unplaced.get(k),
                }
                for k in by_key
            ],
            "totals": {name: _totals_json(t) for name, t in comparison.items()},
        }
        sys.stdout.write(json.dumps(payload, ensure_ascii=False) + "\n")
        return
    table_out = Table("tenant", "id", "status", "site", "start (local)")
    for k, q in by_key.items():
        site, when = starts.get(k, ("", None))
        table_out.add_row(
            q.job.tenant,
            q.job.id,
            "planned" if k in starts else "queued",
            site,
            "" if when is None else when.astimezone(LOCAL_TZ).strftime("%Y-%m-%d %H:%M"),
        )
    table_out.caption = (
        f"{n_planned} of {len(by_key)} job(s) planned ({strategy}), "
        f"{first_day} + {n_days} local day(s)"
    )
    out.print(table_out)
    for k, reason in unplaced.items():
        out.print(f"not placed, stays queued: {k}: {reason}")
    for q in held:
        out.print(
            f"capacity held by {q.status} job {q.job.tenant}/{q.job.id}: {q.job.power_mw:g} MW "
            f"at {q.site} from {q.start_utc}"
        )
    if comparison:
        totals = Table("plan", "energy MWh", "carbon kgCO2", "cost CNY", "on-site green share")
        for name, t in comparison.items():
            share = "-" if t.green_share is None else f"{100 * t.green_share:.1f} %"
            totals.add_row(
                name, f"{t.energy_mwh:.3f}", f"{t.carbon_kgco2:.1f}", f"{t.cost_cny:.0f}", share
            )
        totals.caption = (
            "grid intensity: modelled hourly zone mix averaging to the published factor "
            "(DESIGN §7), not measured"
        )
        out.print(totals)


# --- handing the plan to executors -------------------------------------------------------------
