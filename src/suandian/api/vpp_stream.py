"""A grid operator's stream of demand-response events run end to end through the park's VTN.

:func:`run_stream` plays both sides against a running platform (any HTTP client on its base URL,
e.g. FastAPI's ``TestClient`` in-process, or an ``httpx2.Client`` on a served app):

- the **grid operator** (an OpenADR client with role ``bl``) creates a program and posts each
  event of the stream at its reception time (simulated clock), and at the end reads every
  report back;
- the **park** (an OpenADR client with role ``ven``, :class:`~suandian.api.vpp_agent.VppAgent`)
  answers each event right after it is posted, re-plans, closes each day and reports delivery.

The grid operator then settles from the reports alone (delivered kWh × price, shortfall ×
penalty) and :class:`StreamResult` compares that with the park's own settlement and with the
meter: the figures must agree.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import httpx2
import numpy as np
import numpy.typing as npt

from suandian.api.openadr_dr import (
    ANSWER_REPORT_NAME,
    DELIVERY_REPORT_NAME,
    event_body,
    parse_answer_report,
    parse_delivery_report,
)
from suandian.api.ven_client import VenClient
from suandian.api.vpp_agent import VppAgent
from suandian.core.errors import SuandianError
from suandian.core.times import local_date_start_utc
from suandian.core.units import KWH_PER_MWH
from suandian.sim.dr_stream import StreamEvent
from suandian.sim.vpp_operation import DayResult, VppOperation
from suandian.vpp import EventAnswer, SettledEvent

__all__ = ["StreamResult", "run_stream"]


@dataclass(frozen=True)
class StreamResult:
    """What the stream did, seen from both sides."""

    posted: int
    """Events the grid operator posted (and the VTN stored)."""
    unposted: int
    """Events of the stream received after the operated period: never posted."""
    answers: dict[str, EventAnswer]
    """VTN event id → the park's answer, as read back from its answer report."""
    tags: dict[str, str]
    """VTN event id → the stream's tag (regular, overlap, late, huge)."""
    names: dict[str, str]
    """VTN event id → the stream's own event id (the event's ``eventName``)."""
    settled: list[SettledEvent]
    """The park's settlements (accepted and partly accepted events), ids as on the VTN."""
    days: list[DayResult]
    delivered_by_reports_mwh: float
    revenue_by_reports_cny: float
    penalty_by_reports_cny: float
    delivered_by_park_mwh: float
    revenue_by_park_cny: float
    penalty_by_park_cny: float
    meter_mismatch_mw: float
    """Largest difference between the reports' metered power and the park's meter. [MW]"""
    delivery_pu: dict[str, float]
    """Committed event id → delivered / committed energy (settled, from the reports)."""

    @property
    def every_event_answered(self) -> bool:
        return self.unposted == 0 and len(self.answers) == self.posted

    @property
    def counts(self) -> dict[str, int]:
        out = {"accepted": 0, "partial": 0, "rejected": 0}
        for a in self.answers.values():
            out[a.answer] += 1
        return out


def _ok(response: Any, what: str) -> None:
    if response.status_code >= 400:
        raise SuandianError(f"{what}: the VTN answered {response.status_code}: {response.text}")


def _client(http: httpx2.Client, admin_headers: dict[str, str], client_id: str, role: str) -> str:
    r = http.post(
        "/v1/admin/openadr-clients",
        json={"client_id": client_id, "role": role},
        headers=admin_headers,
    )
    _ok(r, f"creating OpenADR client {client_id}")
    secret: str = r.json()["client_secret"]
    return secret


def run_stream(
    http: httpx2.Client,
    *,
    admin_headers: dict[str, str],
    operation: VppOperation,
    stream: Sequence[StreamEvent],
    program_name: str = "qinghai-demand-response",
    ven_http: httpx2.Client | None = None,
    progress: Callable[[str], None] | None = None,
) -> StreamResult:
    """Run ``stream`` through the VTN behind ``http`` (module docstring).

    ``admin_headers``: a park admin's ``Authorization`` header (to create the two OpenADR
    clients). ``ven_http``: the HTTP client the park's VEN uses (default ``http``). Every day of
    ``operation``'s period is operated and closed, in order.
    """
    suffix = program_name[-12:]
    bl_id = f"grid-bl-{suffix}"
    bl = VenClient("/openadr3", bl_id, _client(http, admin_headers, bl_id, "bl"), http=http)
    ven_id = f"park-vpp-{suffix}"
    ven = VenClient(
        "/openadr3",
        ven_id,
        _client(http, admin_headers, ven_id, "ven"),
        http=ven_http if ven_http is not None else http,
    )
    program = bl.create("/programs", {"programName": program_name, "country": "CN"})
    agent = VppAgent(ven, operation, program_id=str(program["id"]), client_name=ven_id)

    step_min = operation.resolution_min
    queue = sorted(stream, key=lambda s: s.received_utc)
    tags: dict[str, str] = {}
    names: dict[str, str] = {}
    days: list[DayResult] = []
    k = 0
    day = operation.first_day
    while day <= operation.last_day:
        day_end = local_date_start_utc(day + dt.timedelta(days=1))
        while k < len(queue) and queue[k].received_utc < day_end:
            item = queue[k]
            posted = bl.create(
                "/events",
                event_body(str(program["id"]), item.event, step_min=step_min),
            )
            tags[str(posted["id"])] = item.tag
            names[str(posted["id"])] = item.event.event_id
            agent.poll(item.received_utc)
            k += 1
        days.append(agent.close_day(day))
        if progress is not None and day.day == 1:
            progress(f"{day:%Y-%m}: {k} events posted")
        day += dt.timedelta(days=1)

    # The grid operator's side: everything from the VTN's reports.
    answers: dict[str, EventAnswer] = {}
    delivered_mwh = revenue = penalty = 0.0
    delivery_pu: dict[str, float] = {}
    events = {e["id"]: e for e in bl.all("/events", {"programID": str(program["id"])})}
    reports = bl.all("/reports", {"programID": str(program["id"])})
    for report in reports:
        if report.get("reportName") == ANSWER_REPORT_NAME:
            answers[report["eventID"]] = parse_answer_report(report)
    reported_usage: dict[str, npt.NDArray[np.float64]] = {}
    for report in reports:
        if report.get("reportName") != DELIVERY_REPORT_NAME:
            continue
        event_id = report["eventID"]
        delivery = parse_delivery_report(report)
        price, penalty_price, sign = _terms(events[event_id])
        hours = delivery["duration_s"] / 3600.0
        answer = answers.get(event_id)
        committed_mw = 0.0 if answer is None else answer.committed_mw
        # The grid operator's own settlement: baseline and metered usage from the report,
        # the commitment from the answer report, the rules of the program.
        change_kw = sign * (delivery["baseline_kw"] - delivery["usage_kw"])
        delivered_kw = np.clip(change_kw, 0.0, committed_mw * KWH_PER_MWH)
        delivered = float(np.sum(delivered_kw * hours)) / KWH_PER_MWH
        committed = committed_mw * float(np.sum(hours))
        delivered_mwh += delivered
        revenue += delivered * KWH_PER_MWH * price
        penalty += max(committed - delivered, 0.0) * KWH_PER_MWH * penalty_price
        delivery_pu[event_id] = delivered / committed if committed > 0 else 1.0
        reported_usage[event_id] = delivery["usage_kw"] / KWH_PER_MWH
    settled = [s for d in days for s in d.settled if s.settlement is not None]
    mismatch = 0.0
    for d in days:
        for c in d.commitments:
            usage = reported_usage.get(c.event.event_id)
            if usage is not None:
                metered = d.metered_mw[c.first_step : c.end_step]
                mismatch = max(mismatch, float(np.max(np.abs(usage - metered))))
    return StreamResult(
        posted=len(tags),
        unposted=len(queue) - k,
        answers=answers,
        tags=tags,
        names=names,
        settled=settled,
        days=days,
        delivered_by_reports_mwh=delivered_mwh,
        revenue_by_reports_cny=revenue,
        penalty_by_reports_cny=penalty,
        delivered_by_park_mwh=sum(s.settlement.delivered_mwh for s in settled if s.settlement),
        revenue_by_park_cny=sum(s.settlement.revenue_cny for s in settled if s.settlement),
        penalty_by_park_cny=sum(s.settlement.penalty_cny for s in settled if s.settlement),
        meter_mismatch_mw=mismatch,
        delivery_pu=delivery_pu,
    )


def _terms(event: dict[str, Any]) -> tuple[float, float, float]:
    """PRICE and PENALTY_PRICE [CNY/kWh] of an event as the grid operator posted it, and +1 for
    a reduction (negative setpoint), −1 for an increase."""
    payloads = {p["type"]: float(p["values"][0]) for p in event["intervals"][0]["payloads"]}
    sign = 1.0 if payloads["DISPATCH_SETPOINT_RELATIVE"] < 0 else -1.0
    return payloads.get("PRICE", 0.0), payloads.get("PENALTY_PRICE", 0.0), sign
