"""The national computing network run without and with 算电协同 (``suandian demo --network``).

The ``national`` scenario's sites (DESIGN §7) each host a hall of
:data:`~suandian.sim.site_signals.DEFAULT_CAPACITY_MW` open to deferrable jobs; the ``xining``
site is the park of the ``xining`` scenario, whose closed loop (:mod:`suandian.sim.closed_loop`)
runs first. Jobs arrive at every site over the period (:func:`network_jobs`, seeded): their
data lie at their home site, most may run on any site, some must stay home.

**uncoordinated** — every job starts at its release at its home site
(:func:`suandian.compute.greedy.arrival_plan`), whatever the grid or the hall.

**coordinated (算电协同)** — every :data:`PLAN_EVERY_H` hours the jobs released before the
next plan join the queue, and every job not yet started is planned again with them by the
re-planner (:func:`suandian.compute.replan.replan_jobs`: the multi-site planner over the next
:data:`HORIZON_DAYS` days on *forecast* signals, objective :data:`NETWORK_OBJECTIVE`); jobs under
way keep their hours. Past the hours whose jobs it knows, a plan leaves :data:`RESERVE_PU` of
each hall free for the jobs still to come, above all those that must run at home. A job runs
away from home only once its data have arrived (:mod:`suandian.compute.transfer`), counted from
the plan that places it (a move planned before is counted again: conservative). The forecast:
the modelled hourly grid intensity with an error of :data:`INTENSITY_FORECAST_ERROR_PCT` % of its
mean (as in the Let's Wait Awhile experiment) and, at Xining, the park's unused output with the
park's generation forecast error.
The whole plan is checked by :func:`suandian.compute.validate.check_plan` (windows, capacity,
residency, data arrival).

**Accounting** (:func:`settle_network`, the same for both, hourly, on the realised signals):
per site and hour the jobs' load ``L`` (their ``power_mw``) at Xining takes first what the
park's own run left unused — curtailed output, then exported output — and the grid the rest:

- *green share* = park output used / energy; *CFE* adds the grid's modelled clean share;
- *emissions* = grid energy × the modelled hourly intensity;
- *cost* = grid energy at the site's price + exported output taken at the park's export price
  (what the park forgoes; curtailed output is free) + the data moved at the network's price;
- *curtailment absorbed* = curtailed park output the jobs used; *deadline misses* = energy of
  the jobs left unplaced; *capacity overrun* = load above a hall's capacity (only the
  uncoordinated run, which ignores it, can have any).

Each network run takes the park output its *own* park run left: the uncoordinated network
beside the uncoordinated park, the coordinated beside the coordinated one.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace

import numpy as np
import numpy.typing as npt
import pandas as pd

from suandian.compute.capacity import reachable_sites
from suandian.compute.greedy import arrival_plan
from suandian.compute.jobs import JobTable, Plan
from suandian.compute.planner import Objective, take_jobs
from suandian.compute.replan import replan_jobs
from suandian.compute.signals import forecast_with_noise
from suandian.compute.validate import check_plan
from suandian.core.errors import InfeasiblePlan, InputError
from suandian.core.times import local_date_start_utc, local_hour
from suandian.core.units import KG_PER_T, KW_PER_MW
from suandian.scenario.model import Park
from suandian.sim.closed_loop import ClosedLoop, Mode, Operation, SiteLoop, grid_clean_share
from suandian.sim.park import simulate
from suandian.sim.site_signals import SiteSignals, data_moves, plan_load_mw, site_signals

__all__ = [
    "HORIZON_DAYS",
    "INTENSITY_FORECAST_ERROR_PCT",
    "NETWORK_OBJECTIVE",
    "NetworkFigures",
    "NetworkLoop",
    "ParkOutput",
    "network_jobs",
    "network_loop",
    "park_output",
    "settle_network",
]

FloatArray = npt.NDArray[np.float64]

STEP_MIN = 60
"""Step of the jobs and of both runs: hourly. [min]"""
HORIZON_DAYS = 3
"""Days each plan looks ahead (a job released late in a day may end two days on)."""
PLAN_EVERY_H = 6
"""Hours between two plans; each knows the jobs released before the next one."""
RESERVE_PU = 0.25
"""Share of each hall a plan leaves free after the hours it knows the jobs of: room for the
jobs not yet released, above all those that must run at home."""
INTENSITY_FORECAST_ERROR_PCT = 5.0
"""Standard deviation of the intensity forecast's error. [% of the mean]"""
NETWORK_OBJECTIVE: Objective = "weighted"
"""The planner's objective: grid cost with emissions at :data:`CARBON_PRICE_CNY_PER_T`, the park's
unused output free, moving data at its price."""
CARBON_PRICE_CNY_PER_T = 100.0
"""Carbon price of the objective: the order of China's national carbon market allowance
(CEA) in 2024. [CNY/tCO₂]"""
PARK_SITE = "xining"
"""The network site that is the ``xining`` park."""

JOBS_PER_SITE_DAY = 24
"""Mean jobs released per site and day (Poisson)."""
POWER_MW = (0.5, 3.0)
"""Range of a job's power (uniform). [MW]"""
DURATION_H = (1, 8)
"""Range of a job's run (uniform, whole hours). [h]"""
SLACK_H = (0, 24)
"""Range of the hours a job may wait (uniform, whole hours): due within a day of its run."""
HOME_ONLY_SHARE = 0.3
"""Share of jobs whose data must stay at their home site (residency)."""
DATA_GB_MEDIAN, DATA_GB_SIGMA = 200.0, 2.0
"""Data per job: log-normal with this median [GB] and log standard deviation."""


@dataclass(frozen=True)
class ParkOutput:
    """What one run of the park left of its on-site output, hourly. [MW]"""

    curtailed_mw: FloatArray
    exported_mw: FloatArray
    export_price_cny_per_kwh: FloatArray
    forecast_error_mw: FloatArray
    """The park's available-output forecast less the realised output."""

    @property
    def unused_mw(self) -> FloatArray:
        return self.curtailed_mw + self.exported_mw


def park_output(loop: SiteLoop, op: Operation) -> ParkOutput:
    """The unused output of ``op`` (a run of ``loop``) for the network."""
    n_t = loop.inputs.n_steps
    available_fc = loop.forecast.available_mw
    error = (
        np.zeros(n_t)
        if available_fc is None
        else np.asarray(available_fc, dtype=np.float64).sum(axis=0) - op.available_mw
    )
    return ParkOutput(
        curtailed_mw=np.maximum(op.available_mw - op.generation_mw, 0.0),
        exported_mw=np.asarray(op.export_mw, dtype=np.float64),
        export_price_cny_per_kwh=np.broadcast_to(
            np.asarray(loop.inputs.export_price_cny_per_kwh, dtype=np.float64), (n_t,)
        ).copy(),
        forecast_error_mw=error,
    )


def network_jobs(sites: tuple[str, ...], start_utc: pd.Timestamp, days: int, seed: int) -> JobTable:
    """The period's jobs, each released at its home site (module constants give the mix).

    Release hours favour the working day (09:00–18:00 Shanghai counts double); a job whose run
    would pass the period's end is not generated, and a deadline past it is cut to it.
    """
    rng = np.random.default_rng(seed)
    n_t = days * 24
    hour_local = local_hour(pd.DatetimeIndex(start_utc + np.arange(n_t) * pd.Timedelta(hours=1)))
    weight = np.where((hour_local >= 9) & (hour_local < 18), 2.0, 1.0)
    per_site = rng.poisson(JOBS_PER_SITE_DAY * days, len(sites))
    home = np.repeat(np.arange(len(sites)), per_site)
    n = len(home)
    release = rng.choice(n_t, n, p=weight / weight.sum())
    duration = rng.integers(DURATION_H[0], DURATION_H[1] + 1, n)
    slack = rng.integers(SLACK_H[0], SLACK_H[1] + 1, n)
    power = rng.uniform(*POWER_MW, n)
    data_gb = np.round(DATA_GB_MEDIAN * np.exp(DATA_GB_SIGMA * rng.standard_normal(n)), 1)
    home_only = rng.random(n) < HOME_ONLY_SHARE
    interruptible = rng.random(n) < 0.5
    keep = release + duration <= n_t
    deadline = np.minimum(release + duration + slack, n_t)
    allowed = np.where(home_only[:, None], np.eye(len(sites), dtype=bool)[home], True)
    order = np.lexsort((home, release))
    order = order[keep[order]]
    step = pd.Timedelta(minutes=STEP_MIN)
    names = np.asarray(sites, dtype=object)
    return JobTable.from_arrays(
        ids=[f"{names[home[i]]}-{k:06d}" for k, i in enumerate(order)],
        tenants=names[home[order]],
        power_mw=power[order],
        duration_steps=duration[order],
        release_utc=pd.DatetimeIndex(start_utc + release[order] * step),
        deadline_utc=pd.DatetimeIndex(start_utc + deadline[order] * step),
        sites=sites,
        allowed=allowed[order],
        interruptible=interruptible[order],
        data_gb=data_gb[order],
        data_site=names[home[order]],
        step_min=STEP_MIN,
    )


@dataclass(frozen=True)
class NetworkFigures:
    """What one network run achieved over the period (module docstring)."""

    jobs: int
    energy_mwh: float
    green_share_pu: float
    cfe_pu: float
    cost_cny: float
    emissions_tco2: float
    park_output_used_mwh: float
    curtailment_absorbed_mwh: float
    deadline_misses_mwh: float
    jobs_missed: int
    jobs_moved: int
    data_moved_gb: float
    transfer_cny: float
    capacity_overrun_mwh: float
    energy_by_site_mwh: dict[str, float]

    def to_json(self) -> dict[str, object]:
        return asdict(self)


def settle_network(
    jobs: JobTable,
    plan: Plan,
    signals: SiteSignals,
    clean_share_pu: FloatArray,
    park: ParkOutput,
    *,
    unplaced: dict[str, str],
) -> NetworkFigures:
    """The figures of ``plan`` on the realised ``signals`` (module docstring)."""
    n_s, n_t = signals.intensity_g_per_kwh.shape
    load = plan_load_mw(jobs, plan, signals)
    dt_h = signals.step_h
    used = np.zeros((n_s, n_t))
    at = signals.sites.index(PARK_SITE) if PARK_SITE in signals.sites else -1
    curtail_used = export_used = np.zeros(n_t)
    if at >= 0:
        curtail_used = np.minimum(load[at], park.curtailed_mw)
        export_used = np.minimum(load[at] - curtail_used, park.exported_mw)
        used[at] = curtail_used + export_used
    grid = load - used
    energy = float(load.sum() * dt_h)
    jobs_moved, moved_gb, transfer_cny = data_moves(jobs, plan, signals)
    missed = pd.Index(np.asarray(jobs.ids, dtype=str)).get_indexer(list(unplaced))
    missed = missed[missed >= 0]
    cost = (grid * signals.price_cny_per_kwh).sum() * dt_h * KW_PER_MW
    cost += float((export_used * park.export_price_cny_per_kwh).sum()) * dt_h * KW_PER_MW
    return NetworkFigures(
        jobs=len(jobs),
        energy_mwh=energy,
        green_share_pu=float(used.sum() * dt_h / energy) if energy > 0 else 0.0,
        cfe_pu=float((used + grid * clean_share_pu).sum() * dt_h / energy) if energy else 0.0,
        cost_cny=float(cost) + transfer_cny,
        emissions_tco2=float((grid * signals.intensity_g_per_kwh).sum() * dt_h / KG_PER_T),
        park_output_used_mwh=float(used.sum() * dt_h),
        curtailment_absorbed_mwh=float(curtail_used.sum() * dt_h),
        deadline_misses_mwh=float(
            (jobs.power_mw[missed] * jobs.duration_steps[missed]).sum() * dt_h
        ),
        jobs_missed=len(missed),
        jobs_moved=jobs_moved,
        data_moved_gb=moved_gb,
        transfer_cny=transfer_cny,
        capacity_overrun_mwh=float(np.maximum(load - signals.capacity_mw, 0.0).sum() * dt_h),
        energy_by_site_mwh={
            s: round(float(load[i].sum() * dt_h), 3) for i, s in enumerate(signals.sites)
        },
    )


@dataclass(frozen=True)
class NetworkLoop:
    """Both network runs and their figures."""

    sites: tuple[str, ...]
    objective: Objective
    carbon_price_cny_per_t: float
    horizon_days: int
    plan_every_h: int
    reserve_pu: float
    step_min: int
    intensity_forecast_error_pct: float
    uncoordinated: NetworkFigures
    coordinated: NetworkFigures
    notes: tuple[str, ...] = ()

    def how_json(self) -> dict[str, object]:
        """How the coordinated network run was made, as plain JSON values."""
        return {
            "objective": self.objective,
            "carbon_price_cny_per_t": self.carbon_price_cny_per_t,
            "horizon_days": self.horizon_days,
            "plan_every_h": self.plan_every_h,
            "reserve_pu": self.reserve_pu,
            "step_min": self.step_min,
            "intensity_forecast_error_pct": self.intensity_forecast_error_pct,
            "notes": list(self.notes),
        }

    def side_json(self, mode: Mode) -> dict[str, object]:
        figures = self.uncoordinated if mode == "uncoordinated" else self.coordinated
        how = (
            "every job at its release on its home site"
            if mode == "uncoordinated"
            else f"multi-site planner ({self.objective}) every {self.plan_every_h} h over the "
            f"next {self.horizon_days} days on forecasts, {self.reserve_pu:.0%} of each hall "
            "kept for jobs not yet released, settled on the realised signals"
        )
        return {"sites": list(self.sites), "operation": how, **figures.to_json()}


def _plan_rounds(
    jobs: JobTable,
    realised: SiteSignals,
    park_unused_fc_mw: FloatArray,
    *,
    objective: Objective,
    carbon_price_cny_per_t: float,
    plan_every_h: int,
    reserve_pu: float,
    seed: int,
    progress: Callable[[int, int], None] | None,
) -> tuple[Plan, dict[str, str]]:
    """Plan the jobs every ``plan_every_h`` hours on forecast signals (module docstring).

    At each plan the jobs released before the next one join the queue, and every job that has
    not started yet is planned again with them
    (:func:`suandian.compute.replan.replan_jobs`): those under way keep their hours, so a later
    job that must run at home can take the room an earlier, movable one held there.
    """
    rng = np.random.default_rng(seed)
    n_s, n_t = realised.intensity_g_per_kwh.shape
    intensity_fc = np.maximum(
        np.vstack(
            [
                forecast_with_noise(row, INTENSITY_FORECAST_ERROR_PCT, rng)
                for row in realised.intensity_g_per_kwh
            ]
        ),
        0.0,
    )
    surplus_fc = np.zeros((n_s, n_t))
    if PARK_SITE in realised.sites:
        surplus_fc[realised.sites.index(PARK_SITE)] = np.maximum(park_unused_fc_mw, 0.0)
    release_step, deadline_step = jobs.window_steps(realised.start_utc)
    site_names = np.asarray(realised.sites, dtype=object)
    placed_site = np.full(len(jobs), -1, dtype=np.int64)
    placed_steps: list[npt.NDArray[np.int64]] = [np.zeros(0, dtype=np.int64)] * len(jobs)
    first = np.full(len(jobs), np.iinfo(np.int64).max)
    last = np.full(len(jobs), -1, dtype=np.int64)
    every = plan_every_h * 60 // STEP_MIN
    n_rounds = -(-n_t // every)
    unplaced: dict[str, str] = {}
    for k in range(n_rounds):
        if progress is not None:
            progress(k + 1, n_rounds)
        lo = k * every
        hi = min(lo + HORIZON_DAYS * 24, n_t)
        known = release_step < lo + every
        open_ = known & (last >= lo) | known & (placed_site < 0) & (deadline_step > lo)
        rows = np.flatnonzero(open_)
        if not len(rows):
            continue
        today = take_jobs(jobs, rows)
        running = (placed_site[rows] >= 0) & (first[rows] < lo)
        current = Plan(
            job_id=np.repeat(today.ids[running], [len(placed_steps[i]) for i in rows[running]]),
            site=np.repeat(
                site_names[placed_site[rows[running]]],
                [len(placed_steps[i]) for i in rows[running]],
            ),
            step=np.concatenate([placed_steps[i] for i in rows[running]] + [np.zeros(0, int)]),
            grid_start_utc=realised.start_utc,
            step_min=STEP_MIN,
        )
        window = replace(
            realised.for_planner(),
            grid_start_utc=realised.start_utc + pd.Timedelta(hours=lo),
            intensity_g_per_kwh=intensity_fc[:, lo:hi],
            price_cny_per_kwh=realised.price_cny_per_kwh[:, lo:hi],
            surplus_mw=surplus_fc[:, lo:hi],
        )
        result = replan_jobs(
            today,
            current,
            np.where(running, "running", "pending"),
            now_utc=window.grid_start_utc,
            signals=window,
            capacity_mw=_with_reserve(realised.capacity_mw[:, lo:hi], every, reserve_pu),
            objective=objective,
            carbon_price_cny_per_t=carbon_price_cny_per_t,
            slot_steps=1,
        )
        pending = rows[~running]
        placed_site[pending] = -1
        plan_rows = rows[_rows(today, result.plan)]
        plan_site = pd.Index(realised.sites).get_indexer(pd.Index(np.asarray(result.plan.site)))
        plan_step = np.asarray(result.plan.step, dtype=np.int64) + lo
        for i in np.unique(plan_rows):
            mine = plan_rows == i
            placed_site[i] = plan_site[mine][0]
            placed_steps[i] = np.sort(plan_step[mine])
            first[i], last[i] = placed_steps[i][0], placed_steps[i][-1]
        for i in pending[placed_site[pending] < 0]:
            first[i], last[i] = np.iinfo(np.int64).max, -1
        unplaced.update(result.unplaced)
    placed = np.flatnonzero(placed_site >= 0)
    counts = np.array([len(placed_steps[i]) for i in placed], dtype=np.int64)
    plan = Plan(
        job_id=np.repeat(jobs.ids[placed], counts),
        site=np.repeat(site_names[placed_site[placed]], counts),
        step=np.concatenate([placed_steps[i] for i in placed] + [np.zeros(0, np.int64)]),
        grid_start_utc=realised.start_utc,
        step_min=STEP_MIN,
    )
    missed = {str(j): unplaced.get(str(j), "never placed") for j in jobs.ids[placed_site < 0]}
    return plan, missed


def _with_reserve(capacity_mw: FloatArray, known_steps: int, reserve_pu: float) -> FloatArray:
    """``capacity_mw`` with ``reserve_pu`` of it held back after the first ``known_steps``: room
    for jobs not yet known, above all those that must run at home."""
    out = capacity_mw.copy()
    out[:, known_steps:] *= 1.0 - reserve_pu
    return out


def _rows(jobs: JobTable, plan: Plan) -> npt.NDArray[np.int64]:
    """Row in ``jobs`` of each row of ``plan``."""
    return np.asarray(
        pd.Index(np.asarray(jobs.ids, dtype=str)).get_indexer(np.asarray(plan.job_id, dtype=str)),
        dtype=np.int64,
    )


def network_loop(
    national: Park,
    park_loop: ClosedLoop,
    *,
    first_day: dt.date,
    days: int,
    objective: Objective = NETWORK_OBJECTIVE,
    carbon_price_cny_per_t: float = CARBON_PRICE_CNY_PER_T,
    plan_every_h: int = PLAN_EVERY_H,
    reserve_pu: float = RESERVE_PU,
    progress: Callable[[int, int], None] | None = None,
) -> NetworkLoop:
    """Run the ``national`` sites uncoordinated and coordinated beside ``park_loop`` (the
    ``xining`` park's closed loop over the same local days), and settle both."""
    if not 0.0 <= reserve_pu < 1.0:
        raise InputError(f"reserve_pu {reserve_pu}: give a share of the hall in [0, 1)")
    if plan_every_h < 1 or 24 % plan_every_h:
        raise InputError(f"plan_every_h {plan_every_h}: give a whole number of hours dividing 24")
    if park_loop.runs is None:
        raise InputError("park_loop holds no runs; make it with suandian.sim.closed_loop")
    loop, unc_op, coo_op = park_loop.runs
    if PARK_SITE not in [s.id for s in national.sites]:
        raise InputError(f"the network scenario has no site {PARK_SITE!r} for the park")
    series = simulate(national, start=first_day, days=days)
    realised = site_signals(national, series, STEP_MIN)
    index = loop.inputs.index_utc
    if (
        index is None
        or len(index) != len(realised.index_utc)
        or not (index == realised.index_utc).all()
    ):
        raise InputError(
            "the park's closed loop and the network cover different hours; run both over "
            "the same local days at 60 min"
        )
    clean = np.vstack(
        [grid_clean_share(national.site(s), realised.index_utc)[0] for s in realised.sites]
    )
    jobs = network_jobs(realised.sites, local_date_start_utc(first_day), days, seed=national.seed)
    unc_park, coo_park = park_output(loop, unc_op), park_output(loop, coo_op)
    # uncoordinated: at home, at release
    delay = reachable_sites(jobs, realised.for_planner())[1].delay_steps
    arrival = arrival_plan(
        jobs,
        sites=realised.sites,
        grid_start_utc=realised.start_utc,
        step_min=STEP_MIN,
        delay_steps=delay,
    )
    plan, unplaced = _plan_rounds(
        jobs,
        realised,
        coo_park.unused_mw + coo_park.forecast_error_mw,
        objective=objective,
        carbon_price_cny_per_t=carbon_price_cny_per_t,
        plan_every_h=plan_every_h,
        reserve_pu=reserve_pu,
        seed=national.seed + 1,
        progress=progress,
    )
    placed = take_jobs(jobs, np.flatnonzero(~np.isin(jobs.ids, list(unplaced))))
    problems = check_plan(
        placed,
        plan,
        site_capacity_mw=dict(zip(realised.sites, realised.capacity_mw, strict=True)),
        network=realised.network,
    )
    if problems:
        raise InfeasiblePlan(
            "the network plan failed its independent check:\n  " + "\n  ".join(problems[:20])
        )
    notes = [
        f"{len(jobs):,} jobs over {days} day{'s' * (days != 1)} on {len(realised.sites)} "
        "sites; halls of "
        f"{float(realised.capacity_mw.max()):g} MW open to jobs at every site (a placeholder); "
        "grid intensity the modelled hourly zone mix around each province's published factor "
        "(DESIGN §7), not measured",
    ]
    return NetworkLoop(
        sites=realised.sites,
        objective=objective,
        carbon_price_cny_per_t=carbon_price_cny_per_t,
        horizon_days=HORIZON_DAYS,
        plan_every_h=plan_every_h,
        reserve_pu=reserve_pu,
        step_min=STEP_MIN,
        intensity_forecast_error_pct=INTENSITY_FORECAST_ERROR_PCT,
        uncoordinated=settle_network(jobs, arrival, realised, clean, unc_park, unplaced={}),
        coordinated=settle_network(jobs, plan, realised, clean, coo_park, unplaced=unplaced),
        notes=tuple(notes),
    )
