"""The dispatch LP, group by group: one ``define_<group>_…(lp, inputs)`` per group.

Each function registers its named blocks on a :class:`LinearProblem` (a collector of columns,
rows and sparse triplets, defined here) with vectorized index arithmetic (no loop over time);
:data:`RECIPE` lists them in the order
:func:`~suandian.dispatch.problem.build_problem` calls them. Variables, all ≥ 0, per interval t:

==========================  ========  =================================================
name                        shape     bounds
==========================  ========  =================================================
``generator-p``             (G, T)    ≤ available output (the rest is curtailment)
``battery-charge``          (B, T)    ≤ p_mw
``battery-discharge``       (B, T)    ≤ p_mw
``battery-soe``             (B, T)    soc_min·e_mwh … soc_max·e_mwh, end of interval t
``grid-export``             (T,)      ≤ min(MW cap, share × available on-site output)
``flex-p``                  (F, T)    ≤ p_max_mw; columns only inside [release, deadline)
``shortfall-*``             …         elastic form only (diagnosis), heavily penalised
==========================  ========  =================================================

Grid import is not a column: the energy balance of the park's bus fixes it,

    import = load + Σ_f flex + Σ_b charge + export − Σ_g p − Σ_b discharge,

so it is an *expression* (:attr:`LinearProblem.expressions`, read back with
``problem.values("grid-import", x)``) whose row carries the import limit. Wherever import
appears — the objective, the green match — its terms are those columns and a constant. This
saves one column per interval and turns the equality of the balance into the range of the
limit, and HiGHS's dual simplex needs a quarter fewer iterations: 0.29 s → 0.21 s on the hourly
year of ``benchmarks/dispatch_vs_pypsa.py``, same optimum.

Constraints:

- ``grid-import`` (T): 0 ≤ load + Σ_f flex + Σ_b charge + export − Σ_g p − Σ_b discharge ≤
  import limit — the energy balance, with import as its slack (elastic form: − shortfall).
- ``battery-storage`` (B, T): soe[t] = soe[t−1] + η_c·charge·Δt − discharge·Δt/η_d, with
  soe[−1] = soc_initial·e_mwh and η_c = η_d = √η_rt.
- ``battery-end`` (B): soe[T−1] = soc_initial·e_mwh (``cyclic``), = end_soc·e_mwh (fixed), or
  within the soc bounds (``free``).
- ``flex-energy`` (F): Σ_t flex·Δt = energy_mwh over the load's window.
- ``flex-group-cap`` (groups, T): Σ_{f in group} flex[f, t] ≤ cap[t] — flexible loads that
  share equipment (one data hall, one EV station's chargers) never draw more than it carries
  together, even where their windows overlap. A group without members keeps its rows (empty),
  so that the matrix does not depend on which loads are present.
- ``green-match`` (periods, only with a target g): Σ import·Δt ≤ (1 − g)·Σ (load + flex)·Δt per
  period (import written out as above) — the whole horizon or each Asia/Shanghai day. Grid
  energy counts as grid when it is imported, even if it passes through a battery first, so
  storage cannot launder it into green.
- Direct-connection compliance (绿电直连 rules; only with the shares set, per the same periods
  as the green match). On-site use of the output is u = Σ (Σ_g p − export)·Δt: what the
  generators deliver and the grid does not take (charging a battery from it counts as use, so
  do the battery's losses).

  * ``self-consumption`` (periods, only with s_min): u ≥ s_min · Σ Σ_g available·Δt — at
    least the share s_min of the *available* output is used on site (curtailment does not help).
  * ``onsite-green`` (periods, only with g_min): u − g_min · Σ Σ_f flex·Δt ≥ g_min · Σ load·Δt,
    i.e. u ≥ g_min · consumption — on-site output covers at least g_min of the consumption.

  Because battery losses count as use, a share that can only be reached by destroying energy
  may be met by charging and discharging at once; the post-solve netting then removes that
  and the result's notes say which share is no longer held.

Objectives (per MWh of import or export; Δt turns MW into MWh):

- ``cost``: import price × import − export price × export [CNY] (export price capped, see
  below); ``cost+carbon``: adds carbon price × grid factor to the import side [CNY];
  ``carbon``: grid factor × import [kgCO₂]; ``green``: imported energy [kWh in the LP, MWh in
  the result]. ``carbon`` and ``green`` break ties by cost, weighted 10⁻⁴ of their scale.

**No simultaneous charge and discharge.** An LP cannot forbid ``charge·discharge > 0`` without
a binary variable, so the plan is kept clean by an argument and a post-solve step:

1. Every MWh charged, discharged, imported or exported carries a throughput cost ε (10⁻⁶ of
   the objective's scale). Take a plan that charges c and discharges d > 0 in one interval.
   Lowering c by a and d by η·a (η = η_c·η_d) keeps every stored energy identical
   (η_c·a·Δt = η·a·Δt/η_d) and leaves (1 − η)·a MW spare on the bus, which the plan absorbs by
   importing less (price ≥ 0), exporting more (price ≥ 0) or curtailing (free); the objective
   falls by at least 2·ε·η·a > 0 (ε·(1 + η)·a saved on the battery, at most ε·(1 − η)·a spent
   on extra export). So an optimum charges and discharges at once only where that
   spare energy cannot be absorbed at all — where stored energy must be destroyed to reach a
   fixed end state — never in ordinary operation. The argument needs import prices, export
   prices and grid factors ≥ 0, which :class:`~suandian.dispatch.problem.DispatchInputs`
   enforces: a negative import price would pay for importing energy and burning it in the
   battery.
2. :func:`suandian.dispatch.solve.net_simultaneous` applies exactly that move to the solution
   (it removes degenerate ties and solver-tolerance residue), so per-interval energy balance and
   the storage trajectory are unchanged and min(c, d) = 0 wherever the spare energy has
   somewhere to go. Any interval where it has not is reported in the result's notes.

**One way through ties in time.** Every MWh kept in a battery for an hour earns a credit ε_s
(10⁻⁶ of the scale, ε per MWh·h): among plans of equal cost the optimum charges as early and
discharges as late as it can, keeping energy in store rather than handing it out early, instead
of whichever tied vertex the simplex path reaches first. A rolling horizon commits only the
first part of each window's plan, so without ε_s the energy handed on — and the cost of the
rolling period — would depend on pivoting order; with it the rolling year of
``benchmarks/dispatch_vs_pypsa.py`` costs what the year's single optimum does. (It also speeds
HiGHS up: 0.155 → 0.148 s on that year, against 0.245 s with ε_s = 10⁻⁷, whose weaker pull
leaves the dual simplex more near-ties to pivot through.) The credit decides only between plans
whose real costs differ by less than ε_s per MWh·h kept (0.014 CNY per MWh held a day at the
scenario's prices): buying energy to earn it loses (1 − η) of the price, and exporting pays far
more, so what it can make the battery keep is surplus that would otherwise be curtailed for
nothing. The netting move of point 2 keeps every stored energy, so it leaves ε_s's term
unchanged.

**No simultaneous import and export.** The park has one point of connection. Where the export
price does not exceed the import price, importing and exporting at once only loses money (and
ε). Where it does (the Xining placeholder tariff pays 0.3247 CNY/kWh for export against a
0.19 valley price) an LP would import in order to export, which one meter cannot do; the
objective therefore values export at min(export price, import-side price) per interval. Every
plan's objective is then at least its real cost (equal where it does not export in such
intervals): the LP never profits from a loop through the meter, at the price of undervaluing
export in those intervals — an approximation, since the exact rule needs a binary per
interval. Reported costs always use the real prices, and the post-solve step nets any
remaining simultaneous import and export exactly.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from suandian.core.times import local_day
from suandian.core.units import KW_PER_MW

if TYPE_CHECKING:
    from suandian.dispatch.problem import DispatchInputs, Objective

__all__ = [
    "RECIPE",
    "AssembledLp",
    "Define",
    "LinearProblem",
    "ObjectiveCoefficients",
    "define_battery_constraints",
    "define_battery_variables",
    "define_direct_connection_constraints",
    "define_energy_balance_constraints",
    "define_flex_constraints",
    "define_flex_group_constraints",
    "define_flex_variables",
    "define_generator_variables",
    "define_green_match_constraints",
    "define_grid_variables",
    "define_objective",
    "define_shortfall_variables",
    "green_periods",
    "import_terms",
    "objective_coefficients",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

THROUGHPUT_REL = 1e-6
"""Throughput cost ε per MWh, relative to the objective's scale."""
STORED_CREDIT_REL = 1e-6
"""Credit ε_s per MWh kept in storage for an hour, relative to the objective's scale."""
TIEBREAK_REL = 1e-4
"""Largest cost tie-break per MWh in the ``carbon`` and ``green`` objectives, relative."""
SHORTFALL_REL = 1e3
"""Penalty per MWh of shortfall in the elastic form, relative."""
SCALE_FLOOR = 1e3
"""Least objective scale per MWh, so that ε stays well above HiGHS's tolerances (10⁻⁷)."""


# --- the collector -------------------------------------------------------------------------------


class LinearProblem:
    """Columns, rows and coefficients of one LP, collected block by block.

    Each ``define_*`` function registers named blocks of variables (an index array shaped like
    its bounds) and of constraints, and adds coefficients as vectorized triplets. Nothing is
    sent to the solver here; :meth:`assemble` builds the CSC matrix once.
    """

    def __init__(self, objective: Objective, *, elastic: bool = False) -> None:
        self.objective: Objective = objective
        self.elastic = elastic
        """Add shortfall columns so that any data is feasible (used by the diagnosis)."""
        self.variables: dict[str, IntArray] = {}
        self.constraints: dict[str, IntArray] = {}
        self.expressions: dict[str, tuple[IntArray, FloatArray]] = {}
        """Quantities that are a row's activity plus a constant, e.g. ``grid-import``."""
        self.offset = 0.0
        """Constant term of the objective."""
        self.n_cols = 0
        self.n_rows = 0
        self._col_lower: list[FloatArray] = []
        self._col_upper: list[FloatArray] = []
        self._row_lower: list[FloatArray] = []
        self._row_upper: list[FloatArray] = []
        self._terms: list[tuple[IntArray, IntArray, FloatArray]] = []
        self._cost: list[tuple[IntArray, FloatArray]] = []

    def add_variables(
        self,
        name: str,
        lower: npt.ArrayLike,
        upper: npt.ArrayLike,
        *,
        mask: npt.NDArray[np.bool_] | None = None,
    ) -> IntArray:
        """Register a block of columns shaped like ``lower``/``upper``; return their indices.

        With ``mask``, only the cells where it is true get a column; the others hold index −1
        (no column: the variable is structurally zero there, and terms or costs on it are
        dropped). This keeps, e.g., a flexible load's columns to its own window.
        """
        lo, hi = np.broadcast_arrays(
            np.asarray(lower, dtype=np.float64), np.asarray(upper, dtype=np.float64)
        )
        if mask is None:
            mask = np.ones(lo.shape, dtype=bool)
        lo, hi, mask = np.broadcast_arrays(lo, hi, mask)
        index = np.full(mask.shape, -1, dtype=np.int64)
        count = int(mask.sum())
        index[mask] = self.n_cols + np.arange(count, dtype=np.int64)
        self.n_cols += count
        self._col_lower.append(lo[mask])
        self._col_upper.append(hi[mask])
        self.variables[name] = index
        return index

    def add_constraints(self, name: str, lower: npt.ArrayLike, upper: npt.ArrayLike) -> IntArray:
        """Register a block of rows ``lower ≤ a·x ≤ upper``; return their indices."""
        lo, hi = np.broadcast_arrays(
            np.asarray(lower, dtype=np.float64), np.asarray(upper, dtype=np.float64)
        )
        index = self.n_rows + np.arange(lo.size, dtype=np.int64).reshape(lo.shape)
        self.n_rows += lo.size
        self._row_lower.append(lo.ravel())
        self._row_upper.append(hi.ravel())
        self.constraints[name] = index
        return index

    def add_terms(self, rows: npt.ArrayLike, cols: npt.ArrayLike, coeff: npt.ArrayLike) -> None:
        """Add ``coeff`` at (``rows``, ``cols``), broadcasting the three arrays together."""
        r, c, v = np.broadcast_arrays(
            np.asarray(rows, dtype=np.int64),
            np.asarray(cols, dtype=np.int64),
            np.asarray(coeff, dtype=np.float64),
        )
        keep = c.ravel() >= 0
        self._terms.append((r.ravel()[keep], c.ravel()[keep], v.ravel()[keep]))

    def add_cost(self, cols: npt.ArrayLike, coeff: npt.ArrayLike) -> None:
        """Add ``coeff`` to the objective coefficients of ``cols`` (broadcast)."""
        c, v = np.broadcast_arrays(
            np.asarray(cols, dtype=np.int64), np.asarray(coeff, dtype=np.float64)
        )
        keep = c.ravel() >= 0
        self._cost.append((c.ravel()[keep], v.ravel()[keep]))

    def add_expression(self, name: str, rows: IntArray, constant: npt.ArrayLike) -> None:
        """Register ``name`` as the activity of ``rows`` plus ``constant`` (same shape)."""
        values = np.broadcast_to(np.asarray(constant, dtype=np.float64), rows.shape)
        self.expressions[name] = (rows, values)

    def add_offset(self, value: float) -> None:
        """Add a constant to the objective."""
        self.offset += float(value)

    def has(self, name: str) -> bool:
        """Whether the block ``name`` exists and holds at least one column."""
        return name in self.variables and bool((self.variables[name] >= 0).any())

    def assemble(self) -> AssembledLp:
        def cat(parts: list[FloatArray]) -> FloatArray:
            return np.concatenate(parts) if parts else np.zeros(0)

        cost = np.zeros(self.n_cols)
        for cols, coeff in self._cost:
            np.add.at(cost, cols, coeff)
        if self._terms:
            rows = np.concatenate([t[0] for t in self._terms])
            cols = np.concatenate([t[1] for t in self._terms])
            vals = np.concatenate([t[2] for t in self._terms])
        else:
            rows = cols = np.zeros(0, dtype=np.int64)
            vals = np.zeros(0)
        matrix = sp.csc_matrix((vals, (rows, cols)), shape=(self.n_rows, self.n_cols))
        matrix.sum_duplicates()
        matrix.sort_indices()
        return AssembledLp(
            col_cost=cost,
            col_lower=cat(self._col_lower),
            col_upper=cat(self._col_upper),
            row_lower=cat(self._row_lower),
            row_upper=cat(self._row_upper),
            a_start=np.asarray(matrix.indptr, dtype=np.int32),
            a_index=np.asarray(matrix.indices, dtype=np.int32),
            a_value=np.asarray(matrix.data, dtype=np.float64),
            variables=dict(self.variables),
            constraints=dict(self.constraints),
            expressions=dict(self.expressions),
            offset=self.offset,
        )


@dataclass(frozen=True)
class AssembledLp:
    """Arrays of an LP in HiGHS's column-wise (CSC) layout."""

    col_cost: FloatArray
    col_lower: FloatArray
    col_upper: FloatArray
    row_lower: FloatArray
    row_upper: FloatArray
    a_start: npt.NDArray[np.int32]
    a_index: npt.NDArray[np.int32]
    a_value: FloatArray
    variables: dict[str, IntArray]
    constraints: dict[str, IntArray]
    expressions: dict[str, tuple[IntArray, FloatArray]]
    offset: float
    """Constant term of the objective."""

    @property
    def n_cols(self) -> int:
        return int(self.col_cost.size)

    @property
    def n_rows(self) -> int:
        return int(self.row_lower.size)

    def row_activity(self, col_value: FloatArray) -> FloatArray:
        """A·x for a column vector ``x``."""
        matrix = sp.csc_matrix(
            (self.a_value, self.a_index, self.a_start), shape=(self.n_rows, self.n_cols)
        )
        return np.asarray(matrix @ col_value, dtype=np.float64)

    def same_structure(self, other: AssembledLp) -> bool:
        return (
            self.n_cols == other.n_cols
            and self.n_rows == other.n_rows
            and np.array_equal(self.a_start, other.a_start)
            and np.array_equal(self.a_index, other.a_index)
            and np.array_equal(self.a_value, other.a_value)
        )


def green_periods(inputs: DispatchInputs) -> IntArray:
    """(T,) period number of each interval for the green-match target and the direct-connection
    shares (0, 1, …)."""
    if inputs.green_target_period == "day" and inputs.index_utc is not None:
        _, period = np.unique(local_day(inputs.index_utc), return_inverse=True)
        return np.asarray(period, dtype=np.int64).reshape(-1)
    return np.zeros(inputs.n_steps, dtype=np.int64)


@dataclass(frozen=True)
class ObjectiveCoefficients:
    """Objective coefficients per MWh, in the objective's unit (CNY, kgCO₂ or kWh)."""

    import_per_mwh: FloatArray
    """(T,)"""
    export_per_mwh: FloatArray
    """(T,) ≤ 0 where export earns."""
    throughput_per_mwh: float
    """ε on every charge, discharge, import and export."""
    stored_credit_per_mwh_h: float
    """ε_s earned by every MWh kept in storage for an hour (enters the objective negated)."""
    shortfall_per_mwh: float
    """Elastic form: penalty on unmet requirements."""


def objective_coefficients(inputs: DispatchInputs, objective: Objective) -> ObjectiveCoefficients:
    """Coefficients of ``objective`` for ``inputs`` (see the module docstring)."""
    price_imp = inputs.import_price_cny_per_kwh * KW_PER_MW  # CNY/MWh
    price_exp = inputs.export_price_cny_per_kwh * KW_PER_MW
    ef = inputs.ef_kgco2_per_kwh  # kg/kWh = t/MWh
    cost_imp = price_imp
    cost_exp = -np.minimum(price_exp, price_imp)
    if objective == "cost":
        imp, exp = cost_imp, cost_exp
    elif objective == "cost+carbon":
        imp = price_imp + inputs.carbon_price_cny_per_tco2 * ef
        exp = -np.minimum(price_exp, imp)
    else:
        imp = ef * KW_PER_MW if objective == "carbon" else np.full(inputs.n_steps, KW_PER_MW)
        exp = np.zeros(inputs.n_steps)
    scale = max(float(np.abs(imp).max(initial=0.0)), float(np.abs(exp).max(initial=0.0)))
    scale = max(scale, SCALE_FLOOR)
    if objective in ("carbon", "green"):
        cost_scale = max(float(np.abs(cost_imp).max(initial=0.0)), 1e-12)
        weight = TIEBREAK_REL * scale / cost_scale
        imp = imp + weight * cost_imp
        exp = exp + weight * cost_exp
    return ObjectiveCoefficients(
        import_per_mwh=np.asarray(imp, dtype=np.float64),
        export_per_mwh=np.asarray(exp, dtype=np.float64),
        throughput_per_mwh=THROUGHPUT_REL * scale,
        stored_credit_per_mwh_h=STORED_CREDIT_REL * scale,
        shortfall_per_mwh=SHORTFALL_REL * scale,
    )


# --- variables ------------------------------------------------------------------------------------


def define_generator_variables(lp: LinearProblem, inputs: DispatchInputs) -> None:
    """``generator-p`` (G, T): used output, 0 … available; curtailment is the difference."""
    lp.add_variables("generator-p", 0.0, inputs.available_mw)


def define_battery_variables(lp: LinearProblem, inputs: DispatchInputs) -> None:
    """``battery-charge``, ``battery-discharge`` (B, T) [MW] and ``battery-soe`` (B, T) [MWh]."""
    n_b, n_t = len(inputs.batteries), inputs.n_steps
    p = np.array([b.p_mw for b in inputs.batteries], dtype=np.float64).reshape(n_b, 1)
    e = np.array([b.e_mwh for b in inputs.batteries], dtype=np.float64).reshape(n_b, 1)
    lo = np.array([b.soc_min_pu for b in inputs.batteries], dtype=np.float64).reshape(n_b, 1)
    hi = np.array([b.soc_max_pu for b in inputs.batteries], dtype=np.float64).reshape(n_b, 1)
    zeros = np.zeros((n_b, n_t))
    lp.add_variables("battery-charge", zeros, p)
    lp.add_variables("battery-discharge", zeros, p)
    lp.add_variables("battery-soe", zeros + lo * e, hi * e)


def define_grid_variables(lp: LinearProblem, inputs: DispatchInputs) -> None:
    """``grid-export`` (T,) [MW] within the tie's cap (import is the balance's row, below)."""
    lp.add_variables("grid-export", 0.0, inputs.export_cap_mw)


def define_flex_variables(lp: LinearProblem, inputs: DispatchInputs) -> None:
    """``flex-p`` (F, T) [MW]: capped inside each load's window; no column outside it."""
    steps = np.arange(inputs.n_steps)
    release = np.array([f.release_step for f in inputs.flexible_loads]).reshape(-1, 1)
    deadline = np.array([f.deadline_step for f in inputs.flexible_loads]).reshape(-1, 1)
    window = (steps >= release) & (steps < deadline)
    lp.add_variables("flex-p", 0.0, inputs.flex_cap_mw, mask=window)


def define_shortfall_variables(lp: LinearProblem, inputs: DispatchInputs) -> None:
    """Elastic form only: what each requirement may fall short by.

    ``shortfall-load`` (T,) [MW], ``shortfall-flex`` (F,) [MWh], ``shortfall-soe-low`` and
    ``shortfall-soe-high`` (B,) [MWh] below / above the end state, ``shortfall-green``
    (periods,) [MWh] of import beyond the green target, ``shortfall-self-consumption`` and
    ``shortfall-onsite-green`` (periods,) [MWh] of on-site use below the direct-connection shares.
    """
    if not lp.elastic:
        return
    n_b = len(inputs.batteries)
    lp.add_variables("shortfall-load", np.zeros(inputs.n_steps), np.inf)
    lp.add_variables("shortfall-flex", np.zeros(len(inputs.flexible_loads)), np.inf)
    lp.add_variables("shortfall-soe-low", np.zeros(n_b), np.inf)
    lp.add_variables("shortfall-soe-high", np.zeros(n_b), np.inf)
    if inputs.green_target_pu is not None:
        n_p = int(green_periods(inputs).max()) + 1
        lp.add_variables("shortfall-green", np.zeros(n_p), np.inf)
    if inputs.self_consumption_min_pu is not None:
        n_p = int(green_periods(inputs).max()) + 1
        lp.add_variables("shortfall-self-consumption", np.zeros(n_p), np.inf)
    if inputs.onsite_green_min_pu is not None:
        n_p = int(green_periods(inputs).max()) + 1
        lp.add_variables("shortfall-onsite-green", np.zeros(n_p), np.inf)


# --- constraints ----------------------------------------------------------------------------------


def import_terms(lp: LinearProblem) -> list[tuple[IntArray, float]]:
    """Grid import in each interval, less the fixed load, as (column block, coefficient) pairs.

    import = load + Σ_f flex + Σ_b charge + export − Σ_g p − Σ_b discharge (− shortfall-load in
    the elastic form); each block is (T,) or (units, T).
    """
    v = lp.variables
    terms = [
        (v["flex-p"], 1.0),
        (v["battery-charge"], 1.0),
        (v["grid-export"], 1.0),
        (v["generator-p"], -1.0),
        (v["battery-discharge"], -1.0),
    ]
    if lp.has("shortfall-load"):
        terms.append((v["shortfall-load"], -1.0))
    return terms


def define_energy_balance_constraints(lp: LinearProblem, inputs: DispatchInputs) -> None:
    """``grid-import`` (T): the park's bus balances, and the import that closes it is within
    0 … the import limit."""
    load = inputs.load_mw
    rows = lp.add_constraints("grid-import", -load, inputs.import_cap_mw - load)
    for block, coeff in import_terms(lp):
        lp.add_terms(rows, block, coeff)
    lp.add_expression("grid-import", rows, load)


def define_battery_constraints(lp: LinearProblem, inputs: DispatchInputs) -> None:
    """``battery-storage`` (B, T): the energy balance of each battery; ``battery-end`` (B)."""
    v = lp.variables
    n_b, n_t, dt_h = len(inputs.batteries), inputs.n_steps, inputs.interval_h
    soe, charge, discharge = v["battery-soe"], v["battery-charge"], v["battery-discharge"]
    eta_c = np.array([b.efficiency_charge_pu for b in inputs.batteries]).reshape(n_b, 1)
    eta_d = np.array([b.efficiency_discharge_pu for b in inputs.batteries]).reshape(n_b, 1)
    rhs = np.zeros((n_b, n_t))
    rhs[:, 0] = [b.soc_initial_pu * b.e_mwh for b in inputs.batteries]
    rows = lp.add_constraints("battery-storage", rhs, rhs)
    lp.add_terms(rows, soe, 1.0)
    lp.add_terms(rows[:, 1:], soe[:, :-1], -1.0)
    lp.add_terms(rows, charge, -eta_c * dt_h)
    lp.add_terms(rows, discharge, dt_h / eta_d)

    bounds = np.array([b.end_soe_bounds_mwh() for b in inputs.batteries]).reshape(n_b, 2)
    end = lp.add_constraints("battery-end", bounds[:, 0], bounds[:, 1])
    lp.add_terms(end, soe[:, -1], 1.0)
    if lp.has("shortfall-soe-low"):
        lp.add_terms(end, v["shortfall-soe-low"], 1.0)
        lp.add_terms(end, v["shortfall-soe-high"], -1.0)


def define_flex_constraints(lp: LinearProblem, inputs: DispatchInputs) -> None:
    """``flex-energy`` (F): each flexible load receives its energy inside its window."""
    v = lp.variables
    energy = np.array([f.energy_mwh for f in inputs.flexible_loads], dtype=np.float64)
    rows = lp.add_constraints("flex-energy", energy, energy)
    lp.add_terms(rows[:, np.newaxis], v["flex-p"], inputs.interval_h)
    if lp.has("shortfall-flex"):
        lp.add_terms(rows, v["shortfall-flex"], 1.0)


def define_flex_group_constraints(lp: LinearProblem, inputs: DispatchInputs) -> None:
    """``flex-group-cap`` (groups, T): the members of each group together stay within its cap."""
    rows = lp.add_constraints("flex-group-cap", -np.inf, inputs.flex_group_cap_mw)
    group = inputs.flex_group_of
    members = group >= 0
    if members.any():
        lp.add_terms(rows[group[members]], lp.variables["flex-p"][members], 1.0)


def define_green_match_constraints(lp: LinearProblem, inputs: DispatchInputs) -> None:
    """``green-match`` (periods): imported ≤ (1 − target) × consumed energy, per period."""
    if inputs.green_target_pu is None:
        return
    v = lp.variables
    dt_h, grid_share = inputs.interval_h, 1.0 - inputs.green_target_pu
    period = green_periods(inputs)
    n_p = int(period.max()) + 1
    fixed_mwh = np.bincount(period, weights=inputs.load_mw * dt_h, minlength=n_p)
    # Σ (load + terms)·Δt ≤ (1 − g)·(Σ load·Δt + Σ flex·Δt), the load moved to the right.
    rows = lp.add_constraints("green-match", -np.inf, (grid_share - 1.0) * fixed_mwh)
    for block, coeff in import_terms(lp):
        lp.add_terms(rows[period], block, coeff * dt_h)
    lp.add_terms(rows[period][np.newaxis, :], v["flex-p"], -grid_share * dt_h)
    if lp.has("shortfall-green"):
        lp.add_terms(rows, v["shortfall-green"], -1.0)


def define_direct_connection_constraints(lp: LinearProblem, inputs: DispatchInputs) -> None:
    """``self-consumption`` and ``onsite-green`` (periods): the 绿电直连 shares, per period.

    Both bound on-site use u = Σ (Σ_g p − export)·Δt from below: by s_min × available output
    and by g_min × consumption (load + flexible), the flexible part moved to the left side.
    """
    s_min, g_min = inputs.self_consumption_min_pu, inputs.onsite_green_min_pu
    if s_min is None and g_min is None:
        return
    v = lp.variables
    dt_h = inputs.interval_h
    period = green_periods(inputs)
    n_p = int(period.max()) + 1

    def use_rows(name: str, lower: npt.ArrayLike) -> IntArray:
        rows = lp.add_constraints(name, lower, np.inf)
        lp.add_terms(rows[period][np.newaxis, :], v["generator-p"], dt_h)
        lp.add_terms(rows[period], v["grid-export"], -dt_h)
        return rows

    if s_min is not None:
        avail_mwh = np.bincount(
            period, weights=inputs.available_mw.sum(axis=0) * dt_h, minlength=n_p
        )
        rows = use_rows("self-consumption", s_min * avail_mwh)
        if lp.has("shortfall-self-consumption"):
            lp.add_terms(rows, v["shortfall-self-consumption"], 1.0)
    if g_min is not None:
        load_mwh = np.bincount(period, weights=inputs.load_mw * dt_h, minlength=n_p)
        rows = use_rows("onsite-green", g_min * load_mwh)
        lp.add_terms(rows[period][np.newaxis, :], v["flex-p"], -g_min * dt_h)
        if lp.has("shortfall-onsite-green"):
            lp.add_terms(rows, v["shortfall-onsite-green"], 1.0)


def define_objective(lp: LinearProblem, inputs: DispatchInputs) -> None:
    """Objective coefficients of the chosen objective, throughput ε, stored-energy credit ε_s
    and shortfall penalties."""
    v = lp.variables
    dt_h = inputs.interval_h
    c = objective_coefficients(inputs, lp.objective)
    per_import = (c.import_per_mwh + c.throughput_per_mwh) * dt_h
    for block, coeff in import_terms(lp):
        lp.add_cost(block, coeff * per_import)
    lp.add_offset(float(np.dot(per_import, inputs.load_mw)))
    lp.add_cost(v["grid-export"], (c.export_per_mwh + c.throughput_per_mwh) * dt_h)
    lp.add_cost(v["battery-charge"], c.throughput_per_mwh * dt_h)
    lp.add_cost(v["battery-discharge"], c.throughput_per_mwh * dt_h)
    lp.add_cost(v["battery-soe"], -c.stored_credit_per_mwh_h * dt_h)
    if not lp.elastic:
        return
    # Shortfalls are ranked: load ≫ flexible energy ≫ battery end states ≫ green target and
    # direct-connection shares (the last three alike). Each
    # weight is at least twice the next, so the elastic optimum gives up a lower-ranked
    # requirement before a higher one (1 MWh of supply buys ≤ 1 MWh of any of them, or
    # η_c MWh of stored energy). Among load shortfalls, earlier ones cost more, so every
    # interval that can be served is served first: the first shortfall is the first interval
    # that cannot be served.
    n_t = inputs.n_steps
    later = np.arange(n_t) / max(n_t - 1, 1)
    lp.add_cost(v["shortfall-load"], c.shortfall_per_mwh * dt_h * (12.0 - 4.0 * later))
    weights = {
        "shortfall-flex": 4.0,
        "shortfall-soe-low": 2.0,
        "shortfall-soe-high": 2.0,
        "shortfall-green": 1.0,
        "shortfall-self-consumption": 1.0,
        "shortfall-onsite-green": 1.0,
    }
    for name, weight in weights.items():
        if lp.has(name):
            lp.add_cost(v[name], weight * c.shortfall_per_mwh)


Define = Callable[[LinearProblem, "DispatchInputs"], None]

RECIPE: tuple[Define, ...] = (
    define_generator_variables,
    define_battery_variables,
    define_grid_variables,
    define_flex_variables,
    define_shortfall_variables,
    define_energy_balance_constraints,
    define_battery_constraints,
    define_flex_constraints,
    define_flex_group_constraints,
    define_green_match_constraints,
    define_direct_connection_constraints,
    define_objective,
)
"""The order in which :func:`~suandian.dispatch.problem.build_problem` defines the LP."""
