"""The OpenADR 3 VTN (/openadr3) and the VEN client, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from sqlalchemy import select

from suandian.api.routes import openadr
from suandian.api.routes.openadr import duration_seconds
from suandian.api.ven_client import VenClient, VtnError
from suandian.core.errors import NotFound
from suandian.store.openadr import AccessTokenRow, ClientRow, ObjectRow, OpenadrStore
from suandian.store.platform import hash_token
from suandian.store.sql import database_url, engine_for

from .conftest import World

PROBLEM = "application/problem+json"
STAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
START = "2026-12-01T10:00:00+08:00"


def make_client(world: World, client_id: str, role: str) -> str:
    r = world.client.post(
        "/v1/admin/openadr-clients",
        json={"client_id": client_id, "role": role},
        headers=world.as_("admin"),
    )
    assert r.status_code == 201, r.text
    assert r.json()["client_id"] == client_id and r.json()["role"] == role
    secret: str = r.json()["client_secret"]
    return secret


def bearer(world: World, client_id: str, secret: str) -> dict[str, str]:
    r = world.client.post(
        "/openadr3/auth/token",
        data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 900
    return {"Authorization": f"Bearer {body['access_token']}"}


def event_body(program_id: str, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "programID": program_id,
        "eventName": "evening peak",
        "priority": 1,
        "payloadDescriptors": [
            {"objectType": "EVENT_PAYLOAD_DESCRIPTOR", "payloadType": "IMPORT_CAPACITY_LIMIT"}
        ],
        "intervalPeriod": {"start": START, "duration": "PT1H"},
        "intervals": [
            {"id": 0, "payloads": [{"type": "IMPORT_CAPACITY_LIMIT", "values": [40.0]}]},
            {
                "id": 1,
                "intervalPeriod": {"start": "2026-12-01T11:00:00+08:00", "duration": "PT30M"},
                "payloads": [{"type": "IMPORT_CAPACITY_LIMIT", "values": [35]}],
            },
        ],
    }
    body.update(changes)
    return body


class Vtn:
    """A world with a BL client, two VENs, a program and an event."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.c = world.client
        self.secrets = {who: make_client(world, who, role) for who, role in _CLIENTS.items()}
        self.h = {who: bearer(world, who, s) for who, s in self.secrets.items()}
        r = self.c.post(
            "/openadr3/programs",
            json={"programName": "xining-dr", "programType": "DEMAND_RESPONSE"},
            headers=self.h["bl"],
        )
        assert r.status_code == 201, r.text
        self.program = r.json()
        r = self.c.post(
            "/openadr3/events", json=event_body(self.program["id"]), headers=self.h["bl"]
        )
        assert r.status_code == 201, r.text
        self.event = r.json()

    def report(self, who: str) -> dict[str, Any]:
        r = self.c.post(
            "/openadr3/reports",
            json={
                "programID": self.program["id"],
                "eventID": self.event["id"],
                "clientName": who,
                "resources": [
                    {
                        "resourceName": "AGGREGATED_REPORT",
                        "intervals": [{"id": 0, "payloads": [{"type": "USAGE", "values": [38.5]}]}],
                    }
                ],
            },
            headers=self.h[who],
        )
        assert r.status_code == 201, r.text
        report: dict[str, Any] = r.json()
        return report


_CLIENTS = {"bl": "bl", "ven-a": "ven", "ven-b": "ven"}


@pytest.fixture
def vtn(world: World) -> Vtn:
    return Vtn(world)


def test_objects_carry_the_specifications_fields(vtn: Vtn) -> None:
    program, event = vtn.program, vtn.event
    assert program["objectType"] == "PROGRAM" and program["programName"] == "xining-dr"
    assert event["objectType"] == "EVENT" and event["programID"] == program["id"]
    for obj in (program, event):
        assert re.match(r"^[a-zA-Z0-9_-]+$", obj["id"])
        assert STAMP.match(obj["createdDateTime"]) and STAMP.match(obj["modificationDateTime"])
        assert obj["createdDateTime"].endswith("Z")
    assert event["intervalPeriod"] == {"start": START, "duration": "PT1H", "randomizeStart": None}
    assert [i["id"] for i in event["intervals"]] == [0, 1]
    assert event["intervals"][0]["payloads"] == [
        {"type": "IMPORT_CAPACITY_LIMIT", "values": [40.0]}
    ]
    assert event["intervals"][1]["intervalPeriod"]["duration"] == "PT30M"
    assert event["payloadDescriptors"][0]["objectType"] == "EVENT_PAYLOAD_DESCRIPTOR"
    # What the VTN provisions cannot be set by the client.
    r = vtn.c.post(
        "/openadr3/programs",
        json={"programName": "other", "id": "mine", "createdDateTime": "2020-01-01T00:00:00Z"},
        headers=vtn.h["bl"],
    )
    assert r.json()["id"] != "mine" and r.json()["objectType"] == "PROGRAM"
    assert r.json()["createdDateTime"] != "2020-01-01T00:00:00Z"
    wrong = {"programName": "x", "objectType": "EVENT"}
    assert vtn.c.post("/openadr3/programs", json=wrong, headers=vtn.h["bl"]).status_code == 400


def test_iso_durations() -> None:
    assert duration_seconds("PT1H") == 3600
    assert duration_seconds("PT30M") == 1800
    assert duration_seconds("P1DT0.5S") == 86400.5
    assert duration_seconds("P2W") == 14 * 86400
    assert duration_seconds("-PT15M") == -900
    for bad in ("P", "PT", "1H", "PT1.5H", "P1H"):
        with pytest.raises(ValueError):
            duration_seconds(bad)


def test_a_ven_lists_programs_and_events_and_reports(vtn: Vtn) -> None:
    c, h = vtn.c, vtn.h
    programs = c.get("/openadr3/programs", headers=h["ven-a"]).json()
    assert [p["id"] for p in programs] == [vtn.program["id"]]
    events = c.get(
        "/openadr3/events", params={"programID": vtn.program["id"]}, headers=h["ven-a"]
    ).json()
    assert events == [vtn.event]
    assert c.get(f"/openadr3/events/{vtn.event['id']}", headers=h["ven-b"]).json() == vtn.event
    report = vtn.report("ven-a")
    assert report["objectType"] == "REPORT"
    assert (report["programID"], report["eventID"]) == (vtn.program["id"], vtn.event["id"])
    assert report["resources"][0]["intervals"][0]["payloads"][0]["values"] == [38.5]
    assert c.get("/openadr3/reports", headers=h["ven-a"]).json() == [report]
    # The business logic reads every report, filtered by the spec's parameters.
    for params in ({}, {"eventID": vtn.event["id"]}, {"clientName": "ven-a"}):
        assert c.get("/openadr3/reports", params=params, headers=h["bl"]).json() == [report]
    assert c.get("/openadr3/reports", params={"clientName": "x"}, headers=h["bl"]).json() == []


def test_a_ven_sees_only_its_own_reports_and_ven(vtn: Vtn) -> None:
    c, h = vtn.c, vtn.h
    a = vtn.report("ven-a")
    b = vtn.report("ven-b")
    assert c.get("/openadr3/reports", headers=h["ven-b"]).json() == [b]
    foreign = c.get(f"/openadr3/reports/{a['id']}", headers=h["ven-b"])
    unknown = c.get("/openadr3/reports/report-nope", headers=h["ven-b"])
    assert foreign.status_code == unknown.status_code == 404
    assert foreign.headers["content-type"] == PROBLEM
    assert foreign.json()["detail"] == f"report {a['id']}: not found"
    for method in ("put", "delete"):
        r = c.request(method, f"/openadr3/reports/{a['id']}", json=a, headers=h["ven-b"])
        assert r.status_code == 404, method
    assert c.get(f"/openadr3/reports/{a['id']}", headers=h["ven-a"]).json() == a
    ven_a = c.post("/openadr3/vens", json={"venName": "nanchuan-dc"}, headers=h["ven-a"]).json()
    assert ven_a["objectType"] == "VEN" and ven_a["venName"] == "nanchuan-dc"
    assert c.get("/openadr3/vens", headers=h["ven-b"]).json() == []
    assert c.get(f"/openadr3/vens/{ven_a['id']}", headers=h["ven-b"]).status_code == 404
    assert c.get("/openadr3/vens", headers=h["ven-a"]).json() == [ven_a]
    assert c.get("/openadr3/vens", headers=h["bl"]).json() == [ven_a]
    again = c.post("/openadr3/vens", json={"venName": "nanchuan-dc"}, headers=h["ven-b"])
    assert again.status_code == 409 and again.headers["content-type"] == PROBLEM


def test_roles_tokens_and_problems(vtn: Vtn) -> None:
    c, h = vtn.c, vtn.h
    for headers in ({}, {"Authorization": "Bearer oa_nope"}, vtn.world.as_("admin")):
        r = c.get("/openadr3/programs", headers=headers)
        assert r.status_code == 401
        assert r.headers["content-type"] == PROBLEM
        problem = r.json()
        assert set(problem) == {"type", "title", "status", "detail", "instance"}
        assert problem["status"] == 401 and problem["instance"] == "/openadr3/programs"
    r = c.post("/openadr3/programs", json={"programName": "ven-made"}, headers=h["ven-a"])
    assert r.status_code == 403 and r.headers["content-type"] == PROBLEM
    r = c.post("/openadr3/events", json=event_body(vtn.program["id"]), headers=h["ven-a"])
    assert r.status_code == 403
    assert c.delete(f"/openadr3/events/{vtn.event['id']}", headers=h["ven-a"]).status_code == 403
    r = c.post(
        "/openadr3/reports",
        json={"programID": "p", "eventID": "e", "clientName": "bl", "resources": []},
        headers=h["bl"],
    )
    assert r.status_code == 403
    unknown = c.get("/openadr3/programs/program-nope", headers=h["ven-a"])
    assert unknown.status_code == 404 and unknown.json()["title"] == "Not Found"
    again = c.post("/openadr3/programs", json={"programName": "xining-dr"}, headers=h["bl"])
    assert again.status_code == 409
    # The token endpoint answers RFC 6749 errors.
    r = c.post(
        "/openadr3/auth/token",
        data={"grant_type": "client_credentials", "client_id": "bl", "client_secret": "wrong"},
    )
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"
    r = c.post(
        "/openadr3/auth/token",
        data={"grant_type": "password", "client_id": "bl", "client_secret": "x"},
    )
    assert r.status_code == 400 and r.json()["error"] == "unsupported_grant_type"
    r = c.post("/openadr3/auth/token", data={"grant_type": "client_credentials"})
    assert r.status_code == 400 and r.json()["error"] == "invalid_request"
    assert "client_id" in r.json()["error_description"]
    # Only park admins manage clients.
    for who in ("operator", "auditor", "dc"):
        r = c.post(
            "/v1/admin/openadr-clients",
            json={"client_id": "x", "role": "bl"},
            headers=vtn.world.as_(who),
        )
        assert r.status_code == 403


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"intervalPeriod": {"start": "2026-12-01T10:00:00", "duration": "PT1H"}}, "start"),
        ({"intervalPeriod": {"start": START, "duration": "PT0S"}}, "intervalPeriod.duration"),
        ({"intervalPeriod": {"start": START, "duration": "1 hour"}}, "intervalPeriod.duration"),
        ({"intervalPeriod": {"start": START, "duration": "-PT1H"}}, "intervalPeriod.duration"),
        (
            {"intervals": [{"id": 0, "payloads": [{"type": "LOAD_SHED", "values": [1]}]}]},
            "intervals[0].payloads[0].type",
        ),
        (
            {"intervals": [{"id": 0, "payloads": [{"type": "SIMPLE", "values": [7]}]}]},
            "intervals[0].payloads[0].values[0]",
        ),
        (
            {
                "intervals": [
                    {"id": 0, "payloads": [{"type": "IMPORT_CAPACITY_LIMIT", "values": ["x"]}]}
                ]
            },
            "intervals[0].payloads[0].values[0]",
        ),
        ({"payloadDescriptors": [{"payloadType": "BOGUS"}]}, "payloadDescriptors[0].payloadType"),
        ({"intervals": []}, "intervals"),
        ({"programID": "program-nope"}, "programID"),
        ({"priority": -1}, "priority"),
        ({"intervalPeriod": None}, "intervals[0].intervalPeriod"),
    ],
)
def test_bad_events_are_400_problems_naming_the_field(
    vtn: Vtn, change: dict[str, Any], field: str
) -> None:
    r = vtn.c.post(
        "/openadr3/events", json=event_body(vtn.program["id"], **change), headers=vtn.h["bl"]
    )
    assert r.status_code == 400, r.text
    assert r.headers["content-type"] == PROBLEM
    assert r.json()["status"] == 400 and field in r.json()["detail"]
    # Nothing was kept.
    events = vtn.c.get("/openadr3/events", headers=vtn.h["bl"]).json()
    assert [e["id"] for e in events] == [vtn.event["id"]]


def test_secrets_and_tokens_are_stored_hashed(vtn: Vtn) -> None:
    token = vtn.h["ven-a"]["Authorization"].removeprefix("Bearer ")
    settings = vtn.world.settings
    engine = engine_for(database_url(settings), schema=settings.database_schema)
    with engine.connect() as conn:
        stored = dict(conn.execute(select(ClientRow.client_id, ClientRow.secret_digest)).all())
        tokens = conn.execute(select(AccessTokenRow.digest)).scalars().all()
        bodies = conn.execute(select(ObjectRow.body)).scalars().all()
    engine.dispose()
    for who, secret in vtn.secrets.items():
        assert stored[who] == hash_token(secret)
    assert hash_token(token) in tokens and token not in tokens
    assert not any(secret in b for b in bodies for secret in vtn.secrets.values())
    listed = vtn.c.get("/v1/admin/openadr-clients", headers=vtn.world.as_("admin")).json()
    assert {c["client_id"] for c in listed} == set(_CLIENTS)
    assert all("client_secret" not in c for c in listed)


def test_tokens_expire(vtn: Vtn) -> None:
    settings = vtn.world.settings
    engine = engine_for(database_url(settings), schema=settings.database_schema)
    later = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=901)
    try:
        store = OpenadrStore(engine, clock=lambda: later)
        token = vtn.h["ven-a"]["Authorization"].removeprefix("Bearer ")
        assert OpenadrStore(engine).authenticate(token) is not None
        assert store.authenticate(token) is None
    finally:
        engine.dispose()


def test_paging_targets_and_updates(vtn: Vtn) -> None:
    c, h = vtn.c, vtn.h
    ids = [vtn.program["id"]]
    for k in range(3):
        r = c.post(
            "/openadr3/programs",
            json={"programName": f"p{k}", "targets": [{"type": "GROUP", "values": [f"g{k % 2}"]}]},
            headers=h["bl"],
        )
        ids.append(r.json()["id"])
    page = c.get("/openadr3/programs", params={"skip": 1, "limit": 2}, headers=h["ven-a"]).json()
    assert [p["id"] for p in page] == ids[1:3]
    grouped = c.get(
        "/openadr3/programs",
        params={"targetType": "GROUP", "targetValues": ["g0"]},
        headers=h["ven-a"],
    ).json()
    assert [p["programName"] for p in grouped] == ["p0", "p2"]
    for bad in ({"limit": 51}, {"skip": -1}, {"programID": "a b"}):
        r = c.get("/openadr3/events", params=bad, headers=h["ven-a"])
        assert r.status_code == 400 and r.headers["content-type"] == PROBLEM
    # An update keeps id and creation time and moves the modification time.
    changed = event_body(vtn.program["id"], eventName="moved")
    r = c.put(f"/openadr3/events/{vtn.event['id']}", json=changed, headers=h["bl"])
    assert r.status_code == 200
    assert r.json()["id"] == vtn.event["id"] and r.json()["eventName"] == "moved"
    assert r.json()["createdDateTime"] == vtn.event["createdDateTime"]
    assert r.json()["modificationDateTime"] >= vtn.event["modificationDateTime"]
    # A program with events cannot go; once they are gone, it can.
    assert c.delete(f"/openadr3/programs/{ids[0]}", headers=h["bl"]).status_code == 409
    assert c.delete(f"/openadr3/events/{vtn.event['id']}", headers=h["bl"]).status_code == 200
    assert c.delete(f"/openadr3/programs/{ids[0]}", headers=h["bl"]).status_code == 200
    assert c.get(f"/openadr3/programs/{ids[0]}", headers=h["bl"]).status_code == 404


def test_every_event_gets_the_platforms_answer(vtn: Vtn, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = vtn.world.settings
    engine = engine_for(database_url(settings), schema=settings.database_schema)
    store = OpenadrStore(engine)
    try:
        assert store.get("EVENT", vtn.event["id"]).answer is None  # no decision yet
        seen: list[str] = []

        def decide(event: dict[str, Any]) -> dict[str, Any]:
            seen.append(event["id"])
            return {"optIn": True, "limit_mw": event["intervals"][0]["payloads"][0]["values"][0]}

        monkeypatch.setattr(openadr, "on_event", decide)
        r = vtn.c.post("/openadr3/events", json=event_body(vtn.program["id"]), headers=vtn.h["bl"])
        event_id = r.json()["id"]
        assert seen == [event_id]
        assert store.get("EVENT", event_id).answer == {"optIn": True, "limit_mw": 40.0}
        assert "optIn" not in r.json()  # the answer is the platform's, not part of the event
    finally:
        engine.dispose()


def test_the_ven_client_polls_and_reports(vtn: Vtn) -> None:
    ven = VenClient("/openadr3", "ven-a", vtn.secrets["ven-a"], http=vtn.c)
    program_id = vtn.program["id"]
    assert [p["id"] for p in ven.programs()] == [program_id]
    events = ven.events(program_id)
    assert events == [vtn.event]
    created = dt.datetime.fromisoformat(vtn.event["createdDateTime"].replace("Z", "+00:00"))
    assert ven.events(program_id, since=created) == []
    assert ven.events(program_id, since=created - dt.timedelta(seconds=1)) == [vtn.event]
    report = ven.report(
        program_id=program_id,
        event_id=events[0]["id"],
        resources=[
            {
                "resourceName": "dc-nanchuan",
                "intervals": [{"id": 0, "payloads": [{"type": "USAGE", "values": [39.0]}]}],
            }
        ],
    )
    assert report["clientName"] == "ven-a"
    assert ven.reports(program_id) == [report]
    # Another VEN's client sees none of it; a foreign report is 404 through the client too.
    other = VenClient("/openadr3", "ven-b", vtn.secrets["ven-b"], http=vtn.c)
    assert other.reports() == []
    with pytest.raises(NotFound):
        other.get_report(report["id"])
    assert ven.get_report(report["id"]) == report


def test_the_ven_client_renews_its_token(vtn: Vtn) -> None:
    now = [0.0]
    ven = VenClient("/openadr3", "ven-a", vtn.secrets["ven-a"], http=vtn.c, clock=lambda: now[0])
    first = ven.token()
    now[0] = 800.0  # still 100 s to go: kept
    assert ven.token() == first
    now[0] = 880.0  # within 30 s of the 900 s lifetime: renewed
    second = ven.token()
    assert second != first
    assert ven.programs()[0]["id"] == vtn.program["id"]
    with pytest.raises(VtnError, match="unknown client_id or wrong client_secret"):
        VenClient("/openadr3", "ven-a", "wrong", http=vtn.c).programs()


def test_platform_tokens_and_clients_are_separate(vtn: Vtn) -> None:
    for who in ("dc", "silicon", "operator", "auditor"):
        r = vtn.c.get("/openadr3/events", headers=vtn.world.as_(who))
        assert r.status_code == 401, who
    assert vtn.c.get("/v1/me", headers=vtn.h["bl"]).status_code == 401
    r = vtn.c.post(
        "/v1/admin/openadr-clients",
        json={"client_id": "ven-a", "role": "ven"},
        headers=vtn.world.as_("admin"),
    )
    assert r.status_code == 422 and "exists already" in r.json()["detail"]


def test_shape_errors_name_the_field_in_the_specs_notation(vtn: Vtn) -> None:
    body = event_body(vtn.program["id"])
    body["intervals"][1]["payloads"][0]["values"] = [{"x": 1}]
    r = vtn.c.post("/openadr3/events", json=body, headers=vtn.h["bl"])
    assert r.status_code == 400
    assert "intervals[1].payloads[0].values[0]" in r.json()["detail"]
