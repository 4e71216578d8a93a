"""Period summary per consumer (the demo's year summary per enterprise)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from suandian.reports.period import SiteTrace
from suandian.scenario.model import Park

__all__ = ["period_summary"]


def period_summary(traces: list[SiteTrace], park: Park) -> pd.DataFrame:
    """One row per consumer, then ``park``: energy, shares and emissions over the whole period.

    Columns: ``consumer, name, load_mwh, green_share_pct, cfe_pct, emissions_location_tco2,
    emissions_market_tco2, avoided_tco2, completeness_pct``.
    """
    names = {c.id: c.name for c in park.consumers} | {d.id: d.name for d in park.data_centers}
    rows = []
    for trace in traces:
        d = trace.daily
        load = d.load_kwh.sum(axis=1)
        matched = d.matched_kwh.sum(axis=1)
        clean = d.clean_kwh.sum(axis=1)
        for c, consumer in enumerate(trace.consumers):
            rows.append(
                {
                    "consumer": consumer,
                    "name": names.get(consumer, consumer),
                    "load_mwh": load[c] / 1000.0,
                    "matched_mwh": matched[c] / 1000.0,
                    "clean_mwh": clean[c] / 1000.0,
                    "emissions_location_tco2": d.emissions_location_kgco2[c].sum() / 1000.0,
                    "emissions_market_tco2": d.emissions_market_kgco2[c].sum() / 1000.0,
                    "avoided_tco2": d.avoided_kgco2[c].sum() / 1000.0,
                    "completeness_pct": 100.0 * float(trace.completeness_pu[c].mean()),
                }
            )
    frame = pd.DataFrame(rows)
    total = frame.drop(columns=["consumer", "name", "completeness_pct"]).sum()
    park_row = {"consumer": "park", "name": park.title or park.name, **total.to_dict()}
    park_row["completeness_pct"] = float(frame["completeness_pct"].mean())
    frame = pd.concat([frame, pd.DataFrame([park_row])], ignore_index=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        frame.insert(3, "green_share_pct", 100.0 * frame["matched_mwh"] / frame["load_mwh"])
        frame.insert(4, "cfe_pct", 100.0 * frame["clean_mwh"] / frame["load_mwh"])
    return frame.drop(columns=["matched_mwh", "clean_mwh"])
