"""Energy level of the multi-site planner: an LP over sites × slots (:func:`plan_capacity`).

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
one-site-per-job and the per-job limits (to per-group sums), and what moving a job's data
takes (a site the data cannot reach in time is not among the job's sites; at one they can, the
job's window starts at its release and the move is free). A job whose window, cut to the
horizon, is shorter than its run has no plan at all; it is left out of the LP (the packer
reports it), so the bound covers the jobs that can run.

HiGHS's interior-point solver without crossover solves it (several times faster than the dual
simplex here). The reported ``objective_value`` is not the primal objective but the Lagrangian
dual bound computed from the returned duals (:func:`_dual_bound`): weak duality makes it a lower
bound on the LP optimum for any duals, so it stays a valid bound whatever the solver's
tolerances, and it equals the optimum to ~1e-8 relative. The dual of the site balance is the
marginal cost of energy per site and slot (``price_per_mwh``), which the packer uses.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import highspy
import numpy as np
import numpy.typing as npt
import pandas as pd
import scipy.sparse as sp

from suandian.compute.jobs import JobTable
from suandian.compute.objectives import GREEN_TIE_BREAK, OBJECTIVES, Objective
from suandian.compute.transfer import Network
from suandian.core.cstdio import c_stdout_silenced
from suandian.core.errors import InfeasiblePlan, InputError
from suandian.core.times import require_utc
from suandian.core.units import KWH_PER_MWH

__all__ = [
    "CapacityPlan",
    "SiteSignals",
    "Transfers",
    "capacity_grid",
    "plan_capacity",
    "reachable_sites",
    "step_cost_per_mwh",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


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
    network : Network, optional
        Paths between the sites, for jobs that move data (:mod:`suandian.compute.transfer`);
        it must hold every site of the signals.
    """

    sites: tuple[str, ...]
    grid_start_utc: pd.Timestamp
    step_min: int
    intensity_g_per_kwh: FloatArray
    price_cny_per_kwh: FloatArray | None = None
    surplus_mw: FloatArray | None = None
    network: Network | None = None

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

    ``carbon``: kgCO₂/MWh (= gCO₂/kWh); ``cost``: CNY/MWh; ``green``: 1 per MWh (each MWh not
    met by on-site surplus counts the same, so the least grid energy is the highest on-site
    green share), plus :data:`GREEN_TIE_BREAK` × kgCO₂/MWh; ``weighted``: CNY/MWh with carbon at
    ``carbon_price_cny_per_t`` (CNY per tonne CO₂).
    """
    if objective not in OBJECTIVES:
        raise InputError(f"objective {objective!r} is unknown; use one of {', '.join(OBJECTIVES)}")
    carbon = signals.intensity_g_per_kwh  # g/kWh = kg/MWh
    if objective == "carbon":
        return carbon
    if objective == "green":
        return 1.0 + GREEN_TIE_BREAK * carbon
    if signals.price_cny_per_kwh is None:
        raise InputError(
            f"objective {objective!r} needs price_cny_per_kwh in the signals; give the "
            "tariff or plan for 'carbon'"
        )
    cost = signals.price_cny_per_kwh * KWH_PER_MWH
    if objective == "cost":
        return cost
    return cost + carbon * carbon_price_cny_per_t / 1000.0  # weighted


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


def capacity_grid(
    capacity_mw: Mapping[str, float] | npt.ArrayLike, signals: SiteSignals
) -> FloatArray:
    """Capacity as a (sites, steps) array in the order of ``signals.sites``.

    Parameters
    ----------
    capacity_mw : mapping site → MW, or array (sites,) or (sites, steps)
        Power open to flexible jobs. [MW]
    """
    n_s, n_t = len(signals.sites), signals.n_steps
    if isinstance(capacity_mw, Mapping):
        missing = [s for s in signals.sites if s not in capacity_mw]
        if missing:
            raise InputError(
                f"capacity_mw has no entry for site(s) {missing}; give one figure (or one per "
                "step) for every site of the signals"
            )
        rows = [
            np.broadcast_to(np.asarray(capacity_mw[s], dtype=np.float64), (n_t,))
            for s in signals.sites
        ]
        arr = np.stack(rows) if rows else np.zeros((0, n_t))
    else:
        arr = np.asarray(capacity_mw, dtype=np.float64)
        if arr.ndim == 1:
            arr = arr[:, None]
        if arr.ndim != 2 or arr.shape[0] != n_s or arr.shape[1] not in (1, n_t):
            raise InputError(
                f"capacity_mw: shape {np.shape(capacity_mw)}, expected ({n_s},) or "
                f"({n_s}, {n_t}) (sites × steps of the signals)"
            )
        arr = np.broadcast_to(arr, (n_s, n_t))
    if not (np.isfinite(arr).all() and (arr >= 0).all()):
        raise InputError("capacity_mw: values must be finite and ≥ 0 MW")
    return np.array(arr, dtype=np.float64)


UNREACHABLE_STEPS = 2**40
"""Delay of a site a job's data cannot be moved to (the signals carry no network). [steps]"""


@dataclass(frozen=True, eq=False)
class Transfers:
    """Per job and site of the signals (jobs × sites): what moving the job's data there takes."""

    delay_steps: IntArray
    """Steps from the job's release until its data have arrived (0 at its data site)."""
    cost_cny: FloatArray
    """Price of the move. [CNY]"""


def _transfers(jobs: JobTable, signals: SiteSignals, allowed: npt.NDArray[np.bool_]) -> Transfers:
    n_j, n_s = allowed.shape
    moves = (jobs.data_gb > 0) & (jobs.data_site != "")
    delay = np.zeros((n_j, n_s), dtype=np.int64)
    cost = np.zeros((n_j, n_s))
    if not moves.any():
        return Transfers(delay_steps=delay, cost_cny=cost)
    rows = np.flatnonzero(moves)
    data_site = jobs.data_site[rows].astype(str)
    away = allowed[rows] & (data_site[:, None] != np.asarray(signals.sites, dtype=str)[None, :])
    if not away.any():
        return Transfers(delay_steps=delay, cost_cny=cost)
    network = signals.network
    if network is None:  # nothing can move: only the data's own site is in reach
        delay[rows] = np.where(away, UNREACHABLE_STEPS, 0)
        return Transfers(delay_steps=delay, cost_cny=cost)
    src = network.index(list(data_site), "data_site")[:, None]
    dst = network.index(list(signals.sites), "the signals")[None, :]
    hours = network.hours(jobs.data_gb[rows][:, None], src, dst)
    # whole steps, rounded up; 1e-9 keeps an exact multiple from becoming one step more
    delay[rows] = np.ceil(hours * 60.0 / signals.step_min - 1e-9).astype(np.int64)
    cost[rows] = network.cost_cny(jobs.data_gb[rows][:, None], src, dst)
    return Transfers(delay_steps=delay, cost_cny=cost)


def reachable_sites(
    jobs: JobTable, signals: SiteSignals
) -> tuple[npt.NDArray[np.bool_], Transfers]:
    """Jobs × signal-sites: where each job may run *and* still finish after its data arrive,
    and the transfers (:class:`Transfers`) that running there takes."""
    allowed = _site_columns(jobs, signals)
    moves = _transfers(jobs, signals, allowed)
    r, d = _windows(jobs, signals)
    slack = (d - r - jobs.duration_steps)[:, None]
    return allowed & (moves.delay_steps <= np.maximum(slack, 0)), moves


def _windows(jobs: JobTable, signals: SiteSignals) -> tuple[IntArray, IntArray]:
    if jobs.step_min != signals.step_min:
        raise InputError(
            f"jobs use {jobs.step_min}-min steps but the signals {signals.step_min}-min; "
            "resample the signals to the jobs' step"
        )
    r, d = jobs.window_steps(signals.grid_start_utc)
    return np.clip(r, 0, signals.n_steps), np.clip(d, 0, signals.n_steps)


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
        ``carbon``, MWh of grid energy for ``green``, CNY otherwise).
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
    objective : {"carbon", "cost", "green", "weighted"}
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
    cap = capacity_grid(capacity_mw, signals)
    allowed, _ = reachable_sites(jobs, signals)
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
    # a job whose window (cut to the horizon) is shorter than its run, or whose data reach none
    # of its sites in time, has no plan at all: pack_jobs reports it, and the bound covers the
    # jobs that can run
    live = (d_h > r_h) & (d - r >= jobs.duration_steps) & allowed.any(axis=1)
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
