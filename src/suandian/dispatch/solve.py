"""Solve the dispatch LP with HiGHS, clean the plan, and check it against the physics.

:func:`dispatch` is the front door: it builds and solves the LP and never raises for an
infeasible plan. When HiGHS reports the LP infeasible, :func:`~suandian.dispatch.diagnose.diagnose`
names the first requirement that cannot be met, in words and numbers, and the rule-based
fallback (:mod:`suandian.dispatch.rules`) returns a plan of the same type with
``method="rules"``, its unserved load, and the diagnosis attached.

After an optimal solve, :func:`net_simultaneous` removes any charge and discharge of one battery
in the same interval without changing the energy balance or the stored energy (the argument is
in :mod:`suandian.dispatch.constraints`), then nets import against export. :func:`check_invariants`
rebuilds every interval's energy balance and every battery's storage balance from a result and
raises if any law is broken; tests call it on every plan.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from suandian.core.errors import InfeasiblePlan
from suandian.dispatch.constraints import green_periods
from suandian.dispatch.diagnose import diagnose
from suandian.dispatch.problem import (
    DispatchInputs,
    DispatchProblem,
    DispatchResult,
    FlexPlan,
    Objective,
    SolveOutcome,
    build_problem,
    make_result,
)
from suandian.dispatch.rules import rule_dispatch

__all__ = [
    "NettedFlows",
    "check_invariants",
    "dispatch",
    "end_state_missed_note",
    "net_simultaneous",
    "netted_solution",
    "solve",
]

FloatArray = npt.NDArray[np.float64]

SIMULTANEOUS_TOL_MW = 1e-9
"""Below this, charge and discharge (or import and export) in one interval count as zero."""


def dispatch(
    inputs: DispatchInputs, objective: Objective = "cost", *, time_limit_s: float | None = None
) -> DispatchResult:
    """Plan the park's dispatch; fall back to the rules, with a diagnosis, if the LP fails.

    Parameters
    ----------
    inputs : DispatchInputs
    objective : {"cost", "carbon", "cost+carbon", "green"}
    time_limit_s : float, optional
        HiGHS time limit. [s]

    Returns
    -------
    DispatchResult
        ``method="lp"`` with the optimum, or ``method="rules"`` with ``diagnosis`` set when the
        LP is infeasible or HiGHS stops without an optimum.
    """
    problem = build_problem(inputs, objective)
    outcome = problem.run(time_limit_s=time_limit_s)
    if outcome.optimal:
        return _lp_result(problem, outcome)
    message = (
        diagnose(inputs).message if outcome.infeasible else _stopped_message(outcome, time_limit_s)
    )
    return rule_dispatch(
        inputs,
        objective,
        diagnosis=message,
        status=outcome.status,
        solve_time_s=outcome.solve_time_s,
    )


def solve(problem: DispatchProblem, *, time_limit_s: float | None = None) -> DispatchResult:
    """Solve a built (or updated) problem; raise :class:`InfeasiblePlan` if there is no optimum.

    The message of the error is the diagnosis of :func:`~suandian.dispatch.diagnose.diagnose`.
    An elastic problem (``build_problem(..., elastic=True)``) always solves; its shortfalls come
    back as ``unserved_mw`` and ``flex_unserved_mwh``.
    """
    outcome = problem.run(time_limit_s=time_limit_s)
    if outcome.optimal:
        return _lp_result(problem, outcome)
    if outcome.infeasible:
        raise InfeasiblePlan(diagnose(problem.inputs).message)
    raise InfeasiblePlan(_stopped_message(outcome, time_limit_s))


def _stopped_message(outcome: SolveOutcome, time_limit_s: float | None) -> str:
    limit = "" if time_limit_s is None else f" (time limit {time_limit_s:g} s)"
    return (
        f"HiGHS stopped with status {outcome.status!r}{limit} after {outcome.solve_time_s:.1f} s "
        "without an optimal plan; raise time_limit_s or plan a shorter horizon"
    )


def _lp_result(problem: DispatchProblem, outcome: SolveOutcome) -> DispatchResult:
    assert outcome.col_value is not None
    x = outcome.col_value
    inputs = problem.inputs
    netted = netted_solution(problem, inputs, x)
    notes: list[str] = []
    if netted.simultaneous_steps:
        notes.append(
            f"{netted.simultaneous_steps} interval(s) still charge and discharge one battery at "
            "once: stored energy had to be destroyed to reach a fixed end state"
        )
    flex = _lp_flex(problem, x)
    notes.extend(
        _direct_connection_notes(
            inputs, netted.generator_p_mw, netted.grid_export_mw, flex.total_mw(inputs.n_steps)
        )
    )
    unserved = flex_short = None
    if problem.elastic:
        unserved = problem.values("shortfall-load", x)
        flex_short = problem.values("shortfall-flex", x)
        notes.append("elastic form: requirements may fall short (see unserved_mw)")
    return make_result(
        inputs,
        problem.objective,
        method="lp",
        generator_p_mw=netted.generator_p_mw,
        battery_charge_mw=netted.battery_charge_mw,
        battery_discharge_mw=netted.battery_discharge_mw,
        battery_soe_mwh=problem.values("battery-soe", x),
        grid_import_mw=netted.grid_import_mw,
        grid_export_mw=netted.grid_export_mw,
        flex=flex,
        unserved_mw=unserved,
        flex_unserved_mwh=flex_short,
        status=outcome.status,
        solve_time_s=outcome.solve_time_s,
        solver_objective_value=outcome.solver_objective_value,
        elastic=problem.elastic,
        notes=notes,
    )


def _lp_flex(problem: DispatchProblem, x: FloatArray) -> FlexPlan:
    """The ``flex-p`` columns of ``x``, which exist only inside each load's window."""
    inputs = problem.inputs
    flex = FlexPlan.zeros(inputs.flex_release_step, inputs.flex_deadline_step)
    index = problem.lp.variables["flex-p"]
    flex.values_mw[:] = x[index.reshape(-1)[flex.rows() * inputs.n_steps + flex.positions()]]
    return flex


def _direct_connection_notes(
    inputs: DispatchInputs, gen: FloatArray, exp: FloatArray, flex_total_mw: FloatArray
) -> list[str]:
    """Direct-connection shares that the netted plan no longer holds (see constraints.py)."""
    dt_h = inputs.interval_h
    period = green_periods(inputs)
    n_p = int(period.max()) + 1
    use = np.bincount(period, weights=(gen.sum(axis=0) - exp) * dt_h, minlength=n_p)
    bases = (
        ("self-consumption", inputs.self_consumption_min_pu, inputs.available_mw.sum(axis=0)),
        ("on-site green share", inputs.onsite_green_min_pu, inputs.load_mw + flex_total_mw),
    )
    notes = []
    for label, share, base_t in bases:
        if share is None:
            continue
        need = share * np.bincount(period, weights=base_t * dt_h, minlength=n_p)
        tol = 1e-6 * max(1.0, float(need.max(initial=0.0)))
        short = int((use < need - tol).sum())
        if short:
            notes.append(
                f"{label} below {100 * share:g} % in {short} period(s) after netting "
                "simultaneous charge and discharge: the LP met it by battery losses"
            )
    return notes


# --- post-solve netting ---------------------------------------------------------------------------


@dataclass(frozen=True)
class NettedFlows:
    """Flows after :func:`net_simultaneous`; balance and stored energy are as before."""

    generator_p_mw: FloatArray
    battery_charge_mw: FloatArray
    battery_discharge_mw: FloatArray
    grid_import_mw: FloatArray
    grid_export_mw: FloatArray
    simultaneous_steps: int
    """(battery, interval) pairs that still charge and discharge at once."""


def netted_solution(problem: DispatchProblem, inputs: DispatchInputs, x: FloatArray) -> NettedFlows:
    """The LP solution ``x`` of ``problem`` with simultaneous flows netted (for ``inputs``)."""
    return net_simultaneous(
        inputs,
        generator_p_mw=problem.values("generator-p", x),
        battery_charge_mw=problem.values("battery-charge", x),
        battery_discharge_mw=problem.values("battery-discharge", x),
        grid_import_mw=problem.values("grid-import", x),
        grid_export_mw=problem.values("grid-export", x),
    )


def net_simultaneous(
    inputs: DispatchInputs,
    *,
    generator_p_mw: FloatArray,
    battery_charge_mw: FloatArray,
    battery_discharge_mw: FloatArray,
    grid_import_mw: FloatArray,
    grid_export_mw: FloatArray,
) -> NettedFlows:
    """Remove simultaneous charge/discharge and import/export without breaking any balance.

    Per battery and interval, charge falls by a and discharge by η·a (η the round-trip
    efficiency), with a = min(charge, discharge/η): the stored energy is unchanged because
    η_c·a = η·a/η_d. The (1 − η)·a MW this frees on the bus is absorbed by importing less, then
    exporting more (within the cap), then curtailing; where it cannot be absorbed in full, a is
    reduced so that it can. Finally import and export in one interval are netted. Vectorized
    over time; the loop runs over batteries.
    """
    gen = np.array(generator_p_mw, dtype=np.float64)
    charge = np.array(battery_charge_mw, dtype=np.float64)
    discharge = np.array(battery_discharge_mw, dtype=np.float64)
    imp = np.array(grid_import_mw, dtype=np.float64)
    exp = np.array(grid_export_mw, dtype=np.float64)
    export_room = np.maximum(inputs.export_cap_mw - exp, 0.0)
    for b, unit in enumerate(inputs.batteries):
        eta = unit.round_trip_efficiency_pu
        c, d = charge[b], discharge[b]
        a_full = np.minimum(c, d / eta)
        spare_per_mw = 1.0 - eta
        if spare_per_mw > 0:
            room = imp + export_room + gen.sum(axis=0)
            a = np.minimum(a_full, room / spare_per_mw)
        else:
            a = a_full
        a = np.where(a > 0.0, a, 0.0)
        complete = a >= a_full
        charge_smaller = c <= d / eta
        charge[b] = np.where(complete & charge_smaller, 0.0, np.maximum(c - a, 0.0))
        discharge[b] = np.where(complete & ~charge_smaller, 0.0, np.maximum(d - eta * a, 0.0))
        spare = spare_per_mw * a
        less_import = np.minimum(spare, imp)
        imp -= less_import
        spare -= less_import
        more_export = np.minimum(spare, export_room)
        exp += more_export
        export_room -= more_export
        spare -= more_export
        total = gen.sum(axis=0)
        cut = np.divide(spare, total, out=np.zeros_like(spare), where=total > 0)
        gen *= 1.0 - np.minimum(cut, 1.0)
    both = np.minimum(imp, exp)
    imp -= both
    exp -= both
    imp[imp < 0] = 0.0
    exp[exp < 0] = 0.0
    still = int((np.minimum(charge, discharge) > SIMULTANEOUS_TOL_MW).sum())
    return NettedFlows(gen, charge, discharge, imp, exp, still)


# --- invariants -----------------------------------------------------------------------------------


def end_state_missed_note(battery: str) -> str:
    """How a result's note begins when settling on realised data left ``battery`` off its end
    state (:func:`check_invariants` then does not hold it to that state)."""
    return f"battery {battery!r} ends off its end state"


def check_invariants(inputs: DispatchInputs, result: DispatchResult, tol: float = 1e-6) -> None:
    """Rebuild the physics from ``result`` and raise :class:`AssertionError` on any violation.

    Checked per interval: energy balance on the bus (with unserved load), each battery's
    storage balance, every bound (available output, power limits, stored energy, import
    limit, export cap, flexible windows, flexible groups' shared caps), each flexible load's
    energy, and for an LP plan its end states and green target (a rolling plan: its end
    states, unless a window fell back to the rules). Powers are compared to ``tol`` × the
    largest power in play, energies to ``tol`` × the largest energy. A broken invariant is a
    bug, not bad input.
    """
    n_t, dt_h = inputs.n_steps, inputs.interval_h
    problems: list[str] = []
    avail = inputs.available_mw
    powers = [inputs.load_mw, avail.sum(axis=0), result.grid_import_mw, result.grid_export_mw]
    p_scale = max([1.0, *(float(np.abs(a).max(initial=0.0)) for a in powers)])
    flex = result.flex
    p_scale = max(p_scale, flex.max_abs())
    p_scale = max(p_scale, sum(b.p_mw for b in inputs.batteries))
    e_scale = max(
        [1.0, *(b.e_mwh for b in inputs.batteries), *(f.energy_mwh for f in inputs.flexible_loads)]
    )
    atol_p, atol_e = tol * p_scale, tol * e_scale

    def check(name: str, bad: npt.NDArray[np.bool_], detail: npt.ArrayLike) -> None:
        bad_flat = np.asarray(bad).reshape(-1)
        if bad_flat.any():
            where = np.flatnonzero(bad_flat)
            worst = np.asarray(detail, dtype=np.float64).reshape(-1)[where]
            problems.append(
                f"{name}: {where.size} violation(s), first at flat index {where[0]} "
                f"(value {worst[0]:.3g})"
            )

    shapes = {
        "generator_p_mw": (avail.shape, result.generator_p_mw.shape),
        "battery_soe_mwh": ((len(inputs.batteries), n_t), result.battery_soe_mwh.shape),
        "grid_import_mw": ((n_t,), result.grid_import_mw.shape),
        "flex (rows)": ((len(inputs.flexible_loads),), flex.starts.shape),
    }
    for name, (want, got) in shapes.items():
        if want != got:
            raise AssertionError(f"{name}: shape {got}, expected {want}")

    gen, c, d = result.generator_p_mw, result.battery_charge_mw, result.battery_discharge_mw
    soe, imp, exp = result.battery_soe_mwh, result.grid_import_mw, result.grid_export_mw
    unserved = result.unserved_mw
    for name, arr in (
        ("generator_p_mw", gen),
        ("battery_charge_mw", c),
        ("battery_discharge_mw", d),
        ("grid_import_mw", imp),
        ("grid_export_mw", exp),
        ("flex_p_mw", flex.values_mw),
        ("unserved_mw", unserved),
    ):
        check(f"{name} ≥ 0", arr < -atol_p, arr)
    check("generator_p_mw ≤ available", gen > avail + atol_p, gen - avail)
    check(
        "curtailment = available − used",
        np.abs(result.generator_curtailment_mw - (avail - gen)) > atol_p,
        result.generator_curtailment_mw,
    )
    p_max = np.array([b.p_mw for b in inputs.batteries]).reshape(-1, 1)
    check("battery_charge_mw ≤ p_mw", c > p_max + atol_p, c - p_max)
    check("battery_discharge_mw ≤ p_mw", d > p_max + atol_p, d - p_max)
    e = np.array([b.e_mwh for b in inputs.batteries]).reshape(-1, 1)
    lo = np.array([b.soc_min_pu for b in inputs.batteries]).reshape(-1, 1) * e
    hi = np.array([b.soc_max_pu for b in inputs.batteries]).reshape(-1, 1) * e
    check("battery_soe_mwh ≥ soc_min", soe < lo - atol_e, soe - lo)
    check("battery_soe_mwh ≤ soc_max", soe > hi + atol_e, soe - hi)
    check("grid_import_mw ≤ limit", imp > inputs.import_cap_mw + atol_p, imp)
    check("grid_export_mw ≤ cap", exp > inputs.export_cap_mw + atol_p, exp)
    release, deadline = inputs.flex_release_step, inputs.flex_deadline_step
    check(
        "flex_p_mw held inside each load's window",
        (flex.starts < release) | (flex.stops > deadline),
        flex.starts,
    )
    flex_cap = np.repeat(
        np.array([f.p_max_mw for f in inputs.flexible_loads], dtype=np.float64), flex.lengths
    )
    check("flex_p_mw ≤ p_max_mw", flex.values_mw > flex_cap + atol_p, flex.values_mw - flex_cap)
    flex_total = flex.total_mw(n_t)
    if inputs.flex_groups:
        drawn = flex.sum_by(inputs.flex_group_of, len(inputs.flex_groups), n_t)
        cap = inputs.flex_group_cap_mw
        check("flexible group ≤ its cap per interval", drawn > cap + atol_p, drawn - cap)

    supply = gen.sum(axis=0) + imp + d.sum(axis=0) + unserved
    demand = inputs.load_mw + flex_total + c.sum(axis=0) + exp
    check("energy balance per interval", np.abs(supply - demand) > atol_p, supply - demand)

    if inputs.batteries:
        eta_c = np.array([b.efficiency_charge_pu for b in inputs.batteries]).reshape(-1, 1)
        eta_d = np.array([b.efficiency_discharge_pu for b in inputs.batteries]).reshape(-1, 1)
        e0 = np.array([b.soc_initial_pu * b.e_mwh for b in inputs.batteries]).reshape(-1, 1)
        before = np.hstack([e0, soe[:, :-1]])
        expected = before + eta_c * c * dt_h - d * dt_h / eta_d
        check("storage balance per interval", np.abs(soe - expected) > atol_e, soe - expected)

    energy = np.array([f.energy_mwh for f in inputs.flexible_loads], dtype=np.float64)
    served = flex.energy_mwh(dt_h) + result.flex_unserved_mwh
    check("flexible energy", np.abs(served - energy) > atol_e, served - energy)

    # A rolling plan whose windows all solved holds the end states; its unserved load is only
    # what realised data (≠ the forecast it planned on) left beyond the import limit.
    rolling_ok = result.method == "lp-rolling" and result.diagnosis is None
    if (result.method == "lp" and not result.elastic) or rolling_ok:
        if result.method == "lp":
            check("unserved load of an LP plan", unserved > atol_p, unserved)
        for i, b in enumerate(inputs.batteries):
            end_lo, end_hi = b.end_soe_bounds_mwh()
            end = soe[i, -1]
            if any(n.startswith(end_state_missed_note(b.name)) for n in result.notes):
                continue  # settled on realised data that left the battery nowhere to go
            if not end_lo - atol_e <= end <= end_hi + atol_e:
                problems.append(
                    f"battery {b.name!r} ends at {end:.6g} MWh outside [{end_lo:g}, {end_hi:g}]"
                )
        if inputs.green_target_pu is not None:
            period = green_periods(inputs)
            consumed = np.bincount(period, weights=(inputs.load_mw + flex_total) * dt_h)
            imported = np.bincount(period, weights=imp * dt_h)
            allowed = (1.0 - inputs.green_target_pu) * consumed
            check("green-match target per period", imported > allowed + atol_e, imported - allowed)

    if problems:
        raise AssertionError(
            f"dispatch plan ({result.method}) breaks {len(problems)} invariant(s):\n  "
            + "\n  ".join(problems)
        )
