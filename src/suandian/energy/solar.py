"""PV plant output: pvlib clear sky and solar geometry, a cloud model, PVWatts DC and AC.

Chain per interval: solar position (NREL SPA, numpy) → Ineichen-Perez clear sky with the Linke
turbidity climatology and altitude that ship with pvlib → clear-sky index from the weather model
→ GHI → Erbs decomposition into DNI and DHI → Hay-Davies plane-of-array transposition → Faiman
cell temperature → PVWatts DC with temperature coefficient and system losses → PVWatts inverter
clipped at AC nameplate.

Irradiance is evaluated at the middle of each interval, so that its mean power over the
interval is represented, and labelled with the interval start.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd
import pvlib
from scipy.optimize import brentq

from suandian.core.errors import InputError

__all__ = [
    "ClearSky",
    "PvParameters",
    "calibrate_cloud_deficit",
    "clear_sky",
    "pv_ac_power_mw",
]

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class ClearSky:
    """Clear-sky irradiance and solar geometry at interval midpoints."""

    ghi_w_per_m2: FloatArray
    zenith_deg: FloatArray
    azimuth_deg: FloatArray
    dni_extra_w_per_m2: FloatArray
    doy: FloatArray


@dataclass(frozen=True)
class PvParameters:
    p_dc_mwp: float
    p_ac_mw: float
    tilt_deg: float
    azimuth_deg: float
    gamma_pdc_per_c: float
    losses_pct: float
    inverter_efficiency_pu: float


def clear_sky(
    index: pd.DatetimeIndex, lat_deg: float, lon_deg: float, altitude_m: float
) -> ClearSky:
    """Ineichen-Perez clear-sky GHI and the sun's position for each interval of ``index``.

    ``index`` holds UTC interval starts at a regular resolution; values are computed at the
    interval midpoints.

    References
    ----------
    .. [1] Ineichen, P., Perez, R. "A new airmass independent formulation for the Linke
       turbidity coefficient", Solar Energy 73(3), 151-157, 2002.
    .. [2] Reda, I., Andreas, A. "Solar position algorithm for solar radiation applications",
       Solar Energy 76(5), 577-590, 2004.
    """
    step = index[1] - index[0] if len(index) > 1 else pd.Timedelta(minutes=15)
    mid = index + step / 2
    pressure_pa = pvlib.atmosphere.alt2pres(altitude_m)
    solpos = pvlib.solarposition.get_solarposition(
        mid, lat_deg, lon_deg, altitude=altitude_m, pressure=pressure_pa, method="nrel_numpy"
    )
    # Monthly Linke turbidity climatology shipped with pvlib, interpolated to the day.
    linke = pvlib.clearsky.lookup_linke_turbidity(mid, lat_deg, lon_deg)
    airmass_rel = pvlib.atmosphere.get_relative_airmass(solpos["apparent_zenith"])
    airmass_abs = pvlib.atmosphere.get_absolute_airmass(airmass_rel, pressure_pa)
    dni_extra = pvlib.irradiance.get_extra_radiation(mid)
    cs = pvlib.clearsky.ineichen(
        solpos["apparent_zenith"], airmass_abs, linke, altitude=altitude_m, dni_extra=dni_extra
    )
    return ClearSky(
        ghi_w_per_m2=np.nan_to_num(np.asarray(cs["ghi"], dtype=np.float64)),
        zenith_deg=np.asarray(solpos["zenith"], dtype=np.float64),
        azimuth_deg=np.asarray(solpos["azimuth"], dtype=np.float64),
        dni_extra_w_per_m2=np.asarray(dni_extra, dtype=np.float64),
        doy=np.asarray(mid.day_of_year, dtype=np.float64),
    )


def pv_ac_power_mw(
    sky: ClearSky,
    kt: FloatArray,
    temp_air_c: FloatArray,
    wind_10m_m_per_s: FloatArray,
    pv: PvParameters,
) -> FloatArray:
    """AC output of a fixed-tilt PV plant for a given clear-sky index. [MW]

    Parameters
    ----------
    kt : array
        Clear-sky index, GHI over clear-sky GHI. [-]
    temp_air_c : array
        Ambient temperature. [°C]
    wind_10m_m_per_s : array
        Wind speed at 10 m for module cooling. [m/s]

    References
    ----------
    .. [1] Erbs, D. G., Klein, S. A., Duffie, J. A. "Estimation of the diffuse radiation fraction
       for hourly, daily and monthly-average global radiation", Solar Energy 28(4), 1982.
    .. [2] Hay, J. E., Davies, J. A. "Calculations of the solar radiation incident on an
       inclined surface", 1980.
    .. [3] Faiman, D. "Assessing the outdoor operating temperature of photovoltaic modules",
       Progress in Photovoltaics 16(4), 307-315, 2008.
    .. [4] Dobos, A. "PVWatts Version 5 Manual", NREL/TP-6A20-62641, 2014.
    """
    ghi = sky.ghi_w_per_m2 * kt
    decomposed = pvlib.irradiance.erbs(ghi, sky.zenith_deg, sky.doy)
    poa = pvlib.irradiance.get_total_irradiance(
        pv.tilt_deg,
        pv.azimuth_deg,
        sky.zenith_deg,
        sky.azimuth_deg,
        np.asarray(decomposed["dni"]),
        ghi,
        np.asarray(decomposed["dhi"]),
        dni_extra=sky.dni_extra_w_per_m2,
        model="haydavies",
    )
    poa_global = np.nan_to_num(np.asarray(poa["poa_global"], dtype=np.float64))
    temp_cell = pvlib.temperature.faiman(poa_global, temp_air_c, wind_10m_m_per_s)
    p_dc_w = pvlib.pvsystem.pvwatts_dc(poa_global, temp_cell, pv.p_dc_mwp * 1e6, pv.gamma_pdc_per_c)
    p_dc_w = np.asarray(p_dc_w, dtype=np.float64) * (1.0 - pv.losses_pct / 100.0)
    # The inverter's DC rating is chosen so that its AC limit equals the plant's AC nameplate.
    p_ac_w = pvlib.inverter.pvwatts(
        p_dc_w, pv.p_ac_mw * 1e6 / pv.inverter_efficiency_pu, eta_inv_nom=pv.inverter_efficiency_pu
    )
    out: FloatArray = np.clip(np.asarray(p_ac_w, dtype=np.float64) / 1e6, 0.0, pv.p_ac_mw)
    return out


def calibrate_cloud_deficit(
    sky: ClearSky,
    kt_raw: FloatArray,
    temp_air_c: FloatArray,
    wind_10m_m_per_s: FloatArray,
    pv: PvParameters,
    *,
    interval_h: float,
    target_full_load_h: float,
    days: float,
) -> tuple[float, FloatArray]:
    """Scale the cloud deficit so that the plant's full-load hours hit the target.

    The clear-sky index becomes ``kt = 1 - b (1 - kt_raw)``: ``b = 0`` is a year of clear skies,
    larger ``b`` deepens every cloud. ``b`` is solved with Brent's method (output falls
    monotonically as ``b`` grows). The target is annual: it is prorated to ``days``.

    Returns
    -------
    b, p_ac_mw
        The factor and the calibrated AC output. [-], [MW]
    """
    target = target_full_load_h * days / 365.0

    def flh(b: float) -> float:
        kt = np.clip(1.0 - b * (1.0 - kt_raw), 0.02, 1.05)
        p = pv_ac_power_mw(sky, kt, temp_air_c, wind_10m_m_per_s, pv)
        return float(p.sum() * interval_h / pv.p_dc_mwp)

    b_max = 3.0
    clear_flh, cloudy_flh = flh(0.0), flh(b_max)
    if target > clear_flh:
        raise InputError(
            f"target_full_load_h {target_full_load_h:g} h is more than this PV plant yields "
            f"under clear skies all year ({clear_flh * 365.0 / days:.0f} h); lower the target "
            "or check tilt, losses and dc_ac_ratio_pu"
        )
    if target < cloudy_flh:
        raise InputError(
            f"target_full_load_h {target_full_load_h:g} h is below what even a very cloudy year "
            f"yields ({cloudy_flh * 365.0 / days:.0f} h); raise the target"
        )
    b = float(brentq(lambda x: flh(x) - target, 0.0, b_max, xtol=1e-5))
    kt = np.clip(1.0 - b * (1.0 - kt_raw), 0.02, 1.05)
    return b, pv_ac_power_mw(sky, kt, temp_air_c, wind_10m_m_per_s, pv)
