"""OpenADR 3 objects ↔ demand-response events, answers and delivery, through the VTN."""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
from typing import Any

import numpy as np
import pytest
from numpy.testing import assert_allclose

from suandian.api.openadr_dr import (
    answer_report,
    delivery_report,
    event_body,
    parse_answer_report,
    parse_delivery_report,
    to_dr_event,
)
from suandian.core.errors import InputError
from suandian.vpp.events import DemandResponseEvent, EventAnswer
from suandian.vpp.settlement import settle_event

from .conftest import World
from .test_openadr import bearer, make_client

UTC = dt.UTC
# 2 July 2026, 18:00–19:00 Asia/Shanghai = 10:00–11:00 UTC; that local day begins 1 July 16:00 UTC.
START = dt.datetime(2026, 7, 2, 10, 0, tzinfo=UTC)
END = dt.datetime(2026, 7, 2, 11, 0, tzinfo=UTC)
EARLY = dt.datetime(2026, 7, 1, 8, 0, tzinfo=UTC)
NAIVE = dt.datetime(2026, 7, 1, 8, 0)  # noqa: DTZ001 - refused on purpose
PEAK = DemandResponseEvent(
    event_id="evening-peak",
    direction="reduce",
    start_utc=START,
    end_utc=END,
    target_mw=2.5,
    price_cny_per_kwh=1.25,
    penalty_cny_per_kwh=0.5,
    kind="day_ahead",
)
VALLEY = dataclasses.replace(
    PEAK, event_id="valley", direction="increase", target_mw=0.75, penalty_cny_per_kwh=0.0
)
sqlite_only = pytest.mark.parametrize("api_settings", ["sqlite"], indirect=True)


def stored(event: DemandResponseEvent, **changes: Any) -> dict[str, Any]:
    """``event`` as the VTN would return it (an id; any changes applied on top)."""
    body = event_body("program-1", event, step_min=15)
    body["id"] = "event-1"
    body.update(changes)
    return body


class Grid:
    """A VTN with a grid operator (bl), the park's VEN and a demand-response program."""

    def __init__(self, world: World) -> None:
        self.c = world.client
        self.bl = bearer(world, "grid-bl", make_client(world, "grid-bl", "bl"))
        self.ven = bearer(world, "park-ven", make_client(world, "park-ven", "ven"))
        r = self.c.post(
            "/openadr3/programs",
            json={"programName": "qinghai-dr", "programType": "DEMAND_RESPONSE"},
            headers=self.bl,
        )
        assert r.status_code == 201, r.text
        self.program_id: str = r.json()["id"]

    def post_event(self, event: DemandResponseEvent, step_min: int = 15) -> dict[str, Any]:
        r = self.c.post(
            "/openadr3/events",
            json=event_body(self.program_id, event, step_min=step_min),
            headers=self.bl,
        )
        assert r.status_code == 201, r.text
        r = self.c.get(f"/openadr3/events/{r.json()['id']}", headers=self.ven)
        assert r.status_code == 200, r.text
        got: dict[str, Any] = r.json()
        return got

    def post_report(self, body: dict[str, Any]) -> dict[str, Any]:
        r = self.c.post("/openadr3/reports", json=body, headers=self.ven)
        assert r.status_code == 201, r.text
        r = self.c.get(f"/openadr3/reports/{r.json()['id']}", headers=self.bl)
        assert r.status_code == 200, r.text
        got: dict[str, Any] = r.json()
        return got


@pytest.fixture
def grid(world: World) -> Grid:
    return Grid(world)


# --- round trips through the VTN ------------------------------------------------------------


def test_event_round_trip_through_the_vtn(grid: Grid) -> None:
    """event_body → POST → GET → to_dr_event gives the event back (on both databases)."""
    for event, step_min in ((PEAK, 15), (VALLEY, 30), (PEAK, 60)):
        obj = grid.post_event(event, step_min)
        assert len(obj["intervals"]) == 60 // step_min
        back = to_dr_event(obj, received_utc=EARLY, step_min=15)
        assert back == dataclasses.replace(event, event_id=obj["id"])


@sqlite_only
def test_answer_report_round_trip(grid: Grid) -> None:
    obj = grid.post_event(PEAK)
    event = to_dr_event(obj, received_utc=EARLY)
    answer = EventAnswer(event.event_id, "partial", 1.5, "partly accepted: 1.500 of 2.500 MW")
    body = answer_report(
        grid.program_id,
        event.event_id,
        answer,
        direction=event.direction,
        client_name="park-ven",
        start_utc=event.start_utc,
        duration=event.end_utc - event.start_utc,
    )
    got = grid.post_report(body)
    assert got["reportName"] == "answer" and got["eventID"] == obj["id"]
    payloads = got["resources"][0]["intervals"][0]["payloads"]
    assert payloads == body["resources"][0]["intervals"][0]["payloads"]
    # A reduction of 1.5 MW is a relative setpoint of −1500 kW, as the event asked −2500 kW.
    assert payloads[1] == {"type": "DISPATCH_SETPOINT_RELATIVE", "values": [-1500.0]}
    assert got["resources"][0]["intervalPeriod"]["duration"] == "PT60M"
    assert parse_answer_report(got) == answer


@sqlite_only
def test_rejected_answer_reports_zero(grid: Grid) -> None:
    obj = grid.post_event(VALLEY)
    answer = EventAnswer(obj["id"], "rejected", 0.0, "declined: price below the minimum")
    body = answer_report(
        grid.program_id,
        obj["id"],
        answer,
        direction="increase",
        client_name="park-ven",
        start_utc=START,
        duration=END - START,
    )
    got = grid.post_report(body)
    assert parse_answer_report(got) == answer


@sqlite_only
def test_delivery_report_round_trip(grid: Grid) -> None:
    obj = grid.post_event(PEAK)
    event = to_dr_event(obj, received_utc=EARLY)
    steps = event.steps(15)
    # Baseline 10 MW; metered 7.0, 8.0, 9.5, 10.5 MW against a 2.5 MW commitment:
    # reductions 3.0, 2.0, 0.5, −0.5 → delivered 2.5 (capped), 2.0, 0.5, 0 MW.
    settlement = settle_event(
        direction="reduce",
        baseline_mw=np.full(4, 10.0),
        actual_mw=np.array([7.0, 8.0, 9.5, 10.5]),
        committed_mw=2.5,
        price_cny_per_kwh=event.price_cny_per_kwh,
        penalty_cny_per_kwh=event.penalty_cny_per_kwh,
        step_h=0.25,
    )
    body = delivery_report(
        grid.program_id,
        event.event_id,
        settlement,
        client_name="park-ven",
        interval_starts_utc=steps,
        step_min=15,
    )
    got = grid.post_report(body)
    sent, kept = body["resources"][0]["intervals"], got["resources"][0]["intervals"]
    assert [(i["id"], i["payloads"]) for i in kept] == [(i["id"], i["payloads"]) for i in sent]
    delivery = parse_delivery_report(got)
    assert_allclose(delivery["baseline_kw"], [10000.0] * 4, rtol=0, atol=1e-9)
    assert_allclose(delivery["usage_kw"], [7000.0, 8000.0, 9500.0, 10500.0], rtol=0, atol=1e-9)
    assert_allclose(delivery["delta_usage_kw"], [-2500.0, -2000.0, -500.0, 0.0], rtol=0, atol=1e-9)
    assert_allclose(delivery["duration_s"], [900.0] * 4, rtol=0, atol=0)
    expected_starts = steps.tz_convert(None).to_numpy()
    assert (delivery["interval_starts_utc"] == expected_starts).all()
    # The grid operator's reconciliation: delivered energy = Σ |ΔP| · Δt = 5.0 MW · 0.25 h.
    delivered_mwh = float(np.abs(delivery["delta_usage_kw"]).sum()) / 1000 * 0.25
    assert delivered_mwh == pytest.approx(settlement.delivered_mwh, abs=1e-12)
    assert delivered_mwh == pytest.approx(1.25, abs=1e-12)


@sqlite_only
def test_vtn_accepts_the_new_payload_types_and_refuses_bad_values(grid: Grid) -> None:
    body = event_body(grid.program_id, PEAK, step_min=60)
    body["intervals"][0]["payloads"][2]["values"] = [-0.1]  # a negative PENALTY_PRICE
    r = grid.c.post("/openadr3/events", json=body, headers=grid.bl)
    assert r.status_code == 400
    assert "intervals[0].payloads[2].values[0]" in r.json()["detail"]
    body["intervals"][0]["payloads"][0]["values"] = ["-2500"]  # a setpoint that is a string
    body["intervals"][0]["payloads"][2]["values"] = [0.1]
    r = grid.c.post("/openadr3/events", json=body, headers=grid.bl)
    assert r.status_code == 400
    assert "intervals[0].payloads[0].values[0]" in r.json()["detail"]


# --- day-ahead or intraday, across the Shanghai midnight ------------------------------------


@pytest.mark.parametrize(
    ("received", "kind"),
    [
        (dt.datetime(2026, 7, 1, 15, 59, tzinfo=UTC), "day_ahead"),  # 1 July 23:59 local
        (dt.datetime(2026, 7, 1, 16, 0, tzinfo=UTC), "intraday"),  # 2 July 00:00 local
        (dt.datetime(2026, 7, 1, 16, 1, tzinfo=UTC), "intraday"),  # 2 July 00:01 local
        (dt.datetime(2026, 7, 2, 9, 0, tzinfo=dt.timezone(dt.timedelta(hours=8))), "intraday"),
    ],
)
def test_kind_follows_the_shanghai_day_of_the_start(received: dt.datetime, kind: str) -> None:
    # Also an event starting at 00:30 local on 2 July (1 July 16:30 UTC, a UTC day earlier).
    early = dataclasses.replace(
        PEAK,
        start_utc=dt.datetime(2026, 7, 1, 16, 30, tzinfo=UTC),
        end_utc=dt.datetime(2026, 7, 1, 17, 0, tzinfo=UTC),
    )
    for event in (PEAK, early):
        assert to_dr_event(stored(event), received_utc=received).kind == kind


# --- what does not fit ----------------------------------------------------------------------


def _set_value(obj: dict[str, Any], interval: int, payload: int, value: Any) -> dict[str, Any]:
    obj = copy.deepcopy(obj)
    obj["intervals"][interval]["payloads"][payload]["values"] = [value]
    return obj


def _bad_cases() -> list[Any]:
    base = stored(PEAK)  # four 15-min intervals, setpoint −2500 kW
    no_price = copy.deepcopy(base)
    del no_price["intervals"][1]["payloads"][1]
    gap = copy.deepcopy(base)
    gap["intervals"][2]["intervalPeriod"]["start"] = "2026-07-02T10:45:00Z"
    gap["intervals"][3]["intervalPeriod"]["start"] = "2026-07-02T11:00:00Z"
    uneven = copy.deepcopy(base)
    uneven["intervals"][3]["intervalPeriod"]["duration"] = "PT30M"
    naive = copy.deepcopy(base)
    naive["intervals"][0]["intervalPeriod"]["start"] = "2026-07-02T10:00:00"
    units = copy.deepcopy(base)
    units["payloadDescriptors"][0]["units"] = "KWH"
    currency = copy.deepcopy(base)
    currency["payloadDescriptors"][1]["currency"] = "USD"
    other = copy.deepcopy(base)
    other["intervals"][0]["payloads"].append({"type": "SIMPLE", "values": [1]})
    two_values = copy.deepcopy(base)
    two_values["intervals"][1]["payloads"][0]["values"] = [-2500.0, -2000.0]
    penalty_once = copy.deepcopy(base)
    del penalty_once["intervals"][3]["payloads"][2]
    endless = copy.deepcopy(base)
    endless["intervals"][3]["intervalPeriod"]["duration"] = "P3000000D"
    off_grid = copy.deepcopy(base)
    for k, interval in enumerate(off_grid["intervals"]):
        interval["intervalPeriod"]["start"] = f"2026-07-02T10:{5 + 15 * k:02d}:00Z"
    return [
        pytest.param(
            _set_value(base, 2, 0, 2500.0), "intervals[2].payloads[0].values", id="mixed signs"
        ),
        pytest.param(
            _set_value(base, 3, 0, -2000), "intervals[3].payloads[0].values", id="varying magnitude"
        ),
        pytest.param(
            _set_value(base, 0, 0, 0.0), "intervals[0].payloads[0].values", id="zero setpoint"
        ),
        pytest.param(
            _set_value(base, 1, 1, 1.5), "intervals[1].payloads[1].values", id="varying price"
        ),
        pytest.param(
            _set_value(base, 0, 1, -1.0), "intervals[0].payloads[1].values", id="negative price"
        ),
        pytest.param(
            _set_value(base, 0, 0, "-2500"),
            "intervals[0].payloads[0].values[0]",
            id="text setpoint",
        ),
        pytest.param(no_price, "intervals[1].payloads: no PRICE", id="missing PRICE"),
        pytest.param(gap, "intervals[2].intervalPeriod.start", id="gap"),
        pytest.param(uneven, "intervals[3].intervalPeriod.duration", id="uneven lengths"),
        pytest.param(naive, "intervals[0].intervalPeriod.start", id="naive start"),
        pytest.param(units, "payloadDescriptors[0].units", id="unknown units"),
        pytest.param(currency, "payloadDescriptors[1].currency", id="other currency"),
        pytest.param(other, "intervals[0].payloads[3].type", id="other payload type"),
        pytest.param(two_values, "intervals[1].payloads[0].values", id="two values"),
        pytest.param(
            penalty_once, "intervals[3].payloads: no PENALTY_PRICE", id="penalty in some intervals"
        ),
        pytest.param(off_grid, "intervalPeriod.start", id="off the 15-min grid"),
        pytest.param(endless, "intervals[3].intervalPeriod.duration", id="past the calendar"),
        pytest.param({**base, "intervals": []}, "intervals:", id="no intervals"),
        pytest.param({k: v for k, v in base.items() if k != "id"}, "id:", id="no id"),
    ]


@pytest.mark.parametrize(("obj", "field"), _bad_cases())
def test_what_does_not_fit_names_the_field(obj: dict[str, Any], field: str) -> None:
    with pytest.raises(InputError) as err:
        to_dr_event(obj, received_utc=EARLY)
    assert str(err.value).startswith(field), str(err.value)


def test_naive_received_time_is_refused() -> None:
    with pytest.raises(InputError, match=r"^received_utc: .* has no time zone"):
        to_dr_event(stored(PEAK), received_utc=NAIVE)


def test_megawatts_and_spec_style_intervals() -> None:
    """Units MW; intervals without their own period follow each other from the event's start."""
    obj = {
        "id": "event-mw",
        "payloadDescriptors": [
            {
                "objectType": "EVENT_PAYLOAD_DESCRIPTOR",
                "payloadType": "DISPATCH_SETPOINT_RELATIVE",
                "units": "MW",
            },
        ],
        "intervalPeriod": {"start": "2026-07-02T18:00:00+08:00", "duration": "PT30M"},
        "intervals": [
            {
                "id": k,
                "intervalPeriod": None,
                "payloads": [
                    {"type": "DISPATCH_SETPOINT_RELATIVE", "values": [4]},
                    {"type": "PRICE", "values": [0.8]},
                ],
            }
            for k in range(2)
        ],
    }
    event = to_dr_event(obj, received_utc=EARLY)
    assert (event.direction, event.start_utc, event.end_utc) == ("increase", START, END)
    assert event.target_mw == pytest.approx(4.0, abs=0)
    assert event.penalty_cny_per_kwh == 0.0 and event.price_cny_per_kwh == pytest.approx(0.8)


def test_report_inputs_are_checked() -> None:
    answer = EventAnswer("other-event", "accepted", 2.5, "")
    with pytest.raises(InputError, match=r"^answer.event_id"):
        answer_report(
            "p",
            "event-1",
            answer,
            direction="reduce",
            client_name="v",
            start_utc=START,
            duration=END - START,
        )
    settlement = settle_event(
        direction="increase",
        baseline_mw=np.zeros(2),
        actual_mw=np.ones(2),
        committed_mw=1.0,
        price_cny_per_kwh=1.0,
        penalty_cny_per_kwh=0.0,
        step_h=0.25,
    )
    with pytest.raises(InputError, match=r"^interval_starts_utc: 1 starts"):
        delivery_report(
            "p", "e", settlement, client_name="v", interval_starts_utc=[START], step_min=15
        )
    with pytest.raises(InputError, match=r"^interval_starts_utc\[0\]: .* no time zone"):
        delivery_report(
            "p", "e", settlement, client_name="v", interval_starts_utc=[NAIVE, END], step_min=15
        )
    with pytest.raises(InputError, match=r"^reportName"):
        parse_delivery_report({"reportName": "answer", "resources": []})
