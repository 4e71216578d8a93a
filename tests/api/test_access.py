"""Tokens, roles, rate limiting and the system endpoints."""

from __future__ import annotations

from sqlalchemy import select

from suandian.api.ratelimit import AuthFailureLimiter
from suandian.store.platform import TokenRow, hash_token
from suandian.store.sql import database_url, engine_for

from .conftest import World


def test_every_role_knows_who_it_is(world: World) -> None:
    me = world.client.get("/v1/me", headers=world.as_("dc")).json()
    assert me == {"user": "dc-user", "org": "dc", "role": "tenant", "assets": ["dc-nanchuan"]}
    assert world.client.get("/v1/me", headers=world.as_("auditor")).json()["role"] == "auditor"


def test_no_token_bad_token_and_wrong_scheme_answer_401(world: World) -> None:
    for headers in ({}, {"Authorization": "Bearer sd_nope"}, {"Authorization": "Basic abc"}):
        r = world.client.get("/v1/me", headers=headers)
        assert r.status_code == 401, headers
        assert r.headers["WWW-Authenticate"] == "Bearer"
        assert "create-token" in r.json()["detail"]


def test_tokens_are_kept_hashed(world: World) -> None:
    token = world.as_("admin")["Authorization"].removeprefix("Bearer ")
    engine = engine_for(database_url(world.settings), schema=world.settings.database_schema)
    with engine.connect() as conn:
        digests = conn.execute(select(TokenRow.digest)).scalars().all()
        shown = conn.execute(select(TokenRow.shown)).scalars().all()
    engine.dispose()
    assert hash_token(token) in digests
    assert token not in digests
    assert all(len(s) == 10 and token.find(s) in (-1, 0) for s in shown)
    listed = world.client.get("/v1/admin/tokens", headers=world.as_("admin")).json()
    assert len(listed) == 5
    assert all(t["token"].endswith("…") and len(t["token"]) == 11 for t in listed)


def test_only_admins_manage_access(world: World) -> None:
    for who in ("operator", "auditor", "dc"):
        assert world.client.get("/v1/admin/tokens", headers=world.as_(who)).status_code == 403
        r = world.client.post(
            "/v1/admin/tokens",
            json={"user": "x", "org": "park", "role": "park_admin"},
            headers=world.as_(who),
        )
        assert r.status_code == 403


def test_issue_use_and_revoke_a_token(world: World) -> None:
    admin = world.as_("admin")
    r = world.client.post(
        "/v1/admin/orgs",
        json={"org": "h2", "kind": "tenant", "assets": ["h2-01"]},
        headers=admin,
    )
    assert r.status_code == 201
    assert r.json()["assets"] == ["h2-01"]
    r = world.client.post(
        "/v1/admin/tokens", json={"user": "h2-user", "org": "h2", "role": "tenant"}, headers=admin
    )
    assert r.status_code == 201
    token = r.json()["token"]
    mine = {"Authorization": f"Bearer {token}"}
    assert world.client.get("/v1/me", headers=mine).json()["assets"] == ["h2-01"]
    r = world.client.post("/v1/admin/tokens/revoke", json={"token": token}, headers=admin)
    assert r.status_code == 204
    assert world.client.get("/v1/me", headers=mine).status_code == 401


def test_bad_org_and_role_are_refused_with_the_field(world: World) -> None:
    admin = world.as_("admin")
    r = world.client.post(
        "/v1/admin/orgs",
        json={"org": "x", "kind": "tenant", "assets": ["silicon-a"]},
        headers=admin,
    )
    assert r.status_code == 422
    assert "silicon-a" in r.json()["detail"] and "one owner" in r.json()["detail"]
    r = world.client.post(
        "/v1/admin/tokens", json={"user": "u", "org": "dc", "role": "operator"}, headers=admin
    )
    assert r.status_code == 422
    assert r.json()["detail"].startswith("role:")
    r = world.client.post(
        "/v1/admin/tokens", json={"user": "u", "org": "nowhere", "role": "tenant"}, headers=admin
    )
    assert r.status_code == 404


def test_repeated_failures_are_rate_limited(world: World) -> None:
    now = [1000.0]
    world.app.state.platform.limiter = AuthFailureLimiter(3, 60.0, clock=lambda: now[0])
    bad = {"Authorization": "Bearer sd_guess"}
    assert [world.client.get("/v1/me", headers=bad).status_code for _ in range(3)] == [401] * 3
    r = world.client.get("/v1/me", headers=world.as_("admin"))
    assert r.status_code == 429
    assert r.headers["Retry-After"] == "60"
    now[0] += 61.0
    assert world.client.get("/v1/me", headers=world.as_("admin")).status_code == 200


def test_health_readiness_and_metrics(world: World) -> None:
    assert world.client.get("/healthz").json() == {"status": "ok"}
    ready = world.client.get("/readyz").json()
    assert ready["status"] == "ready" and ready["scenario"] == "xining"
    world.client.get("/v1/me", headers=world.as_("dc"))
    text = world.client.get("/metrics").text
    assert 'suandian_http_requests_total{method="GET",route="/v1/me",status="200"} 1.0' in text
    assert "suandian_http_request_duration_seconds_bucket" in text


def test_openapi_is_published_with_bearer_auth(world: World) -> None:
    spec = world.client.get("/openapi.json").json()
    assert spec["info"]["title"] == "suandian"
    assert "HTTPBearer" in spec["components"]["securitySchemes"]
