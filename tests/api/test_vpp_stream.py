"""Demand-response events end to end through the VTN: posted by the grid operator, answered,
re-planned, delivered, reported and settled by both sides to the same figures."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from suandian.api.vpp_stream import StreamResult, run_stream
from suandian.scenario.model import Park
from suandian.sim.dr_stream import event_stream
from suandian.sim.park import ParkSeries, local_days
from suandian.sim.vpp_operation import VppOperation

from .conftest import World

FIRST = dt.date(2025, 5, 1)
DAYS = 45


@pytest.fixture
def streamed(world: World, xining: Park, xining_year: ParkSeries) -> StreamResult:
    operation = VppOperation(xining, local_days(xining_year, FIRST, DAYS), site="nanchuan")
    stream = event_stream(
        FIRST + dt.timedelta(days=25), FIRST + dt.timedelta(days=DAYS - 1), n_events=16, n_awkward=2
    )
    return run_stream(
        world.client, admin_headers=world.as_("admin"), operation=operation, stream=stream
    )


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
    for event_id in by_tag["overlap"]:
        answer = streamed.answers[event_id]
        # Refused when the event it overlaps was committed; otherwise answered on its own.
        if answer.answer == "rejected" and "overlaps" in answer.reason:
            assert "one commitment per interval" in answer.reason


def test_no_job_misses_its_deadline(streamed: StreamResult) -> None:
    for day in streamed.days:
        assert day.unserved_flex_mwh == pytest.approx(0.0, abs=1e-6)
        for c in day.commitments:
            assert np.all(c.planned_shift_mw >= c.committed_mw - 1e-5)
