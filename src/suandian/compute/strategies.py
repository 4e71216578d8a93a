"""Temporal placement of jobs on one site without capacity limits, and the emissions that result.

Each strategy chooses, for every job ``i`` with window ``[r_i, d_i)`` (steps) and duration
``k_i``, the set of steps ``S_i`` it runs in, from a forecast ``f`` of the grid's carbon
intensity; emissions are then counted on the true series ``c``:

    E = Σ_i p_i · Δt · Σ_{t∈S_i} c_t        [MW · h · gCO₂/kWh = kgCO₂]

* :func:`run_on_arrival` — ``S_i = {r_i, …, r_i + k_i − 1}`` (carbon-agnostic baseline).
* :func:`lwa_non_interrupting` — ``S_i = {s*, …, s* + k_i − 1}`` with
  ``s* = argmin_{r_i ≤ s ≤ d_i − k_i} Σ_{t=s}^{s+k_i−1} f_t`` (earliest on ties) [1]_.
* :func:`lwa_interrupting` — the ``k_i`` steps of ``[r_i, d_i)`` with the lowest ``f_t`` [1]_.
* :func:`denoised_interrupting` — as above on a denoised forecast ``f̂`` (:func:`denoise_forecast`).
* :func:`perfect_information` — :func:`lwa_interrupting` on the true series: without capacity
  limits each job's emissions separate, so this is the optimum and bounds every strategy.

The interrupting strategies pause only jobs that are interruptible with ``checkpoint_steps == 1``;
every other job runs contiguously in its best window. Everything is vectorised: sliding window
sums come from one cumulative sum, the ``k`` lowest steps from ``argpartition`` per duration.

References
----------
.. [1] Wiesner, P., Behnke, I., Scheinert, D., Gontarska, K., Thamsen, L. "Let's Wait Awhile:
   How Temporal Workload Shifting Can Reduce Carbon Emissions in the Cloud", ACM Middleware
   2021, doi:10.1145/3464298.3493399.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from suandian.compute.jobs import JobTable, Plan
from suandian.compute.signals import Signal
from suandian.core.errors import InputError

__all__ = [
    "Placement",
    "denoise_forecast",
    "denoised_interrupting",
    "emissions_kgco2",
    "lwa_interrupting",
    "lwa_non_interrupting",
    "perfect_information",
    "run_on_arrival",
]

_CELLS_PER_CHUNK = 4_000_000  # bounds the jobs × window matrices (≈ 32 MB of float64)
DAILY_LAGS = (-96, -48, 48, 96)  # ±1 and ±2 days at 30 min, the default of denoise_forecast


@dataclass(frozen=True, eq=False)
class Placement:
    """The steps each job runs in: job ``i`` runs in ``steps[offsets[i]:offsets[i + 1]]``.

    Steps count from the start of the signal the placement was made on, sorted within a job.
    """

    offsets: npt.NDArray[np.int64]
    steps: npt.NDArray[np.int64]

    def steps_of(self, i: int) -> npt.NDArray[np.int64]:
        """Steps of job ``i``, ascending."""
        return self.steps[self.offsets[i] : self.offsets[i + 1]]

    def to_plan(self, jobs: JobTable, *, site: str, grid: Signal) -> Plan:
        """The placement as a :class:`Plan` on ``site`` (every job there)."""
        counts = np.diff(self.offsets)
        return Plan(
            job_id=np.repeat(jobs.ids, counts),
            site=np.full(len(self.steps), site, dtype=object),
            step=self.steps.copy(),
            grid_start_utc=grid.start_utc,
            step_min=grid.step_min,
        )


def _windows(
    jobs: JobTable, grid: Signal
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    if jobs.step_min != grid.step_min:
        raise InputError(
            f"the jobs use {jobs.step_min}-min steps but the signal {grid.step_min}-min; "
            "resample the signal or rebuild the jobs on the same step"
        )
    release, deadline = jobs.window_steps(grid.start_utc)
    n_steps = len(grid.values)
    outside = (release < 0) | (deadline > n_steps)
    if outside.any():
        i = int(np.flatnonzero(outside)[0])
        raise InputError(
            f"job {jobs.ids[i]!r}: its window runs outside the signal "
            f"({grid.index_utc[0]} .. {grid.index_utc[-1]}); extend the signal to cover every "
            "job's release and deadline"
        )
    return release, deadline, jobs.duration_steps


def _row_chunks(width: int, n: int) -> list[slice]:
    """Row slices whose jobs × ``width`` matrices stay under ``_CELLS_PER_CHUNK`` cells."""
    size = max(1, _CELLS_PER_CHUNK // max(width, 1))
    return [slice(lo, lo + size) for lo in range(0, n, size)]


def _best_starts(
    release: npt.NDArray[np.int64],
    latest: npt.NDArray[np.int64],
    duration: npt.NDArray[np.int64],
    score: npt.NDArray[np.float64],
) -> npt.NDArray[np.int64]:
    """Per job, the start in ``[release, latest]`` with the lowest window sum (earliest on ties)."""
    cum = np.concatenate(([0.0], np.cumsum(score)))
    n_steps = len(score)
    width = int((latest - release).max()) + 1 if len(release) else 0
    starts = np.empty(len(release), dtype=np.int64)
    offsets = np.arange(width, dtype=np.int64)
    for rows in _row_chunks(width, len(release)):
        start = release[rows, None] + offsets[None, :]
        valid = start <= latest[rows, None]
        dur = duration[rows, None]
        start_c = np.minimum(start, n_steps - dur)
        sums = cum[start_c + dur] - cum[start_c]
        sums[~valid] = np.inf
        starts[rows] = release[rows] + np.argmin(sums, axis=1)
    return starts


def _contiguous(
    starts: npt.NDArray[np.int64], duration: npt.NDArray[np.int64]
) -> npt.NDArray[np.int64]:
    """Flat steps ``start, …, start + duration − 1`` of every job."""
    offsets = np.concatenate(([0], np.cumsum(duration)))
    within = np.arange(offsets[-1], dtype=np.int64) - np.repeat(offsets[:-1], duration)
    return np.asarray(np.repeat(starts, duration) + within, dtype=np.int64)


def _lowest_steps(
    release: npt.NDArray[np.int64],
    deadline: npt.NDArray[np.int64],
    k: int,
    score: npt.NDArray[np.float64],
) -> npt.NDArray[np.int64]:
    """Per job (all of duration ``k``), its ``k`` lowest-score steps in its window, ascending."""
    width = int((deadline - release).max())
    out = np.empty((len(release), k), dtype=np.int64)
    cols = np.arange(width, dtype=np.int64)
    for rows in _row_chunks(width, len(release)):
        step = release[rows, None] + cols[None, :]
        inside = step < deadline[rows, None]
        values = score[np.minimum(step, len(score) - 1)]
        values[~inside] = np.inf
        if k < width:
            pick = np.argpartition(values, k - 1, axis=1)[:, :k]
        else:
            pick = np.broadcast_to(cols[:k], (len(values), k))
        out[rows] = np.sort(np.take_along_axis(step, pick, axis=1), axis=1)
    return out


def _place(
    jobs: JobTable, grid: Signal, score: npt.NDArray[np.float64], *, interrupting: bool
) -> Placement:
    release, deadline, duration = _windows(jobs, grid)
    n = len(jobs)
    offsets = np.concatenate(([0], np.cumsum(duration))).astype(np.int64)
    steps = np.empty(int(offsets[-1]), dtype=np.int64)
    pause = (
        jobs.interruptible & (jobs.checkpoint_steps == 1)
        if interrupting
        else np.zeros(n, dtype=bool)
    )
    whole = np.flatnonzero(~pause)
    if len(whole):
        starts = _best_starts(
            release[whole], deadline[whole] - duration[whole], duration[whole], score
        )
        flat = _contiguous(starts, duration[whole])
        steps[_job_slots(offsets, whole, duration)] = flat
    split = np.flatnonzero(pause)
    for k in np.unique(duration[split]):
        group = split[duration[split] == k]
        chosen = _lowest_steps(release[group], deadline[group], int(k), score)
        steps[_job_slots(offsets, group, duration)] = chosen.ravel()
    return Placement(offsets=offsets, steps=steps)


def _job_slots(
    offsets: npt.NDArray[np.int64], rows: npt.NDArray[np.int64], duration: npt.NDArray[np.int64]
) -> npt.NDArray[np.int64]:
    """Positions in the flat step array that belong to ``rows``, row by row."""
    return _contiguous(offsets[rows], duration[rows])


def run_on_arrival(jobs: JobTable, grid: Signal) -> Placement:
    """Every job starts at its release and runs straight through (carbon-agnostic baseline)."""
    release, _, duration = _windows(jobs, grid)
    offsets = np.concatenate(([0], np.cumsum(duration))).astype(np.int64)
    return Placement(offsets=offsets, steps=_contiguous(release, duration))


def lwa_non_interrupting(jobs: JobTable, forecast: Signal) -> Placement:
    """Each job runs contiguously in the window of its duration with the lowest forecast mean [1]_.

    References
    ----------
    .. [1] Wiesner et al., "Let's Wait Awhile", ACM Middleware 2021, §5.
    """
    return _place(jobs, forecast, forecast.values, interrupting=False)


def lwa_interrupting(jobs: JobTable, forecast: Signal) -> Placement:
    """Each interruptible job runs in the ``duration`` lowest-forecast steps of its window [1]_.

    References
    ----------
    .. [1] Wiesner et al., "Let's Wait Awhile", ACM Middleware 2021, §5.
    """
    return _place(jobs, forecast, forecast.values, interrupting=True)


def perfect_information(jobs: JobTable, truth: Signal) -> Placement:
    """The optimum without capacity limits: the lowest *true* steps of each window.

    Jobs do not interact when capacity is unlimited, so minimising each job's own sum is
    optimal; for an interruptible job that sum is the ``k`` smallest values of its window.
    """
    return _place(jobs, truth, truth.values, interrupting=True)


def denoised_interrupting(jobs: JobTable, forecast: Signal, *, error_std: float) -> Placement:
    """:func:`lwa_interrupting` on :func:`denoise_forecast` of the forecast.

    ``error_std`` is the forecast's error standard deviation in the signal's unit, known from
    the forecaster's own validation (not from the true series).
    """
    per_day = 1440 // forecast.step_min
    score = denoise_forecast(
        forecast.values,
        error_std,
        local_lags=max(1, 240 // forecast.step_min),  # ±4 h
        extra_lags=(-2 * per_day, -per_day, per_day, 2 * per_day),  # same time ±1, ±2 days
    )
    return _place(jobs, forecast, score, interrupting=True)


def denoise_forecast(
    forecast: npt.ArrayLike,
    error_std: float,
    *,
    local_lags: int = 8,
    extra_lags: Sequence[int] = DAILY_LAGS,
) -> npt.NDArray[np.float64]:
    """Linear least-squares (Wiener) estimate of the true series from a noisy forecast.

    Model: ``y_t = x_t + e_t`` with ``e`` white noise of standard deviation ``error_std``,
    independent of ``x``. Then the autocovariance of ``x`` equals that of ``y`` at every lag
    except 0, where it is smaller by ``error_std²`` — so the forecast alone tells how much of
    its wiggle is signal. The estimate is ``x̂_t = ȳ + Σ_l w_l (y_{t+l} − ȳ)`` over the lags
    ``−local_lags … local_lags`` and ``extra_lags`` (by default the same time one and two days
    away: carbon intensity has a strong daily cycle), with ``w = C_yy⁻¹ c_xy``, the weights
    minimising the mean squared error [1]_. Ranking steps on ``x̂`` instead of ``y`` picks
    fewer steps that only look cheap because of noise. With ``error_std = 0`` it returns the
    forecast unchanged.

    Parameters
    ----------
    forecast : array-like
        The noisy forecast ``y``.
    error_std : float
        Standard deviation of its error, in the forecast's unit.

    References
    ----------
    .. [1] Wiener, N. "Extrapolation, Interpolation, and Smoothing of Stationary Time Series",
       MIT Press, 1949; finite-lag form as in Brockwell, P., Davis, R. "Introduction to Time
       Series and Forecasting", 3rd ed., Springer, 2016, §2.5.
    """
    y = np.asarray(forecast, dtype=np.float64)
    if error_std < 0 or not np.isfinite(error_std):
        raise InputError(f"error_std must be a non-negative number (got {error_std})")
    if error_std == 0:
        return y.copy()
    lags = np.array(
        sorted(set(range(-local_lags, local_lags + 1)) | set(extra_lags)), dtype=np.int64
    )
    if 2 * int(np.abs(lags).max()) >= len(y):
        raise InputError(
            f"forecast: {len(y)} steps are too few for lags up to {int(np.abs(lags).max())}; "
            "give a longer forecast or fewer lags"
        )
    mean = float(y.mean())
    yc = y - mean
    n = len(y)

    def autocov(lag: int) -> float:
        lag = abs(lag)
        return float(np.dot(yc[: n - lag], yc[lag:]) / n)

    diffs = lags[:, None] - lags[None, :]
    cov_yy = np.vectorize(autocov, otypes=[np.float64])(diffs)
    cov_xy = np.array([autocov(int(lag)) for lag in lags])
    cov_xy[lags == 0] -= error_std**2
    weights = np.linalg.solve(cov_yy, cov_xy)
    reach = int(np.abs(lags).max())
    padded = np.pad(yc, reach, mode="reflect")
    estimate = np.full(n, mean)
    for lag, weight in zip(lags, weights, strict=True):
        estimate += weight * padded[reach + lag : reach + lag + n]
    return estimate


def emissions_kgco2(jobs: JobTable, placement: Placement, truth: Signal) -> npt.NDArray[np.float64]:
    """Emissions of each job under ``placement``, counted on the true intensity. [kgCO₂]

    ``truth`` is in gCO₂/kWh, so MW × h × gCO₂/kWh = kgCO₂.
    """
    per_step = truth.values[placement.steps] * truth.step_h
    per_job = np.add.reduceat(per_step, placement.offsets[:-1])
    return np.asarray(per_job * jobs.power_mw, dtype=np.float64)
