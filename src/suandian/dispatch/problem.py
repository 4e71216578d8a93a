"""What the dispatch LP takes and gives: inputs, the LP itself, and the result.

The park is one bus. Per interval ``t`` of length ``interval_h`` the LP chooses how much of each
generator's available output to use (the rest is curtailed, 弃光弃风), how much each battery
charges and discharges, how much the grid tie imports and exports, and when each flexible
compute load runs inside its window (算电协同). :func:`build_problem` is the one recipe: it calls
the ``define_<group>_variables`` and ``define_<group>_constraints`` functions of
:mod:`suandian.dispatch.constraints` in order, collects their blocks as sparse triplets and hands
the assembled CSC matrix to HiGHS in one ``passModel`` call. No modelling layer, no loop over time.

The matrix depends only on the shape of the park (numbers of steps, generators, batteries;
interval length; efficiencies; the windows of the flexible loads, whose columns exist only
inside them, and the groups they share caps in; green-target periods). What else changes from
one rolling-horizon window to the next (available output, loads, prices, caps (group caps
too), initial state, end conditions, flexible energy) lives in column bounds, costs and row
bounds, so :func:`update_problem` can move a built :class:`DispatchProblem` to new data in
place.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Literal, get_args

import highspy
import numpy as np
import numpy.typing as npt
import pandas as pd

from suandian.core.cstdio import c_stdout_silenced
from suandian.core.errors import InputError
from suandian.core.times import require_utc
from suandian.core.units import KW_PER_MW
from suandian.dispatch.constraints import RECIPE, AssembledLp, Define, LinearProblem
from suandian.dispatch.flex_plan import FlexPlan

__all__ = [
    "OBJECTIVES",
    "BatteryUnit",
    "DispatchInputs",
    "DispatchProblem",
    "DispatchResult",
    "EndSoc",
    "FlexGroup",
    "FlexPlan",
    "FlexibleLoad",
    "Generator",
    "GreenPeriod",
    "GridConnection",
    "Method",
    "Objective",
    "SolveOutcome",
    "build_problem",
    "make_result",
    "update_problem",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

Objective = Literal["cost", "carbon", "cost+carbon", "green"]
"""``cost`` [CNY], ``carbon`` [kgCO₂], ``cost+carbon`` [CNY, emissions at the carbon price],
``green`` [MWh imported: the least grid energy, i.e. the highest on-site green match]."""
OBJECTIVES: tuple[str, ...] = get_args(Objective)
EndSoc = float | Literal["cyclic", "free"]
"""End condition of a battery: ``cyclic`` (end where it started), ``free``, or a fixed soc. [pu]"""
GreenPeriod = Literal["horizon", "day"]
Method = Literal["lp", "lp-rolling", "rules"]
"""``lp``: one solve over the whole period; ``lp-rolling``: committed steps of a rolling horizon
(:mod:`suandian.dispatch.rolling`); ``rules``: the greedy fallback."""


# --- inputs ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Generator:
    """A generator whose output may be used or curtailed, never raised."""

    name: str
    source: str
    """Source category: ``pv``, ``wind``, ``hydro``, …"""
    available_mw: FloatArray
    """(T,) Output available in each interval. [MW]"""


@dataclass(frozen=True)
class BatteryUnit:
    """A battery; the round-trip efficiency is split evenly into charge and discharge."""

    name: str
    p_mw: float
    """Charge and discharge power limit. [MW]"""
    e_mwh: float
    """Energy capacity; state of charge is measured against it. [MWh]"""
    round_trip_efficiency_pu: float = 0.9
    soc_min_pu: float = 0.0
    soc_max_pu: float = 1.0
    soc_initial_pu: float = 0.5
    end_soc: EndSoc = "cyclic"

    @property
    def efficiency_charge_pu(self) -> float:
        """η_c = √η_rt."""
        return math.sqrt(self.round_trip_efficiency_pu)

    @property
    def efficiency_discharge_pu(self) -> float:
        """η_d = √η_rt."""
        return math.sqrt(self.round_trip_efficiency_pu)

    def end_soe_bounds_mwh(self) -> tuple[float, float]:
        """Bounds on the energy stored at the end of the horizon. [MWh]"""
        if self.end_soc == "free":
            return self.soc_min_pu * self.e_mwh, self.soc_max_pu * self.e_mwh
        target = self.soc_initial_pu if self.end_soc == "cyclic" else float(self.end_soc)
        return target * self.e_mwh, target * self.e_mwh


@dataclass(frozen=True)
class GridConnection:
    """The park's single point of connection to the public grid."""

    import_price_cny_per_kwh: FloatArray | float
    """(T,) or scalar. Must be ≥ 0 (see :mod:`suandian.dispatch.constraints`). [CNY/kWh]"""
    export_price_cny_per_kwh: FloatArray | float = 0.0
    """(T,) or scalar. [CNY/kWh]"""
    ef_kgco2_per_kwh: FloatArray | float = 0.0
    """(T,) or scalar grid emission factor of imported energy. [kgCO₂/kWh]"""
    import_limit_mw: float | None = None
    """``None``: unconstrained. [MW]"""
    export_limit_mw: float | None = None
    """``None``: no MW cap. [MW]"""
    export_limit_share_pu: float | None = None
    """Export cap per interval as a share of the available on-site output (绿电直连 rules)."""


@dataclass(frozen=True)
class FlexibleLoad:
    """Deferrable load: ``energy_mwh`` to serve inside ``[release_step, deadline_step)``.

    Compute batches, EV charging sessions, an electrolyzer's daily hydrogen: anything whose
    energy is fixed but whose timing may move inside a window.
    """

    name: str
    release_step: int
    deadline_step: int
    """Exclusive."""
    energy_mwh: float
    p_max_mw: float
    group: str | None = None
    """Name of a :class:`FlexGroup` of ``DispatchInputs.flex_groups`` whose per-interval cap the
    load shares with the group's other members (one data hall, one EV station); ``None``: no
    shared cap."""


@dataclass(frozen=True)
class FlexGroup:
    """Flexible loads that share equipment: together they draw at most ``cap_mw[t]``."""

    name: str
    cap_mw: FloatArray
    """(T,) Cap on the sum of the members' power in each interval. [MW]"""


def _series(name: str, value: npt.ArrayLike, n_t: int, *, nonneg: bool = True) -> FloatArray:
    """A checked, read-only copy of one per-interval series (a scalar is broadcast)."""
    arr = np.array(value, dtype=np.float64)
    if arr.ndim == 0:
        arr = np.full(n_t, float(arr))
    if arr.shape != (n_t,):
        raise InputError(f"{name}: expected {n_t} values (one per interval), got shape {arr.shape}")
    if not np.isfinite(arr).all():
        bad = int(np.flatnonzero(~np.isfinite(arr))[0])
        raise InputError(f"{name}: value at step {bad} is {arr[bad]}; fill gaps before dispatch")
    if nonneg and arr.size and arr.min() < 0:
        bad = int(np.argmin(arr))
        raise InputError(f"{name}: must be ≥ 0, got {arr[bad]:g} at step {bad}")
    arr.setflags(write=False)
    return arr


def _check_range(name: str, value: float, lo: float, hi: float, *, lo_open: bool = False) -> None:
    ok = (lo < value if lo_open else lo <= value) and value <= hi
    if not (ok and math.isfinite(value)):
        bracket = "(" if lo_open else "["
        raise InputError(f"{name}: {value!r} is outside {bracket}{lo:g}, {hi:g}]")


@dataclass(frozen=True)
class DispatchInputs:
    """Everything one dispatch run needs, as arrays of length T at resolution ``interval_h``.

    Arrays are copied, checked and frozen on construction; scalars given for per-interval
    grid series are broadcast. A bad field raises :class:`~suandian.core.errors.InputError`
    naming the field, the value and the allowed range.
    """

    interval_h: float
    load_mw: FloatArray
    """(T,) Fixed (inflexible) load of the park. [MW]"""
    grid: GridConnection
    generators: tuple[Generator, ...] = ()
    batteries: tuple[BatteryUnit, ...] = ()
    flexible_loads: tuple[FlexibleLoad, ...] = ()
    flex_groups: tuple[FlexGroup, ...] = ()
    """Shared per-interval caps of flexible loads (members name their group)."""
    index_utc: pd.DatetimeIndex | None = None
    """Interval starts (tz-aware); only used to say *when* in messages and for daily periods."""
    carbon_price_cny_per_tco2: float = 0.0
    """Used by the ``cost+carbon`` objective. [CNY/tCO₂]"""
    green_target_pu: float | None = None
    """Least share of consumption not drawn from the grid, per ``green_target_period``."""
    green_target_period: GreenPeriod = "horizon"
    """``horizon``: over the whole run; ``day``: per Asia/Shanghai day (needs ``index_utc``).
    Also the period of the two direct-connection shares below."""
    self_consumption_min_pu: float | None = None
    """绿电直连: least share of the *available* on-site output used on site (not exported;
    charging a battery counts as use), per ``green_target_period``."""
    onsite_green_min_pu: float | None = None
    """绿电直连: least share of consumption (load + flexible) covered by on-site output used on
    site, per ``green_target_period``."""

    def __post_init__(self) -> None:
        _check_range("interval_h", self.interval_h, 0.0, 24.0, lo_open=True)
        load = np.asarray(self.load_mw, dtype=np.float64)
        if load.ndim != 1 or load.size == 0:
            raise InputError(f"load_mw: expected a 1-D array of ≥ 1 interval, got {load.shape}")
        n_t = load.size
        object.__setattr__(self, "load_mw", _series("load_mw", load, n_t))
        object.__setattr__(self, "generators", tuple(self._checked_generators(n_t)))
        object.__setattr__(self, "batteries", tuple(self.batteries))
        object.__setattr__(self, "flexible_loads", tuple(self.flexible_loads))
        object.__setattr__(self, "grid", self._checked_grid(n_t))
        for i, b in enumerate(self.batteries):
            self._check_battery(f"batteries[{i}]", b)
        object.__setattr__(self, "flex_groups", tuple(self._checked_groups(n_t)))
        groups = {g.name for g in self.flex_groups}
        for i, f in enumerate(self.flexible_loads):
            self._check_flexible(f"flexible_loads[{i}]", f, n_t)
            if f.group is not None and f.group not in groups:
                known = ", ".join(sorted(groups)) or "none"
                raise InputError(
                    f"flexible_loads[{i}].group: {f.group!r} is not a group of flex_groups "
                    f"(defined: {known}); add FlexGroup({f.group!r}, cap_mw=…) to flex_groups "
                    "or set group=None"
                )
        for group in ("generators", "batteries", "flexible_loads", "flex_groups"):
            names = [x.name for x in getattr(self, group)]
            if len(set(names)) != len(names):
                dup = next(n for n in names if names.count(n) > 1)
                raise InputError(f"{group}: name {dup!r} is used twice; names must be unique")
        if self.index_utc is not None:
            index = pd.DatetimeIndex(self.index_utc)
            if index.tz is None:
                require_utc(index[0], "index_utc")
            if len(index) != n_t:
                raise InputError(f"index_utc: {len(index)} timestamps for {n_t} intervals")
            object.__setattr__(self, "index_utc", index.tz_convert("UTC"))
        _check_range("carbon_price_cny_per_tco2", self.carbon_price_cny_per_tco2, 0.0, 1e5)
        if self.green_target_pu is not None:
            _check_range("green_target_pu", self.green_target_pu, 0.0, 1.0)
        for name in ("self_consumption_min_pu", "onsite_green_min_pu"):
            value = getattr(self, name)
            if value is not None:
                _check_range(name, value, 0.0, 1.0)
        if self.green_target_period not in get_args(GreenPeriod):
            raise InputError(
                f"green_target_period: {self.green_target_period!r}; use 'horizon' or 'day'"
            )
        if self.green_target_period == "day" and self.index_utc is None:
            raise InputError(
                "green_target_period: 'day' needs index_utc to find the Asia/Shanghai days; "
                "pass index_utc or use 'horizon'"
            )

    def _checked_generators(self, n_t: int) -> list[Generator]:
        out = []
        for i, g in enumerate(self.generators):
            avail = _series(f"generators[{i}].available_mw", g.available_mw, n_t)
            out.append(replace(g, available_mw=avail))
        return out

    def _checked_groups(self, n_t: int) -> list[FlexGroup]:
        out = []
        for i, g in enumerate(self.flex_groups):
            cap = _series(f"flex_groups[{i}].cap_mw ({g.name!r})", g.cap_mw, n_t)
            out.append(replace(g, cap_mw=cap))
        return out

    def _checked_grid(self, n_t: int) -> GridConnection:
        g = self.grid
        for name in ("import_limit_mw", "export_limit_mw"):
            value = getattr(g, name)
            if value is not None:
                _check_range(f"grid.{name}", value, 0.0, math.inf)
        if g.export_limit_share_pu is not None:
            _check_range("grid.export_limit_share_pu", g.export_limit_share_pu, 0.0, 1.0)
        # Negative import prices would make dumping grid energy through a battery (charging
        # and discharging at once) profitable, which an LP cannot exclude without binaries.
        return replace(
            g,
            import_price_cny_per_kwh=_series(
                "grid.import_price_cny_per_kwh", g.import_price_cny_per_kwh, n_t
            ),
            export_price_cny_per_kwh=_series(
                "grid.export_price_cny_per_kwh", g.export_price_cny_per_kwh, n_t
            ),
            ef_kgco2_per_kwh=_series("grid.ef_kgco2_per_kwh", g.ef_kgco2_per_kwh, n_t),
        )

    @staticmethod
    def _check_battery(where: str, b: BatteryUnit) -> None:
        _check_range(f"{where}.p_mw", b.p_mw, 0.0, math.inf, lo_open=True)
        _check_range(f"{where}.e_mwh", b.e_mwh, 0.0, math.inf, lo_open=True)
        _check_range(
            f"{where}.round_trip_efficiency_pu", b.round_trip_efficiency_pu, 0.0, 1.0, lo_open=True
        )
        for name in ("soc_min_pu", "soc_max_pu", "soc_initial_pu"):
            _check_range(f"{where}.{name}", getattr(b, name), 0.0, 1.0)
        if not b.soc_min_pu <= b.soc_initial_pu <= b.soc_max_pu or b.soc_min_pu > b.soc_max_pu:
            raise InputError(
                f"{where}: need soc_min_pu ≤ soc_initial_pu ≤ soc_max_pu, got "
                f"{b.soc_min_pu} ≤ {b.soc_initial_pu} ≤ {b.soc_max_pu}"
            )
        if isinstance(b.end_soc, str):
            if b.end_soc not in ("cyclic", "free"):
                raise InputError(
                    f"{where}.end_soc: {b.end_soc!r}; use 'cyclic', 'free' or a soc in pu"
                )
        elif not b.soc_min_pu <= float(b.end_soc) <= b.soc_max_pu:
            raise InputError(
                f"{where}.end_soc: {b.end_soc} lies outside [soc_min_pu, soc_max_pu] = "
                f"[{b.soc_min_pu}, {b.soc_max_pu}]"
            )

    @staticmethod
    def _check_flexible(where: str, f: FlexibleLoad, n_t: int) -> None:
        if not 0 <= f.release_step < f.deadline_step <= n_t:
            raise InputError(
                f"{where}: window [{f.release_step}, {f.deadline_step}) must satisfy "
                f"0 ≤ release_step < deadline_step ≤ {n_t} (the number of intervals)"
            )
        _check_range(f"{where}.energy_mwh", f.energy_mwh, 0.0, math.inf)
        _check_range(f"{where}.p_max_mw", f.p_max_mw, 0.0, math.inf)

    # --- derived arrays ---------------------------------------------------------------------

    @property
    def n_steps(self) -> int:
        return int(self.load_mw.size)

    @property
    def available_mw(self) -> FloatArray:
        """(G, T) available output of every generator. [MW]"""
        if not self.generators:
            return np.zeros((0, self.n_steps))
        return np.vstack([g.available_mw for g in self.generators])

    @property
    def import_price_cny_per_kwh(self) -> FloatArray:
        return np.asarray(self.grid.import_price_cny_per_kwh, dtype=np.float64)

    @property
    def export_price_cny_per_kwh(self) -> FloatArray:
        return np.asarray(self.grid.export_price_cny_per_kwh, dtype=np.float64)

    @property
    def ef_kgco2_per_kwh(self) -> FloatArray:
        return np.asarray(self.grid.ef_kgco2_per_kwh, dtype=np.float64)

    @property
    def import_cap_mw(self) -> FloatArray:
        """(T,) import limit; ``inf`` where unconstrained. [MW]"""
        limit = self.grid.import_limit_mw
        return np.full(self.n_steps, math.inf if limit is None else float(limit))

    @property
    def export_cap_mw(self) -> FloatArray:
        """(T,) export limit: the MW cap and the share of available output, whichever is lower."""
        cap = np.full(self.n_steps, math.inf)
        if self.grid.export_limit_mw is not None:
            cap = np.minimum(cap, self.grid.export_limit_mw)
        if self.grid.export_limit_share_pu is not None:
            cap = np.minimum(cap, self.grid.export_limit_share_pu * self.available_mw.sum(axis=0))
        return cap

    @property
    def flex_release_step(self) -> IntArray:
        """(F,) first interval of each flexible load's window."""
        return np.array([f.release_step for f in self.flexible_loads], dtype=np.int64)

    @property
    def flex_deadline_step(self) -> IntArray:
        """(F,) end of each flexible load's window (exclusive)."""
        return np.array([f.deadline_step for f in self.flexible_loads], dtype=np.int64)

    @property
    def flex_cap_mw(self) -> FloatArray:
        """(F, T) power cap of each flexible load, 0 outside its window: for one LP window;
        a year of daily loads is better served by ``p_max_mw`` per load. [MW]"""
        cap = np.zeros((len(self.flexible_loads), self.n_steps))
        for i, f in enumerate(self.flexible_loads):
            cap[i, f.release_step : f.deadline_step] = f.p_max_mw
        return cap

    @property
    def flex_group_of(self) -> IntArray:
        """(F,) index into ``flex_groups`` of each flexible load's group; −1 for none."""
        number = {g.name: j for j, g in enumerate(self.flex_groups)}
        return np.array(
            [-1 if f.group is None else number[f.group] for f in self.flexible_loads],
            dtype=np.int64,
        )

    @property
    def flex_group_cap_mw(self) -> FloatArray:
        """(groups, T) shared cap of each flexible-load group. [MW]"""
        if not self.flex_groups:
            return np.zeros((0, self.n_steps))
        return np.vstack([g.cap_mw for g in self.flex_groups])


# --- the LP ---------------------------------------------------------------------------------------


def _inf_to_highs(a: FloatArray) -> FloatArray:
    return np.clip(a, -highspy.kHighsInf, highspy.kHighsInf)


HIGHS_OPTIONS: dict[str, bool | int | str] = {
    "output_flag": False,
    "log_to_console": False,
    # The dispatch LP has no redundancy for presolve to remove (two rows and six or seven
    # columns per interval, each needed), so presolve only costs time; on the hourly year of
    # ``benchmarks/dispatch_vs_pypsa.py`` it is 15 % of the solve. Devex pricing in the dual
    # simplex (edge weight strategy 1, instead of HiGHS's choice of steepest edge) takes 10 %
    # more iterations, each cheaper: 0.36 s → 0.29 s for that year, same optimum.
    "presolve": "off",
    "simplex_dual_edge_weight_strategy": 1,
}
"""HiGHS options of every dispatch solve (see the HiGHS options reference)."""


def _new_highs() -> highspy.Highs:
    with c_stdout_silenced():
        h = highspy.Highs()  # type: ignore[no-untyped-call]
    for name, value in HIGHS_OPTIONS.items():
        h.setOptionValue(name, value)
    return h


def _pass_model(h: highspy.Highs, lp: AssembledLp) -> None:
    model = highspy.HighsLp()
    model.num_col_ = lp.n_cols
    model.num_row_ = lp.n_rows
    model.col_cost_ = lp.col_cost
    model.offset_ = lp.offset
    model.col_lower_ = _inf_to_highs(lp.col_lower)
    model.col_upper_ = _inf_to_highs(lp.col_upper)
    model.row_lower_ = _inf_to_highs(lp.row_lower)
    model.row_upper_ = _inf_to_highs(lp.row_upper)
    model.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    model.a_matrix_.num_col_ = lp.n_cols
    model.a_matrix_.num_row_ = lp.n_rows
    model.a_matrix_.start_ = lp.a_start
    model.a_matrix_.index_ = lp.a_index
    model.a_matrix_.value_ = lp.a_value
    status = h.passModel(model)
    if status == highspy.HighsStatus.kError:
        raise InputError(
            f"HiGHS refused the dispatch model ({lp.n_cols} columns, {lp.n_rows} rows); "
            "check the inputs for NaN or inconsistent bounds"
        )


@dataclass(frozen=True)
class SolveOutcome:
    """What one HiGHS run gave back."""

    status: str
    """HiGHS model status, e.g. ``Optimal``, ``Infeasible``, ``Time limit reached``."""
    optimal: bool
    infeasible: bool
    solve_time_s: float
    solver_objective_value: float
    col_value: FloatArray | None
    """Column values clipped to their bounds (optimal runs only)."""


@dataclass
class DispatchProblem:
    """A dispatch LP held in a HiGHS object, ready to solve and to update in place."""

    inputs: DispatchInputs
    objective: Objective
    lp: AssembledLp
    highs: highspy.Highs = field(repr=False)
    elastic: bool = False
    extra: tuple[Define, ...] = ()
    """Blocks defined after the recipe (see :func:`build_problem`)."""

    def values(self, name: str, col_value: FloatArray) -> FloatArray:
        """Values of the variable block or expression ``name`` (e.g. ``"battery-soe"``,
        ``"grid-import"``), shaped as defined.

        Cells without a column (see :meth:`LinearProblem.add_variables`) are 0.
        """
        if name in self.lp.expressions:
            rows, constant = self.lp.expressions[name]
            return self.lp.row_activity(col_value)[rows] + constant
        index = self.lp.variables[name]
        return np.where(index >= 0, col_value[np.maximum(index, 0)], 0.0)

    def run(self, *, time_limit_s: float | None = None) -> SolveOutcome:
        """Run HiGHS on the problem as it stands (warm after :func:`update_problem`)."""
        h = self.highs
        h.setOptionValue("time_limit", math.inf if time_limit_s is None else float(time_limit_s))
        start = time.perf_counter()
        h.run()
        elapsed = time.perf_counter() - start
        model_status = h.getModelStatus()
        optimal = model_status == highspy.HighsModelStatus.kOptimal
        infeasible = model_status in (
            highspy.HighsModelStatus.kInfeasible,
            highspy.HighsModelStatus.kUnboundedOrInfeasible,
        )
        col_value = None
        if optimal:
            raw = np.asarray(h.getSolution().col_value, dtype=np.float64)
            # Simplex values sit within the primal tolerance (1e-7) of their bounds.
            col_value = np.clip(raw, self.lp.col_lower, self.lp.col_upper)
        return SolveOutcome(
            status=h.modelStatusToString(model_status),
            optimal=optimal,
            infeasible=infeasible,
            solve_time_s=elapsed,
            solver_objective_value=float(h.getObjectiveValue()) if optimal else math.nan,
            col_value=col_value,
        )


def _assemble(
    inputs: DispatchInputs, objective: Objective, *, elastic: bool, extra: Sequence[Define] = ()
) -> AssembledLp:
    if objective not in OBJECTIVES:
        raise InputError(f"objective: {objective!r}; choose one of {', '.join(OBJECTIVES)}")
    lp = LinearProblem(objective, elastic=elastic)
    for define in (*RECIPE, *extra):
        define(lp, inputs)
    return lp.assemble()


def build_problem(
    inputs: DispatchInputs,
    objective: Objective = "cost",
    *,
    elastic: bool = False,
    extra: Sequence[Define] = (),
) -> DispatchProblem:
    """Build the dispatch LP for ``inputs`` and load it into a fresh HiGHS object.

    The recipe (:data:`suandian.dispatch.constraints.RECIPE`) defines, in order: generator,
    battery, grid and flexible-load variables, the shortfall variables of the elastic form,
    the energy balance, battery, flexible-load, flexible-group and green-match constraints, and
    the objective.

    Parameters
    ----------
    inputs : DispatchInputs
    objective : {"cost", "carbon", "cost+carbon", "green"}
    elastic : bool
        Add penalised shortfall columns (unserved load, flexible energy, end state, green
        target) so that the LP is feasible for any data; :func:`~suandian.dispatch.diagnose`
        uses it to find what cannot be met.
    extra : sequence of ``define(lp, inputs)`` functions
        Further blocks of columns, rows and costs, defined after the recipe, for analyses
        built on the dispatch LP (e.g. the flexibility envelopes of :mod:`suandian.vpp.envelope`).
        Their columns come after the recipe's, so ``problem.values`` reads them by name.
    """
    lp = _assemble(inputs, objective, elastic=elastic, extra=extra)
    h = _new_highs()
    _pass_model(h, lp)
    return DispatchProblem(
        inputs=inputs, objective=objective, lp=lp, highs=h, elastic=elastic, extra=tuple(extra)
    )


def update_problem(problem: DispatchProblem, inputs: DispatchInputs) -> None:
    """Move ``problem`` to new data in place (next rolling-horizon window, new prices, …).

    Only bounds and costs change; the HiGHS object keeps its basis, so the next solve starts
    warm. Raises :class:`InputError` when ``inputs`` change the shape of the LP (number of
    steps, generators, batteries or flexible loads, windows or groups of flexible loads, interval
    length, efficiencies, green-target periods); build a new problem for those.
    """
    lp = _assemble(inputs, problem.objective, elastic=problem.elastic, extra=problem.extra)
    if not lp.same_structure(problem.lp):
        raise InputError(
            "update_problem: the new inputs change the LP's structure (steps, units, flexible "
            "windows or groups, interval, efficiencies or green periods); call build_problem "
            "for them instead"
        )
    h = problem.highs
    cols = np.arange(lp.n_cols, dtype=np.int32)
    rows = np.arange(lp.n_rows, dtype=np.int32)
    h.changeColsBounds(lp.n_cols, cols, _inf_to_highs(lp.col_lower), _inf_to_highs(lp.col_upper))
    h.changeColsCost(lp.n_cols, cols, lp.col_cost)
    h.changeObjectiveOffset(lp.offset)
    h.changeRowsBounds(  # type: ignore[attr-defined]
        lp.n_rows, rows, _inf_to_highs(lp.row_lower), _inf_to_highs(lp.row_upper)
    )
    problem.inputs = inputs
    problem.lp = lp


# --- the result -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class DispatchResult:
    """A dispatch plan: per-interval schedules, totals and how they were found.

    Arrays are (T,) or (units, T); power in MW held over each interval, energy in MWh.
    Flexible loads are held over their windows only (``flex``); ``flex_p_mw`` lays them out
    as (F, T).
    """

    method: Method
    """``lp`` (the optimum), ``lp-rolling`` (a rolling horizon's committed steps) or ``rules``
    (the greedy fallback)."""
    objective: Objective
    status: str
    """HiGHS model status of the LP (``Optimal``, ``Infeasible``, …)."""
    solve_time_s: float
    objective_value: float
    """The objective recomputed from the plan without tie-breaks: CNY for ``cost`` and
    ``cost+carbon``, kgCO₂ for ``carbon``, MWh imported for ``green``."""
    interval_h: float
    generator_p_mw: FloatArray
    """(G, T) used output."""
    generator_curtailment_mw: FloatArray
    """(G, T) available minus used output."""
    battery_charge_mw: FloatArray
    battery_discharge_mw: FloatArray
    battery_soe_mwh: FloatArray
    """(B, T) energy stored at the *end* of each interval."""
    grid_import_mw: FloatArray
    grid_export_mw: FloatArray
    flex: FlexPlan
    """Power drawn by each flexible load over its window (0 outside it). [MW]"""
    unserved_mw: FloatArray
    """(T,) load not served (only the rule-based fallback leaves any)."""
    flex_unserved_mwh: FloatArray
    """(F,) energy of each flexible load not served in its window."""
    cost_cny: float
    """Σ import price × import − export price × export."""
    emissions_kgco2: float
    """Σ grid factor × import (location-based; exports earn no credit)."""
    green_share_pu: float
    """1 − imported / consumed energy: the share of served load met on site, directly or
    through storage (imported energy counts as grid even when it passes a battery)."""
    curtailment_mwh: float
    unserved_mwh: float
    equivalent_full_cycles: FloatArray
    """(B,) discharged energy over energy capacity."""
    solver_objective_value: float = math.nan
    """HiGHS's objective including tie-breaks (NaN for the rule-based fallback and for
    rolling plans, whose windows each have their own)."""
    elastic: bool = False
    """Solved in the elastic form: requirements may fall short (see ``unserved_mw``)."""
    diagnosis: str | None = None
    """Why the LP could not be used, in words and numbers (``rules`` only)."""
    notes: tuple[str, ...] = ()
    index_utc: pd.DatetimeIndex | None = None

    @property
    def flex_p_mw(self) -> FloatArray:
        """(F, T) power drawn by each flexible load, built on each access: for small F; use
        ``flex`` for large ones (a year of daily loads at 15 min is over a gigabyte). [MW]"""
        return self.flex.dense(self.grid_import_mw.size)

    @property
    def flex_load_mw(self) -> FloatArray:
        """(T,) power drawn by all flexible loads together. [MW]"""
        return self.flex.total_mw(self.grid_import_mw.size)

    @property
    def import_mwh(self) -> float:
        return float(self.grid_import_mw.sum() * self.interval_h)

    @property
    def export_mwh(self) -> float:
        return float(self.grid_export_mw.sum() * self.interval_h)


def _primary_value(
    objective: Objective, cost_cny: float, emissions_kgco2: float, import_mwh: float, cp: float
) -> float:
    if objective == "cost":
        return cost_cny
    if objective == "carbon":
        return emissions_kgco2
    if objective == "cost+carbon":
        return cost_cny + cp * emissions_kgco2 / 1000.0
    return import_mwh


def make_result(
    inputs: DispatchInputs,
    objective: Objective,
    *,
    method: Method,
    generator_p_mw: FloatArray,
    battery_charge_mw: FloatArray,
    battery_discharge_mw: FloatArray,
    battery_soe_mwh: FloatArray,
    grid_import_mw: FloatArray,
    grid_export_mw: FloatArray,
    flex: FlexPlan | None = None,
    flex_p_mw: FloatArray | None = None,
    unserved_mw: FloatArray | None = None,
    flex_unserved_mwh: FloatArray | None = None,
    status: str = "Optimal",
    solve_time_s: float = 0.0,
    solver_objective_value: float = math.nan,
    elastic: bool = False,
    diagnosis: str | None = None,
    notes: Sequence[str] = (),
) -> DispatchResult:
    """Assemble a :class:`DispatchResult` and its totals from per-interval schedules.

    Flexible loads come as ``flex`` (over their windows) or, for small cases, as a dense (F, T)
    ``flex_p_mw`` that must be 0 outside the windows; neither means none runs.
    """
    dt_h = inputs.interval_h
    n_t = inputs.n_steps
    if flex is not None and flex_p_mw is not None:
        raise InputError("make_result: give the flexible plan once, as flex or as flex_p_mw")
    if flex is None:
        release, deadline = inputs.flex_release_step, inputs.flex_deadline_step
        flex = (
            FlexPlan.zeros(release, deadline)
            if flex_p_mw is None
            else FlexPlan.from_dense(flex_p_mw, release, deadline)
        )
    unserved = np.zeros(n_t) if unserved_mw is None else unserved_mw
    flex_short = (
        np.zeros(len(inputs.flexible_loads)) if flex_unserved_mwh is None else flex_unserved_mwh
    )
    import_mwh = float(grid_import_mw.sum() * dt_h)
    cost = float(
        (inputs.import_price_cny_per_kwh * grid_import_mw).sum() * dt_h * KW_PER_MW
        - (inputs.export_price_cny_per_kwh * grid_export_mw).sum() * dt_h * KW_PER_MW
    )
    emissions = float((inputs.ef_kgco2_per_kwh * grid_import_mw).sum() * dt_h * KW_PER_MW)
    consumed_mwh = float((inputs.load_mw + flex.total_mw(n_t) - unserved).sum() * dt_h)
    green = 1.0 - import_mwh / consumed_mwh if consumed_mwh > 0 else 1.0
    capacity = np.array([b.e_mwh for b in inputs.batteries], dtype=np.float64)
    cycles = (
        battery_discharge_mw.sum(axis=1) * dt_h / capacity
        if capacity.size
        else np.zeros(0, dtype=np.float64)
    )
    curtail = inputs.available_mw - generator_p_mw
    return DispatchResult(
        method=method,
        objective=objective,
        status=status,
        solve_time_s=solve_time_s,
        objective_value=_primary_value(
            objective, cost, emissions, import_mwh, inputs.carbon_price_cny_per_tco2
        ),
        interval_h=dt_h,
        generator_p_mw=generator_p_mw,
        generator_curtailment_mw=curtail,
        battery_charge_mw=battery_charge_mw,
        battery_discharge_mw=battery_discharge_mw,
        battery_soe_mwh=battery_soe_mwh,
        grid_import_mw=grid_import_mw,
        grid_export_mw=grid_export_mw,
        flex=flex,
        unserved_mw=unserved,
        flex_unserved_mwh=flex_short,
        cost_cny=cost,
        emissions_kgco2=emissions,
        green_share_pu=float(min(max(green, 0.0), 1.0)),
        curtailment_mwh=float(curtail.sum() * dt_h),
        unserved_mwh=float(unserved.sum() * dt_h),
        equivalent_full_cycles=np.asarray(cycles, dtype=np.float64),
        solver_objective_value=solver_objective_value,
        elastic=elastic,
        diagnosis=diagnosis,
        notes=tuple(notes),
        index_utc=inputs.index_utc,
    )
