"""The modelled grid mix a site draws from, hour by hour: its zone's mix, flow-traced with the
neighbouring zones it imports from (consumption-based). Shared by the green-power reports and
the scheduler's site signals, so both see one intensity.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd

from suandian.core.times import LOCAL_TZ, local_year_grid
from suandian.grid.factors import emission_factor
from suandian.grid.flowtrace import trace_flows_batch
from suandian.grid.mix import zone_mix
from suandian.scenario.model import Site

__all__ = ["grid_mix_for"]

FloatArray = npt.NDArray[np.float64]

_FOSSIL_DEFAULT = "cn-fossil-2023"
"""Fossil-generation factor used when a site's grid names none."""


def grid_mix_for(
    site: Site, index_utc: pd.DatetimeIndex
) -> tuple[tuple[str, ...], FloatArray, FloatArray]:
    """Modelled grid mix and intensity at ``index_utc`` (interval starts), per local year.

    Each zone's hourly mix is modelled over each whole local year containing the period, so a
    day's figures do not depend on which range a report asked for. When the site's zone imports
    from neighbours, flow tracing mixes their supply into the zone's own: the result is the
    consumption-based mix and intensity. Returns (sources, shares (T, K), intensity (T,)).
    """
    fossil = site.grid.ef_fossil_kgco2_per_kwh or emission_factor(_FOSSIL_DEFAULT).ef_kgco2_per_kwh
    zones = [
        (
            1.0 - sum(n.share_pu for n in site.grid.neighbours),
            site.grid.ef_location_kgco2_per_kwh,
            site.grid.mix_non_fossil_pu or {"hydro": 1.0},
        )
    ]
    zones += [
        (n.share_pu, n.ef_location_kgco2_per_kwh, n.mix_non_fossil_pu) for n in site.grid.neighbours
    ]
    step = (index_utc[1] - index_utc[0]) if len(index_utc) > 1 else pd.Timedelta(hours=1)
    resolution_min = int(step / pd.Timedelta(minutes=1))
    local = index_utc.tz_convert(LOCAL_TZ)
    sources = tuple(dict.fromkeys(["fossil", *(k for _, _, split in zones for k in split)]))
    shares_parts, intensity_parts = [], []
    for year in sorted(set(local.year)):
        grid = local_year_grid(int(year), resolution_min)
        mid = grid.tz_convert(LOCAL_TZ) + step / 2
        hours = np.asarray(mid.hour + mid.minute / 60.0, dtype=np.float64)
        months = np.asarray(mid.month, dtype=np.int64)
        production = np.zeros((len(grid), len(zones), len(sources)))
        for z, (volume, ef, split) in enumerate(zones):
            mix = zone_mix(
                hours,
                months,
                ef_target_kgco2_per_kwh=ef,
                non_fossil_pu=split,
                ef_fossil_kgco2_per_kwh=fossil,
            )
            cols = [sources.index(s) for s in mix.sources]
            production[:, z, cols] = volume * mix.shares_pu
        imports = np.zeros((len(grid), len(zones), len(zones)))
        imports[:, 0, 1:] = [v for v, _, _ in zones[1:]]  # neighbours' output flows into the zone
        ef_by_source = np.array([fossil if s == "fossil" else 0.0 for s in sources])
        traced = trace_flows_batch(production, imports, ef_by_source)
        pos = grid.get_indexer(index_utc[local.year == year])
        shares_parts.append(traced.shares_pu[pos, 0, :])
        intensity_parts.append(traced.intensity_kgco2_per_kwh[pos, 0])
    return sources, np.vstack(shares_parts), np.concatenate(intensity_parts)
