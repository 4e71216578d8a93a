"""Per site and interval signals that the job scheduler plans on (算电协同).

:func:`site_signals` turns a simulated park (:func:`suandian.sim.park.simulate`) into one
:class:`SiteSignals` at the planning resolution, for every site of the scenario:

- **intensity** ``intensity_g_per_kwh`` — the zone's *modelled* hourly location-based intensity
  (DESIGN §7: a model around the published factor, averaging to it over each local year, not
  measured data). It is computed by the kernel the reports use,
  :func:`suandian.grid.site_mix.grid_mix_for` (``grid_mix`` may replace it, e.g. in tests), so
  plans and reports see one intensity;
- **green surplus** ``surplus_mw`` — the site's simulated *available* generation (PV, wind,
  hydro) less its fixed load (enterprises and the data centers' fixed IT × PUE), never below 0;
  0 at a site without generation. Flexible consumers (EV stations, electrolyzers) and the
  data centers' deferrable load are not counted: the queue's jobs are that deferrable load;
- **import price** ``price_cny_per_kwh`` — the site's time-of-use tariff on the *local*
  (Asia/Shanghai) clock, the mean of the quarter-hour prices an interval covers; a site without
  a tariff gets the flat placeholder :data:`DEFAULT_PRICE_CNY_PER_KWH`;
- **compute capacity** ``capacity_mw`` — the IT headroom of the site's data centers,
  Σ (IT capacity − fixed IT load), in IT MW (the unit of a job's ``power_mw``); a site without
  a data center (the ``national`` scenario models none) gets :data:`DEFAULT_CAPACITY_MW`;
- **data network** ``network`` — the paths between the sites for jobs that move data
  (:func:`park_network`), when the scenario has a ``network`` block.

:func:`signals_from_csv` maps a *measured* intensity series (the carbon-intensity CSV format:
``Time`` naive UTC interval starts, ``Carbon Intensity`` in gCO₂/kWh) onto one site.
:func:`plan_totals` counts a plan's carbon, cost and on-site green share on the signals.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd

from suandian.compute import planner
from suandian.compute.jobs import JobTable, Plan
from suandian.compute.transfer import Network
from suandian.core.errors import InputError, NotFound, TimeError
from suandian.core.times import local_hour, require_utc
from suandian.grid.site_mix import grid_mix_for
from suandian.scenario.model import Park, Site
from suandian.sim.dispatch_inputs import _mean, _site_series, _steps_per_interval
from suandian.sim.park import ParkSeries

__all__ = [
    "DEFAULT_CAPACITY_MW",
    "DEFAULT_PRICE_CNY_PER_KWH",
    "GridMixFn",
    "PlanTotals",
    "SiteSignals",
    "data_moves",
    "park_network",
    "plan_load_mw",
    "plan_totals",
    "signals_from_csv",
    "site_signals",
]

FloatArray = npt.NDArray[np.float64]

GridMixFn = Callable[[Site, pd.DatetimeIndex], tuple[tuple[str, ...], FloatArray, FloatArray]]
"""``(site, index_utc) → (sources, shares (T, K), intensity (T,) [kgCO₂/kWh])``, the signature
of :func:`suandian.grid.site_mix.grid_mix_for`."""

DEFAULT_CAPACITY_MW = 20.0
"""IT capacity open to queued jobs at a site whose data center the scenario does not model (the
``national`` sites): a placeholder of a mid-sized hall, not a published figure. [MW]"""

DEFAULT_PRICE_CNY_PER_KWH = 0.38
"""Flat import price at a site without a tariff: the ``xining`` tariff's flat period, a
placeholder. [CNY/kWh]"""

_QUARTERS_PER_HOUR = 4


@dataclass(frozen=True, eq=False)
class SiteSignals:
    """Signals of ``S`` sites over ``T`` intervals: every array is (S, T), row ``s`` is
    ``sites[s]``, column ``t`` the interval starting at ``index_utc[t]`` (tz-aware UTC, regular).
    """

    sites: tuple[str, ...]
    index_utc: pd.DatetimeIndex
    intensity_g_per_kwh: FloatArray
    """Grid location-based intensity. [gCO₂ kWh⁻¹]"""
    surplus_mw: FloatArray
    """On-site green generation left after the fixed load, ≥ 0. [MW]"""
    price_cny_per_kwh: FloatArray
    """Grid import price. [CNY kWh⁻¹]"""
    capacity_mw: FloatArray
    """IT power open to jobs. [MW]"""
    intensity_modelled: bool = True
    """Whether the intensity is the modelled zone mix (DESIGN §7) rather than measured."""
    network: Network | None = None
    """Paths between the sites for jobs that move data; ``None``: no job may."""

    def __post_init__(self) -> None:
        index = self.index_utc
        if index.tz is None:
            raise TimeError("index_utc is naive; localize it, e.g. index.tz_localize('UTC')")
        index = pd.DatetimeIndex(index.tz_convert("UTC").as_unit("ns"))
        object.__setattr__(self, "index_utc", index)
        if len(index) < 2 or len(set(np.diff(index.asi8))) != 1:
            raise TimeError("index_utc must hold at least two evenly spaced, increasing starts")
        object.__setattr__(self, "sites", tuple(self.sites))
        shape = (len(self.sites), len(index))
        for name in ("intensity_g_per_kwh", "surplus_mw", "price_cny_per_kwh", "capacity_mw"):
            values = np.asarray(getattr(self, name), dtype=np.float64)
            if values.shape != shape:
                raise InputError(
                    f"{name}: shape {values.shape}, expected (sites, intervals) = {shape}"
                )
            if not np.isfinite(values).all():
                raise InputError(f"{name}: holds values that are not finite; fill gaps first")
            object.__setattr__(self, name, values)

    @property
    def step_min(self) -> int:
        """Resolution. [min]"""
        return int((self.index_utc[1] - self.index_utc[0]) / pd.Timedelta(minutes=1))

    @property
    def step_h(self) -> float:
        """Resolution. [h]"""
        return self.step_min / 60.0

    @property
    def start_utc(self) -> pd.Timestamp:
        return pd.Timestamp(self.index_utc[0])

    def for_planner(self) -> planner.SiteSignals:
        """The same signals as the multi-site planner's input (capacity is passed apart)."""
        return planner.SiteSignals(
            sites=self.sites,
            grid_start_utc=self.start_utc,
            step_min=self.step_min,
            intensity_g_per_kwh=self.intensity_g_per_kwh,
            price_cny_per_kwh=self.price_cny_per_kwh,
            surplus_mw=self.surplus_mw,
            network=self.network,
        )


def park_network(park: Park) -> Network | None:
    """The scenario's data network over its sites, or ``None`` if it has no ``network``."""
    spec = park.network
    if spec is None:
        return None
    hubs = [
        (r.beijing_ms, r.shanghai_ms, r.guangzhou_ms)
        for r in (site.rtt for site in park.sites)
        if r is not None
    ]
    return Network.from_hubs(
        [site.id for site in park.sites],
        np.asarray(hubs, dtype=np.float64),
        link_gbps=spec.link_gbps,
        streams=spec.streams,
        window_mib=spec.tcp_window_mib,
        cny_per_gb=spec.transfer_cny_per_gb,
    )


def _price(site: Site, index: pd.DatetimeIndex, resolution_min: int) -> FloatArray:
    """Mean of the local quarter-hour prices each interval covers. [CNY/kWh]"""
    tariff = site.grid.tariff
    if tariff is None:
        return np.full(len(index), DEFAULT_PRICE_CNY_PER_KWH)
    by_quarter = np.asarray(tariff.price_by_quarter_hour(), dtype=np.float64)
    first = np.rint(local_hour(index) * _QUARTERS_PER_HOUR).astype(np.int64)
    n_q = max(resolution_min // 15, 1)
    prices = np.vstack([by_quarter[(first + i) % by_quarter.size] for i in range(n_q)])
    return np.asarray(prices.mean(axis=0), dtype=np.float64)


def site_signals(
    park: Park, series: ParkSeries, resolution_min: int, *, grid_mix: GridMixFn = grid_mix_for
) -> SiteSignals:
    """Signals of every site of ``park`` over the simulated period (see the module docstring).

    Parameters
    ----------
    park : Park
        The scenario.
    series : ParkSeries
        Its simulation over the period (whole local days).
    resolution_min : int
        Planning resolution, a multiple of the simulation's that divides a day. [min]
    grid_mix : GridMixFn
        The zone-mix kernel; default :func:`suandian.grid.site_mix.grid_mix_for`, the one the
        reports use.
    """
    k = _steps_per_interval(series, resolution_min)
    index = pd.DatetimeIndex(series.index[::k])
    n_sites, n_steps = len(park.sites), len(index)
    intensity = np.empty((n_sites, n_steps))
    surplus = np.zeros((n_sites, n_steps))
    price = np.empty((n_sites, n_steps))
    capacity = np.full((n_sites, n_steps), DEFAULT_CAPACITY_MW)
    for s, site in enumerate(park.sites):
        _, _, kg_per_kwh = grid_mix(site, index)
        intensity[s] = 1000.0 * np.asarray(kg_per_kwh, dtype=np.float64)
        one = _site_series(park, series, site, resolution_min)
        available = sum((g.available_mw for g in one.generators), np.zeros(n_steps))
        surplus[s] = np.maximum(available - one.fixed_load_mw, 0.0)
        price[s] = _price(site, index, resolution_min)
        halls = [dc for dc in park.data_centers if dc.site == site.id]
        if halls:
            capacity[s] = sum(
                _mean(
                    np.maximum(
                        dc.it_capacity_mw - series.data_center[dc.id]["it_fixed_mw"].to_numpy(),
                        0.0,
                    ),
                    k,
                )
                for dc in halls
            )
    return SiteSignals(
        sites=tuple(site.id for site in park.sites),
        index_utc=index,
        intensity_g_per_kwh=intensity,
        surplus_mw=surplus,
        price_cny_per_kwh=price,
        capacity_mw=capacity,
        network=park_network(park),
    )


def signals_from_csv(
    path: Path | str,
    *,
    site: str,
    start_utc: pd.Timestamp | None = None,
    end_utc: pd.Timestamp | None = None,
    step_min: int = 30,
    price_cny_per_kwh: float = DEFAULT_PRICE_CNY_PER_KWH,
    capacity_mw: float = DEFAULT_CAPACITY_MW,
) -> SiteSignals:
    """One site's signals with a measured intensity series read from ``path``.

    The file is the carbon-intensity CSV format: ``Time`` (naive UTC interval starts, localised
    as UTC here, never guessed) and ``Carbon Intensity`` [gCO₂/kWh]. Rows off the ``step_min``
    grid are dropped (files mix 15- and 30-min rows); every interval of
    ``[start_utc, end_utc)`` (default: the file's span) must have a value. The site has no
    on-site surplus, a flat ``price_cny_per_kwh`` and a constant ``capacity_mw``.
    """
    path = Path(path)
    if not path.is_file():
        raise NotFound(f"intensity file {path} not found; pass the path of a carbon-intensity CSV")
    try:
        frame = pd.read_csv(path, usecols=["Time", "Carbon Intensity"])
    except ValueError as exc:
        raise InputError(
            f"{path.name}: {exc}; the file needs the columns Time and Carbon Intensity"
        ) from None
    times = pd.DatetimeIndex(pd.to_datetime(frame["Time"])).as_unit("ns")
    if times.tz is not None:
        raise TimeError(f"{path.name}: Time carries an offset; the format's times are naive UTC")
    utc = times.tz_localize("UTC")
    step = pd.Timedelta(minutes=step_min)
    on_grid = (utc.asi8 % step.value) == 0
    series = pd.Series(frame["Carbon Intensity"].to_numpy(dtype=float)[on_grid], index=utc[on_grid])
    series = series[~series.index.duplicated(keep="first")].sort_index()
    if len(series) < 2:
        raise InputError(f"{path.name}: fewer than two values on the {step_min}-min grid")
    start = require_utc(start_utc, "start_utc") if start_utc is not None else series.index[0]
    end = require_utc(end_utc, "end_utc") if end_utc is not None else series.index[-1] + step
    grid = pd.date_range(start, end, freq=step, inclusive="left")
    values = series.reindex(grid)
    missing = values.isna().to_numpy()
    if missing.any():
        raise InputError(
            f"{path.name}: no {step_min}-min value at {grid[int(missing.argmax())]} "
            f"({int(missing.sum())} missing in [{start}, {end})); the file covers "
            f"{series.index[0]} .. {series.index[-1]}, choose a span inside it"
        )
    n = len(grid)
    return SiteSignals(
        sites=(site,),
        index_utc=grid,
        intensity_g_per_kwh=values.to_numpy()[None, :],
        surplus_mw=np.zeros((1, n)),
        price_cny_per_kwh=np.full((1, n), price_cny_per_kwh),
        capacity_mw=np.full((1, n), capacity_mw),
        intensity_modelled=False,
    )


@dataclass(frozen=True)
class PlanTotals:
    """What a plan costs on the signals."""

    energy_mwh: float
    green_mwh: float
    """Energy covered by on-site surplus. [MWh]"""
    carbon_kgco2: float
    """Location-based emissions of the grid energy. [kgCO₂]"""
    cost_cny: float
    """Import cost of the grid energy. [CNY]"""
    moved_gb: float = 0.0
    """Data moved to jobs that run away from their ``data_site``. [GB]"""
    transfer_cny: float = 0.0
    """Price of those moves (not in ``cost_cny``). [CNY]"""

    @property
    def green_share(self) -> float | None:
        """On-site green share of the jobs' energy; ``None`` without energy."""
        return self.green_mwh / self.energy_mwh if self.energy_mwh > 0 else None


def plan_load_mw(jobs: JobTable, plan: Plan, signals: SiteSignals) -> FloatArray:
    """(sites, intervals) power of the jobs ``plan`` runs, on the signals' grid. [MW]"""
    if plan.step_min != signals.step_min:
        raise InputError(
            f"the plan uses {plan.step_min}-min steps but the signals {signals.step_min}-min"
        )
    offset = int((plan.grid_start_utc - signals.start_utc) / pd.Timedelta(minutes=plan.step_min))
    steps = np.asarray(plan.step, dtype=np.int64) + offset
    site_row = pd.Index(signals.sites).get_indexer(pd.Index(np.asarray(plan.site, dtype=str)))
    job_row = pd.Index(np.asarray(jobs.ids, dtype=str)).get_indexer(
        pd.Index(np.asarray(plan.job_id, dtype=str))
    )
    n_steps = len(signals.index_utc)
    if (site_row < 0).any() or (job_row < 0).any() or (steps < 0).any() or (steps >= n_steps).any():
        raise InputError("the plan runs a job, on a site or at a time the signals do not cover")
    load = np.zeros((len(signals.sites), n_steps))
    np.add.at(load, (site_row, steps), jobs.power_mw[job_row])
    return load


def data_moves(jobs: JobTable, plan: Plan, signals: SiteSignals) -> tuple[int, float, float]:
    """The jobs ``plan`` runs away from their ``data_site``, the data they move [GB] and the
    price of moving them [CNY] (0 without a network: then nothing can move)."""
    net = signals.network
    if net is None:
        return 0, 0.0, 0.0
    site_of = pd.Series(np.asarray(plan.site, dtype=str), index=np.asarray(plan.job_id, dtype=str))
    site_of = site_of[~site_of.index.duplicated()]  # a job runs on one site
    row = pd.Index(np.asarray(jobs.ids, dtype=str)).get_indexer(site_of.index)
    data_site = np.asarray(jobs.data_site, dtype=object)[row].astype(str)
    src = net.index([s if s in net.sites else "" for s in data_site], "data_site")
    dst = net.index(site_of.to_list(), "the plan")
    moved = (src >= 0) & (src != dst) & (jobs.data_gb[row] > 0)
    cny = float(net.cost_cny(jobs.data_gb[row], src, dst).sum())
    return int(moved.sum()), float(jobs.data_gb[row][moved].sum()), cny


def plan_totals(jobs: JobTable, plan: Plan, signals: SiteSignals) -> PlanTotals:
    """Energy, on-site green energy, carbon and cost of ``plan``.

    Per site and interval the jobs' load ``L`` (their own ``power_mw``, no PUE uplift) draws
    on-site surplus first, ``G = min(L, surplus)``, and the grid for the rest, ``R = L − G``:
    carbon ``Σ R·Δt·intensity`` (MW × h × g/kWh = kg), cost ``Σ R·Δt·1000·price``. With a
    network, the data each job moves to run away from its ``data_site`` and their price.
    """
    load = plan_load_mw(jobs, plan, signals)
    green = np.minimum(load, signals.surplus_mw)
    grid = load - green
    dt_h = signals.step_h
    _, moved_gb, transfer_cny = data_moves(jobs, plan, signals)
    return PlanTotals(
        energy_mwh=float(load.sum() * dt_h),
        green_mwh=float(green.sum() * dt_h),
        carbon_kgco2=float((grid * signals.intensity_g_per_kwh).sum() * dt_h),
        cost_cny=float((grid * signals.price_cny_per_kwh).sum() * dt_h * 1000.0),
        moved_gb=moved_gb,
        transfer_cny=transfer_cny,
    )
