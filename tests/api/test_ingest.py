"""POST /v1/readings: hand-checked JSON and CSV bodies, idempotence, corrections, limits, roles."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from suandian.api.context import Platform
from suandian.api.ingest import MAX_ROWS

from .conftest import World

# m-pv-nanchuan: 125,000 kW nameplate; at 15 min the most it can deliver is
# 1.1 × 125,000 kW × 0.25 h = 34,375 kWh.
GOOD = [
    {"meter_id": "m-pv-nanchuan", "start_utc": "2025-06-01T04:00:00Z", "kwh": 21000.5},
    # 12:15 Beijing time is 04:15 UTC.
    {"meter_id": "m-dc-nanchuan", "start_utc": "2025-06-01T12:15:00+08:00", "kwh": 5000},
]
BAD = [
    {"meter_id": "m-pv-nanchuan", "start_utc": "2025-06-01T04:07:00Z", "kwh": 1.0},
    {"meter_id": "m-dc-nanchuan", "start_utc": "2025-06-01T04:30:00Z", "kwh": -2.0},
    {"meter_id": "m-nope", "start_utc": "2025-06-01T04:30:00Z", "kwh": 1.0},
    {"meter_id": "m-pv-nanchuan", "start_utc": "2025-06-01T04:30:00Z", "kwh": 40000.0},
    {"meter_id": "m-pv-nanchuan", "start_utc": "2025-06-01T04:45:00", "kwh": 1.0},
    {"meter_id": "m-dc-nanchuan", "start_utc": "2025-06-01T05:00:00Z", "kwh": None},
]


def _post(world: World, who: str, body: Any, **kwargs: Any) -> Any:
    return world.client.post("/v1/readings", json=body, headers=world.as_(who), **kwargs)


def _platform(world: World) -> Platform:
    platform: Platform = world.app.state.platform
    return platform


def _stored(world: World) -> dict[str, int]:
    with _platform(world).readings() as store:
        return store.counts()


def _counted(world: World, channel: str, outcome: str) -> float:
    value = _platform(world).metrics.registry.get_sample_value(
        "suandian_readings_ingested_total", {"channel": channel, "outcome": outcome}
    )
    return value or 0.0


def _current(world: World, meter_id: str, start: str) -> list[tuple[float, int]]:
    with _platform(world).readings() as store:
        rows = store._con.execute(
            "SELECT r.kwh, r.version FROM readings r JOIN meters m USING (meter_key) "
            "WHERE m.meter_id = ? AND r.start_utc = ?::TIMESTAMPTZ ORDER BY r.version",
            [meter_id, start],
        ).fetchall()
    return [(float(k), int(v)) for k, v in rows]


def test_json_readings_are_counted_and_each_bad_one_named(world: World) -> None:
    r = _post(world, "operator", {"readings": GOOD + BAD})
    assert r.status_code == 200, r.text
    report = r.json()
    assert {k: report[k] for k in ("rows", "new", "corrected", "duplicate", "rejected")} == {
        "rows": 8,
        "new": 2,
        "corrected": 0,
        "duplicate": 0,
        "rejected": 6,
    }
    errors = {e["row"]: e for e in report["errors"]}
    assert sorted(errors) == [3, 4, 5, 6, 7, 8]
    assert (errors[3]["field"], errors[3]["value"]) == ("start_utc", "2025-06-01T04:07:00Z")
    assert "not on the 15-min grid" in errors[3]["reason"]
    assert (errors[4]["field"], errors[4]["value"]) == ("kwh", "-2.0")
    assert "energy must be ≥ 0" in errors[4]["reason"]
    assert (errors[5]["field"], errors[5]["meter_id"]) == ("meter_id", "m-nope")
    assert "unknown meter" in errors[5]["reason"]
    assert errors[6]["field"] == "kwh"
    assert "34,375.000 kWh" in errors[6]["reason"]
    assert errors[7]["field"] == "start_utc" and "naive timestamp" in errors[7]["reason"]
    assert errors[8]["field"] == "kwh" and "missing value" in errors[8]["reason"]
    assert _stored(world)["readings"] == 2
    # 12:15+08:00 is stored at 04:15 UTC.
    assert _current(world, "m-dc-nanchuan", "2025-06-01T04:15:00Z") == [
        (pytest.approx(5000.0, abs=1e-9), 1)
    ]
    assert _counted(world, "http", "new") == 2
    assert _counted(world, "http", "rejected") == 6


def test_resending_changes_nothing_and_a_new_value_is_a_correction(world: World) -> None:
    assert _post(world, "operator", {"readings": GOOD}).json()["new"] == 2
    again = _post(world, "admin", {"readings": GOOD}).json()
    assert (again["new"], again["duplicate"], again["corrected"]) == (0, 2, 0)
    assert _stored(world) == {"meters": 28, "readings": 2, "versions": 2}

    fixed = [dict(GOOD[0], kwh=20999.5)]
    r = _post(world, "operator", {"readings": fixed}).json()
    assert (r["new"], r["corrected"], r["duplicate"], r["rejected"]) == (0, 1, 0, 0)
    assert _stored(world) == {"meters": 28, "readings": 2, "versions": 3}
    assert _current(world, "m-pv-nanchuan", "2025-06-01T04:00:00Z") == [
        (pytest.approx(21000.5, abs=1e-9), 1),
        (pytest.approx(20999.5, abs=1e-9), 2),
    ]
    assert _counted(world, "http", "duplicate") == 2
    assert _counted(world, "http", "corrected") == 1


def test_two_values_for_one_interval_in_one_request_are_both_refused(world: World) -> None:
    clash = [GOOD[0], dict(GOOD[0], kwh=1.0)]
    r = _post(world, "operator", {"readings": clash}).json()
    assert (r["new"], r["rejected"]) == (0, 2)
    assert all("conflicting value" in e["reason"] for e in r["errors"])
    assert _stored(world)["readings"] == 0


def test_csv_readings_take_the_same_checks(world: World) -> None:
    body = (
        "meter_id,start_utc,kwh\n"
        "m-pv-nanchuan,2025-06-01T04:00:00Z,21000.5\n"
        "m-dc-nanchuan,2025-06-01T04:15:00Z,5000\n"
        "\n"
        "m-dc-nanchuan,2025-06-01T04:30:00Z,\n"
        "m-dc-nanchuan,yesterday,3\n"
    )
    r = world.client.post(
        "/v1/readings",
        content=body.encode(),
        headers={**world.as_("operator"), "Content-Type": "text/csv"},
    )
    assert r.status_code == 200, r.text
    report = r.json()
    assert (report["rows"], report["new"], report["rejected"]) == (4, 2, 2)
    # Rows count the data lines after the header, the blank line included.
    assert [(e["row"], e["field"]) for e in report["errors"]] == [(4, "kwh"), (5, "start_utc")]
    assert "not an ISO-8601 timestamp" in report["errors"][1]["reason"]
    # The same readings as JSON are duplicates of the CSV ones.
    assert _post(world, "operator", {"readings": GOOD}).json()["duplicate"] == 2


def test_resolution_comes_from_the_body_or_the_query(world: World) -> None:
    hourly = [{"meter_id": "m-dc-nanchuan", "start_utc": "2025-06-01T04:15:00Z", "kwh": 1.0}]
    r = _post(world, "operator", {"resolution_min": 60, "readings": hourly}).json()
    assert r["rejected"] == 1 and "60-min grid" in r["errors"][0]["reason"]
    r2 = _post(world, "operator", {"readings": hourly}, params={"resolution_min": 60}).json()
    assert r2["rejected"] == 1
    both = _post(
        world, "operator", {"resolution_min": 15, "readings": hourly}, params={"resolution_min": 60}
    )
    assert both.status_code == 422 and "give one" in both.json()["detail"]
    odd = _post(world, "operator", {"resolution_min": 7, "readings": hourly})
    assert odd.status_code == 422 and "divide a day" in odd.json()["detail"]


def test_malformed_bodies_answer_4xx_and_store_nothing(world: World) -> None:
    op = world.as_("operator")
    cases = [
        (b"not json", "application/json", 422),
        (b'{"readings": 3}', "application/json", 422),
        (b'{"readings": [1, 2]}', "application/json", 422),
        (b"[]", "application/json", 422),
        (b"a,b\n1,2\n", "text/csv", 422),
        (b"", "text/csv", 422),
        (b"<xml/>", "application/xml", 415),
        (b"meter_id;start_utc;kwh\n", "text/csv", 422),
    ]
    for body, kind, status in cases:
        r = world.client.post("/v1/readings", content=body, headers={**op, "Content-Type": kind})
        assert r.status_code == status, (body, r.text)
    assert _stored(world)["readings"] == 0


def test_more_than_the_limit_is_refused_whole(world: World) -> None:
    rows = [{"meter_id": "m-dc-nanchuan", "start_utc": "2025-01-01T00:00:00Z", "kwh": 1.0}] * (
        MAX_ROWS + 1
    )
    r = world.client.post(
        "/v1/readings",
        content=orjson.dumps({"readings": rows}),
        headers={**world.as_("operator"), "Content-Type": "application/json"},
    )
    assert r.status_code == 413
    assert "100,000" in r.json()["detail"] and "nothing was stored" in r.json()["detail"]
    csv = "meter_id,start_utc,kwh\n" + "m-dc-nanchuan,2025-01-01T00:00:00Z,1\n" * (MAX_ROWS + 1)
    r = world.client.post(
        "/v1/readings",
        content=csv.encode(),
        headers={**world.as_("operator"), "Content-Type": "text/csv"},
    )
    assert r.status_code == 413 and "100,000" in r.json()["detail"]
    assert _stored(world)["readings"] == 0
    assert _counted(world, "http", "rejected") == 0


def test_only_park_admins_and_operators_send_readings(world: World) -> None:
    # A tenant may not send readings, not even of its own meter; nothing is stored.
    own = {
        "dc": [GOOD[1]],
        "silicon": [{"meter_id": "m-silicon-a", "start_utc": "2025-06-01T04:00:00Z", "kwh": 1}],
        "auditor": GOOD,
    }
    for who, rows in own.items():
        r = _post(world, who, {"readings": rows})
        assert r.status_code == 403, who
        assert "cannot change park data" in r.json()["detail"]
    assert world.client.post("/v1/readings", json={"readings": GOOD}).status_code == 401
    assert _stored(world)["readings"] == 0
    assert _post(world, "admin", {"readings": GOOD}).json()["new"] == 2


def test_the_openapi_documents_both_body_shapes(world: World) -> None:
    spec = world.client.get("/openapi.json").json()
    body = spec["paths"]["/v1/readings"]["post"]["requestBody"]["content"]
    assert set(body) == {"application/json", "text/csv"}
    readings = body["application/json"]["schema"]["properties"]["readings"]
    assert readings["maxItems"] == MAX_ROWS
    assert readings["items"]["required"] == ["meter_id", "start_utc", "kwh"]


def test_far_off_years_are_refused_as_such(world: World) -> None:
    rows = [
        {"meter_id": "m-dc-nanchuan", "start_utc": t, "kwh": 1.0}
        for t in ("9999-12-31T23:45:00Z", "1999-12-31T23:45:00Z", "2100-12-31T23:45:00Z")
    ]
    r = _post(world, "operator", {"readings": rows}).json()
    assert (r["new"], r["rejected"]) == (1, 2)
    assert [(e["row"], e["field"]) for e in r["errors"]] == [(1, "start_utc"), (2, "start_utc")]
    assert all("outside the years 2000–2100" in e["reason"] for e in r["errors"])
