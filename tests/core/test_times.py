import datetime as dt

import numpy as np
import pandas as pd
import pytest

from suandian.core.errors import TimeError
from suandian.core.times import (
    interval_grid,
    interval_hours,
    local_date_start_utc,
    local_day,
    local_hour,
    local_year_grid,
    parse_local_date,
    require_utc,
)


def test_year_has_35040_utc_intervals_starting_at_local_midnight() -> None:
    idx = local_year_grid(2025, 15)
    assert len(idx) == 35_040
    assert str(idx.tz) == "UTC"
    # 1 January 00:00 in Shanghai is 16:00 UTC on 31 December.
    assert idx[0] == pd.Timestamp("2024-12-31T16:00:00Z")
    assert idx[-1] == pd.Timestamp("2025-12-31T15:45:00Z")
    assert (idx[1:] - idx[:-1] == pd.Timedelta(minutes=15)).all()


def test_leap_year_has_one_more_day() -> None:
    assert len(local_year_grid(2024, 15)) == 366 * 96
    assert len(local_year_grid(2024, 60)) == 366 * 24


def test_local_day_changes_at_shanghai_midnight_not_utc_midnight() -> None:
    # 15:45 UTC is 23:45 in Shanghai; 16:00 UTC is 00:00 of the next local day.
    idx = pd.DatetimeIndex(
        ["2025-03-01T15:45Z", "2025-03-01T16:00Z", "2025-03-01T23:45Z", "2025-03-02T00:00Z"]
    )
    days = local_day(idx)
    assert [str(d) for d in days] == ["2025-03-01", "2025-03-02", "2025-03-02", "2025-03-02"]
    np.testing.assert_allclose(local_hour(idx), [23.75, 0.0, 7.75, 8.0])


def test_grouping_a_year_by_local_day_gives_whole_days() -> None:
    idx = local_year_grid(2025, 15)
    days, counts = np.unique(local_day(idx), return_counts=True)
    assert len(days) == 365
    assert (counts == 96).all()
    assert str(days[0]) == "2025-01-01" and str(days[-1]) == "2025-12-31"


def test_local_date_start_is_16h_utc_the_day_before() -> None:
    assert local_date_start_utc(dt.date(2025, 7, 1)) == pd.Timestamp("2025-06-30T16:00Z")


def test_naive_timestamps_are_rejected_with_the_fix() -> None:
    with pytest.raises(TimeError, match=r"start_utc: naive .*tz_localize\('UTC'\)"):
        require_utc(dt.datetime(2025, 1, 1), "start_utc")  # noqa: DTZ001 - the point of the test
    with pytest.raises(TimeError, match="naive"):
        local_day(pd.DatetimeIndex(["2025-01-01T00:00"]))


def test_require_utc_converts_offsets() -> None:
    ts = require_utc(pd.Timestamp("2025-01-01T08:00+08:00"), "t")
    assert ts == pd.Timestamp("2025-01-01T00:00Z")
    assert str(ts.tz) == "UTC"


def test_interval_grid_is_half_open_and_refuses_misaligned_start() -> None:
    grid = interval_grid(pd.Timestamp("2025-01-01T00:00Z"), pd.Timestamp("2025-01-01T01:00Z"), 15)
    assert len(grid) == 4
    assert grid[-1] == pd.Timestamp("2025-01-01T00:45Z")
    with pytest.raises(TimeError, match="not aligned to 15-min"):
        interval_grid(pd.Timestamp("2025-01-01T00:07Z"), pd.Timestamp("2025-01-01T01:00Z"), 15)
    with pytest.raises(TimeError, match="must be after"):
        interval_grid(pd.Timestamp("2025-01-01T01:00Z"), pd.Timestamp("2025-01-01T00:00Z"))


def test_interval_hours() -> None:
    assert interval_hours(15) == pytest.approx(0.25)
    with pytest.raises(TimeError, match="does not divide a day"):
        interval_hours(7)


def test_parse_local_date() -> None:
    assert parse_local_date("2025-06-21") == dt.date(2025, 6, 21)
    with pytest.raises(TimeError, match="YYYY-MM-DD"):
        parse_local_date("21/06/2025", "--start")
