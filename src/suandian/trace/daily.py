"""Daily green-power metrics per consumer from an attribution (DESIGN §5).

Per consumer c and local day d, from the interval attribution:

- kWh by source category (on-site, storage-by-source, grid-by-source);
- matched on-site green M = direct + on-site pool + storage of on-site origin;
  hourly-matched green share HM = Σ M / Σ L;
- CFE = Σ (M + clean part of the grid residual, storage charged from the grid included) / Σ L
  (the 24/7 carbon-free-energy score; excess never counts);
- location-based emissions E_LB = Σ_t L_t · EF_loc(t);
- market-based emissions E_MB = Σ R · EF_residual + Σ M_k · EF_k (EF_k = 0 for direct
  accounting, or the lifecycle factor of source k);
- avoided emissions ΔE = Σ M_k · (EF_ref − EF_k), always reported with the reference named.

Days are whole Asia/Shanghai days: the caller passes intervals ``T = days × per_day`` starting
at local midnight, so a day is a reshape, not a group-by.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from suandian.core.errors import InputError
from suandian.trace.attribution import ParkAttribution

__all__ = ["DailyTrace", "Factors", "daily_trace"]

FloatArray = npt.NDArray[np.float64]

_CHUNK = 1024
"""Consumers per batch: bounds temporary memory at a few hundred MB for a year."""


@dataclass(frozen=True)
class Factors:
    """Emission factors for one report. [kgCO₂/kWh]"""

    location_kgco2_per_kwh: FloatArray
    """(T,) the zone's intensity per interval (location-based)."""
    residual_kgco2_per_kwh: float
    """Applied to grid energy not covered by certificates (market-based)."""
    reference_kgco2_per_kwh: float
    """EF_ref for avoided emissions."""
    reference_name: str
    source_kgco2_per_kwh: Mapping[str, float]
    """EF of each on-site source: 0 (direct accounting) or lifecycle."""
    clean_grid_sources: frozenset[str]
    """Grid sources that count as carbon-free for CFE."""


@dataclass(frozen=True)
class DailyTrace:
    """Daily metrics, arrays (C, D) unless noted. Energies in kWh, emissions in kgCO₂."""

    categories: tuple[str, ...]
    category_kwh: FloatArray
    """(C, D, K)"""
    load_kwh: FloatArray
    """Known load (missing intervals excluded)."""
    direct_kwh: FloatArray
    matched_kwh: FloatArray
    clean_kwh: FloatArray
    grid_kwh: FloatArray
    """Grid residual R, storage charged from the grid included."""
    emissions_location_kgco2: FloatArray
    emissions_market_kgco2: FloatArray
    avoided_kgco2: FloatArray
    reference_name: str
    reference_kgco2_per_kwh: float

    def share(self, numerator: FloatArray) -> FloatArray:
        """``numerator / load`` with NaN where the load is zero or unknown."""
        out = np.full(self.load_kwh.shape, np.nan)
        np.divide(numerator, self.load_kwh, out=out, where=self.load_kwh > 0)
        return out


def _split_categories(
    park: ParkAttribution, factors: Factors
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray, FloatArray]:
    """Per-category weights: matched, clean, grid, market EF of matched, avoided per kWh."""
    k = len(park.categories)
    matched = np.zeros(k)
    clean = np.zeros(k)
    grid = np.zeros(k)
    ef_matched = np.zeros(k)
    avoided = np.zeros(k)
    onsite = set(park.onsite_sources)
    for i, name in enumerate(park.categories):
        kind, _, src = name.partition("_")
        if kind in ("onsite", "storage") and src in onsite:
            ef = float(factors.source_kgco2_per_kwh.get(src, 0.0))
            matched[i] = clean[i] = 1.0
            ef_matched[i] = ef
            avoided[i] = factors.reference_kgco2_per_kwh - ef
        else:
            grid_src = src.removeprefix("grid_") if kind == "storage" else src
            grid[i] = 1.0
            clean[i] = 1.0 if grid_src in factors.clean_grid_sources else 0.0
    return matched, clean, grid, ef_matched, avoided


def daily_trace(
    load_kwh: npt.ArrayLike,
    park: ParkAttribution,
    factors: Factors,
    *,
    per_day: int,
    contract_rows: Sequence[int] = (),
) -> DailyTrace:
    """Daily metrics of consumers from the park pass.

    Parameters
    ----------
    load_kwh : (C, T)
        Consumers' loads at the attribution resolution; NaN for missing. [kWh]
    park : ParkAttribution
        The park pass over the same T intervals.
    factors : Factors
    per_day : int
        Intervals per local day (24 hourly, 96 at 15 min); T must be a multiple.
    contract_rows : sequence of int
        Row of ``load_kwh`` for each contract consumer (``Contract.consumer`` index).
    """
    load = np.asarray(load_kwh, dtype=np.float64)
    n_c, n_t = load.shape
    if n_t != park.fraction_pu.shape[0]:
        raise InputError(
            f"load_kwh has {n_t} intervals but the attribution has {park.fraction_pu.shape[0]}"
        )
    if per_day <= 0 or n_t % per_day:
        raise InputError(f"{n_t} intervals are not whole days of {per_day} intervals")
    if factors.location_kgco2_per_kwh.shape != (n_t,):
        raise InputError(
            f"factors.location_kgco2_per_kwh: expected shape ({n_t},), "
            f"got {factors.location_kgco2_per_kwh.shape}"
        )
    n_d = n_t // per_day
    n_k = len(park.categories)
    # Direct supply exists only for contract consumers: keep it sparse, by row.
    direct_rows: dict[int, FloatArray] = {}
    direct_cat_rows: dict[int, FloatArray] = {}
    for i, contract in enumerate(park.contracts):
        if contract.consumer >= len(contract_rows):
            raise InputError(f"contract_rows: no row for contract consumer {contract.consumer}")
        row = contract_rows[contract.consumer]
        k = park.categories.index(f"onsite_{park.direct_source[i]}")
        d = np.where(np.isnan(load[row]), 0.0, park.direct_kwh[i])
        direct_rows[row] = direct_rows.get(row, np.zeros(n_t)) + d
        cat = direct_cat_rows.setdefault(row, np.zeros((n_d, n_k)))
        cat[:, k] += d.reshape(n_d, per_day).sum(axis=1)

    frac = park.fraction_pu.reshape(n_d, per_day, n_k)
    ef_loc = factors.location_kgco2_per_kwh.reshape(n_d, per_day)
    category = np.empty((n_c, n_d, n_k))
    load_day = np.empty((n_c, n_d))
    direct_day = np.zeros((n_c, n_d))
    e_loc = np.empty((n_c, n_d))
    # Chunks of consumers bound the temporaries; each chunk is one batched matrix product.
    for a in range(0, n_c, _CHUNK):
        b = min(a + _CHUNK, n_c)
        known = np.nan_to_num(load[a:b]).reshape(b - a, n_d, per_day)
        remaining = known.copy()
        for row, d in direct_rows.items():
            if a <= row < b:
                remaining[row - a] -= d.reshape(n_d, per_day)
        # (D, c, h) @ (D, h, K) → (D, c, K)
        category[a:b] = np.matmul(remaining.transpose(1, 0, 2), frac).transpose(1, 0, 2)
        load_day[a:b] = known.sum(axis=2)
        e_loc[a:b] = (known * ef_loc[np.newaxis]).sum(axis=2)
    for row, cat in direct_cat_rows.items():
        category[row] += cat
        direct_day[row] = cat.sum(axis=1)

    w_matched, w_clean, w_grid, w_ef, w_avoided = _split_categories(park, factors)
    grid = category @ w_grid
    return DailyTrace(
        categories=park.categories,
        category_kwh=category,
        load_kwh=load_day,
        direct_kwh=direct_day,
        matched_kwh=category @ w_matched,
        clean_kwh=category @ w_clean,
        grid_kwh=grid,
        emissions_location_kgco2=e_loc,
        emissions_market_kgco2=grid * factors.residual_kgco2_per_kwh + category @ w_ef,
        avoided_kgco2=category @ w_avoided,
        reference_name=factors.reference_name,
        reference_kgco2_per_kwh=factors.reference_kgco2_per_kwh,
    )
