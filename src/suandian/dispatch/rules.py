"""Rule-based dispatch: the greedy fallback used when the LP has no optimum.

Per interval, in this order:

1. Flexible loads are spread evenly over their windows, capped at their power limit, as
   unscheduled deferrable work arrives and runs (fixed before the loop, vectorized per load).
   Loads of a group share its cap: taken in their listed order, each load is spread as evenly
   as the room its group's earlier members leave allows (water filling: one level, lowered
   where the room is less), and what does not fit is reported as unserved flexible energy.
2. On-site generation serves the load first.
3. A surplus charges the batteries (in their listed order, within power and room), then is
   exported up to the cap; the rest is curtailed.
4. A deficit discharges the batteries (within power and stored energy above the minimum),
   then imports up to the limit; what is still missing is reported as unserved load.

The rules look neither ahead nor at prices, and they honour no end state or green target: the
result's ``notes`` say so. The battery state runs from one interval to the next, so the loop
over intervals is sequential by nature; it works on plain floats and handles a year of
15-minute intervals in well under a second.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from suandian.dispatch.problem import (
    DispatchInputs,
    DispatchResult,
    FlexPlan,
    Objective,
    make_result,
)

__all__ = ["flex_spread_evenly", "rule_dispatch"]

FloatArray = npt.NDArray[np.float64]


def _fill_level(room_mw: FloatArray, energy_mwh: float, dt_h: float) -> FloatArray:
    """Power min(level, room) per step, with the level that serves ``energy_mwh`` (or all room).

    Water filling over the window: sort the room, and find the level where
    Σ min(level, room)·Δt reaches the energy.
    """
    if room_mw.size == 0 or energy_mwh <= 0.0:
        return np.zeros_like(room_mw)
    if room_mw.sum() * dt_h <= energy_mwh:
        return room_mw.copy()
    r = np.sort(room_mw)
    n = r.size
    # Energy served with the level at r[j]: Σ_{i<j} r[i] + (n − j)·r[j], times Δt.
    served = (np.concatenate(([0.0], np.cumsum(r)[:-1])) + (n - np.arange(n)) * r) * dt_h
    j = int(np.searchsorted(served, energy_mwh))
    below = float(r[:j].sum()) * dt_h
    level = (energy_mwh - below) / ((n - j) * dt_h)
    return np.minimum(room_mw, level)


def flex_spread_evenly(inputs: DispatchInputs) -> tuple[FlexPlan, FloatArray]:
    """Flexible loads spread evenly over their windows, capped at their power limit.

    That is how deferrable work runs when nobody schedules it: it arrives through the window
    and is served as it comes, with no regard for prices or the sun. Loads of a group share the
    group's cap, in their listed order (see the module docstring).

    Returns
    -------
    flex : FlexPlan
        Power drawn by each flexible load over its window. [MW]
    flex_unserved_mwh : (F,)
        Energy that does not fit inside the window under the power cap. [MWh]
    """
    dt_h = inputs.interval_h
    flex = FlexPlan.zeros(inputs.flex_release_step, inputs.flex_deadline_step)
    short = np.zeros(len(inputs.flexible_loads))
    room = inputs.flex_group_cap_mw.copy()
    group = inputs.flex_group_of.tolist()
    for i, f in enumerate(inputs.flexible_loads):
        window = slice(f.release_step, f.deadline_step)
        n = f.deadline_step - f.release_step
        p_mw = flex.row_values(i)
        if group[i] < 0:
            p_mw[:] = min(f.p_max_mw, f.energy_mwh / (n * dt_h)) if n > 0 else 0.0
        else:
            g = group[i]
            cap = np.minimum(np.maximum(room[g, window], 0.0), f.p_max_mw)
            p_mw[:] = _fill_level(cap, f.energy_mwh, dt_h)
            room[g, window] -= p_mw
        short[i] = max(f.energy_mwh - float(p_mw.sum()) * dt_h, 0.0)
    return flex, short


def rule_dispatch(
    inputs: DispatchInputs,
    objective: Objective = "cost",
    *,
    diagnosis: str | None = None,
    status: str = "not solved",
    solve_time_s: float = 0.0,
) -> DispatchResult:
    """Greedy dispatch of ``inputs`` (see the module docstring); ``method="rules"``.

    ``objective`` only selects which total is reported as ``objective_value``; ``diagnosis``,
    ``status`` and ``solve_time_s`` describe the LP run this plan replaces.
    """
    n_t, n_b, dt_h = inputs.n_steps, len(inputs.batteries), inputs.interval_h
    flex, flex_short = flex_spread_evenly(inputs)
    avail = inputs.available_mw
    avail_total = avail.sum(axis=0)
    net = (avail_total - inputs.load_mw - flex.total_mw(n_t)).tolist()
    import_cap = inputs.import_cap_mw.tolist()
    export_cap = inputs.export_cap_mw.tolist()

    p_max = [b.p_mw for b in inputs.batteries]
    e_min = [b.soc_min_pu * b.e_mwh for b in inputs.batteries]
    e_max = [b.soc_max_pu * b.e_mwh for b in inputs.batteries]
    eta_c = [b.efficiency_charge_pu for b in inputs.batteries]
    eta_d = [b.efficiency_discharge_pu for b in inputs.batteries]
    soe_now = [b.soc_initial_pu * b.e_mwh for b in inputs.batteries]

    charge = np.zeros((n_b, n_t))
    discharge = np.zeros((n_b, n_t))
    soe = np.zeros((n_b, n_t))
    imp = np.zeros(n_t)
    exp = np.zeros(n_t)
    curtail = np.zeros(n_t)
    unserved = np.zeros(n_t)
    for t in range(n_t):
        balance = net[t]
        if balance >= 0.0:
            for b in range(n_b):
                room_mw = (e_max[b] - soe_now[b]) / (eta_c[b] * dt_h)
                x = max(min(p_max[b], room_mw, balance), 0.0)
                charge[b, t] = x
                soe_now[b] += eta_c[b] * x * dt_h
                balance -= x
            out = min(balance, export_cap[t])
            exp[t] = out
            curtail[t] = balance - out
        else:
            deficit = -balance
            for b in range(n_b):
                stored_mw = (soe_now[b] - e_min[b]) * eta_d[b] / dt_h
                x = max(min(p_max[b], stored_mw, deficit), 0.0)
                discharge[b, t] = x
                soe_now[b] -= x * dt_h / eta_d[b]
                deficit -= x
            grid = min(deficit, import_cap[t])
            imp[t] = grid
            unserved[t] = deficit - grid
        for b in range(n_b):
            soe[b, t] = soe_now[b]

    used_share = np.divide(
        avail_total - curtail, avail_total, out=np.zeros(n_t), where=avail_total > 0
    )
    notes = [
        "rule-based plan: no look-ahead, no prices; end states, green target and "
        "direct-connection shares not held"
    ]
    if unserved.any():
        notes.append(f"{unserved.sum() * dt_h:.6g} MWh of load left unserved")
    if flex_short.any():
        notes.append(f"{flex_short.sum():.6g} MWh of flexible load does not fit its windows")
    return make_result(
        inputs,
        objective,
        method="rules",
        generator_p_mw=avail * used_share,
        battery_charge_mw=charge,
        battery_discharge_mw=discharge,
        battery_soe_mwh=soe,
        grid_import_mw=imp,
        grid_export_mw=exp,
        flex=flex,
        unserved_mw=unserved,
        flex_unserved_mwh=flex_short,
        status=status,
        solve_time_s=solve_time_s,
        diagnosis=diagnosis,
        notes=notes,
    )
