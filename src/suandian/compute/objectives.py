"""What the multi-site planner minimises (:func:`suandian.compute.capacity.step_cost_per_mwh`).

Kept apart from the planner so that entry points can check a user's choice without loading the
LP solver.
"""

from __future__ import annotations

from typing import Literal

__all__ = ["GREEN_TIE_BREAK", "OBJECTIVES", "Objective"]

Objective = Literal["carbon", "cost", "green", "weighted"]
OBJECTIVES: tuple[Objective, ...] = ("carbon", "cost", "green", "weighted")

GREEN_TIE_BREAK = 1e-6
"""Weight of carbon [per kgCO₂] beside each MWh of grid energy in the ``green`` objective: among
plans that take as much on-site surplus, the cleaner grid energy wins."""
