"""The meter store: registration, set-based ingest with versioned corrections, dense reads."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from suandian.core.errors import InputError, NotFound, StoreError, TimeError
from suandian.store.readings import IngestCounts, Meter, ReadingsStore

T0 = pd.Timestamp("2025-01-01T00:00:00Z")
R1 = dt.datetime(2025, 1, 2, tzinfo=dt.UTC)
R2 = dt.datetime(2025, 1, 3, tzinfo=dt.UTC)
R3 = dt.datetime(2025, 1, 4, tzinfo=dt.UTC)
QUARTER = pd.Timedelta(minutes=15)

METERS = [
    Meter("m-pv", "generation", "s1", asset_id="pv", source="pv", nameplate_kw=1000.0),
    Meter("m-dc", "consumption", "s1", asset_id="dc"),
    Meter("m-grid-in", "grid_import", "s1"),
]


def _rows(meter_ids: list[str], starts: list[pd.Timestamp], kwh: list[float]) -> pd.DataFrame:
    return pd.DataFrame(
        {"meter_id": meter_ids, "start_utc": pd.DatetimeIndex(starts), "kwh": kwh},
    )


@pytest.fixture
def store(tmp_path: Path) -> Iterator[ReadingsStore]:
    with ReadingsStore(tmp_path) as s:
        s.register_meters(METERS)
        yield s


# --- meters -------------------------------------------------------------------------------------


def test_register_is_idempotent_and_lists_meters(tmp_path: Path) -> None:
    with ReadingsStore(tmp_path) as store:
        assert store.register_meters(METERS) == 3
        assert store.register_meters(METERS) == 0
        table = store.meters()
    assert list(table.columns) == ["meter_id", "kind", "site", "asset_id", "source", "nameplate_kw"]
    assert list(table["meter_id"]) == ["m-pv", "m-dc", "m-grid-in"]
    assert list(table["kind"]) == ["generation", "consumption", "grid_import"]
    assert table["nameplate_kw"].iloc[0] == pytest.approx(1000.0, abs=1e-9)
    assert table["nameplate_kw"].iloc[1:].isna().all()
    assert table["asset_id"].iloc[2] is None or pd.isna(table["asset_id"].iloc[2])


def test_register_updates_details_but_refuses_a_new_kind(store: ReadingsStore) -> None:
    bigger = Meter("m-pv", "generation", "s1", asset_id="pv", source="pv", nameplate_kw=1500.0)
    assert store.register_meters([bigger]) == 1
    assert store.meters().set_index("meter_id").loc["m-pv", "nameplate_kw"] == pytest.approx(
        1500.0, abs=1e-9
    )
    with pytest.raises(InputError, match="registered as consumption and cannot become"):
        store.register_meters([Meter("m-dc", "grid_export", "s1")])
    assert store.counts()["meters"] == 3


def test_register_refuses_one_id_with_two_meanings(store: ReadingsStore) -> None:
    with pytest.raises(InputError, match="given twice with different details"):
        store.register_meters(
            [Meter("m-x", "grid_import", "s1"), Meter("m-x", "grid_import", "s2")]
        )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"meter_id": "", "kind": "grid_import", "site": "s"}, "empty"),
        ({"meter_id": "m", "kind": "solar", "site": "s"}, "kind 'solar' is unknown"),
        ({"meter_id": "m", "kind": "generation", "site": "s", "asset_id": "a"}, "source None"),
        (
            {"meter_id": "m", "kind": "consumption", "site": "s", "asset_id": "a", "source": "pv"},
            "only generation meters carry a source",
        ),
        ({"meter_id": "m", "kind": "consumption", "site": "s"}, "needs the asset_id"),
        ({"meter_id": "m", "kind": "grid_import", "site": "s", "asset_id": "a"}, "grid tie"),
        (
            {"meter_id": "m", "kind": "grid_export", "site": "s", "nameplate_kw": 5.0},
            "nameplate_kw is for generation and storage",
        ),
        (
            {
                "meter_id": "m",
                "kind": "storage_charge",
                "site": "s",
                "asset_id": "b",
                "nameplate_kw": -1.0,
            },
            "positive number of kW",
        ),
    ],
)
def test_meter_validates_itself(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(InputError, match=message):
        Meter(**kwargs)  # type: ignore[arg-type]


def test_unwritable_data_dir_is_a_clear_store_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(StoreError, match="cannot open the meter store"):
        ReadingsStore(blocker / "data")


# --- ingest -------------------------------------------------------------------------------------


def test_ingest_classifies_new_duplicate_and_corrected(store: ReadingsStore) -> None:
    rows = _rows(["m-pv", "m-pv", "m-dc"], [T0, T0 + QUARTER, T0], [10.0, 20.0, 5.0])
    assert store.ingest(rows, received_utc=R1) == IngestCounts(new=3, corrected=0, duplicate=0)
    assert store.counts() == {"meters": 3, "readings": 3, "versions": 3}

    # The same rows again (one differing by less than the 1e-9 kWh tolerance): all duplicates.
    again = rows.assign(kwh=[10.0 + 1e-12, 20.0, 5.0])
    assert store.ingest(again, received_utc=R2) == IngestCounts(new=0, corrected=0, duplicate=3)
    assert store.counts() == {"meters": 3, "readings": 3, "versions": 3}

    changed = _rows(["m-pv", "m-dc", "m-dc"], [T0, T0, T0 + QUARTER], [11.0, 5.0, 6.0])
    assert store.ingest(changed, received_utc=R2) == IngestCounts(new=1, corrected=1, duplicate=1)
    assert store.counts() == {"meters": 3, "readings": 4, "versions": 5}


def test_repeats_within_one_batch_are_duplicates(store: ReadingsStore) -> None:
    rows = _rows(["m-dc"] * 3, [T0, T0, T0 + QUARTER], [5.0, 5.0, 6.0])
    assert store.ingest(rows, received_utc=R1) == IngestCounts(new=2, corrected=0, duplicate=1)
    assert store.counts()["versions"] == 2


def test_two_values_in_one_batch_are_refused_and_nothing_is_written(
    store: ReadingsStore,
) -> None:
    rows = _rows(["m-dc", "m-dc", "m-pv"], [T0, T0, T0], [5.0, 6.0, 1.0])
    with pytest.raises(InputError, match=r"'m-dc' at 2025-01-01T00:00:00\+00:00 has two values"):
        store.ingest(rows, received_utc=R1)
    assert store.counts()["versions"] == 0


def test_corrections_are_versions_and_as_of_reads_the_past(
    store: ReadingsStore, tmp_path: Path
) -> None:
    store.ingest(_rows(["m-pv"], [T0], [10.0]), received_utc=R1)
    store.ingest(_rows(["m-pv"], [T0], [12.5]), received_utc=R2)
    store.ingest(_rows(["m-pv"], [T0], [13.0]), received_utc=R3)
    end = T0 + QUARTER

    np.testing.assert_allclose(store.dense(["m-pv"], T0, end), [[13.0]], atol=1e-12)
    # Just before the second version arrived, the first was current; before any, nothing.
    between = R2 - dt.timedelta(microseconds=1)
    np.testing.assert_allclose(store.dense(["m-pv"], T0, end, as_of=between), [[10.0]], atol=0)
    np.testing.assert_allclose(store.dense(["m-pv"], T0, end, as_of=R2), [[12.5]], atol=0)
    np.testing.assert_allclose(store.dense(["m-pv"], T0, end, as_of=R3), [[13.0]], atol=0)
    before = store.dense(["m-pv"], T0, end, as_of=R1 - dt.timedelta(seconds=1))
    assert np.isnan(before).all()
    assert store.counts() == {"meters": 3, "readings": 1, "versions": 3}

    store.close()
    con = duckdb.connect(str(tmp_path / ReadingsStore.FILENAME), read_only=True)
    con.execute("SET TimeZone = 'UTC'")
    versions = con.execute(
        "SELECT version, kwh, received_utc, superseded_utc FROM readings ORDER BY version"
    ).fetchall()
    con.close()
    assert [v[0] for v in versions] == [1, 2, 3]
    assert [v[1] for v in versions] == pytest.approx([10.0, 12.5, 13.0], abs=0)
    # Each version is superseded exactly when the next one was received.
    assert versions[0][3] == versions[1][2] == R2
    assert versions[1][3] == versions[2][2] == R3
    assert versions[2][3] is None


def test_a_correction_must_arrive_after_what_it_corrects(store: ReadingsStore) -> None:
    store.ingest(_rows(["m-pv"], [T0], [10.0]), received_utc=R2)
    with pytest.raises(InputError, match="corrections must arrive later"):
        store.ingest(_rows(["m-pv"], [T0], [11.0]), received_utc=R1)
    assert store.counts()["versions"] == 1


def test_ingest_refuses_unvalidated_rows(store: ReadingsStore) -> None:
    with pytest.raises(InputError, match="lack column"):
        store.ingest(pd.DataFrame({"meter_id": ["m-pv"], "kwh": [1.0]}))
    naive = pd.DataFrame({"meter_id": ["m-pv"], "start_utc": [pd.Timestamp("2025-01-01")]})
    with pytest.raises(InputError, match="not tz-aware"):
        store.ingest(naive.assign(kwh=1.0))
    with pytest.raises(InputError, match="a gap is no reading"):
        store.ingest(_rows(["m-pv"], [T0], [float("nan")]))
    with pytest.raises(InputError, match="energy must be ≥ 0"):
        store.ingest(_rows(["m-pv"], [T0], [-1.0]))
    with pytest.raises(NotFound, match="unknown meter id"):
        store.ingest(_rows(["m-nope"], [T0], [1.0]))
    with pytest.raises(TimeError, match="naive"):
        store.ingest(_rows(["m-pv"], [T0], [1.0]), received_utc=dt.datetime(2025, 1, 1))  # noqa: DTZ001
    assert store.counts()["versions"] == 0
    assert store.ingest(_rows([], [], [])) == IngestCounts(new=0, corrected=0, duplicate=0)


def test_readings_persist_across_reopening(tmp_path: Path) -> None:
    with ReadingsStore(tmp_path) as store:
        store.register_meters(METERS)
        store.ingest(_rows(["m-dc"], [T0], [4.25]), received_utc=R1)
    with ReadingsStore(tmp_path) as store:
        np.testing.assert_allclose(store.dense(["m-dc"], T0, T0 + QUARTER), [[4.25]], atol=0)
        assert store.counts() == {"meters": 3, "readings": 1, "versions": 1}


# --- dense --------------------------------------------------------------------------------------


def test_gaps_are_nan_never_zero(store: ReadingsStore) -> None:
    starts = [T0, T0 + 3 * QUARTER]
    store.ingest(_rows(["m-dc", "m-dc"], starts, [0.0, 2.0]), received_utc=R1)
    got = store.dense(["m-dc", "m-grid-in"], T0, T0 + 4 * QUARTER)
    assert got.shape == (2, 4)
    assert got.dtype == np.float64
    # A metered zero stays 0; unmetered intervals (and a meter with no readings) are NaN.
    assert got[0, 0] == pytest.approx(0.0, abs=0)
    assert np.isnan(got[0, 1:3]).all()
    assert got[0, 3] == pytest.approx(2.0, abs=0)
    assert np.isnan(got[1]).all()


def test_dense_places_readings_across_midnight_utc(store: ReadingsStore) -> None:
    # 22:00 to 01:00 UTC at 15 min: 12 intervals straddling the UTC day boundary
    # (06:00–09:00 Beijing time, well inside one Shanghai day).
    start = pd.Timestamp("2025-03-09T22:00:00Z")
    grid = pd.date_range(start, periods=12, freq="15min")
    values = np.arange(1.0, 13.0)
    rows = pd.DataFrame({"meter_id": "m-dc", "start_utc": grid, "kwh": values})
    store.ingest(rows, received_utc=R1)

    got = store.dense(["m-dc"], start, start + pd.Timedelta(hours=3))
    np.testing.assert_allclose(got[0], values, atol=0)
    # Read from 23:30 only: the 23:30 reading (the 7th) lands in column 0; 00:00 in column 2.
    later = store.dense(
        ["m-dc"], pd.Timestamp("2025-03-09T23:30Z"), pd.Timestamp("2025-03-10T01:00Z")
    )
    np.testing.assert_allclose(later[0], values[6:], atol=0)
    assert later[0, 2] == pytest.approx(9.0, abs=0)  # the reading that starts at 00:00 UTC
    # Bounds given in Beijing time denote the same instants.
    beijing = store.dense(
        ["m-dc"],
        dt.datetime(2025, 3, 10, 6, 0, tzinfo=dt.timezone(dt.timedelta(hours=8))),
        dt.datetime(2025, 3, 10, 9, 0, tzinfo=dt.timezone(dt.timedelta(hours=8))),
    )
    np.testing.assert_allclose(beijing, got, atol=0)


def test_dense_keeps_the_requested_order_and_repeats(store: ReadingsStore) -> None:
    store.ingest(_rows(["m-pv", "m-dc"], [T0, T0], [7.0, 3.0]), received_utc=R1)
    got = store.dense(["m-dc", "m-pv", "m-dc"], T0, T0 + QUARTER)
    np.testing.assert_allclose(got[:, 0], [3.0, 7.0, 3.0], atol=0)
    assert store.dense([], T0, T0 + QUARTER).shape == (0, 1)


def test_dense_outside_the_window_is_ignored(store: ReadingsStore) -> None:
    starts = [T0 - QUARTER, T0, T0 + QUARTER]
    store.ingest(_rows(["m-dc"] * 3, starts, [1.0, 2.0, 3.0]), received_utc=R1)
    np.testing.assert_allclose(store.dense(["m-dc"], T0, T0 + QUARTER), [[2.0]], atol=0)


def test_dense_refuses_unknown_meters_and_bad_windows(store: ReadingsStore) -> None:
    with pytest.raises(NotFound, match="1 unknown meter id"):
        store.dense(["m-dc", "m-typo"], T0, T0 + QUARTER)
    with pytest.raises(TimeError, match="naive"):
        store.dense(["m-dc"], dt.datetime(2025, 1, 1), T0 + QUARTER)  # noqa: DTZ001
    with pytest.raises(TimeError, match="not aligned"):
        store.dense(["m-dc"], T0 + pd.Timedelta(minutes=5), T0 + QUARTER)
    with pytest.raises(TimeError, match="must be after"):
        store.dense(["m-dc"], T0, T0)


def test_dense_at_a_coarser_grid_refuses_finer_readings(store: ReadingsStore) -> None:
    store.ingest(_rows(["m-dc", "m-dc"], [T0, T0 + QUARTER], [1.0, 2.0]), received_utc=R1)
    # The 00:15 reading does not start on the hourly grid; summing silently could hide gaps.
    with pytest.raises(InputError, match="do not start on the 60-min grid"):
        store.dense(["m-dc"], T0, T0 + pd.Timedelta(hours=1), resolution_min=60)
    hourly = store.dense(["m-dc"], T0, T0 + pd.Timedelta(hours=1))
    assert np.isnan(hourly.reshape(1, -1, 4).sum(axis=2)).all()  # two quarters missing → NaN
