"""The dashboard's page and data API: figures against the daily report and independent counts,
the storage balance, certificates against the ledger, tenant scoping, bad and empty days, and
the per-day cache."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import func, select

from suandian.api.context import Platform
from suandian.api.dashboard_data import DashboardCache
from suandian.compute.jobs import Job
from suandian.core.times import local_date_start_utc
from suandian.ledger.tables import IssuanceRow
from suandian.meters.certify import certify_park
from suandian.meters.importer import import_readings
from suandian.reports.daily import DailyReport, daily_report
from suandian.reports.period import SiteTrace, trace_period
from suandian.scenario.model import Park
from suandian.sim.metering import simulated_readings
from suandian.sim.park import simulate
from suandian.store.jobs import Assignment

from .conftest import World

DAY1 = dt.date(2025, 6, 1)
DAY2 = dt.date(2025, 6, 2)
GAP = 10
"""Quarter-hours of silicon-a's consumption meter left out of DAY2."""
UTC = dt.UTC


CHARGE_KWH = 2000.0
"""Per quarter-hour, 10:00 to 14:00 local each day (16 quarters)."""
DISCHARGE_KWH = 1500.0
"""Per quarter-hour, 19:00 to 22:00 local each day (12 quarters)."""


@pytest.fixture(scope="module")
def readings(xining: Park) -> pd.DataFrame:
    """Two simulated days of the park's meter readings, with a gap at silicon-a on DAY2.

    The simulation without a dispatch plan leaves the battery idle; its meters read a fixed
    schedule instead, so its state of energy can be worked by hand.
    """
    frame = simulated_readings(xining, simulate(xining, start=DAY1, days=2))
    lo = local_date_start_utc(DAY2)
    gap = (frame["meter_id"] == "m-silicon-a") & (frame["start_utc"] >= lo)
    drop = frame.index[gap][:GAP]
    assert len(drop) == GAP
    frame = frame.drop(index=drop).reset_index(drop=True)
    hour = frame["start_utc"].dt.tz_convert("Asia/Shanghai").dt.hour
    charge = frame["meter_id"] == "m-bess-nanchuan-charge"
    discharge = frame["meter_id"] == "m-bess-nanchuan-discharge"
    frame.loc[charge, "kwh"] = np.where(hour[charge].between(10, 13), CHARGE_KWH, 0.0)
    frame.loc[discharge, "kwh"] = np.where(hour[discharge].between(19, 21), DISCHARGE_KWH, 0.0)
    return frame


@dataclass
class Filled:
    world: World
    platform: Platform

    def get(self, path: str, who: str = "admin", **params: str) -> dict[str, Any]:
        r = self.world.client.get(path, params=params, headers=self.world.as_(who))
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        return body


@pytest.fixture
def filled(world: World, readings: pd.DataFrame) -> Filled:
    platform: Platform = world.app.state.platform
    with platform.readings() as store:
        import_readings(store, readings)
    return Filled(world, platform)


CLAIM_FROM_H = 20
"""Certificates are claimed from this local hour of DAY2 on (claims are a few transactions per
consumer and hour; four hours keep the test quick)."""


@pytest.fixture
def certified(filled: Filled, xining: Park) -> Filled:
    """``filled`` with the ledger's certificates issued for both days and claimed for a few
    hours of DAY2, as ``suandian demo`` does."""
    with filled.platform.readings() as store:
        certify_park(
            filled.platform.ledger(),
            store,
            xining,
            start_utc=local_date_start_utc(DAY1).to_pydatetime(),
            end_utc=local_date_start_utc(DAY2 + dt.timedelta(days=1)).to_pydatetime(),
            claim_from_utc=(
                local_date_start_utc(DAY2) + pd.Timedelta(hours=CLAIM_FROM_H)
            ).to_pydatetime(),
        )
    return filled


def _report(platform: Platform, park: Park, day: dt.date) -> tuple[DailyReport, list[SiteTrace]]:
    """The day as `suandian report daily` computes it."""
    with platform.readings() as store:
        traces = trace_period(store, park, start=day, days=1)
    return daily_report(traces, park, date=day, resolution_min=60), traces


def _total(series: list[float | None]) -> float:
    return float(sum(v for v in series if v is not None))


def test_days_and_the_default_day(filled: Filled) -> None:
    days = filled.get("/v1/dashboard/days")
    assert {k: v for k, v in days.items() if k not in ("cached_days", "warm")} == {
        "scenario": "xining",
        "first_local_date": "2025-06-01",
        "last_local_date": "2025-06-02",
        "days": 2,
    }
    body = filled.get("/v1/dashboard/day")
    assert body["date"] == "2025-06-02" and body["yesterday_date"] == "2025-06-01"
    assert body["scope"] == "park"
    assert body["park_title_zh"] == "西宁南川零碳算力园区"
    assert body["yesterday"]["date"] == "2025-06-01"
    first = filled.get("/v1/dashboard/day", date="2025-06-01")
    assert first["yesterday"] is None  # no readings the day before


def test_composition_adds_up_to_the_reports_consumption(filled: Filled, xining: Park) -> None:
    body = filled.get("/v1/dashboard/day", date=DAY2.isoformat())
    report, traces = _report(filled.platform, xining, DAY2)
    park = report.rows.set_index("consumer").loc["park"]
    today = body["today"]
    assert len(body["hours_local"]) == 24
    assert all(len(s["kwh"]) == 24 for s in today["composition"])
    total = sum(_total(s["kwh"]) for s in today["composition"])
    assert total == pytest.approx(park["load_kwh"], rel=1e-9)
    assert today["load_kwh"] == pytest.approx(park["load_kwh"], rel=1e-12)
    assert today["green_share_pct"] == pytest.approx(park["green_share_pct"], abs=1e-9)
    assert today["cfe_pct"] == pytest.approx(park["cfe_pct"], abs=1e-9)
    assert today["avoided_kgco2"] == pytest.approx(park["avoided_kgco2"], rel=1e-12)
    assert body["reference_factor"]["name"] == report.reference_name == "cn-national-2023"
    # Storage served to consumers = discharge less what was exported, from the park pass.
    pass_ = traces[0].park
    served = pass_.discharge_by_key_kwh.sum() - pass_.export_storage_kwh.sum()
    storage = next(s for s in today["composition"] if s["source"] == "storage")
    assert _total(storage["kwh"]) == pytest.approx(served, rel=1e-9, abs=1e-6)
    # On-site by source, storage folded back by origin, is the report's on-site column.
    by_source = {s["source"]: _total(s["kwh"]) for s in today["composition"]}
    fossil = by_source["grid_fossil"]
    assert fossil <= park["grid_fossil_kwh"] + 1e-6  # the report adds storage of fossil origin
    rows = {r["consumer"]: r for r in body["consumers"]}
    report_rows = report.rows.set_index("consumer")
    assert set(rows) == set(report_rows.index) - {"park"}
    for cid, row in rows.items():
        assert row["load_kwh"] == pytest.approx(report_rows.loc[cid, "load_kwh"], rel=1e-12)
        parts = ("onsite_kwh", "storage_kwh", "grid_green_kwh", "grid_fossil_kwh")
        assert sum(row[p] for p in parts) == pytest.approx(row["load_kwh"], rel=1e-9)


def test_completeness_is_present_over_expected_per_kind(filled: Filled) -> None:
    body = filled.get("/v1/dashboard/day", date=DAY2.isoformat())
    lo = local_date_start_utc(DAY2).to_pydatetime()
    hi = local_date_start_utc(DAY2 + dt.timedelta(days=1)).to_pydatetime()
    with filled.platform.readings() as store:
        counted = store._con.execute(
            "SELECT m.kind, count(DISTINCT m.meter_id), count(r.meter_key) FROM meters m "
            "LEFT JOIN readings r ON r.meter_key = m.meter_key AND r.superseded_utc IS NULL "
            "AND r.start_utc >= ? AND r.start_utc < ? GROUP BY m.kind",
            [lo, hi],
        ).fetchall()
    expected = {kind: (n, 96 * n, present) for kind, n, present in counted}
    got = {c["kind"]: (c["meters"], c["expected"], c["present"]) for c in body["completeness"]}
    assert got == expected
    consumption = next(c for c in body["completeness"] if c["kind"] == "consumption")
    # 22 consumer meters, 96 quarter-hours each, 10 left out.
    assert consumption["present"] == 22 * 96 - GAP
    assert consumption["share_pct"] == pytest.approx(100.0 * (22 * 96 - GAP) / (22 * 96))
    silicon = filled.get("/v1/dashboard/day", "silicon", date=DAY2.isoformat())
    assert silicon["completeness"] == [
        {
            "kind": "consumption",
            "meters": 1,
            "expected": 96,
            "present": 96 - GAP,
            "share_pct": pytest.approx(100.0 * (96 - GAP) / 96),
        }
    ]


def test_state_of_energy_follows_the_metered_charge_and_discharge(
    filled: Filled, xining: Park
) -> None:
    body = filled.get("/v1/dashboard/day", date=DAY2.isoformat())
    (battery,) = body["storage"]
    eta = next(b for b in xining.batteries if b.id == battery["battery"]).round_trip_efficiency_pu
    soe = np.array(battery["soe_kwh"])
    charge = np.array(battery["charge_kwh"], dtype=float)
    discharge = np.array(battery["discharge_kwh"], dtype=float)
    assert len(soe) == 25 and len(body["soe_times_local"]) == 25
    assert body["soe_times_local"][0] == "2025-06-02T00:00:00+08:00"
    # The pool takes η × charge, then gives the discharge (beyond it, at the grid's mix).
    np.testing.assert_allclose(
        soe[1:], np.maximum(0.0, soe[:-1] + eta * charge - discharge), atol=1e-6
    )
    assert np.all(np.array(battery["green_soe_kwh"]) <= soe + 1e-9)
    # By hand: DAY1 starts empty, takes 0.9 × 16 × 2000 = 28,800 kWh by 14:00 and gives
    # 12 × 1500 = 18,000 kWh by 22:00, so DAY2 starts at 10,800 kWh and ends at 21,600 kWh.
    assert eta == pytest.approx(0.9)
    assert charge.sum() == pytest.approx(16 * CHARGE_KWH)
    assert discharge.sum() == pytest.approx(12 * DISCHARGE_KWH)
    assert soe[0] == pytest.approx(10_800.0, abs=1e-6)
    assert soe[14] == pytest.approx(10_800.0 + 28_800.0, abs=1e-6)
    assert soe[-1] == pytest.approx(21_600.0, abs=1e-6)
    assert battery["e_kwh"] == pytest.approx(200_000.0)
    # The day starts where the day before ended.
    before = filled.get("/v1/dashboard/day", date=DAY1.isoformat())["storage"][0]["soe_kwh"]
    assert soe[0] == pytest.approx(before[-1], abs=1e-9)


def test_certificates_split_and_match_the_ledger(certified: Filled) -> None:
    filled = certified
    lo = local_date_start_utc(DAY2).to_pydatetime()
    hi = local_date_start_utc(DAY2 + dt.timedelta(days=1)).to_pydatetime()
    with filled.platform.engine.connect() as conn:
        issued_wh = conn.execute(
            select(func.sum(IssuanceRow.wh)).where(
                IssuanceRow.start_utc >= lo, IssuanceRow.start_utc < hi
            )
        ).scalar_one()
    park = filled.get("/v1/dashboard/day", date=DAY2.isoformat())["certificates"]
    assert park["issued_kwh"] == pytest.approx(int(issued_wh) / 1000.0, abs=1e-9)
    parts = ("claimed_kwh", "available_kwh", "into_storage_kwh", "other_retired_kwh")
    assert sum(park[p] for p in parts) == pytest.approx(park["issued_kwh"], abs=1e-6)
    assert park["claimed_kwh"] > 0
    ledger = filled.platform.ledger()
    for who, asset in (("dc", "dc-nanchuan"), ("silicon", "silicon-a")):
        mine = filled.get("/v1/dashboard/day", who, date=DAY2.isoformat())["certificates"]
        claimed_wh = sum(c.bundle.wh for c in ledger.claims_for(asset, lo, hi))
        assert mine["claimed_kwh"] == pytest.approx(claimed_wh / 1000.0, abs=1e-9)
        assert 0 < mine["claimed_kwh"] < park["claimed_kwh"]
        assert mine["issued_kwh"] < park["issued_kwh"]


def test_a_tenant_sees_only_its_own_consumers(filled: Filled, xining: Park) -> None:
    report, _ = _report(filled.platform, xining, DAY2)
    rows = report.rows.set_index("consumer")
    views = {
        who: filled.get("/v1/dashboard/day", who, date=DAY2.isoformat())
        for who in ("dc", "silicon")
    }
    for who, asset in (("dc", "dc-nanchuan"), ("silicon", "silicon-a")):
        body = views[who]
        assert body["scope"] == "tenant"
        assert [c["consumer"] for c in body["consumers"]] == [asset]
        today = body["today"]
        assert today["load_kwh"] == pytest.approx(rows.loc[asset, "load_kwh"], rel=1e-12)
        assert today["green_share_pct"] == pytest.approx(
            rows.loc[asset, "green_share_pct"], abs=1e-9
        )
        total = sum(_total(s["kwh"]) for s in today["composition"])
        assert total == pytest.approx(rows.loc[asset, "load_kwh"], rel=1e-9)
        assert today["load_kwh"] < rows.loc["park", "load_kwh"]
        yesterday = _report(filled.platform, xining, DAY1)[0].rows.set_index("consumer")
        assert body["yesterday"]["load_kwh"] == pytest.approx(
            yesterday.loc[asset, "load_kwh"], rel=1e-12
        )
    # Nothing of one tenant in the other's answer: neither its id nor its load.
    for who, other in (("silicon", "dc-nanchuan"), ("dc", "silicon-a")):
        text = filled.world.client.get(
            "/v1/dashboard/day", params={"date": DAY2.isoformat()}, headers=filled.world.as_(who)
        ).text
        assert other not in text and "silicon-b" not in text
        assert json.dumps(float(rows.loc[other, "load_kwh"])) not in text
    # The auditor reads the park.
    assert filled.get("/v1/dashboard/day", "auditor")["scope"] == "park"


def test_job_timeline_per_site_and_tenant(filled: Filled) -> None:
    queue = filled.platform.job_queue()
    # DAY2 begins at 16:00 UTC on 1 June: a job from 15:00 to 17:00 UTC runs on both days.
    start = dt.datetime(2025, 6, 1, 15, tzinfo=UTC)
    jobs = [
        Job(
            id="train-1",
            tenant="dc",
            power_mw=2.0,
            duration_steps=8,
            release_utc=start,
            deadline_utc=start + dt.timedelta(hours=12),
            allowed_sites=("nanchuan",),
        ),
        Job(
            id="etch-7",
            tenant="silicon",
            power_mw=0.5,
            duration_steps=4,
            release_utc=start,
            deadline_utc=start + dt.timedelta(hours=6),
            allowed_sites=("nanchuan",),
        ),
    ]
    queue.submit(jobs)
    queue.mark_planned([Assignment("dc", "train-1", "nanchuan", start)])
    park = filled.get("/v1/dashboard/jobs", date=DAY2.isoformat())
    assert park["day_start_utc"] == "2025-06-01T16:00:00Z"
    assert park["day_end_utc"] == "2025-06-02T16:00:00Z"
    assert [(s["site"], [j["job_id"] for j in s["jobs"]]) for s in park["sites"]] == [
        ("nanchuan", ["train-1"])
    ]
    job = park["sites"][0]["jobs"][0]
    assert job["start_utc"] == "2025-06-01T15:00:00Z" and job["end_utc"] == "2025-06-01T17:00:00Z"
    assert [j["job_id"] for j in park["unplanned"]] == ["etch-7"]
    assert (
        filled.get("/v1/dashboard/jobs", date="2025-06-01")["sites"][0]["jobs"][0]["job_id"]
        == "train-1"
    )
    assert filled.get("/v1/dashboard/jobs", date="2025-06-03")["sites"] == []
    dc = filled.get("/v1/dashboard/jobs", "dc", date=DAY2.isoformat())
    assert dc["scope"] == "tenant"
    assert [j["job_id"] for s in dc["sites"] for j in s["jobs"]] == ["train-1"]
    assert dc["unplanned"] == []
    silicon = filled.get("/v1/dashboard/jobs", "silicon", date=DAY2.isoformat())
    assert silicon["sites"] == [] and [j["job_id"] for j in silicon["unplanned"]] == ["etch-7"]


def test_bad_dates_answer_422(world: World) -> None:
    for bad in ("2025-13-01", "yesterday", "1999-12-31", "2101-01-01", "9999-12-31"):
        for path in ("/v1/dashboard/day", "/v1/dashboard/jobs"):
            r = world.client.get(path, params={"date": bad}, headers=world.as_("admin"))
            assert r.status_code == 422, (path, bad, r.text)
    r = world.client.get(
        "/v1/dashboard/day", params={"date": "1999-12-31"}, headers=world.as_("dc")
    )
    assert r.json()["detail"].startswith("date: 1999-12-31 is outside 2000-01-01 to 2100-12-31")


def test_a_day_without_readings_answers_404_with_the_range(filled: Filled) -> None:
    r = filled.world.client.get(
        "/v1/dashboard/day", params={"date": "2025-06-05"}, headers=filled.world.as_("dc")
    )
    assert r.status_code == 404
    assert r.json()["detail"] == (
        "no readings for 2025-06-05: readings cover 2025-06-01 to 2025-06-02 (Asia/Shanghai "
        "days); pick a day in that range"
    )


def test_an_empty_store_answers_404_and_the_page_needs_no_token(world: World) -> None:
    for path in ("/v1/dashboard/days", "/v1/dashboard/day"):
        r = world.client.get(path, headers=world.as_("admin"))
        assert r.status_code == 404
        assert "suandian demo" in r.json()["detail"]
    assert world.client.get("/v1/dashboard/day").status_code == 401
    page = world.client.get("/dashboard")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    plotly = world.client.get("/dashboard/static/plotly.min.js")
    assert plotly.status_code == 200 and len(plotly.content) > 1_000_000
    for name in ("dashboard.js", "dashboard.css"):
        assert world.client.get(f"/dashboard/static/{name}").status_code == 200
    assert world.client.get("/dashboard/static/..%2Fcontext.py").status_code == 404


def test_days_are_cached_until_their_readings_change(filled: Filled) -> None:
    cache = DashboardCache()
    cache.stop()  # no warming thread: count only what the requests assemble
    filled.world.app.state.dashboard = cache
    first = filled.get("/v1/dashboard/day", date=DAY1.isoformat())
    assert cache.assembled_days == 1
    again = filled.get("/v1/dashboard/day", date=DAY1.isoformat())
    assert again == first and cache.assembled_days == 1
    filled.get("/v1/dashboard/day", date=DAY2.isoformat())
    assert cache.assembled_days == 2  # DAY1 came from the cache
    assert cache.traced_blocks == 1  # both days were traced in one pass
    # A correction on DAY2 leaves DAY1 alone and makes DAY2 traced again.
    at = local_date_start_utc(DAY2) + pd.Timedelta(hours=3)
    fix = pd.DataFrame({"meter_id": ["m-silicon-b"], "start_utc": [at], "kwh": [1234.5]})
    with filled.platform.readings() as store:
        assert store.ingest(fix).corrected == 1
    filled.get("/v1/dashboard/day", date=DAY1.isoformat())
    assert cache.assembled_days == 2
    after = filled.get("/v1/dashboard/day", date=DAY2.isoformat())
    assert cache.assembled_days == 3
    assert cache.traced_blocks == 2
    row = next(c for c in after["consumers"] if c["consumer"] == "silicon-b")
    report, _ = _report(filled.platform, filled.world.app.state.platform.park, DAY2)
    assert row["load_kwh"] == pytest.approx(
        report.rows.set_index("consumer").loc["silicon-b", "load_kwh"], rel=1e-12
    )


def test_the_cache_warms_every_day_in_the_background(filled: Filled) -> None:
    cache = DashboardCache()
    filled.world.app.state.dashboard = cache
    first = filled.get("/v1/dashboard/days")
    assert first["days"] == 2 and first["cached_days"] == 0 and first["warm"] is False
    cache.wait()  # for the warming thread
    done = filled.get("/v1/dashboard/days")
    assert done["cached_days"] == 2 and done["warm"] is True
    assert cache.traced_blocks == 1 and cache.assembled_days == 2
    filled.get("/v1/dashboard/day", date=DAY1.isoformat())
    assert cache.assembled_days == 2  # answered from the cache
