"""Signals that jobs follow (grid carbon intensity, green surplus, tariff) and their forecasts.

Pure pieces only: reading a series from a file belongs to an adapter
(:mod:`suandian.sim.carbon_intensity`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from suandian.core.errors import InputError, TimeError

__all__ = ["Signal", "forecast_with_noise"]


@dataclass(frozen=True, eq=False)
class Signal:
    """A regular series of one quantity: ``values[t]`` holds over interval ``index_utc[t]``.

    ``index_utc`` is tz-aware UTC, evenly spaced, period-start; ``unit`` names the unit of the
    values (e.g. ``"gCO2/kWh"``).
    """

    index_utc: pd.DatetimeIndex
    values: npt.NDArray[np.float64]
    unit: str

    def __post_init__(self) -> None:
        index = self.index_utc
        if index.tz is None:
            raise TimeError(
                "index_utc is naive; localize it, e.g. index.tz_localize('UTC'), "
                "after checking the source's time zone"
            )
        index = index.tz_convert("UTC").as_unit("ns")
        object.__setattr__(self, "index_utc", index)
        values = np.asarray(self.values, dtype=np.float64)
        object.__setattr__(self, "values", values)
        if values.shape != (len(index),):
            raise InputError(
                f"values: shape {values.shape} does not match the {len(index)} intervals of "
                "index_utc; give one value per interval"
            )
        if len(index) < 2:
            raise InputError("index_utc: a signal needs at least two intervals")
        steps = np.diff(index.asi8)
        if (steps != steps[0]).any() or steps[0] <= 0:
            raise TimeError(
                "index_utc is not evenly spaced and increasing; resample it to one resolution "
                "and fill or drop gaps first"
            )
        if not np.isfinite(values).all():
            bad = int(np.flatnonzero(~np.isfinite(values))[0])
            raise InputError(f"values: not finite at {index[bad]}; fill the gap first")

    @property
    def step_min(self) -> int:
        """Resolution. [min]"""
        return int(np.diff(self.index_utc.asi8[:2])[0] // (60 * 10**9))

    @property
    def step_h(self) -> float:
        """Resolution. [h]"""
        return self.step_min / 60.0

    @property
    def start_utc(self) -> pd.Timestamp:
        """Start of the first interval."""
        return pd.Timestamp(self.index_utc[0])

    def with_values(self, values: npt.ArrayLike) -> Signal:
        """The same index with other values (e.g. a forecast of this signal)."""
        return Signal(self.index_utc, np.asarray(values, dtype=np.float64), self.unit)


def forecast_with_noise(
    values: npt.ArrayLike, error_pct_of_mean: float, rng: np.random.Generator
) -> npt.NDArray[np.float64]:
    """A synthetic forecast: the true series plus i.i.d. Gaussian noise.

    The noise's standard deviation is ``error_pct_of_mean`` % of the series mean, the forecast
    error model of Wiesner et al. [1]_ (0, 5 and 10 %).

    Parameters
    ----------
    values : array-like
        The true series.
    error_pct_of_mean : float
        Standard deviation of the error as a share of the series mean. [%]
    rng : numpy.random.Generator
        Source of the noise (seed it for reproducible runs).

    References
    ----------
    .. [1] Wiesner, P., Behnke, I., Scheinert, D., Gontarska, K., Thamsen, L. "Let's Wait
       Awhile: How Temporal Workload Shifting Can Reduce Carbon Emissions in the Cloud",
       ACM Middleware 2021, doi:10.1145/3464298.3493399.
    """
    truth = np.asarray(values, dtype=np.float64)
    if not (np.isfinite(error_pct_of_mean) and error_pct_of_mean >= 0):
        raise InputError(
            f"error_pct_of_mean must be a non-negative percentage (got {error_pct_of_mean})"
        )
    std = error_pct_of_mean / 100.0 * float(truth.mean())
    return truth + rng.normal(0.0, 1.0, truth.shape) * std
