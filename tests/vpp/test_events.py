"""Answers to demand-response events: accepted, partly accepted, rejected with the reason."""

from __future__ import annotations

import datetime as dt

import numpy as np

from suandian.vpp import DemandResponseEvent, answer_event

NOW = dt.datetime(2025, 7, 15, 8, 0, tzinfo=dt.UTC)


def _event(event_id: str = "e1", **over: object) -> DemandResponseEvent:
    base: dict[str, object] = {
        "event_id": event_id,
        "direction": "reduce",
        "start_utc": dt.datetime(2025, 7, 16, 11, 0, tzinfo=dt.UTC),  # 19:00 Beijing
        "end_utc": dt.datetime(2025, 7, 16, 12, 0, tzinfo=dt.UTC),
        "target_mw": 10.0,
        "price_cny_per_kwh": 3.0,
        "penalty_cny_per_kwh": 1.0,
    }
    return DemandResponseEvent(**(base | over))  # type: ignore[arg-type]


def test_accepted_in_full_when_the_envelope_holds() -> None:
    a = answer_event(
        _event(), envelope_mw=np.array([12.0, 11.0, 10.0, 15.0]), accepted=[], now_utc=NOW
    )
    assert (a.answer, a.committed_mw, a.reason) == ("accepted", 10.0, "")


def test_partly_accepted_at_what_holds_through_the_window() -> None:
    a = answer_event(
        _event(), envelope_mw=np.array([12.0, 6.5, 10.0, 15.0]), accepted=[], now_utc=NOW
    )
    assert a.answer == "partial" and a.committed_mw == 6.5
    assert "6.500 of 10.000 MW" in a.reason and "11:15:00+00:00" in a.reason


def test_rejections_say_why() -> None:
    env = np.full(4, 20.0)
    past = _event(start_utc=NOW - dt.timedelta(hours=1), end_utc=NOW)
    assert (
        "in the past"
        in answer_event(past, envelope_mw=np.full(4, 20.0), accepted=[], now_utc=NOW).reason
    )
    other = _event(
        "e0",
        start_utc=dt.datetime(2025, 7, 16, 11, 30, tzinfo=dt.UTC),
        end_utc=dt.datetime(2025, 7, 16, 13, 0, tzinfo=dt.UTC),
    )
    a = answer_event(_event(), envelope_mw=env, accepted=[other], now_utc=NOW)
    assert a.answer == "rejected" and "overlaps accepted event e0" in a.reason
    # Back to back is not an overlap.
    before = _event(
        "e0",
        start_utc=dt.datetime(2025, 7, 16, 10, 0, tzinfo=dt.UTC),
        end_utc=dt.datetime(2025, 7, 16, 11, 0, tzinfo=dt.UTC),
    )
    assert (
        answer_event(_event(), envelope_mw=env, accepted=[before], now_utc=NOW).answer == "accepted"
    )
    a = answer_event(_event(), envelope_mw=np.array([5.0, 0.0, 5.0, 5.0]), accepted=[], now_utc=NOW)
    assert a.answer == "rejected" and "holds only 0.000 MW" in a.reason
    odd = _event(start_utc=dt.datetime(2025, 7, 16, 11, 7, tzinfo=dt.UTC))
    assert "interval grid" in answer_event(odd, envelope_mw=env, accepted=[], now_utc=NOW).reason
    backwards = _event(end_utc=dt.datetime(2025, 7, 16, 10, 0, tzinfo=dt.UTC))
    assert (
        "not after start_utc"
        in answer_event(backwards, envelope_mw=env, accepted=[], now_utc=NOW).reason
    )
    cheap = answer_event(
        _event(price_cny_per_kwh=0.1),
        envelope_mw=env,
        accepted=[],
        now_utc=NOW,
        min_price_cny_per_kwh=0.5,
    )
    assert cheap.answer == "rejected" and cheap.reason.startswith("declined")
    naive = _event(start_utc=dt.datetime(2025, 7, 16, 11, 0))  # noqa: DTZ001 — naive on purpose
    assert "no time zone" in answer_event(naive, envelope_mw=env, accepted=[], now_utc=NOW).reason
