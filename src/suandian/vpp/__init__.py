"""Virtual power plant (虚拟电厂): demand-response baselines and event settlement.

Kernels only: arrays and dataclasses in and out, no storage and no configuration.
"""

from suandian.vpp.baseline import Baseline, BaselineMethod, event_baseline, similar_days
from suandian.vpp.settlement import Direction, EventSettlement, settle_event

__all__ = [
    "Baseline",
    "BaselineMethod",
    "Direction",
    "EventSettlement",
    "event_baseline",
    "settle_event",
    "similar_days",
]
