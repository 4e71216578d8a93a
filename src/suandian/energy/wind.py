"""Wind farm output from a windpowerlib power curve and a calibrated hub-height wind speed."""

from __future__ import annotations

from functools import cache

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy.optimize import brentq
from windpowerlib import WindTurbine
from windpowerlib.density import ideal_gas
from windpowerlib.power_output import power_curve

from suandian.core.errors import InputError

__all__ = [
    "air_density_kg_per_m3",
    "calibrate_wind_scale",
    "farm_power_mw",
    "turbine_curve_pu",
]

FloatArray = npt.NDArray[np.float64]

# Fine speed grid on which the density-corrected curve is tabulated once. [m/s]
_SPEED_GRID = np.arange(0.0, 40.0001, 0.05)


def air_density_kg_per_m3(altitude_m: float, hub_height_m: float, temp_air_c: float) -> float:
    """Air density at hub height for a site altitude and mean air temperature. [kg m⁻³]

    Pressure at ground from the standard atmosphere, density by the ideal gas law at hub height
    (windpowerlib.density.ideal_gas, which carries pressure up with −1/8 hPa per metre).
    """
    pressure_pa = 101325.0 * (1.0 - 2.25577e-5 * altitude_m) ** 5.25588
    rho = ideal_gas(
        pd.Series([pressure_pa]),
        pressure_height=2.0,
        hub_height=hub_height_m,
        temperature_hub_height=pd.Series([temp_air_c + 273.15 - 0.0065 * hub_height_m]),
    )
    return float(rho.iloc[0])


@cache
def _curve(turbine_type: str, hub_height_m: float, density_kg_per_m3: float) -> FloatArray:
    turbine = WindTurbine(turbine_type=turbine_type, hub_height=hub_height_m)
    if turbine.power_curve is None:
        raise InputError(
            f"turbine_type {turbine_type!r} has no power curve in windpowerlib's library; "
            "choose a type with has_power_curve = True"
        )
    speeds = pd.Series(_SPEED_GRID)
    # Density correction after Svenningsen (2010), as implemented by windpowerlib.
    p_w = power_curve(
        speeds,
        turbine.power_curve["wind_speed"],
        turbine.power_curve["value"],
        density=pd.Series(np.full(_SPEED_GRID.size, density_kg_per_m3)),
        density_correction=True,
    )
    out: FloatArray = np.clip(np.asarray(p_w, dtype=np.float64) / turbine.nominal_power, 0.0, 1.0)
    out.flags.writeable = False
    return out


def turbine_curve_pu(
    turbine_type: str, hub_height_m: float, density_kg_per_m3: float
) -> tuple[FloatArray, FloatArray]:
    """Density-corrected power curve of one turbine type, per unit of its nominal power.

    Returns ``(speed_m_per_s, p_pu)`` on a 0.05 m/s grid; above the curve's last speed
    (cut-out) the output is zero.
    """
    return _SPEED_GRID, _curve(turbine_type, float(hub_height_m), round(density_kg_per_m3, 4))


def farm_power_mw(
    speed_m_per_s: FloatArray,
    curve: tuple[FloatArray, FloatArray],
    capacity_mw: float,
    farm_efficiency_pu: float,
) -> FloatArray:
    """Farm output: per-unit turbine curve × capacity × farm efficiency (wakes, availability)."""
    speeds, p_pu = curve
    out: FloatArray = (
        np.interp(speed_m_per_s, speeds, p_pu, right=0.0) * capacity_mw * farm_efficiency_pu
    )
    return out


def calibrate_wind_scale(
    unit_speed: FloatArray,
    curve: tuple[FloatArray, FloatArray],
    *,
    capacity_mw: float,
    farm_efficiency_pu: float,
    interval_h: float,
    target_full_load_h: float,
    days: float,
) -> tuple[float, FloatArray]:
    """Weibull scale ``c`` [m/s] that makes the farm's full-load hours hit the target.

    Speed is ``c × unit_speed``; ``c`` is found with Brent's method on the interval where output
    rises with ``c`` (below the scale at which cut-out starts to bite). The annual target is
    prorated to ``days``.

    Returns
    -------
    c, p_mw
        The scale and the farm's output. [m/s], [MW]
    """
    target = target_full_load_h * days / 365.0

    def flh(c: float) -> float:
        p = farm_power_mw(c * unit_speed, curve, capacity_mw, farm_efficiency_pu)
        return float(p.sum() * interval_h / capacity_mw)

    scales = np.linspace(0.5, 20.0, 79)
    yields = np.array([flh(c) for c in scales])
    best = int(np.argmax(yields))
    if target > yields[best]:
        raise InputError(
            f"target_full_load_h {target_full_load_h:g} h is more than this wind farm can yield "
            f"at any wind climate ({yields[best] * 365.0 / days:.0f} h); lower the target or "
            "raise farm_efficiency_pu"
        )
    low = int(np.searchsorted(yields[: best + 1], target))
    lo, hi = scales[max(low - 1, 0)], scales[min(low, best)]
    if flh(lo) >= target:
        return float(lo), farm_power_mw(lo * unit_speed, curve, capacity_mw, farm_efficiency_pu)
    c = float(brentq(lambda x: flh(x) - target, lo, hi, xtol=1e-5))
    return c, farm_power_mw(c * unit_speed, curve, capacity_mw, farm_efficiency_pu)
