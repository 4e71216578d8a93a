"""Why a dispatch plan is infeasible, said in words and numbers.

:func:`diagnose` first checks what needs no solver (a flexible load whose energy cannot fit
its window under its power cap and its group's shared cap), then solves the *elastic* form of
the LP: every requirement (load in each interval, flexible energy, battery end states, green
target, direct-connection shares) may fall short at a heavy penalty, ranked in that order: a
lower-ranked requirement gives way before a higher one, and earlier load shortfalls cost more
than later ones, so the elastic optimum serves every interval it can before it gives one up.
The first shortfall in time is reported with the numbers that explain it, for example::

    load 72 MW at 2025-01-15 19:00 (Asia/Shanghai) exceeds import limit 60 MW + available
    generation 3 MW + battery 0 MW (0 MWh stored above its minimum): 9 MW cannot be served

Times come from ``inputs.index_utc`` in Asia/Shanghai local time, or are given as step numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from suandian.core.times import LOCAL_TZ
from suandian.dispatch.constraints import green_periods
from suandian.dispatch.problem import DispatchInputs, DispatchProblem, build_problem

__all__ = ["Diagnosis", "DiagnosisKind", "diagnose"]

DiagnosisKind = Literal[
    "load",
    "flexible",
    "end-state",
    "green-target",
    "self-consumption",
    "onsite-green",
    "none",
    "solver",
]


@dataclass(frozen=True)
class Diagnosis:
    """The first requirement that cannot be met."""

    kind: DiagnosisKind
    step: int | None
    """Interval where it shows (the last interval for end states and whole-period targets)."""
    message: str

    def __str__(self) -> str:
        return self.message


def _num(x: float) -> str:
    """A number as a person would write it: 72, 9.5, 0.25, 1234."""
    if abs(x) < 5e-4:
        return "0"
    digits = 0 if abs(x) >= 100 else 1 if abs(x) >= 10 else 2
    text = f"{x:.{digits}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _when(inputs: DispatchInputs, step: int) -> str:
    if inputs.index_utc is None:
        return f"step {step}"
    local = inputs.index_utc[step].tz_convert(LOCAL_TZ)
    return f"{local:%Y-%m-%d %H:%M} (Asia/Shanghai)"


def _horizon_end(inputs: DispatchInputs) -> str:
    if inputs.index_utc is None:
        return f"the end of step {inputs.n_steps - 1}"
    end = inputs.index_utc[-1] + pd.Timedelta(hours=inputs.interval_h)
    return f"{end.tz_convert(LOCAL_TZ):%Y-%m-%d %H:%M} (Asia/Shanghai)"


def _span(inputs: DispatchInputs, first: int, end: int) -> str:
    """Describe the half-open window of steps [first, end)."""
    if inputs.index_utc is None:
        return f"steps [{first}, {end})"
    start = inputs.index_utc[first].tz_convert(LOCAL_TZ)
    stop = (inputs.index_utc[end - 1] + pd.Timedelta(hours=inputs.interval_h)).tz_convert(LOCAL_TZ)
    return f"{start:%Y-%m-%d %H:%M} to {stop:%Y-%m-%d %H:%M} (Asia/Shanghai)"


def diagnose(inputs: DispatchInputs) -> Diagnosis:
    """Find the first requirement of ``inputs`` that no plan can meet, and say why."""
    dt_h = inputs.interval_h
    group_cap = inputs.flex_group_cap_mw
    for f, g in zip(inputs.flexible_loads, inputs.flex_group_of.tolist(), strict=True):
        window = slice(f.release_step, f.deadline_step)
        fits_mwh = f.p_max_mw * (f.deadline_step - f.release_step) * dt_h
        if g >= 0:
            shared = np.minimum(group_cap[g, window], f.p_max_mw)
            group_mwh = float(shared.sum() * dt_h)
            if group_mwh < fits_mwh and f.energy_mwh > group_mwh * (1 + 1e-9) + 1e-9:
                name = inputs.flex_groups[g].name
                return Diagnosis(
                    "flexible",
                    f.deadline_step - 1,
                    f"flexible load {f.name!r} needs {_num(f.energy_mwh)} MWh inside "
                    f"{_span(inputs, f.release_step, f.deadline_step)}, but group {name!r} "
                    f"caps its members at {_num(float(group_cap[g, window].min()))}–"
                    f"{_num(float(group_cap[g, window].max()))} MW together there, so at most "
                    f"{_num(group_mwh)} MWh fit even with the group's other loads idle; raise "
                    f"group {name!r}'s cap, widen the window or lower the energy",
                )
        if f.energy_mwh > fits_mwh * (1 + 1e-9) + 1e-9:
            return Diagnosis(
                "flexible",
                f.deadline_step - 1,
                f"flexible load {f.name!r} needs {_num(f.energy_mwh)} MWh inside "
                f"{_span(inputs, f.release_step, f.deadline_step)}, but at most "
                f"{_num(fits_mwh)} MWh fit under its {_num(f.p_max_mw)} MW cap; widen its "
                "window, raise its power cap or lower its energy",
            )
    problem = build_problem(inputs, "cost", elastic=True)
    outcome = problem.run()
    if not outcome.optimal or outcome.col_value is None:
        return Diagnosis(
            "solver",
            None,
            f"the plan is infeasible and the relaxed plan could not be solved either (HiGHS: "
            f"{outcome.status}); check the inputs for extreme values",
        )
    found = _shortfalls(problem, outcome.col_value)
    if not found:
        return Diagnosis(
            "none",
            None,
            "HiGHS reported the plan infeasible, yet relaxing every requirement finds none short; "
            "this points to a numerical problem: check the inputs for extreme values",
        )
    found.sort(key=lambda d: (d.step if d.step is not None else inputs.n_steps, _ORDER[d.kind]))
    first = found[0]
    if len(found) > 1:
        return Diagnosis(
            first.kind,
            first.step,
            f"{first.message} (and {len(found) - 1} more requirement(s) cannot be met)",
        )
    return first


_ORDER: dict[DiagnosisKind, int] = {
    "load": 0,
    "flexible": 1,
    "end-state": 2,
    "green-target": 3,
    "self-consumption": 4,
    "onsite-green": 5,
    "none": 6,
    "solver": 7,
}


def _shortfalls(problem: DispatchProblem, x: np.ndarray) -> list[Diagnosis]:
    inputs = problem.inputs
    dt_h = inputs.interval_h
    scale = max(1.0, float(inputs.load_mw.max()), float(inputs.available_mw.sum(axis=0).max()))
    tol_mw = 1e-6 * scale
    out: list[Diagnosis] = []

    load_short = problem.values("shortfall-load", x)
    late = np.flatnonzero(load_short > tol_mw)
    if late.size:
        out.append(_load_message(problem, x, int(late[0]), float(load_short[late[0]])))

    flex = problem.values("flex-p", x)
    group = inputs.flex_group_of
    for i, f in enumerate(inputs.flexible_loads):
        short = float(problem.values("shortfall-flex", x)[i])
        if short > tol_mw * dt_h:
            got = float(flex[i].sum() * dt_h)
            why = (
                _group_text(inputs, flex, i, int(group[i]))
                if group[i] >= 0
                else "the import limit, generation and storage allow no more then"
            )
            out.append(
                Diagnosis(
                    "flexible",
                    f.deadline_step - 1,
                    f"flexible load {f.name!r} can receive only {_num(got)} of its "
                    f"{_num(f.energy_mwh)} MWh inside "
                    f"{_span(inputs, f.release_step, f.deadline_step)} once the fixed load is "
                    f"served: {why}; widen the window or lower the energy",
                )
            )

    soe = problem.values("battery-soe", x)
    low = problem.values("shortfall-soe-low", x)
    high = problem.values("shortfall-soe-high", x)
    for i, b in enumerate(inputs.batteries):
        target_lo, target_hi = b.end_soe_bounds_mwh()
        if low[i] > tol_mw * dt_h:
            out.append(
                Diagnosis(
                    "end-state",
                    inputs.n_steps - 1,
                    f"battery {b.name!r} cannot end at {_num(target_lo)} MWh "
                    f"({_num(100 * target_lo / b.e_mwh)} % of {_num(b.e_mwh)} MWh): with the "
                    f"loads served it reaches at most {_num(float(soe[i, -1]))} MWh by "
                    f"{_horizon_end(inputs)}; lower the end state or use "
                    "end_soc='free'",
                )
            )
        if high[i] > tol_mw * dt_h:
            out.append(
                Diagnosis(
                    "end-state",
                    inputs.n_steps - 1,
                    f"battery {b.name!r} cannot come down to {_num(target_hi)} MWh "
                    f"({_num(100 * target_hi / b.e_mwh)} % of {_num(b.e_mwh)} MWh): with the "
                    f"loads served it still holds {_num(float(soe[i, -1]))} MWh at "
                    f"{_horizon_end(inputs)}; raise the end state or use "
                    "end_soc='free'",
                )
            )

    if inputs.green_target_pu is not None and "shortfall-green" in problem.lp.variables:
        period = green_periods(inputs)
        green_short = problem.values("shortfall-green", x)
        imp = problem.values("grid-import", x)
        consumed = (inputs.load_mw + flex.sum(axis=0)) * dt_h
        for p in np.flatnonzero(green_short > tol_mw * dt_h):
            steps = np.flatnonzero(period == p)
            total = float(consumed[steps].sum())
            best = 1.0 - float(imp[steps].sum() * dt_h) / total if total > 0 else 1.0
            out.append(
                Diagnosis(
                    "green-target",
                    int(steps[-1]),
                    f"green-match target {100 * inputs.green_target_pu:g} % cannot be met "
                    f"over {_span(inputs, int(steps[0]), int(steps[-1]) + 1)}: at best "
                    f"{_num(100 * best)} % of the {_num(total)} MWh consumed comes from on "
                    "site with the loads served and the end states held; lower the target or "
                    "add on-site generation or storage",
                )
            )
    out.extend(_direct_connection_shortfalls(problem, x, tol_mw * dt_h))
    return out


def _group_text(inputs: DispatchInputs, flex: np.ndarray, i: int, g: int) -> str:
    """Why a grouped flexible load falls short: its group's cap, and what others take of it."""
    f = inputs.flexible_loads[i]
    window = slice(f.release_step, f.deadline_step)
    cap = inputs.flex_group_cap_mw[g, window]
    members = np.flatnonzero(inputs.flex_group_of == g)
    others = members[members != i]
    taken = float(flex[others][:, window].sum() * inputs.interval_h) if others.size else 0.0
    full = int((flex[members][:, window].sum(axis=0) >= cap - 1e-6).sum())
    name = inputs.flex_groups[g].name
    return (
        f"group {name!r} caps its members at {_num(float(cap.min()))}–{_num(float(cap.max()))} "
        f"MW together ({_num(float(cap.sum() * inputs.interval_h))} MWh over the window, "
        f"{_num(taken)} MWh of it taken by the group's other loads, the cap reached in "
        f"{full} of {cap.size} intervals), or the import limit, generation and storage "
        f"allow no more then; raise group {name!r}'s cap"
    )


def _period_text(inputs: DispatchInputs, steps: np.ndarray) -> str:
    """``on 2025-07-01`` for an Asia/Shanghai day, else ``over <span>``."""
    first, end = int(steps[0]), int(steps[-1]) + 1
    if inputs.green_target_period == "day" and inputs.index_utc is not None:
        return f"on {inputs.index_utc[first].tz_convert(LOCAL_TZ):%Y-%m-%d}"
    return f"over {_span(inputs, first, end)}"


def _direct_connection_shortfalls(
    problem: DispatchProblem, x: np.ndarray, tol_mwh: float
) -> list[Diagnosis]:
    inputs = problem.inputs
    dt_h = inputs.interval_h
    period = green_periods(inputs)
    n_p = int(period.max()) + 1
    use_t = problem.values("generator-p", x).sum(axis=0) - problem.values("grid-export", x)
    use = np.bincount(period, weights=use_t * dt_h, minlength=n_p)
    flex = problem.values("flex-p", x).sum(axis=0)
    checks: list[tuple[DiagnosisKind, float | None, np.ndarray, str, str]] = [
        (
            "self-consumption",
            inputs.self_consumption_min_pu,
            inputs.available_mw.sum(axis=0),
            "self-consumption {ratio} % of available output {when} is below the required "
            "{share} %: at most {got} of the {total} MWh available can be used on site",
            "add load, flexible load or storage on site, or lower the share",
        ),
        (
            "onsite-green",
            inputs.onsite_green_min_pu,
            inputs.load_mw + flex,
            "on-site green share {ratio} % of consumption {when} is below the required "
            "{share} %: on-site output covers at most {got} of the {total} MWh consumed",
            "add on-site generation or storage, or lower the share",
        ),
    ]
    out: list[Diagnosis] = []
    for kind, share, base_t, template, fix in checks:
        name = f"shortfall-{kind}"
        if share is None or name not in problem.lp.variables:
            continue
        base = np.bincount(period, weights=base_t * dt_h, minlength=n_p)
        short = problem.values(name, x)
        for p in np.flatnonzero(short > tol_mwh):
            steps = np.flatnonzero(period == p)
            total, got = float(base[p]), float(use[p])
            text = template.format(
                ratio=_num(100 * (got / total if total > 0 else 1.0)),
                when=_period_text(inputs, steps),
                share=_num(100 * share),
                got=_num(got),
                total=_num(total),
            )
            out.append(
                Diagnosis(
                    kind,
                    int(steps[-1]),
                    f"{text} with the loads served and the end states held; {fix}",
                )
            )
    return out


def _load_message(problem: DispatchProblem, x: np.ndarray, t: int, short_mw: float) -> Diagnosis:
    inputs = problem.inputs
    dt_h = inputs.interval_h
    load = float(inputs.load_mw[t])
    flex_now = float(problem.values("flex-p", x)[:, t].sum())
    avail = float(inputs.available_mw[:, t].sum())
    limit = inputs.grid.import_limit_mw
    limit_text = "no import limit" if limit is None else f"import limit {_num(limit)} MW"
    soe = problem.values("battery-soe", x)
    stored = 0.0
    deliverable = 0.0
    for i, b in enumerate(inputs.batteries):
        before = b.soc_initial_pu * b.e_mwh if t == 0 else float(soe[i, t - 1])
        above_min = max(before - b.soc_min_pu * b.e_mwh, 0.0)
        stored += above_min
        deliverable += min(b.p_mw, above_min * b.efficiency_discharge_pu / dt_h)
    flex_text = f" (+ {_num(flex_now)} MW of flexible load due then)" if flex_now > 1e-6 else ""
    return Diagnosis(
        "load",
        t,
        f"load {_num(load)} MW{flex_text} at {_when(inputs, t)} exceeds {limit_text} + "
        f"available generation {_num(avail)} MW + battery {_num(deliverable)} MW "
        f"({_num(stored)} MWh stored above its minimum): {_num(short_mw)} MW cannot be served; "
        "raise the import limit, add generation or storage, or make part of the load flexible",
    )
