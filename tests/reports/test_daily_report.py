"""The daily report from stored readings: local-day grouping, completeness, formats."""

import datetime as dt
import json

import numpy as np
import openpyxl
import pandas as pd
import pytest

from suandian.core.errors import NotFound
from suandian.meters.importer import import_readings
from suandian.meters.registry import meters_for_park
from suandian.reports.daily import daily_report
from suandian.reports.period import trace_period
from suandian.scenario import parse_scenario
from suandian.store.readings import ReadingsStore

TINY = {
    "name": "tiny",
    "sites": [
        {
            "id": "s",
            "name": "Site",
            "lat_deg": 36.6,
            "lon_deg": 101.8,
            "altitude_m": 2260,
            "zone": "CN-QH",
            "grid": {
                "ef_location_kgco2_per_kwh": 0.1567,
                "ef_location_source": "MEE 2022 Qinghai",
                "ef_residual_kgco2_per_kwh": 0.6096,
                "mix_non_fossil_pu": {"hydro": 0.5, "solar": 0.3, "wind": 0.2},
            },
        }
    ],
    "pv_plants": [
        {
            "id": "pv",
            "site": "s",
            "p_dc_mwp": 1.2,
            "dc_ac_ratio_pu": 1.2,
            "target_full_load_h": 1500,
        }
    ],
    "consumers": [
        {"id": "a", "site": "s", "kind": "other", "name": "A", "mean_mw": 0.1},
        {"id": "b", "site": "s", "kind": "other", "name": "B", "mean_mw": 0.1},
    ],
}


@pytest.fixture
def store(tmp_path):
    park = parse_scenario(TINY)
    with ReadingsStore(tmp_path) as s:
        s.register_meters(meters_for_park(park))
        yield park, s


def _rows(meter: str, start: str, kwh: list[float]) -> pd.DataFrame:
    idx = pd.date_range(start, periods=len(kwh), freq="15min")
    return pd.DataFrame({"meter_id": meter, "start_utc": idx, "kwh": kwh})


def test_readings_from_22_to_01_utc_belong_to_one_shanghai_day(store) -> None:
    park, s = store
    # 22:00–01:00 UTC on 1–2 March is 06:00–09:00 on 2 March in Shanghai: 12 quarter hours.
    import_readings(s, _rows("m-a", "2025-03-01T22:00Z", [1.0] * 12))
    traces = trace_period(s, park, start=dt.date(2025, 3, 2), days=1)
    report = daily_report(traces, park, date=dt.date(2025, 3, 2), resolution_min=60)
    a = report.rows.set_index("consumer").loc["a"]
    assert a["load_kwh"] == pytest.approx(12.0, abs=1e-9)
    assert a["completeness_pct"] == pytest.approx(100 * 12 / 96, abs=1e-9)
    # The UTC day of 1 March (local 1 March 08:00 → 2 March 08:00) is not what a report groups:
    # the report for local 1 March sees none of these readings, so a has no figures (not zero).
    before = trace_period(s, park, start=dt.date(2025, 3, 1), days=1)
    b = daily_report(before, park, date=dt.date(2025, 3, 1), resolution_min=60)
    assert np.isnan(b.rows.set_index("consumer").loc["a", "load_kwh"])
    assert b.rows.set_index("consumer").loc["a", "completeness_pct"] == pytest.approx(0.0)


def test_composition_adds_up_and_gaps_are_not_zero(store) -> None:
    park, s = store
    day = "2025-06-30T16:00Z"  # local 1 July 00:00
    pv = np.zeros(96)
    pv[28:76] = 40.0  # 07:00–19:00 local, 40 kWh a quarter (160 kW, under 1.1 × 1 MW)
    import_readings(s, _rows("m-pv", day, list(pv)))
    import_readings(s, _rows("m-a", day, [30.0] * 96))
    b = [20.0] * 96
    import_readings(s, _rows("m-b", day, b[:90]))  # the last 6 quarters are missing
    traces = trace_period(s, park, start=dt.date(2025, 7, 1), days=1)
    report = daily_report(traces, park, date=dt.date(2025, 7, 1), resolution_min=60)
    rows = report.rows.set_index("consumer")
    kwh_cols = [
        c for c in rows.columns if c.endswith("_kwh") and c not in ("load_kwh", "direct_kwh")
    ]
    np.testing.assert_allclose(rows[kwh_cols].sum(axis=1), rows["load_kwh"], rtol=1e-9)
    # b's last hour-and-a-half is missing: 22 whole hours known (the hour with 2 of 4 quarters
    # is missing too), never read as zero.
    assert rows.loc["b", "load_kwh"] == pytest.approx(20.0 * 4 * 22, abs=1e-9)
    assert rows.loc["b", "completeness_pct"] == pytest.approx(100 * 90 / 96, abs=1e-9)
    # On-site energy used never exceeds what was generated; the rest of PV is exported.
    assert rows.loc["park", "onsite_pv_kwh"] <= pv.sum() + 1e-9
    # Park totals are the consumers' sums.
    assert rows.loc["park", "load_kwh"] == pytest.approx(
        rows.loc["a", "load_kwh"] + rows.loc["b", "load_kwh"], abs=1e-9
    )
    assert rows.loc["park", "avoided_kgco2"] == pytest.approx(
        rows.loc["park", "onsite_pv_kwh"] * 0.5306, rel=1e-9
    )
    assert report.reference_name == "cn-national-2023"


def test_formats(store, tmp_path) -> None:
    park, s = store
    import_readings(s, _rows("m-a", "2025-06-30T16:00Z", [30.0] * 96))
    traces = trace_period(s, park, start=dt.date(2025, 7, 1), days=1)
    report = daily_report(traces, park, date=dt.date(2025, 7, 1), resolution_min=60)
    data = json.loads(report.write("json", tmp_path / "r.json").read_text("utf-8"))
    assert data["date"] == "2025-07-01" and data["reference_factor"]["name"] == "cn-national-2023"
    assert {c["consumer"] for c in data["consumers"]} == {"a", "b"}
    frame = pd.read_csv(report.write("csv", tmp_path / "r.csv"))
    assert list(frame["consumer"]) == ["a", "b", "park"]
    book = openpyxl.load_workbook(report.write("xlsx", tmp_path / "r.xlsx", "zh"))
    assert book.sheetnames == ["园区汇总", "a", "b"]
    only_a = report.select("a")
    assert list(only_a.rows["consumer"]) == ["a"]
    with pytest.raises(NotFound, match="known: a, b"):
        report.select("zz")


def test_no_meters_is_a_clear_error(tmp_path) -> None:
    park = parse_scenario(TINY)
    with ReadingsStore(tmp_path) as s, pytest.raises(NotFound, match="no meters are registered"):
        trace_period(s, park, start=dt.date(2025, 7, 1))


def test_as_of_recomputes_the_report_before_a_correction(store) -> None:
    park, s = store
    day = "2025-06-30T16:00Z"
    first = pd.Timestamp("2025-07-02T00:00Z").to_pydatetime()
    import_readings(s, _rows("m-a", day, [10.0] * 96), received_utc=first)
    corrected = _rows("m-a", day, [10.0] * 96)
    corrected.loc[0, "kwh"] = 50.0
    result = import_readings(
        s, corrected, received_utc=pd.Timestamp("2025-07-03T00:00Z").to_pydatetime()
    )
    assert (result.corrected, result.duplicate) == (1, 95)

    def load_of_a(as_of=None) -> float:
        traces = trace_period(s, park, start=dt.date(2025, 7, 1), as_of=as_of)
        report = daily_report(traces, park, date=dt.date(2025, 7, 1), resolution_min=60)
        return float(report.rows.set_index("consumer").loc["a", "load_kwh"])

    assert load_of_a() == pytest.approx(960.0 + 40.0, abs=1e-9)
    assert load_of_a(pd.Timestamp("2025-07-02T12:00Z").to_pydatetime()) == pytest.approx(
        960.0, abs=1e-9
    )


def test_quarter_hour_attribution_matches_energy_and_is_stricter(store) -> None:
    park, s = store
    day = "2025-06-30T16:00Z"
    # PV only in the first quarter of each hour, load flat: hourly matching nets the hour,
    # 15-min matching does not.
    pv = np.zeros(96)
    pv[0::4] = 40.0
    import_readings(s, _rows("m-pv", day, list(pv)))
    import_readings(s, _rows("m-a", day, [10.0] * 96))
    hourly = daily_report(
        trace_period(s, park, start=dt.date(2025, 7, 1)),
        park,
        date=dt.date(2025, 7, 1),
        resolution_min=60,
    ).rows.set_index("consumer")
    quarter = daily_report(
        trace_period(s, park, start=dt.date(2025, 7, 1), resolution_min=15),
        park,
        date=dt.date(2025, 7, 1),
        resolution_min=15,
    ).rows.set_index("consumer")
    assert quarter.loc["a", "load_kwh"] == pytest.approx(hourly.loc["a", "load_kwh"], abs=1e-9)
    # Hourly: each hour's 40 kWh of PV covers the hour's 40 kWh of load.
    assert hourly.loc["a", "green_share_pct"] == pytest.approx(100.0, abs=1e-9)
    # 15 min: only the first quarter of each hour is covered (10 of 40 kWh).
    assert quarter.loc["a", "green_share_pct"] == pytest.approx(25.0, abs=1e-9)


def _with_battery() -> dict:
    data = {
        **TINY,
        "batteries": [
            {"id": "bat", "site": "s", "p_mw": 1.0, "e_mwh": 4.0, "round_trip_efficiency_pu": 0.9}
        ],
    }
    return data


def test_a_day_does_not_depend_on_where_the_traced_period_began(tmp_path) -> None:
    park = parse_scenario(_with_battery())
    with ReadingsStore(tmp_path) as s:
        s.register_meters(meters_for_park(park))
        # 1 July: PV charges the battery at midday. 2 July: the battery discharges at night.
        pv = np.zeros(96)
        pv[40:56] = 200.0
        charge = np.zeros(96)
        charge[40:56] = 200.0
        discharge = np.zeros(96)
        discharge[0:16] = 180.0
        import_readings(s, _rows("m-pv", "2025-06-30T16:00Z", list(pv)))
        import_readings(s, _rows("m-bat-charge", "2025-06-30T16:00Z", list(charge)))
        import_readings(s, _rows("m-bat-discharge", "2025-06-30T16:00Z", [0.0] * 96))
        import_readings(s, _rows("m-bat-discharge", "2025-07-01T16:00Z", list(discharge)))
        import_readings(s, _rows("m-bat-charge", "2025-07-01T16:00Z", [0.0] * 96))
        import_readings(s, _rows("m-pv", "2025-07-01T16:00Z", [0.0] * 96))
        for meter in ("m-a", "m-b"):
            import_readings(s, _rows(meter, "2025-06-30T16:00Z", [50.0] * 192))
        day2 = dt.date(2025, 7, 2)
        alone = daily_report(
            trace_period(s, park, start=day2), park, date=day2, resolution_min=60
        ).rows.set_index("consumer")
        both = daily_report(
            trace_period(s, park, start=dt.date(2025, 7, 1), days=2),
            park,
            date=day2,
            resolution_min=60,
        ).rows.set_index("consumer")
    # 16 × 200 kWh charged at η 0.9 = 2,880 kWh of PV in the pool; 16 × 180 = 2,880 discharged
    # from 00:00 to 04:00, when a and b draw 400 kWh an hour: 1,600 kWh served, 1,280 exported.
    assert alone.loc["park", "onsite_pv_kwh"] == pytest.approx(1600.0, abs=1e-6)
    for column in ("onsite_pv_kwh", "green_share_pct", "avoided_kgco2"):
        np.testing.assert_allclose(alone[column], both[column], rtol=1e-12)


def test_meters_of_assets_no_longer_in_the_scenario_are_not_counted(store) -> None:
    _, s = store
    import_readings(s, _rows("m-pv", "2025-06-30T16:00Z", [40.0] * 96))
    import_readings(s, _rows("m-a", "2025-06-30T16:00Z", [30.0] * 96))
    renamed = parse_scenario(
        {
            **TINY,
            "pv_plants": [dict(TINY["pv_plants"][0], id="pv-new")],
            "consumers": TINY["consumers"][:1],
        }
    )
    report = daily_report(
        trace_period(s, renamed, start=dt.date(2025, 7, 1)),
        renamed,
        date=dt.date(2025, 7, 1),
        resolution_min=60,
    )
    assert report.ignored_meters == ["m-b", "m-pv"]
    rows = report.rows.set_index("consumer")
    assert list(rows.index) == ["a", "park"]
    assert rows.loc["a", "green_share_pct"] == pytest.approx(0.0, abs=1e-12)
    assert "m-pv" in report.notes("en")
