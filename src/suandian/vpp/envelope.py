"""Flexibility envelopes: how far the park can lower or raise its draw over a window, exactly.

A demand-response event asks for Δ MW less (削峰, ``reduce``) or more (填谷, ``increase``) draw
in every interval of a window ``[first_step, end_step)``. What the park can offer depends on
everything around the window: a battery can only discharge what it holds (or can charge before
the window and must recharge after it to meet its end state), a deferrable load can only move
energy to intervals of its own window, shared caps and the grid tie limit both. The dispatch
LP already knows all of that, so the envelope is the dispatch LP with one more column and a few
more rows (added through ``build_problem(..., extra=…)``):

- ``envelope-delta``: Δ ≥ 0 [MW], maximised;
- ``envelope-resource`` (R, T): s·q_r[t] + Δ ≤ s·q̄_r[t], one resource r alone, where q is its
  consumption (battery: charge − discharge; flexible load: its power), q̄ that of the plan,
  and s = +1 to reduce, −1 to increase;
- ``envelope-set`` (T,): the same for the sum over the chosen resources (the portfolio);
- ``envelope-exchange`` (T,): the same for the park's net grid exchange, import − export =
  load + Σ flex + Σ charge − Σ discharge − Σ generation, so that the shift reaches the meter
  and other resources do not undo it;
- ``envelope-generation`` (G, T): generation ≥ the plan's, i.e. no more curtailment than
  planned: curtailing green power must never count as filling the valley.

The rows exist for every interval and stay free (−∞ … ∞) except inside the window and for the
question asked, so one LP answers every resource, the portfolio and every window of a profile
by changing row bounds, each solve starting warm from the previous basis. Everything outside
and inside the window is re-planned as the LP allows: stored energy within its bounds and its
end state, every flexible load's energy inside its own window (deadlines kept), group caps,
import and export limits.

**Why a Δ column and not bisection.** The largest Δ is the optimum of one LP (maximise Δ
subject to the rows above), so one solve gives it to the solver's tolerance; bisection on
feasibility would need ~20 solves for the same precision. The replay is a second solve: Δ is
held at its maximum (less 10⁻⁹ relative) and the plan's own objective is restored, so the replay
is the cheapest plan that delivers the envelope.

**One binary per battery and interval of the window, when raising consumption.** An LP cannot
forbid one battery from charging and discharging in the same interval; doing both destroys
(1 − η) of the energy, so a full battery could "absorb" (1 − η)·p MW when asked to raise its
draw, which no real battery can (the dispatch nets such flows after solving,
:func:`~suandian.dispatch.solve.net_simultaneous`, and the replay would then fall short). For
``increase`` the envelope adds ``envelope-charging`` (B, T) binaries, active inside the window
only: charge ≤ p·u and discharge ≤ p·(1 − u). That makes the questions small MIPs (B × window
binaries) that HiGHS solves to a zero gap, but only when needed: each question is first solved
as the LP (a relaxation), and only if its optimum charges and discharges a battery at once
inside the window is it solved again with the binaries. Outside the window simultaneous flows
are harmless: netting them keeps every stored energy and only turns the destroyed energy into
less import, more export or curtailment there. Lowering consumption never gains from destroying
energy, so ``reduce`` stays an LP. As a guard, the envelope reports what the netted replay
delivers if that is less than the solver's Δ, and says so in ``notes``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import highspy
import numpy as np
import numpy.typing as npt

from suandian.core.errors import InfeasiblePlan, InputError
from suandian.dispatch import DispatchInputs, DispatchProblem, DispatchResult, build_problem, solve
from suandian.dispatch.constraints import LinearProblem
from suandian.dispatch.problem import SolveOutcome
from suandian.vpp.settlement import Direction, direction_sign

__all__ = ["Envelope", "Held", "envelope_profile", "flexibility_envelope", "replay_envelope"]

FloatArray = npt.NDArray[np.float64]

ROW_SLACK_MW = 1e-7
"""Slack on the plan's own values in the window rows, so that the plan (netted, rounded) is
always feasible at Δ = 0; of the order of HiGHS's primal tolerance, and taken off the Δ
reported. [MW]"""
HOLD_REL = 1e-9
"""The replay holds Δ at its maximum less this share (and less this many MW)."""
SIMULTANEOUS_TOL_MW = 1e-7
"""Charge and discharge of one battery in one interval both above this count as simultaneous."""
DELIVERED_TOL_MW = 1e-6
"""A replay that falls short of Δ by more than this in some interval is reported. [MW]"""
MIP_OPTIONS: dict[str, float] = {"mip_rel_gap": 0.0, "mip_abs_gap": 1e-9}
"""With the batteries' binaries (raising consumption), solve to the optimum, not to HiGHS's
default 10⁻⁴ gap, so that Δ is exact to the solver's tolerances."""


@dataclass(frozen=True)
class Envelope:
    """The flexibility a park can offer over one window, and the plan that delivers it."""

    direction: Direction
    first_step: int
    end_step: int
    """Exclusive."""
    duration_h: float
    """How long Δ is held: the window's length. [h]"""
    resources: tuple[str, ...]
    """Names of the batteries and flexible loads offered."""
    resource_mw: Mapping[str, float]
    """Δ each resource can hold alone in every interval of the window (the rest of the park
    re-plans around it, and the grid exchange moves by at least as much); empty when asked
    without ``per_resource``. [MW]"""
    portfolio_mw: float
    """Δ the chosen resources can hold together in every interval of the window. [MW]"""
    replay: DispatchResult
    """The re-planned dispatch that delivers ``portfolio_mw``."""
    delivered_mw: FloatArray
    """(end_step − first_step,) shift the replay delivers in each interval of the window, the
    least of the resources' and the grid exchange's (≥ ``portfolio_mw``). [MW]"""
    notes: tuple[str, ...] = ()
    margin_mw: float = 0.0
    """Against a ``reference_mw``: the largest Δ before clipping at 0; negative by how far the
    meter stays short of the reference at best. Equal to ``portfolio_mw`` otherwise. [MW]"""


def _check_window(inputs: DispatchInputs, first_step: int, end_step: int) -> None:
    n_t = inputs.n_steps
    if not 0 <= first_step < end_step <= n_t:
        raise InputError(
            f"window [{first_step}, {end_step}): need 0 ≤ first_step < end_step ≤ {n_t} "
            "(the plan's number of intervals)"
        )


def _resolve_resources(inputs: DispatchInputs, resources: Sequence[str] | None) -> tuple[str, ...]:
    known = [b.name for b in inputs.batteries] + [f.name for f in inputs.flexible_loads]
    if resources is None:
        return tuple(known)
    chosen = tuple(dict.fromkeys(resources))
    if not chosen:
        raise InputError("resources: empty; name at least one battery or flexible load")
    unknown = [r for r in chosen if r not in known]
    if unknown:
        raise InputError(
            f"resources: {', '.join(map(repr, unknown))} is not a battery or flexible load of "
            f"the inputs (known: {', '.join(known) or 'none'})"
        )
    return chosen


Held = tuple[int, int, Direction]
"""A window of the plan to keep: ``(first_step, end_step, direction)``. The envelope and the
replay keep the park's grid exchange there at least as far shifted as the plan has it (no
higher for ``reduce``, no lower for ``increase``; both where windows of both kinds overlap) and
its generation at least the plan's, so that answering a new event never undoes an accepted
one (nor moves the hours its baseline's day-of adjustment reads)."""


def _check_held(inputs: DispatchInputs, held: Sequence[Held]) -> tuple[Held, ...]:
    out: list[Held] = []
    for i, (first, end, direction) in enumerate(held):
        if not 0 <= first < end <= inputs.n_steps:
            raise InputError(
                f"held[{i}]: window [{first}, {end}) is outside the plan's "
                f"{inputs.n_steps} intervals"
            )
        direction_sign(direction)
        out.append((int(first), int(end), direction))
    return tuple(out)


def _check_reference(inputs: DispatchInputs, reference_mw: FloatArray) -> FloatArray:
    ref = np.asarray(reference_mw, dtype=np.float64)
    if ref.shape != (inputs.n_steps,):
        raise InputError(
            f"reference_mw: {ref.shape} values; give {inputs.n_steps}, the meter's reference "
            "(import − export) for every interval of the plan"
        )
    if not np.isfinite(ref).all():
        raise InputError("reference_mw: every value must be a finite number of MW")
    return ref


def _check_plan(inputs: DispatchInputs, plan: DispatchResult) -> None:
    n_t = inputs.n_steps
    shapes = (
        plan.grid_import_mw.shape == (n_t,),
        plan.battery_charge_mw.shape == (len(inputs.batteries), n_t),
        plan.generator_p_mw.shape == (len(inputs.generators), n_t),
        plan.flex.starts.shape == (len(inputs.flexible_loads),),
    )
    if not all(shapes):
        raise InputError("plan: its shape does not match the inputs; give the plan made for them")


class _EnvelopeLp:
    """The dispatch LP with the envelope's column and rows, switched on per question."""

    def __init__(
        self,
        inputs: DispatchInputs,
        plan: DispatchResult,
        *,
        direction: Direction,
        resources: tuple[str, ...],
        held: Sequence[Held] = (),
        reference_mw: FloatArray | None = None,
        fixed_steps: int = 0,
    ) -> None:
        _check_plan(inputs, plan)
        if not resources:
            raise InputError(
                "the inputs have no battery or flexible load: there is nothing to offer"
            )
        self.inputs = inputs
        self.sign = direction_sign(direction)
        self.resources = resources
        n_t = inputs.n_steps
        self.held = _check_held(inputs, held)
        b_names = [b.name for b in inputs.batteries]
        f_names = [f.name for f in inputs.flexible_loads]
        battery_q = plan.battery_charge_mw - plan.battery_discharge_mw
        flex_q = plan.flex.dense(n_t)
        self.resource_q = np.vstack(
            [
                battery_q[b_names.index(r)] if r in b_names else flex_q[f_names.index(r)]
                for r in resources
            ]
        ).reshape(len(resources), n_t)
        self.exchange = plan.grid_import_mw - plan.grid_export_mw - inputs.load_mw
        self.metered = reference_mw is not None
        self.reference = (
            self.exchange
            if reference_mw is None
            else _check_reference(inputs, reference_mw) - inputs.load_mw
        )
        self.generation = plan.generator_p_mw
        self._b_index = [b_names.index(r) for r in resources if r in b_names]
        self._f_index = [f_names.index(r) for r in resources if r in f_names]
        self.problem: DispatchProblem = build_problem(inputs, plan.objective, extra=(self._define,))
        lp = self.problem.lp
        self._fix_past(plan, fixed_steps)
        self.delta_col = int(lp.variables["envelope-delta"][0])
        names = [
            "envelope-resource",
            "envelope-set",
            "envelope-exchange",
            "envelope-generation",
            "envelope-held",
        ]
        if self.sign < 0:
            names += ["envelope-mode-charge", "envelope-mode-discharge"]
            for option, value in MIP_OPTIONS.items():
                self.problem.highs.setOptionValue(option, value)
        self.rows = {name: lp.constraints[name] for name in names}
        self.all_rows = np.concatenate([r.reshape(-1) for r in self.rows.values()]).astype(np.int32)
        self.cost = lp.col_cost.copy()
        self.stage = "replay"

    def _fix_past(self, plan: DispatchResult, fixed_steps: int) -> None:
        """Hold every decision of the first ``fixed_steps`` intervals at the plan's value: they
        have begun (an intraday answer cannot re-plan what already happened)."""
        n_t = self.inputs.n_steps
        if not 0 <= fixed_steps <= n_t:
            raise InputError(f"fixed_steps: {fixed_steps}; need 0 … {n_t}")
        if fixed_steps == 0:
            return
        v = self.problem.lp.variables
        planned = {
            "battery-charge": plan.battery_charge_mw,
            "battery-discharge": plan.battery_discharge_mw,
            "generator-p": plan.generator_p_mw,
            "grid-export": plan.grid_export_mw,
            "flex-p": plan.flex.dense(n_t),
        }
        cols: list[npt.NDArray[np.int64]] = []
        values: list[FloatArray] = []
        for name, value in planned.items():
            index = np.asarray(v[name])[..., :fixed_steps].reshape(-1)
            held = np.asarray(value, dtype=np.float64)[..., :fixed_steps].reshape(-1)
            cols.append(index[index >= 0])
            values.append(held[index >= 0])
        col = np.concatenate(cols).astype(np.int32)
        val = np.concatenate(values)
        self.problem.highs.changeColsBounds(col.size, col, val, val)

    def _define(self, lp: LinearProblem, inputs: DispatchInputs) -> None:
        """``envelope-delta``, the row blocks of the module docstring (all free) and, to raise
        consumption, the batteries' mode columns and rows."""
        v = lp.variables
        s, n_t = self.sign, inputs.n_steps
        # Against a metered reference Δ may be negative (the park cannot reach it).
        delta = lp.add_variables(
            "envelope-delta", np.full(1, -np.inf if self.metered else 0.0), np.inf
        )
        charge, discharge, flex = v["battery-charge"], v["battery-discharge"], v["flex-p"]
        n_r = len(self.resources)
        per = lp.add_constraints("envelope-resource", np.full((n_r, n_t), -np.inf), np.inf)
        both = lp.add_constraints("envelope-set", np.full(n_t, -np.inf), np.inf)
        exchange = lp.add_constraints("envelope-exchange", np.full(n_t, -np.inf), np.inf)
        held = lp.add_constraints("envelope-held", np.full(n_t, -np.inf), np.inf)
        n_g = len(inputs.generators)
        lp.add_constraints("envelope-generation", np.full((n_g, n_t), -np.inf), np.inf)
        lp.add_terms(lp.constraints["envelope-generation"], v["generator-p"], 1.0)
        b_names = [b.name for b in inputs.batteries]
        f_names = [f.name for f in inputs.flexible_loads]
        for i, name in enumerate(self.resources):
            if name in b_names:
                b = b_names.index(name)
                terms = [(charge[b], s), (discharge[b], -s)]
            else:
                terms = [(flex[f_names.index(name)], s)]
            for cols, coeff in terms:
                lp.add_terms(per[i], cols, coeff)
                lp.add_terms(both, cols, coeff)
        for cols_block, coeff in (
            (flex, s),
            (charge, s),
            (discharge, -s),
            (v["generator-p"], -s),
        ):
            lp.add_terms(exchange[np.newaxis, :], cols_block, coeff)
            lp.add_terms(held[np.newaxis, :], cols_block, coeff / s)
        for rows in (per, both, exchange):
            lp.add_terms(rows, delta[0], 1.0)
        if s < 0:
            # Raising consumption: one binary per battery and interval says which way it runs
            # (switched on inside the window only; see the module docstring).
            n_b = len(inputs.batteries)
            p = np.array([b.p_mw for b in inputs.batteries], dtype=np.float64).reshape(n_b, 1)
            mode = lp.add_variables("envelope-charging", np.zeros((n_b, n_t)), 1.0)
            free = np.full((n_b, n_t), np.inf)
            on_c = lp.add_constraints("envelope-mode-charge", -free, free)
            lp.add_terms(on_c, charge, 1.0)
            lp.add_terms(on_c, mode, -p)
            on_d = lp.add_constraints("envelope-mode-discharge", -free, free)
            lp.add_terms(on_d, discharge, 1.0)
            lp.add_terms(on_d, mode, p)

    def can_move(self, which: int, first_step: int, end_step: int) -> bool:
        """Whether resource ``which`` can shift at all in every interval of the window: a
        flexible load draws nothing outside its own window, so it cannot lower or raise its
        draw throughout an event window that it does not cover (Δ = 0 without a solve)."""
        flex = {f.name: f for f in self.inputs.flexible_loads}
        load = flex.get(self.resources[which])
        return load is None or (load.release_step <= first_step and end_step <= load.deadline_step)

    # --- questions --------------------------------------------------------------------------

    def _activate(self, first_step: int, end_step: int, which: int | None) -> None:
        """Switch on the window's rows for resource ``which`` (index), or the set (``None``)."""
        s, n_t = self.sign, self.inputs.n_steps
        window = np.zeros(n_t, dtype=bool)
        window[first_step:end_step] = True
        n_r = len(self.resources)
        lower: dict[str, FloatArray] = {}
        upper: dict[str, FloatArray] = {}
        upper["envelope-resource"] = np.full((n_r, n_t), np.inf)
        if which is not None:
            upper["envelope-resource"][which] = np.where(
                window, s * self.resource_q[which] + ROW_SLACK_MW, np.inf
            )
        set_q = self.resource_q.sum(axis=0)
        upper["envelope-set"] = (
            np.where(window, s * set_q + ROW_SLACK_MW, np.inf)
            if which is None and not self.metered
            else np.full(n_t, np.inf)
        )
        upper["envelope-exchange"] = np.where(window, s * self.reference + ROW_SLACK_MW, np.inf)
        upper["envelope-generation"] = np.full(self.generation.shape, np.inf)
        # Commitments already made: the meter stays at least as far shifted as in the plan.
        held_up = np.zeros(n_t, dtype=bool)  # meter no higher than the plan's
        held_down = np.zeros(n_t, dtype=bool)  # meter no lower than the plan's
        for first, end, direction in self.held:
            (held_up if direction == "reduce" else held_down)[first:end] = True
        lower["envelope-held"] = np.where(held_down, self.exchange - ROW_SLACK_MW, -np.inf)
        upper["envelope-held"] = np.where(held_up, self.exchange + ROW_SLACK_MW, np.inf)
        if "envelope-mode-charge" in self.rows:
            p = np.array([b.p_mw for b in self.inputs.batteries]).reshape(-1, 1)
            upper["envelope-mode-charge"] = np.where(window, 0.0, np.inf) + 0.0 * p
            upper["envelope-mode-discharge"] = np.where(window, p, np.inf)
        self.window = window
        lower["envelope-generation"] = np.where(
            window | held_up | held_down, self.generation - ROW_SLACK_MW, -np.inf
        ).reshape(self.generation.shape)
        lo = np.concatenate(
            [
                lower.get(name, np.full(rows.shape, -np.inf)).reshape(-1)
                for name, rows in self.rows.items()
            ]
        )
        hi = np.concatenate([upper[name].reshape(-1) for name in self.rows])
        inf = 1e30  # HiGHS's infinity
        self.problem.highs.changeRowsBounds(  # type: ignore[attr-defined]
            self.all_rows.size, self.all_rows, np.clip(lo, -inf, inf), np.clip(hi, -inf, inf)
        )

    def _integrality(self, window: npt.NDArray[np.bool_] | None) -> None:
        """Make the batteries' mode columns binary inside ``window`` (``None``: nowhere)."""
        if self.sign > 0:
            return
        mode = self.problem.lp.variables["envelope-charging"]
        on = np.zeros(self.inputs.n_steps, dtype=bool) if window is None else window
        kind = np.where(
            on, int(highspy.HighsVarType.kInteger), int(highspy.HighsVarType.kContinuous)
        )
        kinds = np.broadcast_to(kind, mode.shape).astype(np.uint8).reshape(-1)
        self.problem.highs.changeColsIntegrality(
            mode.size, mode.reshape(-1).astype(np.int32), kinds
        )

    def _run(self) -> SolveOutcome:
        """Solve the LP; when raising consumption and its optimum charges and discharges a
        battery at once inside the window, solve again with the window's binaries.

        The LP is a relaxation of the MIP, so an LP optimum without simultaneous flows in the
        window is the MIP's optimum too, and most questions need no branching.
        """
        self._integrality(None)
        outcome = self.problem.run()
        if self.sign > 0 or not self.inputs.batteries or outcome.col_value is None:
            return outcome
        x = outcome.col_value
        both = np.minimum(
            self.problem.values("battery-charge", x), self.problem.values("battery-discharge", x)
        )
        if not (both[:, self.window] > SIMULTANEOUS_TOL_MW).any():
            return outcome
        self._integrality(self.window)
        return self.problem.run()

    def _set_stage(self, stage: str) -> None:
        if stage == self.stage:
            return
        h = self.problem.highs
        n = self.cost.size
        cols = np.arange(n, dtype=np.int32)
        if stage == "max":
            cost = np.zeros(n)
            cost[self.delta_col] = -1.0
        else:
            cost = self.cost
        h.changeColsCost(n, cols, cost)
        self.stage = stage

    def max_delta(self, first_step: int, end_step: int, which: int | None) -> float:
        """The largest Δ for resource ``which`` (or the set) over the window; negative only
        against a metered reference the park cannot reach. [MW]"""
        self._activate(first_step, end_step, which)
        self._set_stage("max")
        # Against a metered reference the park may not even reach it: Δ < 0, reported as 0.
        self.problem.highs.changeColBounds(self.delta_col, -1e30 if self.metered else 0.0, 1e30)
        outcome = self._run()
        if not outcome.optimal or outcome.col_value is None:
            raise InfeasiblePlan(
                f"flexibility envelope over [{first_step}, {end_step}): the LP answered "
                f"{outcome.status!r} even at Δ = 0; the plan does not satisfy the inputs' "
                "requirements (give an LP plan made for these inputs)"
            )
        return float(outcome.col_value[self.delta_col]) - ROW_SLACK_MW

    def replay(self, first_step: int, end_step: int, delta_mw: float) -> DispatchResult:
        """The cheapest plan holding Δ ≥ ``delta_mw`` for the set over the window."""
        self._activate(first_step, end_step, None)
        self._set_stage("replay")
        self.problem.highs.changeColBounds(self.delta_col, delta_mw, 1e30)
        outcome = self._run()
        if not outcome.optimal:
            raise InfeasiblePlan(
                f"flexibility envelope: the resources cannot hold Δ = {delta_mw:.6g} MW in every "
                f"interval of [{first_step}, {end_step}) (LP status {outcome.status!r})"
            )
        return solve(self.problem)  # the same model again: no further iterations

    def delivered(self, result: DispatchResult, first_step: int, end_step: int) -> FloatArray:
        """(window,) shift ``result`` delivers: the least of the set's and the exchange's. [MW]"""
        s, n_t = self.sign, self.inputs.n_steps
        sl = slice(first_step, end_step)
        b = self._b_index
        q = (result.battery_charge_mw[b] - result.battery_discharge_mw[b]).sum(axis=0)
        q = q + result.flex.dense(n_t)[self._f_index].sum(axis=0)
        by_set = s * (self.resource_q.sum(axis=0) - q)[sl]
        exchange = result.grid_import_mw - result.grid_export_mw - self.inputs.load_mw
        extra_curtailment = np.maximum(self.generation - result.generator_p_mw, 0.0).sum(axis=0)
        by_grid = s * (self.reference - exchange)[sl] - extra_curtailment[sl]
        if self.metered:
            return np.asarray(by_grid, dtype=np.float64)
        return np.asarray(np.minimum(by_set, by_grid), dtype=np.float64)


def _envelope_lp(
    inputs: DispatchInputs,
    plan: DispatchResult,
    first_step: int,
    end_step: int,
    direction: Direction,
    resources: Sequence[str] | None,
    held: Sequence[Held],
    reference_mw: FloatArray | None,
    fixed_steps: int,
) -> _EnvelopeLp:
    """The envelope LP for one window's questions, after checking the window and resources."""
    _check_window(inputs, first_step, end_step)
    return _EnvelopeLp(
        inputs,
        plan,
        direction=direction,
        resources=_resolve_resources(inputs, resources),
        held=held,
        reference_mw=reference_mw,
        fixed_steps=fixed_steps,
    )


def flexibility_envelope(
    inputs: DispatchInputs,
    plan: DispatchResult,
    *,
    first_step: int,
    end_step: int,
    direction: Direction,
    resources: Sequence[str] | None = None,
    held: Sequence[Held] = (),
    reference_mw: FloatArray | None = None,
    fixed_steps: int = 0,
    per_resource: bool = True,
) -> Envelope:
    """The largest Δ the park can lower or raise its draw by in every interval of a window.

    Parameters
    ----------
    inputs : DispatchInputs
        What ``plan`` was made for.
    plan : DispatchResult
        The plan Δ is measured against (an LP plan of ``inputs``; its objective is the replay's).
    first_step, end_step : int
        The window ``[first_step, end_step)`` in intervals of ``inputs``.
    direction : {"reduce", "increase"}
        削峰 (lower consumption) or 填谷 (raise it).
    resources : sequence of str, optional
        Names of the batteries and flexible loads offered; all of them by default.
    held : sequence of (first_step, end_step, direction)
        Windows of commitments already in ``plan`` that any re-plan must keep (see
        :data:`Held`).
    reference_mw : (T,) array, optional
        Measure the meter's shift against this import − export (e.g. a settlement baseline)
        instead of the plan's, and ask only the meter to move: Δ is then what the park can
        commit against that reference (0 if it cannot reach it). Inside the window only. The
        ``envelope-set`` rows are then off: only the meter is asked to move. [MW]
    fixed_steps : int
        The first intervals have begun: every decision in them stays as planned (default 0).
    per_resource : bool
        Also answer each resource alone (one solve each); ``False`` leaves ``resource_mw``
        empty, for callers that need only the portfolio and its replay.

    Returns
    -------
    Envelope
        Δ per resource and for the portfolio [MW], the window's length [h], and the replay: the
        re-planned dispatch delivering the portfolio's Δ.

    Raises
    ------
    InputError
        A window outside the plan, an unknown direction or resource, a plan of other inputs.
    InfeasiblePlan
        The plan itself does not satisfy the inputs (e.g. a rule-based plan with unserved load).
    """
    env = _envelope_lp(
        inputs, plan, first_step, end_step, direction, resources, held, reference_mw, fixed_steps
    )
    chosen = env.resources
    per = (
        {
            name: max(env.max_delta(first_step, end_step, i), 0.0)
            if env.can_move(i, first_step, end_step)
            else 0.0
            for i, name in enumerate(chosen)
        }
        if per_resource
        else {}
    )
    best = env.max_delta(first_step, end_step, None)
    portfolio = max(best, 0.0)
    # Held a hair below the optimum; below 0 only against a reference out of reach (the replay
    # then comes as close to it as the park can).
    holdable = (
        best - abs(best) * HOLD_REL - HOLD_REL
        if best < 0
        else max(best * (1.0 - HOLD_REL) - HOLD_REL, 0.0)
    )
    replay = env.replay(first_step, end_step, holdable)
    delivered = env.delivered(replay, first_step, end_step)
    notes: list[str] = []
    least = float(delivered.min())
    if least < portfolio - DELIVERED_TOL_MW:
        notes.append(
            f"the LP reached Δ = {portfolio:.6g} MW only by charging and discharging a battery "
            f"at once; the netted replay delivers {least:.6g} MW, reported instead"
        )
        portfolio = max(least, 0.0)
    return Envelope(
        direction=direction,
        first_step=first_step,
        end_step=end_step,
        duration_h=(end_step - first_step) * inputs.interval_h,
        resources=chosen,
        resource_mw=per,
        portfolio_mw=portfolio,
        replay=replay,
        delivered_mw=delivered,
        notes=tuple(notes),
        margin_mw=best if best < 0 else portfolio,
    )


def replay_envelope(
    inputs: DispatchInputs,
    plan: DispatchResult,
    *,
    first_step: int,
    end_step: int,
    direction: Direction,
    delta_mw: float,
    resources: Sequence[str] | None = None,
    held: Sequence[Held] = (),
    reference_mw: FloatArray | None = None,
    fixed_steps: int = 0,
) -> DispatchResult:
    """The cheapest re-plan in which ``resources`` shift by ``delta_mw`` throughout the window,
    keeping the ``held`` commitments of ``plan``.

    Raises :class:`InfeasiblePlan` when no plan can hold that Δ (it exceeds the envelope).
    """
    if not np.isfinite(delta_mw) or delta_mw < 0:
        raise InputError(f"delta_mw: {delta_mw} must be a number of MW ≥ 0")
    env = _envelope_lp(
        inputs, plan, first_step, end_step, direction, resources, held, reference_mw, fixed_steps
    )
    return env.replay(first_step, end_step, float(delta_mw))


def envelope_profile(
    inputs: DispatchInputs,
    plan: DispatchResult,
    *,
    direction: Direction,
    duration_steps: int,
    resources: Sequence[str] | None = None,
) -> FloatArray:
    """(T,) portfolio Δ holdable over ``[t, t + duration_steps)`` for each start ``t``. [MW]

    What a grid operator is shown: for each interval, how much the park can shift if the event
    starts then and lasts ``duration_steps`` intervals. Starts whose window would run past the
    plan are NaN. One LP, re-solved warm per start (rows switched by their bounds).
    """
    n_t = inputs.n_steps
    if not 1 <= duration_steps <= n_t:
        raise InputError(f"duration_steps: {duration_steps}; need 1 … {n_t} (the plan's length)")
    chosen = _resolve_resources(inputs, resources)
    env = _EnvelopeLp(inputs, plan, direction=direction, resources=chosen)
    out = np.full(n_t, np.nan)
    for t in range(n_t - duration_steps + 1):
        out[t] = max(env.max_delta(t, t + duration_steps, None), 0.0)
    return out
