"""A simulated grid operator's demand-response events over a period, with the awkward ones in it.

:func:`event_stream` draws events the way a provincial grid operator in Qinghai would send them:
evening peak shaving (削峰, ``reduce``, 18:00–22:00 local, 3–5 CNY/kWh) and midday valley
filling (填谷, ``increase``, 11:00–15:00 local, 0.2 CNY/kWh), 1–3 h long, targets of
``target_mw`` (low, high), mostly day-ahead (received at 18:00 local the day before) and some
intraday (received 2–4 h before the start). Among them, on purpose:

- ``overlap-*``: events overlapping another event of the stream (half an hour later);
- ``late-*``: events received half an hour after their start;
- ``huge-*``: targets of ten times the high end, beyond any envelope of the park.

Seeded: the same arguments give the same stream.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from suandian.core.errors import InputError
from suandian.core.times import local_hours_utc
from suandian.vpp import DemandResponseEvent

__all__ = ["StreamEvent", "event_stream"]


@dataclass(frozen=True)
class StreamEvent:
    """An event and when the park receives it."""

    received_utc: dt.datetime
    event: DemandResponseEvent
    tag: str
    """``regular``, ``overlap``, ``late`` or ``huge``."""


def event_stream(
    first_day: dt.date,
    last_day: dt.date,
    *,
    n_events: int = 100,
    n_awkward: int = 3,
    target_mw: tuple[float, float] = (5.0, 40.0),
    seed: int = 7,
) -> list[StreamEvent]:
    """``n_events`` events on days in ``[first_day, last_day]``, ``n_awkward`` of each awkward
    kind among them, sorted by reception time (module docstring)."""
    n_regular = n_events - 3 * n_awkward
    if n_awkward < 0 or n_regular < max(n_awkward, 1):
        raise InputError(
            f"n_events: {n_events} leaves {n_regular} regular events for {n_awkward} of each "
            "awkward kind; ask for more events or fewer awkward ones"
        )
    days = (last_day - first_day).days + 1
    slots = 2 * days  # one midday and one evening event per day at most
    if n_regular + n_awkward > slots:
        raise InputError(
            f"n_events: {n_events} events do not fit {days} days (two regular events a day)"
        )
    rng = np.random.default_rng(seed)
    chosen = np.sort(rng.choice(slots, size=n_regular + n_awkward, replace=False))
    huge = set(rng.choice(len(chosen), size=n_awkward, replace=False).tolist())
    out: list[StreamEvent] = []
    regular: list[StreamEvent] = []
    for k, slot in enumerate(chosen):
        day = first_day + dt.timedelta(days=int(slot) // 2)
        evening = int(slot) % 2 == 1
        hours = int(rng.integers(1, 4))
        if evening:
            direction, start_h = "reduce", float(rng.integers(18, 23 - hours))
            price = round(float(rng.uniform(3.0, 5.0)), 2)
        else:
            direction, start_h = "increase", float(rng.integers(11, 16 - hours))
            price = 0.2
        target = round(float(rng.uniform(*target_mw)), 1)
        tag = "huge" if k in huge else "regular"
        if tag == "huge":
            target = round(10 * target_mw[1], 1)
        intraday = rng.random() < 0.2
        received = (
            local_hours_utc(day, start_h - float(rng.integers(2, 5)))
            if intraday
            else local_hours_utc(day, -6)
        )
        event = DemandResponseEvent(
            event_id=f"{tag}-{day:%m%d}-{'pm' if evening else 'md'}",
            direction=direction,  # type: ignore[arg-type]
            start_utc=local_hours_utc(day, start_h),
            end_utc=local_hours_utc(day, start_h + hours),
            target_mw=target,
            price_cny_per_kwh=price,
            penalty_cny_per_kwh=round(price / 2, 3),
            kind="intraday" if intraday else "day_ahead",
        )
        item = StreamEvent(received, event, tag)
        out.append(item)
        if tag == "regular":
            regular.append(item)
    picks = rng.choice(len(regular), size=2 * n_awkward, replace=False)
    for j, i in enumerate(picks):
        base = regular[int(i)].event
        if j < n_awkward:  # overlapping: half an hour later, received after the original
            shift = dt.timedelta(minutes=30)
            event = DemandResponseEvent(
                f"overlap-{base.event_id}",
                base.direction,
                base.start_utc + shift,
                base.end_utc + shift,
                base.target_mw,
                base.price_cny_per_kwh,
                base.penalty_cny_per_kwh,
                "intraday",
            )
            received = max(regular[int(i)].received_utc, base.start_utc - dt.timedelta(hours=3))
            out.append(StreamEvent(received + dt.timedelta(minutes=5), event, "overlap"))
        else:  # late: an intraday instruction that arrives after its start
            start = base.start_utc + dt.timedelta(hours=1)
            event = DemandResponseEvent(
                f"late-{base.event_id}",
                base.direction,
                start,
                start + dt.timedelta(hours=1),
                base.target_mw,
                base.price_cny_per_kwh,
                base.penalty_cny_per_kwh,
                "intraday",
            )
            out.append(StreamEvent(start + dt.timedelta(minutes=30), event, "late"))
    out.sort(key=lambda s: (s.received_utc, s.event.event_id))
    return out
