"""On a slice of the real German 2020 series: the adapter, and LWA against the bound and ours."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from suandian.compute.jobs import JobTable
from suandian.compute.signals import forecast_with_noise
from suandian.compute.strategies import (
    denoised_interrupting,
    emissions_kgco2,
    lwa_interrupting,
    lwa_non_interrupting,
    perfect_information,
    run_on_arrival,
)
from suandian.compute.validate import check_plan
from suandian.core.errors import NotFound, TimeError
from suandian.sim.carbon_intensity import load_carbon_intensity

START = pd.Timestamp("2020-01-01", tz="UTC")
END = pd.Timestamp("2020-02-15", tz="UTC")

DATA = Path(__file__).resolve().parent / "data"
"""January–April 2020 of the German series (see data/carbon-intensity-2020/README.md)."""


def test_the_german_file_is_thinned_to_30_min_utc() -> None:
    truth = load_carbon_intensity("de", start_utc=START, end_utc=END, data_dir=DATA)
    assert truth.step_min == 30
    assert str(truth.index_utc.tz) == "UTC"
    assert len(truth.values) == 45 * 48
    # From ger_ci.csv: 2019-12-20 00:00 is 218.29...; 2020-01-01 00:30 must be that row, not 00:15.
    raw = pd.read_csv(DATA / "carbon-intensity-2020" / "ger_ci.csv")
    row = raw.loc[raw["Time"] == "2020-01-01 00:30:00", "Carbon Intensity"].item()
    assert truth.values[1] == pytest.approx(row, abs=1e-12)


def test_a_missing_data_directory_says_where_to_point(tmp_path: object) -> None:
    with pytest.raises(NotFound, match=r"set SUANDIAN_SHARED_DATA"):
        load_carbon_intensity("de", start_utc=START, end_utc=END, data_dir=str(tmp_path))
    with pytest.raises(TimeError, match=r"naive"):
        load_carbon_intensity("de", start_utc=START.tz_localize(None), end_utc=END)


def test_lwa_interrupting_without_error_is_the_bound_and_ours_is_never_worse() -> None:
    truth = load_carbon_intensity("de", start_utc=START, end_utc=END, data_dir=DATA)
    rng = np.random.default_rng(7)
    n = 300
    release = START + pd.to_timedelta(rng.integers(0, 30 * 48, n) * 30, unit="min")
    duration = rng.integers(8, 181, n)
    slack = rng.integers(0, 200, n)
    jobs = JobTable.from_arrays(
        ids=[f"j{i}" for i in range(n)],
        power_mw=1.0,
        duration_steps=duration,
        release_utc=release,
        deadline_utc=release + pd.to_timedelta((duration + slack) * 30, unit="min"),
        sites=("dc",),
        interruptible=True,
        step_min=30,
    )

    def total(placement: object) -> float:
        return float(emissions_kgco2(jobs, placement, truth).sum())  # type: ignore[arg-type]

    bound = total(perfect_information(jobs, truth))
    assert total(lwa_interrupting(jobs, truth)) == pytest.approx(bound, rel=1e-12)
    assert total(denoised_interrupting(jobs, truth, error_std=0.0)) == pytest.approx(
        bound, rel=1e-12
    )
    assert bound < total(lwa_non_interrupting(jobs, truth)) < total(run_on_arrival(jobs, truth))

    error_std = 0.10 * float(truth.values.mean())
    ours, lwa_int, lwa_non = [], [], []
    for seed in range(2):
        forecast = truth.with_values(
            forecast_with_noise(truth.values, 10.0, np.random.default_rng(seed))
        )
        placement = denoised_interrupting(jobs, forecast, error_std=error_std)
        assert check_plan(jobs, placement.to_plan(jobs, site="dc", grid=truth)) == []
        ours.append(total(placement))
        lwa_int.append(total(lwa_interrupting(jobs, forecast)))
        lwa_non.append(total(lwa_non_interrupting(jobs, forecast)))
    assert bound <= np.mean(ours) <= min(np.mean(lwa_int), np.mean(lwa_non))
