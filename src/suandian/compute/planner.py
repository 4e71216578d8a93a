"""The multi-site planner in two levels: an energy LP over sites × slots, then job packing.

Energy level (:func:`plan_capacity`, in :mod:`suandian.compute.capacity`)
    An LP decides how much flexible compute energy each site serves in each slot and thereby
    its *capacity curve*; its optimum is a lower bound on the objective of any job-level plan,
    and the dual of its site balance is the marginal cost of energy per site and slot.
Job level (:func:`pack_jobs`, in :mod:`suandian.compute.packing`)
    Three passes — first pass, repair, improvement — place every job that can meet its deadline
    and report the rest with the reason, never dropped silently.

This module is the entry point: it re-exports both levels' public names.
"""

from __future__ import annotations

from suandian.compute.capacity import (
    CapacityPlan,
    SiteSignals,
    capacity_grid,
    plan_capacity,
    step_cost_per_mwh,
)
from suandian.compute.objectives import Objective as Objective
from suandian.compute.packing import PackResult, pack_jobs, plan_cost, take_jobs

__all__ = [
    "CapacityPlan",
    "PackResult",
    "SiteSignals",
    "capacity_grid",
    "pack_jobs",
    "plan_capacity",
    "plan_cost",
    "step_cost_per_mwh",
    "take_jobs",
]
