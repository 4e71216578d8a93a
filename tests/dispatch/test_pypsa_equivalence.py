"""The dispatch LP and PyPSA agree on identical problems (PyPSA is a test dependency only).

The problems are those of ``benchmarks/dispatch_vs_pypsa.py`` (loaded from there, so the
mapping of the park to PyPSA that the benchmark times is the one tested here), cut to the first
14 days of January 2025, hourly (336 steps), of the simulated ``xining`` park: PV and wind whose
output may be curtailed for free, a battery (50 MW / 200 MWh, round trip 0.9, soc 0.05–0.95,
starting and ending at 0.5), the park's loads as fixed load and a grid tie with a 60 MW import
limit.

- case ``a``: flat import price 0.38 CNY/kWh, export paid 0.15 CNY/kWh, no export cap;
- case ``b``: the scenario's time-of-use import tariff (0.19 / 0.38 / 0.57 CNY/kWh), export
  paid 0.15 CNY/kWh and capped at 20 % of the available on-site output per interval.

In PyPSA: one bus, a ``Load``, PV and wind as ``Generator``s (``p_max_pu`` = available /
``p_nom``, no marginal cost), the import as a ``Generator`` (``p_nom`` = import limit, the price
as a time-varying marginal cost), the export as a ``Generator`` of ``sign`` −1 (minus the export
price as marginal cost, the cap as its ``p_max_pu`` series), the battery as a ``StorageUnit``
(efficiency √0.9 each way, no standing loss) whose state of charge is shifted down by the
minimum, 0.05 × 200 MWh, because PyPSA's lower bound is 0, with the end fixed to the start by
``state_of_charge_set`` on the last snapshot (suandian's ``cyclic``).

What is compared: the cost of each tool's optimal schedule, both recomputed from the schedule
by the one function ``cost_cny`` (Σ import price × import − export price × export, in CNY),
within 1e-6 relative. The solvers' objectives differ by design and are not compared with each
other: suandian's LP adds a throughput cost ε (10⁻⁶ of the price scale, here 0.001 CNY per MWh
charged, discharged, imported or exported, to rule out simultaneous charge and discharge), so
its solver objective exceeds the cost by ε × throughput, about 1e-5 of it in these two weeks;
and it values export at min(export price, import price), which is the export price here
because the export price (0.15) never exceeds the import price. ε can only raise the real cost
of suandian's optimum, by at most ε × PyPSA's throughput (the same 1e-5 order, so that bound
alone would not give 1e-6); in fact it only picks among plans of equal cost, and the two costs
agree to rounding (≈ 1e-16). Also checked: suandian's reported ``cost_cny`` is that same cost,
PyPSA's ``n.objective`` is too (no objective constant), and PyPSA's schedule is a feasible plan
of suandian's problem (``check_invariants``, end state included).

Warnings (errors in this suite): PyPSA 1.x would warn (``FutureWarning``) about its
string-dtype and ``include_objective_constant`` defaults; the benchmark's helpers set both
explicitly (``pypsa.options.api.legacy_string_dtype = True``,
``include_objective_constant=False``) instead of filtering. One warning is filtered, on the
rolling-horizon test only: ``pandas.errors.Pandas4Warning`` raised from ``pypsa.networks``
(PyPSA re-solving one network calls ``DataFrame.drop(inplace=True)``, deprecated in pandas 3).
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from suandian.dispatch import check_invariants, dispatch
from suandian.dispatch.problem import make_result

BENCHMARK = Path(__file__).resolve().parents[2] / "benchmarks" / "dispatch_vs_pypsa.py"
REL_TOL = 1e-6


def _load_benchmark() -> ModuleType:
    name = "dispatch_vs_pypsa_benchmark"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, BENCHMARK)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses resolve their module by name
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    return _load_benchmark()


@pytest.fixture(scope="module")
def park(bench: ModuleType) -> object:
    return bench.hourly_park(start=dt.date(2025, 1, 1), days=14)


@pytest.mark.parametrize("case", ["a", "b"])
def test_optimal_cost_agrees_with_pypsa(bench: ModuleType, park: object, case: str) -> None:
    problem = bench.make_problem(park, case)
    inputs = bench.to_dispatch_inputs(problem)
    assert problem.n_steps == 336
    assert (problem.export_price_cny_per_kwh <= problem.import_price_cny_per_kwh).all()

    ours = dispatch(inputs)
    assert ours.method == "lp", ours.diagnosis
    check_invariants(inputs, ours)

    n = bench.to_pypsa(problem)
    bench.optimize_pypsa(n)
    theirs = bench.pypsa_flows(problem, n)

    # PyPSA's optimum is a feasible plan of suandian's problem (same constraints).
    as_plan = make_result(
        inputs,
        "cost",
        method="lp",
        generator_p_mw=theirs.generator_p_mw,
        battery_charge_mw=theirs.battery_charge_mw,
        battery_discharge_mw=theirs.battery_discharge_mw,
        battery_soe_mwh=theirs.battery_soe_mwh,
        grid_import_mw=theirs.grid_import_mw,
        grid_export_mw=theirs.grid_export_mw,
        flex_p_mw=np.zeros((0, inputs.n_steps)),
    )
    check_invariants(inputs, as_plan)

    cost_ours = bench.cost_cny(problem, ours.grid_import_mw, ours.grid_export_mw)
    cost_theirs = bench.cost_cny(problem, theirs.grid_import_mw, theirs.grid_export_mw)
    assert cost_ours == pytest.approx(ours.cost_cny, rel=1e-12)
    assert bench.pypsa_cost_objective(problem, n) == pytest.approx(cost_theirs, rel=1e-9)
    assert abs(cost_ours - cost_theirs) <= REL_TOL * abs(cost_theirs)

    # The case exercises what it claims: the battery cycles, energy is exported, and in case
    # b the export cap binds and output is curtailed.
    assert ours.equivalent_full_cycles[0] > 1.0
    assert ours.export_mwh > 0.0
    if case == "b":
        cap = inputs.export_cap_mw
        assert ((ours.grid_export_mw >= cap - 1e-6) & (cap > 1.0)).any()
        assert ours.curtailment_mwh > 0.0


# PyPSA's second and later solves of one network redo its topology with
# ``DataFrame.drop(..., inplace=True)``, which pandas 3 deprecates (its code, not ours).
@pytest.mark.filterwarnings("ignore::pandas.errors.Pandas4Warning:pypsa.networks")
def test_rolling_horizon_cost_agrees_with_pypsa(bench: ModuleType, park: object) -> None:
    """Three days of case ``b`` in 48-h windows committing 24 h, both tools.

    suandian's ``rolling_dispatch`` plans windows starting at steps 0 and 24 (the second
    reaches the end and commits all its 48 steps, ending at the start's state of charge).
    PyPSA's ``optimize_with_rolling_horizon(horizon=48, overlap=24)`` plans windows starting at
    0, 24 and 48, the last re-planning steps 48–71 from the state its predecessor left at step
    47 with the same fixed end; an optimal plan's tail is optimal for its own state, so both
    commit plans of the same cost. PyPSA carries suandian's stored-energy credit ε_s as a
    negative ``marginal_cost_storage``, so both break ties in time the same way and hand the second
    window the same stored energy. Compared: that energy (1e-6 MWh) and ``cost_cny`` of both
    committed schedules, within 1e-6 relative.
    """
    from suandian.dispatch.rolling import rolling_dispatch

    problem = bench.make_problem(park, "b").head(72)
    inputs = bench.to_dispatch_inputs(problem)
    ours = rolling_dispatch(
        inputs, window_steps=bench.WINDOW_STEPS, commit_steps=bench.COMMIT_STEPS
    )
    assert ours.method == "lp-rolling" and ours.diagnosis is None
    check_invariants(inputs, ours)

    n = bench.to_pypsa(problem)
    bench.rolling_pypsa(n)
    theirs = bench.pypsa_flows(problem, n)
    assert theirs.battery_soe_mwh[0, -1] == pytest.approx(ours.battery_soe_mwh[0, -1], abs=1e-6)
    handed_on = bench.COMMIT_STEPS - 1
    assert theirs.battery_soe_mwh[0, handed_on] == pytest.approx(
        ours.battery_soe_mwh[0, handed_on], abs=1e-6
    )

    cost_ours = bench.cost_cny(problem, ours.grid_import_mw, ours.grid_export_mw)
    cost_theirs = bench.cost_cny(problem, theirs.grid_import_mw, theirs.grid_export_mw)
    assert abs(cost_ours - cost_theirs) <= REL_TOL * abs(cost_theirs)
