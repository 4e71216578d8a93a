"""Dispatch (源网荷储一体化): one LP over generation, curtailment, storage, grid and flexible load.

Pure kernel: :class:`DispatchInputs` (arrays and dataclasses) in, :class:`DispatchResult` out; no
configuration, files or stores. :func:`dispatch` solves the LP with HiGHS and falls back to the
rule-based plan, with a diagnosis, when the LP is infeasible. :func:`build_problem`,
:func:`update_problem` and :func:`solve` keep the LP in one HiGHS object;
:func:`rolling_dispatch` uses them to plan a long period window by window on one model.
:func:`schedule_frame` and :func:`key_figures` lay a plan out for people.
"""

from suandian.dispatch.constraints import RECIPE
from suandian.dispatch.diagnose import Diagnosis, diagnose
from suandian.dispatch.problem import (
    OBJECTIVES,
    BatteryUnit,
    DispatchInputs,
    DispatchProblem,
    DispatchResult,
    FlexGroup,
    FlexibleLoad,
    FlexPlan,
    Generator,
    GridConnection,
    Objective,
    build_problem,
    update_problem,
)
from suandian.dispatch.rolling import Forecast, rolling_dispatch
from suandian.dispatch.rules import rule_dispatch
from suandian.dispatch.schedule import FIGURES, key_figures, schedule_frame
from suandian.dispatch.solve import check_invariants, dispatch, net_simultaneous, solve

__all__ = [
    "FIGURES",
    "OBJECTIVES",
    "RECIPE",
    "BatteryUnit",
    "Diagnosis",
    "DispatchInputs",
    "DispatchProblem",
    "DispatchResult",
    "FlexGroup",
    "FlexPlan",
    "FlexibleLoad",
    "Forecast",
    "Generator",
    "GridConnection",
    "Objective",
    "build_problem",
    "check_invariants",
    "diagnose",
    "dispatch",
    "key_figures",
    "net_simultaneous",
    "rolling_dispatch",
    "rule_dispatch",
    "schedule_frame",
    "solve",
    "update_problem",
]
