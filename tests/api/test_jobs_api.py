"""Compute jobs over HTTP: submission per tenant, isolation, cancel, and planning the queue."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from .conftest import World

# 1 July 2025, 08:00 to 2 July 08:00 Asia/Shanghai: one local day, inside the scenario's year.
RELEASE = "2025-07-01T08:00:00+08:00"
DEADLINE = "2025-07-02T08:00:00+08:00"


def job(job_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": job_id,
        "power_mw": 0.5,
        "duration_h": 2,
        "release": RELEASE,
        "deadline": DEADLINE,
        **extra,
    }


def submit(world: World, who: str, *jobs: dict[str, Any]) -> Any:
    return world.client.post("/v1/jobs", json={"jobs": list(jobs)}, headers=world.as_(who))


def test_a_tenant_files_jobs_under_its_own_organisation(world: World) -> None:
    r = submit(world, "dc", job("train-1"), job("train-2", power_mw=None, gpus=1000, gpu_kw=0.7))
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["queued"] == 2
    first, second = body["jobs"]
    assert first["tenant"] == "dc" and first["status"] == "queued"
    assert first["duration_steps"] == 8  # 2 h of 15-min steps
    assert first["allowed_sites"] == ["nanchuan"]  # every site of the scenario by default
    assert second["power_mw"] == pytest.approx(0.7, abs=1e-12)  # 1000 × 0.7 kW
    # 08:00 in Shanghai is 00:00 UTC.
    assert dt.datetime.fromisoformat(first["release_utc"]) == dt.datetime(2025, 7, 1, tzinfo=dt.UTC)


def test_tenants_see_nothing_of_each_other(world: World) -> None:
    assert submit(world, "dc", job("dc-job")).status_code == 201
    assert submit(world, "silicon", job("si-job")).status_code == 201
    c = world.client
    ids = {
        who: [j["id"] for j in c.get("/v1/jobs", headers=world.as_(who)).json()]
        for who in ("dc", "silicon", "auditor")
    }
    assert ids["dc"] == ["dc-job"]
    assert ids["silicon"] == ["si-job"]
    assert sorted(ids["auditor"]) == ["dc-job", "si-job"]
    assert c.get("/v1/jobs", params={"tenant": "dc"}, headers=world.as_("silicon")).json() == []
    # Another tenant's job answers exactly as a job that does not exist.
    foreign = c.get("/v1/jobs/dc/dc-job", headers=world.as_("silicon"))
    missing = c.get("/v1/jobs/dc/nope", headers=world.as_("dc"))
    assert foreign.status_code == missing.status_code == 404
    assert foreign.json()["detail"] == "job dc/dc-job: not found"
    assert missing.json()["detail"] == "job dc/nope: not found"
    r = c.post("/v1/jobs/dc/dc-job/cancel", headers=world.as_("silicon"))
    assert r.status_code == 404
    assert c.get("/v1/jobs/dc/dc-job", headers=world.as_("dc")).json()["status"] == "queued"
    # Nor can a tenant file a job under another tenant.
    r = submit(world, "dc", job("sneaky", tenant="silicon"))
    assert r.status_code == 403 and "own organisation" in r.json()["detail"]
    assert c.get("/v1/jobs", headers=world.as_("silicon")).json()[0]["id"] == "si-job"


def test_cancel_and_roles(world: World) -> None:
    c = world.client
    assert submit(world, "dc", job("a"), job("b")).status_code == 201
    assert submit(world, "auditor", job("x", tenant="dc")).status_code == 403
    assert c.post("/v1/jobs/dc/a/cancel", headers=world.as_("auditor")).status_code == 403
    r = c.post("/v1/jobs/dc/a/cancel", headers=world.as_("dc"))
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    r = c.post("/v1/jobs/dc/a/cancel", headers=world.as_("dc"))
    assert r.status_code == 422 and "only a queued or planned job" in r.json()["detail"]
    r = c.post("/v1/jobs/dc/b/cancel", headers=world.as_("operator"))
    assert r.json()["status"] == "cancelled"
    statuses = c.get("/v1/jobs", params={"status": "cancelled"}, headers=world.as_("dc")).json()
    assert [j["id"] for j in statuses] == ["a", "b"]


def test_park_roles_name_a_known_tenant(world: World) -> None:
    r = submit(world, "operator", job("j"))
    assert r.status_code == 422 and r.json()["detail"].startswith("jobs[0].tenant: missing")
    r = submit(world, "operator", job("j", tenant="nobody"))
    assert r.status_code == 422 and "not a tenant organisation" in r.json()["detail"]
    r = submit(world, "admin", job("j", tenant="silicon"))
    assert r.status_code == 201 and r.json()["jobs"][0]["tenant"] == "silicon"


def test_bad_input_names_the_field(world: World) -> None:
    def field_of(r: Any) -> list[Any]:
        assert r.status_code == 422, r.text
        return [e["loc"] for e in r.json()["detail"]]

    naive = job("n", release="2025-07-01T08:00:00")
    assert ["body", "jobs", 0, "release"] in field_of(submit(world, "dc", naive))
    assert ["body", "jobs", 0, "power_mw"] in field_of(submit(world, "dc", job("p", power_mw=-1)))
    assert ["body", "jobs", 0, "id"] in field_of(submit(world, "dc", job("bad/id")))
    assert ["body", "jobs"] in field_of(
        world.client.post("/v1/jobs", json={"jobs": []}, headers=world.as_("dc"))
    )
    # Domain rules answer 422 with the job and the field in the message; nothing is queued.
    short = job("short", duration_h=30)
    r = submit(world, "dc", job("fine"), short)
    assert r.status_code == 422 and r.json()["detail"].startswith("jobs[1]: job 'short'")
    r = submit(world, "dc", job("where", allowed_sites=["mars"]))
    assert r.status_code == 422 and "unknown site 'mars'" in r.json()["detail"]
    r = submit(world, "dc", job("data", data_gb=10, data_site="mars"))
    assert r.status_code == 422 and "data_site names unknown site 'mars'" in r.json()["detail"]
    assert world.client.get("/v1/jobs", headers=world.as_("dc")).json() == []
    r = submit(world, "dc", job("held", data_gb=10, data_site="nanchuan"))
    assert r.status_code == 201 and r.json()["jobs"][0]["data_site"] == "nanchuan"
    assert submit(world, "dc", job("twice")).status_code == 201
    r = submit(world, "dc", job("twice"))
    assert r.status_code == 422 and "already in the queue" in r.json()["detail"]


def test_plan_by_arrival_starts_each_job_at_its_release(world: World) -> None:
    c = world.client
    late = job("late", release="2025-07-01T14:00:00+08:00")
    assert submit(world, "dc", job("early"), late).status_code == 201
    for who in ("dc", "auditor"):
        assert c.post("/v1/jobs/plan", json={}, headers=world.as_(who)).status_code == 403
    r = c.post("/v1/jobs/plan", json={"strategy": "arrival"}, headers=world.as_("operator"))
    assert r.status_code == 200, r.text
    plan = r.json()
    # The period runs from the local day of the first release (1 July, 00:00 Shanghai) over
    # whole local days to the last deadline (2 July 08:00): two days.
    assert plan["start_utc"] == "2025-06-30T16:00:00Z"
    assert plan["end_utc"] == "2025-07-02T16:00:00Z"
    starts = {p["id"]: p for p in plan["jobs"]}
    # Every job starts at its release (08:00 and 14:00 Shanghai) on its first allowed site.
    assert starts["early"]["start_utc"] == "2025-07-01T00:00:00Z"
    assert starts["late"]["start_utc"] == "2025-07-01T06:00:00Z"
    assert {p["site"] for p in plan["jobs"]} == {"nanchuan"}
    assert plan["planned"] == 2
    # Two jobs of 0.5 MW for 2 h: 2 MWh.
    assert plan["totals"]["arrival"]["energy_mwh"] == pytest.approx(2.0, rel=1e-9)
    got = c.get("/v1/jobs/dc/late", headers=world.as_("dc")).json()
    assert got["status"] == "planned" and got["site"] == "nanchuan"
    assert got["start_utc"] == "2025-07-01T06:00:00Z"
    # Arrival ignores capacity; a plan over the site's capacity is refused and nothing written.
    assert submit(world, "silicon", job("huge", power_mw=9000)).status_code == 201
    r = c.post("/v1/jobs/plan", json={"strategy": "arrival"}, headers=world.as_("operator"))
    assert r.status_code == 409 and "nothing was written" in r.json()["detail"]
    assert c.get("/v1/jobs/silicon/huge", headers=world.as_("silicon")).json()["site"] is None


def test_plan_greedy_keeps_capacity_and_says_why_a_job_stays_queued(world: World) -> None:
    c = world.client
    assert submit(world, "dc", job("small")).status_code == 201
    assert submit(world, "silicon", job("huge", power_mw=9000)).status_code == 201
    r = c.post("/v1/jobs/plan", json={"strategy": "greedy"}, headers=world.as_("admin"))
    assert r.status_code == 200, r.text
    by_id = {p["id"]: p for p in r.json()["jobs"]}
    assert by_id["small"]["status"] == "planned" and by_id["small"]["reason"] is None
    start = dt.datetime.fromisoformat(by_id["small"]["start_utc"])
    assert (
        dt.datetime(2025, 7, 1, tzinfo=dt.UTC)
        <= start
        <= dt.datetime(2025, 7, 1, 22, tzinfo=dt.UTC)
    )
    assert by_id["huge"]["status"] == "queued" and by_id["huge"]["reason"]
    assert c.get("/v1/jobs/silicon/huge", headers=world.as_("silicon")).json()["status"] == "queued"


def test_plan_refuses_a_long_period(world: World) -> None:
    c = world.client
    r = c.post("/v1/jobs/plan", json={"days": 32}, headers=world.as_("operator"))
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "days"]
    r = c.post("/v1/jobs/plan", json={"objective": "best"}, headers=world.as_("operator"))
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "objective"]
    body = {"objective": "weighted", "carbon_price_cny_per_t": -1}
    r = c.post("/v1/jobs/plan", json=body, headers=world.as_("operator"))
    assert r.status_code == 422 and r.json()["detail"][0]["loc"][-1] == "carbon_price_cny_per_t"
    far = job("far", deadline="2025-09-01T08:00:00+08:00")
    assert submit(world, "dc", far).status_code == 201
    r = c.post("/v1/jobs/plan", json={}, headers=world.as_("operator"))
    assert r.status_code == 422 and r.json()["detail"].startswith("days:")
    r = c.post(
        "/v1/jobs/plan", json={"start": "2025-01-01", "days": 2}, headers=world.as_("operator")
    )
    assert r.status_code == 200 and r.json()["planned"] == 0 and r.json()["notes"]
