"""Dispatch plans over HTTP: the figures rebuilt from the returned schedule, roles, bounds."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd
import pytest

from suandian.core.times import LOCAL_TZ

from .conftest import World

PLAN = {"start": "2025-07-01", "days": 2, "objective": "cost", "resolution_min": 60}


def columns(plan: dict[str, Any], suffix: str) -> np.ndarray:
    """Sum of the schedule's columns ending in ``suffix`` per interval."""
    rows = plan["schedule"]
    names = [k for k in rows[0]["values"] if k.endswith(suffix)]
    return np.array([[r["values"][k] for k in names] for r in rows]).sum(axis=1)


def value(plan: dict[str, Any], name: str) -> np.ndarray:
    return np.array([r["values"][name] for r in plan["schedule"]])


@pytest.mark.parametrize(
    ("rolling", "horizon"),
    [({}, "one solve"), ({"rolling_window_h": 36, "rolling_commit_h": 24}, "rolling 36/24 h")],
)
def test_a_plan_balances_and_its_figures_follow_from_its_schedule(
    world: World, rolling: dict[str, int], horizon: str
) -> None:
    r = world.client.post("/v1/dispatch/plans", json=PLAN | rolling, headers=world.as_("operator"))
    assert r.status_code == 201, r.text
    plan = r.json()
    assert plan["site"] == "nanchuan" and plan["intervals"] == 48  # 2 days of 1 h
    assert plan["horizon"] == horizon
    assert plan["optimised"]["method"] == ("lp" if not rolling else "lp-rolling")
    rows = plan["schedule"]
    # The first interval starts at 00:00 Shanghai on 1 July: 16:00 UTC the day before.
    assert rows[0]["start_utc"] == "2025-06-30T16:00:00Z"
    assert rows[0]["local_time"] == "2025-07-01 00:00"
    supply = (
        columns(plan, "_p_mw")
        + columns(plan, "_discharge_mw")
        + value(plan, "grid_import_mw")
        + value(plan, "unserved_mw")
    )
    demand = (
        value(plan, "load_mw")
        + value(plan, "flex_load_mw")
        + columns(plan, "_charge_mw")
        + value(plan, "grid_export_mw")
    )
    np.testing.assert_allclose(supply, demand, atol=1e-6)  # energy balance on the bus
    dt_h = 1.0
    import_mwh = value(plan, "grid_import_mw").sum() * dt_h
    assert plan["optimised"]["import_mwh"] == pytest.approx(import_mwh, rel=1e-9, abs=1e-9)
    consumed = value(plan, "load_mw") + value(plan, "flex_load_mw") - value(plan, "unserved_mw")
    green = 1.0 - import_mwh / (consumed.sum() * dt_h)
    assert plan["optimised"]["green_share_pu"] == pytest.approx(green, abs=1e-9)
    # The optimum is never dearer than the rule-based baseline on the same inputs.
    assert plan["optimised"]["cost_cny"] <= plan["rules"]["cost_cny"] + 1e-6

    got = world.client.get(f"/v1/dispatch/plans/{plan['id']}", headers=world.as_("auditor"))
    assert got.status_code == 200 and got.json() == plan
    listed = world.client.get("/v1/dispatch/plans", headers=world.as_("admin")).json()
    assert [p["id"] for p in listed] == [plan["id"]]


def daily_green_share(plan: dict[str, Any]) -> pd.Series:
    """1 − import / consumption per Asia/Shanghai day, rebuilt from the schedule."""
    start = pd.DatetimeIndex([row["start_utc"] for row in plan["schedule"]])
    use = value(plan, "load_mw") + value(plan, "flex_load_mw") - value(plan, "unserved_mw")
    frame = pd.DataFrame(
        {
            "day": start.tz_convert(LOCAL_TZ).date,
            "import": value(plan, "grid_import_mw"),
            "use": use,
        }
    )
    days = frame.groupby("day").sum()
    return 1.0 - days["import"] / days["use"]


def test_a_green_target_holds_on_every_local_day(world: World) -> None:
    c, admin = world.client, world.as_("admin")
    free = c.post("/v1/dispatch/plans", json=PLAN, headers=admin).json()
    before = daily_green_share(free)
    assert list(before.index) == [dt.date(2025, 7, 1), dt.date(2025, 7, 2)]
    assert before.min() < 0.36  # without a target, 1 July stays below 36 %
    r = c.post("/v1/dispatch/plans", json=PLAN | {"green_target_pu": 0.36}, headers=admin)
    assert r.status_code == 201, r.text
    plan = r.json()
    assert plan["optimised"]["method"] == "lp", plan["optimised"]["diagnosis"]
    after = daily_green_share(plan)
    assert (after >= 0.36 - 1e-6).all(), after
    # A target the site cannot reach falls back to the rules, with the reason.
    r = c.post("/v1/dispatch/plans", json=PLAN | {"green_target_pu": 0.6}, headers=admin)
    assert r.status_code == 201
    assert r.json()["optimised"]["method"] == "rules"
    assert "green-match target 60 %" in r.json()["optimised"]["diagnosis"]


def test_only_park_roles_see_plans_and_only_operators_make_them(world: World) -> None:
    c = world.client
    for who in ("auditor", "dc", "silicon"):
        assert c.post("/v1/dispatch/plans", json=PLAN, headers=world.as_(who)).status_code == 403
    plan_id = c.post("/v1/dispatch/plans", json=PLAN, headers=world.as_("operator")).json()["id"]
    for who in ("dc", "silicon"):
        assert c.get(f"/v1/dispatch/plans/{plan_id}", headers=world.as_(who)).status_code == 403
        assert c.get("/v1/dispatch/plans", headers=world.as_(who)).status_code == 403
    r = c.get(f"/v1/dispatch/plans/{'0' * 32}", headers=world.as_("operator"))
    assert r.status_code == 404 and r.json()["detail"] == f"dispatch plan {'0' * 32}: not found"


def test_bad_requests_name_the_field(world: World) -> None:
    c = world.client
    op = world.as_("operator")

    def loc(body: dict[str, Any]) -> list[Any]:
        r = c.post("/v1/dispatch/plans", json=body, headers=op)
        assert r.status_code == 422, r.text
        return [e["loc"] for e in r.json()["detail"]]

    assert ["body", "days"] in loc(PLAN | {"days": 32})  # the horizon is bounded
    assert ["body", "days"] in loc(PLAN | {"days": 0})
    assert ["body", "objective"] in loc(PLAN | {"objective": "cheapest"})
    assert ["body", "resolution_min"] in loc(PLAN | {"resolution_min": 20})
    assert ["body", "green_target_pu"] in loc(PLAN | {"green_target_pu": 1.5})
    assert ["body", "start"] in loc(PLAN | {"start": "1900-01-01"})
    r = c.post("/v1/dispatch/plans", json=PLAN | {"rolling_window_h": 24}, headers=op)
    assert r.status_code == 422 and r.json()["detail"].startswith("rolling_commit_h: missing")
    both = {"rolling_window_h": 24, "rolling_commit_h": 48}
    r = c.post("/v1/dispatch/plans", json=PLAN | both, headers=op)
    assert r.status_code == 422 and r.json()["detail"].startswith("rolling_commit_h: 48 h")
    # With a daily green target, each window keeps whole local days.
    daily = {"green_target_pu": 0.3, "rolling_window_h": 48, "rolling_commit_h": 12}
    r = c.post("/v1/dispatch/plans", json=PLAN | daily, headers=op)
    assert r.status_code == 422 and r.json()["detail"].startswith("rolling_commit_h (48/12 h)")
    r = c.post("/v1/dispatch/plans", json=PLAN | {"site": "mars"}, headers=op)
    assert r.status_code == 422 and r.json()["detail"].startswith("site: 'mars'")
    assert c.get("/v1/dispatch/plans/not-an-id", headers=op).status_code == 422
