"""Meter readings of a simulated park: what its meters would have recorded. [kWh]

Consumption meters read the simulated mean power × interval. Generation meters read what was
produced: the available output less what the export cap forces to curtail (shared among the
site's generators in proportion to their output), so each site's meters balance. The battery is
idle until dispatch plans it, so its charge and discharge meters read zero. The grid-tie meters
read the no-storage balance: import is the deficit up to the import limit, export the surplus up
to the export cap.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from suandian.core.units import KW_PER_MW
from suandian.scenario.model import Park
from suandian.sim.park import ParkSeries
from suandian.sim.summary import site_balance

__all__ = ["simulated_readings"]


def simulated_readings(park: Park, series: ParkSeries) -> pd.DataFrame:
    """Long frame ``meter_id, start_utc, kwh`` for every meter of ``park`` over ``series``."""
    kwh_per_mw = series.interval_h * KW_PER_MW
    columns: dict[str, np.ndarray] = {}
    for consumer in series.load_mw.columns:
        columns[f"m-{consumer}"] = series.load_mw[consumer].to_numpy() * kwh_per_mw
    zeros = np.zeros(len(series.index))
    for battery in park.batteries:
        columns[f"m-{battery.id}-charge"] = zeros
        columns[f"m-{battery.id}-discharge"] = zeros
    for site in park.sites:
        g_cols = [a for a in series.generation_mw.columns if series.site_of[a] == site.id]
        l_cols = [c for c in series.load_mw.columns if series.site_of[c] == site.id]
        if not g_cols and not l_cols:
            continue
        b = site_balance(
            series.generation_mw[g_cols].to_numpy().sum(axis=1) if g_cols else zeros,
            series.load_mw[l_cols].to_numpy().sum(axis=1) if l_cols else zeros,
            export_limit_share_pu=site.grid.export_limit_share_pu,
            import_limit_mw=site.grid.import_limit_mw,
        )
        columns[f"m-{site.id}-import"] = b.import_mw * kwh_per_mw
        columns[f"m-{site.id}-export"] = b.export_mw * kwh_per_mw
        available = series.generation_mw[g_cols].to_numpy().sum(axis=1) if g_cols else zeros
        produced_pu = np.ones_like(available)
        np.divide(available - b.curtailed_mw, available, out=produced_pu, where=available > 0)
        for asset in g_cols:
            columns[f"m-{asset}"] = (
                series.generation_mw[asset].to_numpy() * produced_pu * (kwh_per_mw)
            )
    wide = pd.DataFrame(columns, index=series.index.rename("start_utc"))
    long = wide.reset_index().melt(id_vars="start_utc", var_name="meter_id", value_name="kwh")
    return long[["meter_id", "start_utc", "kwh"]]
