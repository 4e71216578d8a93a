"""Day-ahead forecasts of a site's generation and fixed load, with realistic error.

The planner of the closed loop (:mod:`suandian.sim.closed_loop`) sees forecasts; the realised
series settle. A forecast here is the realised series plus an error that is

- **autocorrelated** in time: an AR(1) process, ``phi`` per hour (a cloud band or a wind ramp
  that the weather model misplaces is wrong for hours, not for one interval), from
  :func:`suandian.energy.weather.ar1`;
- **scaled to what can go wrong**: for PV an additive error whose standard deviation is
  ``pv_pu`` × the plant's AC rating × the site's clear-sky irradiance over 1,000 W m⁻² (no error
  at night, the largest at noon on a clear day); for wind ``wind_pu`` × the farm's rating at
  every hour; for hydro ``hydro_pu`` × its rating; for the fixed load a relative error of
  ``load_pu``;
- **physical**: clipped to [0, rating] (load ≥ 0).

The defaults are of the size published for day-ahead forecasts of single plants: PV RMSE about
10 % of capacity over daylight hours [1]_, wind 10–20 % of capacity [2]_, and 1–3 % for the
load of a large site. One forecast per interval is used for every look-ahead (the error does
not grow with lead time within a 48 h window): a simplification that favours the planner
slightly. The error stream is seeded by the scenario's seed and the site, so runs repeat.

References
----------
.. [1] Antonanzas, J., Osorio, N., Escobar, R., Urraca, R., Martinez-de-Pison, F. J.,
   Antonanzas-Torres, F. "Review of photovoltaic power forecasting", Solar Energy 136 (2016)
   78–111, doi:10.1016/j.solener.2016.06.069.
.. [2] Hodge, B.-M., Lew, D., Milligan, M., et al. "Wind Power Forecasting Error
   Distributions: An International Comparison", 11th International Workshop on Large-Scale
   Integration of Wind Power, Lisbon, 2012, NREL/CP-5500-56130.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from suandian.core.errors import InputError
from suandian.dispatch import DispatchInputs, Forecast
from suandian.energy.weather import ar1
from suandian.scenario.model import Park
from suandian.sim.park import ParkSeries

__all__ = ["DEFAULT_FORECAST_ERROR", "PERFECT_FORECAST", "ForecastError", "site_forecast"]

FloatArray = npt.NDArray[np.float64]

_GHI_REFERENCE_W_PER_M2 = 1000.0


@dataclass(frozen=True)
class ForecastError:
    """Size and persistence of the forecast error (see the module docstring)."""

    pv_pu: float = 0.10
    """Standard deviation of the PV error at 1,000 W m⁻² clear-sky irradiance. [pu of AC MW]"""
    wind_pu: float = 0.15
    """Standard deviation of the wind error. [pu of rated MW]"""
    hydro_pu: float = 0.05
    """Standard deviation of the hydro error. [pu of rated MW]"""
    load_pu: float = 0.02
    """Standard deviation of the fixed load's relative error. [pu]"""
    phi_per_h: float = 0.8
    """Lag-one-hour autocorrelation of every error."""

    def __post_init__(self) -> None:
        for name in ("pv_pu", "wind_pu", "hydro_pu", "load_pu"):
            value = getattr(self, name)
            if not (np.isfinite(value) and 0.0 <= value <= 1.0):
                raise InputError(f"ForecastError.{name}: {value!r}; use a share from 0 to 1")
        if not 0.0 <= self.phi_per_h < 1.0:
            raise InputError(
                f"ForecastError.phi_per_h: {self.phi_per_h!r}; use 0 ≤ phi < 1 (a stationary "
                "AR(1) error)"
            )

    @property
    def perfect(self) -> bool:
        return self.pv_pu == self.wind_pu == self.hydro_pu == self.load_pu == 0.0


DEFAULT_FORECAST_ERROR = ForecastError()

PERFECT_FORECAST = ForecastError(0.0, 0.0, 0.0, 0.0)


def site_forecast(
    park: Park,
    series: ParkSeries,
    inputs: DispatchInputs,
    *,
    site: str,
    error: ForecastError = DEFAULT_FORECAST_ERROR,
) -> Forecast:
    """A forecast of ``inputs``' available output and fixed load (see the module docstring).

    Parameters
    ----------
    park : Park
    series : ParkSeries
        The simulation ``inputs`` were made from (its clear-sky irradiance shapes the PV error).
    inputs : DispatchInputs
        One site's realised dispatch inputs (:func:`suandian.sim.dispatch_inputs.dispatch_inputs`).
    site : str
        The site of ``inputs``.
    error : ForecastError
        Size of the error; :data:`PERFECT_FORECAST` returns the realised values.
    """
    available = inputs.available_mw
    load = np.asarray(inputs.load_mw, dtype=np.float64)
    if error.perfect:
        return Forecast(available_mw=available.copy(), load_mw=load.copy())
    n_t = inputs.n_steps
    k = len(series.index) // n_t
    if k < 1 or k * n_t != len(series.index):
        raise InputError(
            f"site_forecast: {n_t} dispatch intervals do not divide the {len(series.index)} "
            "simulated ones; make the inputs from this series"
        )
    ghi = series.weather[site]["ghi_clear_w_per_m2"].to_numpy(dtype=np.float64)
    clear_pu = ghi.reshape(n_t, k).mean(axis=1) / _GHI_REFERENCE_W_PER_M2
    phi = error.phi_per_h**inputs.interval_h
    rating = {p.id: p.p_ac_mw for p in park.pv_plants}
    rating |= {w.id: w.capacity_mw for w in park.wind_farms}
    rating |= {h.id: h.capacity_mw for h in park.hydro_plants}
    out = np.empty_like(available)
    for j, g in enumerate(inputs.generators):
        cap = rating.get(g.name, float(available[j].max(initial=0.0)))
        if g.source == "pv":
            scale = error.pv_pu * cap * clear_pu
        elif g.source == "wind":
            scale = np.full(n_t, error.wind_pu * cap)
        else:
            scale = np.full(n_t, error.hydro_pu * cap)
        noise = ar1(n_t, phi, _rng(park.seed, f"forecast/{site}/{g.name}"))
        out[j] = np.clip(available[j] + scale * noise, 0.0, max(cap, float(available[j].max())))
    noise = ar1(n_t, phi, _rng(park.seed, f"forecast/{site}/load"))
    fixed = np.maximum(load * (1.0 + error.load_pu * noise), 0.0)
    return Forecast(available_mw=out, load_mw=fixed)


def _rng(seed: int, key: str) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, zlib.crc32(key.encode())]))
