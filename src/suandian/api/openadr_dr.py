"""OpenADR 3 objects ↔ the virtual power plant's demand-response events, answers and delivery.

A grid operator posts a demand-response event to the park's VTN as an OpenADR event; the park
answers with a report named ``answer`` and, after the event, reports its delivery in a report
named ``delivery``. The conventions (docs/openadr.md, "Demand-response events"):

- the event's intervals are consecutive, of one length, and together form the window
  ``[start, end)``, whose edges sit on the park's interval grid;
- every interval carries ``DISPATCH_SETPOINT_RELATIVE`` (the requested change of consumption in
  ``KW`` or ``MW`` from the payload descriptor, default ``KW``; negative lowers consumption,
  positive raises it; the same value in every interval), ``PRICE`` (CNY/kWh delivered, the same
  in every interval) and optionally the private ``PENALTY_PRICE`` (CNY/kWh committed and not
  delivered, default 0);
- an event received before the Asia/Shanghai local day of its start is ``day_ahead``, one
  received on or after that day ``intraday``.

Nothing here talks to a VTN: these functions translate dicts (JSON bodies) to and from the
kernels' dataclasses. Bad input raises :class:`~suandian.core.errors.InputError` naming the field
in the VTN's own notation (``intervals[2].payloads[0].values``).
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any, Final, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from suandian.core.errors import InputError
from suandian.core.times import local_date_start_utc, local_day
from suandian.core.units import KW_PER_MW
from suandian.vpp.events import DemandResponseEvent, EventAnswer
from suandian.vpp.settlement import Direction, EventSettlement, direction_sign

__all__ = [
    "ANSWER_REPORT_NAME",
    "DELIVERY_REPORT_NAME",
    "answer_report",
    "delivery_report",
    "event_body",
    "parse_answer_report",
    "parse_delivery_report",
    "to_dr_event",
]

ANSWER_REPORT_NAME: Final = "answer"
DELIVERY_REPORT_NAME: Final = "delivery"
SETPOINT: Final = "DISPATCH_SETPOINT_RELATIVE"
PRICE: Final = "PRICE"
PENALTY: Final = "PENALTY_PRICE"
OPT_STATUS: Final = "OPT_STATUS"
"""Private report payload type: the answer word (accepted, partial, rejected)."""
REASON: Final = "ANSWER_REASON"
"""Private report payload type: why an event is partly accepted or rejected ("" if accepted)."""
DELIVERY_TYPES: Final = ("BASELINE", "USAGE", "DELTA_USAGE")
_EVENT_TYPES: Final = (SETPOINT, PRICE, PENALTY)
_KW_PER_UNIT: Final = {"KW": 1.0, "MW": 1000.0}
_MAX_TEXT: Final = 4096
"""Longest string the VTN keeps in a payload value."""
_DURATION = re.compile(r"^P(?:(\d+)D)?(?:T(?=\d)(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$")
_GRID_ORIGIN: Final = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)


# --- reading the specification's objects ----------------------------------------------------


def _utc(value: object, field: str) -> dt.datetime:
    """A tz-aware UTC datetime from an ISO 8601 string or a datetime; naive ones are refused."""
    if isinstance(value, str):
        try:
            parsed = dt.datetime.fromisoformat(value)
        except ValueError:
            raise InputError(
                f"{field}: {value!r} is not an ISO 8601 date-time; write e.g. "
                "'2026-07-02T10:00:00+08:00'"
            ) from None
    elif isinstance(value, dt.datetime):
        parsed = value
    else:
        raise InputError(f"{field}: {value!r} is not a date-time; give an ISO 8601 string")
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise InputError(
            f"{field}: {value!s} has no time zone; write an offset such as "
            "'2026-07-02T10:00:00+08:00' or 'Z'"
        )
    return parsed.astimezone(dt.UTC)


def _duration(text: object, field: str) -> dt.timedelta:
    """A positive ISO 8601 duration in days, hours, minutes and seconds."""
    m = _DURATION.match(text) if isinstance(text, str) else None
    if m is None:
        raise InputError(
            f"{field}: {text!r} is not a duration in days, hours, minutes or seconds; "
            "write e.g. PT15M or PT1H (years, months and weeks are not used here)"
        )
    days, hours, minutes, seconds = m.groups()
    try:
        length = dt.timedelta(
            days=int(days or 0),
            hours=int(hours or 0),
            minutes=int(minutes or 0),
            seconds=float(seconds or 0),
        )
    except OverflowError:
        raise InputError(f"{field}: {text} is longer than any calendar; give e.g. PT1H") from None
    if length <= dt.timedelta(0):
        raise InputError(f"{field}: {text} is not positive; give e.g. PT15M")
    return length


def _iso_duration(length: dt.timedelta) -> str:
    seconds = length.total_seconds()
    if seconds <= 0:
        raise InputError(f"duration: {length} is not positive; give e.g. 15 minutes")
    if seconds % 60:
        return f"PT{seconds:g}S"
    return f"PT{int(seconds // 60)}M"


def _iso_utc(instant: dt.datetime) -> str:
    return instant.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def _mapping(value: object, field: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise InputError(f"{field}: expected an object, got {type(value).__name__}")
    return value


def _list(value: object, field: str) -> list[Any]:
    if not isinstance(value, list) or not value:
        raise InputError(f"{field}: missing or empty; give a list with at least one item")
    return value


def _interval_times(
    intervals: list[Any], default_period: object, field: str
) -> list[tuple[dt.datetime, dt.datetime]]:
    """``(start, end)`` of each interval, in UTC.

    An interval's own ``intervalPeriod`` sets its start (and its duration, if given); one without
    follows the previous interval (the first one starts at the default period's start), and a
    missing duration is the default period's.
    """
    default_start: dt.datetime | None = None
    default_length: dt.timedelta | None = None
    if default_period is not None:
        period = _mapping(default_period, f"{field}intervalPeriod")
        if period.get("start") is not None:
            default_start = _utc(period["start"], f"{field}intervalPeriod.start")
        if period.get("duration") is not None:
            default_length = _duration(period["duration"], f"{field}intervalPeriod.duration")
    times: list[tuple[dt.datetime, dt.datetime]] = []
    for i, raw in enumerate(intervals):
        path = f"{field}intervals[{i}]"
        interval = _mapping(raw, path)
        own = interval.get("intervalPeriod")
        start = times[-1][1] if times else default_start
        length = default_length
        if own is not None:
            own = _mapping(own, f"{path}.intervalPeriod")
            start = _utc(own.get("start"), f"{path}.intervalPeriod.start")
            if own.get("duration") is not None:
                length = _duration(own["duration"], f"{path}.intervalPeriod.duration")
        if start is None:
            raise InputError(
                f"{path}.intervalPeriod.start: missing; give the interval or its parent an "
                "intervalPeriod with a start"
            )
        if length is None:
            raise InputError(
                f"{path}.intervalPeriod.duration: missing; give the interval or its parent an "
                "intervalPeriod with a duration such as PT15M"
            )
        try:
            times.append((start, start + length))
        except OverflowError:
            raise InputError(
                f"{path}.intervalPeriod.duration: the interval would end after the year 9999; "
                "give a duration such as PT1H"
            ) from None
    return times


def _descriptors(obj: Mapping[str, Any]) -> dict[str, tuple[int, Mapping[str, Any]]]:
    """Payload descriptors by payload type, with their index."""
    raw = obj.get("payloadDescriptors") or []
    if not isinstance(raw, list):
        raise InputError("payloadDescriptors: expected a list of payload descriptors")
    found: dict[str, tuple[int, Mapping[str, Any]]] = {}
    for d, item in enumerate(raw):
        descriptor = _mapping(item, f"payloadDescriptors[{d}]")
        kind = descriptor.get("payloadType")
        if kind in found:
            raise InputError(
                f"payloadDescriptors[{d}].payloadType: a second descriptor for {kind}; "
                "give one descriptor per payload type"
            )
        found[str(kind)] = (d, descriptor)
    return found


def _kw_per_unit(descriptors: Mapping[str, tuple[int, Mapping[str, Any]]], kind: str) -> float:
    """kW per unit of ``kind``'s values (units ``KW`` or ``MW``; ``KW`` if none is given)."""
    if kind not in descriptors:
        return 1.0
    d, descriptor = descriptors[kind]
    units = descriptor.get("units")
    if units is None:
        return 1.0
    if units not in _KW_PER_UNIT:
        raise InputError(
            f"payloadDescriptors[{d}].units: {units!r} is not a unit of power for {kind}; "
            "use KW or MW"
        )
    return _KW_PER_UNIT[units]


def _check_price_descriptor(
    descriptors: Mapping[str, tuple[int, Mapping[str, Any]]], kind: str
) -> None:
    if kind not in descriptors:
        return
    d, descriptor = descriptors[kind]
    currency = descriptor.get("currency")
    if currency is not None and currency != "CNY":
        raise InputError(
            f"payloadDescriptors[{d}].currency: {currency!r}; {kind} is in CNY per kWh, "
            "give currency CNY or leave it out"
        )
    units = descriptor.get("units")
    if units is not None and units != "KWH":
        raise InputError(
            f"payloadDescriptors[{d}].units: {units!r}; {kind} is per kWh, give units KWH "
            "or leave it out"
        )


def _number(payload: Mapping[str, Any], path: str) -> float:
    """The one finite number a payload carries."""
    values = payload.get("values")
    if not isinstance(values, list) or len(values) != 1:
        raise InputError(
            f"{path}.values: {values!r}; give exactly one number per interval for "
            f"{payload.get('type')}"
        )
    value = values[0]
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InputError(f"{path}.values[0]: {value!r} is not a finite number")
    return float(value)


def _interval_payloads(interval: Mapping[str, Any], path: str) -> dict[str, tuple[str, float]]:
    """Each payload's number by type, with the payload's path."""
    found: dict[str, tuple[str, float]] = {}
    for j, raw in enumerate(_list(interval.get("payloads"), f"{path}.payloads")):
        ppath = f"{path}.payloads[{j}]"
        payload = _mapping(raw, ppath)
        kind = payload.get("type")
        if kind not in _EVENT_TYPES:
            raise InputError(
                f"{ppath}.type: {kind!r} is not part of a demand-response event; use "
                f"{', '.join(_EVENT_TYPES)}"
            )
        if kind in found:
            raise InputError(f"{ppath}.type: a second {kind} in one interval; give one")
        found[kind] = (ppath, _number(payload, ppath))
    return found


def _same_in_every_interval(values: list[float], kind: str, where: list[str]) -> float:
    for i, value in enumerate(values):
        if value != values[0]:
            raise InputError(
                f"{where[i]}.values: {kind} {value:g} differs from {values[0]:g} in the first "
                f"interval; a demand-response event asks for one {kind} throughout, split it "
                "into events of one value each"
            )
    return values[0]


def to_dr_event(
    obj: Mapping[str, Any], *, received_utc: dt.datetime, step_min: int = 15
) -> DemandResponseEvent:
    """The demand-response event an OpenADR event object asks for.

    Parameters
    ----------
    obj : mapping
        An event as the VTN returns it (``id``, ``intervalPeriod``, ``intervals``,
        ``payloadDescriptors``), following the conventions of the module docstring.
    received_utc : datetime
        When the park received the event (tz-aware): before the Asia/Shanghai local day of the
        event's start makes it ``day_ahead``, otherwise ``intraday``.
    step_min : int
        The park's interval length; the window's start and end must sit on its grid. [min]

    Returns
    -------
    DemandResponseEvent
        With ``event_id`` the OpenADR event's ``id``, ``target_mw`` the setpoint's magnitude and
        ``direction`` its sign (negative → ``reduce``, positive → ``increase``).

    Raises
    ------
    InputError
        When the object does not follow the conventions; the message names the field.
    """
    received = _utc(received_utc, "received_utc")
    if step_min <= 0:
        raise InputError(f"step_min: {step_min} must be a positive number of minutes")
    event_id = obj.get("id")
    if not isinstance(event_id, str) or not event_id:
        raise InputError("id: missing; pass the event as the VTN returns it, with its id")
    intervals = _list(obj.get("intervals"), "intervals")
    times = _interval_times(intervals, obj.get("intervalPeriod"), "")
    length = times[0][1] - times[0][0]
    for i in range(1, len(times)):
        path = f"intervals[{i}].intervalPeriod"
        if times[i][1] - times[i][0] != length:
            raise InputError(
                f"{path}.duration: {times[i][1] - times[i][0]} differs from the first "
                f"interval's {length}; give every interval of the event one length"
            )
        if times[i][0] != times[i - 1][1]:
            raise InputError(
                f"{path}.start: {times[i][0].isoformat()} does not follow the previous interval "
                f"(ends {times[i - 1][1].isoformat()}); intervals are consecutive, without gaps "
                "or overlaps, in the order listed"
            )
    start, end = times[0][0], times[-1][1]
    step = dt.timedelta(minutes=step_min)
    for name, edge in (("start", start), ("end", end)):
        if (edge - _GRID_ORIGIN) % step:
            raise InputError(
                f"intervalPeriod.start: the window's {name} {edge.isoformat()} is not on the "
                f"park's {step_min}-min interval grid; align the intervals to {step_min} min"
            )
    descriptors = _descriptors(obj)
    kw_per_unit = _kw_per_unit(descriptors, SETPOINT)
    _check_price_descriptor(descriptors, PRICE)
    _check_price_descriptor(descriptors, PENALTY)
    per_kind: dict[str, list[float]] = {kind: [] for kind in _EVENT_TYPES}
    where: dict[str, list[str]] = {kind: [] for kind in _EVENT_TYPES}
    without_penalty: list[int] = []
    for i, raw in enumerate(intervals):
        path = f"intervals[{i}]"
        payloads = _interval_payloads(_mapping(raw, path), path)
        for kind in (SETPOINT, PRICE):
            if kind not in payloads:
                raise InputError(
                    f"{path}.payloads: no {kind}; every interval of a demand-response event "
                    f"carries {SETPOINT} and {PRICE}"
                )
        if PENALTY not in payloads:
            without_penalty.append(i)
        for kind, (ppath, value) in payloads.items():
            per_kind[kind].append(value)
            where[kind].append(ppath)
    if per_kind[PENALTY] and without_penalty:
        raise InputError(
            f"intervals[{without_penalty[0]}].payloads: no {PENALTY} while other intervals have "
            "one; give it in every interval or in none"
        )
    setpoints = per_kind[SETPOINT]
    first_sign = math.copysign(1.0, setpoints[0])
    for i, value in enumerate(setpoints):
        if value == 0:
            raise InputError(
                f"{where[SETPOINT][i]}.values: {SETPOINT} is 0; give a negative value to lower "
                "consumption or a positive one to raise it"
            )
        if math.copysign(1.0, value) != first_sign:
            raise InputError(
                f"{where[SETPOINT][i]}.values: {SETPOINT} {value:g} has the opposite sign of the "
                f"first interval's {setpoints[0]:g}; an event either lowers (negative) or raises "
                "(positive) consumption, split it into two events"
            )
    for kind in (PRICE, PENALTY):
        for value, ppath in zip(per_kind[kind], where[kind], strict=True):
            if value < 0:
                raise InputError(f"{ppath}.values: {kind} {value:g} is negative; give ≥ 0")
    setpoint = _same_in_every_interval(setpoints, SETPOINT, where[SETPOINT])
    price = _same_in_every_interval(per_kind[PRICE], PRICE, where[PRICE])
    penalty = (
        _same_in_every_interval(per_kind[PENALTY], PENALTY, where[PENALTY])
        if per_kind[PENALTY]
        else 0.0
    )
    direction: Direction = "reduce" if setpoint < 0 else "increase"
    start_day: dt.date = local_day(pd.DatetimeIndex([start]))[0].item()
    timing: Literal["day_ahead", "intraday"] = (
        "day_ahead" if received < local_date_start_utc(start_day) else "intraday"
    )
    return DemandResponseEvent(
        event_id=event_id,
        direction=direction,
        start_utc=start,
        end_utc=end,
        target_mw=abs(setpoint) * kw_per_unit / KW_PER_MW,
        price_cny_per_kwh=price,
        penalty_cny_per_kwh=penalty,
        kind=timing,
    )


# --- writing the specification's objects ----------------------------------------------------


def _signed_kw(direction: Direction, magnitude_mw: float) -> float:
    return (-magnitude_mw if direction == "reduce" else magnitude_mw) * KW_PER_MW


def event_body(
    program_id: str,
    event: DemandResponseEvent,
    *,
    step_min: int,
    name: str | None = None,
) -> dict[str, Any]:
    """The OpenADR event a grid operator posts for ``event`` (the inverse of :func:`to_dr_event`).

    Parameters
    ----------
    program_id : str
        The VTN's program the event belongs to.
    event : DemandResponseEvent
        Its ``event_id`` becomes the ``eventName`` unless ``name`` is given (the VTN assigns the
        event's ``id``); its ``kind`` follows from when the park receives it and is not sent.
    step_min : int
        Length of each interval; ``[start_utc, end_utc)`` must be a whole number of them. [min]
    name : str, optional
        The event's ``eventName``.

    Returns
    -------
    dict
        The request body for ``POST /events``: one interval per ``step_min``, each with its own
        ``intervalPeriod`` and the payloads ``DISPATCH_SETPOINT_RELATIVE`` (signed kW),
        ``PRICE`` and ``PENALTY_PRICE`` (CNY/kWh).
    """
    start = _utc(event.start_utc, "start_utc")
    end = _utc(event.end_utc, "end_utc")
    if step_min <= 0:
        raise InputError(f"step_min: {step_min} must be a positive number of minutes")
    step = dt.timedelta(minutes=step_min)
    if end <= start or (end - start) % step:
        raise InputError(
            f"end_utc: the window {start.isoformat()} – {end.isoformat()} is not a positive "
            f"whole number of {step_min}-min intervals; choose step_min to divide it"
        )
    if event.direction not in ("reduce", "increase"):
        raise InputError(f"direction: {event.direction!r}; use reduce or increase")
    setpoint_kw = _signed_kw(event.direction, event.target_mw)
    duration = _iso_duration(step)
    n = (end - start) // step
    return {
        "programID": program_id,
        "eventName": name if name is not None else event.event_id,
        "payloadDescriptors": [
            {"objectType": "EVENT_PAYLOAD_DESCRIPTOR", "payloadType": SETPOINT, "units": "KW"},
            {
                "objectType": "EVENT_PAYLOAD_DESCRIPTOR",
                "payloadType": PRICE,
                "units": "KWH",
                "currency": "CNY",
            },
            {
                "objectType": "EVENT_PAYLOAD_DESCRIPTOR",
                "payloadType": PENALTY,
                "units": "KWH",
                "currency": "CNY",
            },
        ],
        "intervalPeriod": {"start": _iso_utc(start), "duration": duration},
        "intervals": [
            {
                "id": k,
                "intervalPeriod": {"start": _iso_utc(start + k * step), "duration": duration},
                "payloads": [
                    {"type": SETPOINT, "values": [setpoint_kw]},
                    {"type": PRICE, "values": [event.price_cny_per_kwh]},
                    {"type": PENALTY, "values": [event.penalty_cny_per_kwh]},
                ],
            }
            for k in range(n)
        ],
    }


def _report_descriptor(
    kind: str, *, units: str | None = None, reading: str | None = None
) -> dict[str, Any]:
    descriptor: dict[str, Any] = {"objectType": "REPORT_PAYLOAD_DESCRIPTOR", "payloadType": kind}
    if reading is not None:
        descriptor["readingType"] = reading
    if units is not None:
        descriptor["units"] = units
    return descriptor


def answer_report(
    program_id: str,
    event_id: str,
    answer: EventAnswer,
    *,
    direction: Direction,
    client_name: str,
    start_utc: dt.datetime,
    duration: dt.timedelta,
    resource_name: str = "park",
) -> dict[str, Any]:
    """The report (``reportName`` ``answer``) stating the park's answer to an event.

    Parameters
    ----------
    program_id, event_id : str
        The VTN's program and event ids; ``event_id`` must be ``answer.event_id``.
    answer : EventAnswer
        What the park commits.
    direction : {"reduce", "increase"}
        The event's direction; it signs the committed power.
    client_name : str
        The reporting VEN's name (the report's ``clientName``).
    start_utc : datetime
        Start of the event's window (tz-aware).
    duration : timedelta
        Length of the event's window.
    resource_name : str
        The one resource the report covers.

    Returns
    -------
    dict
        The request body for ``POST /reports``: one interval spanning the window with
        ``OPT_STATUS`` (the answer word), ``DISPATCH_SETPOINT_RELATIVE`` (the committed power,
        signed as in the event: negative lowers consumption) [kW] and ``ANSWER_REASON``.
    """
    if answer.event_id != event_id:
        raise InputError(
            f"answer.event_id: {answer.event_id!r} is not the event {event_id!r} being answered; "
            "pass the answer to this event"
        )
    if direction not in ("reduce", "increase"):
        raise InputError(f"direction: {direction!r}; use reduce or increase")
    if not math.isfinite(answer.committed_mw) or answer.committed_mw < 0:
        raise InputError(f"answer.committed_mw: {answer.committed_mw} must be ≥ 0 MW")
    committed_kw = _signed_kw(direction, answer.committed_mw) if answer.committed_mw else 0.0
    return {
        "programID": program_id,
        "eventID": event_id,
        "clientName": client_name,
        "reportName": ANSWER_REPORT_NAME,
        "payloadDescriptors": [
            _report_descriptor(OPT_STATUS),
            _report_descriptor(SETPOINT, units="KW", reading="FORECAST"),
            _report_descriptor(REASON),
        ],
        "resources": [
            {
                "resourceName": resource_name,
                "intervalPeriod": {
                    "start": _iso_utc(_utc(start_utc, "start_utc")),
                    "duration": _iso_duration(duration),
                },
                "intervals": [
                    {
                        "id": 0,
                        "payloads": [
                            {"type": OPT_STATUS, "values": [answer.answer]},
                            {"type": SETPOINT, "values": [committed_kw]},
                            {"type": REASON, "values": [answer.reason[:_MAX_TEXT]]},
                        ],
                    }
                ],
            }
        ],
    }


def _one_resource(obj: Mapping[str, Any], report_name: str) -> Mapping[str, Any]:
    if obj.get("reportName") != report_name:
        raise InputError(
            f"reportName: {obj.get('reportName')!r}; this reads reports named {report_name!r}"
        )
    resources = _list(obj.get("resources"), "resources")
    if len(resources) != 1:
        raise InputError(
            f"resources: {len(resources)} resources; a {report_name} report covers one"
        )
    return _mapping(resources[0], "resources[0]")


def _report_payloads(interval: Mapping[str, Any], path: str) -> dict[str, tuple[str, Any]]:
    """Each payload's single value by type, with the payload's path."""
    found: dict[str, tuple[str, Any]] = {}
    for j, raw in enumerate(_list(interval.get("payloads"), f"{path}.payloads")):
        ppath = f"{path}.payloads[{j}]"
        payload = _mapping(raw, ppath)
        values = payload.get("values")
        if not isinstance(values, list) or len(values) != 1:
            raise InputError(f"{ppath}.values: {values!r}; give exactly one value")
        found[str(payload.get("type"))] = (ppath, values[0])
    return found


def parse_answer_report(obj: Mapping[str, Any]) -> EventAnswer:
    """The park's answer read back from an ``answer`` report (committed power as a magnitude).

    Raises
    ------
    InputError
        When the report is not an answer report as :func:`answer_report` writes it.
    """
    resource = _one_resource(obj, ANSWER_REPORT_NAME)
    intervals = _list(resource.get("intervals"), "resources[0].intervals")
    if len(intervals) != 1:
        raise InputError(f"resources[0].intervals: {len(intervals)} intervals; an answer has one")
    path = "resources[0].intervals[0]"
    payloads = _report_payloads(_mapping(intervals[0], path), path)
    for kind in (OPT_STATUS, SETPOINT, REASON):
        if kind not in payloads:
            raise InputError(f"{path}.payloads: no {kind}; an answer report carries it")
    word_path, word = payloads[OPT_STATUS]
    if word not in ("accepted", "partial", "rejected"):
        raise InputError(f"{word_path}.values[0]: {word!r}; use accepted, partial or rejected")
    power_path, power = payloads[SETPOINT]
    if isinstance(power, bool) or not isinstance(power, int | float):
        raise InputError(f"{power_path}.values[0]: {power!r} is not a number of kW")
    kw_per_unit = _kw_per_unit(_descriptors(obj), SETPOINT)
    reason_path, reason = payloads[REASON]
    if not isinstance(reason, str):
        raise InputError(f"{reason_path}.values[0]: {reason!r} is not a text")
    event_id = obj.get("eventID")
    if not isinstance(event_id, str):
        raise InputError("eventID: missing; an answer report names its event")
    return EventAnswer(event_id, word, abs(float(power)) * kw_per_unit / KW_PER_MW, reason)


def delivery_report(
    program_id: str,
    event_id: str,
    settlement: EventSettlement,
    *,
    client_name: str,
    interval_starts_utc: Sequence[dt.datetime] | pd.DatetimeIndex,
    step_min: int,
    resource_name: str = "park",
) -> dict[str, Any]:
    """The report (``reportName`` ``delivery``) of what the park delivered in each interval.

    Parameters
    ----------
    program_id, event_id : str
        The VTN's program and event ids.
    settlement : EventSettlement
        The event's settlement, one value per interval.
    client_name : str
        The reporting VEN's name (the report's ``clientName``).
    interval_starts_utc : sequence of datetime
        Start of each settled interval (tz-aware), one per value of ``settlement``.
    step_min : int
        Length of each interval. [min]
    resource_name : str
        The one resource the report covers.

    Returns
    -------
    dict
        The request body for ``POST /reports``: per interval ``BASELINE``, ``USAGE`` (the metered
        mean power) and ``DELTA_USAGE`` (the delivered power as settled, signed as a change of
        consumption: negative for a reduction) [kW].
    """
    if step_min <= 0:
        raise InputError(f"step_min: {step_min} must be a positive number of minutes")
    starts = [_utc(t, f"interval_starts_utc[{k}]") for k, t in enumerate(interval_starts_utc)]
    n = settlement.baseline_mw.size
    if len(starts) != n:
        raise InputError(
            f"interval_starts_utc: {len(starts)} starts for a settlement of {n} intervals; give "
            "one start per interval"
        )
    sign = -direction_sign(settlement.direction)
    columns = {
        "BASELINE": settlement.baseline_mw * KW_PER_MW,
        "USAGE": settlement.actual_mw * KW_PER_MW,
        "DELTA_USAGE": sign * settlement.delivered_mw * KW_PER_MW,
    }
    duration = _iso_duration(dt.timedelta(minutes=step_min))
    return {
        "programID": program_id,
        "eventID": event_id,
        "clientName": client_name,
        "reportName": DELIVERY_REPORT_NAME,
        "payloadDescriptors": [
            _report_descriptor(kind, units="KW", reading="MEAN") for kind in DELIVERY_TYPES
        ],
        "resources": [
            {
                "resourceName": resource_name,
                "intervals": [
                    {
                        "id": k,
                        "intervalPeriod": {"start": _iso_utc(starts[k]), "duration": duration},
                        "payloads": [
                            {"type": kind, "values": [float(columns[kind][k])]}
                            for kind in DELIVERY_TYPES
                        ],
                    }
                    for k in range(n)
                ],
            }
        ],
    }


def parse_delivery_report(obj: Mapping[str, Any]) -> dict[str, npt.NDArray[Any]]:
    """Per-interval delivery read back from a ``delivery`` report.

    Returns
    -------
    dict of numpy arrays
        ``interval_starts_utc`` (``datetime64[ns]``, UTC), ``duration_s`` [s], ``baseline_kw``,
        ``usage_kw`` and ``delta_usage_kw`` [kW], in the report's interval order.

    Raises
    ------
    InputError
        When the report is not a delivery report as :func:`delivery_report` writes it.
    """
    resource = _one_resource(obj, DELIVERY_REPORT_NAME)
    intervals = _list(resource.get("intervals"), "resources[0].intervals")
    times = _interval_times(intervals, resource.get("intervalPeriod"), "resources[0].")
    descriptors = _descriptors(obj)
    scale = {kind: _kw_per_unit(descriptors, kind) for kind in DELIVERY_TYPES}
    columns: dict[str, list[float]] = {kind: [] for kind in DELIVERY_TYPES}
    for i, raw in enumerate(intervals):
        path = f"resources[0].intervals[{i}]"
        payloads = _report_payloads(_mapping(raw, path), path)
        for kind in DELIVERY_TYPES:
            if kind not in payloads:
                raise InputError(f"{path}.payloads: no {kind}; a delivery report carries it")
            ppath, value = payloads[kind]
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise InputError(f"{ppath}.values[0]: {value!r} is not a number")
            columns[kind].append(float(value) * scale[kind])
    return {
        "interval_starts_utc": np.array(
            [np.datetime64(start.replace(tzinfo=None), "ns") for start, _ in times]
        ),
        "duration_s": np.array([(end - start).total_seconds() for start, end in times]),
        "baseline_kw": np.array(columns["BASELINE"], dtype=np.float64),
        "usage_kw": np.array(columns["USAGE"], dtype=np.float64),
        "delta_usage_kw": np.array(columns["DELTA_USAGE"], dtype=np.float64),
    }
