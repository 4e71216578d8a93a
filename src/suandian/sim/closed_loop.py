"""The closed loop of ``suandian demo``: a site run without and with 算电协同, side by side.

One site of a simulated park is operated over the simulated period twice, on the same realised
weather and loads, and both runs are counted by one function (:func:`settle`):

**uncoordinated** — nobody plans. The flexible load runs *on arrival*: the data center's
deferrable compute when its jobs arrive (its simulated deferrable IT load × PUE, not moved),
the EV station's sessions charging as the cars plug in, the electrolyzer at its simulated
profile. The battery and the grid tie follow the rule-based controller
(:func:`suandian.dispatch.rule_dispatch`): it sees each interval's realised net load, charges
from on-site surplus, discharges on a deficit, then exports up to the cap or imports. It needs
no forecast and ignores prices.

**coordinated (算电协同)** — a rolling horizon: each 48 h window is planned by the dispatch LP
(:func:`suandian.dispatch.dispatch`) on *forecasts* (:func:`suandian.sim.forecast.site_forecast`:
day-ahead-sized, autocorrelated errors), from the realised state, and its first 24 h are
operated; the deferrable compute (one class per local day, due within its deferral window), the
EV and electrolyzer classes, the battery and the grid tie are co-planned. The operated hours are
*settled on the realised data* by a real-time controller: flexible loads run as planned, the
battery holds the planned grid exchange (it absorbs the forecast error within its power and
energy), the grid then takes what is left (a surplus exported up to the cap, the rest
curtailed; a deficit imported up to the limit, the rest unserved). The next window starts from
the battery's realised energy and the flexible energy still owed.
(:func:`suandian.dispatch.rolling_dispatch` with a ``Forecast`` is not used: it keeps the
battery on its plan, so the grid alone absorbs forecast errors, and carries the *planned* state
from window to window.)

The objective is :data:`COORDINATED_OBJECTIVE`, ``green``: the least grid import (the highest
hourly on-site green match), with the import bill as the tie-break among plans of equal
import. It was chosen by measuring ``cost``, ``cost+carbon``, ``carbon`` and ``green`` over the
simulated year (docs/closed_loop.md): all four raise the hourly green share above the
uncoordinated run and cost less; ``green`` raises it most, ``cost`` saves most.

Both runs work at :data:`RESOLUTION_MIN` (hourly), so every figure is an *hourly* figure: a
surplus in one hour never covers a deficit in another.

**Accounting** (:func:`settle`, the same for both; DESIGN §5):

- *green share* = Σ_t M_t / Σ_t C_t with C the consumption served (fixed + flexible load) and M
  the part met by on-site output, directly or through the battery. Per hour, on-site output
  serves consumption first, then the battery discharges to it, then the grid; what is left of
  on-site output (then of a discharge, then of import) charges the battery. The battery is a pool
  of three kinds of energy (on-site green, clean grid, fossil grid): a charge adds its
  composition, losses scale the pool, a discharge takes the pool's current composition;
- *CFE* (24/7 carbon-free energy) = Σ_t (M_t + clean part of the grid energy consumed) / Σ_t C_t,
  the grid's clean share being the site's modelled hourly mix
  (:func:`suandian.grid.site_mix.grid_mix_for`, a model around the published factor, not
  measured data) at the hour the energy was imported;
- *cost* = Σ import × time-of-use price − export × export price [CNY];
- *emissions* = Σ import × the modelled hourly location-based intensity [tCO₂] (exports earn no
  credit);
- *curtailment* = on-site output available but not used [MWh]; *curtailment absorbed* is the
  uncoordinated run's less the coordinated run's;
- *deadline misses* = compute energy (the data centers' flexible classes) not served inside
  its window [MWh], and the number of classes that fell short;
- *unserved* = any load the grid tie could not cover [MWh]; *stored change* = the battery's
  energy at the end less at the start [MWh] (neither run must end where it started: the
  energy stored at the start counts as on-site green for both).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from suandian.core.errors import InputError
from suandian.core.units import KG_PER_T, KW_PER_MW
from suandian.dispatch import (
    BatteryUnit,
    DispatchInputs,
    DispatchResult,
    FlexibleLoad,
    FlexPlan,
    Forecast,
    Objective,
    dispatch,
    rule_dispatch,
)
from suandian.dispatch.problem import make_result
from suandian.grid.site_mix import grid_mix_for
from suandian.scenario.model import Park, Site
from suandian.sim.dispatch_inputs import (
    dispatch_inputs,
    dispatchable_sites,
    flexible_arrivals_mw,
)
from suandian.sim.forecast import DEFAULT_FORECAST_ERROR, ForecastError, site_forecast
from suandian.sim.park import ParkSeries

__all__ = [
    "COMMIT_H",
    "COORDINATED_OBJECTIVE",
    "RESOLUTION_MIN",
    "WINDOW_H",
    "ClosedLoop",
    "Figures",
    "Mode",
    "Operation",
    "SiteLoop",
    "closed_loop",
    "closed_loop_sites",
    "deadline_shortfall_mwh",
    "grid_clean_share",
    "operate_coordinated",
    "operate_uncoordinated",
    "settle",
    "site_loop",
]

FloatArray = npt.NDArray[np.float64]

Mode = Literal["uncoordinated", "coordinated"]

RESOLUTION_MIN = 60
"""Interval of both runs: hourly, so that green share and CFE are hourly-matched. [min]"""
WINDOW_H = 48
"""Hours each window of the coordinated run plans. [h]"""
COMMIT_H = 24
"""Hours of each plan the coordinated run keeps. [h]"""
COORDINATED_OBJECTIVE: Objective = "green"
"""Objective of the coordinated run (see the module docstring for why)."""

_TOL_MWH = 1e-6


# --- the site as both runs see it ---------------------------------------------------------------


@dataclass(frozen=True)
class SiteLoop:
    """One site of a simulated park at the loop's resolution: what is realised, what is forecast,
    and how flexible load arrives."""

    site: str
    inputs: DispatchInputs
    """Realised: output, fixed load, flexible classes, batteries, grid (hourly intensity as
    ``ef_kgco2_per_kwh``)."""
    forecast: Forecast
    arrivals_mw: FloatArray
    """(T,) flexible load as it arrives (all flexible assets), the uncoordinated run's. [MW]"""
    compute_arrivals_mw: dict[str, FloatArray]
    """Per data center: (T,) its deferrable load as it arrives. [MW]"""
    clean_share_pu: FloatArray
    """(T,) clean (non-fossil) share of the grid energy imported in each interval."""

    @property
    def compute_loads(self) -> list[int]:
        """Indices into ``inputs.flexible_loads`` of the data centers' classes."""
        return [
            i
            for i, f in enumerate(self.inputs.flexible_loads)
            if f.group in self.compute_arrivals_mw
        ]


def grid_clean_share(site: Site, index_utc: pd.DatetimeIndex) -> tuple[FloatArray, FloatArray]:
    """(T,) clean (non-fossil) share of the site's modelled grid mix and (T,) its intensity
    [kgCO₂/kWh] (:func:`suandian.grid.site_mix.grid_mix_for`)."""
    sources, shares, intensity = grid_mix_for(site, index_utc)
    fossil = shares[:, sources.index("fossil")] if "fossil" in sources else 0.0
    clean = np.clip(1.0 - np.asarray(fossil, dtype=np.float64), 0.0, 1.0)
    n_t = len(index_utc)
    return np.broadcast_to(clean, (n_t,)).astype(np.float64), np.asarray(intensity, np.float64)


def site_loop(
    park: Park,
    series: ParkSeries,
    *,
    site: str,
    resolution_min: int = RESOLUTION_MIN,
    forecast_error: ForecastError = DEFAULT_FORECAST_ERROR,
) -> SiteLoop:
    """Map one site of ``series`` for the loop (see :class:`SiteLoop`).

    Raises :class:`~suandian.core.errors.InputError` as
    :func:`~suandian.sim.dispatch_inputs.dispatch_inputs` does (no tariff, bad resolution).
    """
    inputs = dispatch_inputs(park, series, site=site, resolution_min=resolution_min)
    assert inputs.index_utc is not None
    clean, intensity = grid_clean_share(park.site(site), inputs.index_utc)
    inputs = replace(inputs, grid=replace(inputs.grid, ef_kgco2_per_kwh=intensity))
    k = resolution_min // series.resolution_min
    n_t = inputs.n_steps
    arriving = {
        asset: mw.reshape(n_t, k).mean(axis=1)
        for asset, mw in flexible_arrivals_mw(
            park, series, site=site, resolution_min=resolution_min
        ).items()
    }
    total = np.sum(list(arriving.values()), axis=0) if arriving else np.zeros(n_t)
    dcs = {dc.id for dc in park.data_centers}
    return SiteLoop(
        site=site,
        inputs=inputs,
        forecast=site_forecast(park, series, inputs, site=site, error=forecast_error),
        arrivals_mw=np.asarray(total, dtype=np.float64),
        compute_arrivals_mw={a: v for a, v in arriving.items() if a in dcs},
        clean_share_pu=clean,
    )


# --- one run, settled -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Operation:
    """A site operated over a period, settled on realised data.

    Per-interval arrays (T,) hold power over each interval [MW], summed over generators and
    batteries; they balance in every interval::

        generation + discharge + import + unserved = load + flex + charge + export
    """

    mode: Mode
    interval_h: float
    load_mw: FloatArray
    """Fixed load (the same in both runs)."""
    flex_mw: FloatArray
    """Flexible load as run."""
    available_mw: FloatArray
    """On-site output available."""
    generation_mw: FloatArray
    """On-site output used (available less curtailment)."""
    charge_mw: FloatArray
    discharge_mw: FloatArray
    stored_in_mwh: FloatArray
    """Energy entering storage in each interval (charge × charge efficiency × Δt). [MWh]"""
    stored_out_mwh: FloatArray
    """Energy leaving storage in each interval (discharge / discharge efficiency × Δt). [MWh]"""
    stored_initial_mwh: float
    stored_final_mwh: float
    import_mw: FloatArray
    export_mw: FloatArray
    unserved_mw: FloatArray
    compute_shortfall_mwh: FloatArray
    """Per compute class: energy not served inside its window. [MWh]"""
    result: DispatchResult | None = None
    """The schedule behind the run, as a dispatch result (the rules' or the rolling plan's)."""

    def balance_residual_mw(self) -> FloatArray:
        """(T,) supply less use; 0 up to rounding in every interval. [MW]"""
        return (
            self.generation_mw
            + self.discharge_mw
            + self.import_mw
            + self.unserved_mw
            - self.load_mw
            - self.flex_mw
            - self.charge_mw
            - self.export_mw
        )


def _storage_flows(
    inputs: DispatchInputs, result: DispatchResult
) -> tuple[FloatArray, FloatArray, float, float]:
    dt_h = inputs.interval_h
    eta_c = np.array([b.efficiency_charge_pu for b in inputs.batteries]).reshape(-1, 1)
    eta_d = np.array([b.efficiency_discharge_pu for b in inputs.batteries]).reshape(-1, 1)
    stored_in = (result.battery_charge_mw * eta_c).sum(axis=0) * dt_h
    stored_out = (result.battery_discharge_mw / eta_d).sum(axis=0) * dt_h
    initial = float(sum(b.soc_initial_pu * b.e_mwh for b in inputs.batteries))
    final = float(result.battery_soe_mwh[:, -1].sum()) if inputs.batteries else 0.0
    return stored_in, stored_out, initial, final


def _operation(
    mode: Mode,
    loop: SiteLoop,
    result: DispatchResult,
    flex_mw: FloatArray,
    compute_shortfall_mwh: FloatArray,
) -> Operation:
    inputs = loop.inputs
    stored_in, stored_out, initial, final = _storage_flows(inputs, result)
    return Operation(
        mode=mode,
        interval_h=inputs.interval_h,
        load_mw=np.asarray(inputs.load_mw, dtype=np.float64),
        flex_mw=flex_mw,
        available_mw=inputs.available_mw.sum(axis=0),
        generation_mw=result.generator_p_mw.sum(axis=0),
        charge_mw=result.battery_charge_mw.sum(axis=0),
        discharge_mw=result.battery_discharge_mw.sum(axis=0),
        stored_in_mwh=stored_in,
        stored_out_mwh=stored_out,
        stored_initial_mwh=initial,
        stored_final_mwh=final,
        import_mw=result.grid_import_mw,
        export_mw=result.grid_export_mw,
        unserved_mw=result.unserved_mw,
        compute_shortfall_mwh=compute_shortfall_mwh,
        result=result,
    )


def deadline_shortfall_mwh(
    loads: Sequence[FlexibleLoad], plan: FlexPlan, interval_h: float
) -> FloatArray:
    """(F,) energy of each flexible load not served inside its window: max(E − Σ p Δt, 0).

    ``plan`` holds each load's power over its own window (rows in the order of ``loads``), so
    whatever it draws counts; nothing outside the window can. [MWh]
    """
    if plan.n_rows != len(loads):
        raise InputError(
            f"deadline_shortfall_mwh: the plan has {plan.n_rows} rows for {len(loads)} loads; "
            "give one row per load, in order"
        )
    need = np.array([f.energy_mwh for f in loads], dtype=np.float64)
    short = need - plan.energy_mwh(interval_h)
    return np.asarray(np.where(short > _TOL_MWH, short, 0.0), dtype=np.float64)


def _arrival_plan(loop: SiteLoop, compute: list[int]) -> FlexPlan:
    """Each compute class served as its energy arrives: its arrival block, in its window."""
    loads = loop.inputs.flexible_loads
    starts: list[int] = []
    pieces: list[FloatArray] = []
    for pos, i in enumerate(compute):
        f = loads[i]
        following = [
            loads[j].release_step
            for j in compute[pos + 1 :]
            if loads[j].group == f.group and loads[j].release_step > f.release_step
        ]
        block_end = min([f.deadline_step, *following[:1]])
        arriving = loop.compute_arrivals_mw[str(f.group)]
        starts.append(f.release_step)
        pieces.append(arriving[f.release_step : block_end])
    return FlexPlan.from_pieces(starts, pieces)


def operate_uncoordinated(loop: SiteLoop) -> Operation:
    """Flexible load on arrival, battery and grid by the rules, on realised data."""
    inputs = loop.inputs
    folded = replace(
        inputs,
        load_mw=inputs.load_mw + loop.arrivals_mw,
        flexible_loads=(),
        flex_groups=(),
        green_target_pu=None,
    )
    result = rule_dispatch(folded, "cost")
    compute = loop.compute_loads
    shortfall = deadline_shortfall_mwh(
        [inputs.flexible_loads[i] for i in compute], _arrival_plan(loop, compute), inputs.interval_h
    )
    return _operation("uncoordinated", loop, result, loop.arrivals_mw.copy(), shortfall)


def operate_coordinated(
    loop: SiteLoop,
    *,
    objective: Objective = COORDINATED_OBJECTIVE,
    window_h: float = WINDOW_H,
    commit_h: float = COMMIT_H,
    carbon_price_cny_per_tco2: float = 0.0,
) -> Operation:
    """Plan each window on the forecast, operate its committed hours on realised data.

    Each window is one LP (:func:`suandian.dispatch.dispatch`) over the forecast output and
    fixed load from the *realised* state: the battery's stored energy and the flexible energy
    still owed, as the hours before left them. A flexible class due inside the window must get
    all it still owes; one due later gets its pro-rata share of the window. The battery ends
    every window free (see :meth:`_RealTime.batteries`). The committed hours run in real time
    (:func:`_operate_hours`): compute and the other flexible loads as planned, the grid on its
    planned exchange, the battery absorbing the forecast error within its limits, the grid then
    taking what is left. A window whose LP fails is planned by the rules (the notes say which).
    """
    inputs = loop.inputs
    dt_h = inputs.interval_h
    n_t = inputs.n_steps
    window = max(round(window_h / dt_h), 1)
    commit = min(max(round(commit_h / dt_h), 1), window)
    avail_fc = np.asarray(loop.forecast.available_mw, dtype=np.float64)
    load_fc = np.asarray(loop.forecast.load_mw, dtype=np.float64)
    if loop.forecast.available_mw is None:
        avail_fc = inputs.available_mw
    if loop.forecast.load_mw is None:
        load_fc = np.asarray(inputs.load_mw, dtype=np.float64)
    loads = inputs.flexible_loads
    release, deadline = inputs.flex_release_step, inputs.flex_deadline_step
    caps = inputs.flex_group_cap_mw
    group_of = inputs.flex_group_of
    remaining = np.array([f.energy_mwh for f in loads], dtype=np.float64)
    flex = FlexPlan.zeros(release, deadline)
    state = _RealTime.start(inputs)
    fallbacks: list[str] = []
    clipped_mwh = 0.0
    for s in range(0, n_t, commit):
        e = min(s + window, n_t)
        last = e == n_t
        m = e - s if last else min(commit, e - s)
        members: list[int] = []
        classes: list[FlexibleLoad] = []
        for i in np.flatnonzero((release < e) & (deadline > s) & (remaining > _TOL_MWH)).tolist():
            f = loads[i]
            lo, hi = max(f.release_step, s), min(f.deadline_step, e)
            owed = float(remaining[i])
            if f.deadline_step > e:
                owed *= (hi - lo) / (f.deadline_step - lo)
            room = np.full(hi - lo, f.p_max_mw)
            if group_of[i] >= 0:
                room = np.minimum(room, caps[group_of[i], lo:hi])
            fits = float(room.sum() * dt_h)
            if owed > fits:
                clipped_mwh += owed - fits
                owed = fits
            members.append(i)
            classes.append(replace(f, release_step=lo - s, deadline_step=hi - s, energy_mwh=owed))
        win = replace(
            inputs,
            load_mw=load_fc[s:e],
            generators=tuple(
                replace(g, available_mw=avail_fc[j, s:e]) for j, g in enumerate(inputs.generators)
            ),
            batteries=state.batteries(),
            flexible_loads=tuple(classes),
            flex_groups=tuple(replace(g, cap_mw=g.cap_mw[s:e]) for g in inputs.flex_groups),
            grid=replace(
                inputs.grid,
                import_price_cny_per_kwh=inputs.import_price_cny_per_kwh[s:e],
                export_price_cny_per_kwh=inputs.export_price_cny_per_kwh[s:e],
                ef_kgco2_per_kwh=inputs.ef_kgco2_per_kwh[s:e],
            ),
            index_utc=None if inputs.index_utc is None else inputs.index_utc[s:e],
            carbon_price_cny_per_tco2=carbon_price_cny_per_tco2,
            green_target_pu=None,
            self_consumption_min_pu=None,
            onsite_green_min_pu=None,
        )
        plan = dispatch(win, objective)
        if plan.method == "rules":
            fallbacks.append(f"window from step {s}: {plan.diagnosis}")
        flex_now = np.zeros(m)
        for k, i in enumerate(members):
            row = plan.flex.by_row(k, e - s)[:m]
            f = loads[i]
            lo, hi = max(f.release_step, s), min(f.deadline_step, s + m)
            if lo < hi:
                flex.row_values(i)[lo - f.release_step : hi - f.release_step] = row[lo - s : hi - s]
                remaining[i] -= float(row[lo - s : hi - s].sum() * dt_h)
            flex_now += row
        state.operate(
            slice(s, s + m),
            flex_mw=flex_now,
            plan_grid_mw=plan.grid_import_mw[:m] - plan.grid_export_mw[:m],
        )
        if last:
            break
    short = np.maximum(remaining, 0.0)
    compute = loop.compute_loads
    shortfall = np.where(short[compute] > _TOL_MWH, short[compute], 0.0) if compute else short[:0]
    notes = [
        f"planned window by window ({window} h, {commit} h kept) on the forecast, operated on "
        "realised data: the battery absorbs forecast errors, the grid takes the rest"
    ]
    if fallbacks:
        notes.append(f"{len(fallbacks)} window(s) fell back to the rules: " + "; ".join(fallbacks))
    if clipped_mwh > _TOL_MWH:
        notes.append(f"{clipped_mwh:.6g} MWh of flexible load did not fit its window's caps")
    result = state.result(inputs, objective, flex, short, notes)
    return _operation("coordinated", loop, result, result.flex_load_mw, shortfall)


@dataclass
class _RealTime:
    """The site's controller in real time: realised state, committed hour by hour."""

    inputs: DispatchInputs
    soe_mwh: list[float]
    charge: FloatArray
    discharge: FloatArray
    soe: FloatArray
    imp: FloatArray
    exp: FloatArray
    curtail: FloatArray
    unserved: FloatArray

    @classmethod
    def start(cls, inputs: DispatchInputs) -> _RealTime:
        n_b, n_t = len(inputs.batteries), inputs.n_steps
        return cls(
            inputs,
            [b.soc_initial_pu * b.e_mwh for b in inputs.batteries],
            np.zeros((n_b, n_t)),
            np.zeros((n_b, n_t)),
            np.zeros((n_b, n_t)),
            np.zeros(n_t),
            np.zeros(n_t),
            np.zeros(n_t),
            np.zeros(n_t),
        )

    def batteries(self) -> tuple[BatteryUnit, ...]:
        """The batteries as the next window starts: realised energy, end state free.

        The last window too ends free, like the rules: neither run is asked to refill what it
        found stored at the start, so neither is charged for it (``stored_change_mwh`` shows
        what each left).
        """
        return tuple(
            replace(
                b,
                soc_initial_pu=min(max(soe / b.e_mwh, b.soc_min_pu), b.soc_max_pu),
                end_soc="free",
            )
            for b, soe in zip(self.inputs.batteries, self.soe_mwh, strict=True)
        )

    def operate(self, sl: slice, *, flex_mw: FloatArray, plan_grid_mw: FloatArray) -> None:
        """Run the hours ``sl``: the battery holds the planned grid exchange where it can.

        Per hour, need = fixed + flexible load − available output (realised). The battery
        delivers need − planned grid exchange (discharging, or charging when negative) within
        its power and energy, and never discharges more than the site can use or export; the
        grid imports what is still missing up to its limit (the rest is unserved) or exports
        a surplus up to its cap (the rest is curtailed).
        """
        inputs = self.inputs
        dt_h = inputs.interval_h
        avail = inputs.available_mw[:, sl].sum(axis=0)
        need = (inputs.load_mw[sl] + flex_mw - avail).tolist()
        plan = plan_grid_mw.tolist()
        import_cap = inputs.import_cap_mw[sl].tolist()
        export_cap = inputs.export_cap_mw[sl].tolist()
        avail_l = avail.tolist()
        bats = inputs.batteries
        for k, t in enumerate(range(sl.start, sl.stop)):
            target = need[k] - plan[k]
            delivered = 0.0
            if target > 0.0:
                target = min(target, max(need[k] + export_cap[k], 0.0))
                for b, unit in enumerate(bats):
                    stored_mw = (
                        (self.soe_mwh[b] - unit.soc_min_pu * unit.e_mwh)
                        * unit.efficiency_discharge_pu
                        / dt_h
                    )
                    x = max(min(unit.p_mw, stored_mw, target - delivered), 0.0)
                    self.discharge[b, t] = x
                    self.soe_mwh[b] -= x * dt_h / unit.efficiency_discharge_pu
                    delivered += x
            elif target < 0.0:
                for b, unit in enumerate(bats):
                    room_mw = (
                        (unit.soc_max_pu * unit.e_mwh - self.soe_mwh[b])
                        / unit.efficiency_charge_pu
                        / dt_h
                    )
                    x = max(min(unit.p_mw, room_mw, -target + delivered), 0.0)
                    self.charge[b, t] = x
                    self.soe_mwh[b] += x * dt_h * unit.efficiency_charge_pu
                    delivered -= x
            for b in range(len(bats)):
                self.soe[b, t] = self.soe_mwh[b]
            rest = need[k] - delivered
            if rest >= 0.0:
                self.imp[t] = min(rest, import_cap[k])
                self.unserved[t] = rest - self.imp[t]
            else:
                self.exp[t] = min(-rest, export_cap[k])
                self.curtail[t] = min(-rest - self.exp[t], avail_l[k])

    def result(
        self,
        inputs: DispatchInputs,
        objective: Objective,
        flex: FlexPlan,
        short_mwh: FloatArray,
        notes: Sequence[str],
    ) -> DispatchResult:
        avail = inputs.available_mw
        total = avail.sum(axis=0)
        used = np.divide(total - self.curtail, total, out=np.zeros_like(total), where=total > 0)
        return make_result(
            inputs,
            objective,
            method="lp-rolling",
            generator_p_mw=avail * used,
            battery_charge_mw=self.charge,
            battery_discharge_mw=self.discharge,
            battery_soe_mwh=self.soe,
            grid_import_mw=self.imp,
            grid_export_mw=self.exp,
            flex=flex,
            unserved_mw=self.unserved,
            flex_unserved_mwh=short_mwh,
            notes=notes,
        )


# --- one accounting -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Figures:
    """What a run achieved over the period (see the module docstring for each definition)."""

    green_share_pu: float
    """Hourly on-site green match, storage traced by composition."""
    cfe_pu: float
    """Hourly carbon-free energy score (on-site green plus the grid's clean share)."""
    cost_cny: float
    emissions_tco2: float
    curtailment_mwh: float
    curtailment_absorbed_mwh: float
    """Curtailment this run avoids compared with the uncoordinated one (0 for that one)."""
    deadline_misses_mwh: float
    """Compute energy not served inside its window."""
    deadline_missed_classes: int
    consumption_mwh: float
    """Fixed and flexible load served."""
    flexible_mwh: float
    import_mwh: float
    export_mwh: float
    unserved_mwh: float
    stored_change_mwh: float
    """Battery energy at the end less at the start."""

    def to_json(self) -> dict[str, float | int]:
        return asdict(self)


def _traced(op: Operation, clean_share_pu: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Per interval: consumption served, its on-site green part and its clean-grid part. [MWh]

    The battery is one pool of (green, clean grid, fossil grid) energy; see the module
    docstring for the order in which supplies meet uses. A loop over intervals, because the
    pool's composition carries from one to the next (plain floats: a year of hours takes a few
    milliseconds).
    """
    dt_h = op.interval_h
    used = (op.load_mw + op.flex_mw - op.unserved_mw) * dt_h
    gen = op.generation_mw * dt_h
    dis = op.discharge_mw * dt_h
    imp = op.import_mw * dt_h
    ch = op.charge_mw * dt_h
    # Direct supply is vectorised; only the pool needs the loop.
    g_use = np.minimum(gen, used)
    need = used - g_use
    d_use = np.minimum(dis, need)
    i_use = np.minimum(imp, need - d_use)
    ch_g = np.minimum(ch, gen - g_use)
    ch_d = np.minimum(ch - ch_g, dis - d_use)
    ch_i = np.maximum(ch - ch_g - ch_d, 0.0)
    stored_in, stored_out = op.stored_in_mwh.tolist(), op.stored_out_mwh.tolist()
    clean = clean_share_pu.tolist()
    d_use_l, ch_l = d_use.tolist(), ch.tolist()
    ch_g_l, ch_d_l, ch_i_l = ch_g.tolist(), ch_d.tolist(), ch_i.tolist()
    # The energy stored at the start counts as on-site green (the same in both runs).
    pool_g, pool_c, pool_f = op.stored_initial_mwh, 0.0, 0.0
    green_from_pool = np.zeros(used.size)
    clean_from_pool = np.zeros(used.size)
    for t in range(used.size):
        total = pool_g + pool_c + pool_f
        qg, qc, qf = (pool_g / total, pool_c / total, pool_f / total) if total > 0 else (1, 0, 0)
        green_from_pool[t] = qg * d_use_l[t]
        clean_from_pool[t] = qc * d_use_l[t]
        out = stored_out[t]
        pool_g, pool_c, pool_f = pool_g - qg * out, pool_c - qc * out, pool_f - qf * out
        if ch_l[t] > 0:
            eta_in = stored_in[t] / ch_l[t]
            pool_g += eta_in * (ch_g_l[t] + qg * ch_d_l[t])
            pool_c += eta_in * (qc * ch_d_l[t] + clean[t] * ch_i_l[t])
            pool_f += eta_in * (qf * ch_d_l[t] + (1.0 - clean[t]) * ch_i_l[t])
        pool_g, pool_c, pool_f = max(pool_g, 0.0), max(pool_c, 0.0), max(pool_f, 0.0)
    green = g_use + green_from_pool
    clean_grid = clean_share_pu * i_use + clean_from_pool
    return used, green, clean_grid


def settle(op: Operation, loop: SiteLoop, *, reference: Operation | None = None) -> Figures:
    """The figures of one run on ``loop``'s realised prices and grid (see the module docstring).

    ``reference``: the uncoordinated run, for ``curtailment_absorbed_mwh``.
    """
    inputs = loop.inputs
    dt_h = op.interval_h
    used, green, clean_grid = _traced(op, loop.clean_share_pu)
    consumed = float(used.sum())
    cost = float(
        (
            (inputs.import_price_cny_per_kwh * op.import_mw).sum()
            - (inputs.export_price_cny_per_kwh * op.export_mw).sum()
        )
        * dt_h
        * KW_PER_MW
    )
    emissions_t = float(
        (inputs.ef_kgco2_per_kwh * op.import_mw).sum() * dt_h * KW_PER_MW / KG_PER_T
    )
    curtailment = float((op.available_mw - op.generation_mw).sum() * dt_h)
    absorbed = 0.0
    if reference is not None:
        absorbed = float((reference.available_mw - reference.generation_mw).sum() * dt_h)
        absorbed -= curtailment
    return Figures(
        green_share_pu=float(green.sum() / consumed) if consumed > 0 else 1.0,
        cfe_pu=float((green + clean_grid).sum() / consumed) if consumed > 0 else 1.0,
        cost_cny=cost,
        emissions_tco2=emissions_t,
        curtailment_mwh=curtailment,
        curtailment_absorbed_mwh=absorbed,
        deadline_misses_mwh=float(op.compute_shortfall_mwh.sum()),
        deadline_missed_classes=int((op.compute_shortfall_mwh > 0).sum()),
        consumption_mwh=consumed,
        flexible_mwh=float(op.flex_mw.sum() * dt_h),
        import_mwh=float(op.import_mw.sum() * dt_h),
        export_mwh=float(op.export_mw.sum() * dt_h),
        unserved_mwh=float(op.unserved_mw.sum() * dt_h),
        stored_change_mwh=op.stored_final_mwh - op.stored_initial_mwh,
    )


# --- the loop for the demo ------------------------------------------------------------------------


@dataclass(frozen=True)
class ClosedLoop:
    """Both runs of one site and their figures."""

    site: str
    objective: Objective
    horizon: str
    resolution_min: int
    forecast_error: ForecastError
    uncoordinated: Figures
    coordinated: Figures
    notes: tuple[str, ...] = ()
    runs: tuple[SiteLoop, Operation, Operation] | None = field(default=None, repr=False)
    """The site and both operations behind the figures (uncoordinated, coordinated)."""

    def side_json(self, mode: Mode) -> dict[str, object]:
        """The figures of one run, with how it was operated, as plain JSON values."""
        figures = self.uncoordinated if mode == "uncoordinated" else self.coordinated
        how = (
            "flexible load on arrival; battery and grid by the rule-based controller on "
            "realised data"
            if mode == "uncoordinated"
            else f"LP ({self.objective}, {self.horizon}) planned on forecasts, operated in "
            "real time on realised data (the battery absorbs forecast errors)"
        )
        return {"site": self.site, "operation": how, **figures.to_json()}


def closed_loop(
    park: Park,
    series: ParkSeries,
    *,
    site: str,
    objective: Objective = COORDINATED_OBJECTIVE,
    forecast_error: ForecastError = DEFAULT_FORECAST_ERROR,
    carbon_price_cny_per_tco2: float = 0.0,
) -> ClosedLoop:
    """Run ``site`` of ``series`` uncoordinated and coordinated, and settle both."""
    loop = site_loop(park, series, site=site, forecast_error=forecast_error)
    unc = operate_uncoordinated(loop)
    coo = operate_coordinated(
        loop, objective=objective, carbon_price_cny_per_tco2=carbon_price_cny_per_tco2
    )
    return ClosedLoop(
        site=site,
        objective=objective,
        horizon=f"rolling {WINDOW_H}/{COMMIT_H} h",
        resolution_min=RESOLUTION_MIN,
        forecast_error=forecast_error,
        uncoordinated=settle(unc, loop),
        coordinated=settle(coo, loop, reference=unc),
        notes=coo.result.notes if coo.result is not None else (),
        runs=(loop, unc, coo),
    )


def closed_loop_sites(park: Park) -> list[str]:
    """Sites the loop can run: those with assets and a tariff (the LP needs import prices)."""
    return [s for s in dispatchable_sites(park) if park.site(s).grid.tariff is not None]
