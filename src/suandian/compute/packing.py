"""Job level of the multi-site planner: packing the jobs (:func:`pack_jobs`).

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

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from suandian.compute.capacity import (
    CapacityPlan,
    FloatArray,
    IntArray,
    SiteSignals,
    _windows,
    capacity_grid,
    reachable_sites,
    step_cost_per_mwh,
)
from suandian.compute.jobs import JobTable, Plan
from suandian.compute.objectives import Objective
from suandian.core.errors import InputError

__all__ = ["PackResult", "pack_jobs", "plan_cost", "take_jobs"]

_EPS_MW = 1e-9

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
    moved_jobs, moved_gb, transfer_cny : int, float, float
        Placed jobs that run away from their data, the data they move [GB] and its price
        [CNY] (:mod:`suandian.compute.transfer`).
    """

    plan: Plan
    unplaced: dict[str, str]
    site_p_mw: FloatArray
    repaired: int = 0
    order: IntArray = field(default_factory=lambda: np.zeros(0, dtype=np.int64), repr=False)
    improved: int = 0
    moved_jobs: int = 0
    moved_gb: float = 0.0
    transfer_cny: float = 0.0


@dataclass(frozen=True, eq=False)
class _JobArrays:
    """The per-job columns the packer reads: window, run steps, power, shape, sites."""

    r: IntArray
    d: IntArray
    k: IntArray
    p_mw: FloatArray
    contiguous: npt.NDArray[np.bool_]
    allowed: npt.NDArray[np.bool_]
    delay: IntArray | None = None
    """Jobs × sites: steps after the release before the job's data have arrived."""
    extra: FloatArray | None = None
    """Jobs × sites: the move's cost in the unit of a job's step-cost sum (its objective
    divided by ``p · Δt``)."""


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
    if jobs.delay is not None:  # the data must arrive before the first step
        inside &= off >= jobs.delay[rows[pj], ps][:, None]

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
        # cheapest k consecutive feasible steps: window sums of one prefix sum of the cost and
        # one of the infeasible steps, counted in integers (a cost that stands in for an
        # infeasible step can be rounded away in a long prefix sum)
        csum = np.zeros((len(run), width + 1))
        np.cumsum(np.where(ok[n_pick:], cost[n_pick:], 0.0), axis=1, out=csum[:, 1:])
        cbad = np.zeros((len(run), width + 1), dtype=np.int64)
        np.cumsum(~ok[n_pick:], axis=1, out=cbad[:, 1:])
        kk = k[pj[run]][:, None]
        end = np.minimum(off + kk, width)
        at = np.arange(len(run))[:, None]
        sums = csum[at, end] - csum[:, :width]
        clear = cbad[at, end] - cbad[:, :width] == 0
        sums = np.where(clear & (off + kk <= w[pj[run]][:, None]), sums, np.inf)
        start[run] = np.argmin(sums, axis=1)
        tot[run] = sums[np.arange(len(run)), start[run]]
    if jobs.extra is not None:
        tot += jobs.extra[rows[pj], ps]
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
        if jobs.extra is not None:
            own_total[held] += jobs.extra[rows[held], own_site[held]]
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
        if len(rows) == 0:
            return
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
    cap = capacity_grid(capacity_mw, signals)
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
    allowed, moves = reachable_sites(jobs, signals)
    r, d = _windows(jobs, signals)
    k_all = jobs.duration_steps
    p_all = jobs.power_mw
    contiguous = ~(jobs.interruptible & (jobs.checkpoint_steps == 1))
    moving = bool(moves.delay_steps.any())
    extra = None
    if moving and objective in ("cost", "weighted"):  # the move's price is in CNY
        extra = moves.cost_cny / (p_all * signals.step_h)[:, None]
    cols = _JobArrays(
        r=r,
        d=d,
        k=k_all,
        p_mw=p_all,
        contiguous=contiguous,
        allowed=allowed,
        delay=moves.delay_steps if moving else None,
        extra=extra,
    )
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
        str(jobs.ids[i]): _why(int(i), r, d, k_all, p_all, allowed, cap, jobs, signals)
        for i in np.flatnonzero(state.site < 0)
    }
    placed = np.flatnonzero(state.site >= 0)
    away = placed[moves.delay_steps[placed, state.site[placed]] > 0]
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
        moved_jobs=len(away),
        moved_gb=float(jobs.data_gb[away].sum()),
        transfer_cny=float(moves.cost_cny[away, state.site[away]].sum()),
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
        if not fits[0]:  # cannot happen (the first choice was made against this capacity);
            left.append(todo)  # should it, the repair pass gets them rather than a hang
            break
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
        if jobs.delay is not None:  # not before the job's data have arrived
            usable &= np.arange(b - a)[None, :] >= jobs.delay[i, sites][:, None]
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
    signals: SiteSignals,
) -> str:
    if d[i] - r[i] < k[i]:
        return (
            f"its window has {max(int(d[i] - r[i]), 0)} steps inside the planning horizon but "
            f"it needs {int(k[i])}; extend the horizon or move the window"
        )
    sites = np.flatnonzero(allowed[i])
    if len(sites) == 0:
        if str(jobs.data_site[i]) and any(s in signals.sites for s in _allowed_names(jobs, i)):
            return (
                f"its {jobs.data_gb[i]:.6g} GB at {jobs.data_site[i]!r} cannot reach any of its "
                "allowed sites in time to run before its deadline; allow its data site, move "
                "the deadline or move the data ahead"
            )
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


def _allowed_names(jobs: JobTable, i: int) -> list[str]:
    return [jobs.sites[j] for j in np.flatnonzero(jobs.allowed[i])]


def plan_cost(
    jobs: JobTable,
    site_p_mw: FloatArray,
    signals: SiteSignals,
    *,
    objective: Objective = "carbon",
    carbon_price_cny_per_t: float = 0.0,
    use_surplus: bool = True,
) -> float:
    """Objective of a job-level plan from its per-site power (kgCO₂ for carbon, MWh of grid
    energy for green, else CNY).

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
        data_site=jobs.data_site[idx],
        priority=jobs.priority[idx],
        step_min=jobs.step_min,
    )
