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
variable block per window. Per group and slot the energy served ``Y[g, h]`` is at most the power
of the group's released jobs × slot length (no job runs faster than its power).

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
one-site-per-job and the per-job rate limit (to a per-group one).

HiGHS's interior-point solver without crossover solves it (several times faster than the dual
simplex here). The reported ``objective_value`` is not the primal objective but the Lagrangian
dual bound computed from the returned duals (:func:`_dual_bound`): weak duality makes it a lower
bound on the LP optimum for any duals, so it stays a valid bound whatever the solver's
tolerances, and it equals the optimum to ~1e-8 relative. The dual of the site balance is the
marginal cost of energy per site and slot (``price_per_mwh``), which the packer uses.

Job level (:func:`pack_jobs`)
-----------------------------
Jobs are placed one by one, non-interruptible first, then least slack, then highest energy: for
every allowed site the cheapest feasible steps of the window — the ``k`` cheapest for an
interruptible job with ``checkpoint_steps == 1``, the cheapest run of ``k`` consecutive steps
otherwise (a job with coarser checkpoints is placed whole: valid, not optimal) — and the site whose
choice costs least. Pass 1 allows only steps where the site's remaining curve and capacity both hold
the job's power; the repair pass places the rest wherever capacity remains, cheapest first. A job
that still does not fit is reported with the reason, never dropped silently.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
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
    use_surplus : bool
        Count on-site surplus as free green energy (needs ``signals.surplus_mw``).

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
    bucket = deadline_bucket_slots * slot_steps
    d_h = np.minimum(-(-d // bucket) * deadline_bucket_slots, n_h)
    live = d_h > r_h
    # One id per distinct allowed-site set (rows of the jobs × sites matrix; any site count).
    masks, mask_of = np.unique(allowed[live], axis=0, return_inverse=True)
    mask_of = np.asarray(mask_of).reshape(-1)
    group_key = mask_of * (n_h + 1) + d_h[live]
    groups, group_of = np.unique(group_key, return_inverse=True)
    n_g = len(groups)
    g_deadline = groups % (n_h + 1)
    g_mask = groups // (n_h + 1)
    energy = (jobs.power_mw * jobs.duration_steps * signals.step_h)[live]
    power = jobs.power_mw[live]
    rel = np.zeros((n_g, n_h))
    np.add.at(rel, (group_of, r_h[live]), energy)
    rate = np.zeros((n_g, n_h + 1))
    np.add.at(rate, (group_of, r_h[live]), power)
    rate = np.cumsum(rate, axis=1)[:, :n_h] * slot_h
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
    col_lower = np.zeros(n_cols)
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
        Jobs placed by the repair pass (outside the curve).
    """

    plan: Plan
    unplaced: dict[str, str]
    site_p_mw: FloatArray
    repaired: int = 0
    order: IntArray = field(default_factory=lambda: np.zeros(0, dtype=np.int64), repr=False)


def pack_jobs(
    jobs: JobTable,
    capacity_curves: CapacityPlan | npt.ArrayLike,
    signals: SiteSignals,
    *,
    capacity_mw: Mapping[str, float] | npt.ArrayLike,
    objective: Objective = "carbon",
    carbon_price_cny_per_t: float = 0.0,
) -> PackResult:
    """Place every job under the curves, repair the rest, report what cannot fit.

    Parameters
    ----------
    capacity_curves : CapacityPlan or array (sites, steps)
        Power per site and step that pass 1 may fill. [MW]
    capacity_mw : mapping site → MW, or array (sites,) or (sites, steps)
        Hard capacity, never exceeded. [MW]
    """
    cap = _capacity_array(capacity_mw, signals)
    by_group = isinstance(capacity_curves, CapacityPlan) and len(capacity_curves.group_p_mw) > 0
    curve = np.array(
        capacity_curves.p_mw if isinstance(capacity_curves, CapacityPlan) else capacity_curves,
        dtype=np.float64,
    )
    if isinstance(capacity_curves, CapacityPlan) and by_group:
        if len(capacity_curves.job_group) != len(jobs):
            raise InputError(
                "capacity_curves were planned for other jobs; plan_capacity these jobs first"
            )
        job_group = capacity_curves.job_group
        group_curve = [c + 1e-7 for c in capacity_curves.group_p_mw]  # solver tolerance
        group_start = capacity_curves.group_start_step
    if curve.shape != cap.shape:
        raise InputError(f"capacity_curves: shape {curve.shape}, expected {cap.shape}")
    allowed = _site_columns(jobs, signals)
    r, d = _windows(jobs, signals)
    unit_cost = step_cost_per_mwh(signals, objective, carbon_price_cny_per_t=carbon_price_cny_per_t)
    surplus = signals.surplus_mw
    rem = cap.copy()
    curve = np.minimum(curve + 1e-7, cap)  # solver tolerance
    load = np.zeros_like(cap)
    # Leaving the curve costs more than any gain in the objective from one step to another.
    penalty = 2.0 * float(unit_cost.max() - unit_cost.min()) + 1.0
    k_all = jobs.duration_steps
    p_all = jobs.power_mw
    slack = (d - r) - k_all
    order = np.lexsort((-p_all * k_all, slack, jobs.interruptible)).astype(np.int64)
    site_idx = [np.flatnonzero(row) for row in allowed]
    chosen_site = np.full(len(jobs), -1, dtype=np.int64)
    chosen_steps: list[IntArray | None] = [None] * len(jobs)
    unplaced: dict[str, str] = {}

    def place(i: int, *, under_curve: bool) -> bool:
        a, b, k, p = int(r[i]), int(d[i]), int(k_all[i]), float(p_all[i])
        sites = site_idx[i]
        if b - a < k or len(sites) == 0:
            return False
        ok = rem[sites, a:b] >= p - _EPS_MW
        if surplus is None:
            c = unit_cost[sites, a:b]
        else:
            over = np.clip(load[sites, a:b] + p - surplus[sites, a:b], 0.0, p) / p
            c = unit_cost[sites, a:b] * over
        g = g0 = -1
        if under_curve and by_group:
            g = int(job_group[i])
            if g >= 0:
                g0 = a - int(group_start[g])
                g_sub = group_curve[g][:, g0 : g0 + b - a]
                c = c + penalty * np.clip(p - g_sub, 0.0, p) / p
        elif under_curve:
            c = c + penalty * np.clip(p - curve[sites, a:b], 0.0, p) / p
        if jobs.interruptible[i] and jobs.checkpoint_steps[i] == 1:
            if k == b - a:
                ok_sites = ok.all(axis=1)
                if not ok_sites.any():
                    return False
                totals = np.where(ok_sites, c.sum(axis=1), np.inf)
                j = int(np.argmin(totals))
                steps = np.arange(a, b)
            else:
                cc = np.where(ok, c, np.inf)
                part = np.partition(cc, k - 1, axis=1)[:, :k]
                totals = part.sum(axis=1)
                j = int(np.argmin(totals))
                if not np.isfinite(totals[j]):
                    return False
                steps = a + np.sort(np.argpartition(cc[j], k - 1)[:k])
        else:
            bad = np.concatenate([np.zeros((len(sites), 1)), np.cumsum(~ok, axis=1)], axis=1)
            csum = np.concatenate([np.zeros((len(sites), 1)), np.cumsum(c, axis=1)], axis=1)
            n_bad = bad[:, k:] - bad[:, :-k]
            totals = np.where(n_bad == 0, csum[:, k:] - csum[:, :-k], np.inf)
            flat = int(np.argmin(totals))
            j, s0 = divmod(flat, totals.shape[1])
            if not np.isfinite(totals[j, s0]):
                return False
            steps = np.arange(a + s0, a + s0 + k)
        s = int(sites[j])
        if g >= 0:
            cells = group_curve[g][j, g0 + steps - a]
            group_curve[g][j, g0 + steps - a] = cells - np.minimum(cells, p)
        rem[s, steps] -= p
        curve[s, steps] -= p
        load[s, steps] += p
        chosen_site[i] = s
        chosen_steps[i] = steps
        return True

    left = [int(i) for i in order if not place(int(i), under_curve=True)]
    repaired = 0
    for i in left:
        if place(i, under_curve=False):
            repaired += 1
        else:
            unplaced[str(jobs.ids[i])] = _why(i, r, d, k_all, p_all, site_idx, cap, jobs)

    placed = np.flatnonzero(chosen_site >= 0)
    counts = k_all[placed]
    steps_cat = (
        np.concatenate([chosen_steps[i] for i in placed])
        if len(placed)
        else np.zeros(0, dtype=np.int64)
    )
    site_names = np.asarray(signals.sites, dtype=object)
    plan = Plan(
        job_id=np.repeat(jobs.ids[placed], counts),
        site=np.repeat(site_names[chosen_site[placed]], counts),
        step=steps_cat.astype(np.int64),
        grid_start_utc=signals.grid_start_utc,
        step_min=signals.step_min,
    )
    return PackResult(plan=plan, unplaced=unplaced, site_p_mw=load, repaired=repaired, order=order)


def _why(
    i: int,
    r: IntArray,
    d: IntArray,
    k: IntArray,
    p: FloatArray,
    site_idx: Sequence[IntArray],
    cap: FloatArray,
    jobs: JobTable,
) -> str:
    if d[i] - r[i] < k[i]:
        return (
            f"its window has {max(int(d[i] - r[i]), 0)} steps inside the planning horizon but "
            f"it needs {int(k[i])}; extend the horizon or move the window"
        )
    sites = site_idx[i]
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
