"""Placement strategies: a worked case by hand, and the vectorised kernels against plain loops."""

from __future__ import annotations

import numpy as np
import pytest

from suandian.compute import strategies
from suandian.compute.jobs import JobTable
from suandian.compute.signals import forecast_with_noise
from suandian.compute.strategies import (
    denoise_forecast,
    denoised_interrupting,
    emissions_kgco2,
    lwa_interrupting,
    lwa_non_interrupting,
    perfect_information,
    run_on_arrival,
)
from suandian.compute.validate import check_plan
from suandian.core.errors import InputError

from .conftest import job, signal

# The worked case. Eight 30-min steps of true intensity (gCO2/kWh):
#   step    0  1  2  3  4  5  6  7
#   c       5  1  4  2  8  3  7  6
# Job A: window [0, 8), 3 steps, 2 MW, interruptible.
#   on arrival: {0,1,2} -> 5+1+4 = 10
#   non-interrupting: sums of 3 from s = 0..5 are 10, 7, 14, 13, 18, 16 -> s = 1, {1,2,3} = 7
#   interrupting: the 3 lowest are 1 (step 1), 2 (step 3), 3 (step 5) -> {1,3,5} = 6
# Job B: window [2, 6), 2 steps, 1 MW, not interruptible.
#   on arrival: {2,3} = 6; non-interrupting: sums from s = 2..4 are 6, 10, 11 -> {2,3} = 6;
#   the interrupting strategies keep it whole, so also {2,3}.
# Emissions = MW x 0.5 h x sum  (kgCO2).
TRUE = [5.0, 1.0, 4.0, 2.0, 8.0, 3.0, 7.0, 6.0]


@pytest.fixture
def worked() -> JobTable:
    return JobTable.from_jobs(
        [job("A", 0, 8, 3, power_mw=2.0, interruptible=True), job("B", 2, 6, 2)]
    )


def _steps(placement: strategies.Placement) -> list[list[int]]:
    return [placement.steps_of(i).tolist() for i in range(len(placement.offsets) - 1)]


def test_worked_case(worked: JobTable) -> None:
    truth = signal(TRUE)
    cases = {
        "arrival": (run_on_arrival(worked, truth), [[0, 1, 2], [2, 3]], [10.0, 3.0]),
        "lwa_non": (lwa_non_interrupting(worked, truth), [[1, 2, 3], [2, 3]], [7.0, 3.0]),
        "lwa_int": (lwa_interrupting(worked, truth), [[1, 3, 5], [2, 3]], [6.0, 3.0]),
        "bound": (perfect_information(worked, truth), [[1, 3, 5], [2, 3]], [6.0, 3.0]),
        "ours_0": (
            denoised_interrupting(worked, truth, error_std=0.0),
            [[1, 3, 5], [2, 3]],
            [6.0, 3.0],
        ),
    }
    for name, (placement, steps, kg) in cases.items():
        assert _steps(placement) == steps, name
        np.testing.assert_allclose(emissions_kgco2(worked, placement, truth), kg, atol=1e-12)
        assert check_plan(worked, placement.to_plan(worked, site="a", grid=truth)) == [], name


def test_a_misleading_forecast_costs_emissions_counted_on_the_truth(worked: JobTable) -> None:
    # Step 4 is forecast at 0 but really 8: LWA interrupting picks {1,3,4} -> 1+2+8 = 11 for A.
    truth = signal(TRUE)
    forecast = signal([5.0, 1.0, 4.0, 2.0, 0.0, 3.0, 7.0, 6.0])
    placement = lwa_interrupting(worked, forecast)
    assert placement.steps_of(0).tolist() == [1, 3, 4]
    assert emissions_kgco2(worked, placement, truth)[0] == pytest.approx(2.0 * 0.5 * 11.0)


def test_ties_go_to_the_earliest_window() -> None:
    table = JobTable.from_jobs([job("A", 0, 6, 2)])
    assert lwa_non_interrupting(table, signal([3, 1, 1, 3, 1, 1])).steps_of(0).tolist() == [1, 2]


def test_a_window_outside_the_signal_is_refused(worked: JobTable) -> None:
    with pytest.raises(InputError, match=r"job 'A': its window runs outside the signal"):
        lwa_interrupting(worked, signal(TRUE[:6]))


def _naive(
    release: np.ndarray, deadline: np.ndarray, duration: np.ndarray, score: np.ndarray
) -> tuple[list[list[int]], list[list[int]]]:
    """Plain loops: best contiguous window (earliest on ties) and the k lowest steps."""
    contiguous, lowest = [], []
    for r, d, k in zip(release, deadline, duration, strict=True):
        sums = [sum(score[s : s + k]) for s in range(r, d - k + 1)]
        best = r + min(range(len(sums)), key=lambda i: (sums[i], i))
        contiguous.append(list(range(best, best + k)))
        lowest.append(sorted(sorted(range(r, d), key=lambda t: score[t])[:k]))
    return contiguous, lowest


@pytest.mark.parametrize("seed", range(8))
def test_vectorised_equals_naive_loops(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(strategies, "_CELLS_PER_CHUNK", 37)  # force several chunks
    rng = np.random.default_rng(seed)
    n_steps, n = 80, 40
    score = rng.uniform(0, 100, n_steps)  # continuous: no ties
    duration = rng.integers(1, 12, n)
    release = rng.integers(0, n_steps - 12, n)
    deadline = np.minimum(release + duration + rng.integers(0, 30, n), n_steps)
    interruptible = rng.random(n) < 0.7
    jobs = JobTable.from_jobs(
        [
            job(f"j{i}", int(r), int(d), int(k), interruptible=bool(b))
            for i, (r, d, k, b) in enumerate(
                zip(release, deadline, duration, interruptible, strict=True)
            )
        ]
    )
    grid = signal(score)
    contiguous, lowest = _naive(release, deadline, duration, score)
    assert _steps(lwa_non_interrupting(jobs, grid)) == contiguous
    expected = [
        low if b else whole for low, whole, b in zip(lowest, contiguous, interruptible, strict=True)
    ]
    assert _steps(lwa_interrupting(jobs, grid)) == expected
    for placement in (lwa_interrupting(jobs, grid), run_on_arrival(jobs, grid)):
        assert check_plan(jobs, placement.to_plan(jobs, site="a", grid=grid)) == []


def test_coarse_checkpoints_run_whole() -> None:
    table = JobTable.from_jobs([job("A", 0, 8, 3, interruptible=True, checkpoint_steps=2)])
    # Not split: placed like the non-interrupting strategy, {1,2,3}.
    assert lwa_interrupting(table, signal(TRUE)).steps_of(0).tolist() == [1, 2, 3]


def test_denoising_is_the_identity_without_error_and_lowers_the_error_with_it() -> None:
    rng = np.random.default_rng(1)
    t = np.arange(48 * 60)
    truth = 300 + 80 * np.sin(2 * np.pi * t / 48) + 40 * np.sin(2 * np.pi * t / 500)
    np.testing.assert_array_equal(denoise_forecast(truth, 0.0), truth)
    noisy = forecast_with_noise(truth, 10.0, rng)
    clean = denoise_forecast(noisy, 0.1 * truth.mean())
    rmse_noisy = np.sqrt(np.mean((noisy - truth) ** 2))
    rmse_clean = np.sqrt(np.mean((clean - truth) ** 2))
    assert rmse_noisy == pytest.approx(30.0, rel=0.05)
    assert rmse_clean < 0.5 * rmse_noisy


def test_forecast_noise_has_the_stated_spread() -> None:
    truth = np.full(100_000, 200.0)
    noisy = forecast_with_noise(truth, 5.0, np.random.default_rng(0))
    assert np.std(noisy - truth) == pytest.approx(10.0, rel=0.02)
    np.testing.assert_array_equal(forecast_with_noise(truth, 0.0, np.random.default_rng(0)), truth)
