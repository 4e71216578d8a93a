"""Dispatch (源网荷储一体化): one LP over generation, curtailment, storage, grid and flexible load.

Pure kernel: :class:`DispatchInputs` (arrays and dataclasses) in, :class:`DispatchResult` out; no
configuration, files or stores. :func:`dispatch` solves the LP with HiGHS and falls back to the
rule-based plan, with a diagnosis, when the LP is infeasible. :func:`build_problem`,
:func:`update_problem` and :func:`solve` keep the LP in one HiGHS object for rolling horizons.
"""

from suandian.dispatch.constraints import RECIPE
from suandian.dispatch.diagnose import Diagnosis, diagnose
from suandian.dispatch.problem import (
    OBJECTIVES,
    BatteryUnit,
    DispatchInputs,
    DispatchProblem,
    DispatchResult,
    FlexibleLoad,
    Generator,
    GridConnection,
    Objective,
    build_problem,
    update_problem,
)
from suandian.dispatch.rules import rule_dispatch
from suandian.dispatch.solve import check_invariants, dispatch, net_simultaneous, solve

__all__ = [
    "OBJECTIVES",
    "RECIPE",
    "BatteryUnit",
    "Diagnosis",
    "DispatchInputs",
    "DispatchProblem",
    "DispatchResult",
    "FlexibleLoad",
    "Generator",
    "GridConnection",
    "Objective",
    "build_problem",
    "check_invariants",
    "diagnose",
    "dispatch",
    "net_simultaneous",
    "rule_dispatch",
    "solve",
    "update_problem",
]
