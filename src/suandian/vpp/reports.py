"""Settlement reports of demand-response events: per event, per interval and per month.

Each record (:class:`SettledEvent`) is an event, the park's answer to it and, once metered, its
settlement (:func:`suandian.vpp.settlement.settle_event`). Three tables are built from them:

:func:`event_table`
    one row per event, accepted, partial or rejected;
:func:`interval_table`
    one row per interval of every settled event;
:func:`monthly_table`
    per Asia/Shanghai calendar month of the event's local start: one row per direction and a
    ``total`` row.

Energies and money reconcile: the direction rows of a month sum to its ``total`` row, the months
sum to the events, and in every settled event and month delivered + shortfall = committed energy.
A rejected event carries zero energy and money. An accepted event not yet settled carries its
commitment in power (``committed_mw``) but no energy or money (NaN, left out of the sums), and is
counted as ``unsettled`` in its month.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from suandian.core.errors import InputError
from suandian.core.times import local_day
from suandian.vpp.events import DemandResponseEvent, EventAnswer
from suandian.vpp.settlement import EventSettlement

__all__ = [
    "EVENT_COLUMNS",
    "INTERVAL_COLUMNS",
    "MONTHLY_COLUMNS",
    "SettledEvent",
    "event_table",
    "interval_table",
    "monthly_table",
]

EVENT_COLUMNS = (
    "event_id",
    "direction",
    "kind",
    "start_utc",
    "end_utc",
    "local_date",
    "target_mw",
    "answer",
    "committed_mw",
    "reason",
    "settled",
    "price_cny_per_kwh",
    "penalty_cny_per_kwh",
    "committed_mwh",
    "delivered_mwh",
    "shortfall_mwh",
    "delivery_pu",
    "revenue_cny",
    "penalty_cny",
    "net_cny",
    "baseline_method",
)
INTERVAL_COLUMNS = (
    "event_id",
    "start_utc",
    "baseline_mw",
    "actual_mw",
    "committed_mw",
    "delivered_mw",
    "shortfall_mw",
)
_COUNTED = ("events", "accepted", "partial", "rejected", "unsettled")
_SUMMED = (
    "committed_mwh",
    "delivered_mwh",
    "shortfall_mwh",
    "revenue_cny",
    "penalty_cny",
    "net_cny",
)
MONTHLY_COLUMNS = ("month", "direction", *_COUNTED, *_SUMMED, "delivery_pu")
_DIRECTIONS = ("reduce", "increase")


@dataclass(frozen=True)
class SettledEvent:
    """One demand-response event with the park's answer and, once metered, its settlement."""

    event: DemandResponseEvent
    answer: EventAnswer
    settlement: EventSettlement | None
    """``None`` when the event was rejected or is not settled yet."""
    baseline_method: str
    """How the baseline was built, free text (e.g. ``"average 10-of-10"``, ``"high 5-of-10"``)."""
    step_min: int
    """Length of the settlement intervals. [min]"""

    def __post_init__(self) -> None:
        eid = self.event.event_id
        if self.answer.event_id != eid:
            raise InputError(
                f"answer.event_id: {self.answer.event_id!r} answers another event than "
                f"{eid!r}; pair each event with its own answer"
            )
        if self.step_min <= 0:
            raise InputError(f"step_min: {self.step_min} must be a positive number of minutes")
        s = self.settlement
        if s is None:
            return
        if self.answer.answer == "rejected":
            raise InputError(
                f"settlement: event {eid} was rejected, so nothing was committed to settle; "
                "pass settlement=None"
            )
        if s.direction != self.event.direction:
            raise InputError(
                f"settlement.direction: {s.direction!r} differs from the event's "
                f"{self.event.direction!r} (event {eid}); settle the event in its own direction"
            )
        n = len(self.event.steps(self.step_min))
        if s.baseline_mw.size != n:
            raise InputError(
                f"settlement: {s.baseline_mw.size} intervals for event {eid}, which has {n} "
                f"intervals of {self.step_min} min; settle it on the event's own interval grid"
            )


def _unique(records: Sequence[SettledEvent]) -> None:
    seen: set[str] = set()
    for r in records:
        eid = r.event.event_id
        if eid in seen:
            raise InputError(
                f"records: event {eid!r} appears more than once; give each event one record, "
                "or it would be counted twice"
            )
        seen.add(eid)


def event_table(records: Sequence[SettledEvent]) -> pd.DataFrame:
    """One row per event, in the order given.

    Parameters
    ----------
    records : sequence of SettledEvent
        Events with unique ``event_id``.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`EVENT_COLUMNS`: ``start_utc``/``end_utc`` tz-aware UTC; ``local_date``
        the Asia/Shanghai date of the start; ``target_mw`` and ``committed_mw`` [MW];
        ``price_cny_per_kwh`` and ``penalty_cny_per_kwh`` [CNY kWh⁻¹]; ``committed_mwh``,
        ``delivered_mwh``, ``shortfall_mwh`` [MWh]; ``revenue_cny``, ``penalty_cny``,
        ``net_cny`` [CNY]; ``delivery_pu`` delivered over committed energy (NaN when nothing was
        committed or it is not settled). Rejected events: zero energy and money; accepted
        events not yet settled (``settled`` false): NaN energy and money.
    """
    _unique(records)
    rows: list[dict[str, object]] = []
    for r in records:
        e, a, s = r.event, r.answer, r.settlement
        money: dict[str, float]
        if s is not None:
            money = {
                "committed_mwh": s.committed_mwh,
                "delivered_mwh": s.delivered_mwh,
                "shortfall_mwh": s.shortfall_mwh,
                "delivery_pu": (
                    s.delivered_mwh / s.committed_mwh if s.committed_mwh > 0 else float("nan")
                ),
                "revenue_cny": s.revenue_cny,
                "penalty_cny": s.penalty_cny,
                "net_cny": s.net_cny,
            }
        elif a.answer == "rejected":
            money = dict.fromkeys(_SUMMED, 0.0) | {"delivery_pu": float("nan")}
        else:
            money = dict.fromkeys((*_SUMMED, "delivery_pu"), float("nan"))
        rows.append(
            {
                "event_id": e.event_id,
                "direction": e.direction,
                "kind": e.kind,
                "start_utc": pd.Timestamp(e.start_utc).tz_convert("UTC"),
                "end_utc": pd.Timestamp(e.end_utc).tz_convert("UTC"),
                "target_mw": float(e.target_mw),
                "answer": a.answer,
                "committed_mw": float(a.committed_mw),
                "reason": a.reason,
                "settled": s is not None,
                "price_cny_per_kwh": float(e.price_cny_per_kwh),
                "penalty_cny_per_kwh": float(e.penalty_cny_per_kwh),
                **money,
                "baseline_method": r.baseline_method,
            }
        )
    if not rows:
        return _empty_events()
    frame = pd.DataFrame(rows)
    for column in ("start_utc", "end_utc"):
        frame[column] = pd.to_datetime(frame[column], utc=True)
    days = local_day(pd.DatetimeIndex(frame["start_utc"]))
    frame["local_date"] = [pd.Timestamp(d).date() for d in days]
    return frame[list(EVENT_COLUMNS)]


def _empty_events() -> pd.DataFrame:
    frame = pd.DataFrame({c: pd.Series(dtype="float64") for c in EVENT_COLUMNS})
    for column in ("event_id", "direction", "kind", "answer", "reason", "baseline_method"):
        frame[column] = pd.Series(dtype="str")
    for column in ("start_utc", "end_utc"):
        frame[column] = pd.Series(dtype="datetime64[us, UTC]")
    frame["local_date"] = pd.Series(dtype="object")
    frame["settled"] = pd.Series(dtype="bool")
    return frame


def interval_table(records: Sequence[SettledEvent]) -> pd.DataFrame:
    """One row per interval of every settled event, events in the order given.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`INTERVAL_COLUMNS`: ``start_utc`` the interval's start, tz-aware UTC
        (intervals are period-start, ``step_min`` long); powers in MW, as settled.
    """
    _unique(records)
    frames = []
    for r in records:
        s = r.settlement
        if s is None:
            continue
        frames.append(
            pd.DataFrame(
                {
                    "event_id": r.event.event_id,
                    "start_utc": r.event.steps(r.step_min),
                    "baseline_mw": s.baseline_mw,
                    "actual_mw": s.actual_mw,
                    "committed_mw": s.committed_mw,
                    "delivered_mw": s.delivered_mw,
                    "shortfall_mw": s.shortfall_mw,
                }
            )
        )
    if not frames:
        frame = pd.DataFrame({c: pd.Series(dtype="float64") for c in INTERVAL_COLUMNS})
        frame["event_id"] = pd.Series(dtype="str")
        frame["start_utc"] = pd.Series(dtype="datetime64[us, UTC]")
        return frame
    return pd.concat(frames, ignore_index=True)[list(INTERVAL_COLUMNS)]


def monthly_table(records: Sequence[SettledEvent]) -> pd.DataFrame:
    """Per Asia/Shanghai month of the events' local start: one row per direction, then ``total``.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`MONTHLY_COLUMNS`, months in order (``month`` as ``YYYY-MM``), within a
        month ``reduce``, ``increase`` (each only when the month has such events) and
        ``total``. ``events`` counts every event received; ``accepted``, ``partial`` and
        ``rejected`` count the answers; ``unsettled`` the accepted or partial events without a
        settlement, whose energy and money are not in the sums. Energies [MWh] and money [CNY]
        are sums over the settled events; ``delivery_pu`` is delivered over committed energy
        (NaN when nothing was committed).
    """
    events = event_table(records)
    if events.empty:
        frame = pd.DataFrame({c: pd.Series(dtype="float64") for c in MONTHLY_COLUMNS})
        frame["month"] = pd.Series(dtype="str")
        frame["direction"] = pd.Series(dtype="str")
        for column in _COUNTED:
            frame[column] = pd.Series(dtype="int64")
        return frame
    months = np.asarray(local_day(pd.DatetimeIndex(events["start_utc"])), dtype="datetime64[M]")
    events["month"] = months.astype(str)
    rows: list[dict[str, object]] = []
    for month, in_month in events.groupby("month", sort=True):
        directions = [d for d in _DIRECTIONS if (in_month["direction"] == d).any()]
        parts = [_month_part(in_month[in_month["direction"] == d]) for d in directions]
        named = list(zip(directions, parts, strict=True))
        # The total is the sum of the direction rows, so it reconciles with them exactly.
        total = (
            {k: sum(p[0][k] for p in parts) for k in _COUNTED},
            {k: sum(p[1][k] for p in parts) for k in _SUMMED},
        )
        for direction, (counts, sums) in [*named, ("total", total)]:
            rows.append(
                {
                    "month": str(month),
                    "direction": direction,
                    **counts,
                    **sums,
                    "delivery_pu": _ratio(sums["delivered_mwh"], sums["committed_mwh"]),
                }
            )
    return pd.DataFrame(rows)[list(MONTHLY_COLUMNS)]


def _month_part(events: pd.DataFrame) -> tuple[dict[str, int], dict[str, float]]:
    """Counts and sums of one month's events of one direction."""
    answers = events["answer"]
    pending = answers.ne("rejected") & ~events["settled"].astype(bool)
    counts = {
        "events": len(events),
        "accepted": int(answers.eq("accepted").sum()),
        "partial": int(answers.eq("partial").sum()),
        "rejected": int(answers.eq("rejected").sum()),
        "unsettled": int(pending.sum()),
    }
    sums = {c: float(events.loc[~pending, c].sum()) for c in _SUMMED}
    return counts, sums


def _ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator > 0 else float("nan")
