"""Demand-response events end to end through the VTN: posted by the grid operator, answered,
re-planned, delivered, reported and settled by both sides to the same figures."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import numpy as np
import pytest
from fastapi.testclient import TestClient

from suandian.api import create_app
from suandian.api.vpp_stream import StreamResult, run_stream
from suandian.scenario.model import Park
from suandian.sim.dr_stream import event_stream
from suandian.sim.park import ParkSeries, local_days
from suandian.sim.vpp_operation import VppOperation

from .conftest import World, grant_tokens, make_settings

FIRST = dt.date(2025, 5, 1)
DAYS = 45


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def streamed(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    xining: Park,
    xining_year: ParkSeries,
) -> Iterator[StreamResult]:
    """The stream run once per database for the whole module (it takes a few seconds)."""
    settings_of = make_settings(request, tmp_path_factory.mktemp("vpp-stream"))
    settings = next(settings_of)
    try:
        headers = grant_tokens(settings)
        operation = VppOperation(xining, local_days(xining_year, FIRST, DAYS), site="nanchuan")
        stream = event_stream(
            FIRST + dt.timedelta(days=25),
            FIRST + dt.timedelta(days=DAYS - 1),
            n_events=16,
            n_awkward=2,
        )
        with TestClient(create_app(settings, park=xining)) as client:
            yield run_stream(
                client, admin_headers=headers["admin"], operation=operation, stream=stream
            )
    finally:
        settings_of.close()  # drops the PostgreSQL schema


def test_every_event_is_answered_and_both_sides_settle_alike(streamed: StreamResult) -> None:
    r = streamed
    assert r.posted == 16 and r.every_event_answered
    assert sum(r.counts.values()) == 16
    # The grid operator's settlement from the reports equals the park's own.
    assert r.delivered_by_reports_mwh == pytest.approx(r.delivered_by_park_mwh, rel=1e-9)
    assert r.revenue_by_reports_cny == pytest.approx(r.revenue_by_park_cny, rel=1e-9)
    assert r.penalty_by_reports_cny == pytest.approx(r.penalty_by_park_cny, rel=1e-9, abs=1e-6)
    # The reports carry the meter as metered.
    assert r.meter_mismatch_mw < 1e-6


def test_committed_events_are_delivered_within_five_percent(streamed: StreamResult) -> None:
    committed = [k for k, a in streamed.answers.items() if a.answer != "rejected"]
    assert committed
    for event_id in committed:
        assert abs(streamed.delivery_pu[event_id] - 1.0) <= 0.05, event_id


def test_awkward_events_get_their_reasons(streamed: StreamResult) -> None:
    by_tag: dict[str, list[str]] = {}
    for event_id, tag in streamed.tags.items():
        by_tag.setdefault(tag, []).append(event_id)
    for event_id in by_tag["late"]:
        answer = streamed.answers[event_id]
        assert answer.answer == "rejected" and "in the past or under way" in answer.reason
    for event_id in by_tag["huge"]:
        answer = streamed.answers[event_id]
        assert answer.answer in ("partial", "rejected")
        assert any(
            why in answer.reason for why in ("partly accepted", "holds only", "cannot get")
        ), answer.reason
    vtn_id = {name: event_id for event_id, name in streamed.names.items()}
    for event_id in by_tag["overlap"]:
        answer = streamed.answers[event_id]
        base = streamed.answers[vtn_id[streamed.names[event_id].removeprefix("overlap-")]]
        if base.answer != "rejected":  # one commitment per interval
            assert answer.answer == "rejected"
            assert f"overlaps accepted event {base.event_id}" in answer.reason


def test_an_event_off_the_conventions_is_answered_rejected(
    world: World, xining: Park, xining_year: ParkSeries
) -> None:
    from suandian.api.ven_client import VenClient
    from suandian.api.vpp_agent import VppAgent
    from suandian.api.vpp_stream import _client

    c = world.client
    bl = VenClient("/openadr3", "bl-x", _client(c, world.as_("admin"), "bl-x", "bl"), http=c)
    ven = VenClient("/openadr3", "ven-x", _client(c, world.as_("admin"), "ven-x", "ven"), http=c)
    program = bl.create("/programs", {"programName": "dr-x"})
    # A capacity limit, not a relative setpoint: valid OpenADR, not a demand-response event.
    event = bl.create(
        "/events",
        {
            "programID": program["id"],
            "intervalPeriod": {"start": "2025-05-20T19:00:00+08:00", "duration": "PT1H"},
            "intervals": [
                {"id": 0, "payloads": [{"type": "IMPORT_CAPACITY_LIMIT", "values": [40000]}]}
            ],
        },
    )
    operation = VppOperation(xining, local_days(xining_year, FIRST, 30), site="nanchuan")
    agent = VppAgent(ven, operation, program_id=program["id"])
    (done,) = agent.poll(dt.datetime(2025, 5, 19, 10, tzinfo=dt.UTC))
    assert done.vtn_event_id == event["id"]
    assert done.answer.answer == "rejected"
    assert "not a demand-response event" in done.answer.reason
    assert agent.poll(dt.datetime(2025, 5, 19, 11, tzinfo=dt.UTC)) == []  # answered once
    reports = bl.all("/reports", {"programID": program["id"]})
    assert [r["eventID"] for r in reports] == [event["id"]]


def test_no_job_misses_its_deadline(streamed: StreamResult) -> None:
    for day in streamed.days:
        assert day.unserved_flex_mwh == pytest.approx(0.0, abs=1e-6)
        for c in day.commitments:
            assert np.all(c.planned_shift_mw >= c.committed_mw - 1e-5)


def test_an_answer_whose_post_failed_is_posted_again_without_deciding_twice() -> None:
    from types import SimpleNamespace
    from typing import Any

    from suandian.api.openadr_dr import event_body
    from suandian.api.ven_client import VtnError
    from suandian.api.vpp_agent import VppAgent
    from suandian.vpp import DemandResponseEvent, EventAnswer

    start = dt.datetime(2025, 5, 20, 11, tzinfo=dt.UTC)
    event = DemandResponseEvent("e", "reduce", start, start + dt.timedelta(hours=1), 5.0, 4.0)
    obj = {**event_body("p", event, step_min=15), "id": "event-1"}

    class FlakyVen:
        def __init__(self) -> None:
            self.posts: list[dict[str, Any]] = []

        def events(self, program_id: str) -> list[dict[str, Any]]:
            return [obj]

        def post_report(self, body: dict[str, Any]) -> dict[str, Any]:
            self.posts.append(body)
            if len(self.posts) == 1:
                raise VtnError("VTN unreachable")
            return {"id": "report-1"}

    decided: list[str] = []

    def receive(dr: DemandResponseEvent, *, now_utc: dt.datetime) -> EventAnswer:
        decided.append(dr.event_id)
        return EventAnswer(dr.event_id, "accepted", dr.target_mw, "")

    ven = FlakyVen()
    operation = SimpleNamespace(resolution_min=15, receive=receive)
    agent = VppAgent(ven, operation, program_id="p")  # type: ignore[arg-type]
    now = dt.datetime(2025, 5, 19, 10, tzinfo=dt.UTC)
    with pytest.raises(VtnError):
        agent.poll(now)
    assert agent.answered == {}
    (done,) = agent.poll(now + dt.timedelta(minutes=5))
    assert done.report_id == "report-1" and done.answer.answer == "accepted"
    assert ven.posts[0] == ven.posts[1]  # the same answer, posted again
    assert decided == ["event-1"]  # decided once
    assert agent.poll(now + dt.timedelta(minutes=10)) == []
