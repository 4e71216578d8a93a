"""Settlement of one demand-response event: delivered energy, payment and shortfall penalty.

Per interval t of the event, with baseline B, metered load A and committed power C (what the
park accepted of the grid's request, never more than the request):

- load reduction (削峰): delivered d_t = clip(B_t − A_t, 0, C_t);
- load increase (填谷): delivered d_t = clip(A_t − B_t, 0, C_t);
- shortfall s_t = C_t − d_t.

Energy is power × interval length; payment = Σ d · price, penalty = Σ s · penalty price, both on
kWh. Delivery beyond the commitment is not paid, and delivery in the wrong direction counts as
none (it is not netted against other intervals).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from suandian.core.errors import InputError
from suandian.core.units import KWH_PER_MWH

__all__ = ["Direction", "EventSettlement", "direction_sign", "settle_event"]

FloatArray = npt.NDArray[np.float64]
Direction = Literal["reduce", "increase"]


@dataclass(frozen=True)
class EventSettlement:
    """An event's settlement, per interval and in total."""

    direction: Direction
    baseline_mw: FloatArray
    actual_mw: FloatArray
    committed_mw: FloatArray
    delivered_mw: FloatArray
    shortfall_mw: FloatArray
    committed_mwh: float
    delivered_mwh: float
    shortfall_mwh: float
    revenue_cny: float
    penalty_cny: float

    @property
    def net_cny(self) -> float:
        return self.revenue_cny - self.penalty_cny

    @property
    def delivery_pu(self) -> float:
        """Delivered over committed energy (1.0 for a fully delivered event)."""
        return self.delivered_mwh / self.committed_mwh if self.committed_mwh > 0 else 1.0


def direction_sign(direction: Direction) -> float:
    """+1 for a reduction (delivery = baseline − actual), −1 for an increase."""
    if direction not in ("reduce", "increase"):
        raise InputError(f"direction: {direction!r}; use reduce or increase")
    return 1.0 if direction == "reduce" else -1.0


def _series(value: FloatArray | float, steps: int, field: str) -> FloatArray:
    arr = np.broadcast_to(np.asarray(value, dtype=np.float64), (steps,)).copy()
    if not np.isfinite(arr).all():
        raise InputError(f"{field}: every value must be a finite number of MW")
    return arr


def settle_event(
    *,
    direction: Direction,
    baseline_mw: FloatArray,
    actual_mw: FloatArray,
    committed_mw: FloatArray | float,
    price_cny_per_kwh: float,
    penalty_cny_per_kwh: float,
    step_h: float,
) -> EventSettlement:
    """Settle one event over its intervals (see the module docstring)."""
    if direction not in ("reduce", "increase"):
        raise InputError(f"direction: {direction!r}; use reduce or increase")
    if step_h <= 0:
        raise InputError(f"step_h: {step_h} must be > 0 hours")
    if price_cny_per_kwh < 0 or penalty_cny_per_kwh < 0:
        raise InputError(
            "price_cny_per_kwh and penalty_cny_per_kwh must be ≥ 0 "
            f"(got {price_cny_per_kwh}, {penalty_cny_per_kwh})"
        )
    baseline = np.asarray(baseline_mw, dtype=np.float64)
    steps = baseline.size
    actual = _series(actual_mw, steps, "actual_mw")
    baseline = _series(baseline, steps, "baseline_mw")
    committed = _series(committed_mw, steps, "committed_mw")
    if (committed < 0).any():
        raise InputError("committed_mw: must be ≥ 0 MW in every interval")
    change = direction_sign(direction) * (baseline - actual)
    delivered = np.clip(change, 0.0, committed)
    shortfall = committed - delivered
    delivered_mwh = float(delivered.sum() * step_h)
    shortfall_mwh = float(shortfall.sum() * step_h)
    return EventSettlement(
        direction=direction,
        baseline_mw=baseline,
        actual_mw=actual,
        committed_mw=committed,
        delivered_mw=delivered,
        shortfall_mw=shortfall,
        committed_mwh=float(committed.sum() * step_h),
        delivered_mwh=delivered_mwh,
        shortfall_mwh=shortfall_mwh,
        revenue_cny=delivered_mwh * KWH_PER_MWH * price_cny_per_kwh,
        penalty_cny=shortfall_mwh * KWH_PER_MWH * penalty_cny_per_kwh,
    )
