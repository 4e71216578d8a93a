"""Certificates over HTTP: a small ledger scenario worked by hand, tenant isolation, roles.

The scenario: one metered hour of ``pv-nanchuan``, 1 July 2025 12:00–13:00 Shanghai
(04:00–05:00 UTC), 1 234 567 Wh, and in that hour ``dc-nanchuan`` consumed 1 500 000 Wh and
``silicon-a`` 800 000 Wh. Issued: one bundle of 1 234 567 Wh. Split 1 000 000 + 234 567; the
first part goes to ``dc-nanchuan``, which cancels and claims it itself:

- hourly match = 1 000 000 / 1 500 000 = 2/3; direct supply the same (pv-nanchuan → dc-nanchuan
  is a direct contract capped at 30 MW, i.e. 30 000 000 Wh in the hour, far above);
- GEC view of pv-nanchuan, 202507: 1 234 567 Wh issued → 1 certificate of 1 MWh, 234 567 Wh
  carried out.

The hourly allocation then gives the remaining 234 567 Wh to ``dc-nanchuan`` first (direct
contract, its uncovered 500 000 Wh is larger) and nothing to ``silicon-a``; the match becomes
1 234 567 / 1 500 000.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from suandian.ledger import MeterReading
from suandian.meters.certify import register_park

from .conftest import World

HOUR = dt.datetime(2025, 7, 1, 4, tzinfo=dt.UTC)  # 12:00 Shanghai
PV_WH = 1_234_567
DC_WH = 1_500_000
SILICON_WH = 800_000


def meter(world: World) -> None:
    """Register the park in the ledger and record the hour's metered energy."""
    platform = world.app.state.platform
    ledger = platform.ledger()
    register_park(ledger, platform.park)
    end = HOUR + dt.timedelta(hours=1)
    ledger.record_generation(
        device="pv-nanchuan", readings=[MeterReading(HOUR, end, PV_WH, "m-pv-nanchuan@hourly")]
    )
    for account, wh in (("dc-nanchuan", DC_WH), ("silicon-a", SILICON_WH)):
        ledger.record_consumption(
            account=account, readings=[MeterReading(HOUR, end, wh, f"m-{account}@hourly")]
        )


def post(world: World, who: str, path: str, body: dict[str, Any]) -> Any:
    return world.client.post(f"/v1/certificates/{path}", json=body, headers=world.as_(who))


def get(world: World, who: str, path: str, **params: Any) -> Any:
    return world.client.get(f"/v1/certificates/{path}", params=params, headers=world.as_(who))


def issue_and_hand_over(world: World) -> tuple[int, int]:
    """Issue the hour, split it and move the first part to dc-nanchuan; (part, rest) ids."""
    meter(world)
    r = post(world, "operator", "issue", {"from": "2025-07-01"})
    assert r.status_code == 200, r.text
    assert r.json()["issued_bundles"] == 1 and r.json()["issued_wh"] == PV_WH
    (bundle,) = get(world, "operator", "accounts/park-generation/bundles").json()["bundles"]
    assert bundle["wh"] == PV_WH and bundle["end_id"] - bundle["start_id"] + 1 == PV_WH
    r = post(
        world,
        "operator",
        "split",
        {
            "bundle_id": bundle["id"],
            "sizes_wh": [1_000_000, PV_WH - 1_000_000],
            "account": "park-generation",
        },
    )
    assert r.status_code == 200, r.text
    part, rest = r.json()["bundle_ids"]
    r = post(
        world,
        "operator",
        "transfer",
        {"bundle_ids": [part], "sender": "park-generation", "recipient": "dc-nanchuan"},
    )
    assert r.status_code == 200, r.text
    return part, rest


def test_issue_split_cancel_claim_match_the_hand_worked_figures(world: World) -> None:
    part, _rest = issue_and_hand_over(world)
    held = get(world, "dc", "accounts/dc-nanchuan/bundles").json()
    assert held["count"] == 1 and held["wh"] == 1_000_000
    assert held["bundles"][0]["status"] == "active"
    # The tenant retires its own certificates for itself, then claims them.
    r = post(
        world,
        "dc",
        "cancel",
        {
            "bundle_ids": [part],
            "account": "dc-nanchuan",
            "beneficiary": "dc-nanchuan",
            "hour_start": "2025-07-01T12:00:00+08:00",
        },
    )
    assert r.status_code == 200, r.text
    r = post(world, "dc", "claim", {"bundle_ids": [part], "beneficiary": "dc-nanchuan"})
    assert r.status_code == 200, r.text
    b = get(world, "dc", f"bundles/{part}").json()
    assert b["status"] == "claimed" and b["beneficiary"] == "dc-nanchuan"
    assert b["consumption_start_utc"] == "2025-07-01T04:00:00Z"

    claims = get(world, "dc", "consumers/dc-nanchuan/claims", **{"from": "2025-07-01"}).json()
    assert claims["claimed_wh"] == 1_000_000 and len(claims["claims"]) == 1
    assert claims["claims"][0]["meter_ref"] == "m-pv-nanchuan@hourly"
    # 04:00 UTC on 1 July is 1 July in Shanghai: the local day before has no claim.
    before = get(world, "dc", "consumers/dc-nanchuan/claims", **{"from": "2025-06-30"}).json()
    assert before["claimed_wh"] == 0

    pack = get(world, "dc", "consumers/dc-nanchuan/evidence", **{"from": "2025-07-01"}).json()
    assert pack["from"] == pack["to"] == "2025-07-01"
    assert pack["consumption_wh"] == DC_WH and pack["claimed_wh"] == 1_000_000
    assert pack["hourly_match_pu"] == pytest.approx(2 / 3, abs=1e-12)
    assert pack["direct_supply_pu"] == pytest.approx(2 / 3, abs=1e-12)
    assert pack["direct_contracts_mw"] == {"pv-nanchuan": 30.0}
    assert pack["claimed_by_source_wh"] == {"pv": 1_000_000}
    assert [h["consumption_wh"] for h in pack["hours"]] == [DC_WH]
    assert pack["chain"]["verified"] is True
    html = get(world, "dc", "consumers/dc-nanchuan/evidence.html", **{"from": "2025-07-01"})
    assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
    assert "dc-nanchuan" in html.text

    (month,) = get(world, "auditor", "gec", device="pv-nanchuan").json()
    assert month["month"] == "202507"
    assert month["issued_wh"] == PV_WH and month["withdrawn_wh"] == 0
    assert month["certificates"] == 1 and month["carry_out_wh"] == PV_WH - 1_000_000

    # The hourly allocation gives the rest to the direct contract first.
    r = post(world, "operator", "claim-hourly", {"from": "2025-07-01"})
    assert r.status_code == 200, r.text
    claimed = r.json()["claimed_wh"]
    assert claimed.pop("dc-nanchuan") == PV_WH - 1_000_000
    assert set(claimed.values()) == {0}
    assert r.json()["consumption_wh"]["silicon-a"] == SILICON_WH
    pack = get(world, "dc", "consumers/dc-nanchuan/evidence", **{"from": "2025-07-01"}).json()
    assert pack["claimed_wh"] == PV_WH
    assert pack["hourly_match_pu"] == pytest.approx(PV_WH / DC_WH, abs=1e-12)
    silicon = get(world, "silicon", "consumers/silicon-a/evidence", **{"from": "2025-07-01"})
    assert silicon.json()["claimed_wh"] == 0 and silicon.json()["consumption_wh"] == SILICON_WH

    verified = get(world, "auditor", "chain/verify").json()
    head = get(world, "operator", "chain").json()
    assert verified["ok"] is True and verified["count"] == head["seq"]
    assert verified["head_hash"] == head["hash"]


def test_tenants_see_nothing_of_each_other(world: World) -> None:
    part, rest = issue_and_hand_over(world)
    unknown = get(world, "silicon", "bundles/99999999")
    foreign = get(world, "silicon", f"bundles/{part}")
    assert unknown.status_code == foreign.status_code == 404
    assert foreign.json()["detail"] == f"bundle {part}: not found"
    assert unknown.json()["detail"] == "bundle 99999999: not found"
    assert get(world, "dc", f"bundles/{rest}").status_code == 404  # still park-generation's
    assert get(world, "dc", f"bundles/{part}").status_code == 200
    for path in (
        "accounts/dc-nanchuan/bundles",
        "consumers/dc-nanchuan/claims",
        "consumers/dc-nanchuan/evidence",
        "consumers/dc-nanchuan/evidence.html",
    ):
        r = get(world, "silicon", path, **{"from": "2025-07-01"})
        assert r.status_code == 404, path
        assert r.json()["detail"] == "account dc-nanchuan: not found"
        assert get(world, "dc", path, **{"from": "2025-07-01"}).status_code == 200
    assert get(world, "silicon", "accounts/park-generation/bundles").status_code == 404
    assert get(world, "silicon", "accounts/nobody/bundles").json()["detail"] == (
        "account nobody: not found"
    )
    # Nor can a tenant retire or claim another tenant's certificates.
    hour = "2025-07-01T12:00:00+08:00"
    cancel = {"bundle_ids": [part], "account": "silicon-a", "beneficiary": "silicon-a"}
    r = post(world, "silicon", "cancel", cancel | {"hour_start": hour})
    assert r.status_code == 404 and r.json()["detail"] == f"bundle {part}: not found"
    cancel = {"bundle_ids": [part], "account": "dc-nanchuan", "beneficiary": "dc-nanchuan"}
    r = post(world, "silicon", "cancel", cancel | {"hour_start": hour})
    assert r.status_code == 404 and r.json()["detail"] == "account dc-nanchuan: not found"
    r = post(world, "silicon", "claim", {"bundle_ids": [part], "beneficiary": "silicon-a"})
    assert r.status_code == 404
    assert get(world, "dc", f"bundles/{part}").json()["status"] == "active"


def test_roles(world: World) -> None:
    part, rest = issue_and_hand_over(world)
    transfer = {"bundle_ids": [rest], "sender": "park-generation", "recipient": "silicon-a"}
    for who in ("auditor", "dc", "silicon"):
        assert post(world, who, "issue", {"from": "2025-07-01"}).status_code == 403
        assert post(world, who, "transfer", transfer).status_code == 403
        split = {
            "bundle_id": rest,
            "sizes_wh": [1, PV_WH - 1_000_001],
            "account": "park-generation",
        }
        assert post(world, who, "split", split).status_code == 403
        assert post(world, who, "claim-hourly", {"from": "2025-07-01"}).status_code == 403
    claim = {"bundle_ids": [part], "beneficiary": "dc-nanchuan"}
    assert post(world, "auditor", "claim", claim).status_code == 403
    cancel = claim | {"account": "dc-nanchuan", "hour_start": "2025-07-01T04:00:00Z"}
    assert post(world, "auditor", "cancel", cancel).status_code == 403
    for who in ("dc", "silicon"):
        for path in ("gec", "chain", "chain/verify"):
            assert get(world, who, path).status_code == 403
    # Park roles read every account.
    for who in ("admin", "operator", "auditor"):
        assert get(world, who, "accounts/dc-nanchuan/bundles").json()["count"] == 1
    # The ledger's own rules answer 409 with its reason: a claim needs a cancelled bundle.
    r = post(world, "dc", "claim", claim)
    assert r.status_code == 409 and "cancel it for the beneficiary first" in r.json()["detail"]


def test_bad_input_names_the_field(world: World) -> None:

    def loc(r: Any) -> list[Any]:
        assert r.status_code == 422, r.text
        return [e["loc"] for e in r.json()["detail"]]

    assert ["body", "from"] in loc(post(world, "operator", "issue", {"from": "1999-12-31"}))
    assert ["body", "bundle_ids"] in loc(
        post(world, "operator", "transfer", {"bundle_ids": [], "sender": "a", "recipient": "b"})
    )
    naive = {
        "bundle_ids": [1],
        "account": "a",
        "beneficiary": "b",
        "hour_start": "2025-07-01T12:00",
    }
    assert ["body", "hour_start"] in loc(post(world, "operator", "cancel", naive))
    assert ["query", "status"] in loc(
        get(world, "operator", "accounts/dc-nanchuan/bundles", status="gone")
    )
    assert ["query", "from"] in loc(get(world, "dc", "consumers/dc-nanchuan/evidence"))
    r = post(world, "operator", "issue", {"from": "2025-07-01", "to": "2025-09-01"})
    assert r.status_code == 422 and r.json()["detail"].startswith("to:")
    r = get(
        world, "dc", "consumers/dc-nanchuan/claims", **{"from": "2025-07-02", "to": "2025-07-01"}
    )
    assert r.status_code == 422 and "before" in r.json()["detail"]
    r = get(world, "operator", "gec", month="2025-07")
    assert r.status_code == 422 and r.json()["detail"].startswith("month:")
    part, _rest = issue_and_hand_over(world)
    half_past = {
        "bundle_ids": [part],
        "account": "dc-nanchuan",
        "beneficiary": "dc-nanchuan",
        "hour_start": "2025-07-01T12:30:00+08:00",
    }
    r = post(world, "operator", "cancel", half_past)
    assert r.status_code == 422 and "hour" in r.json()["detail"]
