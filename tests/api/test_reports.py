"""Attribution and the daily report over HTTP: totals from the readings put in, formats that
agree, tenant scoping on every format, as-of recomputation and parameter errors."""

from __future__ import annotations

import datetime as dt
import io

import numpy as np
import openpyxl
import pandas as pd
import pytest

from suandian.api.routes.reports import scoped, traced_report
from suandian.core.errors import NotFound
from suandian.meters.importer import import_readings
from suandian.scenario.model import Park
from suandian.sim.metering import simulated_readings
from suandian.sim.park import simulate
from suandian.store.platform import Principal

from .conftest import World

DAY = "2025-07-01"
# The Asia/Shanghai day 2025-07-01 runs from 2025-06-30 16:00 UTC to 2025-07-01 16:00 UTC.
DAY_START = pd.Timestamp("2025-06-30T16:00:00Z")
DAY_END = pd.Timestamp("2025-07-01T16:00:00Z")
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@pytest.fixture(scope="module")
def readings(xining: Park) -> pd.DataFrame:
    """Every meter of the park over two simulated local days (1 and 2 July 2025)."""
    frame = simulated_readings(xining, simulate(xining, start=dt.date(2025, 7, 1), days=2))
    assert frame["start_utc"].min() == DAY_START  # the second day is past the report's day
    return frame


def put(world: World, frame: pd.DataFrame, received: str | None = None) -> None:
    when = None if received is None else pd.Timestamp(received).to_pydatetime()
    with world.app.state.platform.readings() as store:
        assert import_readings(store, frame, received_utc=when).rejected == 0


def day_kwh(readings: pd.DataFrame, meter: str) -> float:
    """The meter's energy over the local day, summed from the readings put in. [kWh]"""
    start = pd.to_datetime(readings["start_utc"], utc=True)
    inside = (readings["meter_id"] == meter) & (start >= DAY_START) & (start < DAY_END)
    assert inside.sum() == 96
    return float(readings.loc[inside, "kwh"].sum())


def report(world: World, who: str, **params: str) -> dict[str, object]:
    r = world.client.get(
        "/v1/reports/daily", params={"date": DAY, **params}, headers=world.as_(who)
    )
    assert r.status_code == 200, r.text
    body: dict[str, object] = r.json()
    return body


def rows_of(body: dict[str, object]) -> dict[str, dict[str, float]]:
    consumers = body["consumers"]
    assert isinstance(consumers, list)
    return {r["consumer"]: r for r in consumers}


def source_columns(row: dict[str, float]) -> list[str]:
    return [k for k in row if k.endswith("_kwh") and k.startswith(("onsite_", "grid_"))]


def test_report_totals_are_the_readings_put_in(
    world: World, xining: Park, readings: pd.DataFrame
) -> None:
    put(world, readings)
    body = report(world, "admin")
    rows = rows_of(body)
    consumers = [d.id for d in xining.data_centers] + [c.id for c in xining.consumers]
    assert sorted(rows) == sorted(consumers)
    for consumer, row in rows.items():
        assert row["load_kwh"] == pytest.approx(day_kwh(readings, f"m-{consumer}"), rel=1e-9)
        # Every kWh drawn comes from exactly one source group.
        total = sum(row[k] for k in source_columns(row))
        assert total == pytest.approx(row["load_kwh"], rel=1e-9)
        assert row["completeness_pct"] == pytest.approx(100.0, abs=1e-9)
    park = body["park"]
    assert isinstance(park, dict)
    everyone = sum(day_kwh(readings, f"m-{c}") for c in consumers)
    assert park["load_kwh"] == pytest.approx(everyone, rel=1e-9)
    # The contract gives dc-nanchuan at most 30 MW × 24 h from pv-nanchuan.
    assert 0.0 < rows["dc-nanchuan"]["direct_kwh"] <= 30_000.0 * 24 + 1e-6
    assert rows["silicon-a"]["direct_kwh"] == pytest.approx(0.0, abs=1e-9)


def test_csv_json_and_xlsx_hold_the_same_numbers(world: World, readings: pd.DataFrame) -> None:
    put(world, readings)
    rows = rows_of(report(world, "operator"))
    r = world.client.get(
        "/v1/reports/daily", params={"date": DAY, "format": "csv"}, headers=world.as_("operator")
    )
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/csv")
    assert f'filename="report-{DAY}.csv"' in r.headers["content-disposition"]
    csv = pd.read_csv(io.StringIO(r.text)).set_index("consumer")
    assert set(csv.index) == set(rows) | {"park"}
    for consumer, row in rows.items():
        for column in ("load_kwh", "avoided_kgco2", "emissions_market_kgco2", "cfe_pct"):
            assert csv.loc[consumer, column] == pytest.approx(row[column], rel=1e-12)
    assert (csv["date"] == DAY).all()

    r = world.client.get(
        "/v1/reports/daily",
        params={"date": DAY, "format": "xlsx", "lang": "en"},
        headers=world.as_("operator"),
    )
    assert r.status_code == 200
    assert r.headers["content-type"] == XLSX
    book = openpyxl.load_workbook(io.BytesIO(r.content))
    assert book.sheetnames[0] == "park"
    assert set(book.sheetnames[1:]) == set(rows)
    for consumer, row in rows.items():
        sheet = list(book[consumer].iter_rows(values_only=True))
        assert sheet[0][:3] == ("consumer", "name", "load kWh")
        assert sheet[1][0] == consumer
        assert sheet[1][2] == pytest.approx(row["load_kwh"], rel=1e-12)
        # The sheet's hourly table (local time) adds up to the day's load.
        hours = [s for s in sheet[4:] if s[0] is not None]
        assert len(hours) == 24 and hours[0][0] == f"{DAY} 00:00"
        assert sum(float(h[1]) for h in hours) == pytest.approx(row["load_kwh"], rel=1e-9)


def all_text(content: bytes) -> str:
    book = openpyxl.load_workbook(io.BytesIO(content))
    cells = [str(v) for ws in book for row in ws.iter_rows(values_only=True) for v in row]
    return " ".join(book.sheetnames + cells)


@pytest.mark.parametrize(
    ("who", "own", "other"),
    [("dc", "dc-nanchuan", "silicon-a"), ("silicon", "silicon-a", "dc-nanchuan")],
)
def test_a_tenant_sees_only_its_own_consumer_in_every_format(
    world: World, readings: pd.DataFrame, who: str, own: str, other: str
) -> None:
    put(world, readings)
    body = report(world, who)
    assert list(rows_of(body)) == [own]
    assert body["park"] is None
    assert rows_of(body)[own]["load_kwh"] == pytest.approx(day_kwh(readings, f"m-{own}"), rel=1e-9)
    csv = world.client.get(
        "/v1/reports/daily", params={"date": DAY, "format": "csv"}, headers=world.as_(who)
    ).text
    assert list(pd.read_csv(io.StringIO(csv))["consumer"]) == [own]
    for lang in ("zh", "en"):
        r = world.client.get(
            "/v1/reports/daily",
            params={"date": DAY, "format": "xlsx", "lang": lang},
            headers=world.as_(who),
        )
        text = all_text(r.content)
        assert own in text
        assert other not in text and "svc-01" not in text
        assert "park total" not in text and "园区合计" not in text
    attribution = world.client.get(
        "/v1/attribution", params={"date": DAY}, headers=world.as_(who)
    ).json()
    assert [c["consumer"] for c in attribution["consumers"]] == [own]
    for text in (str(body), csv, str(attribution)):
        assert other not in text and "svc-01" not in text


@pytest.mark.parametrize("path", ["/v1/reports/daily", "/v1/attribution"])
def test_a_foreign_consumer_answers_as_an_unknown_one(
    world: World, readings: pd.DataFrame, path: str
) -> None:
    put(world, readings)
    for who, foreign in (("dc", "silicon-a"), ("silicon", "dc-nanchuan")):
        for consumer in (foreign, "park", "no-such"):
            r = world.client.get(
                path, params={"date": DAY, "consumer": consumer}, headers=world.as_(who)
            )
            assert r.status_code == 404, (who, consumer)
            assert r.json()["detail"] == f"consumer {consumer!r}: not found"
    r = world.client.get(
        path, params={"date": DAY, "consumer": "no-such"}, headers=world.as_("auditor")
    )
    assert r.status_code == 404
    assert "no-such" in r.json()["detail"]
    r = world.client.get(
        path, params={"date": DAY, "consumer": "silicon-a"}, headers=world.as_("auditor")
    )
    assert r.status_code == 200


def test_attribution_intervals_add_up_to_the_day(world: World, readings: pd.DataFrame) -> None:
    put(world, readings)
    r = world.client.get(
        "/v1/attribution",
        params={"date": DAY, "consumer": "dc-nanchuan"},
        headers=world.as_("dc"),
    )
    assert r.status_code == 200, r.text
    body = r.json()
    (dc,) = body["consumers"]
    intervals = dc["intervals"]
    assert len(intervals) == 24
    assert intervals[0]["start_utc"] == "2025-06-30T16:00:00Z"
    assert intervals[0]["start_local"] == "2025-07-01T00:00:00+08:00"
    assert intervals[-1]["start_utc"] == "2025-07-01T15:00:00Z"
    assert dc["load_kwh"] == pytest.approx(day_kwh(readings, "m-dc-nanchuan"), rel=1e-9)
    load = np.array([i["load_kwh"] for i in intervals])
    by_source = np.array([[i["by_source_kwh"][s] for s in body["sources"]] for i in intervals])
    np.testing.assert_allclose(by_source.sum(axis=1), load, rtol=1e-9)
    np.testing.assert_allclose(
        by_source.sum(axis=0), [dc["by_source_kwh"][s] for s in body["sources"]], rtol=1e-9
    )
    # Hourly load is the sum of the hour's four 15-min readings.
    first_hour = readings[
        (readings["meter_id"] == "m-dc-nanchuan")
        & (pd.to_datetime(readings["start_utc"], utc=True) < DAY_START + pd.Timedelta(hours=1))
    ]["kwh"].sum()
    assert load[0] == pytest.approx(first_hour, rel=1e-12)
    # No sun before 06:00 in Xining: nothing from on-site PV in those hours.
    assert all(i["by_source_kwh"]["onsite_pv"] == 0.0 for i in intervals[:5])

    quarter = world.client.get(
        "/v1/attribution",
        params={"date": DAY, "consumer": "dc-nanchuan", "resolution": "15"},
        headers=world.as_("admin"),
    ).json()
    (dc15,) = quarter["consumers"]
    assert len(dc15["intervals"]) == 96
    assert dc15["load_kwh"] == pytest.approx(dc["load_kwh"], rel=1e-9)


def test_a_day_without_readings_has_no_figures_not_zeros(world: World) -> None:
    body = report(world, "admin", date="2025-01-15")
    assert all(r["load_kwh"] is None for r in rows_of(body).values())
    attribution = world.client.get(
        "/v1/attribution", params={"date": "2025-01-15"}, headers=world.as_("dc")
    ).json()
    (dc,) = attribution["consumers"]
    assert dc["load_kwh"] is None and all(i["load_kwh"] is None for i in dc["intervals"])


def test_as_of_recomputes_as_the_readings_stood(world: World, readings: pd.DataFrame) -> None:
    put(world, readings, received="2025-07-02T00:00:00Z")
    meter = readings["meter_id"] == "m-silicon-a"
    first = meter & (pd.to_datetime(readings["start_utc"], utc=True) == DAY_START)
    corrected = readings[first].assign(kwh=readings.loc[first, "kwh"] + 1000.0)
    put(world, corrected, received="2025-07-03T00:00:00Z")
    original = day_kwh(readings, "m-silicon-a")

    def load(as_of: str | None) -> float:
        params = {} if as_of is None else {"as_of": as_of}
        row = rows_of(report(world, "silicon", **params))["silicon-a"]
        return float(row["load_kwh"])

    assert load(None) == pytest.approx(original + 1000.0, rel=1e-9)
    assert load("2025-07-02T12:00:00+08:00") == pytest.approx(original, rel=1e-9)


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"date": "2025-13-01"}, "date"),
        ({"date": "1999-12-31"}, "date"),
        ({"date": "2100-01-01"}, "date"),  # in the future
        ({}, "date"),
        ({"date": DAY, "resolution": "30"}, "resolution"),
        ({"date": DAY, "format": "pdf"}, "format"),
        ({"date": DAY, "lang": "fr"}, "lang"),
        ({"date": DAY, "factor": "nope"}, "factor"),
        ({"date": DAY, "factor": "lifecycle-solar"}, "reference factor"),
        ({"date": DAY, "as_of": "2025-07-02T00:00:00"}, "as_of"),
        ({"date": DAY, "as_of": "1900-01-01T00:00:00Z"}, "as_of"),
    ],
)
def test_bad_parameters_answer_422_naming_them(
    world: World, params: dict[str, str], named: str
) -> None:
    for path in ("/v1/reports/daily", "/v1/attribution"):
        if path == "/v1/attribution" and set(params) & {"format", "lang", "factor"}:
            continue
        r = world.client.get(path, params=params, headers=world.as_("admin"))
        assert r.status_code == 422, (path, r.text)
        detail = r.json()["detail"]
        if isinstance(detail, str):
            assert detail.startswith(f"{named}"), detail
        else:
            assert named in {str(d["loc"][-1]) for d in detail}, detail


def test_the_park_row_stays_hidden_even_from_a_tenant_holding_an_asset_named_park(
    world: World, readings: pd.DataFrame
) -> None:
    put(world, readings)
    whole = traced_report(
        world.app.state.platform,
        day=dt.date.fromisoformat(DAY),
        resolution_min=60,
        factor="cn-national-2023",
        lifecycle=False,
        as_of=None,
    )
    odd = Principal(user="u", org="o", role="tenant", assets=frozenset({"park", "silicon-a"}))
    assert list(scoped(whole, odd, None).rows["consumer"]) == ["silicon-a"]
    with pytest.raises(NotFound, match="consumer 'park': not found"):
        scoped(whole, odd, "park")
    assert "park" in set(
        scoped(whole, Principal(user="a", org="p", role="auditor"), None).rows["consumer"]
    )
