"""The plan as executors see it: which job starts where and when.

These types are the hand-over from any planner to the executors (Ray, Kubernetes, Slurm). They
carry only what a launcher needs; how the plan was found is the planner's business.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from suandian.core.errors import InputError
from suandian.core.times import require_utc

__all__ = ["Command", "Plan", "PlannedJob"]

Command = tuple[str, ...] | str
"""An argv to run (``("python", "train.py")``), or the name of a callable the executor knows."""


def _utc(value: dt.datetime, field_name: str) -> dt.datetime:
    out: dt.datetime = require_utc(value, field_name).to_pydatetime()
    return out


@dataclass(frozen=True)
class PlannedJob:
    """One job placed by the planner: run ``command`` at ``site`` from ``start_utc``.

    Parameters
    ----------
    job_id : str
        Unique within a plan; stable across re-plans.
    tenant : str
        Owner of the job (labels, accounting).
    site : str
        Site id from the scenario.
    start_utc : datetime
        Planned start; tz-aware (stored in UTC). Naive values raise :class:`TimeError`.
    duration : timedelta
        Planned run time, > 0.
    power_mw : float
        Planned electrical power while running, >= 0. [MW]
    gpus : int or None
        GPUs the job needs, > 0, or None for none.
    interruptible : bool
        Whether the job checkpoints and may be stopped and resumed.
    command : tuple of str, or str
        Argv to execute, or the name of a callable registered with the executor.
    priority : int
        Larger runs first when jobs compete. Default 0.
    """

    job_id: str
    tenant: str
    site: str
    start_utc: dt.datetime
    duration: dt.timedelta
    power_mw: float
    command: Command
    gpus: int | None = None
    interruptible: bool = False
    priority: int = 0

    def __post_init__(self) -> None:
        where = f"job {self.job_id!r}"
        for name in ("job_id", "tenant", "site"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value.strip():
                raise InputError(f"{where}: {name} must be a non-empty string (got {value!r})")
        if not isinstance(self.start_utc, dt.datetime):
            raise InputError(
                f"{where}: start_utc must be a tz-aware datetime (got {self.start_utc!r})"
            )
        object.__setattr__(self, "start_utc", _utc(self.start_utc, f"{where}: start_utc"))
        if not isinstance(self.duration, dt.timedelta) or self.duration <= dt.timedelta(0):
            raise InputError(
                f"{where}: duration must be a positive timedelta (got {self.duration!r})"
            )
        if not math.isfinite(self.power_mw) or self.power_mw < 0:
            raise InputError(
                f"{where}: power_mw must be finite and >= 0 [MW] (got {self.power_mw})"
            )
        if self.gpus is not None and (isinstance(self.gpus, bool) or self.gpus <= 0):
            raise InputError(f"{where}: gpus must be a positive int or None (got {self.gpus!r})")
        if isinstance(self.command, str):
            if not self.command.strip():
                raise InputError(f"{where}: command names no callable; give an argv or a name")
        else:
            command = tuple(self.command)
            if not command or not all(isinstance(a, str) for a in command):
                raise InputError(
                    f"{where}: command must be a non-empty tuple of strings or a callable name "
                    f"(got {self.command!r})"
                )
            object.__setattr__(self, "command", command)

    @property
    def end_utc(self) -> dt.datetime:
        """Planned end, ``start_utc + duration``."""
        return self.start_utc + self.duration


@dataclass(frozen=True)
class Plan:
    """A versioned set of planned jobs; re-plans carry a higher ``version``."""

    jobs: tuple[PlannedJob, ...]
    created_utc: dt.datetime
    version: int = 0
    _by_id: Mapping[str, PlannedJob] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        jobs = tuple(self.jobs)
        bad = [j for j in jobs if not isinstance(j, PlannedJob)]
        if bad:
            raise InputError(f"plan.jobs must hold PlannedJob values (got {bad[0]!r})")
        object.__setattr__(self, "jobs", jobs)
        object.__setattr__(self, "created_utc", _utc(self.created_utc, "plan.created_utc"))
        if isinstance(self.version, bool) or self.version < 0:
            raise InputError(f"plan.version must be an int >= 0 (got {self.version!r})")
        counts = Counter(j.job_id for j in jobs)
        dupes = sorted(k for k, n in counts.items() if n > 1)
        if dupes:
            raise InputError(
                f"plan has duplicate job ids {dupes}; each job must appear once in a plan"
            )
        object.__setattr__(self, "_by_id", {j.job_id: j for j in jobs})

    @classmethod
    def of(cls, jobs: Iterable[PlannedJob], *, created_utc: dt.datetime, version: int = 0) -> Plan:
        """Build a plan from any iterable of jobs."""
        return cls(tuple(jobs), created_utc, version)

    @property
    def job_ids(self) -> tuple[str, ...]:
        return tuple(j.job_id for j in self.jobs)

    @property
    def sites(self) -> tuple[str, ...]:
        """Sites used by the plan, sorted."""
        return tuple(sorted({j.site for j in self.jobs}))

    def get(self, job_id: str) -> PlannedJob | None:
        return self._by_id.get(job_id)

    def __contains__(self, job_id: object) -> bool:
        return job_id in self._by_id

    def __len__(self) -> int:
        return len(self.jobs)
