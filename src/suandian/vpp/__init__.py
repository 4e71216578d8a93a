"""Virtual power plant (虚拟电厂): demand-response events, baselines and settlement.

Kernels only: arrays and dataclasses in and out, no storage and no configuration.
"""

from suandian.vpp.baseline import Baseline, BaselineMethod, event_baseline, similar_days
from suandian.vpp.events import Answer, DemandResponseEvent, EventAnswer, answer_event
from suandian.vpp.reports import SettledEvent, event_table, interval_table, monthly_table
from suandian.vpp.settlement import Direction, EventSettlement, settle_event

__all__ = [
    "Answer",
    "Baseline",
    "BaselineMethod",
    "DemandResponseEvent",
    "Direction",
    "EventAnswer",
    "EventSettlement",
    "SettledEvent",
    "answer_event",
    "event_baseline",
    "event_table",
    "interval_table",
    "monthly_table",
    "settle_event",
    "similar_days",
]
