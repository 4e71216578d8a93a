"""Synthetic site weather: day types (cloudiness), ambient temperature and a unit wind process.

The generator is a stochastic weather model, not a forecast: it reproduces the site's climate
(seasonal and diurnal cycles, persistence of weather, day-to-day anomalies) so that generation and
load are coherent with each other. Cloudiness sets both the clear-sky index for PV and the daily
temperature range; everything is deterministic for a given random generator.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.special import ndtr

__all__ = [
    "CLEAR",
    "OVERCAST",
    "PARTLY",
    "DayTypeClimate",
    "ambient_temperature_c",
    "ar1",
    "clear_sky_index",
    "day_types",
    "unit_wind",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

CLEAR, PARTLY, OVERCAST = 0, 1, 2

_DAYS_PER_YEAR = 365.25


@dataclass(frozen=True)
class DayTypeClimate:
    """Monthly shares of clear and overcast days and the day-to-day persistence."""

    p_clear_pu: tuple[float, ...]
    p_overcast_pu: tuple[float, ...]
    persistence_pu: float


def ar1(n: int, phi: float, rng: np.random.Generator) -> FloatArray:
    """Stationary AR(1) series with unit variance: ``x[t] = phi x[t-1] + sqrt(1-phi²) e[t]``.

    Computed with a linear filter rather than a Python loop.
    """
    from scipy.signal import lfilter

    if not 0.0 <= phi < 1.0:
        raise ValueError(f"phi must be in [0, 1) for a stationary AR(1), got {phi}")
    e = rng.standard_normal(n)
    e[0] /= np.sqrt(1.0 - phi**2)  # start in the stationary distribution
    out: FloatArray = lfilter([np.sqrt(1.0 - phi**2)], [1.0, -phi], e)
    return out


def day_types(day_month: IntArray, climate: DayTypeClimate, rng: np.random.Generator) -> IntArray:
    """Day type (CLEAR, PARTLY, OVERCAST) of each day from a per-month Markov chain.

    With probability ``persistence_pu`` a day repeats yesterday's type; otherwise its type is
    drawn from its month's shares. The transition matrix ``ρI + (1-ρ)·1πᵀ`` keeps π stationary,
    so the long-run shares equal the climate's shares while weather comes in spells.

    Parameters
    ----------
    day_month : array of int
        Calendar month (1-12) of each consecutive day.
    """
    p_clear = np.asarray(climate.p_clear_pu)[day_month - 1]
    p_over = np.asarray(climate.p_overcast_pu)[day_month - 1]
    draw = rng.random(day_month.size)
    fresh = np.where(draw < p_clear, CLEAR, np.where(draw < p_clear + p_over, OVERCAST, PARTLY))
    keep = rng.random(day_month.size) < climate.persistence_pu
    keep[0] = False
    # Index of the last fresh draw at or before each day: a kept day copies it.
    last_fresh = np.maximum.accumulate(np.where(keep, 0, np.arange(day_month.size)))
    return np.asarray(fresh[last_fresh], dtype=np.int64)


# Clear-sky index by day type: (mean, intra-day standard deviation, lag-1 autocorrelation per
# 15 min). Partly cloudy days are the variable ones; clear days stay near the clear sky.
_KT_PARAMS = {
    CLEAR: (0.98, 0.02, 0.5),
    PARTLY: (0.68, 0.20, 0.85),
    OVERCAST: (0.30, 0.08, 0.9),
}


def clear_sky_index(
    types_per_interval: IntArray, rng: np.random.Generator, steps_per_hour: int = 4
) -> FloatArray:
    """Raw clear-sky index (GHI over clear-sky GHI) of each interval, in ``[0.05, 1.05]``.

    Each day type has its own mean level and AR(1) intra-day variability; see ``_KT_PARAMS``.
    The calibration in :mod:`suandian.energy.solar` then scales the cloud deficit ``1 - kt``.
    """
    n = types_per_interval.size
    kt = np.empty(n)
    for kind, (mean, sd, phi15) in _KT_PARAMS.items():
        phi = phi15 ** (4.0 / steps_per_hour)
        mask = types_per_interval == kind
        kt[mask] = mean + sd * ar1(n, phi, rng)[mask]
    return np.clip(kt, 0.05, 1.05)


def ambient_temperature_c(
    doy: FloatArray,
    local_hour_h: FloatArray,
    day_index: IntArray,
    types_per_day: IntArray,
    rng: np.random.Generator,
    *,
    t_mean_c: float,
    t_seasonal_amplitude_c: float,
    t_coldest_day_of_year: int,
    t_diurnal_amplitude_c: float,
    t_warmest_local_hour_h: float,
    t_noise_sd_c: float,
) -> FloatArray:
    """Ambient air temperature. [°C]

    Seasonal cosine (coldest on ``t_coldest_day_of_year``) + diurnal cosine (warmest at
    ``t_warmest_local_hour_h``) whose amplitude depends on the day type (clear days swing wider,
    overcast days less) + a day-to-day AR(1) anomaly (lag-1 correlation 0.7 per day) interpolated
    smoothly across the day.

    Parameters
    ----------
    doy : array
        Local day of year with fraction, 1-based.
    local_hour_h : array
        Local clock time. [h]
    day_index : array of int
        Index of each interval's local day into ``types_per_day``.
    """
    seasonal = -t_seasonal_amplitude_c * np.cos(
        2.0 * np.pi * (doy - t_coldest_day_of_year) / _DAYS_PER_YEAR
    )
    swing = np.array([1.25, 1.0, 0.55])[types_per_day][day_index]
    diurnal = (
        t_diurnal_amplitude_c
        * swing
        * np.cos(2.0 * np.pi * (local_hour_h - t_warmest_local_hour_h) / 24.0)
    )
    n_days = types_per_day.size
    daily = t_noise_sd_c * ar1(n_days + 1, 0.7, rng)
    # Linear interpolation between daily anomalies keeps the temperature continuous at midnight.
    frac = local_hour_h / 24.0
    anomaly = daily[day_index] * (1.0 - frac) + daily[day_index + 1] * frac
    # Overcast days are a little cooler by day, clear nights colder: fold into the anomaly.
    anomaly += np.array([-0.5, 0.0, -1.0])[types_per_day][day_index]
    out: FloatArray = t_mean_c + seasonal + diurnal + anomaly
    return out


def unit_wind(
    doy: FloatArray,
    local_hour_h: FloatArray,
    rng: np.random.Generator,
    *,
    interval_h: float,
    weibull_k: float,
    seasonal_amplitude_pu: float,
    windiest_day_of_year: int,
    diurnal_amplitude_pu: float,
    windiest_local_hour_h: float,
    autocorrelation_time_h: float,
) -> FloatArray:
    """Wind speed with Weibull scale 1, before calibration to a site. [m/s per m/s of scale]

    A Gaussian AR(1) process with e-folding time ``autocorrelation_time_h`` is mapped through the
    normal CDF onto a Weibull(k, 1) marginal (a Gaussian copula, so autocorrelation survives the
    transform), then modulated by seasonal and diurnal cosines. Multiply by a Weibull scale
    ``c`` [m/s] to obtain hub-height speed.

    References
    ----------
    .. [1] Brown, B. G., Katz, R. W., Murphy, A. H. "Time series models to simulate and forecast
       wind speed and wind power", J. Climate Appl. Meteor. 23, 1184-1195, 1984.
    """
    phi = float(np.exp(-interval_h / autocorrelation_time_h))
    z = ar1(doy.size, phi, rng)
    u = np.clip(ndtr(z), 1e-12, 1.0 - 1e-12)
    w = (-np.log1p(-u)) ** (1.0 / weibull_k)
    modulation = (
        1.0
        + seasonal_amplitude_pu
        * np.cos(2.0 * np.pi * (doy - windiest_day_of_year) / _DAYS_PER_YEAR)
        + diurnal_amplitude_pu * np.cos(2.0 * np.pi * (local_hour_h - windiest_local_hour_h) / 24.0)
    )
    out: FloatArray = w * np.maximum(modulation, 0.05)
    return out
