"""Unit conventions: the unit of a quantity lives in its name.

Names end in a unit suffix (``p_mw``, ``e_kwh``, ``ef_kgco2_per_kwh``). :func:`unit_of` reads the
suffix back so that error messages and tables can print the unit without a second source of truth.
Energy conversions over a fixed interval are here so that nobody writes ``* 0.25`` by hand.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = [
    "HOURS_PER_YEAR",
    "KG_PER_T",
    "KWH_PER_MWH",
    "KW_PER_MW",
    "W_PER_MW",
    "energy_mwh",
    "full_load_hours",
    "power_mw",
    "unit_of",
]

KW_PER_MW = 1_000.0
KWH_PER_MWH = 1_000.0
W_PER_MW = 1_000_000.0
KG_PER_T = 1_000.0
HOURS_PER_YEAR = 8_760.0

# Longest suffix first so that "_kgco2_per_kwh" wins over "_kwh".
_SUFFIX_UNITS: tuple[tuple[str, str], ...] = (
    ("_kgco2_per_kwh", "kgCO₂/kWh"),
    ("_g_per_kwh", "gCO₂/kWh"),
    ("_cny_per_kwh", "CNY/kWh"),
    ("_cny_per_mwh", "CNY/MWh"),
    ("_w_per_m2", "W/m²"),
    ("_per_c", "1/°C"),
    ("_kgco2", "kgCO₂"),
    ("_tco2", "tCO₂"),
    ("_mwp", "MWp"),
    ("_mwh", "MWh"),
    ("_kwh", "kWh"),
    ("_mw", "MW"),
    ("_kw", "kW"),
    ("_m_per_s", "m/s"),
    ("_pct", "%"),
    ("_pu", "per unit (0–1)"),
    ("_deg", "degrees"),
    ("_min", "minutes"),
    ("_ms", "ms"),
    ("_h", "hours"),
    ("_m", "m"),
    ("_c", "°C"),
)


def unit_of(name: str) -> str | None:
    """Unit spelled by the suffix of a field or column name, or ``None`` if it has none.

    >>> unit_of("import_limit_mw")
    'MW'
    >>> unit_of("ef_location_kgco2_per_kwh")
    'kgCO₂/kWh'
    """
    for suffix, unit in _SUFFIX_UNITS:
        if name.endswith(suffix):
            return unit
    return None


def energy_mwh(p_mw: npt.ArrayLike, interval_h: float) -> npt.NDArray[np.float64]:
    """Energy of a constant mean power held over one interval. [MWh]"""
    return np.asarray(p_mw, dtype=np.float64) * interval_h


def power_mw(e_mwh: npt.ArrayLike, interval_h: float) -> npt.NDArray[np.float64]:
    """Mean power over one interval from its energy. [MW]"""
    return np.asarray(e_mwh, dtype=np.float64) / interval_h


def full_load_hours(p_mw: npt.ArrayLike, capacity_mw: float, interval_h: float) -> float:
    """Energy produced divided by nameplate capacity. [h]

    Per year this is the utilisation hours (利用小时数) that Chinese statistics quote.
    """
    if capacity_mw <= 0:
        raise ValueError(f"capacity_mw must be > 0 to compute full-load hours, got {capacity_mw}")
    return float(np.sum(np.asarray(p_mw, dtype=np.float64)) * interval_h / capacity_mw)
