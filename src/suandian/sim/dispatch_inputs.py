"""Turn a simulated park into the dispatch LP's inputs (源网荷储一体化 on simulated data).

One site of the park becomes one bus of :class:`~suandian.dispatch.DispatchInputs`, at a
resolution coarser than or equal to the simulation's (series are aggregated by their mean, so
energy is kept):

- **generators**: every PV plant, wind farm and hydro plant of the site, with its simulated
  output as the output *available* (the LP may curtail it);
- **fixed load**: every enterprise of the site, each data center's fixed IT load × PUE, and
  the inflexible part of each EV station and electrolyzer (below);
- **flexible load** (算电协同): :class:`~suandian.dispatch.FlexibleLoad` classes named
  ``"<asset>@<local start>"``, each in a :class:`~suandian.dispatch.FlexGroup` named after its
  asset whose per-interval cap all the asset's classes share:

  * *data center*: its deferrable IT load × PUE, one class per local (Asia/Shanghai) day
    (``dc-nanchuan@2025-07-01``), holding the day's deferrable energy, released at the day's
    start and due ``deferral_window_h`` later (cut at the end of the period); the class's cap
    is the largest facility headroom of its window, max_t (it_capacity − it_fixed_t) × PUE_t,
    and the group's cap is the headroom of each interval, (it_capacity − it_fixed_t) × PUE_t,
    so fixed and flexible IT together never exceed the hall, even where the windows of two
    days overlap. A window shorter than a day splits the day into blocks of that length, one
    class each; a window shorter than one interval leaves nothing to move (the load stays
    fixed). *Approximation*: energy that arrives late in the day may run before it arrives,
    and energy that arrives early may not be held back the full window past the day's end
    (with the 24 h default the class spans exactly its local day).
  * *EV station* (a consumer with an ``ev`` block): its simulated profile is the uncontrolled
    one (sessions charge on arrival); ``flexible_share_pu`` of it is flexible, the rest stays
    fixed. Arrivals are grouped into blocks of ``EV_BLOCK_H`` (2 h) of local time; a block's
    class (``svc-12@2025-07-01T18:00``) is released at the block's *end* (every car of the
    block has arrived) and due at the block's *start* + ``dwell_h`` (the earliest departure),
    with the block's flexible energy and the chargers' power (chargers × charger_kw) as its
    cap; the group's cap is that power less the station's fixed charging at t (never below 0).
    *Approximation (conservative window)*: a car is only charged after the last car of its
    block has arrived and before the first of its block leaves, so each class has a window of
    ``dwell_h`` − 2 h, shorter than any of its cars' stays. A dwell of at most one block, or a
    block whose earliest departure falls after the end of the period, leaves that energy fixed.
  * *electrolyzer* (a consumer with an ``electrolyzer`` block): its minimum stable load
    ``min_load_pu`` × ``rated_mw`` is fixed all day (an LP cannot switch the stack off); the
    rest of each local day's energy (the simulated profile: mean_mw × 24 h) is one class
    (``h2-01@2025-07-01``) over that local day, capped at rated × (1 − min_load_pu), which is
    also its group's cap: the stack runs between its minimum and rated power and produces
    each day's hydrogen within the day.
- **batteries** of the site with their soc bounds and initial soc, ending where they started
  (``cyclic``);
- **grid**: the tie's import limit and export cap (a share of the available on-site output per
  interval), the time-of-use import price of each interval from the tariff in *local* clock
  time (the mean of the quarter-hour prices the interval covers), the tariff's export price,
  and the site's location-based emission factor as a constant (the hourly zone mix of
  :mod:`suandian.grid` is not used here: the LP's ``carbon`` objective then shifts load only
  between hours of different on-site supply, not between hours of different grid intensity).

:func:`dispatch_forecast` maps a *forecast* series of the same period the same way, for
:func:`~suandian.dispatch.rolling.rolling_dispatch` to plan on while the realised series
settles. :class:`SiteDispatch` carries a plan back to
:func:`suandian.sim.metering.simulated_readings`, which meters each flexible asset's fixed part
plus its planned classes (:func:`flexible_arrivals_mw` says which part of its simulated load
the classes took over, :func:`flexible_by_asset` what the plan gives it instead).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from suandian.core.errors import InputError
from suandian.core.times import LOCAL_TZ, local_day, local_hour
from suandian.dispatch import (
    BatteryUnit,
    DispatchInputs,
    DispatchResult,
    FlexGroup,
    FlexibleLoad,
    Generator,
    GridConnection,
)
from suandian.dispatch.rolling import Forecast
from suandian.scenario.model import Consumer, Park, Site
from suandian.sim.park import ParkSeries

__all__ = [
    "EV_BLOCK_H",
    "SiteDispatch",
    "dispatch_forecast",
    "dispatch_inputs",
    "dispatchable_sites",
    "flexible_arrivals_mw",
    "flexible_by_asset",
    "flexible_by_consumer",
    "flexible_by_data_center",
    "resolve_site",
]

FloatArray = npt.NDArray[np.float64]

_QUARTERS_PER_HOUR = 4

EV_BLOCK_H = 2.0
"""Length of the blocks of local time into which EV arrivals are grouped, one class each. [h]"""


@dataclass(frozen=True)
class SiteDispatch:
    """A dispatch plan of one site with the inputs it was made for."""

    site: str
    inputs: DispatchInputs
    result: DispatchResult


def dispatchable_sites(park: Park) -> list[str]:
    """Sites with something on them (generation, storage or load), in scenario order."""
    used = {
        a.site
        for group in (
            park.pv_plants,
            park.wind_farms,
            park.hydro_plants,
            park.batteries,
            park.data_centers,
            park.consumers,
        )
        for a in group
    }
    return [s.id for s in park.sites if s.id in used]


def resolve_site(park: Park, site: str | None = None) -> str:
    """The site id a dispatch of ``park`` plans: ``site``, or the one site holding assets.

    Raises :class:`InputError` for an unknown site, or when ``site`` is ``None`` and several
    sites hold assets.
    """
    return _pick_site(park, site).id


def _pick_site(park: Park, site: str | None) -> Site:
    if site is None:
        with_assets = dispatchable_sites(park)
        candidates = with_assets or [s.id for s in park.sites]
        if len(candidates) > 1:
            which = "sites with assets" if with_assets else "sites"
            raise InputError(
                f"scenario {park.name} has {len(candidates)} {which} "
                f"({', '.join(candidates)}); the dispatch LP plans one site: name it "
                "(site=… in Python, --site on the command line)"
            )
        site = candidates[0]
    try:
        return park.site(site)
    except KeyError:
        known = ", ".join(s.id for s in park.sites)
        raise InputError(f"site: {site!r} is not a site of {park.name}; sites: {known}") from None


def _steps_per_interval(series: ParkSeries, resolution_min: int) -> int:
    if resolution_min % series.resolution_min or 1440 % resolution_min:
        raise InputError(
            f"resolution_min: {resolution_min} must be a multiple of the simulation's "
            f"{series.resolution_min} min that divides a day (e.g. 15, 30, 60)"
        )
    k = resolution_min // series.resolution_min
    if len(series.index) % k:
        raise InputError(
            f"resolution_min: {len(series.index)} simulated intervals do not make whole "
            f"{resolution_min}-min intervals; simulate whole days"
        )
    return k


def _mean(values: npt.ArrayLike, k: int) -> FloatArray:
    arr = np.asarray(values, dtype=np.float64)
    return arr.reshape(-1, k).mean(axis=1) if k > 1 else arr.copy()


@dataclass(frozen=True)
class _SiteSeries:
    """A site's series at the dispatch resolution."""

    index: pd.DatetimeIndex
    interval_h: float
    generators: tuple[Generator, ...]
    fixed_load_mw: FloatArray
    deferrable_mw: dict[str, FloatArray]
    """Per data center: deferrable IT × PUE."""
    headroom_mw: dict[str, FloatArray]
    """Per data center: (IT capacity − fixed IT) × PUE."""
    consumer_mw: dict[str, FloatArray]
    """Per flexible consumer (EV station, electrolyzer): its simulated load."""


def _is_flexible(consumer: Consumer) -> bool:
    return consumer.ev is not None or consumer.electrolyzer is not None


def _site_series(park: Park, series: ParkSeries, site: Site, resolution_min: int) -> _SiteSeries:
    k = _steps_per_interval(series, resolution_min)
    index = pd.DatetimeIndex(series.index[::k])
    gen_cols = [a for a in series.generation_mw.columns if series.site_of.get(a) == site.id]
    generators = tuple(
        Generator(a, series.source_of[a], _mean(series.generation_mw[a].to_numpy(), k))
        for a in gen_cols
    )
    dcs = [dc for dc in park.data_centers if dc.site == site.id]
    flexible = [c for c in park.consumers if c.site == site.id and _is_flexible(c)]
    not_fixed = {dc.id for dc in dcs} | {c.id for c in flexible}
    enterprise_cols = [
        c for c in series.load_mw.columns if series.site_of.get(c) == site.id and c not in not_fixed
    ]
    fixed = np.zeros(len(series.index))
    if enterprise_cols:
        fixed += series.load_mw[enterprise_cols].to_numpy().sum(axis=1)
    deferrable: dict[str, FloatArray] = {}
    headroom: dict[str, FloatArray] = {}
    for dc in dcs:
        frame = series.data_center[dc.id]
        pue = frame["pue"].to_numpy()
        it_fixed = frame["it_fixed_mw"].to_numpy()
        fixed += it_fixed * pue
        deferrable[dc.id] = _mean(frame["it_deferrable_mw"].to_numpy() * pue, k)
        headroom[dc.id] = _mean(np.maximum(dc.it_capacity_mw - it_fixed, 0.0) * pue, k)
    return _SiteSeries(
        index=index,
        interval_h=resolution_min / 60.0,
        generators=generators,
        fixed_load_mw=_mean(fixed, k),
        deferrable_mw=deferrable,
        headroom_mw=headroom,
        consumer_mw={c.id: _mean(series.load_mw[c.id].to_numpy(), k) for c in flexible},
    )


def _local_blocks(
    index: pd.DatetimeIndex, interval_h: float, block_steps: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Start and end steps of blocks of ``block_steps`` inside each local day (the last of a
    day may be shorter)."""
    n_t = len(index)
    days = local_day(index)
    _, day_number = np.unique(days, return_inverse=True)
    day_number = np.asarray(day_number).reshape(-1)
    # Position of each step inside its local day; blocks shorter than a day split it.
    day_start = np.flatnonzero(np.r_[True, day_number[1:] != day_number[:-1]])
    pos = np.arange(n_t) - day_start[day_number]
    steps_per_day = round(24.0 / interval_h)
    block = day_number * steps_per_day + pos // block_steps
    _, block_number = np.unique(block, return_inverse=True)
    block_number = np.asarray(block_number).reshape(-1)
    starts = np.flatnonzero(np.r_[True, block_number[1:] != block_number[:-1]])
    ends = np.r_[starts[1:], n_t]
    return starts.astype(np.int64), ends.astype(np.int64)


@dataclass
class _Flex:
    """An asset's flexible classes, its group, and what stays fixed (dispatch resolution)."""

    classes: list[FlexibleLoad]
    group: FlexGroup | None
    fixed_mw: FloatArray
    """(T,) Part of the asset's load that stays fixed (added to the site's fixed load)."""
    moved: FloatArray
    """(T,) 1 where the step's arrivals went into a class, else 0."""


def _dc_flex(
    dc_id: str,
    index: pd.DatetimeIndex,
    interval_h: float,
    deferrable_mw: FloatArray,
    headroom_mw: FloatArray,
    window_h: float,
) -> _Flex:
    """Flexible classes of one data center; its deferrable load stays fixed without any."""
    n_t = len(index)
    window_steps = round(window_h / interval_h)
    if window_steps < 1:
        return _Flex([], None, deferrable_mw, np.zeros(n_t))
    steps_per_day = round(24.0 / interval_h)
    block_steps = min(window_steps, steps_per_day)
    starts, ends = _local_blocks(index, interval_h, block_steps)
    local_start = index[starts].tz_convert(LOCAL_TZ)
    classes: list[FlexibleLoad] = []
    for j, (first, end) in enumerate(zip(starts.tolist(), ends.tolist(), strict=True)):
        energy = float(deferrable_mw[first:end].sum() * interval_h)
        deadline = min(first + window_steps, n_t)
        stamp = local_start[j]
        label = f"{stamp:%Y-%m-%d}" if block_steps == steps_per_day else f"{stamp:%Y-%m-%dT%H:%M}"
        classes.append(
            FlexibleLoad(
                f"{dc_id}@{label}",
                release_step=first,
                deadline_step=deadline,
                energy_mwh=energy,
                p_max_mw=float(headroom_mw[first:deadline].max()),
                group=dc_id,
            )
        )
    return _Flex(classes, FlexGroup(dc_id, headroom_mw), np.zeros(n_t), np.ones(n_t))


def _ev_flex(
    consumer: Consumer, index: pd.DatetimeIndex, interval_h: float, profile_mw: FloatArray
) -> _Flex:
    """Smart-charging classes of one EV station (see the module docstring)."""
    ev = consumer.ev
    assert ev is not None
    n_t = len(index)
    block_steps = max(1, round(EV_BLOCK_H / interval_h))
    # The earliest departure, in whole steps: never later than the car really leaves.
    dwell_steps = math.floor(ev.dwell_h / interval_h + 1e-9)
    starts, ends = _local_blocks(index, interval_h, block_steps)
    local_start = index[starts].tz_convert(LOCAL_TZ)
    share = np.zeros(n_t)
    classes: list[FlexibleLoad] = []
    for j, (first, end) in enumerate(zip(starts.tolist(), ends.tolist(), strict=True)):
        deadline = first + dwell_steps
        if deadline <= end or deadline > n_t:
            continue
        share[first:end] = ev.flexible_share_pu
        classes.append(
            FlexibleLoad(
                f"{consumer.id}@{local_start[j]:%Y-%m-%dT%H:%M}",
                release_step=end,
                deadline_step=deadline,
                energy_mwh=float(ev.flexible_share_pu * profile_mw[first:end].sum() * interval_h),
                p_max_mw=ev.capacity_mw,
                group=consumer.id,
            )
        )
    fixed = profile_mw * (1.0 - share)
    group = FlexGroup(consumer.id, np.maximum(ev.capacity_mw - fixed, 0.0)) if classes else None
    return _Flex(classes, group, fixed, (share > 0).astype(np.float64))


def _electrolyzer_flex(
    consumer: Consumer, index: pd.DatetimeIndex, interval_h: float, profile_mw: FloatArray
) -> _Flex:
    """One class per local day above the electrolyzer's minimum stable load."""
    e = consumer.electrolyzer
    assert e is not None
    n_t = len(index)
    fixed = np.minimum(profile_mw, e.min_load_mw)
    above = profile_mw - fixed
    p_max = e.rated_mw - e.min_load_mw
    starts, ends = _local_blocks(index, interval_h, round(24.0 / interval_h))
    local_start = index[starts].tz_convert(LOCAL_TZ)
    classes = [
        FlexibleLoad(
            f"{consumer.id}@{local_start[j]:%Y-%m-%d}",
            release_step=first,
            deadline_step=end,
            energy_mwh=float(above[first:end].sum() * interval_h),
            p_max_mw=p_max,
            group=consumer.id,
        )
        for j, (first, end) in enumerate(zip(starts.tolist(), ends.tolist(), strict=True))
    ]
    return _Flex(classes, FlexGroup(consumer.id, np.full(n_t, p_max)), fixed, np.ones(n_t))


def _site_flex(park: Park, s: _SiteSeries, site: Site) -> dict[str, _Flex]:
    """Every flexible asset of ``site``: data centers first, then consumers, scenario order."""
    out: dict[str, _Flex] = {}
    for dc in park.data_centers:
        if dc.site == site.id:
            out[dc.id] = _dc_flex(
                dc.id,
                s.index,
                s.interval_h,
                s.deferrable_mw[dc.id],
                s.headroom_mw[dc.id],
                dc.deferral_window_h,
            )
    for c in park.consumers:
        if c.site != site.id or c.id not in s.consumer_mw:
            continue
        profile = s.consumer_mw[c.id]
        if c.ev is not None:
            out[c.id] = _ev_flex(c, s.index, s.interval_h, profile)
        elif c.electrolyzer is not None:
            out[c.id] = _electrolyzer_flex(c, s.index, s.interval_h, profile)
    return out


def _import_price(tariff_q: FloatArray, index: pd.DatetimeIndex, resolution_min: int) -> FloatArray:
    """Mean of the local quarter-hour prices each interval covers. [CNY/kWh]"""
    q0 = np.rint(local_hour(index) * _QUARTERS_PER_HOUR).astype(np.int64)
    n_q = max(resolution_min // 15, 1)
    prices = np.vstack([tariff_q[(q0 + i) % tariff_q.size] for i in range(n_q)])
    return np.asarray(prices.mean(axis=0), dtype=np.float64)


def dispatch_inputs(
    park: Park,
    series: ParkSeries,
    *,
    site: str | None = None,
    resolution_min: int = 60,
    carbon_price_cny_per_tco2: float = 0.0,
    self_consumption_min_pu: float | None = None,
    onsite_green_min_pu: float | None = None,
) -> DispatchInputs:
    """The dispatch LP's inputs for one site of a simulated park (see the module docstring).

    Parameters
    ----------
    park : Park
    series : ParkSeries
        A simulation of ``park`` (:func:`suandian.sim.park.simulate`), whole local days.
    site : str, optional
        Site id; needed only when several sites hold assets.
    resolution_min : int
        Dispatch interval, a multiple of the simulation's that divides a day. [min]
    carbon_price_cny_per_tco2 : float
        For the ``cost+carbon`` objective. [CNY/tCO₂]
    self_consumption_min_pu, onsite_green_min_pu : float, optional
        Direct-connection (绿电直连) shares over the whole period, e.g. the scenario's
        ``targets.self_consumption_min_pu`` and ``targets.onsite_green_min_pu``; ``None``: not
        required.

    Raises
    ------
    InputError
        For an unknown or ambiguous site, a resolution that does not fit, or a site whose grid
        tie has no tariff (the LP needs import prices).
    """
    chosen = _pick_site(park, site)
    tariff = chosen.grid.tariff
    if tariff is None:
        raise InputError(
            f"site {chosen.id!r} has no tariff; dispatch needs import prices: add grid.tariff "
            "(time-of-use periods and an export price) to the scenario"
        )
    s = _site_series(park, series, chosen, resolution_min)
    fixed = s.fixed_load_mw.copy()
    flexible: list[FlexibleLoad] = []
    groups: list[FlexGroup] = []
    for flex in _site_flex(park, s, chosen).values():
        flexible.extend(flex.classes)
        fixed += flex.fixed_mw
        if flex.group is not None:
            groups.append(flex.group)
    batteries = tuple(
        BatteryUnit(
            b.id,
            p_mw=b.p_mw,
            e_mwh=b.e_mwh,
            round_trip_efficiency_pu=b.round_trip_efficiency_pu,
            soc_min_pu=b.soc_min_pu,
            soc_max_pu=b.soc_max_pu,
            soc_initial_pu=b.soc_initial_pu,
            end_soc="cyclic",
        )
        for b in park.batteries
        if b.site == chosen.id
    )
    price = _import_price(
        np.asarray(tariff.price_by_quarter_hour(), dtype=np.float64), s.index, resolution_min
    )
    return DispatchInputs(
        interval_h=s.interval_h,
        load_mw=fixed,
        generators=s.generators,
        batteries=batteries,
        flexible_loads=tuple(flexible),
        flex_groups=tuple(groups),
        grid=GridConnection(
            import_price_cny_per_kwh=price,
            export_price_cny_per_kwh=tariff.export_price_cny_per_kwh,
            ef_kgco2_per_kwh=chosen.grid.ef_location_kgco2_per_kwh,
            import_limit_mw=chosen.grid.import_limit_mw,
            export_limit_share_pu=chosen.grid.export_limit_share_pu,
        ),
        index_utc=s.index,
        carbon_price_cny_per_tco2=carbon_price_cny_per_tco2,
        self_consumption_min_pu=self_consumption_min_pu,
        onsite_green_min_pu=onsite_green_min_pu,
    )


def dispatch_forecast(
    park: Park,
    forecast: ParkSeries,
    *,
    site: str | None = None,
    resolution_min: int = 60,
) -> Forecast:
    """What a planner would see: available output and fixed load of a forecast series.

    ``forecast`` covers the same period as the realised series given to
    :func:`dispatch_inputs`; flexible loads, batteries and the grid are taken as known there.
    The fixed load is split off the same way (the inflexible part of each EV station and
    electrolyzer, and a data center's deferrable load when its window is under one interval).
    """
    chosen = _pick_site(park, site)
    s = _site_series(park, forecast, chosen, resolution_min)
    available = (
        np.vstack([g.available_mw for g in s.generators])
        if s.generators
        else np.zeros((0, len(s.index)))
    )
    fixed = s.fixed_load_mw.copy()
    for flex in _site_flex(park, s, chosen).values():
        fixed += flex.fixed_mw
    return Forecast(available_mw=available, load_mw=fixed)


def flexible_by_asset(inputs: DispatchInputs, result: DispatchResult) -> dict[str, FloatArray]:
    """(T,) flexible power of each asset in a plan, from its classes' group (or name). [MW]"""
    number: dict[str, int] = {}
    labels = [
        number.setdefault(f.group if f.group is not None else f.name.split("@", 1)[0], len(number))
        for f in inputs.flexible_loads
    ]
    summed = result.flex.sum_by(labels, len(number), inputs.n_steps)
    return {asset: summed[j] for asset, j in number.items()}


def flexible_by_data_center(
    park: Park, inputs: DispatchInputs, result: DispatchResult
) -> dict[str, FloatArray]:
    """(T,) flexible power of each data center in a plan. [MW]"""
    ids = {dc.id for dc in park.data_centers}
    return {k: v for k, v in flexible_by_asset(inputs, result).items() if k in ids}


def flexible_by_consumer(
    park: Park, inputs: DispatchInputs, result: DispatchResult
) -> dict[str, FloatArray]:
    """(T,) flexible power of each EV station and electrolyzer in a plan. [MW]"""
    ids = {c.id for c in park.consumers}
    return {k: v for k, v in flexible_by_asset(inputs, result).items() if k in ids}


def flexible_arrivals_mw(
    park: Park, series: ParkSeries, *, site: str | None = None, resolution_min: int = 60
) -> dict[str, FloatArray]:
    """Per flexible asset of ``site``: the part of its simulated load that the dispatch classes
    of :func:`dispatch_inputs` (same arguments) took over, as it arrives, at the simulation's
    resolution. [MW]

    The asset's simulated load less this is its fixed part; a plan's classes replace this.
    Over each class's arrival block the energy equals the class's energy.
    """
    chosen = _pick_site(park, site)
    s = _site_series(park, series, chosen, resolution_min)
    k = _steps_per_interval(series, resolution_min)
    dcs = {dc.id for dc in park.data_centers}
    consumers = {c.id: c for c in park.consumers}
    out: dict[str, FloatArray] = {}
    for asset, flex in _site_flex(park, s, chosen).items():
        moved = np.repeat(flex.moved, k)
        if asset in dcs:
            frame = series.data_center[asset]
            arriving = (frame["it_deferrable_mw"] * frame["pue"]).to_numpy()
        else:
            c = consumers[asset]
            load = series.load_mw[asset].to_numpy().astype(np.float64)
            if c.ev is not None:
                arriving = c.ev.flexible_share_pu * load
            else:
                assert c.electrolyzer is not None
                arriving = load - np.minimum(load, c.electrolyzer.min_load_mw)
        out[asset] = np.asarray(arriving * moved, dtype=np.float64)
    return out
