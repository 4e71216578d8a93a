"""Published electricity emission factors, kept as data.

The factors live in ``suandian/grid/data/emission_factors.csv`` (columns ``name``,
``ef_kgco2_per_kwh``, ``year``, ``scope``, ``source``), one row per factor, so that a new vintage is
a new row rather than a code change. Names are stable and lowercase: ``cn-<area>-<year>`` for grid
factors (``cn-national-2023``, ``cn-residual-2023``, ``cn-fossil-2023``, ``cn-northwest-2023``,
``cn-qinghai-2022``, ``cn-hebei-2022`` …) and ``lifecycle-<source>`` for lifecycle factors of
generation technologies.

Scopes:

- ``national``: national grid average (location-based);
- ``national-residual``: national average excluding market-traded non-fossil electricity
  (residual mix, for market-based accounting);
- ``national-fossil``: national average of fossil-fuel power;
- ``regional``: average of a regional grid;
- ``provincial``: average of a province;
- ``lifecycle``: lifecycle emissions of a generation technology (no year).

Reports always name the factor they used; the user chooses (DESIGN §5).

References
----------
.. [1] Ministry of Ecology and Environment (MEE) and National Bureau of Statistics (NBS),
   announcements of the 2021 and 2022 electricity CO₂ emission factors (2024) and of the 2023
   factors (2025).
.. [2] Schlömer, S. et al., "Annex III: Technology-specific cost and performance parameters",
   in Climate Change 2014: Mitigation of Climate Change, IPCC AR5 WG3, Cambridge University
   Press, 2014, Table A.III.2.
"""

from __future__ import annotations

import csv
import difflib
import io
from dataclasses import dataclass
from functools import cache
from importlib import resources

from suandian.core.errors import NotFound

__all__ = [
    "EmissionFactor",
    "emission_factor",
    "emission_factors",
]

_DATA_FILE = "emission_factors.csv"


@dataclass(frozen=True)
class EmissionFactor:
    """One published emission factor."""

    name: str
    """Stable lowercase key, e.g. ``cn-qinghai-2022``."""
    ef_kgco2_per_kwh: float
    """Emission factor. [kgCO₂ kWh⁻¹]"""
    year: int | None
    """Year of the data the factor describes; ``None`` for lifecycle factors."""
    scope: str
    """``national``, ``national-residual``, ``national-fossil``, ``regional``, ``provincial`` or
    ``lifecycle``."""
    source: str
    """Publisher and document the number comes from."""


@cache
def _load() -> tuple[EmissionFactor, ...]:
    text = resources.files("suandian.grid").joinpath("data", _DATA_FILE).read_text("utf-8")
    rows = csv.DictReader(io.StringIO(text))
    return tuple(
        EmissionFactor(
            name=row["name"],
            ef_kgco2_per_kwh=float(row["ef_kgco2_per_kwh"]),
            year=int(row["year"]) if row["year"] else None,
            scope=row["scope"],
            source=row["source"],
        )
        for row in rows
    )


def emission_factors() -> dict[str, EmissionFactor]:
    """Every bundled emission factor by name, in file order.

    The file is read once per process; each call returns a new dict, so callers may modify it.
    """
    return {f.name: f for f in _load()}


def emission_factor(name: str) -> EmissionFactor:
    """The bundled emission factor called ``name``.

    Parameters
    ----------
    name : str
        Stable factor name, e.g. ``cn-national-2023`` or ``lifecycle-solar``.

    Returns
    -------
    EmissionFactor
        The factor, its year, scope and source. [kgCO₂ kWh⁻¹]

    Raises
    ------
    NotFound
        If no factor has that name; the message lists close names and every available name.
    """
    factors = emission_factors()
    try:
        return factors[name]
    except KeyError:
        close = difflib.get_close_matches(name, list(factors), n=3, cutoff=0.6)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        raise NotFound(
            f"no emission factor named {name!r}.{hint} Use one of: {', '.join(factors)}."
        ) from None
