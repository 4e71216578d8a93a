"""One site of a simulated park dispatched twice: by the LP and by the rules, on the same inputs.

:func:`plan_site` is what ``suandian dispatch run``, the demo and ``POST /v1/dispatch/plans``
plan: the site's dispatch inputs (:func:`suandian.sim.dispatch_inputs.dispatch_inputs`), the
optimised plan (one solve, or a rolling horizon) and the rule-based baseline.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    # The solver loads only when a plan is made, so that the command line starts fast.
    from suandian.dispatch import DispatchInputs, DispatchResult, Objective
    from suandian.scenario.model import Park
    from suandian.sim.park import ParkSeries

__all__ = ["Comparison", "plan_site"]


@dataclass(frozen=True)
class Comparison:
    """The optimised plan of one site and the rule-based baseline on the same inputs."""

    site: str
    inputs: DispatchInputs
    optimised: DispatchResult
    rules: DispatchResult
    horizon: str
    """How the optimum was found, e.g. ``one solve`` or ``rolling 48/24 h``."""
    resolution_min: int


def plan_site(
    park: Park,
    series: ParkSeries,
    *,
    site: str | None = None,
    objective: Objective = "cost",
    resolution_min: int = 60,
    rolling: tuple[int, int] | None = None,
    time_limit_s: float | None = None,
    carbon_price_cny_per_tco2: float = 0.0,
    direct_connection: bool = False,
    green_target_pu: float | None = None,
) -> Comparison:
    """Dispatch one site of a simulated park, optimised and by the rules.

    ``rolling``: (window, commit) in intervals for a rolling horizon; ``None`` solves the whole
    period at once. ``direct_connection``: require the scenario's direct-connection shares
    (``targets.self_consumption_min_pu`` and ``targets.onsite_green_min_pu``) over the period.
    ``green_target_pu``: the optimised plan keeps the hourly-matched green share (1 − import /
    consumption) at or above it on every Asia/Shanghai day; the rule-based baseline ignores it.
    """
    from suandian.dispatch import dispatch, rolling_dispatch, rule_dispatch
    from suandian.sim.dispatch_inputs import dispatch_inputs, resolve_site

    site_id = resolve_site(park, site)
    inputs = dispatch_inputs(
        park,
        series,
        site=site_id,
        resolution_min=resolution_min,
        carbon_price_cny_per_tco2=carbon_price_cny_per_tco2,
        self_consumption_min_pu=(
            park.targets.self_consumption_min_pu if direct_connection else None
        ),
        onsite_green_min_pu=park.targets.onsite_green_min_pu if direct_connection else None,
    )
    if green_target_pu is not None:
        inputs = replace(inputs, green_target_pu=green_target_pu, green_target_period="day")
    if rolling is None:
        optimised = dispatch(inputs, objective, time_limit_s=time_limit_s)
        horizon = "one solve"
    else:
        optimised = rolling_dispatch(
            inputs,
            window_steps=rolling[0],
            commit_steps=rolling[1],
            objective=objective,
            time_limit_s=time_limit_s,
        )
        hours = [n * inputs.interval_h for n in rolling]
        horizon = f"rolling {hours[0]:g}/{hours[1]:g} h"
    rules = rule_dispatch(inputs, objective)
    return Comparison(site_id, inputs, optimised, rules, horizon, resolution_min)
