"""Meters and readings over HTTP: listing, tenant scoping, ranges, as-of reads, registering."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from suandian.meters.importer import import_readings
from suandian.meters.registry import meters_for_park
from suandian.scenario.model import Park

from .conftest import World

T0 = "2025-07-01T00:00:00Z"


def put(world: World, rows: list[tuple[str, str, float]], received: str | None = None) -> None:
    frame = pd.DataFrame(rows, columns=["meter_id", "start_utc", "kwh"])
    when = None if received is None else pd.Timestamp(received).to_pydatetime()
    with world.app.state.platform.readings() as store:
        result = import_readings(store, frame, received_utc=when)
    assert result.rejected == 0


def ids(world: World, who: str, **params: str) -> list[str]:
    r = world.client.get("/v1/meters", params=params, headers=world.as_(who))
    assert r.status_code == 200, r.text
    return [m["meter_id"] for m in r.json()]


def test_park_roles_see_every_meter_a_tenant_only_its_own(world: World, xining: Park) -> None:
    every = [m.meter_id for m in meters_for_park(xining)]
    assert ids(world, "admin") == every
    assert ids(world, "auditor") == every
    assert ids(world, "dc") == ["m-dc-nanchuan"]
    assert ids(world, "silicon") == ["m-silicon-a"]
    # 1 data center + 21 enterprises.
    assert len(ids(world, "operator", kind="consumption")) == 22
    assert ids(world, "admin", kind="generation", site="nanchuan") == [
        "m-pv-nanchuan",
        "m-wind-nanchuan",
    ]
    assert ids(world, "dc", kind="generation") == []
    m = world.client.get("/v1/meters/m-pv-nanchuan", headers=world.as_("admin")).json()
    # 150 MWp at DC/AC 1.2: 125 MW AC.
    assert m["kind"] == "generation" and m["source"] == "pv"
    assert m["nameplate_kw"] == pytest.approx(125_000.0, abs=1e-6)


@pytest.mark.parametrize(("who", "foreign"), [("dc", "m-silicon-a"), ("silicon", "m-dc-nanchuan")])
def test_a_foreign_meter_answers_as_an_unknown_one(world: World, who: str, foreign: str) -> None:
    put(world, [(foreign, T0, 10.0)])
    headers = world.as_(who)
    for meter in (foreign, "m-nanchuan-import", "m-pv-nanchuan", "m-no-such"):
        r = world.client.get(f"/v1/meters/{meter}", headers=headers)
        assert r.status_code == 404
        assert r.json()["detail"] == f"meter {meter!r}: not found"
        r = world.client.get(
            f"/v1/meters/{meter}/readings",
            params={"start": T0, "end": "2025-07-01T01:00:00Z"},
            headers=headers,
        )
        assert r.status_code == 404
        assert r.json()["detail"] == f"meter {meter!r}: not found"
    own = "m-dc-nanchuan" if who == "dc" else "m-silicon-a"
    assert world.client.get(f"/v1/meters/{own}", headers=headers).status_code == 200


def test_readings_are_the_values_put_in_and_gaps_stay_gaps(world: World) -> None:
    put(
        world,
        [
            ("m-dc-nanchuan", "2025-07-01T00:00:00Z", 100.0),
            ("m-dc-nanchuan", "2025-07-01T00:15:00Z", 200.0),
            # 00:30 missing
            ("m-dc-nanchuan", "2025-07-01T00:45:00Z", 300.0),
            ("m-dc-nanchuan", "2025-07-01T01:00:00Z", 999.0),  # at the end: not in [00:00, 01:00)
            ("m-silicon-a", "2025-07-01T00:00:00Z", 7.0),
        ],
    )
    r = world.client.get(
        "/v1/meters/m-dc-nanchuan/readings",
        # 08:00 Beijing time is 00:00 UTC: the same instant.
        params={"start": "2025-07-01T08:00:00+08:00", "end": "2025-07-01T01:00:00Z"},
        headers=world.as_("dc"),
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["start_utc"] == "2025-07-01T00:00:00Z"
    assert (body["intervals"], body["missing"]) == (4, 1)
    assert body["total_kwh"] == pytest.approx(600.0, abs=1e-9)
    assert [(x["start_utc"], x["kwh"]) for x in body["readings"]] == [
        ("2025-07-01T00:00:00Z", pytest.approx(100.0, abs=1e-9)),
        ("2025-07-01T00:15:00Z", pytest.approx(200.0, abs=1e-9)),
        ("2025-07-01T00:45:00Z", pytest.approx(300.0, abs=1e-9)),
    ]


def test_as_of_gives_the_value_known_then(world: World) -> None:
    meter = "m-silicon-a"
    put(world, [(meter, T0, 100.0)], received="2025-07-02T00:00:00Z")
    put(world, [(meter, T0, 150.0)], received="2025-07-03T00:00:00Z")  # a correction

    def read(as_of: str | None) -> list[float]:
        params = {"start": T0, "end": "2025-07-01T00:15:00Z"}
        if as_of is not None:
            params["as_of"] = as_of
        r = world.client.get(
            f"/v1/meters/{meter}/readings", params=params, headers=world.as_("silicon")
        )
        assert r.status_code == 200, r.text
        return [x["kwh"] for x in r.json()["readings"]]

    assert read(None) == [pytest.approx(150.0, abs=1e-9)]
    assert read("2025-07-02T12:00:00Z") == [pytest.approx(100.0, abs=1e-9)]
    assert read("2025-07-03T00:00:00Z") == [pytest.approx(150.0, abs=1e-9)]
    assert read("2025-07-01T23:59:59Z") == []


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"start": "2025-07-01T00:00:00", "end": "2025-07-01T01:00:00Z"}, "start"),
        ({"start": "2025-07-01T00:00:00Z", "end": "yesterday"}, "end"),
        ({"start": "2025-07-01T00:00:00Z"}, "end"),
        ({"start": "2025-07-01T00:07:00Z", "end": "2025-07-01T01:00:00Z"}, "start"),
        ({"start": "2025-07-01T00:00:00Z", "end": "2025-07-01T00:50:00Z"}, "end"),
        ({"start": "2025-07-01T01:00:00Z", "end": "2025-07-01T01:00:00Z"}, "end"),
        ({"start": "2025-07-01T00:00:00Z", "end": "2025-08-01T00:15:00Z"}, "end"),
        ({"start": "1969-12-31T00:00:00Z", "end": "1970-01-01T00:00:00Z"}, "start"),
        ({"start": T0, "end": "2025-07-01T01:00:00Z", "as_of": "2025-07-01 00:00"}, "as_of"),
        ({"start": T0, "end": "2025-07-01T01:00:00Z", "as_of": "9999-01-01T00:00:00Z"}, "as_of"),
    ],
)
def test_bad_ranges_answer_422_naming_the_parameter(
    world: World, params: dict[str, str], named: str
) -> None:
    r = world.client.get(
        "/v1/meters/m-dc-nanchuan/readings", params=params, headers=world.as_("dc")
    )
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    if isinstance(detail, str):
        assert detail.startswith(f"{named}:"), detail
    else:  # request validation: the parameter is in the location
        assert named in {str(d["loc"][-1]) for d in detail}, detail


NEW_METER = {
    "meter_id": "m-silicon-a-line2",
    "kind": "consumption",
    "site": "nanchuan",
    "asset_id": "silicon-a",
}


def test_operators_register_meters_auditors_and_tenants_cannot(world: World) -> None:
    body = {"meters": [NEW_METER]}
    for who in ("auditor", "dc", "silicon"):
        r = world.client.post("/v1/meters", json=body, headers=world.as_(who))
        assert r.status_code == 403, who
    assert ids(world, "silicon") == ["m-silicon-a"]
    r = world.client.post("/v1/meters", json=body, headers=world.as_("operator"))
    assert r.status_code == 201, r.text
    assert r.json()["registered"] == 1
    assert r.json()["meters"] == [NEW_METER | {"source": None, "nameplate_kw": None}]
    again = world.client.post("/v1/meters", json=body, headers=world.as_("admin"))
    assert again.status_code == 201 and again.json()["registered"] == 0
    # The new meter belongs to silicon-a: its tenant sees it, the other tenant does not.
    assert ids(world, "silicon") == ["m-silicon-a", "m-silicon-a-line2"]
    assert ids(world, "dc") == ["m-dc-nanchuan"]
    r = world.client.get("/v1/meters/m-silicon-a-line2", headers=world.as_("dc"))
    assert r.status_code == 404
    put(world, [("m-silicon-a-line2", T0, 5.0)])  # readings can arrive for it now


@pytest.mark.parametrize(
    ("meter", "message"),
    [
        (NEW_METER | {"site": "elsewhere"}, "meters[0].site: 'elsewhere' is not a site"),
        (NEW_METER | {"asset_id": None}, "meters[0]: meter 'm-silicon-a-line2': a consumption"),
        (
            {"meter_id": "m-pv2", "kind": "generation", "site": "nanchuan", "asset_id": "pv2"},
            "meters[0]: meter 'm-pv2': source None",
        ),
        (
            {"meter_id": "m-dc-nanchuan", "kind": "grid_import", "site": "nanchuan"},
            "meter 'm-dc-nanchuan' is registered as consumption",
        ),
    ],
)
def test_bad_meters_are_refused_and_nothing_is_registered(
    world: World, meter: dict[str, object], message: str
) -> None:
    before = ids(world, "admin")
    r = world.client.post(
        "/v1/meters", json={"meters": [NEW_METER, meter]}, headers=world.as_("operator")
    )
    assert r.status_code == 422, r.text
    assert message.replace("meters[0]", "meters[1]") in r.json()["detail"]
    assert ids(world, "admin") == before


def test_readings_cross_the_shanghai_day_boundary_as_utc(world: World) -> None:
    # 2025-07-01 00:00 in Shanghai is 2025-06-30 16:00 UTC; a range over it keeps both sides.
    put(
        world,
        [
            ("m-dc-nanchuan", "2025-06-30T15:45:00Z", 1.0),
            ("m-dc-nanchuan", "2025-06-30T16:00:00Z", 2.0),
        ],
    )
    r = world.client.get(
        "/v1/meters/m-dc-nanchuan/readings",
        params={"start": "2025-06-30T23:45:00+08:00", "end": "2025-07-01T00:15:00+08:00"},
        headers=world.as_("admin"),
    )
    assert [x["start_utc"] for x in r.json()["readings"]] == [
        "2025-06-30T15:45:00Z",
        "2025-06-30T16:00:00Z",
    ]
    assert r.json()["total_kwh"] == pytest.approx(3.0, abs=1e-12)
    assert dt.datetime.fromisoformat(r.json()["end_utc"]) == dt.datetime(
        2025, 6, 30, 16, 15, tzinfo=dt.UTC
    )
