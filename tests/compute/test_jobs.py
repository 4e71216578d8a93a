"""Job validation: bad input is refused with the job id, the field and the fix."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from suandian.compute.jobs import Job, JobTable, check_sites
from suandian.core.errors import InputError, TimeError

from .conftest import T0, at, job


def test_a_valid_job_keeps_its_fields_in_utc() -> None:
    j = job("j1", 2, 10, 4, power_mw=2.5, interruptible=True)
    assert j.release_utc == at(2)
    assert j.duration_h == pytest.approx(2.0)
    assert j.energy_mwh == pytest.approx(5.0)


def test_an_impossible_deadline_is_refused_with_the_earliest_possible_one() -> None:
    with pytest.raises(InputError, match=r"job 'j1': deadline_utc .* leaves 3 steps .* needs 4"):
        job("j1", 0, 3, 4)
    with pytest.raises(InputError, match=r"2020-01-01 02:00:00\+00:00 or later"):
        job("j1", 0, 3, 4)


@pytest.mark.parametrize("power_mw", [0.0, -1.0, float("nan")])
def test_non_positive_power_is_refused(power_mw: float) -> None:
    with pytest.raises(InputError, match=r"job 'j1': power_mw must be a positive number"):
        job("j1", 0, 8, 2, power_mw=power_mw)


def test_a_naive_release_is_refused_with_how_to_localise_it() -> None:
    with pytest.raises(TimeError, match=r"job 'j1': release_utc: naive .*tz_localize"):
        Job("j1", "t", 1.0, 2, dt.datetime(2020, 1, 1), at(8), allowed_sites=("a",))  # noqa: DTZ001


def test_empty_allowed_sites_and_unknown_sites_are_refused() -> None:
    with pytest.raises(InputError, match=r"job 'j1': allowed_sites is empty"):
        job("j1", 0, 8, 2, sites=())
    jobs = [job("j1", 0, 8, 2, sites=("a", "mars"))]
    with pytest.raises(InputError, match=r"job 'j1': allowed_sites names unknown site 'mars'"):
        check_sites(jobs, {"a", "b"})
    with pytest.raises(InputError, match=r"unknown site 'mars'"):
        JobTable.from_jobs(jobs, sites=("a", "b"))


def test_checkpoint_and_duration_must_be_at_least_one_step() -> None:
    with pytest.raises(InputError, match=r"job 'j1': checkpoint_steps must be at least 1"):
        job("j1", 0, 8, 2, checkpoint_steps=0)
    with pytest.raises(InputError, match=r"job 'j1': duration_steps must be at least 1"):
        job("j1", 0, 8, 0)


def test_off_grid_release_is_refused_with_the_nearest_grid_times() -> None:
    with pytest.raises(TimeError, match=r"not on the 30-min step grid; use .*00:00.* or .*00:30"):
        Job(
            "j1",
            "t",
            1.0,
            2,
            T0 + pd.Timedelta(minutes=10),
            at(8),
            allowed_sites=("a",),
            step_min=30,
        )


def test_job_table_from_jobs_matches_the_jobs() -> None:
    jobs = [
        job("j1", 0, 8, 2, sites=("a",)),
        job("j2", 1, 6, 3, interruptible=True, sites=("b", "a")),
    ]
    table = JobTable.from_jobs(jobs)
    assert table.sites == ("a", "b")
    assert table.allowed.tolist() == [[True, False], [True, True]]
    assert table.duration_steps.tolist() == [2, 3]
    release, deadline = table.window_steps(T0)
    assert release.tolist() == [0, 1]
    assert deadline.tolist() == [8, 6]
    assert table.row("j2") == 1


def test_job_table_validates_whole_columns_and_names_the_first_bad_job() -> None:
    n = 1000
    release = pd.date_range(T0, periods=n, freq="30min")
    duration = np.full(n, 4)
    deadline = release + pd.Timedelta(hours=2)
    duration[637] = 5
    with pytest.raises(InputError, match=r"job 'x637': deadline_utc"):
        JobTable.from_arrays(
            ids=[f"x{i}" for i in range(n)],
            power_mw=1.0,
            duration_steps=duration,
            release_utc=release,
            deadline_utc=deadline,
            sites=("a",),
            step_min=30,
        )


def test_job_table_refuses_naive_columns_and_duplicate_ids() -> None:
    naive = pd.date_range("2020-01-01", periods=2, freq="30min")
    common = {"power_mw": 1.0, "duration_steps": 1, "sites": ("a",), "step_min": 30}
    with pytest.raises(TimeError, match=r"release_utc: naive"):
        JobTable.from_arrays(
            ids=["a", "b"], release_utc=naive, deadline_utc=naive.tz_localize("UTC"), **common
        )
    aware = naive.tz_localize("UTC")
    with pytest.raises(InputError, match=r"job 'a': id used more than once"):
        JobTable.from_arrays(
            ids=["a", "a"], release_utc=aware, deadline_utc=aware + pd.Timedelta(hours=1), **common
        )
