"""Per-site greedy placement under site capacities, and run-on-arrival across sites.

Baselines of the multi-site scheduler (issue 6), on a grid of ``T`` steps and ``S`` sites with
the grid's carbon intensity ``c[s, t]`` and the IT capacity open to jobs ``C[s, t]``:

* :func:`greedy_plan` — jobs in arrival order (release, then their order in the table); each is
  placed where its mean intensity is lowest among the placements that still fit under the
  capacity the jobs before it left, ``R[s, t] = C[s, t] − Σ_{placed j on s at t} p_j``:

  - a job that runs contiguously (not interruptible, or pausing only at coarser checkpoints —
    placed whole, feasible but not optimal) takes the ``(s, start)`` with
    ``start ∈ [r, d − k]``, ``min_{t ∈ [start, start + k)} R[s, t] ≥ p`` and the lowest
    ``Σ_{t} c[s, t] / k`` (earliest start, then first site, on ties);
  - an interruptible job with ``checkpoint_steps == 1`` takes, on the site where that mean is
    lowest, the ``k`` lowest-intensity steps of its window that have ``R[s, t] ≥ p``.

  A job that fits nowhere is left out of the plan and reported with the reason. Greedy never
  moves a job once placed, so an early job may take the window a later, tighter one needed.
* :func:`arrival_plan` — carbon- and capacity-agnostic: each job starts at its release on its
  data site, or else on the first of its allowed sites (in the table's site order) once its
  data have arrived, and runs straight through.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import pandas as pd

from suandian.compute.jobs import JobTable, Plan
from suandian.core.errors import InputError

__all__ = ["GreedyResult", "arrival_plan", "greedy_plan"]

FloatArray = npt.NDArray[np.float64]

_FIT_TOLERANCE_MW = 1e-9


@dataclass(frozen=True, eq=False)
class GreedyResult:
    """A plan of the jobs that could be placed, and why the others could not."""

    plan: Plan
    unplaced: dict[str, str] = field(default_factory=dict)
    """Job id → the reason it was not placed."""


def _site_columns(jobs: JobTable, sites: Sequence[str]) -> npt.NDArray[np.int64]:
    """For each of the jobs' sites, its row in the signal arrays (−1 if absent)."""
    return np.asarray(pd.Index(list(sites)).get_indexer(pd.Index(list(jobs.sites))), dtype=np.int64)


def _check(
    jobs: JobTable,
    sites: Sequence[str],
    intensity: FloatArray,
    capacity: FloatArray | None,
    grid_start_utc: pd.Timestamp,
    step_min: int,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    if step_min != jobs.step_min:
        raise InputError(
            f"the jobs use {jobs.step_min}-min steps but the signals {step_min}-min; plan on "
            "signals at the jobs' step"
        )
    if intensity.shape[0] != len(sites) or (
        capacity is not None and capacity.shape != intensity.shape
    ):
        raise InputError(
            f"intensity {intensity.shape} and capacity "
            f"{None if capacity is None else capacity.shape} must both be (sites, steps) with "
            f"{len(sites)} sites"
        )
    return jobs.window_steps(grid_start_utc)


def greedy_plan(
    jobs: JobTable,
    *,
    sites: Sequence[str],
    intensity_g_per_kwh: npt.ArrayLike,
    capacity_mw: npt.ArrayLike,
    grid_start_utc: pd.Timestamp,
    step_min: int,
    delay_steps: npt.ArrayLike | None = None,
) -> GreedyResult:
    """Place jobs one by one, in arrival order, at their lowest-intensity feasible slot.

    Parameters
    ----------
    jobs : JobTable
        The jobs; their ``sites`` need not all be in ``sites`` (absent ones are never used).
    sites : sequence of str
        Site of each row of the signal arrays.
    intensity_g_per_kwh : array-like
        Grid carbon intensity, shape (S, T). [gCO₂ kWh⁻¹]
    capacity_mw : array-like
        IT power open to jobs, shape (S, T). [MW]
    grid_start_utc : Timestamp
        Start of step 0.
    step_min : int
        Step length; must equal the jobs'. [min]
    delay_steps : array-like (jobs, S), optional
        Steps after its release before a job's data reach each site
        (:func:`suandian.compute.capacity.reachable_sites`); the job starts no earlier there.
    """
    intensity = np.asarray(intensity_g_per_kwh, dtype=np.float64)
    delay = _delays(delay_steps, len(jobs), len(sites))
    remaining = np.array(capacity_mw, dtype=np.float64)
    release, deadline = _check(jobs, sites, intensity, remaining, grid_start_utc, step_min)
    n_steps = intensity.shape[1]
    row_of = _site_columns(jobs, sites)
    order = np.argsort(release, kind="stable")
    chosen_ids: list[npt.NDArray[np.object_]] = []
    chosen_sites: list[npt.NDArray[np.object_]] = []
    chosen_steps: list[npt.NDArray[np.int64]] = []
    unplaced: dict[str, str] = {}
    cum = np.concatenate((np.zeros((len(sites), 1)), np.cumsum(intensity, axis=1)), axis=1)

    for i in order:
        job_id = str(jobs.ids[i])
        r, d, k = int(release[i]), int(deadline[i]), int(jobs.duration_steps[i])
        p = float(jobs.power_mw[i])
        if r < 0 or d > n_steps:
            unplaced[job_id] = (
                "its window lies outside the planning period; plan a period that covers "
                "its release and deadline"
            )
            continue
        rows = [int(row_of[j]) for j in np.flatnonzero(jobs.allowed[i]) if row_of[j] >= 0]
        if not rows:
            unplaced[job_id] = "none of its allowed sites has signals; add them to the period"
            continue
        split = bool(jobs.interruptible[i]) and int(jobs.checkpoint_steps[i]) == 1
        best: tuple[float, int, int] | None = None  # (mean intensity, start, site row)
        best_steps: npt.NDArray[np.int64] | None = None
        most_free = 0.0
        r_home = r
        for s in rows:
            r = r_home + int(delay[i, s])
            if d - r < k:
                continue
            free = remaining[s, r:d] >= p - _FIT_TOLERANCE_MW
            most_free = max(most_free, float(remaining[s, r:d].max()))
            if split:
                ok = np.flatnonzero(free)
                if len(ok) < k:
                    continue
                vals = intensity[s, r + ok]
                pick = np.sort(r + ok[np.argsort(vals, kind="stable")[:k]])
                score = float(intensity[s, pick].mean())
                key = (score, int(pick[0]), s)
                steps = pick
            else:
                # A start fits when its k steps are all free: a sliding count of free steps.
                run = np.concatenate(([0], np.cumsum(free)))
                starts = np.arange(r, d - k + 1)
                fits = (run[starts - r + k] - run[starts - r]) == k
                if not fits.any():
                    continue
                ok = starts[fits]
                means = (cum[s, ok + k] - cum[s, ok]) / k
                j = int(np.argmin(means))
                key = (float(means[j]), int(ok[j]), s)
                steps = np.arange(ok[j], ok[j] + k, dtype=np.int64)
            if best is None or key < best:
                best, best_steps = key, steps
        if best is None or best_steps is None:
            unplaced[job_id] = (
                f"no allowed site has {p:g} MW free for {k} "
                f"{'' if split else 'consecutive '}{jobs.step_min}-min steps in its window "
                f"(at most {most_free:g} MW free at any step); release capacity, widen the "
                "window or lower the power"
            )
            continue
        s = best[2]
        remaining[s, best_steps] -= p
        chosen_ids.append(np.full(k, jobs.ids[i], dtype=object))
        chosen_sites.append(np.full(k, sites[s], dtype=object))
        chosen_steps.append(best_steps.astype(np.int64))

    plan = Plan(
        job_id=np.concatenate(chosen_ids) if chosen_ids else np.empty(0, dtype=object),
        site=np.concatenate(chosen_sites) if chosen_sites else np.empty(0, dtype=object),
        step=np.concatenate(chosen_steps) if chosen_steps else np.empty(0, dtype=np.int64),
        grid_start_utc=pd.Timestamp(grid_start_utc),
        step_min=step_min,
    )
    return GreedyResult(plan=plan, unplaced=unplaced)


def _delays(delay_steps: npt.ArrayLike | None, n_jobs: int, n_sites: int) -> npt.NDArray[np.int64]:
    if delay_steps is None:
        return np.zeros((n_jobs, n_sites), dtype=np.int64)
    delay = np.asarray(delay_steps, dtype=np.int64)
    if delay.shape != (n_jobs, n_sites):
        raise InputError(
            f"delay_steps: shape {delay.shape}, expected (jobs, sites) = {(n_jobs, n_sites)}"
        )
    return delay


def arrival_plan(
    jobs: JobTable,
    *,
    sites: Sequence[str],
    grid_start_utc: pd.Timestamp,
    step_min: int,
    delay_steps: npt.ArrayLike | None = None,
) -> Plan:
    """Every job starts at its release on its data site if it may run there, else on its
    first allowed site in ``sites`` once its data have arrived (``delay_steps`` as in
    :func:`greedy_plan`)."""
    release, deadline = _check(
        jobs, sites, np.zeros((len(sites), 1)), None, grid_start_utc, step_min
    )
    row_of = _site_columns(jobs, sites)
    usable = jobs.allowed & (row_of >= 0)[None, :]
    if not usable.any(axis=1).all():
        i = int(np.flatnonzero(~usable.any(axis=1))[0])
        raise InputError(
            f"job {jobs.ids[i]!r}: none of its allowed sites is among {list(sites)}; "
            "plan on signals of its sites"
        )
    # a site counts once the job's data reach it with the run still ending by the deadline
    delays = _delays(delay_steps, len(jobs), len(sites))
    by_col = np.where(row_of[None, :] >= 0, delays[:, np.maximum(row_of, 0)], 0)
    usable &= by_col <= (deadline - release - jobs.duration_steps)[:, None]
    if not usable.any(axis=1).all():
        i = int(np.flatnonzero(~usable.any(axis=1))[0])
        raise InputError(
            f"job {jobs.ids[i]!r}: its {jobs.data_gb[i]:g} GB at {jobs.data_site[i]!r} reach "
            "none of its allowed sites in time to run there; allow its data site or move the "
            "deadline"
        )
    at_data = usable & (np.asarray(jobs.sites, dtype=object)[None, :] == jobs.data_site[:, None])
    col = np.where(at_data.any(axis=1), np.argmax(at_data, axis=1), np.argmax(usable, axis=1))
    first_site = np.asarray(jobs.sites, dtype=object)[col]
    delay = by_col[np.arange(len(jobs)), col]
    k = jobs.duration_steps
    within = np.arange(int(k.sum()), dtype=np.int64) - np.repeat(np.cumsum(k) - k, k)
    return Plan(
        job_id=np.repeat(jobs.ids, k),
        site=np.repeat(first_site, k),
        step=np.repeat(release + delay, k) + within,
        grid_start_utc=pd.Timestamp(grid_start_utc),
        step_min=step_min,
    )
