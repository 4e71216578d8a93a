"""Load kernels: data-center IT load and PUE, enterprise profiles, run-of-river hydro."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from suandian.energy.weather import ar1

__all__ = [
    "DataCenterLoad",
    "consumer_profile_mw",
    "data_center_load",
    "hydro_power_mw",
    "pue_from_ambient",
]

FloatArray = npt.NDArray[np.float64]


def pue_from_ambient(
    temp_air_c: FloatArray,
    *,
    pue_min: float,
    pue_max: float,
    t_free_cooling_c: float,
    t_full_cooling_c: float,
) -> FloatArray:
    """Power usage effectiveness as a function of ambient temperature. [-]

    Piecewise linear: ``pue_min`` while free cooling carries the heat (ambient at or below
    ``t_free_cooling_c``), rising linearly to ``pue_max`` at ``t_full_cooling_c`` as mechanical
    cooling takes over, flat above. The shape follows the economiser-hours reasoning of
    ASHRAE TC 9.9 (2011), "Thermal Guidelines for Data Processing Environments".
    """
    frac = np.clip(
        (temp_air_c - t_free_cooling_c) / (t_full_cooling_c - t_free_cooling_c), 0.0, 1.0
    )
    out: FloatArray = pue_min + (pue_max - pue_min) * frac
    return out


@dataclass(frozen=True)
class DataCenterLoad:
    it_fixed_mw: FloatArray
    """IT load that must run when it arrives."""
    it_deferrable_mw: FloatArray
    """IT load that may move within the deferral window; here as it arrives (uncoordinated)."""
    pue: FloatArray
    facility_mw: FloatArray
    """Whole-facility power drawn from the bus: (fixed + deferrable) × PUE."""


def data_center_load(
    local_hour_h: FloatArray,
    weekday: npt.NDArray[np.int64],
    pue: FloatArray,
    rng: np.random.Generator,
    *,
    it_capacity_mw: float,
    it_mean_mw: float,
    deferrable_share_pu: float,
    interval_h: float,
) -> DataCenterLoad:
    """IT load of a data center as it arrives, and its facility power.

    The fixed part (online services) follows a mild diurnal cycle (±4 %, evening peak) with slow
    noise; the deferrable part (training, batch) arrives mostly in working hours on weekdays
    (submitted by people) and is what a scheduler may move. Both are scaled so that the IT mean
    over the period is ``it_mean_mw`` and the IT total never exceeds ``it_capacity_mw``.
    """
    fixed_shape = 1.0 + 0.04 * np.cos(2.0 * np.pi * (local_hour_h - 20.0) / 24.0)
    fixed_shape *= 1.0 + 0.02 * ar1(local_hour_h.size, float(np.exp(-interval_h / 6.0)), rng)
    is_weekend = weekday >= 5
    batch_shape = (1.0 + 0.6 * np.cos(2.0 * np.pi * (local_hour_h - 14.0) / 24.0)) * np.where(
        is_weekend, 0.7, 1.12
    )
    batch_shape *= np.clip(1.0 + 0.15 * ar1(local_hour_h.size, 0.9, rng), 0.3, None)
    fixed = it_mean_mw * (1.0 - deferrable_share_pu) * fixed_shape / fixed_shape.mean()
    deferrable = it_mean_mw * deferrable_share_pu * batch_shape / batch_shape.mean()
    over = np.maximum(fixed + deferrable - it_capacity_mw, 0.0)
    deferrable = np.maximum(deferrable - over, 0.0)
    fixed = np.minimum(fixed, it_capacity_mw)
    return DataCenterLoad(
        it_fixed_mw=fixed,
        it_deferrable_mw=deferrable,
        pue=pue,
        facility_mw=(fixed + deferrable) * pue,
    )


def consumer_profile_mw(
    kind: str,
    local_hour_h: FloatArray,
    weekday: npt.NDArray[np.int64],
    month: npt.NDArray[np.int64],
    rng: np.random.Generator,
    *,
    mean_mw: float,
    interval_h: float,
) -> FloatArray:
    """Load profile of one enterprise by kind, scaled to ``mean_mw`` over the period. [MW]

    - ``polysilicon``: continuous furnaces, flat with slow process noise (±4 %);
    - ``battery``: cell and material lines on two shifts (08-24 h), lighter nights and weekends;
    - ``services``: offices and facilities, working-hour peak, electric heating in winter;
    - ``ev_charging``: morning and evening charging peaks, as sessions charge on arrival;
    - ``electrolyzer``: a hydrogen electrolyzer run flat at its mean (no daily shape, no noise:
      its daily energy is its mean × 24 h, which dispatch may move within the day);
    - ``other``: flat.
    """
    n = local_hour_h.size
    weekend = weekday >= 5
    slow = ar1(n, float(np.exp(-interval_h / 12.0)), rng)
    fast = ar1(n, float(np.exp(-interval_h / 1.0)), rng)
    if kind == "polysilicon":
        shape = 1.0 + 0.04 * slow + 0.01 * fast
    elif kind == "battery":
        shift = np.where((local_hour_h >= 8.0) & (local_hour_h < 24.0), 1.15, 0.7)
        shape = shift * np.where(weekend, 0.85, 1.0) * (1.0 + 0.05 * slow + 0.03 * fast)
    elif kind == "services":
        office = (local_hour_h >= 8.0) & (local_hour_h < 18.0) & ~weekend
        heating = np.where(np.isin(month, (11, 12, 1, 2, 3)), 1.2, 1.0)
        shape = np.where(office, 1.8, np.where(weekend, 0.6, 0.5)) * heating
        shape = shape * (1.0 + 0.08 * slow + 0.05 * fast)
    elif kind == "ev_charging":
        morning = np.exp(-0.5 * ((local_hour_h - 9.0) / 1.2) ** 2)
        evening = np.exp(-0.5 * ((local_hour_h - 19.5) / 1.8) ** 2)
        shape = 0.15 + morning + 1.3 * evening
        shape = shape * (1.0 + 0.15 * slow + 0.10 * fast)
    elif kind == "electrolyzer":
        shape = np.ones(n)
    elif kind == "other":
        shape = 1.0 + 0.03 * slow
    else:
        raise ValueError(
            f"kind {kind!r} has no load profile; use polysilicon, battery, services, "
            "ev_charging, electrolyzer or other"
        )
    shape = np.maximum(shape, 0.0)
    out: FloatArray = mean_mw * shape / shape.mean()
    return out


def hydro_power_mw(
    month: npt.NDArray[np.int64],
    *,
    capacity_mw: float,
    monthly_capacity_factor_pu: tuple[float, ...],
) -> FloatArray:
    """Run-of-river output: the month's capacity factor × capacity, flat within the month. [MW]"""
    out: FloatArray = capacity_mw * np.asarray(monthly_capacity_factor_pu)[month - 1]
    return out
