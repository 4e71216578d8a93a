"""``suandian jobs``: submit deferrable compute jobs to the queue, plan, list and cancel them.

Mounted on the main app as ``app.add_typer(jobs_app, name="jobs")``. The queue lives in the SQL
store (``SUANDIAN_DATABASE_URL`` or SQLite in the data directory). A submission is a JSON or
YAML list of jobs (or ``{"jobs": [...]}``), each with

``id``, ``tenant``; ``power_mw`` — or ``gpus`` and ``gpu_kw`` (power = GPUs × power per GPU);
``duration_h`` (a whole number of ``step_min`` steps, default 15 min) or ``duration_steps``;
``release`` and ``deadline`` as ISO-8601 times with their offset (``2025-07-01T09:00+08:00``);
optionally ``interruptible``, ``checkpoint_h``, ``allowed_sites`` (default: every site of the
scenario), ``data_gb`` and ``data_site`` (the site that holds them; running elsewhere first
moves them there, :mod:`suandian.compute.transfer`), ``priority``, ``step_min``.

Every job is checked before anything is stored: a window too short for the run, power ≤ 0, a
naive time, an unknown site, data that cannot reach an allowed site in time or an unknown
field refuses the whole submission with one line per
problem, and the jobs already queued stay as they are.

``suandian jobs plan`` places the queued (and already planned) jobs whose windows lie in a
period of local days: it simulates the scenario over the period, builds each site's signals
(:func:`suandian.sim.site_signals.site_signals`), plans with ``planner`` (the multi-site
planner), ``greedy`` (capacity-aware, lowest modelled intensity) or ``arrival`` (start at release
on the first allowed site) under the capacity that running jobs, and planned jobs it does not
move, leave; checks the plan with :func:`suandian.compute.validate.check_plan` and that capacity
per interval (:func:`suandian.sim.job_planning.plan_queue`, which ``POST /v1/jobs/plan`` uses
too), and writes every planned site and start in one transaction; a job that cannot be placed
stays (or goes back to) ``queued`` and its reason is printed.

``suandian jobs emit`` and ``suandian jobs run`` are in :mod:`suandian.cli_jobs.launch`.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import pandas as pd
import typer
import yaml
from rich.console import Console
from rich.table import Table

from suandian.compute.jobs import Job, check_sites
from suandian.compute.objectives import OBJECTIVES
from suandian.compute.transfer import Network, check_transfers
from suandian.core.errors import InputError, SuandianError
from suandian.core.times import LOCAL_TZ, parse_local_date
from suandian.scenario import load_scenario
from suandian.settings import Settings
from suandian.sim.job_planning import (
    STRATEGIES,
    NothingToPlan,
    QueuePlan,
    one_step_min,
    period_signals,
    plan_period,
    plan_queue,
)

if TYPE_CHECKING:  # the SQL store, the simulation and the planner load inside the commands
    from suandian.sim.site_signals import PlanTotals
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
    "data_site",
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
        data_site=str(record.get("data_site") or ""),
        priority=_whole(record.get("priority", 0), f"{where}.priority", "a whole number, e.g. 1"),
        step_min=step_min,
    )


def parse_jobs(text: str, sites: list[str], network: Network | None = None) -> list[Job]:
    """Jobs from JSON or YAML text; every bad job is reported at once (``InputError``).

    ``network``: the scenario's paths between ``sites``, to refuse a job whose data cannot
    reach an allowed site in time.
    """
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
            check_transfers([job], network)
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
    from suandian.sim.site_signals import park_network

    park = load_scenario(scenario)
    jobs = parse_jobs(text, [s.id for s in park.sites], park_network(park))
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
    """Cancel a queued, planned or running job (a running one is stopped by its run)."""
    _queue().cancel(tenant, job_id)
    out.print(f"cancelled job {job_id} of {tenant}")


def _queue() -> JobQueue:
    from suandian.store.sql import database_url, open_job_queue

    return open_job_queue(database_url(Settings()))


def _first_day(start: str | None, days: int | None) -> dt.date | None:
    """``--start`` as a local day, once ``--days`` is checked."""
    if days is not None and days < 1:
        raise InputError(f"--days {days}: plan at least one day")
    return parse_local_date(start, "--start") if start is not None else None


def _period(rows: list[QueuedJob], start: str | None, days: int | None) -> tuple[dt.date, int]:
    """The period to plan: given, or from the first release's local day to the last deadline."""
    return plan_period(rows, _first_day(start, days), days)


# ``suandian jobs run`` plans on the same signals as ``suandian jobs plan``.
_one_step_min = one_step_min
_period_signals = period_signals


def _totals_json(t: PlanTotals) -> dict[str, float | None]:
    return {
        "energy_mwh": round(t.energy_mwh, 6),
        "carbon_kgco2": round(t.carbon_kgco2, 3),
        "cost_cny": round(t.cost_cny, 2),
        "green_share": None if t.green_share is None else round(t.green_share, 6),
        "moved_gb": round(t.moved_gb, 3),
        "transfer_cny": round(t.transfer_cny, 2),
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
    objective: Annotated[
        str,
        typer.Option(
            help="What the planner strategy minimises: carbon (grid emissions), cost (grid "
            "bill and data moves), green (grid energy: the highest on-site green share) or "
            "weighted (cost with carbon at --carbon-price). On-site surplus is free in each."
        ),
    ] = "carbon",
    carbon_price: Annotated[
        float, typer.Option(help="Carbon price of the weighted objective. [CNY/tCO₂]")
    ] = 100.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Plan the queued jobs of a period onto the scenario's sites and write the plan."""
    if strategy not in STRATEGIES:
        raise InputError(f"--strategy {strategy!r}; use one of {', '.join(STRATEGIES)}")
    if objective not in OBJECTIVES:
        raise InputError(f"--objective {objective!r}; use one of {', '.join(OBJECTIVES)}")
    if not (math.isfinite(carbon_price) and carbon_price >= 0):
        raise InputError(f"--carbon-price {carbon_price}; give a price ≥ 0 CNY/tCO₂, e.g. 100")
    first = _first_day(start, days)
    park = load_scenario(scenario)
    queue = _queue()
    result = plan_queue(
        park,
        queue.jobs(),
        strategy=strategy,
        start=first,
        days=days,
        scenario=scenario,
        objective=objective,
        carbon_price_cny_per_t=carbon_price,
    )
    if isinstance(result, NothingToPlan):
        out.print(result.note)
        return
    n_planned = queue.mark_planned(result.assignments)
    if as_json:
        _print_plan_json(result, scenario, strategy, n_planned)
    else:
        _print_plan(result, strategy, n_planned)


def _print_plan_json(result: QueuePlan, scenario: str, strategy: str, n_planned: int) -> None:
    starts = result.starts
    payload: dict[str, Any] = {
        "scenario": scenario,
        "strategy": strategy,
        "start_utc": result.start_utc.isoformat(),
        "end_utc": result.end_utc.isoformat(),
        "step_min": result.step_min,
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
            for q in result.held
        ],
        "jobs": [
            {
                "tenant": q.job.tenant,
                "id": q.job.id,
                "status": "planned" if k in starts else "queued",
                "site": starts[k][0] if k in starts else None,
                "start_utc": starts[k][1].isoformat() if k in starts else None,
                "reason": result.unplaced.get(k),
            }
            for k, q in result.jobs.items()
        ],
        "totals": {name: _totals_json(t) for name, t in result.totals.items()},
    }
    sys.stdout.write(json.dumps(payload, ensure_ascii=False) + "\n")


def _print_plan(result: QueuePlan, strategy: str, n_planned: int) -> None:
    table_out = Table("tenant", "id", "status", "site", "start (local)")
    for k, q in result.jobs.items():
        site, when = result.starts.get(k, ("", None))
        table_out.add_row(
            q.job.tenant,
            q.job.id,
            "planned" if k in result.starts else "queued",
            site,
            "" if when is None else when.astimezone(LOCAL_TZ).strftime("%Y-%m-%d %H:%M"),
        )
    table_out.caption = (
        f"{n_planned} of {len(result.jobs)} job(s) planned ({strategy}), "
        f"{result.first_day} + {result.n_days} local day(s)"
    )
    out.print(table_out)
    for k, reason in result.unplaced.items():
        out.print(f"not placed, stays queued: {k}: {reason}")
    for q in result.held:
        out.print(
            f"capacity held by {q.status} job {q.job.tenant}/{q.job.id}: {q.job.power_mw:g} MW "
            f"at {q.site} from {q.start_utc}"
        )
    if result.totals:
        totals = Table(
            "plan",
            "energy MWh",
            "carbon kgCO2",
            "cost CNY",
            "on-site green share",
            "data moved GB",
            "moving CNY",
        )
        for name, t in result.totals.items():
            share = "-" if t.green_share is None else f"{100 * t.green_share:.1f} %"
            totals.add_row(
                name,
                f"{t.energy_mwh:.3f}",
                f"{t.carbon_kgco2:.1f}",
                f"{t.cost_cny:.0f}",
                share,
                f"{t.moved_gb:g}",
                f"{t.transfer_cny:.0f}",
            )
        totals.caption = (
            "grid intensity: modelled hourly zone mix averaging to the published factor "
            "(DESIGN §7), not measured"
        )
        out.print(totals)


# --- handing the plan to executors -------------------------------------------------------------
