"""Slurm adapter: one ``sbatch`` command line per planned job.

Slurm reads ``--begin`` in the local time zone of the cluster (of ``slurmctld``), so the planned
UTC start is converted to ``cluster_tz`` (default Asia/Shanghai) and written without an offset.
Each site maps to a partition; the duration becomes ``--time``; GPUs become ``--gres=gpu:N``; the
tenant goes into ``--comment``. The job's argv runs through ``--wrap``. Every argument is quoted
with :mod:`shlex`, so a line can be pasted into a POSIX shell as it is.
"""

from __future__ import annotations

import datetime as dt
import math
import shlex
from collections.abc import Mapping, Sequence
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from suandian.core.errors import InputError, TimeError
from suandian.core.times import LOCAL_TZ
from suandian.executors.plan import Plan, PlannedJob

__all__ = ["sbatch_args", "sbatch_line", "sbatch_lines", "slurm_begin", "slurm_time"]


def _zone(tz: str | dt.tzinfo) -> dt.tzinfo:
    if isinstance(tz, dt.tzinfo):
        return tz
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise InputError(
            f"cluster_tz: {tz!r} is not an IANA time zone; use a name such as 'Asia/Shanghai'"
        ) from None


def slurm_begin(start_utc: dt.datetime, cluster_tz: str | dt.tzinfo = LOCAL_TZ) -> str:
    """``--begin`` value: the instant as wall-clock time of ``cluster_tz``, ``YYYY-MM-DDTHH:MM:SS``.

    Seconds are rounded up so a job never begins before its planned instant.
    """
    if start_utc.tzinfo is None:
        raise TimeError(f"start_utc {start_utc} is naive; give a tz-aware datetime")
    local = start_utc.astimezone(_zone(cluster_tz))
    if local.microsecond:
        local = local.replace(microsecond=0) + dt.timedelta(seconds=1)
    return local.strftime("%Y-%m-%dT%H:%M:%S")


def slurm_time(duration: dt.timedelta) -> str:
    """``--time`` value ``D-HH:MM:SS`` for ``duration``, rounded up to whole seconds."""
    total = math.ceil(duration.total_seconds())
    if total <= 0:
        raise InputError(f"duration must be positive (got {duration})")
    days, rest = divmod(total, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, seconds = divmod(rest, 60)
    return f"{days}-{hours:02d}:{minutes:02d}:{seconds:02d}"


def sbatch_args(
    job: PlannedJob,
    *,
    partitions: Mapping[str, str],
    cluster_tz: str | dt.tzinfo = LOCAL_TZ,
    account: str | None = None,
    extra: Sequence[str] = (),
) -> list[str]:
    """The ``sbatch`` argv for one planned job (``argv[0] == "sbatch"``).

    Parameters
    ----------
    job : PlannedJob
        Its ``command`` must be an argv; a callable name has no meaning to Slurm.
    partitions : mapping
        Site id → Slurm partition. A site without one is refused.
    cluster_tz : str or tzinfo
        Time zone in which the cluster reads ``--begin``. Default Asia/Shanghai.
    account : str, optional
        ``--account`` to charge.
    extra : sequence of str
        Further options, appended before ``--wrap``.
    """
    if isinstance(job.command, str):
        raise InputError(
            f"job {job.job_id!r}: command names the callable {job.command!r}; sbatch needs an "
            "argv, e.g. command=('python', '-m', 'train')"
        )
    partition = partitions.get(job.site)
    if not partition:
        known = ", ".join(sorted(partitions)) or "none"
        raise InputError(
            f"job {job.job_id!r}: site {job.site!r} has no Slurm partition (sites with one: "
            f"{known}); add it to partitions, e.g. partitions={{{job.site!r}: 'gpu'}}"
        )
    argv = [
        "sbatch",
        f"--job-name={job.job_id}",
        f"--partition={partition}",
        f"--begin={slurm_begin(job.start_utc, cluster_tz)}",
        f"--time={slurm_time(job.duration)}",
    ]
    if job.gpus is not None:
        argv.append(f"--gres=gpu:{job.gpus}")
    argv.append(f"--comment=tenant={job.tenant}")
    argv.append("--requeue" if job.interruptible else "--no-requeue")
    if account is not None:
        argv.append(f"--account={account}")
    argv.extend(extra)
    argv.append(f"--wrap={shlex.join(job.command)}")
    return argv


def sbatch_line(
    job: PlannedJob,
    *,
    partitions: Mapping[str, str],
    cluster_tz: str | dt.tzinfo = LOCAL_TZ,
    account: str | None = None,
    extra: Sequence[str] = (),
) -> str:
    """:func:`sbatch_args` as one shell-quoted line."""
    return shlex.join(
        sbatch_args(job, partitions=partitions, cluster_tz=cluster_tz, account=account, extra=extra)
    )


def sbatch_lines(
    plan: Plan,
    *,
    partitions: Mapping[str, str],
    cluster_tz: str | dt.tzinfo = LOCAL_TZ,
    account: str | None = None,
    extra: Sequence[str] = (),
) -> list[str]:
    """One ``sbatch`` line per planned job, in plan order."""
    return [
        sbatch_line(job, partitions=partitions, cluster_tz=cluster_tz, account=account, extra=extra)
        for job in plan.jobs
    ]
