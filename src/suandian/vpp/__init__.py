"""Virtual power plant (虚拟电厂): flexibility envelopes, demand-response events and the portfolio
that answers them, baselines, settlement and its reports.

Kernels only: arrays and dataclasses in and out, no storage and no configuration.
"""

from suandian.vpp.baseline import (
    Baseline,
    BaselineMethod,
    adjustment_window,
    event_baseline,
    similar_days,
)
from suandian.vpp.envelope import (
    Envelope,
    Held,
    envelope_profile,
    flexibility_envelope,
    replay_envelope,
)
from suandian.vpp.events import Answer, DemandResponseEvent, EventAnswer, answer_event
from suandian.vpp.portfolio import (
    Commitment,
    DeliveryStatus,
    Portfolio,
    delivery_so_far,
    net_exchange_mw,
)
from suandian.vpp.reports import SettledEvent, event_table, interval_table, monthly_table
from suandian.vpp.settlement import Direction, EventSettlement, direction_sign, settle_event

__all__ = [
    "Answer",
    "Baseline",
    "BaselineMethod",
    "Commitment",
    "DeliveryStatus",
    "DemandResponseEvent",
    "Direction",
    "Envelope",
    "EventAnswer",
    "EventSettlement",
    "Held",
    "Portfolio",
    "SettledEvent",
    "adjustment_window",
    "answer_event",
    "delivery_so_far",
    "direction_sign",
    "envelope_profile",
    "event_baseline",
    "event_table",
    "flexibility_envelope",
    "interval_table",
    "monthly_table",
    "net_exchange_mw",
    "replay_envelope",
    "settle_event",
    "similar_days",
]
