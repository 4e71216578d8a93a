"""The multi-site planner in two levels: an energy LP over sites × slots, then job packing.

Energy level (:func:`plan_capacity`)
------------------------------------
An LP decides how much flexible compute energy each site serves in each slot (``slot_steps``
steps, default one hour) and thereby its *capacity curve*. Jobs are aggregated into groups
``g = (allowed-site set, deadline slot D)``; a job's window is widened to whole slots
``[⌊r/L⌋, ⌈d/L⌉)``. Per group a backlog carries the energy released but not yet served:

    b[g, h−1] + release[g, h] − Σ_s y[g, s, h] − b[g, h] = 0,    b[g, D−1] = 0

so energy released in slot ``h`` can be served in any slot of ``[h, D)`` on any allowed site:
flow over time, which is the interval (Hall) condition of every window at once without one
variable block per window. Per group and slot the energy served ``Y[g, h]`` lies between two
sums over the group's jobs, taken on each job's own window, not the widened one
(:func:`_slot_limits`): at most ``p · min(k, n)`` steps' energy where the window has ``n`` steps
in the slot (no job runs faster than its power, nor past its own deadline), and at least the
steps it cannot avoid (a non-interruptible job always runs ``[r + σ, r + k)``, slack ``σ``; any
job runs at least ``n − σ`` of the ``n``). Because past its jobs' deadlines a group can serve
nothing, rounding deadlines up (``deadline_bucket_slots``) costs the bound little.

Groups with the same site set ``m`` share one split over sites: ``Σ_{g ∈ m} Y[g, h] =
Σ_{s ∈ m} z[m, s, h]``. This is exact, not a relaxation: any per-group split ``y[g, s, h]``
sums to such a ``z``, and any ``z`` splits back in proportion (every group of ``m`` may use
every site of ``m``); it needs one column per (site set, site, slot) instead of one per
(group, site, slot), a third of the columns. Per site and slot ``Σ_m z[m, s, h] = green[s, h] +
grid[s, h]`` with ``green ≤`` on-site surplus and ``grid ≤`` capacity − surplus (the optimum takes
the surplus first, so this is ``green + grid ≤ capacity`` without a row). The objective prices
grid energy at the slot's lowest step cost (carbon intensity, tariff, or both weighted) and green
energy at zero.

Every job-level plan maps onto a feasible point of this LP (its energy per group, site and slot),
and each aggregation only widens the feasible set or lowers a cost, so the LP optimum is a lower
bound on the objective of any job-level plan: it relaxes non-interruptibility, checkpoints,
one-site-per-job and the per-job limits (to per-group sums). A job whose window, cut to the
horizon, is shorter than its run has no plan at all; it is left out of the LP (the packer
reports it), so the bound covers the jobs that can run.

HiGHS's interior-point solver without crossover solves it (several times faster than the dual
simplex here). The reported ``objective_value`` is not the primal objective but the Lagrangian
dual bound computed from the returned duals (:func:`_dual_bound`): weak duality makes it a lower
bound on the LP optimum for any duals, so it stays a valid bound whatever the solver's
tolerances, and it equals the optimum to ~1e-8 relative. The dual of the site balance is the
marginal cost of energy per site and slot (``price_per_mwh``), which the packer uses.

Job level (:func:`pack_jobs`)
-----------------------------
Three passes, each vectorised over batches of jobs (:func:`_choose`).

1. *First pass.* Jobs in order — non-interruptible first, then least slack, then highest
   energy — each take the cheapest feasible steps of their window on the cheapest allowed site:
   the ``k`` cheapest for an interruptible job with ``checkpoint_steps == 1``, the cheapest run of
   ``k`` consecutive steps otherwise (a job with coarser checkpoints is placed whole: valid, not
   optimal). A step is feasible where the site's free capacity holds the job's power. Steps are
   priced at the LP's marginal price where it exceeds the step's cost, so a job that may run
   elsewhere leaves a full site to those that may not. A batch's choices are made against the
   capacity at its start; one that still fits is still the best (capacity only shrinks), so only
   choices that collide with an earlier one are made again.
2. *Repair.* A job that found no room moves placed jobs out of its way
   (:func:`_evict_and_place`): on the site and steps needing the least freed power, jobs allowed on
   more sites, then smaller ones, are lifted until it fits, and placed again elsewhere; if one of
   them no longer fits, all is put back.
3. *Improvement.* ``improve_sweeps`` sweeps move each job to its cheapest placement at the true
   cost given all the others; every move lowers the objective and keeps the plan feasible.

A job that still does not fit is reported with the reason, never dropped silently.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import highspy
import numpy as np
import numpy.typing as npt
import pandas as pd
import scipy.sparse as sp

from suandian.compute.jobs import JobTable, Plan
from suandian.core.cstdio import c_stdout_silenced
from suandian.core.errors import InfeasiblePlan, InputError
from suandian.core.times import require_utc

__all__ = [
    "CapacityPlan",
    "PackResult",
    "SiteSignals",
    "pack_jobs",
    "plan_capacity",
    "plan_cost",
    "step_cost_per_mwh",
    "take_jobs",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
Objective = Literal["carbon", "cost", "weighted"]

_EPS_MW = 1e-9
_KWH_PER_MWH = 1000.0


@dataclass(frozen=True, eq=False)
class SiteSignals:
    """What the planner follows, per site and step of one grid.

    Attributes
    ----------
    sites : tuple of str
        Site ids, the row order of every array.
    grid_start_utc : pandas.Timestamp
        Start of step 0 (tz-aware).
    step_min : int
        Step length. [min]
    intensity_g_per_kwh : ndarray (sites, steps)
        Grid carbon intensity. [gCO₂/kWh]
    price_cny_per_kwh : ndarray (sites, steps), optional
        Grid tariff. [CNY/kWh]
    surplus_mw : ndarray (sites, steps), optional
        On-site green surplus the site may use at zero carbon and cost. [MW]
    """

    sites: tuple[str, ...]
    grid_start_utc: pd.Timestamp
    step_min: int
    intensity_g_per_kwh: FloatArray
    price_cny_per_kwh: FloatArray | None = None
    surplus_mw: FloatArray | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "sites", tuple(self.sites))
        object.__setattr__(
            self, "grid_start_utc", pd.Timestamp(require_utc(self.grid_start_utc, "grid_start"))
        )
        shape = (len(self.sites), np.asarray(self.intensity_g_per_kwh).shape[-1])
        for name in ("intensity_g_per_kwh", "price_cny_per_kwh", "surplus_mw"):
            value = getattr(self, name)
            if value is None:
                continue
            arr = np.asarray(value, dtype=np.float64)
            if arr.shape != shape:
                raise InputError(
                    f"{name}: shape {arr.shape}, expected {shape} (sites × steps); give one "
                    "row per site in the order of `sites`"
                )
            if not (np.isfinite(arr).all() and (arr >= 0).all()):
                raise InputError(f"{name}: values must be finite and ≥ 0; fill gaps first")
            object.__setattr__(self, name, arr)

    @property
    def n_steps(self) -> int:
        return int(self.intensity_g_per_kwh.shape[1])

    @property
    def step_h(self) -> float:
        return self.step_min / 60.0


def step_cost_per_mwh(
    signals: SiteSignals, objective: Objective = "carbon", *, carbon_price_cny_per_t: float = 0.0
) -> FloatArray:
    """Cost of one MWh of grid energy per site and step.

    ``carbon``: kgCO₂/MWh (= gCO₂/kWh); ``cost``: CNY/MWh; ``weighted``: CNY/MWh with carbon at
    ``carbon_price_cny_per_t`` (CNY per tonne CO₂).
    """
    carbon = signals.intensity_g_per_kwh  # g/kWh = kg/MWh
    if objective == "carbon":
        return carbon
    if signals.price_cny_per_kwh is None:
        raise InputError(
            f"objective {objective!r} needs price_cny_per_kwh in the signals; give the "
            "tariff or plan for 'carbon'"
        )
    cost = signals.price_cny_per_kwh * _KWH_PER_MWH
    if objective == "cost":
        return cost
    if objective == "weighted":
        return cost + carbon * carbon_price_cny_per_t / 1000.0
    raise InputError(f"objective {objective!r} is unknown; use 'carbon', 'cost' or 'weighted'")


def _site_columns(jobs: JobTable, signals: SiteSignals) -> npt.NDArray[np.bool_]:
    """Jobs × signal-sites allowed matrix (a job site absent from the signals is refused)."""
    col = {s: j for j, s in enumerate(signals.sites)}
    missing = [s for s in jobs.sites if s not in col]
    if missing and jobs.allowed[:, [jobs.sites.index(s) for s in missing]].any():
        raise InputError(
            f"jobs allow site(s) {missing} that have no signals; give signals for every site "
            f"the jobs may run on (signals cover {list(signals.sites)})"
        )
    allowed = np.zeros((len(jobs), len(signals.sites)), dtype=bool)
    for j, s in enumerate(jobs.sites):
        if s in col:
            allowed[:, col[s]] = jobs.allowed[:, j]
    return allowed


def _capacity_array(capacity_mw: object, signals: SiteSignals) -> FloatArray:
    n_s, n_t = len(signals.sites), signals.n_steps
    if isinstance(capacity_mw, Mapping):
        missing = [s for s in signals.sites if s not in capacity_mw]
        if missing:
            raise InputError(f"capacity_mw has no entry for site(s) {missing}; give one per site")
        arr = np.array([float(capacity_mw[s]) for s in signals.sites])
    else:
        arr = np.asarray(capacity_mw, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr[:, None]
    arr = np.broadcast_to(arr, (n_s, n_t)).astype(np.float64)
    if not (np.isfinite(arr).all() and (arr >= 0).all()):
        raise InputError("capacity_mw: values must be finite and ≥ 0 MW")
    return arr


def _windows(jobs: JobTable, signals: SiteSignals) -> tuple[IntArray, IntArray]:
    if jobs.step_min != signals.step_min:
        raise InputError(
            f"jobs use {jobs.step_min}-min steps but the signals {signals.step_min}-min; "
            "resample the signals to the jobs' step"
        )
    r, d = jobs.window_steps(signals.grid_start_utc)
    return np.clip(r, 0, signals.n_steps), np.clip(d, 0, signals.n_steps)


# --- energy level --------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class CapacityPlan:
    """The energy level's result: how much flexible compute each site runs per step.

    Attributes
    ----------
    sites : tuple of str
    p_mw : ndarray (sites, steps)
        Planned compute power (the capacity curve; constant within a slot). [MW]
    green_mw : ndarray (sites, steps)
        Part of ``p_mw`` covered by on-site surplus. [MW]
    objective_value : float
        LP optimum: a lower bound on the objective of any job-level plan (kgCO₂ for
        ``carbon``, CNY otherwise).
    status : str
        HiGHS model status.
    n_groups, n_cols, n_rows : int
        Size of the LP.
    solve_s : float
        HiGHS run time. [s]
    job_group : ndarray (jobs,)
        Group of each job (−1: its window lies outside the horizon).
    group_sites : list of ndarray
        Site rows of each group's allowed set.
    group_start_step : ndarray (groups,)
        First step of each group's curve. [steps]
    group_p_mw : list of ndarray
        Each group's share of the curve, (its sites, steps from its start step). [MW]
    price_per_mwh : ndarray (sites, steps)
        Marginal cost of one more MWh at each site and step (the LP's dual of the site
        balance): the step's cost where the site has room, more where its capacity binds.
        [objective unit / MWh]
    """

    sites: tuple[str, ...]
    p_mw: FloatArray
    green_mw: FloatArray
    objective_value: float
    status: str
    n_groups: int
    n_cols: int
    n_rows: int
    solve_s: float
    job_group: IntArray = field(default_factory=lambda: np.zeros(0, dtype=np.int64), repr=False)
    group_sites: list[IntArray] = field(default_factory=list, repr=False)
    group_start_step: IntArray = field(
        default_factory=lambda: np.zeros(0, dtype=np.int64), repr=False
    )
    group_p_mw: list[FloatArray] = field(default_factory=list, repr=False)
    price_per_mwh: FloatArray = field(
        default_factory=lambda: np.zeros((0, 0), dtype=np.float64), repr=False
    )


def plan_capacity(
    jobs: JobTable,
    signals: SiteSignals,
    capacity_mw: Mapping[str, float] | npt.ArrayLike,
    *,
    objective: Objective = "carbon",
    carbon_price_cny_per_t: float = 0.0,
    slot_steps: int = 4,
    deadline_bucket_slots: int = 1,
    use_surplus: bool = True,
    solver: str = "ipm",
) -> CapacityPlan:
    """Solve the energy-level LP (module docstring) and return per-site capacity curves.

    Parameters
    ----------
    jobs : JobTable
    signals : SiteSignals
    capacity_mw : mapping site → MW, or array (sites,) or (sites, steps)
        Power available for flexible compute. [MW]
    objective : {"carbon", "cost", "weighted"}
    carbon_price_cny_per_t : float
        Carbon price of ``weighted``. [CNY/tCO₂]
    slot_steps : int
        Steps per LP slot; 4 at 15 min is the hourly resolution of grid intensity.
    deadline_bucket_slots : int
        Round deadlines up to a multiple of this many slots: fewer groups, and the bound
        hardly loosens, since past its jobs' own deadlines a group serves nothing
        (:func:`_slot_limits`).
    use_surplus : bool
        Count on-site surplus as free green energy (needs ``signals.surplus_mw``).
    solver : {"ipm", "simplex", "pdlp"}
        HiGHS method. ``ipm`` runs without crossover; the bound comes from the duals either
        way (:func:`_dual_bound`).

    Raises
    ------
    InfeasiblePlan
        When the jobs' energy cannot be served inside their windows at all.
    """
    if slot_steps < 1 or signals.n_steps % slot_steps:
        raise InputError(
            f"slot_steps {slot_steps} must be ≥ 1 and divide the {signals.n_steps} steps"
        )
    cap = _capacity_array(capacity_mw, signals)
    allowed = _site_columns(jobs, signals)
    r, d = _windows(jobs, signals)
    n_s, n_t = cap.shape
    n_h = n_t // slot_steps
    slot_h = slot_steps * signals.step_h
    unit_cost = step_cost_per_mwh(signals, objective, carbon_price_cny_per_t=carbon_price_cny_per_t)
    slot_cost = unit_cost.reshape(n_s, n_h, slot_steps).min(axis=2)
    slot_cap = cap.reshape(n_s, n_h, slot_steps).sum(axis=2) * signals.step_h
    surplus = signals.surplus_mw if (use_surplus and signals.surplus_mw is not None) else None
    slot_green = (
        np.zeros((n_s, n_h))
        if surplus is None
        else np.minimum(surplus, cap).reshape(n_s, n_h, slot_steps).sum(axis=2) * signals.step_h
    )

    # groups: (allowed-site set, deadline slot)
    r_h = r // slot_steps
    d_h = -(-d // slot_steps)
    d_h = -(-d_h // deadline_bucket_slots) * deadline_bucket_slots
    d_h = np.minimum(d_h, n_h)
    # a job whose window (cut to the horizon) is shorter than its run has no plan at all:
    # pack_jobs reports it, and the bound covers the jobs that can run
    live = (d_h > r_h) & (d - r >= jobs.duration_steps)
    # One id per distinct allowed-site set (rows of the jobs × sites matrix; any site count).
    masks, mask_of = np.unique(allowed[live], axis=0, return_inverse=True)
    mask_of = np.asarray(mask_of).reshape(-1)
    group_key = mask_of * (n_h + 1) + d_h[live]
    groups, group_of = np.unique(group_key, return_inverse=True)
    n_g = len(groups)
    g_deadline = groups % (n_h + 1)
    g_mask = groups // (n_h + 1)
    energy_mwh = (jobs.power_mw * jobs.duration_steps * signals.step_h)[live]
    rel = np.zeros((n_g, n_h))
    np.add.at(rel, (group_of, r_h[live]), energy_mwh)
    rate, must = _slot_limits(jobs, live, group_of, r, d, n_g, n_h, slot_steps, signals.step_h)
    g_start = np.full(n_g, n_h, dtype=np.int64)
    np.minimum.at(g_start, group_of, r_h[live])

    # cells (g, h) with h in [start_g, D_g); backlog b[g, h] on every cell but each group's last
    span = g_deadline - g_start
    cell_g = np.repeat(np.arange(n_g), span)
    cell_h = np.arange(span.sum()) - np.repeat(np.cumsum(span) - span, span) + g_start[cell_g]
    n_cells = len(cell_g)
    last = np.zeros(n_cells, dtype=bool)
    last[np.cumsum(span) - 1] = True
    b_cell = np.flatnonzero(~last)
    n_b = len(b_cell)
    prev = np.flatnonzero(cell_h > g_start[cell_g])  # cells with a backlog coming in
    # mask cells (m, h): slots where a group of site set m is open; z per (mask cell, site of m)
    n_m = len(masks)
    open_mh = np.zeros(n_m * n_h, dtype=bool)
    open_mh[g_mask[cell_g] * n_h + cell_h] = True
    mh_flat = np.flatnonzero(open_mh)
    n_mh = len(mh_flat)
    mh_id = np.full(n_m * n_h, -1, dtype=np.int64)
    mh_id[mh_flat] = np.arange(n_mh)
    cell_mh = mh_id[g_mask[cell_g] * n_h + cell_h]
    z_mh, z_site = np.nonzero(masks[mh_flat // n_h])
    n_z = len(z_mh)
    z_sh = z_site * n_h + mh_flat[z_mh] % n_h
    n_sh = n_s * n_h

    # columns: serve (cells), backlog, z, green (S·H), grid (S·H)
    b_col = np.full(n_cells, -1, dtype=np.int64)
    b_col[b_cell] = n_cells + np.arange(n_b)
    z_col = n_cells + n_b + np.arange(n_z)
    green_col = n_cells + n_b + n_z + np.arange(n_sh)
    grid_col = green_col + n_sh
    n_cols = n_cells + n_b + n_z + 2 * n_sh
    # rows (all equalities): group balance (cells), site-set balance (mask cells), site (S·H)
    bal_row = np.arange(n_cells)
    mask_row = n_cells + np.arange(n_mh)
    site_row = n_cells + n_mh + np.arange(n_sh)
    n_rows = n_cells + n_mh + n_sh
    rows = np.concatenate(
        [
            bal_row,
            mask_row[cell_mh],
            bal_row[b_cell],
            bal_row[prev],
            mask_row[z_mh],
            site_row[z_sh],
            site_row,
            site_row,
        ]
    )
    cols = np.concatenate(
        [
            np.arange(n_cells),
            np.arange(n_cells),
            b_col[b_cell],
            b_col[prev - 1],
            z_col,
            z_col,
            green_col,
            grid_col,
        ]
    )
    vals = np.concatenate(
        [
            -np.ones(n_cells),
            np.ones(n_cells),
            -np.ones(n_b),
            np.ones(len(prev)),
            -np.ones(n_z),
            np.ones(n_z),
            -np.ones(2 * n_sh),
        ]
    )
    rhs = np.concatenate([-rel[cell_g, cell_h], np.zeros(n_mh + n_sh)])
    col_lower = np.concatenate([np.minimum(must, rate)[cell_g, cell_h], np.zeros(n_cols - n_cells)])
    # grid ≤ capacity − surplus: at the optimum green takes the surplus first, so this is
    # green + grid ≤ capacity without a row
    col_upper = np.concatenate(
        [
            rate[cell_g, cell_h],
            np.full(n_b + n_z, np.inf),
            slot_green.ravel(),
            (slot_cap - slot_green).ravel(),
        ]
    )
    # implied bounds, for the dual bound only: a backlog never exceeds its group's energy, a z
    # never its site's capacity
    col_upper_implied = col_upper.copy()
    col_upper_implied[b_col[b_cell]] = rel.sum(axis=1)[cell_g[b_cell]]
    col_upper_implied[z_col] = slot_cap.ravel()[z_sh]
    col_cost = np.concatenate([np.zeros(n_cells + n_b + n_z + n_sh), slot_cost.ravel()])
    matrix = sp.csc_matrix((vals, (rows, cols)), shape=(n_rows, n_cols))
    matrix.sum_duplicates()
    matrix.sort_indices()

    status, col_value, row_dual, solve_s = _solve(
        col_cost, col_lower, col_upper, rhs, matrix, solver
    )
    if col_value is None or row_dual is None:
        raise InfeasiblePlan(
            f"the energy level found no plan ({status}): the jobs' energy does not fit the "
            "sites' capacity inside their windows; raise capacity_mw, widen deadlines or "
            "drop jobs (pack_jobs reports which jobs cannot fit)"
        )
    objective_value = _dual_bound(col_cost, col_lower, col_upper_implied, rhs, matrix, row_dual)
    green = col_value[green_col].reshape(n_s, n_h)
    grid = col_value[grid_col].reshape(n_s, n_h)
    p_mw = np.repeat((green + grid) / slot_h, slot_steps, axis=1)
    green_mw = np.repeat(green / slot_h, slot_steps, axis=1)
    # marginal cost of one more MWh at (site, slot): the slot's cost, plus a scarcity price
    # where the site is full
    price = np.repeat(-row_dual[site_row].reshape(n_s, n_h), slot_steps, axis=1)
    job_group = np.full(len(jobs), -1, dtype=np.int64)
    job_group[live] = group_of
    # each group's curve: its served energy split over its sites as its site set's z is
    z = col_value[z_col]
    z_total = np.bincount(z_mh, z, minlength=n_mh)
    share = np.zeros((n_mh, n_s))
    share[z_mh, z_site] = z / np.where(z_total > 0, z_total, 1.0)[z_mh]
    y_cells = col_value[:n_cells, None] * share[cell_mh] / slot_h
    bounds = np.concatenate([[0], np.cumsum(span)])
    group_sites = [np.flatnonzero(row) for row in masks[g_mask]]
    group_p_mw = [
        np.repeat(y_cells[bounds[g] : bounds[g + 1], group_sites[g]].T, slot_steps, axis=1)
        for g in range(n_g)
    ]
    return CapacityPlan(
        sites=signals.sites,
        p_mw=p_mw,
        green_mw=green_mw,
        objective_value=objective_value,
        status=status,
        n_groups=n_g,
        n_cols=n_cols,
        n_rows=n_rows,
        solve_s=solve_s,
        job_group=job_group,
        group_sites=group_sites,
        group_start_step=g_start * slot_steps,
        group_p_mw=group_p_mw,
        price_per_mwh=price,
    )


def _slot_limits(
    jobs: JobTable,
    live: npt.NDArray[np.bool_],
    group_of: IntArray,
    r: IntArray,
    d: IntArray,
    n_g: int,
    n_h: int,
    slot_steps: int,
    step_h: float,
) -> tuple[FloatArray, FloatArray]:
    """Most and least energy each group can serve per slot, from its jobs' own windows. [MWh]

    A job serves at most ``p · min(k, n)`` steps' energy in a slot where its window has ``n``
    steps, and at least the steps it cannot avoid: a non-interruptible job runs throughout
    ``[r + σ, r + k)`` (slack ``σ = w − k``) wherever it starts, any job runs at least
    ``n − σ`` of the ``n``. Both hold for every job-level plan, so bounding a group's served
    energy by their sums keeps the LP a relaxation, and makes rounded-up deadlines cheap: past
    its jobs' own deadlines a group can serve nothing.
    """
    p = jobs.power_mw[live] * step_h
    k = jobs.duration_steps[live]
    a, b = r[live], d[live]
    slack = (b - a) - k
    rate = _overlap_per_slot(group_of, a, b, p, k, n_g, n_h, slot_steps)
    fixed = ~jobs.interruptible[live] & (slack >= 0) & (slack < k)
    must = _overlap_per_slot(
        group_of[fixed],
        (a + slack)[fixed],
        (a + k)[fixed],
        p[fixed],
        k[fixed],
        n_g,
        n_h,
        slot_steps,
    )
    short = jobs.interruptible[live] & (slack >= 0) & (slack < slot_steps)
    if short.any():
        g, a_s, b_s, p_s, sl = group_of[short], a[short], b[short], p[short], slack[short]
        first, last = a_s // slot_steps, (b_s - 1) // slot_steps
        n = last - first + 1
        job = np.repeat(np.arange(len(g)), n)
        h = first[job] + np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n)
        steps_in = np.minimum(b_s[job], (h + 1) * slot_steps) - np.maximum(a_s[job], h * slot_steps)
        np.add.at(must, (g[job], h), p_s[job] * np.maximum(steps_in - sl[job], 0))
    return rate, must


def _overlap_per_slot(
    group: IntArray,
    start: IntArray,
    end: IntArray,
    weight: FloatArray,
    cap_steps: IntArray,
    n_g: int,
    n_h: int,
    slot_steps: int,
) -> FloatArray:
    """Per group and slot, Σ weight · min(cap_steps, steps of ``[start, end)`` in the slot)."""
    out = np.zeros((n_g, n_h + 1))
    keep = end > start
    g, a, b, w, c = group[keep], start[keep], end[keep], weight[keep], cap_steps[keep]
    first, last = a // slot_steps, (b - 1) // slot_steps
    one = first == last
    np.add.at(out, (g[one], first[one]), w[one] * np.minimum(c[one], (b - a)[one]))
    g, a, b, w, c, first, last = (x[~one] for x in (g, a, b, w, c, first, last))
    np.add.at(out, (g, first), w * np.minimum(c, (first + 1) * slot_steps - a))
    np.add.at(out, (g, last), w * np.minimum(c, b - last * slot_steps))
    # whole slots in between, by a difference array over slots
    full = np.zeros((n_g, n_h + 1))
    inner = last > first + 1
    np.add.at(full, (g[inner], first[inner] + 1), (w * np.minimum(c, slot_steps))[inner])
    np.add.at(full, (g[inner], last[inner]), -(w * np.minimum(c, slot_steps))[inner])
    return (out + np.cumsum(full, axis=1))[:, :n_h]


def _solve(
    cost: FloatArray,
    col_lower: FloatArray,
    col_upper: FloatArray,
    rhs: FloatArray,
    matrix: sp.csc_matrix,
    solver: str,
) -> tuple[str, FloatArray | None, FloatArray | None, float]:
    """Solve ``min cost·x, matrix·x = rhs, lower ≤ x ≤ upper`` with HiGHS: status, x, row duals."""
    inf = highspy.kHighsInf
    with c_stdout_silenced():
        h = highspy.Highs()  # type: ignore[no-untyped-call]
    h.setOptionValue("output_flag", False)
    h.setOptionValue("log_to_console", False)
    h.setOptionValue("solver", solver)
    if solver == "ipm":
        # The bound comes from the duals (_dual_bound), so no vertex is needed: crossover would
        # double the time for nothing the packer uses.
        h.setOptionValue("run_crossover", "off")
    model = highspy.HighsLp()
    model.num_col_ = len(cost)
    model.num_row_ = len(rhs)
    model.col_cost_ = cost
    model.col_lower_ = np.clip(col_lower, -inf, inf)
    model.col_upper_ = np.clip(col_upper, -inf, inf)
    model.row_lower_ = rhs
    model.row_upper_ = rhs
    model.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    model.a_matrix_.num_col_ = len(cost)
    model.a_matrix_.num_row_ = len(rhs)
    model.a_matrix_.start_ = np.asarray(matrix.indptr, dtype=np.int32)
    model.a_matrix_.index_ = np.asarray(matrix.indices, dtype=np.int32)
    model.a_matrix_.value_ = np.asarray(matrix.data, dtype=np.float64)
    h.passModel(model)
    start = time.perf_counter()
    h.run()
    elapsed = time.perf_counter() - start
    status = h.getModelStatus()
    name = h.modelStatusToString(status)
    if status != highspy.HighsModelStatus.kOptimal:
        return name, None, None, elapsed
    solution = h.getSolution()
    x = np.clip(np.asarray(solution.col_value, dtype=np.float64), col_lower, col_upper)
    return name, x, np.asarray(solution.row_dual, dtype=np.float64), elapsed


def _dual_bound(
    cost: FloatArray,
    col_lower: FloatArray,
    col_upper: FloatArray,
    rhs: FloatArray,
    matrix: sp.csc_matrix,
    row_dual: FloatArray,
) -> float:
    """Lagrangian lower bound of ``min cost·x, matrix·x = rhs, lower ≤ x ≤ upper`` from any duals.

    For every ``y``, ``rhs·y + Σ_j min(d_j lower_j, d_j upper_j)`` with ``d = cost − matrixᵀy``
    is at most the LP optimum (weak duality), so the bound holds whatever the solver's
    tolerances; with optimal duals it equals the optimum. Needs finite ``upper``.
    """
    reduced = cost - matrix.T @ row_dual
    cols = np.where(reduced >= 0, reduced * col_lower, reduced * col_upper)
    return float(rhs @ row_dual + cols.sum())


# --- job level -----------------------------------------------------------------------------------

_BATCH_JOBS = 256  # jobs chosen together in one vectorised step
_BATCH_CELLS = 2_000_000  # cap on jobs × sites × window steps per batch
_EVICT_SITES = 3  # sites tried per job by the eviction repair
_EVICT_TRIES = 4  # tries per site, each leaving alone the jobs that could not move
_WIDTH_CHUNKS = 4  # a batch's choice is computed in chunks of similar window length


@dataclass(frozen=True, eq=False)
class PackResult:
    """The job level's result.

    Attributes
    ----------
    plan : Plan
        Rows of every placed job.
    unplaced : dict
        Job id → why it cannot meet its deadline.
    site_p_mw : ndarray (sites, steps)
        Power of the placed jobs per site and step. [MW]
    repaired : int
        Jobs placed by the repair pass (after moving placed jobs out of their way).
    order : ndarray (jobs,)
        The order of the first pass.
    improved : int
        Moves of the improvement sweeps (a job to cheaper steps or another site).
    """

    plan: Plan
    unplaced: dict[str, str]
    site_p_mw: FloatArray
    repaired: int = 0
    order: IntArray = field(default_factory=lambda: np.zeros(0, dtype=np.int64), repr=False)
    improved: int = 0


@dataclass(frozen=True, eq=False)
class _JobArrays:
    """The per-job columns the packer reads: window, run steps, power, shape, sites."""

    r: IntArray
    d: IntArray
    k: IntArray
    p_mw: FloatArray
    contiguous: npt.NDArray[np.bool_]
    allowed: npt.NDArray[np.bool_]


@dataclass(frozen=True, eq=False)
class _Choice:
    """Cheapest feasible placement per job of a batch (site −1: none)."""

    site: IntArray
    steps: list[IntArray]
    total: FloatArray  # Σ over the chosen steps of the step cost [objective unit / MWh]
    own_total: FloatArray  # the same over the job's current steps (inf: not placed)


def _choose(
    rows: IntArray,
    jobs: _JobArrays,
    cost_per_mwh: FloatArray,
    free_mw: FloatArray,
    load_mw: FloatArray,
    surplus_mw: FloatArray | None,
    *,
    own_site: IntArray | None = None,
    own_steps: Sequence[IntArray] | None = None,
) -> _Choice:
    """Cheapest feasible (site, steps) of each job in ``rows``, all at once.

    A job may run in a step of an allowed site where the free capacity holds its power: the
    ``k`` cheapest such steps if it may pause anywhere, else the cheapest run of ``k``
    consecutive ones. With ``own_*`` each job's current placement counts as free (a move).
    With surplus, a step costs its unit cost × the share of the job the surplus left by the
    load does not cover. Jobs are split by window length into chunks so that short windows
    are not padded to the longest.
    """
    n_b = len(rows)
    site = np.full(n_b, -1, dtype=np.int64)
    total = np.full(n_b, np.inf)
    own_total = np.full(n_b, np.inf)
    steps: list[IntArray] = [np.zeros(0, dtype=np.int64)] * n_b
    width = jobs.d[rows] - jobs.r[rows]
    by_width = np.argsort(width, kind="stable")
    for chunk in np.array_split(by_width, min(_WIDTH_CHUNKS, max(n_b // 64, 1))):
        if not len(chunk):
            continue
        chunk = chunk[np.argsort(jobs.contiguous[rows[chunk]], kind="stable")]
        ch = _choose_chunk(
            rows[chunk],
            jobs,
            cost_per_mwh,
            free_mw,
            load_mw,
            surplus_mw,
            own_site=None if own_site is None else own_site[chunk],
            own_steps=None if own_steps is None else [own_steps[i] for i in chunk],
        )
        site[chunk] = ch.site
        total[chunk] = ch.total
        own_total[chunk] = ch.own_total
        for n, i in enumerate(chunk):
            steps[i] = ch.steps[n]
    return _Choice(site=site, steps=steps, total=total, own_total=own_total)


def _choose_chunk(
    rows: IntArray,
    jobs: _JobArrays,
    cost_per_mwh: FloatArray,
    free_mw: FloatArray,
    load_mw: FloatArray,
    surplus_mw: FloatArray | None,
    *,
    own_site: IntArray | None,
    own_steps: Sequence[IntArray] | None,
) -> _Choice:
    # one row per (job, allowed site): a pair
    n_b = len(rows)
    a, w, k, p = jobs.r[rows], jobs.d[rows] - jobs.r[rows], jobs.k[rows], jobs.p_mw[rows]
    n_s = cost_per_mwh.shape[0]
    pj, ps = np.nonzero(jobs.allowed[rows])
    n_p = len(pj)
    width = int(w.max())
    off = np.arange(width)
    inside = off < w[pj][:, None]  # (P, W)

    def window(x: FloatArray) -> FloatArray:
        # each pair's window of x as a row: whole rows copied from a sliding view
        padded = np.concatenate([x, np.zeros((n_s, width))], axis=1)
        view = np.lib.stride_tricks.sliding_window_view(padded, width, axis=1)
        out: FloatArray = view[ps, a[pj]]
        return out

    free = window(free_mw)
    load = window(load_mw) if surplus_mw is not None else None
    own_pair = own_t = np.zeros(0, dtype=np.int64)
    if own_site is not None and own_steps is not None:
        pair_of = np.full((n_b, n_s), -1, dtype=np.int64)
        pair_of[pj, ps] = np.arange(n_p)
        held = np.flatnonzero(own_site >= 0)
        counts = np.array([len(own_steps[int(i)]) for i in held], dtype=np.int64)
        jb = np.repeat(held, counts)
        own_pair = pair_of[jb, np.repeat(own_site[held], counts)]
        own_t = (
            np.concatenate([own_steps[int(i)] for i in held]) - a[jb]
            if len(held)
            else np.zeros(0, dtype=np.int64)
        )
        free[own_pair, own_t] += p[jb]
        if load is not None:
            load[own_pair, own_t] -= p[jb]
    pp = p[pj][:, None]
    ok = (free >= pp - _EPS_MW) & inside
    cost = window(cost_per_mwh)
    if surplus_mw is not None and load is not None:
        cost = cost * np.clip(load + pp - window(surplus_mw), 0.0, pp) / pp
    tot = np.full(n_p, np.inf)
    start = np.zeros(n_p, dtype=np.int64)
    # rows come with the jobs that may pause anywhere first, so each kind is a slice of pairs
    n_pick = int(np.searchsorted(jobs.contiguous[rows][pj], True))
    pick = np.arange(n_pick)
    run = np.arange(n_pick, n_p)
    if len(pick):
        # k cheapest feasible steps: sort, sum of the first k
        srt = np.sort(np.where(ok[:n_pick], cost[:n_pick], np.inf), axis=1)
        tot[pick] = np.where(off < k[pj[pick]][:, None], srt, 0.0).sum(axis=1)
    if len(run):
        # cheapest k consecutive feasible steps: window sums of one prefix sum, where an
        # infeasible step costs more than any feasible window
        big = (float(cost_per_mwh.max()) + 1.0) * (width + 1)
        csum = np.zeros((len(run), width + 1))
        np.cumsum(np.where(ok[n_pick:], cost[n_pick:], big), axis=1, out=csum[:, 1:])
        kk = k[pj[run]][:, None]
        end = np.minimum(off + kk, width)
        sums = csum[np.arange(len(run))[:, None], end] - csum[:, :width]
        sums = np.where((sums < big) & (off + kk <= w[pj[run]][:, None]), sums, np.inf)
        start[run] = np.argmin(sums, axis=1)
        tot[run] = sums[np.arange(len(run)), start[run]]
    # per job, its cheapest pair (pairs come sorted by job; ties go to the lower site)
    by_cost = np.lexsort((tot, pj))
    first = by_cost[np.concatenate([[True], pj[by_cost][1:] != pj[by_cost][:-1]])]
    site = np.full(n_b, -1, dtype=np.int64)
    total = np.full(n_b, np.inf)
    total[pj[first]] = tot[first]
    found = np.isfinite(total)
    site[pj[first]] = np.where(found[pj[first]], ps[first], -1)
    steps: list[IntArray] = [np.zeros(0, dtype=np.int64)] * n_b
    best = np.full(n_b, -1, dtype=np.int64)
    best[pj[first]] = first
    free_pick = np.flatnonzero(found & ~jobs.contiguous[rows])
    if len(free_pick):
        rank = np.argsort(
            np.where(ok[best[free_pick]], cost[best[free_pick]], np.inf), axis=1, kind="stable"
        )
        kf = k[free_pick]
        row, col = np.nonzero(off < kf[:, None])
        chosen = np.zeros((len(free_pick), width), dtype=bool)
        chosen[row, rank[row, col]] = True
        row, col = np.nonzero(chosen)  # in step order within each job
        flat = a[free_pick][row] + col
        ends = np.cumsum(kf)
        for i, lo, hi in zip(free_pick, ends - kf, ends, strict=True):
            steps[i] = flat[lo:hi]
    in_run = np.flatnonzero(found & jobs.contiguous[rows])
    if len(in_run):
        kr = k[in_run]
        first = np.repeat(a[in_run] + start[best[in_run]] - (np.cumsum(kr) - kr), kr)
        flat = first + np.arange(kr.sum())
        ends = np.cumsum(kr)
        for i, lo, hi in zip(in_run, ends - kr, ends, strict=True):
            steps[i] = flat[lo:hi]
    own_total = np.full(n_b, np.inf)
    if own_site is not None and len(own_pair):
        held = np.flatnonzero(own_site >= 0)
        held_cost = np.bincount(own_pair, cost[own_pair, own_t], minlength=n_p)
        own_total[held] = held_cost[pair_of[held, own_site[held]]]
    return _Choice(site=site, steps=steps, total=total, own_total=own_total)


def _fits_in_order(
    site: IntArray,
    steps: Sequence[IntArray],
    p_mw: FloatArray,
    free_mw: FloatArray,
    skip: Sequence[IntArray] | None = None,
) -> npt.NDArray[np.bool_]:
    """Whether each placement still fits when all before it in the batch are taken too.

    Conservative: a placement counts against the ones after it even when it does not fit
    itself. ``skip`` gives, per placement, steps that need no new capacity (its own).
    """
    n_t = free_mw.shape[1]
    counts = np.array([len(x) for x in steps], dtype=np.int64)
    pos = np.repeat(np.arange(len(steps)), counts)
    cells = np.repeat(site, counts) * n_t + np.concatenate(steps)
    if skip is not None:
        own = np.repeat(site, [len(x) for x in skip]) * n_t + np.concatenate(skip)
        own_key = np.repeat(np.arange(len(skip)), [len(x) for x in skip]) * free_mw.size + own
        keep = ~np.isin(pos * free_mw.size + cells, own_key)
        pos, cells = pos[keep], cells[keep]
    order = np.lexsort((pos, cells))
    c_sorted = cells[order]
    p_sorted = p_mw[pos[order]]
    csum = np.cumsum(p_sorted)
    first = np.concatenate([[True], c_sorted[1:] != c_sorted[:-1]])
    base = np.maximum.accumulate(np.where(first, np.arange(len(first)), 0))
    used = csum - csum[base] + p_sorted[base]
    bad = used > free_mw.ravel()[c_sorted] + _EPS_MW
    fits: npt.NDArray[np.bool_] = np.bincount(pos[order][bad], minlength=len(steps)) == 0
    return fits


@dataclass
class _Packing:
    """Mutable state of one :func:`pack_jobs` call: free capacity, load and placements."""

    free_mw: FloatArray
    load_mw: FloatArray
    p_mw: FloatArray
    site: IntArray
    steps: list[IntArray]
    moved_last: IntArray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    def put(self, j: int, s: int, steps: IntArray) -> None:
        self.free_mw[s, steps] -= self.p_mw[j]
        self.load_mw[s, steps] += self.p_mw[j]
        self.site[j] = s
        self.steps[j] = steps

    def lift(self, j: int) -> tuple[int, IntArray]:
        s, steps = int(self.site[j]), self.steps[j]
        self.free_mw[s, steps] += self.p_mw[j]
        self.load_mw[s, steps] -= self.p_mw[j]
        self.site[j] = -1
        return s, steps

    def put_many(self, rows: IntArray, site: IntArray, steps: Sequence[IntArray]) -> None:
        n_s, n_t = self.free_mw.shape
        counts = np.array([len(x) for x in steps], dtype=np.int64)
        cells = np.repeat(site, counts) * n_t + np.concatenate(steps)
        add = np.bincount(cells, np.repeat(self.p_mw[rows], counts), minlength=n_s * n_t)
        self.free_mw -= add.reshape(n_s, n_t)
        self.load_mw += add.reshape(n_s, n_t)
        self.site[rows] = site
        for j, x in zip(rows, steps, strict=True):
            self.steps[j] = x


def _batches(order: IntArray, width: IntArray, n_s: int) -> list[IntArray]:
    """Consecutive slices of ``order`` of at most _BATCH_JOBS jobs and _BATCH_CELLS cells."""
    out = []
    i = 0
    while i < len(order):
        n = _BATCH_JOBS
        while n > 1 and n * n_s * int(width[order[i : i + n]].max()) > _BATCH_CELLS:
            n //= 2
        out.append(order[i : i + n])
        i += n
    return out


def pack_jobs(
    jobs: JobTable,
    capacity_curves: CapacityPlan | npt.ArrayLike,
    signals: SiteSignals,
    *,
    capacity_mw: Mapping[str, float] | npt.ArrayLike,
    objective: Objective = "carbon",
    carbon_price_cny_per_t: float = 0.0,
    improve_sweeps: int = 1,
) -> PackResult:
    """Place every job that can meet its deadline; report the rest with the reason.

    Parameters
    ----------
    capacity_curves : CapacityPlan or array (sites, steps)
        The energy level's result, whose marginal prices steer the first pass; or a curve of
        power per site and step, whose empty steps (≤ 0 MW) the first pass avoids. [MW]
    capacity_mw : mapping site → MW, or array (sites,) or (sites, steps)
        Hard capacity, never exceeded. [MW]
    improve_sweeps : int
        Passes of the improvement sweep (0: none).
    """
    cap = _capacity_array(capacity_mw, signals)
    unit_cost = step_cost_per_mwh(signals, objective, carbon_price_cny_per_t=carbon_price_cny_per_t)
    if isinstance(capacity_curves, CapacityPlan):
        if len(capacity_curves.job_group) not in (0, len(jobs)):
            raise InputError(
                "capacity_curves were planned for other jobs; plan_capacity these jobs first"
            )
        curve = np.asarray(capacity_curves.p_mw, dtype=np.float64)
        price = capacity_curves.price_per_mwh
    else:
        curve = np.asarray(capacity_curves, dtype=np.float64)
        price = None
    if curve.shape != cap.shape:
        raise InputError(f"capacity_curves: shape {curve.shape}, expected {cap.shape}")
    if price is not None and price.shape == cap.shape:
        # The LP's marginal price adds the value of capacity where it binds: a job that may
        # run elsewhere leaves a full site to the jobs that may not.
        choice_cost = np.maximum(unit_cost, price)
    else:
        penalty = 2.0 * float(unit_cost.max() - unit_cost.min()) + 1.0
        choice_cost = unit_cost + penalty * (curve <= _EPS_MW)
    allowed = _site_columns(jobs, signals)
    r, d = _windows(jobs, signals)
    k_all = jobs.duration_steps
    p_all = jobs.power_mw
    contiguous = ~(jobs.interruptible & (jobs.checkpoint_steps == 1))
    cols = _JobArrays(r=r, d=d, k=k_all, p_mw=p_all, contiguous=contiguous, allowed=allowed)
    surplus = signals.surplus_mw
    n_s = cap.shape[0]
    state = _Packing(
        free_mw=cap.copy(),
        load_mw=np.zeros_like(cap),
        p_mw=p_all,
        site=np.full(len(jobs), -1, dtype=np.int64),
        steps=[np.zeros(0, dtype=np.int64)] * len(jobs),
    )
    slack = (d - r) - k_all
    order = np.lexsort((-p_all * k_all, slack, jobs.interruptible)).astype(np.int64)
    live = (slack >= 0) & allowed.any(axis=1)
    width = np.maximum(d - r, 1)

    # pass 1: batches in order; a choice made against the batch's start is still the best
    # one if it still fits (capacity only shrinks), so only placements that collide are redone
    left = [
        _place_in_order(batch, cols, choice_cost, state, surplus)
        for batch in _batches(order[live[order]], width, n_s)
    ]
    leftover = np.concatenate(left) if left else np.zeros(0, dtype=np.int64)

    repaired = 0
    if len(leftover):
        repaired = _evict_and_place(leftover, cols, choice_cost, state, surplus, slack)

    improved = 0
    for _ in range(improve_sweeps):
        improved += _improve(order, cols, unit_cost, state, surplus, width)

    unplaced = {
        str(jobs.ids[i]): _why(int(i), r, d, k_all, p_all, allowed, cap, jobs)
        for i in np.flatnonzero(state.site < 0)
    }
    placed = np.flatnonzero(state.site >= 0)
    counts = k_all[placed]
    steps_cat = (
        np.concatenate([state.steps[i] for i in placed])
        if len(placed)
        else np.zeros(0, dtype=np.int64)
    )
    site_names = np.asarray(signals.sites, dtype=object)
    plan = Plan(
        job_id=np.repeat(jobs.ids[placed], counts),
        site=np.repeat(site_names[state.site[placed]], counts),
        step=steps_cat.astype(np.int64),
        grid_start_utc=signals.grid_start_utc,
        step_min=signals.step_min,
    )
    return PackResult(
        plan=plan,
        unplaced=unplaced,
        site_p_mw=state.load_mw,
        repaired=repaired,
        order=order,
        improved=improved,
    )


def _place_in_order(
    rows: IntArray,
    jobs: _JobArrays,
    cost_per_mwh: FloatArray,
    state: _Packing,
    surplus_mw: FloatArray | None,
) -> IntArray:
    """Place ``rows`` as if one by one in order; return those that find no room.

    All are chosen at once against the current capacity. A choice that still fits after the
    ones before it is still the best (capacity only shrinks), so only the colliding ones are
    chosen again, against the capacity left.
    """
    left: list[IntArray] = [rows[:0]]
    todo = rows
    while len(todo):
        ch = _choose(todo, jobs, cost_per_mwh, state.free_mw, state.load_mw, surplus_mw)
        found = ch.site >= 0
        left.append(todo[~found])
        todo = todo[found]
        site = ch.site[found]
        steps = [ch.steps[i] for i in np.flatnonzero(found)]
        if not len(todo):
            break
        fits = _fits_in_order(site, steps, jobs.p_mw[todo], state.free_mw)
        kept = [x for x, f in zip(steps, fits, strict=True) if f]
        state.put_many(todo[fits], site[fits], kept)
        todo = todo[~fits]
    return np.concatenate(left)


def _improve(
    order: IntArray,
    jobs: _JobArrays,
    cost_per_mwh: FloatArray,
    state: _Packing,
    surplus_mw: FloatArray | None,
    width: IntArray,
) -> int:
    """One sweep: move each placed job to its cheapest placement given all the others.

    Batched like the first pass; a move that would collide with an earlier one in its batch is
    skipped, so every move lowers the objective and keeps the plan feasible.
    """
    n_s = state.free_mw.shape[0]
    moved = 0
    for batch in _batches(order[state.site[order] >= 0], width, n_s):
        own_site = state.site[batch].copy()
        own_steps = [state.steps[j] for j in batch]
        ch = _choose(
            batch,
            jobs,
            cost_per_mwh,
            state.free_mw,
            state.load_mw,
            surplus_mw,
            own_site=own_site,
            own_steps=own_steps,
        )
        better = np.flatnonzero((ch.site >= 0) & (ch.total < ch.own_total * (1 - 1e-9) - 1e-12))
        if not len(better):
            continue
        site = ch.site[better]
        steps = [ch.steps[i] for i in better]
        # a move within its own site needs no capacity on the steps it already holds
        skip = [own_steps[i] if own_site[i] == ch.site[i] else own_steps[i][:0] for i in better]
        fits = _fits_in_order(site, steps, jobs.p_mw[batch[better]], state.free_mw, skip)
        for n in np.flatnonzero(fits):
            j = int(batch[better[n]])
            state.lift(j)
            state.put(j, int(site[n]), steps[n])
            moved += 1
    return moved


def _evict_and_place(
    leftover: IntArray,
    jobs: _JobArrays,
    cost_per_mwh: FloatArray,
    state: _Packing,
    surplus_mw: FloatArray | None,
    slack: IntArray,
) -> int:
    """Place jobs the first pass could not by moving placed jobs out of their way.

    For a job and one of its sites, the steps that need the least power freed (cheapest
    among equals); then the placed jobs there — those allowed on more sites first, then the
    smaller ones — are lifted until the job fits, the job is placed, and the lifted jobs are
    placed again wherever they fit. If one of them no longer fits, everything is put back and
    the next site is tried. Jobs that moved are not lifted again, so no job cycles.
    """
    n_t = state.free_mw.shape[1]
    n_sites = jobs.allowed.sum(axis=1)
    moved = np.zeros(len(jobs.r), dtype=bool)
    at_site: dict[int, tuple[IntArray, IntArray, IntArray]] = {}

    def jobs_at(s: int, steps: IntArray) -> IntArray:
        # jobs on site s at the given steps, from an index built once per site (moved jobs
        # are left out, so the index of the unmoved ones stays exact)
        if s not in at_site:
            on = np.flatnonzero(state.site == s)
            counts = np.array([len(state.steps[j]) for j in on], dtype=np.int64)
            job = np.repeat(on, counts)
            step = np.concatenate([state.steps[j] for j in on]) if len(on) else job
            by_step = np.argsort(step, kind="stable")
            ptr = np.searchsorted(step[by_step], np.arange(n_t + 1))
            at_site[s] = (job[by_step], ptr, counts)
        job, ptr, _ = at_site[s]
        lo, n = ptr[steps], ptr[steps + 1] - ptr[steps]
        idx = np.repeat(lo - (np.cumsum(n) - n), n) + np.arange(n.sum())
        mark = np.zeros(len(moved), dtype=bool)
        mark[job[idx]] = True
        mark &= (state.site == s) & ~moved
        out: IntArray = np.flatnonzero(mark)
        return out

    placed = 0
    for i in leftover:
        i = int(i)
        a, b, k, p = int(jobs.r[i]), int(jobs.d[i]), int(jobs.k[i]), float(jobs.p_mw[i])
        sites = np.flatnonzero(jobs.allowed[i])
        cap = state.free_mw[sites, a:b] + state.load_mw[sites, a:b]
        short = np.clip(p - state.free_mw[sites, a:b], 0.0, None)
        usable = cap >= p - _EPS_MW
        score = np.where(usable, short * 1e6 + cost_per_mwh[sites, a:b], np.inf)
        rank = np.argsort(np.where(usable.sum(axis=1) >= k, short.sum(axis=1), np.inf))
        for jj in rank[:_EVICT_SITES]:
            row = score[jj]
            if jobs.contiguous[i]:
                csum = np.concatenate([[0.0], np.cumsum(np.where(np.isfinite(row), row, 1e30))])
                sums = csum[k:] - csum[:-k]
                s0 = int(np.argmin(sums))
                if sums[s0] >= 1e29:
                    continue
                steps = np.arange(a + s0, a + s0 + k)
            else:
                pick = np.argpartition(row, k - 1)[:k]
                if not np.isfinite(row[pick]).all():
                    continue
                steps = a + np.sort(pick)
            s = int(sites[jj])
            if _evict_for(
                i, s, steps, jobs, cost_per_mwh, state, surplus_mw, slack, n_sites, jobs_at
            ):
                moved[i] = True
                moved[state.moved_last] = True
                placed += 1
                break
    return placed


def _evict_for(
    i: int,
    s: int,
    steps: IntArray,
    jobs: _JobArrays,
    cost_per_mwh: FloatArray,
    state: _Packing,
    surplus_mw: FloatArray | None,
    slack: IntArray,
    n_sites: IntArray,
    jobs_at: Callable[[int, IntArray], IntArray],
) -> bool:
    """Place job ``i`` at ``s`` on ``steps``, lifting jobs there and placing them again.

    Jobs that cannot be placed again are left alone on the next try (up to _EVICT_TRIES).
    """
    p = float(jobs.p_mw[i])
    stuck = np.zeros(0, dtype=np.int64)
    for _ in range(_EVICT_TRIES):
        tight = steps[state.free_mw[s, steps] < p - _EPS_MW]
        cand = jobs_at(s, tight)
        cand = cand[~np.isin(cand, stuck)]
        cand = cand[np.lexsort((jobs.p_mw[cand], -n_sites[cand]))]
        lifted: list[tuple[int, int, IntArray]] = []
        short = np.zeros(state.free_mw.shape[1], dtype=bool)
        short[tight] = True
        n_short = len(tight)
        for j in cand:
            if not n_short:
                break
            on = state.steps[j]
            if short[on].any():
                lifted.append((int(j), *state.lift(int(j))))
                short[on[state.free_mw[s, on] >= p - _EPS_MW]] = False
                n_short = int(short.sum())
        if not (state.free_mw[s, steps] >= p - _EPS_MW).all():
            for j, s_j, st_j in reversed(lifted):
                state.put(j, s_j, st_j)
            return False
        state.put(i, s, steps)
        again = np.array([j for j, _, _ in lifted], dtype=np.int64)
        again = again[np.lexsort((slack[again], ~jobs.contiguous[again]))]
        rest = _place_in_order(again, jobs, cost_per_mwh, state, surplus_mw)
        if not len(rest):
            state.moved_last = again
            return True
        for j in again[state.site[again] >= 0]:
            state.lift(int(j))
        state.lift(i)
        for j, s_j, st_j in reversed(lifted):
            state.put(j, s_j, st_j)
        stuck = np.concatenate([stuck, rest])
    return False


def _why(
    i: int,
    r: IntArray,
    d: IntArray,
    k: IntArray,
    p: FloatArray,
    allowed: npt.NDArray[np.bool_],
    cap: FloatArray,
    jobs: JobTable,
) -> str:
    if d[i] - r[i] < k[i]:
        return (
            f"its window has {max(int(d[i] - r[i]), 0)} steps inside the planning horizon but "
            f"it needs {int(k[i])}; extend the horizon or move the window"
        )
    sites = np.flatnonzero(allowed[i])
    if len(sites) == 0:
        return "none of its allowed_sites is planned; add signals and capacity for them"
    fits_alone = (cap[sites, r[i] : d[i]] >= p[i] - _EPS_MW).sum(axis=1)
    if fits_alone.max() < k[i]:
        return (
            f"its {p[i]:.6g} MW exceeds the capacity of every allowed site in too many steps "
            f"of its window ({int(fits_alone.max())} usable, {int(k[i])} needed)"
        )
    how = "consecutive " if not jobs.interruptible[i] else ""
    return (
        f"the capacity of its allowed sites is taken by other jobs: no {int(k[i])} {how}steps "
        f"with {p[i]:.6g} MW free before its deadline; raise capacity or move the deadline"
    )


def plan_cost(
    jobs: JobTable,
    site_p_mw: FloatArray,
    signals: SiteSignals,
    *,
    objective: Objective = "carbon",
    carbon_price_cny_per_t: float = 0.0,
    use_surplus: bool = True,
) -> float:
    """Objective of a job-level plan from its per-site power (kgCO₂ for carbon, else CNY).

    Grid energy is what the surplus does not cover: ``max(0, p − surplus) · Δt``.
    """
    unit_cost = step_cost_per_mwh(signals, objective, carbon_price_cny_per_t=carbon_price_cny_per_t)
    grid = site_p_mw
    if use_surplus and signals.surplus_mw is not None:
        grid = np.maximum(site_p_mw - signals.surplus_mw, 0.0)
    return float((unit_cost * grid).sum() * signals.step_h)


def take_jobs(jobs: JobTable, rows: npt.ArrayLike) -> JobTable:
    """The jobs at ``rows`` as a new table (e.g. the placed ones, for :func:`check_plan`)."""
    idx = np.asarray(rows, dtype=np.int64)
    return JobTable(
        ids=jobs.ids[idx],
        tenants=jobs.tenants[idx],
        power_mw=jobs.power_mw[idx],
        duration_steps=jobs.duration_steps[idx],
        release_ns=jobs.release_ns[idx],
        deadline_ns=jobs.deadline_ns[idx],
        interruptible=jobs.interruptible[idx],
        checkpoint_steps=jobs.checkpoint_steps[idx],
        sites=jobs.sites,
        allowed=jobs.allowed[idx],
        data_gb=jobs.data_gb[idx],
        priority=jobs.priority[idx],
        step_min=jobs.step_min,
    )
