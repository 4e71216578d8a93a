"""Importing readings from CSV, Parquet and DataFrames: every rejection kind, idempotence,
corrections, gaps and UTC placement, against a real DuckDB store in tmp_path."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from suandian.core.errors import InputError, NotFound, TimeError
from suandian.meters import ImportResult, import_readings, meters_for_park
from suandian.meters.importer import EXPECTED_HEADER, REJECTION_COLUMNS
from suandian.scenario import Park
from suandian.store.readings import ReadingsStore

HEADER = "meter_id,start_utc,kwh"
GOOD = "m-dc-nanchuan,2025-01-01T00:00:00Z,7500"
T0 = pd.Timestamp("2025-01-01T00:00:00Z")
QUARTER = pd.Timedelta(minutes=15)
R1 = dt.datetime(2025, 1, 2, tzinfo=dt.UTC)
R2 = dt.datetime(2025, 1, 3, tzinfo=dt.UTC)


@pytest.fixture
def store(tmp_path: Path, xining: Park) -> Iterator[ReadingsStore]:
    with ReadingsStore(tmp_path / "data") as s:
        s.register_meters(meters_for_park(xining))
        yield s


def _csv(path: Path, *lines: str) -> Path:
    path.write_text("\n".join([HEADER, *lines]) + "\n", encoding="utf-8")
    return path


def _rejections(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


# --- one test per rejection kind ----------------------------------------------------------------

# PV: 150 MWp / 1.2 DC/AC = 125,000 kW AC → 1.1 × 125,000 kW × 0.25 h = 34,375 kWh per interval.
# Battery: 50,000 kW → 1.1 × 50,000 × 0.25 = 13,750 kWh per interval.
REJECTED = [
    ("unknown meter", "m-nowhere,2025-01-01T00:15:00Z,1", "meter_id", "m-nowhere", "unknown meter"),
    ("missing meter", ",2025-01-01T00:15:00Z,1", "meter_id", "", "missing value"),
    (
        "naive timestamp",
        "m-dc-nanchuan,2025-01-01T00:15:00,1",
        "start_utc",
        "2025-01-01T00:15:00",
        "naive timestamp: add Z or +08:00",
    ),
    ("naive date", "m-dc-nanchuan,2025-01-02,1", "start_utc", "2025-01-02", "naive timestamp"),
    (
        "minutes off the grid",
        "m-dc-nanchuan,2025-01-01T00:07:00Z,1",
        "start_utc",
        "2025-01-01T00:07:00Z",
        "not on the 15-min grid",
    ),
    (
        "seconds off the grid",
        "m-dc-nanchuan,2025-01-01T00:15:30Z,1",
        "start_utc",
        "2025-01-01T00:15:30Z",
        "not on the 15-min grid",
    ),
    (
        "off the grid in Beijing time",
        "m-dc-nanchuan,2025-01-01T08:20:00+08:00,1",
        "start_utc",
        "2025-01-01T08:20:00+08:00",
        "nearest starts 2025-01-01T00:15:00+00:00 and 2025-01-01T00:30:00+00:00",
    ),
    (
        "unparsable timestamp",
        "m-dc-nanchuan,yesterday noon,1",
        "start_utc",
        "yesterday noon",
        "not an ISO-8601 timestamp",
    ),
    ("missing timestamp", "m-dc-nanchuan,,1", "start_utc", "", "missing value"),
    (
        "negative energy",
        "m-dc-nanchuan,2025-01-01T00:15:00Z,-0.5",
        "kwh",
        "-0.5",
        "energy must be ≥ 0",
    ),
    (
        "PV above 1.1 × nameplate × interval",
        "m-pv-nanchuan,2025-01-01T00:15:00Z,34375.5",
        "kwh",
        "34375.5",
        "34,375.500 kWh > 1.1 × nameplate 125,000 kW × 0.25 h = 34,375.000 kWh",
    ),
    (
        "discharge above 1.1 × nameplate × interval",
        "m-bess-nanchuan-discharge,2025-01-01T00:15:00Z,13751",
        "kwh",
        "13751",
        "more energy than the asset can deliver",
    ),
    (
        "unparsable number",
        "m-dc-nanchuan,2025-01-01T00:15:00Z,12 kWh",
        "kwh",
        "12 kWh",
        "not a number",
    ),
    ("decimal comma", 'm-dc-nanchuan,2025-01-01T00:15:00Z,"1,5"', "kwh", "1,5", "not a number"),
    ("nan text", "m-dc-nanchuan,2025-01-01T00:15:00Z,NaN", "kwh", "NaN", "not a number"),
    ("infinite", "m-dc-nanchuan,2025-01-01T00:15:00Z,inf", "kwh", "inf", "not a finite number"),
    ("missing energy", "m-dc-nanchuan,2025-01-01T00:15:00Z,", "kwh", "", "missing value"),
]


@pytest.mark.parametrize(
    ("line", "field", "value", "reason"),
    [case[1:] for case in REJECTED],
    ids=[case[0] for case in REJECTED],
)
def test_each_rejection_is_named_with_row_field_and_reason(
    store: ReadingsStore, tmp_path: Path, line: str, field: str, value: str, reason: str
) -> None:
    source = _csv(tmp_path / "readings.csv", GOOD, line)
    result = import_readings(store, source, received_utc=R1)

    assert (result.rows, result.accepted, result.rejected) == (2, 1, 1)
    assert (result.corrected, result.duplicate) == (0, 0)
    assert result.rejection_file == tmp_path / "readings.rejected.csv"
    rejected = _rejections(result.rejection_file)
    assert tuple(rejected.columns) == REJECTION_COLUMNS
    assert len(rejected) == 1
    got = rejected.iloc[0]
    assert got["row"] == "2"  # the second data row of the file
    assert got["field"] == field
    assert got["value"] == value
    assert reason in got["reason"]
    # The good row is committed; the rejected one left no trace.
    assert store.counts()["readings"] == 1


def test_a_row_with_several_problems_is_counted_once_and_listed_per_field(
    store: ReadingsStore, tmp_path: Path
) -> None:
    source = _csv(tmp_path / "r.csv", "m-nowhere,2025-01-01T00:00:00,-3")
    result = import_readings(store, source)
    assert (result.rows, result.rejected, result.accepted) == (1, 1, 0)
    assert result.rejection_file is not None
    rejected = _rejections(result.rejection_file)
    assert list(rejected["field"]) == ["meter_id", "start_utc", "kwh"]
    assert set(rejected["row"]) == {"1"}


def test_capacity_limit_is_inclusive_and_only_for_generation_and_storage(
    store: ReadingsStore, tmp_path: Path
) -> None:
    source = _csv(
        tmp_path / "r.csv",
        "m-pv-nanchuan,2025-01-01T00:00:00Z,34375",  # exactly 1.1 × nameplate × 0.25 h
        "m-bess-nanchuan-charge,2025-01-01T00:00:00Z,13750",
        "m-dc-nanchuan,2025-01-01T00:00:00Z,1e6",  # consumption meters carry no nameplate
        "m-nanchuan-import,2025-01-01T00:00:00Z,1e6",
    )
    result = import_readings(store, source)
    assert (result.accepted, result.rejected, result.rejection_file) == (4, 0, None)
    assert not (tmp_path / "r.rejected.csv").exists()


def test_hourly_resolution_changes_the_grid_and_the_capacity_limit(
    store: ReadingsStore, tmp_path: Path
) -> None:
    source = _csv(
        tmp_path / "hourly.csv",
        "m-pv-nanchuan,2025-01-01T00:00:00Z,137500",  # 1.1 × 125,000 kW × 1 h
        "m-pv-nanchuan,2025-01-01T01:15:00Z,1",
        "m-pv-nanchuan,2025-01-01T02:00:00Z,137501",
    )
    result = import_readings(store, source, resolution_min=60)
    assert (result.accepted, result.rejected) == (1, 2)
    assert result.rejection_file is not None
    reasons = list(_rejections(result.rejection_file)["reason"])
    assert "not on the 60-min grid" in reasons[0]
    assert "× 1 h = 137,500.000 kWh" in reasons[1]
    with pytest.raises(TimeError, match="does not divide a day"):
        import_readings(store, source, resolution_min=7)


# --- files as a whole ---------------------------------------------------------------------------


def _big_file(path: Path, bad_row: int | None) -> Path:
    """10,000 rows: 100 consumers' meters × 100 quarter hours (the bad row made negative)."""
    ids = [f"m-svc-{i:02d}" for i in range(1, 15)] + ["m-dc-nanchuan"]
    grid = pd.date_range(T0, periods=10_000 // len(ids) + 1, freq="15min")
    frame = pd.DataFrame(
        {
            "meter_id": np.tile(ids, len(grid))[:10_000],
            "start_utc": np.repeat(grid.strftime("%Y-%m-%dT%H:%M:%SZ"), len(ids))[:10_000],
            "kwh": np.round(np.linspace(1.0, 50.0, 10_000), 3),
        }
    )
    if bad_row is not None:
        frame.loc[bad_row - 1, "kwh"] = -1.0
    frame.to_csv(path, index=False)
    return path


def test_one_bad_row_among_ten_thousand_commits_the_rest(
    store: ReadingsStore, tmp_path: Path
) -> None:
    source = _big_file(tmp_path / "big.csv", bad_row=4321)
    result = import_readings(store, source)
    assert (result.rows, result.accepted, result.rejected) == (10_000, 9_999, 1)
    assert result.rejection_file is not None
    rejected = _rejections(result.rejection_file)
    assert list(rejected["row"]) == ["4321"]
    assert list(rejected["field"]) == ["kwh"]
    assert store.counts() == {"meters": 28, "readings": 9_999, "versions": 9_999}


def test_importing_the_same_file_twice_changes_nothing(
    store: ReadingsStore, tmp_path: Path
) -> None:
    source = _big_file(tmp_path / "big.csv", bad_row=10)
    first = import_readings(store, source)
    counts = store.counts()
    ids = [f"m-svc-{i:02d}" for i in range(1, 15)]
    before = store.dense(ids, T0, T0 + 700 * QUARTER)

    second = import_readings(store, source)
    assert (first.accepted, first.duplicate) == (9_999, 0)
    assert (second.accepted, second.corrected, second.duplicate, second.rejected) == (
        0,
        0,
        9_999,
        1,
    )
    assert store.counts() == counts
    np.testing.assert_array_equal(store.dense(ids, T0, T0 + 700 * QUARTER), before)


def test_a_corrected_file_adds_versions_and_as_of_reads_the_old_values(
    store: ReadingsStore, tmp_path: Path
) -> None:
    meter = "m-dc-nanchuan"
    first = _csv(
        tmp_path / "day.csv",
        f"{meter},2025-01-01T00:00:00Z,7500",
        f"{meter},2025-01-01T00:15:00Z,7600",
    )
    import_readings(store, first, received_utc=R1)
    fixed = _csv(
        tmp_path / "day-fixed.csv",
        f"{meter},2025-01-01T00:00:00Z,7500",
        f"{meter},2025-01-01T00:15:00Z,7650.25",
        f"{meter},2025-01-01T00:30:00Z,7700",
    )
    result = import_readings(store, fixed, received_utc=R2)
    assert (result.accepted, result.corrected, result.duplicate) == (1, 1, 1)
    assert store.counts() == {"meters": 28, "readings": 3, "versions": 4}

    end = T0 + 4 * QUARTER
    latest = store.dense([meter], T0, end)
    np.testing.assert_allclose(latest[0, :3], [7500.0, 7650.25, 7700.0], atol=1e-9)
    assert np.isnan(latest[0, 3])
    old = store.dense([meter], T0, end, as_of=R2 - dt.timedelta(seconds=1))
    np.testing.assert_allclose(old[0, :2], [7500.0, 7600.0], atol=1e-9)
    assert np.isnan(old[0, 2:]).all()


def test_gaps_in_a_file_stay_nan(store: ReadingsStore, tmp_path: Path) -> None:
    source = _csv(
        tmp_path / "gappy.csv",
        "m-svc-01,2025-01-01T00:00:00Z,0",
        "m-svc-01,2025-01-01T00:15:00Z,",  # an empty value is rejected, never stored as 0
        "m-svc-01,2025-01-01T00:45:00Z,2.5",
    )
    result = import_readings(store, source)
    assert (result.accepted, result.rejected) == (2, 1)
    got = store.dense(["m-svc-01"], T0, T0 + 4 * QUARTER)[0]
    assert got[0] == pytest.approx(0.0, abs=0)
    assert np.isnan(got[1])
    assert np.isnan(got[2])
    assert got[3] == pytest.approx(2.5, abs=1e-12)


def test_readings_around_midnight_utc_land_in_their_utc_interval(
    store: ReadingsStore, tmp_path: Path
) -> None:
    # 22:00–01:00 UTC is 06:00–09:00 in Beijing: the same instants, written either way.
    source = _csv(
        tmp_path / "night.csv",
        "m-svc-02,2025-03-09T22:00:00Z,1",
        "m-svc-02,2025-03-10T06:45:00+08:00,2",  # 22:45 UTC
        "m-svc-02,2025-03-09T23:45:00+00:00,3",
        "m-svc-02,2025-03-10T08:00:00+0800,4",  # 00:00 UTC on the next UTC day
        "m-svc-02,2025-03-10 00:45:00Z,5",
    )
    result = import_readings(store, source)
    assert (result.accepted, result.rejected) == (5, 0)
    start = pd.Timestamp("2025-03-09T22:00:00Z")
    got = store.dense(["m-svc-02"], start, start + pd.Timedelta(hours=3))[0]
    expected = np.full(12, np.nan)
    expected[[0, 3, 7, 8, 11]] = [1.0, 2.0, 3.0, 4.0, 5.0]
    np.testing.assert_allclose(got, expected, atol=0)  # NaN positions must match too


def test_blank_lines_are_skipped_and_row_numbers_follow_the_file(
    store: ReadingsStore, tmp_path: Path
) -> None:
    source = tmp_path / "blank.csv"
    source.write_text(
        "\ufeff Meter_ID , START_UTC ,kWh,note\n"  # BOM, spaces and case in the header
        f"{GOOD},ok\n"
        "\n"
        "m-dc-nanchuan,2025-01-01T00:15:00Z,-2,oops\n"
        ",,,\n",
        encoding="utf-8",
    )
    result = import_readings(store, source)
    assert (result.rows, result.accepted, result.rejected) == (2, 1, 1)
    assert result.rejection_file is not None
    assert list(_rejections(result.rejection_file)["row"]) == ["3"]


def test_conflicting_rows_in_one_file_are_both_rejected(
    store: ReadingsStore, tmp_path: Path
) -> None:
    source = _csv(
        tmp_path / "twice.csv",
        "m-svc-03,2025-01-01T00:00:00Z,1.0",
        "m-svc-03,2025-01-01T00:00:00Z,1.0",  # a plain repeat: duplicate
        "m-svc-04,2025-01-01T00:00:00Z,1.0",
        "m-svc-04,2025-01-01T08:00:00+08:00,2.0",  # the same interval with another value
    )
    result = import_readings(store, source)
    assert (result.rows, result.accepted, result.duplicate, result.rejected) == (4, 1, 1, 2)
    assert result.rejection_file is not None
    rejected = _rejections(result.rejection_file)
    assert list(rejected["row"]) == ["3", "4"]
    assert "row 4 of this file" in rejected["reason"].iloc[0]
    assert "row 3 of this file" in rejected["reason"].iloc[1]


def test_missing_columns_import_nothing(store: ReadingsStore, tmp_path: Path) -> None:
    source = tmp_path / "wrong.csv"
    source.write_text("meter,start_utc,energy\nm-dc-nanchuan,2025-01-01T00:00:00Z,1\n")
    with pytest.raises(InputError) as info:
        import_readings(store, source)
    message = str(info.value)
    assert "missing column(s) meter_id, kwh" in message
    assert EXPECTED_HEADER in message
    assert store.counts()["versions"] == 0
    assert not (tmp_path / "wrong.rejected.csv").exists()


def test_unreadable_sources_are_clear_errors(store: ReadingsStore, tmp_path: Path) -> None:
    with pytest.raises(NotFound, match="no such file"):
        import_readings(store, tmp_path / "absent.csv")
    odd = tmp_path / "readings.xlsx"
    odd.write_text("x")
    with pytest.raises(InputError, match=r"unknown file type.*\.csv.*\.parquet"):
        import_readings(store, odd)
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(InputError, match="the file is empty"):
        import_readings(store, empty)
    broken = tmp_path / "broken.parquet"
    broken.write_text("not parquet")
    with pytest.raises(InputError, match="not a readable Parquet file"):
        import_readings(store, broken)
    source = _csv(tmp_path / "self.csv", "m-nowhere,2025-01-01T00:00:00Z,1")
    with pytest.raises(InputError, match="would overwrite the file being imported"):
        import_readings(store, source, rejections_path=source)


def test_header_only_file_imports_zero_rows(store: ReadingsStore, tmp_path: Path) -> None:
    result = import_readings(store, _csv(tmp_path / "none.csv"))
    assert result == ImportResult(
        rows=0, accepted=0, corrected=0, duplicate=0, rejected=0, rejection_file=None
    )


def test_rejections_path_and_json(store: ReadingsStore, tmp_path: Path) -> None:
    source = _csv(tmp_path / "r.csv", GOOD, "m-nowhere,2025-01-01T00:00:00Z,1")
    target = tmp_path / "out" / "bad-rows.csv"
    result = import_readings(store, source, rejections_path=target)
    assert result.rejection_file == target
    assert target.is_file()
    assert result.to_json() == {
        "rows": 2,
        "accepted": 1,
        "corrected": 0,
        "duplicate": 0,
        "rejected": 1,
        "rejection_file": str(target),
    }


# --- Parquet and DataFrames ---------------------------------------------------------------------


def _parquet(path: Path, select: str) -> Path:
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute(f"COPY ({select}) TO '{path}' (FORMAT parquet)")
    con.close()
    return path


def test_parquet_with_tz_aware_timestamps(store: ReadingsStore, tmp_path: Path) -> None:
    source = _parquet(
        tmp_path / "typed.parquet",
        "SELECT * FROM (VALUES "
        "('m-wind-nanchuan', TIMESTAMPTZ '2025-01-01 00:00:00+00', 5000.0), "
        "('m-wind-nanchuan', TIMESTAMPTZ '2025-01-01 08:15:00+08', 5100.0), "
        "('m-wind-nanchuan', TIMESTAMPTZ '2025-01-01 00:40:00+00', 5200.0), "
        "('m-wind-nanchuan', TIMESTAMPTZ '2025-01-01 00:45:00+00', NULL), "
        "('m-wind-nanchuan', TIMESTAMPTZ '2025-01-01 01:00:00+00', 22001.0)"
        ") t(meter_id, start_utc, kwh)",
    )
    result = import_readings(store, source)
    assert (result.rows, result.accepted, result.rejected) == (5, 2, 3)
    assert result.rejection_file == tmp_path / "typed.rejected.csv"
    rejected = _rejections(result.rejection_file)
    assert list(rejected["row"]) == ["3", "4", "5"]
    assert list(rejected["field"]) == ["start_utc", "kwh", "kwh"]
    assert "not on the 15-min grid" in rejected["reason"].iloc[0]
    assert "missing value" in rejected["reason"].iloc[1]
    assert "80,000 kW" in rejected["reason"].iloc[2]  # 22,001 > 1.1 × 80,000 × 0.25 = 22,000
    got = store.dense(["m-wind-nanchuan"], T0, T0 + 2 * QUARTER)
    np.testing.assert_allclose(got, [[5000.0, 5100.0]], atol=1e-9)


def test_parquet_with_naive_timestamps_rejects_every_row(
    store: ReadingsStore, tmp_path: Path
) -> None:
    source = _parquet(
        tmp_path / "naive.parquet",
        "SELECT 'm-svc-05' AS meter_id, "
        "TIMESTAMP '2025-01-01 00:00:00' + INTERVAL 15 MINUTE * i AS start_utc, 1.5 AS kwh "
        "FROM range(4) r(i)",
    )
    result = import_readings(store, source)
    assert (result.rows, result.accepted, result.rejected) == (4, 0, 4)
    assert result.rejection_file is not None
    rejected = _rejections(result.rejection_file)
    assert (rejected["field"] == "start_utc").all()
    assert rejected["reason"].str.startswith("naive timestamp").all()
    assert store.counts()["versions"] == 0


def test_parquet_with_text_columns_is_read_like_csv(store: ReadingsStore, tmp_path: Path) -> None:
    source = _parquet(
        tmp_path / "text.parquet",
        "SELECT * FROM (VALUES "
        "('m-svc-06', '2025-01-01T00:00:00Z', '1.25'), "
        "('m-svc-06', '2025-01-01T00:15:00', '1.25'), "
        "('m-svc-06', '2025-01-01T08:30:00+08:00', 'x')"
        ") t(meter_id, start_utc, kwh)",
    )
    result = import_readings(store, source)
    assert (result.accepted, result.rejected) == (1, 2)
    assert result.rejection_file is not None
    assert list(_rejections(result.rejection_file)["field"]) == ["start_utc", "kwh"]


def test_dataframe_source(store: ReadingsStore, tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "meter_id": ["m-svc-07", "m-svc-07", "m-svc-07"],
            "start_utc": pd.DatetimeIndex(
                ["2025-01-01T00:00Z", "2025-01-01T00:15Z", "2025-01-01T00:31Z"]
            ),
            "kwh": [1.0, -1.0, 2.0],
        }
    )
    result = import_readings(store, frame)
    # Without a rejections_path a DataFrame import writes no file but still counts.
    assert (result.rows, result.accepted, result.rejected, result.rejection_file) == (3, 1, 2, None)
    assert list(tmp_path.glob("*.rejected.csv")) == []

    target = tmp_path / "frame-rejections.csv"
    again = import_readings(store, frame, rejections_path=target)
    assert (again.duplicate, again.rejected, again.rejection_file) == (1, 2, target)
    assert list(_rejections(target)["row"]) == ["2", "3"]


def test_dataframe_with_start_as_index_and_naive_column(
    store: ReadingsStore,
) -> None:
    idx = pd.date_range("2025-01-01T00:00Z", periods=3, freq="15min", name="start_utc")
    frame = pd.DataFrame({"meter_id": "m-svc-08", "kwh": [1.0, 2.0, 3.0]}, index=idx)
    assert import_readings(store, frame).accepted == 3

    naive = frame.reset_index().assign(start_utc=lambda f: f["start_utc"].dt.tz_localize(None))
    result = import_readings(store, naive)
    assert (result.rejected, result.accepted) == (3, 0)
