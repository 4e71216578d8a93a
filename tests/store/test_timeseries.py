import json

import duckdb
import numpy as np
import pandas as pd
import pytest

from suandian.core.errors import NotFound, StoreError
from suandian.store.timeseries import TimeseriesStore


def _frames(offset: float = 0.0) -> dict[str, pd.DataFrame]:
    idx = pd.date_range("2025-01-01T15:30Z", periods=4, freq="15min", name="start_utc")
    gen = pd.DataFrame({"pv-a": np.arange(4.0) + offset, "wind-a": np.ones(4)}, index=idx)
    weather = pd.DataFrame({"temp_air_c": [-5.0, -5.5, -6.0, -6.5]}, index=idx)
    return {"generation": gen, "weather/site": weather}


def test_round_trip_keeps_values_units_and_utc(tmp_path) -> None:
    with TimeseriesStore(tmp_path) as store:
        n = store.write_run(
            run_id="r1", scenario="x", frames=_frames(), summary={"a": 1}, resolution_min=15
        )
        assert n == 4 * 3
        back = store.read_series("r1", "generation")
        pd.testing.assert_frame_equal(
            back,
            _frames()["generation"],
            check_names=False,
            check_freq=False,
            check_index_type=False,
        )
        assert str(back.index.tz) == "UTC"
        runs = store.runs()
        assert list(runs["run_id"]) == ["r1"]
    con = duckdb.connect(str(tmp_path / TimeseriesStore.FILENAME), read_only=True)
    units = dict(con.execute("SELECT DISTINCT series, unit FROM sim_series").fetchall())
    end, summary = con.execute("SELECT end_utc, summary_json FROM sim_runs").fetchone()
    con.close()
    assert units == {"pv-a": "MW", "wind-a": "MW", "temp_air_c": "°C"}
    # The run covers [first start, last start + one interval).
    assert pd.Timestamp(end).tz_convert("UTC") == pd.Timestamp("2025-01-01T16:30Z")
    assert json.loads(summary) == {"a": 1}


def test_writing_the_same_run_again_replaces_it(tmp_path) -> None:
    with TimeseriesStore(tmp_path) as store:
        store.write_run(run_id="r1", scenario="x", frames=_frames(), summary={}, resolution_min=15)
        store.write_run(
            run_id="r1", scenario="x", frames=_frames(10.0), summary={}, resolution_min=15
        )
        back = store.read_series("r1", "generation")
        np.testing.assert_allclose(back["pv-a"], np.arange(4.0) + 10.0)
        assert len(store.runs()) == 1


def test_naive_frames_are_refused_and_nothing_is_written(tmp_path) -> None:
    naive = _frames()["generation"].tz_localize(None)
    with TimeseriesStore(tmp_path) as store:
        with pytest.raises(StoreError, match="tz-aware UTC"):
            store.write_run(
                run_id="bad",
                scenario="x",
                frames={"generation": naive},
                summary={},
                resolution_min=15,
            )
        assert store.runs().empty


def test_unknown_run_or_kind_is_not_found(tmp_path) -> None:
    with TimeseriesStore(tmp_path) as store:
        store.write_run(run_id="r1", scenario="x", frames=_frames(), summary={}, resolution_min=15)
        with pytest.raises(NotFound, match="stored runs: r1"):
            store.read_series("r2", "generation")


def test_unwritable_data_dir_is_a_clear_store_error(tmp_path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(StoreError, match="cannot open the time-series store"):
        TimeseriesStore(blocker / "data")
