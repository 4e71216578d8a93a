"""Rolling-horizon dispatch: plan a window, commit its first steps, carry the state, move on.

:func:`rolling_dispatch` plans ``window_steps`` intervals at a time and commits the first
``commit_steps`` of each plan (e.g. a 48 h window committed 24 h at a time); the window that
reaches the end of the period commits all its steps. The committed steps of all windows form
one :class:`~suandian.dispatch.DispatchResult` with ``method="lp-rolling"``.

**One HiGHS model, updated in place.** The LP of a window is built once
(:func:`~suandian.dispatch.build_problem`) and moved to every next window by
:func:`~suandian.dispatch.update_problem` (new column bounds, costs and row bounds: available
output, load, prices, export caps, the battery's initial energy and end state) followed by a few
direct ``changeColsBounds`` / ``changeRowsBounds`` calls for what
:class:`~suandian.dispatch.DispatchInputs` cannot say per interval. HiGHS keeps its basis, so
each window starts warm. The matrix never changes, because every window has the same shape:

- *Flexible-load slots.* Flexible loads (one per local day, say) enter and leave the window, so
  the window holds a fixed number of slots, as many as the most loads that ever overlap one
  window. Each slot's columns span the whole window; a load in a slot gets its power cap inside
  its own window (clipped to the planning window) and an upper bound of 0 outside it, and the
  slot's energy row gets the load's requirement in this window. Unused slots are bounded to 0.
  A slot belongs to one flexible-load group (or to none) for good, so that its term in the
  group's ``flex-group-cap`` rows never moves: each group has its own slots, as many as its
  loads ever overlap one window, and the window carries every group's cap (0 in padding).
- *Energy a flexible load still needs.* The energy served in committed steps is carried; a load
  whose deadline falls inside the window must receive all that remains; a load reaching past
  the window must receive at least its pro-rata share (remaining energy × its steps inside the
  window / its remaining steps) and at most all that remains. That keeps every load feasible
  from window to window (if what remains fits its remaining steps under its cap, it still does
  after any plan that meets these bounds) without letting a window push energy into the unseen
  future for free.
- *A short last window.* When fewer than ``window_steps`` intervals are left, the window is
  padded with inert steps: no load, no output, import, export, charge, discharge or flexible
  load; the stored energy carries unchanged to the padded end.
- *End states.* Every window but the last ends ``free`` (the uncommitted look-ahead is what
  values stored energy); the last ends as the period's battery asks (``cyclic`` is resolved to
  the period's initial energy).

**State carried.** Each battery's energy at the end of the committed steps becomes the next
window's initial energy, and each flexible load's served energy is subtracted from what it
still needs.

**Forecasts.** With ``forecast``, windows plan on the forecast's available output and fixed
load, while the committed steps are *settled* on the realised ones (``inputs``): batteries and
flexible loads follow the plan; the grid closes the balance, a surplus exported up to the
realised export cap and the rest curtailed, a deficit imported up to the import limit and any
remainder reported as unserved load (``unserved_mw`` and a note). Batteries do not absorb
forecast errors (a real controller would let them; not modelled), with one exception: a
planned discharge that the realised demand, the export cap and curtailment cannot take all
together (the forecast expected more load than came) is held back, because energy with nowhere
to go cannot leave the battery. The battery spends that energy at the next committed steps that
import, and the next window plans from what it holds; if it is still there at the end of the
period, a note says by how much the battery misses its end state. Without ``forecast`` the
committed steps are the plan itself.

**Fallback.** A window whose LP is infeasible, or stops at ``time_limit_s`` (per window) without
an optimum, is planned by the rules (:func:`~suandian.dispatch.rule_dispatch`) on the realised
data of its real steps, with the initial energy carried and each flexible load's required
energy of the window; its committed steps enter the result, the window is named in the notes
with the diagnosis of :func:`~suandian.dispatch.diagnose`, and the result's ``diagnosis`` is
set. A rolling run never raises for an infeasible window.

**Green-match target per local day.** A target with ``green_target_period="day"`` holds in
rolling mode when every committed day lies inside one window: the period starts at a local
(Asia/Shanghai) midnight and ``commit_steps`` is a whole number of days. Each window's LP then
carries the target for each local day it covers (the committed ones and those it only looks
at), so every committed day meets it; the post-solve netting only lowers import. With a
forecast, the target holds for the *plan*: settling on realised data can import more, and the
result's notes say on which days the target was missed. A target over the whole horizon, and the
direct-connection shares, cannot be split across windows and are refused.
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt
import pandas as pd

from suandian.core.errors import InputError
from suandian.core.times import LOCAL_TZ, local_day
from suandian.dispatch.diagnose import diagnose
from suandian.dispatch.problem import (
    BatteryUnit,
    DispatchInputs,
    DispatchProblem,
    DispatchResult,
    EndSoc,
    FlexGroup,
    FlexibleLoad,
    FlexPlan,
    Generator,
    Objective,
    SolveOutcome,
    build_problem,
    make_result,
    update_problem,
)
from suandian.dispatch.rules import rule_dispatch
from suandian.dispatch.solve import end_state_missed_note, netted_solution

__all__ = ["Forecast", "rolling_dispatch"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

_ENERGY_TOL_MWH = 1e-9


@dataclass(frozen=True)
class Forecast:
    """What the planner believes; ``None`` fields are taken as known (the realised values)."""

    available_mw: npt.ArrayLike | None = None
    """(G, T) forecast available output of each generator, in the inputs' order. [MW]"""
    load_mw: npt.ArrayLike | None = None
    """(T,) forecast fixed load. [MW]"""


@dataclass
class _Plan:
    """Committed schedules of the whole period, filled window by window."""

    gen: FloatArray
    charge: FloatArray
    discharge: FloatArray
    soe: FloatArray
    imp: FloatArray
    exp: FloatArray
    flex: FlexPlan
    """Each flexible load over its own window; filled piece by piece."""
    flex_total: FloatArray
    """(T,) sum of ``flex``, kept as it is filled (for settling committed steps)."""
    unserved: FloatArray

    def commit_flex(self, inputs: DispatchInputs, sl: slice, pieces: dict[int, FloatArray]) -> None:
        """Commit each load's power over the steps ``sl`` (0 outside its window)."""
        total = np.zeros(sl.stop - sl.start)
        for load in sorted(pieces):  # in load order, as a sum over rows adds them
            piece = pieces[load]
            f = inputs.flexible_loads[load]
            lo, hi = max(f.release_step, sl.start), min(f.deadline_step, sl.stop)
            if lo < hi:
                values = self.flex.row_values(load)
                values[lo - f.release_step : hi - f.release_step] = piece[
                    lo - sl.start : hi - sl.start
                ]
            total += piece
        self.flex_total[sl] = total


@dataclass(frozen=True)
class _Window:
    number: int
    start: int
    steps: int
    """Real (unpadded) steps."""
    commit: int
    last: bool


def _windows(n_t: int, window_steps: int, commit_steps: int) -> list[_Window]:
    out: list[_Window] = []
    start = 0
    while start < n_t:
        last = start + window_steps >= n_t
        steps = min(window_steps, n_t - start)
        commit = steps if last else commit_steps
        out.append(_Window(len(out), start, steps, commit, last))
        start += commit
    return out


def _planning_arrays(
    inputs: DispatchInputs, forecast: Forecast | None
) -> tuple[FloatArray, FloatArray]:
    avail, load = inputs.available_mw, inputs.load_mw
    if forecast is None:
        return avail, load
    if forecast.available_mw is not None:
        f_avail = np.asarray(forecast.available_mw, dtype=np.float64)
        if f_avail.shape != avail.shape:
            raise InputError(
                f"forecast.available_mw: shape {f_avail.shape}, expected {avail.shape} "
                "(one row per generator, one column per interval)"
            )
        avail = f_avail
    if forecast.load_mw is not None:
        f_load = np.asarray(forecast.load_mw, dtype=np.float64)
        if f_load.shape != load.shape:
            raise InputError(f"forecast.load_mw: shape {f_load.shape}, expected {load.shape}")
        load = f_load
    for name, arr in (("forecast.available_mw", avail), ("forecast.load_mw", load)):
        if not np.isfinite(arr).all() or (arr.size and arr.min() < 0):
            raise InputError(f"{name}: values must be finite and ≥ 0; fill gaps first")
    return avail, load


def _final_end(b: BatteryUnit) -> EndSoc:
    """The period's end condition as a window's: ``cyclic`` means the period's initial soc."""
    return b.soc_initial_pu if b.end_soc == "cyclic" else b.end_soc


@dataclass(frozen=True)
class _Requirement:
    """A flexible load's share of one window."""

    load: int
    """Index into ``inputs.flexible_loads``."""
    release: int
    deadline: int
    """Window-relative, ``[release, deadline)`` within the real steps."""
    low_mwh: float
    high_mwh: float


@dataclass(frozen=True)
class _Loads:
    """What every window asks of the flexible loads, computed once for the period."""

    release: IntArray
    deadline: IntArray
    group_of: list[int]
    group_cap_mw: FloatArray

    @classmethod
    def of(cls, inputs: DispatchInputs) -> _Loads:
        return cls(
            inputs.flex_release_step,
            inputs.flex_deadline_step,
            inputs.flex_group_of.tolist(),
            inputs.flex_group_cap_mw,
        )


def _requirements(
    inputs: DispatchInputs, loads: _Loads, w: _Window, remaining_mwh: FloatArray
) -> tuple[list[_Requirement], list[str]]:
    dt_h = inputs.interval_h
    end = w.start + w.steps
    out: list[_Requirement] = []
    notes: list[str] = []
    group_of, group_cap = loads.group_of, loads.group_cap_mw
    # Only loads whose window meets this one and that still need energy (in load order).
    meets = (loads.release < end) & (loads.deadline > w.start) & (remaining_mwh > _ENERGY_TOL_MWH)
    for i in np.flatnonzero(meets).tolist():
        f = inputs.flexible_loads[i]
        left = float(remaining_mwh[i])
        release = max(f.release_step - w.start, 0)
        deadline = min(f.deadline_step - w.start, w.steps)
        fits = f.p_max_mw * (deadline - release) * dt_h
        if group_of[i] >= 0:
            cap = group_cap[group_of[i], w.start + release : w.start + deadline]
            fits = float(np.minimum(cap, f.p_max_mw).sum() * dt_h)
        if f.deadline_step <= end:
            low = high = left
        else:
            steps_left = f.deadline_step - max(f.release_step, w.start)
            low, high = left * (deadline - release) / steps_left, left
        if low > fits * (1 + 1e-9) + _ENERGY_TOL_MWH:
            notes.append(
                f"flexible load {f.name!r}: {low - fits:.6g} MWh do not fit what is left of "
                "its window under its power cap and its group's cap (an earlier window fell "
                "back to the rules, or the load never fitted) and stay unserved"
            )
        out.append(_Requirement(i, release, deadline, min(low, fits), min(high, fits)))
    return out, notes


def _pad(values: FloatArray, width: int, fill: float = 0.0) -> FloatArray:
    """Pad the last axis of ``values`` to ``width`` with ``fill``."""
    missing = width - values.shape[-1]
    if missing <= 0:
        return values
    pad = [(0, 0)] * (values.ndim - 1) + [(0, missing)]
    return np.pad(values, pad, constant_values=fill)


def _missed_days(inputs: DispatchInputs, plan: _Plan) -> list[str]:
    """Local days of the committed plan whose green share fell below the target."""
    target = inputs.green_target_pu
    assert target is not None and inputs.index_utc is not None
    days, period = np.unique(local_day(inputs.index_utc), return_inverse=True)
    period = np.asarray(period).reshape(-1)
    consumed = np.bincount(period, weights=inputs.load_mw + plan.flex_total - plan.unserved)
    imported = np.bincount(period, weights=plan.imp)
    missed = [
        f"{str(day)[:10]} {100 * (1 - imp / used):.1f} %"
        for day, imp, used in zip(days, imported, consumed, strict=True)
        if used > 0 and imp > (1.0 - target) * used * (1 + 1e-9) + 1e-9
    ]
    if not missed:
        return []
    return [
        f"green-match target {100 * target:g} % missed on {len(missed)} local day(s): "
        + ", ".join(missed)
    ]


def _check_daily_target(inputs: DispatchInputs, commit_steps: int) -> None:
    """A green target can roll only per local day, with whole committed days (see above)."""
    if inputs.green_target_period != "day" or inputs.index_utc is None:
        raise InputError(
            "green_target_pu: a green-match target over the whole horizon cannot be split "
            "across rolling windows; set green_target_period='day' (with index_utc), use "
            "dispatch() for the whole period, or drop the target"
        )
    steps_per_day = round(24.0 / inputs.interval_h)
    first = inputs.index_utc[0].tz_convert(LOCAL_TZ)
    if first != first.normalize():
        raise InputError(
            f"green_target_pu: the period starts at {first:%Y-%m-%d %H:%M} Asia/Shanghai; a "
            "daily target rolls only from a local midnight, so that each committed day lies "
            "in one window — start the period at 00:00 local time"
        )
    if commit_steps % steps_per_day:
        raise InputError(
            f"commit_steps: {commit_steps} intervals is not a whole number of days "
            f"({steps_per_day} intervals each); with a daily green target each window must "
            "commit whole local days, e.g. 24 h"
        )


def _window_index(inputs: DispatchInputs, w: _Window, width: int) -> pd.DatetimeIndex | None:
    if inputs.index_utc is None:
        return None
    step = pd.Timedelta(hours=inputs.interval_h)
    return pd.date_range(inputs.index_utc[w.start], periods=width, freq=step)


def _window_inputs(
    inputs: DispatchInputs,
    w: _Window,
    *,
    width: int,
    avail: FloatArray,
    load: FloatArray,
    soe_mwh: FloatArray,
    flexible: tuple[FlexibleLoad, ...],
) -> DispatchInputs:
    """Inputs of one window, ``width`` steps (padded when the window is short)."""
    sl = slice(w.start, w.start + w.steps)

    def series(values: FloatArray) -> FloatArray:
        part = values[sl]
        return _pad(part, width, float(part[-1]))

    batteries = tuple(
        replace(
            b,
            soc_initial_pu=float(np.clip(soe_mwh[i] / b.e_mwh, b.soc_min_pu, b.soc_max_pu)),
            end_soc=_final_end(b) if w.last else "free",
        )
        for i, b in enumerate(inputs.batteries)
    )
    return DispatchInputs(
        interval_h=inputs.interval_h,
        load_mw=_pad(load[sl], width),
        grid=replace(
            inputs.grid,
            import_price_cny_per_kwh=series(inputs.import_price_cny_per_kwh),
            export_price_cny_per_kwh=series(inputs.export_price_cny_per_kwh),
            ef_kgco2_per_kwh=series(inputs.ef_kgco2_per_kwh),
        ),
        generators=tuple(
            replace(g, available_mw=_pad(avail[j, sl], width))
            for j, g in enumerate(inputs.generators)
        ),
        batteries=batteries,
        flexible_loads=flexible,
        flex_groups=tuple(FlexGroup(g.name, _pad(g.cap_mw[sl], width)) for g in inputs.flex_groups),
        index_utc=_window_index(inputs, w, width),
        carbon_price_cny_per_tco2=inputs.carbon_price_cny_per_tco2,
        green_target_pu=inputs.green_target_pu,
        green_target_period=inputs.green_target_period,
    )


def _slot_groups(inputs: DispatchInputs, windows: list[_Window]) -> list[str | None]:
    """The group of each slot: per group (ungrouped first), as many slots as its loads ever
    overlap one window."""
    release = np.array([f.release_step for f in inputs.flexible_loads], dtype=np.int64)
    deadline = np.array([f.deadline_step for f in inputs.flexible_loads], dtype=np.int64)
    starts = np.array([w.start for w in windows], dtype=np.int64)[:, np.newaxis]
    ends = starts + np.array([w.steps for w in windows], dtype=np.int64)[:, np.newaxis]
    overlap = (release < ends) & (deadline > starts)  # (windows, F)
    group_of = inputs.flex_group_of
    out: list[str | None] = []
    for g, name in [(-1, None), *((j, x.name) for j, x in enumerate(inputs.flex_groups))]:
        count = int(overlap[:, group_of == g].sum(axis=1).max(initial=0))
        out.extend([name] * count)
    return out


def _assign(
    inputs: DispatchInputs, reqs: list[_Requirement], slot_groups: list[str | None]
) -> list[_Requirement | None]:
    """Place each requirement in a free slot of its load's group."""
    out: list[_Requirement | None] = [None] * len(slot_groups)
    free: dict[str | None, list[int]] = {}
    for k, g in enumerate(slot_groups):
        free.setdefault(g, []).append(k)
    for r in reqs:
        k = free[inputs.flexible_loads[r.load].group].pop(0)
        out[k] = r
    return out


def _slots(
    inputs: DispatchInputs,
    assigned: list[_Requirement | None],
    slot_groups: list[str | None],
    width: int,
) -> tuple[FlexibleLoad, ...]:
    """The window's flexible-load slots; bounds outside each load's window are set later."""
    out = []
    for k, (r, group) in enumerate(zip(assigned, slot_groups, strict=True)):
        if r is not None:
            p_max = inputs.flexible_loads[r.load].p_max_mw
            energy = r.high_mwh
        else:
            p_max = energy = 0.0
        out.append(FlexibleLoad(f"slot-{k}", 0, width, energy, p_max, group=group))
    return tuple(out)


def _restrict(problem: DispatchProblem, w: _Window, assigned: list[_Requirement | None]) -> None:
    """Bounds the window's inputs cannot express, set directly on the HiGHS model."""
    lp = problem.lp
    col_upper = lp.col_upper.copy()
    row_lower = lp.row_lower.copy()
    row_upper = lp.row_upper.copy()
    v = lp.variables
    changed_cols: list[IntArray] = []
    flex = v["flex-p"]
    rows = lp.constraints["flex-energy"]
    for k in range(flex.shape[0]):
        outside = np.ones(flex.shape[1], dtype=bool)
        r = assigned[k]
        if r is not None:
            outside[r.release : r.deadline] = False
            row_lower[rows[k]], row_upper[rows[k]] = r.low_mwh, r.high_mwh
        changed_cols.append(flex[k, outside])
    import_rows = lp.constraints["grid-import"]
    changed_rows = [rows.reshape(-1)]
    if w.steps < import_rows.size:
        pad = slice(w.steps, None)
        for name in ("grid-export", "battery-charge", "battery-discharge"):
            changed_cols.append(v[name][..., pad].reshape(-1))
        # No import in the padding: its row (import less the padded zero load) is held at 0.
        row_upper[import_rows[pad]] = row_lower[import_rows[pad]]
        changed_rows.append(import_rows[pad])
    cols = np.concatenate([c.reshape(-1) for c in changed_cols]) if changed_cols else None
    h = problem.highs
    if cols is not None and cols.size:
        cols = cols[cols >= 0]
        col_upper[cols] = 0.0
        h.changeColsBounds(
            cols.size, cols.astype(np.int32), lp.col_lower[cols], np.zeros(cols.size)
        )
    idx = np.concatenate(changed_rows)
    if idx.size:
        h.changeRowsBounds(  # type: ignore[attr-defined]
            idx.size, idx.astype(np.int32), row_lower[idx], row_upper[idx]
        )
    problem.lp = replace(lp, col_upper=col_upper, row_lower=row_lower, row_upper=row_upper)


def _stopped(outcome: SolveOutcome, time_limit_s: float | None) -> str:
    limit = "" if time_limit_s is None else f" (time limit {time_limit_s:g} s)"
    return f"HiGHS stopped with status {outcome.status!r}{limit} without an optimal plan"


def _span(inputs: DispatchInputs, w: _Window) -> str:
    if inputs.index_utc is None:
        return f"steps [{w.start}, {w.start + w.steps})"
    first = inputs.index_utc[w.start].tz_convert(LOCAL_TZ)
    return f"from {first:%Y-%m-%d %H:%M} (Asia/Shanghai), {w.steps} steps"


def rolling_dispatch(
    inputs: DispatchInputs,
    *,
    window_steps: int,
    commit_steps: int,
    objective: Objective = "cost",
    time_limit_s: float | None = None,
    forecast: Forecast | None = None,
) -> DispatchResult:
    """Plan ``inputs`` window by window on one HiGHS model (see the module docstring).

    Parameters
    ----------
    inputs : DispatchInputs
        The whole period, as realised.
    window_steps : int
        Intervals each window plans (≥ 1); a window as long as the period is one solve.
    commit_steps : int
        Intervals of each plan that are kept (1 … ``window_steps``).
    objective : {"cost", "carbon", "cost+carbon", "green"}
    time_limit_s : float, optional
        HiGHS time limit of each window's solve. [s]
    forecast : Forecast, optional
        Available output and fixed load to plan on; ``inputs`` then settle the committed steps.

    Returns
    -------
    DispatchResult
        ``method="lp-rolling"``; ``diagnosis`` is set when a window fell back to the rules.
    """
    n_t, dt_h = inputs.n_steps, inputs.interval_h
    window_steps = _whole("window_steps", window_steps)
    commit_steps = _whole("commit_steps", commit_steps)
    if window_steps < 1:
        raise InputError(f"window_steps: {window_steps!r}; use a whole number of intervals ≥ 1")
    if not 1 <= commit_steps <= window_steps:
        raise InputError(
            f"commit_steps: {commit_steps!r}; use a whole number from 1 to window_steps "
            f"({window_steps}): a window cannot commit more than it plans"
        )
    if inputs.green_target_pu is not None:
        _check_daily_target(inputs, commit_steps)
    for name in ("self_consumption_min_pu", "onsite_green_min_pu"):
        if getattr(inputs, name) is not None:
            raise InputError(
                f"{name}: a direct-connection share over a period cannot be split across "
                "rolling windows; use dispatch() for the whole period, or drop the share"
            )
    if time_limit_s is not None and not time_limit_s > 0:
        raise InputError(f"time_limit_s: {time_limit_s!r}; use a positive number of seconds")
    plan_avail, plan_load = _planning_arrays(inputs, forecast)
    width = min(window_steps, n_t)
    windows = _windows(n_t, width, min(commit_steps, width))

    n_g, n_b, n_f = len(inputs.generators), len(inputs.batteries), len(inputs.flexible_loads)
    plan = _Plan(
        gen=np.zeros((n_g, n_t)),
        charge=np.zeros((n_b, n_t)),
        discharge=np.zeros((n_b, n_t)),
        soe=np.zeros((n_b, n_t)),
        imp=np.zeros(n_t),
        exp=np.zeros(n_t),
        flex=FlexPlan.zeros(inputs.flex_release_step, inputs.flex_deadline_step),
        flex_total=np.zeros(n_t),
        unserved=np.zeros(n_t),
    )
    slot_groups = _slot_groups(inputs, windows)
    loads = _Loads.of(inputs)

    soe_now = np.array([b.soc_initial_pu * b.e_mwh for b in inputs.batteries], dtype=np.float64)
    remaining = np.array([f.energy_mwh for f in inputs.flexible_loads], dtype=np.float64)
    problem: DispatchProblem | None = None
    notes: list[str] = []
    fallbacks: list[str] = []
    solve_time_s = 0.0
    simultaneous = 0
    held_back_mwh = 0.0
    for w in windows:
        reqs, req_notes = _requirements(inputs, loads, w, remaining)
        notes.extend(req_notes)
        assigned = _assign(inputs, reqs, slot_groups)
        win = _window_inputs(
            inputs,
            w,
            width=width,
            avail=plan_avail,
            load=plan_load,
            soe_mwh=soe_now,
            flexible=_slots(inputs, assigned, slot_groups, width),
        )
        if problem is None:
            problem = build_problem(win, objective)
        else:
            update_problem(problem, win)
        _restrict(problem, w, assigned)
        outcome = problem.run(time_limit_s=time_limit_s)
        solve_time_s += outcome.solve_time_s
        m = w.commit
        sl = slice(w.start, w.start + m)
        if outcome.optimal and outcome.col_value is not None:
            x = outcome.col_value
            netted = netted_solution(problem, win, x)
            charge, discharge = netted.battery_charge_mw[:, :m], netted.battery_discharge_mw[:, :m]
            simultaneous += int(
                (np.minimum(charge, discharge) > 1e-9).sum()  # committed steps only
            )
            soe = problem.values("battery-soe", x)[:, :m]
            slot_flex = problem.values("flex-p", x)[:, :m]
            pieces = {
                slot.load: slot_flex[k] for k, slot in enumerate(assigned) if slot is not None
            }
            plan.charge[:, sl], plan.discharge[:, sl], plan.soe[:, sl] = charge, discharge, soe
            plan.commit_flex(inputs, sl, pieces)
            if forecast is None:
                plan.gen[:, sl] = netted.generator_p_mw[:, :m]
                plan.imp[sl] = netted.grid_import_mw[:m]
                plan.exp[sl] = netted.grid_export_mw[:m]
            else:
                held_back_mwh += _settle(inputs, plan, sl)
        else:
            reason = (
                diagnose(_diagnosis_inputs(win, w, reqs, inputs)).message
                if outcome.infeasible
                else _stopped(outcome, time_limit_s)
            )
            fallbacks.append(f"window {w.number} ({_span(inputs, w)}): {reason}")
            rules = rule_dispatch(_rule_inputs(inputs, w, reqs, soe_now), objective)
            plan.gen[:, sl] = rules.generator_p_mw[:, :m]
            plan.charge[:, sl] = rules.battery_charge_mw[:, :m]
            plan.discharge[:, sl] = rules.battery_discharge_mw[:, :m]
            plan.soe[:, sl] = rules.battery_soe_mwh[:, :m]
            plan.imp[sl] = rules.grid_import_mw[:m]
            plan.exp[sl] = rules.grid_export_mw[:m]
            plan.unserved[sl] = rules.unserved_mw[:m]
            pieces = {r.load: rules.flex.by_row(k, w.steps)[:m] for k, r in enumerate(reqs)}
            plan.commit_flex(inputs, sl, pieces)
        if n_b:
            soe_now = plan.soe[:, w.start + m - 1].copy()
        if n_f:
            served = np.zeros(n_f)
            for load, piece in pieces.items():
                served[load] = piece.sum()
            remaining = remaining - served * dt_h
            remaining[np.abs(remaining) <= _ENERGY_TOL_MWH] = 0.0

    flex_short = np.maximum(remaining, 0.0)
    hours = width * dt_h
    notes.insert(
        0,
        f"rolling horizon: {len(windows)} window(s) of {width} steps ({hours:g} h), committing "
        f"{min(commit_steps, width)} each (the last commits the rest); one HiGHS model built "
        f"and updated in place {len(windows) - 1} time(s)",
    )
    if fallbacks:
        notes.append(f"{len(fallbacks)} window(s) fell back to the rules: " + "; ".join(fallbacks))
    if simultaneous:
        notes.append(
            f"{simultaneous} committed interval(s) charge and discharge one battery at once: "
            "stored energy had to be destroyed to reach a fixed end state"
        )
    if forecast is not None:
        notes.append(
            "planned on the forecast, settled on realised data: the grid and curtailment close "
            "the balance, batteries and flexible loads follow the plan"
        )
    if held_back_mwh > _ENERGY_TOL_MWH:
        notes.append(
            f"{held_back_mwh:.6g} MWh of planned battery discharge held back: the realised "
            "demand was lower than forecast and the export cap and curtailment could not take it"
        )
        for i, b in enumerate(inputs.batteries):
            end_lo, end_hi = b.end_soe_bounds_mwh()
            end = float(plan.soe[i, -1])
            if not end_lo - _ENERGY_TOL_MWH <= end <= end_hi + _ENERGY_TOL_MWH:
                notes.append(
                    f"{end_state_missed_note(b.name)} by {end - end_hi:.6g} MWh: discharge held "
                    "back on realised data found no import left to displace"
                )
    if plan.unserved.any():
        notes.append(f"{plan.unserved.sum() * dt_h:.6g} MWh of load left unserved")
    if flex_short.any():
        notes.append(f"{flex_short.sum():.6g} MWh of flexible load not served by its deadline")
    if inputs.green_target_pu is not None:
        notes.extend(_missed_days(inputs, plan))
    diagnosis = None
    if fallbacks:
        more = f" (and {len(fallbacks) - 1} more window(s))" if len(fallbacks) > 1 else ""
        diagnosis = fallbacks[0] + more
    status = (
        "Optimal"
        if not fallbacks
        else f"Optimal in {len(windows) - len(fallbacks)} of {len(windows)} windows, "
        f"rules in {len(fallbacks)}"
    )
    return make_result(
        inputs,
        objective,
        method="lp-rolling",
        generator_p_mw=plan.gen,
        battery_charge_mw=plan.charge,
        battery_discharge_mw=plan.discharge,
        battery_soe_mwh=plan.soe,
        grid_import_mw=plan.imp,
        grid_export_mw=plan.exp,
        flex=plan.flex,
        unserved_mw=plan.unserved,
        flex_unserved_mwh=flex_short,
        status=status,
        solve_time_s=solve_time_s,
        solver_objective_value=math.nan,
        diagnosis=diagnosis,
        notes=notes,
    )


def _whole(name: str, value: object) -> int:
    if isinstance(value, bool):
        raise InputError(f"{name}: {value!r}; use a whole number of intervals")
    try:
        return operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        raise InputError(f"{name}: {value!r}; use a whole number of intervals") from None


def _settle(inputs: DispatchInputs, plan: _Plan, sl: slice) -> float:
    """Close the balance of committed steps on realised data (batteries, flex as planned).

    A surplus goes to export (up to the cap), then to curtailment (up to the realised output).
    Where the planned discharge alone exceeds what the realised demand, the export cap and
    curtailment can take — the forecast expected more load than came — the batteries
    discharge that much less (:func:`_hold_back`). Returns the energy held back. [MWh]
    """
    avail = inputs.available_mw[:, sl]
    total = avail.sum(axis=0)

    def net_mw() -> FloatArray:
        return np.asarray(
            total
            - inputs.load_mw[sl]
            - plan.flex_total[sl]
            - plan.charge[:, sl].sum(axis=0)
            + plan.discharge[:, sl].sum(axis=0),
            dtype=np.float64,
        )

    net = net_mw()
    excess = net - total - inputs.export_cap_mw[sl]
    held_mwh = 0.0
    if (excess > _ENERGY_TOL_MWH).any():
        held_mwh = _hold_back(inputs, plan, sl, np.maximum(excess, 0.0))
        net = net_mw()
    surplus = np.maximum(net, 0.0)
    deficit = np.maximum(-net, 0.0)
    export = np.minimum(surplus, inputs.export_cap_mw[sl])
    curtail = np.minimum(surplus - export, total)
    used = np.divide(total - curtail, total, out=np.zeros_like(total), where=total > 0)
    imported = np.minimum(deficit, inputs.import_cap_mw[sl])
    plan.gen[:, sl] = avail * used
    plan.imp[sl] = imported
    plan.exp[sl] = export
    plan.unserved[sl] = deficit - imported
    return held_mwh


def _hold_back(inputs: DispatchInputs, plan: _Plan, sl: slice, excess_mw: FloatArray) -> float:
    """Lower the committed discharge by ``excess_mw`` (shared pro rata between batteries).

    The energy not discharged stays in store and is spent as soon as a later committed step
    imports: there a battery that is not charging discharges more, up to its power limit and
    the import it displaces. What is left carries on — every later step holds that much more,
    and the next window starts from it. Where the extra energy would pass a battery's maximum,
    its planned charge there is lowered instead, which only frees supply (less import, or more
    export or curtailment). Steps are visited in order because each one's stored energy
    depends on the earlier ones'. Returns the energy held back. [MWh]
    """
    dt_h = inputs.interval_h
    eta_c = np.array([b.efficiency_charge_pu for b in inputs.batteries])
    eta_d = np.array([b.efficiency_discharge_pu for b in inputs.batteries])
    soe_max = np.array([b.soc_max_pu * b.e_mwh for b in inputs.batteries])
    p_max = np.array([b.p_mw for b in inputs.batteries])
    total = inputs.available_mw[:, sl].sum(axis=0)
    demand = inputs.load_mw[sl] + plan.flex_total[sl]
    extra = np.zeros(len(inputs.batteries))  # energy stored beyond the plan so far [MWh]
    held = 0.0
    for k, t in enumerate(range(sl.start, sl.stop)):
        discharge, charge = plan.discharge[:, t], plan.charge[:, t]
        if excess_mw[k] > 0.0 and discharge.sum() > 0.0:
            cut = discharge * (min(excess_mw[k], discharge.sum()) / discharge.sum())
            plan.discharge[:, t] = discharge - cut
            extra += cut * dt_h / eta_d
            held += float(cut.sum()) * dt_h
        elif extra.any():
            deficit = demand[k] + charge.sum() - discharge.sum() - total[k]
            for b in np.flatnonzero((extra > 0.0) & (charge <= 0.0)):
                if deficit <= 0.0:
                    break
                more = min(p_max[b] - discharge[b], deficit, extra[b] * eta_d[b] / dt_h)
                if more > 0.0:
                    plan.discharge[b, t] += more
                    extra[b] -= more * dt_h / eta_d[b]
                    deficit -= more
        over = np.maximum(plan.soe[:, t] + extra - soe_max, 0.0)
        if over.any():
            less = np.minimum(plan.charge[:, t], over / (eta_c * dt_h))
            plan.charge[:, t] -= less
            extra -= less * eta_c * dt_h
        plan.soe[:, t] += extra
    return held


def _unpadded(
    win: DispatchInputs, w: _Window, flexible: tuple[FlexibleLoad, ...]
) -> DispatchInputs:
    n = w.steps
    grid = win.grid
    return replace(
        win,
        load_mw=win.load_mw[:n],
        generators=tuple(Generator(g.name, g.source, g.available_mw[:n]) for g in win.generators),
        grid=replace(
            grid,
            import_price_cny_per_kwh=win.import_price_cny_per_kwh[:n],
            export_price_cny_per_kwh=win.export_price_cny_per_kwh[:n],
            ef_kgco2_per_kwh=win.ef_kgco2_per_kwh[:n],
        ),
        flexible_loads=flexible,
        flex_groups=tuple(FlexGroup(g.name, g.cap_mw[:n]) for g in win.flex_groups),
        index_utc=None if win.index_utc is None else win.index_utc[:n],
    )


def _real_flexible(inputs: DispatchInputs, reqs: list[_Requirement]) -> tuple[FlexibleLoad, ...]:
    """The window's flexible loads with their own windows and required (least) energy."""
    return tuple(
        FlexibleLoad(
            inputs.flexible_loads[r.load].name,
            r.release,
            r.deadline,
            energy_mwh=r.low_mwh,
            p_max_mw=inputs.flexible_loads[r.load].p_max_mw,
            group=inputs.flexible_loads[r.load].group,
        )
        for r in reqs
    )


def _diagnosis_inputs(
    win: DispatchInputs, w: _Window, reqs: list[_Requirement], inputs: DispatchInputs
) -> DispatchInputs:
    """What the window's LP asked, as plain inputs (real steps, least flexible energy)."""
    return _unpadded(win, w, _real_flexible(inputs, reqs))


def _rule_inputs(
    inputs: DispatchInputs, w: _Window, reqs: list[_Requirement], soe_mwh: FloatArray
) -> DispatchInputs:
    """The window's real steps on realised data, for the rule-based fallback."""
    sl = slice(w.start, w.start + w.steps)
    return DispatchInputs(
        interval_h=inputs.interval_h,
        load_mw=inputs.load_mw[sl],
        grid=replace(
            inputs.grid,
            import_price_cny_per_kwh=inputs.import_price_cny_per_kwh[sl],
            export_price_cny_per_kwh=inputs.export_price_cny_per_kwh[sl],
            ef_kgco2_per_kwh=inputs.ef_kgco2_per_kwh[sl],
        ),
        generators=tuple(replace(g, available_mw=g.available_mw[sl]) for g in inputs.generators),
        batteries=tuple(
            replace(
                b,
                soc_initial_pu=float(np.clip(soe_mwh[i] / b.e_mwh, b.soc_min_pu, b.soc_max_pu)),
                end_soc="free",
            )
            for i, b in enumerate(inputs.batteries)
        ),
        flexible_loads=_real_flexible(inputs, reqs),
        flex_groups=tuple(FlexGroup(g.name, g.cap_mw[sl]) for g in inputs.flex_groups),
        index_utc=None if inputs.index_utc is None else inputs.index_utc[sl],
    )
