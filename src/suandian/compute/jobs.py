"""Deferrable compute jobs: a validated :class:`Job`, a columnar :class:`JobTable`, a :class:`Plan`.

A job runs at constant power for ``duration_steps`` intervals of ``step_min`` minutes inside its
half-open window ``[release_utc, deadline_utc)``. An interruptible job may pause only after a
multiple of ``checkpoint_steps`` run steps (``1`` = anywhere). Release and deadline sit on the
step grid (a multiple of ``step_min`` since midnight UTC), so a window is a whole number of steps.

Bad input is refused with an :class:`~suandian.core.errors.InputError` naming the job, the field
and the fix; :class:`JobTable` checks whole columns at once, so 100,000 jobs validate in
milliseconds.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from suandian.core.errors import InputError, TimeError
from suandian.core.times import interval_hours, require_utc

__all__ = ["Job", "JobTable", "Plan", "check_sites"]

_NS_PER_MIN = 60 * 10**9


@dataclass(frozen=True)
class Job:
    """One deferrable compute job.

    Attributes
    ----------
    id, tenant : str
        Unique job id; the tenant that owns it.
    power_mw : float
        Constant power while it runs. [MW]
    duration_steps : int
        Run time, in steps of ``step_min``. [steps]
    release_utc, deadline_utc : datetime
        Tz-aware window ``[release_utc, deadline_utc)``, on the step grid.
    interruptible : bool
        Whether the job may pause and resume.
    checkpoint_steps : int
        Pause only after a multiple of this many run steps (``1`` = anywhere). [steps]
    allowed_sites : tuple of str
        Sites the job may run on (data residency); at least one.
    data_gb : float
        Data to move if it runs away from its data. [GB]
    data_site : str
        Site that holds the data (``""``: none; the job moves nothing). Running elsewhere
        first moves ``data_gb`` there (:mod:`suandian.compute.transfer`).
    priority : int
        Higher runs first when capacity is short.
    step_min : int
        Length of one step. [min]
    """

    id: str
    tenant: str
    power_mw: float
    duration_steps: int
    release_utc: dt.datetime
    deadline_utc: dt.datetime
    interruptible: bool = False
    checkpoint_steps: int = 1
    allowed_sites: tuple[str, ...] = ()
    data_gb: float = 0.0
    data_site: str = ""
    priority: int = 0
    step_min: int = 15

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "release_utc", require_utc(self.release_utc, f"job {self.id!r}: release_utc")
        )
        object.__setattr__(
            self, "deadline_utc", require_utc(self.deadline_utc, f"job {self.id!r}: deadline_utc")
        )
        object.__setattr__(self, "allowed_sites", tuple(self.allowed_sites))
        if not isinstance(self.data_site, str):
            raise InputError(
                f"job {self.id!r}: data_site must be a site id, or empty for none "
                f"(got {self.data_site!r})"
            )
        _check_columns(
            ids=np.array([self.id], dtype=object),
            power_mw=np.array([self.power_mw], dtype=np.float64),
            duration_steps=np.array([self.duration_steps], dtype=np.int64),
            release_ns=np.array([pd.Timestamp(self.release_utc).value], dtype=np.int64),
            deadline_ns=np.array([pd.Timestamp(self.deadline_utc).value], dtype=np.int64),
            checkpoint_steps=np.array([self.checkpoint_steps], dtype=np.int64),
            n_sites=np.array([len(self.allowed_sites)], dtype=np.int64),
            data_gb=np.array([self.data_gb], dtype=np.float64),
            step_min=self.step_min,
        )

    @property
    def duration_h(self) -> float:
        """Run time. [h]"""
        return self.duration_steps * self.step_min / 60.0

    @property
    def energy_mwh(self) -> float:
        """Energy the job needs. [MWh]"""
        return self.power_mw * self.duration_h


def check_sites(jobs: Sequence[Job] | JobTable, known_sites: Collection[str]) -> None:
    """Refuse jobs that name a site not in ``known_sites``."""
    known = set(known_sites)
    if isinstance(jobs, JobTable):
        pairs = [
            (str(jobs.ids[i]), jobs.sites[j])
            for i, j in zip(*np.nonzero(jobs.allowed), strict=True)
        ]
    else:
        pairs = [(job.id, site) for job in jobs for site in job.allowed_sites]
    for job_id, site in pairs:
        if site not in known:
            raise InputError(
                f"job {job_id!r}: allowed_sites names unknown site {site!r}; "
                f"use one of {sorted(known)} or add the site to the scenario"
            )
    if isinstance(jobs, JobTable):
        held = [(str(i), str(s)) for i, s in zip(jobs.ids, jobs.data_site, strict=True) if s]
    else:
        held = [(job.id, job.data_site) for job in jobs if job.data_site]
    for job_id, site in held:
        if site not in known:
            raise InputError(
                f"job {job_id!r}: data_site names unknown site {site!r}; use one of "
                f"{sorted(known)}, or leave it empty if the job moves no data"
            )


def _first(mask: npt.NDArray[np.bool_]) -> int:
    return int(np.flatnonzero(mask)[0])


def _check_columns(
    *,
    ids: npt.NDArray[np.object_],
    power_mw: npt.NDArray[np.float64],
    duration_steps: npt.NDArray[np.int64],
    release_ns: npt.NDArray[np.int64],
    deadline_ns: npt.NDArray[np.int64],
    checkpoint_steps: npt.NDArray[np.int64],
    n_sites: npt.NDArray[np.int64],
    data_gb: npt.NDArray[np.float64],
    step_min: int,
) -> None:
    """Raise on the first job (in order) that breaks a rule; every check is vectorised."""
    interval_hours(step_min)
    step_ns = step_min * _NS_PER_MIN

    bad = ~(np.isfinite(power_mw) & (power_mw > 0))
    if bad.any():
        i = _first(bad)
        raise InputError(
            f"job {ids[i]!r}: power_mw must be a positive number of MW (got {power_mw[i]}); "
            "give the job's average draw while it runs, e.g. GPUs × kW per GPU / 1000"
        )
    bad = duration_steps < 1
    if bad.any():
        i = _first(bad)
        raise InputError(
            f"job {ids[i]!r}: duration_steps must be at least 1 (got {duration_steps[i]}); "
            f"give the run time in {step_min}-min steps"
        )
    bad = checkpoint_steps < 1
    if bad.any():
        i = _first(bad)
        raise InputError(
            f"job {ids[i]!r}: checkpoint_steps must be at least 1 (got {checkpoint_steps[i]}); "
            "use 1 if the job can pause after any step"
        )
    bad = n_sites < 1
    if bad.any():
        i = _first(bad)
        raise InputError(
            f"job {ids[i]!r}: allowed_sites is empty; name at least one site the job may run on"
        )
    bad = ~(np.isfinite(data_gb) & (data_gb >= 0))
    if bad.any():
        i = _first(bad)
        raise InputError(
            f"job {ids[i]!r}: data_gb must be a non-negative number of GB (got {data_gb[i]})"
        )
    for name, values in (("release_utc", release_ns), ("deadline_utc", deadline_ns)):
        bad = values % step_ns != 0
        if bad.any():
            i = _first(bad)
            ts = pd.Timestamp(int(values[i]), tz="UTC")
            step = pd.Timedelta(minutes=step_min)
            raise TimeError(
                f"job {ids[i]!r}: {name} {ts} is not on the {step_min}-min step grid; "
                f"use {ts.floor(step)} or {ts.ceil(step)}"
            )
    window_steps = (deadline_ns - release_ns) // step_ns
    bad = window_steps < duration_steps
    if bad.any():
        i = _first(bad)
        need = pd.Timestamp(int(release_ns[i]), tz="UTC") + pd.Timedelta(
            minutes=step_min * int(duration_steps[i])
        )
        raise InputError(
            f"job {ids[i]!r}: deadline_utc {pd.Timestamp(int(deadline_ns[i]), tz='UTC')} leaves "
            f"{max(int(window_steps[i]), 0)} steps after release_utc but the job needs "
            f"{int(duration_steps[i])}; move the deadline to {need} or later, the release "
            "earlier, or shorten the job"
        )


def _utc_ns(values: object, field_name: str) -> npt.NDArray[np.int64]:
    """Nanoseconds since the epoch of tz-aware instants; naive input is refused."""
    index = pd.DatetimeIndex(values)  # type: ignore[arg-type]
    if index.tz is None:
        raise TimeError(
            f"{field_name}: naive timestamps; localize them, e.g. "
            "pd.DatetimeIndex(x).tz_localize('UTC'), or give an explicit offset"
        )
    return np.asarray(index.tz_convert("UTC").as_unit("ns").asi8, dtype=np.int64)


@dataclass(frozen=True, eq=False)
class JobTable:
    """Jobs as columns, one row per job, for vectorised planning of 100,000 jobs.

    ``release_ns`` and ``deadline_ns`` are UTC nanoseconds since the epoch; ``allowed`` is a
    jobs × ``sites`` boolean matrix. Build with :meth:`from_jobs` or :meth:`from_arrays`, which
    validate; the constructor trusts its input.
    """

    ids: npt.NDArray[np.object_]
    tenants: npt.NDArray[np.object_]
    power_mw: npt.NDArray[np.float64]
    duration_steps: npt.NDArray[np.int64]
    release_ns: npt.NDArray[np.int64]
    deadline_ns: npt.NDArray[np.int64]
    interruptible: npt.NDArray[np.bool_]
    checkpoint_steps: npt.NDArray[np.int64]
    sites: tuple[str, ...]
    allowed: npt.NDArray[np.bool_]
    data_gb: npt.NDArray[np.float64]
    data_site: npt.NDArray[np.object_]
    """Site holding each job's data, ``""`` for none."""
    priority: npt.NDArray[np.int64]
    step_min: int = 15
    _row: dict[str, int] = field(default_factory=dict, repr=False)

    def __len__(self) -> int:
        return len(self.ids)

    @classmethod
    def from_jobs(cls, jobs: Sequence[Job], *, sites: Sequence[str] | None = None) -> JobTable:
        """Columns of already validated jobs, all on one step length."""
        if not jobs:
            raise InputError("jobs: no jobs given; pass at least one Job")
        steps = {job.step_min for job in jobs}
        if len(steps) > 1:
            raise InputError(
                f"jobs: mixed step lengths {sorted(steps)} min; give every job the same step_min"
            )
        site_list = (
            tuple(sites)
            if sites is not None
            else tuple(
                sorted({s for job in jobs for s in (*job.allowed_sites, job.data_site) if s})
            )
        )
        check_sites(jobs, site_list)
        col = {s: j for j, s in enumerate(site_list)}
        allowed = np.zeros((len(jobs), len(site_list)), dtype=bool)
        for i, job in enumerate(jobs):
            allowed[i, [col[s] for s in job.allowed_sites]] = True
        return cls.from_arrays(
            ids=[job.id for job in jobs],
            tenants=[job.tenant for job in jobs],
            power_mw=[job.power_mw for job in jobs],
            duration_steps=[job.duration_steps for job in jobs],
            release_utc=[job.release_utc for job in jobs],
            deadline_utc=[job.deadline_utc for job in jobs],
            interruptible=[job.interruptible for job in jobs],
            checkpoint_steps=[job.checkpoint_steps for job in jobs],
            sites=site_list,
            allowed=allowed,
            data_gb=[job.data_gb for job in jobs],
            data_site=[job.data_site for job in jobs],
            priority=[job.priority for job in jobs],
            step_min=steps.pop(),
        )

    @classmethod
    def from_arrays(
        cls,
        *,
        ids: npt.ArrayLike,
        power_mw: npt.ArrayLike,
        duration_steps: npt.ArrayLike,
        release_utc: object,
        deadline_utc: object,
        sites: Sequence[str],
        allowed: npt.ArrayLike | None = None,
        tenants: npt.ArrayLike | None = None,
        interruptible: npt.ArrayLike = False,
        checkpoint_steps: npt.ArrayLike = 1,
        data_gb: npt.ArrayLike = 0.0,
        data_site: npt.ArrayLike = "",
        priority: npt.ArrayLike = 0,
        step_min: int = 15,
    ) -> JobTable:
        """Validated columns; scalars broadcast; ``allowed=None`` allows every site.

        ``release_utc`` and ``deadline_utc`` are anything :class:`pandas.DatetimeIndex` takes,
        tz-aware.
        """
        id_arr = np.asarray(ids, dtype=object)
        n = len(id_arr)
        if n == 0:
            raise InputError("ids: no jobs given; pass at least one job")
        _, first, counts = np.unique(id_arr.astype(str), return_index=True, return_counts=True)
        if (counts > 1).any():
            dup = id_arr[first[counts > 1][0]]
            raise InputError(f"job {dup!r}: id used more than once; give every job its own id")
        site_tuple = tuple(sites)
        allowed_arr = (
            np.ones((n, len(site_tuple)), dtype=bool)
            if allowed is None
            else np.asarray(allowed, dtype=bool).reshape(n, len(site_tuple))
        )

        def column(values: npt.ArrayLike, dtype: type) -> npt.NDArray[Any]:
            return np.broadcast_to(np.asarray(values, dtype=dtype), (n,)).copy()

        table = cls(
            ids=id_arr,
            tenants=column("" if tenants is None else tenants, object),
            power_mw=column(power_mw, np.float64),
            duration_steps=column(duration_steps, np.int64),
            release_ns=np.broadcast_to(_utc_ns(release_utc, "release_utc"), (n,)).copy(),
            deadline_ns=np.broadcast_to(_utc_ns(deadline_utc, "deadline_utc"), (n,)).copy(),
            interruptible=column(interruptible, np.bool_),
            checkpoint_steps=column(checkpoint_steps, np.int64),
            sites=site_tuple,
            allowed=allowed_arr,
            data_gb=column(data_gb, np.float64),
            data_site=column(data_site, object),
            priority=column(priority, np.int64),
            step_min=step_min,
        )
        bad = [
            (i, x)
            for i, x in enumerate(table.data_site)
            if not isinstance(x, str) or (x and x not in site_tuple)
        ]
        if bad:
            i, x = bad[0]
            raise InputError(
                f"job {id_arr[i]!r}: data_site {x!r} is not among the sites {list(site_tuple)}; "
                "name one of them, or leave it empty if the job moves no data"
            )
        _check_columns(
            ids=table.ids,
            power_mw=table.power_mw,
            duration_steps=table.duration_steps,
            release_ns=table.release_ns,
            deadline_ns=table.deadline_ns,
            checkpoint_steps=table.checkpoint_steps,
            n_sites=allowed_arr.sum(axis=1).astype(np.int64),
            data_gb=table.data_gb,
            step_min=step_min,
        )
        return table

    def row(self, job_id: str) -> int:
        """Row of ``job_id``; raises :class:`KeyError` if absent."""
        if not self._row:
            self._row.update({str(j): i for i, j in enumerate(self.ids)})
        return self._row[job_id]

    def window_steps(
        self, grid_start_utc: dt.datetime | pd.Timestamp
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """Release and deadline as step indices on a grid starting at ``grid_start_utc``.

        The window of job ``i`` is steps ``[release[i], deadline[i])``.
        """
        start = require_utc(grid_start_utc, "grid_start_utc").value
        step_ns = self.step_min * _NS_PER_MIN
        if start % step_ns:
            raise TimeError(
                f"grid_start_utc {pd.Timestamp(start, tz='UTC')} is not on the "
                f"{self.step_min}-min step grid of the jobs"
            )
        return (self.release_ns - start) // step_ns, (self.deadline_ns - start) // step_ns


@dataclass(frozen=True, eq=False)
class Plan:
    """Where and when jobs run: one row per (job, step) they run in.

    ``step`` counts steps of ``step_min`` from ``grid_start_utc``; step ``s`` is the interval
    ``[grid_start_utc + s·step, grid_start_utc + (s+1)·step)``. Rows need not be sorted.
    """

    job_id: npt.NDArray[np.object_]
    site: npt.NDArray[np.object_]
    step: npt.NDArray[np.int64]
    grid_start_utc: pd.Timestamp
    step_min: int
