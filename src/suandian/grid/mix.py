"""Modelled hourly generation mix and intensity of a grid zone.

Published emission factors are annual averages; attribution needs an hourly grid mix s_{k,t} and
an hourly location-based intensity (DESIGN §5, §7). Where no measured hourly mix is available,
:func:`zone_mix` builds one that is consistent with the published factor: its mean intensity over
the hours given equals the factor exactly. **This is a model, not measured data**; every view that
shows its output must say so (DESIGN §7).

Model
-----
Let ``e_f`` be the fossil factor and ``e*`` the published average. The mean fossil share is
``f̄ = e*/e_f`` and the mean clean share ``c̄ = 1 − f̄``, split among non-fossil sources by the
normalised weights ``w_k``.

1. *Solar* produces only in daylight: a cosine bell ``d_t = max(0, cos(π (h − 13) / (2 H_m)))``
   on the local clock hour ``h``, centred on 13:00 (solar noon on Beijing time over western and
   central China) with a half-day length ``H_m = 6 + cos(2π (m − 6) / 12)`` hours that is 7 h in
   June and 5 h in December (daylight 06–20 h in summer, 08–18 h in winter, 07–19 h at the
   equinoxes). Its share is ``s_t = min(α d_t, 1)`` with the scalar ``α`` solved in closed form
   so that ``mean(s) = c̄ w_solar``.
2. *Fossil* fills in when the sun is down: ``f_t = f̄ − λ (s_t − s̄)``, i.e. a fraction ``λ`` of
   the solar swing displaces fossil and the rest displaces the other non-fossil sources. ``λ`` is
   the largest value in ``[0, 1]`` that keeps ``f_t ≥ 0`` (``λ = min(1, f̄ / (max s − s̄))``);
   fossil is displaced first, as in a merit order.
3. *Other non-fossil sources* (wind, hydro, …) take the remainder ``1 − f_t − s_t`` in their
   relative split: flat, dipping at midday only when fossil has nothing left to give.

Then every hour's shares are non-negative and sum to one; the mean fossil share is ``f̄``, so the
mean intensity ``I_t = f_t e_f`` (non-fossil counted at 0, location-based) equals ``e*``; and the
mean share of every non-fossil source is ``c̄ w_k``. Means are unweighted over the hours given,
i.e. equal-length intervals and equal demand in each.

References
----------
.. [1] Ministry of Ecology and Environment and National Bureau of Statistics, announcement of the
   2023 electricity CO₂ emission factors (2025): national fossil-power factor 0.8273 kgCO₂/kWh.
.. [2] Google, "24/7 Carbon-Free Energy: Methodologies and Metrics", 2021: hourly grid mix and
   carbon-free share of grid supply.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from suandian.core.errors import InputError

__all__ = [
    "FOSSIL",
    "ZoneMix",
    "zone_mix",
]

FloatArray = npt.NDArray[np.float64]

FOSSIL = "fossil"
"""Name of the fossil column of :attr:`ZoneMix.sources` (always the first)."""

_SOLAR_NOON_H = 13.0
_HALF_DAY_MEAN_H = 6.0
_HALF_DAY_SWING_H = 1.0


@dataclass(frozen=True)
class ZoneMix:
    """Modelled hourly generation mix and location-based intensity of a grid zone.

    A model consistent with a published average factor, not measured data.
    """

    sources: tuple[str, ...]
    """Column names of :attr:`shares_pu`: ``"fossil"`` first, then the non-fossil sources in the
    order given."""
    shares_pu: FloatArray
    """Share of each source in the zone's supply, shape (T, K); every row sums to 1. [pu]"""
    intensity_kgco2_per_kwh: FloatArray
    """Location-based intensity, fossil share × fossil factor, shape (T,). [kgCO₂ kWh⁻¹]"""

    @property
    def clean_share_pu(self) -> FloatArray:
        """Non-fossil (carbon-free) share of supply, 1 − fossil share, shape (T,). [pu]"""
        out: FloatArray = 1.0 - self.shares_pu[:, 0]
        return out


def _daylight_shape(local_hour_h: FloatArray, month: FloatArray) -> FloatArray:
    """Relative solar output: a cosine bell around 13:00, wider in summer. [-]"""
    half_day_h = _HALF_DAY_MEAN_H + _HALF_DAY_SWING_H * np.cos(2.0 * np.pi * (month - 6.0) / 12.0)
    phase = np.pi * (local_hour_h - _SOLAR_NOON_H) / (2.0 * half_day_h)
    out: FloatArray = np.where(np.abs(phase) < np.pi / 2.0, np.cos(phase), 0.0)
    return out


def _capped_profile(shape: FloatArray, mean_pu: float) -> FloatArray:
    """``min(α shape, 1)`` with ``α`` such that its mean is ``mean_pu``.

    ``mean(min(α d, 1))`` is piecewise linear and increasing in ``α``; with the ``j`` largest
    values of ``d`` capped, ``α_j = (T·mean − j) / Σ_{i>j} d_(i)``, valid when it caps exactly
    those ``j``. The first valid ``j`` gives the solution without iteration.
    """
    n = shape.size
    d_desc = np.sort(shape)[::-1]
    tail = d_desc.sum() - np.concatenate(([0.0], np.cumsum(d_desc)))  # Σ_{i ≥ j} d_(i), j = 0..n
    j = np.arange(n + 1, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        alpha = (n * mean_pu - j) / tail
    tol = 1e-12
    caps_top = np.concatenate(([True], alpha[1:] * d_desc >= 1.0 - tol))
    spares_rest = np.concatenate((alpha[:-1] * d_desc <= 1.0 + tol, [True]))
    valid = (tail > 0.0) & (alpha > 0.0) & caps_top & spares_rest
    a = float(alpha[np.argmax(valid)])
    out: FloatArray = np.minimum(a * shape, 1.0)
    return out


def _check_inputs(
    hours: FloatArray,
    month: FloatArray,
    ef_target_kgco2_per_kwh: float,
    ef_fossil_kgco2_per_kwh: float,
    non_fossil_pu: Mapping[str, float],
) -> None:
    if hours.ndim != 1 or hours.size == 0:
        raise InputError(
            f"local_hour_h must be a non-empty 1-D array of local clock hours, got shape "
            f"{hours.shape}; pass one value per interval, "
            "e.g. suandian.core.times.local_hour(index)"
        )
    if month.shape != hours.shape:
        raise InputError(
            f"month must have the shape of local_hour_h {hours.shape}, got {month.shape}; "
            "pass the local calendar month (1–12) of each interval"
        )
    if not np.all(np.isfinite(hours)) or hours.min() < 0.0 or hours.max() >= 24.0:
        raise InputError(
            f"local_hour_h must be local clock hours in [0, 24) [h], saw values from "
            f"{np.nanmin(hours)} to {np.nanmax(hours)}; pass the Asia/Shanghai clock hour "
            "(suandian.core.times.local_hour), not hours since the start of the period"
        )
    if not np.all(np.isfinite(month)) or np.any(month != np.round(month)):
        raise InputError("month must be whole month numbers 1–12; saw non-integer values")
    if month.min() < 1 or month.max() > 12:
        raise InputError(
            f"month must be in 1–12, saw values from {int(month.min())} to {int(month.max())}; "
            "pass the local calendar month of each interval"
        )
    if not (np.isfinite(ef_fossil_kgco2_per_kwh) and ef_fossil_kgco2_per_kwh > 0.0):
        raise InputError(
            f"ef_fossil_kgco2_per_kwh must be a positive factor [kgCO₂/kWh], got "
            f"{ef_fossil_kgco2_per_kwh!r}; use the published fossil-power factor, e.g. "
            "emission_factor('cn-fossil-2023')"
        )
    if not (np.isfinite(ef_target_kgco2_per_kwh) and ef_target_kgco2_per_kwh >= 0.0):
        raise InputError(
            f"ef_target_kgco2_per_kwh must be a non-negative factor [kgCO₂/kWh], got "
            f"{ef_target_kgco2_per_kwh!r}; use the zone's published average factor"
        )
    if ef_target_kgco2_per_kwh > ef_fossil_kgco2_per_kwh:
        raise InputError(
            f"ef_target_kgco2_per_kwh {ef_target_kgco2_per_kwh} is above the fossil factor "
            f"{ef_fossil_kgco2_per_kwh} [kgCO₂/kWh]: with non-fossil sources counted at zero no "
            "mix can average above all-fossil supply; check that both factors are in kgCO₂/kWh "
            "or pass a higher ef_fossil_kgco2_per_kwh"
        )
    if not non_fossil_pu:
        raise InputError(
            "non_fossil_pu is empty; give the relative split of non-fossil generation, "
            "e.g. {'hydro': 0.45, 'solar': 0.35, 'wind': 0.20}"
        )
    if FOSSIL in non_fossil_pu:
        raise InputError(
            f"non_fossil_pu has a key {FOSSIL!r}, which names the fossil column; "
            "list only non-fossil sources (the fossil share follows from the factors)"
        )
    bad = {k: v for k, v in non_fossil_pu.items() if not (np.isfinite(v) and v >= 0.0)}
    if bad:
        raise InputError(
            f"non_fossil_pu shares must be finite and non-negative, got {bad}; "
            "give relative weights ≥ 0 (they are normalised to sum to 1)"
        )
    if sum(non_fossil_pu.values()) <= 0.0:
        raise InputError(
            f"non_fossil_pu shares sum to zero ({dict(non_fossil_pu)}); "
            "give at least one source a positive weight"
        )


def zone_mix(
    local_hour_h: np.ndarray,
    month: np.ndarray,
    *,
    ef_target_kgco2_per_kwh: float,
    non_fossil_pu: Mapping[str, float],
    ef_fossil_kgco2_per_kwh: float = 0.8273,
    solar_key: str = "solar",
) -> ZoneMix:
    """Hourly generation mix and intensity of a zone that averages to its published factor.

    A model, not measured data: see the module docstring for the construction. Solar follows a
    daylight bell, fossil fills in at night, the other non-fossil sources are flat unless fossil
    is exhausted at midday.

    Parameters
    ----------
    local_hour_h : np.ndarray
        Local (Asia/Shanghai) clock hour of each interval, shape (T,), in ``[0, 24)``. The mix is
        evaluated at that instant; pass interval midpoints for coarse intervals. [h]
    month : np.ndarray
        Local calendar month of each interval, shape (T,), 1–12. Sets the length of daylight. [-]
    ef_target_kgco2_per_kwh : float
        Published average factor of the zone; the mean of the returned intensity over the T
        intervals equals it. [kgCO₂ kWh⁻¹]
    non_fossil_pu : Mapping[str, float]
        Relative split of non-fossil generation by source, e.g.
        ``{"hydro": 0.45, "solar": 0.35, "wind": 0.20}``; normalised to sum to 1. [pu]
    ef_fossil_kgco2_per_kwh : float, default 0.8273
        Emission factor of fossil power (MEE/NBS national fossil-power factor 2023). [kgCO₂ kWh⁻¹]
    solar_key : str, default "solar"
        Key of ``non_fossil_pu`` that is solar and gets the daylight profile; if absent, every
        non-fossil source is treated as flat.

    Returns
    -------
    ZoneMix
        ``sources`` (``"fossil"`` then the keys of ``non_fossil_pu``), ``shares_pu`` (T, K) whose
        rows are ≥ 0 and sum to 1, and ``intensity_kgco2_per_kwh`` (T,).

    Raises
    ------
    InputError
        Mismatched or out-of-range hours and months; a target above the fossil factor; an empty
        split, negative weights or a ``"fossil"`` key; or a solar share larger than the
        fraction of daylight hours can carry.

    References
    ----------
    .. [1] Ministry of Ecology and Environment and National Bureau of Statistics, announcement of
       the 2023 electricity CO₂ emission factors (2025).
    """
    hours = np.asarray(local_hour_h, dtype=np.float64)
    months = np.asarray(month, dtype=np.float64)
    _check_inputs(hours, months, ef_target_kgco2_per_kwh, ef_fossil_kgco2_per_kwh, non_fossil_pu)

    keys = tuple(non_fossil_pu)
    weights = np.array([float(non_fossil_pu[k]) for k in keys])
    weights /= weights.sum()
    fossil_mean = float(np.clip(ef_target_kgco2_per_kwh / ef_fossil_kgco2_per_kwh, 0.0, 1.0))
    clean_mean = 1.0 - fossil_mean

    t = hours.size
    solar = np.zeros(t)
    is_solar = np.array([k == solar_key for k in keys])
    solar_mean = clean_mean * float(weights[is_solar].sum())
    if solar_mean > 0.0:
        daylight = _daylight_shape(hours, months)
        daylight_fraction = float(np.mean(daylight > 0.0))
        if solar_mean >= daylight_fraction * (1.0 - 1e-12):
            raise InputError(
                f"solar would need {solar_mean:.3f} of supply on average, but only "
                f"{daylight_fraction:.3f} of the hours given have daylight (06–20 h local in "
                "June, 08–18 h in December); lower the solar weight in non_fossil_pu, raise "
                "ef_target_kgco2_per_kwh, or pass hours that include daytime"
            )
        solar = _capped_profile(daylight, solar_mean)

    # Solar swing displaces fossil first (λ as large as keeps fossil ≥ 0), the rest displaces
    # the other non-fossil sources.
    solar_dev = solar - solar.mean()
    swing = float(solar_dev.max())
    lam = 1.0 if swing <= 0.0 else min(1.0, fossil_mean / swing)
    fossil = np.maximum(fossil_mean - lam * solar_dev, 0.0)
    others = np.maximum(1.0 - fossil - solar, 0.0)

    other_weight = float(weights[~is_solar].sum())
    shares = np.empty((t, 1 + len(keys)))
    shares[:, 0] = fossil
    for i, k in enumerate(keys):
        if k == solar_key:
            shares[:, 1 + i] = solar
        elif other_weight > 0.0:
            shares[:, 1 + i] = others * (weights[i] / other_weight)
        else:
            shares[:, 1 + i] = 0.0
    return ZoneMix(
        sources=(FOSSIL, *keys),
        shares_pu=shares,
        intensity_kgco2_per_kwh=fossil * ef_fossil_kgco2_per_kwh,
    )
