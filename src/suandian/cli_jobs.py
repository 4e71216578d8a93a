"""``suandian jobs``: submit deferrable compute jobs to the queue, list and cancel them.

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
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
import typer
import yaml
from rich.console import Console
from rich.table import Table

from suandian.compute.jobs import Job, check_sites
from suandian.core.errors import InputError, SuandianError
from suandian.core.times import LOCAL_TZ
from suandian.scenario import load_scenario
from suandian.settings import Settings
from suandian.store.sql import database_url, open_job_queue

__all__ = ["jobs_app", "parse_jobs"]

jobs_app = typer.Typer(
    help="Deferrable compute jobs: submit, show, cancel (算电协同).", no_args_is_help=True
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
    steps = float(str(hours)) * 60.0 / step_min
    if steps != round(steps) or steps <= 0:
        raise InputError(f"{where}: {hours} h is not a whole number of {step_min}-min steps")
    return round(steps)


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
    step_min = int(record.get("step_min", 15))
    if "power_mw" in record:
        power_mw = float(record["power_mw"])
    elif "gpus" in record and "gpu_kw" in record:
        power_mw = float(record["gpus"]) * float(record["gpu_kw"]) / 1000.0
    else:
        raise InputError(f"{where}: give power_mw, or gpus and gpu_kw")
    if "duration_steps" in record:
        duration = int(record["duration_steps"])
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
        interruptible=bool(record.get("interruptible", False)),
        checkpoint_steps=checkpoint,
        allowed_sites=tuple(str(s) for s in allowed),
        data_gb=float(record.get("data_gb", 0.0)),
        priority=int(record.get("priority", 0)),
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
    n = open_job_queue(database_url(Settings())).submit(jobs)
    out.print(f"queued {n} job(s)")


@jobs_app.command("show")
def jobs_show(
    tenant: Annotated[str | None, typer.Option(help="Only this tenant's jobs.")] = None,
    status: Annotated[str | None, typer.Option(help="Only jobs in this status.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """List queued jobs with their window, power and status."""
    rows = open_job_queue(database_url(Settings())).jobs(tenant=tenant, status=status)
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
    open_job_queue(database_url(Settings())).cancel(tenant, job_id)
    out.print(f"cancelled job {job_id} of {tenant}")
