"""Tenant isolation over every operation the app publishes, read from its own OpenAPI.

Two tenants with data of every kind (meter readings, certificates claimed hour by hour, a
compute job each). For every GET operation a tenant may call, with its own ids in the path,
nothing of the other tenant appears in the answer; with the other tenant's ids, the answer is
404 with the message an id that does not exist gets. An operation added later is swept too:
one whose parameters this test cannot fill fails it, naming the operation.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from suandian.api import create_app
from suandian.meters.importer import import_readings
from suandian.scenario.model import Park
from suandian.sim.metering import simulated_readings
from suandian.sim.park import simulate

from .conftest import World, grant_tokens, make_settings

OTHER = {"dc": "silicon", "silicon": "dc"}
ASSET = {"dc": "dc-nanchuan", "silicon": "silicon-a"}
JOB = {"dc": "dc-train-7", "silicon": "si-render-3"}
DAY = "2025-07-01"
QUERY = {
    "date": DAY,
    "from": DAY,
    "to": DAY,
    "start": "2025-07-01T00:00:00Z",
    "end": "2025-07-01T06:00:00Z",
}
"""Values for required query parameters, by name."""
PARK_ONLY = ("/v1/admin/", "/v1/dispatch/", "/v1/certificates/gec", "/v1/certificates/chain")
"""Operations a tenant may not call at all (403): park-wide by nature."""


def _markers(tenant: str) -> list[str]:
    """Strings that only the tenant's own data contains."""
    return [ASSET[tenant], JOB[tenant], f"{tenant}-user"]


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def loaded(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, xining: Park
) -> Iterator[World]:
    """One loaded service per database for the module: the tests only read."""
    settings_of = make_settings(request, tmp_path_factory.mktemp("isolation"))
    settings = next(settings_of)
    try:
        headers = grant_tokens(settings)
        app = create_app(settings, park=xining)
        with TestClient(app) as client:
            world = World(app, client, settings, headers, backend=str(request.param))
            yield _load(world, xining)
    finally:
        settings_of.close()  # drops the PostgreSQL schema


def _load(world: World, xining: Park) -> World:
    series = simulate(xining, start=dt.date(2025, 7, 1), days=1)
    with world.app.state.platform.readings() as store:
        import_readings(store, simulated_readings(xining, series))
    c = world.client
    for tenant in ("dc", "silicon"):
        job = {
            "id": JOB[tenant],
            "power_mw": 0.5,
            "duration_h": 2,
            "release": "2025-07-01T08:00:00+08:00",
            "deadline": "2025-07-02T08:00:00+08:00",
        }
        r = c.post("/v1/jobs", json={"jobs": [job]}, headers=world.as_(tenant))
        assert r.status_code in (200, 201), r.text
    operator = world.as_("operator")
    r = c.post("/v1/certificates/issue", json={"from": DAY}, headers=operator)
    assert r.status_code == 200, r.text
    r = c.post("/v1/certificates/claim-hourly", json={"from": DAY}, headers=operator)
    assert r.status_code == 200, r.text
    return world


def _bundle_of(world: World, tenant: str) -> int:
    r = world.client.get(
        f"/v1/certificates/accounts/{ASSET[tenant]}/bundles", headers=world.as_("operator")
    )
    bundles = r.json()["bundles"]
    assert bundles, f"{tenant} holds no certificates after the hourly claims"
    return int(bundles[0]["id"])


def _path_values(world: World, tenant: str) -> dict[str, str]:
    return {
        "account": ASSET[tenant],
        "consumer": ASSET[tenant],
        "meter_id": f"m-{ASSET[tenant]}",
        "tenant": tenant,
        "job_id": JOB[tenant],
        "bundle_id": str(_bundle_of(world, tenant)),
        "plan_id": "0" * 32,  # dispatch plans are park-wide: a tenant is refused before any lookup
    }


def _operations(world: World) -> list[tuple[str, dict[str, Any]]]:
    spec = world.client.get("/openapi.json").json()
    return [
        (path, op)
        for path, ops in spec["paths"].items()
        for method, op in ops.items()
        if method == "get" and path.startswith("/v1/")
    ]


def _url(path: str, op: dict[str, Any], values: dict[str, str]) -> tuple[str, dict[str, str]]:
    params: dict[str, str] = {}
    for p in op.get("parameters", []):
        name = p["name"]
        if p["in"] == "path":
            assert name in values, f"GET {path}: no value for path parameter {name!r}"
            path = path.replace("{" + name + "}", values[name])
        elif p["in"] == "query" and p.get("required"):
            assert name in QUERY, f"GET {path}: no value for required query parameter {name!r}"
            params[name] = QUERY[name]
    return path, params


@pytest.mark.parametrize("tenant", ["dc", "silicon"])
def test_a_tenant_sees_nothing_of_the_other(loaded: World, tenant: str) -> None:
    world, other = loaded, OTHER[tenant]
    own = _path_values(world, tenant)
    for path, op in _operations(world):
        url, params = _url(path, op, own)
        r = world.client.get(url, params=params, headers=world.as_(tenant))
        if path.startswith(PARK_ONLY):
            assert r.status_code == 403, (url, r.status_code, r.text[:200])
            continue
        assert r.status_code == 200, (url, r.status_code, r.text[:300])
        for marker in _markers(other):
            assert marker not in r.text, f"GET {url} as {tenant} shows {marker!r}"


@pytest.mark.parametrize("tenant", ["dc", "silicon"])
def test_another_tenants_ids_answer_404_like_unknown_ones(loaded: World, tenant: str) -> None:
    world, other = loaded, OTHER[tenant]
    foreign = _path_values(world, other)
    unknown = {k: f"zz{v}9" if k != "bundle_id" else "987654321" for k, v in foreign.items()}
    swept = 0
    for path, op in _operations(world):
        if "{" not in path or path.startswith(PARK_ONLY):
            continue
        url, params = _url(path, op, foreign)
        r = world.client.get(url, params=params, headers=world.as_(tenant))
        assert r.status_code == 404, (url, r.status_code, r.text[:300])
        url_unknown, _ = _url(path, op, unknown)
        r_unknown = world.client.get(url_unknown, params=params, headers=world.as_(tenant))
        assert r_unknown.status_code == 404, url_unknown
        # Same message, up to the id itself.
        ids = sorted([*foreign.values(), *unknown.values()], key=len, reverse=True)
        strip = re.compile("|".join(re.escape(v) for v in ids))
        assert strip.sub("ID", r.json()["detail"]) == strip.sub("ID", r_unknown.json()["detail"])
        swept += 1
    assert swept >= 8
