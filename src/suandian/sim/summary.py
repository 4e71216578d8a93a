"""Energy balance of a simulated park without storage, and the demo's summary figures.

The balance is per site and interval, before any dispatch: on-site generation serves the site's
load first; of the surplus, export is capped by the grid tie (a share of on-site output per
interval, as direct-connection rules require) and the rest is curtailed; the deficit is
imported, and any part of it above the import limit is reported as unserved.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from suandian.core.times import local_day
from suandian.scenario.model import Park
from suandian.sim.park import ParkSeries

__all__ = ["Balance", "Summary", "daily_green_share", "hourly_match", "site_balance", "summarize"]

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Balance:
    """Per-interval flows of one site without storage. [MW]"""

    self_consumed_mw: FloatArray
    export_mw: FloatArray
    curtailed_mw: FloatArray
    import_mw: FloatArray
    unserved_mw: FloatArray


def site_balance(
    generation_mw: FloatArray,
    load_mw: FloatArray,
    *,
    export_limit_share_pu: float,
    import_limit_mw: float | None,
) -> Balance:
    """Split generation and load of one site into self-use, export, curtailment and import."""
    self_used = np.minimum(generation_mw, load_mw)
    surplus = generation_mw - self_used
    export = np.minimum(surplus, export_limit_share_pu * generation_mw)
    deficit = load_mw - self_used
    imported = deficit if import_limit_mw is None else np.minimum(deficit, import_limit_mw)
    return Balance(
        self_consumed_mw=self_used,
        export_mw=export,
        curtailed_mw=surplus - export,
        import_mw=imported,
        unserved_mw=deficit - imported,
    )


def hourly_match(generation_mw: FloatArray, load_mw: FloatArray, steps_per_hour: int) -> float:
    """Hourly-matched green share Σ_h min(G_h, L_h) / Σ_h L_h on hourly energy, no storage.

    Surplus in one hour does not count against a deficit in another (24/7 matching).
    """
    n = (generation_mw.size // steps_per_hour) * steps_per_hour
    g = generation_mw[:n].reshape(-1, steps_per_hour).sum(axis=1)
    ld = load_mw[:n].reshape(-1, steps_per_hour).sum(axis=1)
    total = ld.sum()
    return float(np.minimum(g, ld).sum() / total) if total > 0 else float("nan")


def daily_green_share(
    index: pd.DatetimeIndex, generation_mw: FloatArray, load_mw: FloatArray, steps_per_hour: int
) -> pd.Series:
    """Hourly-matched green share of each Asia/Shanghai day, no storage."""
    n = (generation_mw.size // steps_per_hour) * steps_per_hour
    g = generation_mw[:n].reshape(-1, steps_per_hour).sum(axis=1)
    ld = load_mw[:n].reshape(-1, steps_per_hour).sum(axis=1)
    days = local_day(index[:n:steps_per_hour])
    frame = pd.DataFrame({"day": days, "matched": np.minimum(g, ld), "load": ld})
    grouped = frame.groupby("day")[["matched", "load"]].sum()
    return (grouped["matched"] / grouped["load"]).rename("green_share")


@dataclass(frozen=True)
class Summary:
    """The demo's summary; :meth:`to_json` is the ``--json`` output."""

    scenario: str
    start_local_date: str
    days: int
    resolution_min: int
    generation_mwh: dict[str, float]
    """Per source (``pv``, ``wind``, ``hydro``) and ``total``."""
    load_mwh: float
    load_by_consumer_mwh: dict[str, float]
    renewable_fraction: float | None
    """On-site renewable energy over load energy (may exceed 1)."""
    hourly_match_no_storage: float | None
    """Σ_h min(G_h, L_h) / Σ_h L_h."""
    self_consumed_mwh: float
    export_mwh: float
    curtailment_mwh: float
    curtailment_share: float | None
    """Curtailed over generated energy, under the export cap."""
    import_mwh: float
    unserved_mwh: float
    """Deficit above the import limit: what storage or flexible load must cover."""
    unserved_intervals: int
    peak_load_mw: float
    full_load_hours: dict[str, float]
    """Per generating asset over the period."""
    pue_mean: dict[str, float]

    def to_json(self) -> dict[str, object]:
        return asdict(self)


def _ratio(num: float, den: float) -> float | None:
    return float(num / den) if den > 0 else None


def summarize(park: Park, series: ParkSeries) -> Summary:
    """Summary figures of a simulated period."""
    ih = series.interval_h
    steps_per_hour = round(1.0 / ih)
    gen = series.generation_mw
    load = series.load_mw
    index = series.index
    by_source: dict[str, float] = {}
    for asset, source in series.source_of.items():
        by_source[source] = by_source.get(source, 0.0) + float(gen[asset].sum() * ih)
    for source in ("pv", "wind", "hydro"):
        by_source.setdefault(source, 0.0)
    total_gen = sum(by_source.values())
    by_source["total"] = total_gen

    zeros = np.zeros(len(index))
    flows = {k: 0.0 for k in ("self", "export", "curtailed", "import", "unserved")}
    unserved_intervals = 0
    g_all, l_all = zeros.copy(), zeros.copy()
    for site in park.sites:
        g_cols = [a for a in gen.columns if series.site_of[a] == site.id]
        l_cols = [c for c in load.columns if series.site_of[c] == site.id]
        g = gen[g_cols].to_numpy().sum(axis=1) if g_cols else zeros
        ld = load[l_cols].to_numpy().sum(axis=1) if l_cols else zeros
        g_all, l_all = g_all + g, l_all + ld
        b = site_balance(
            g,
            ld,
            export_limit_share_pu=site.grid.export_limit_share_pu,
            import_limit_mw=site.grid.import_limit_mw,
        )
        flows["self"] += float(b.self_consumed_mw.sum() * ih)
        flows["export"] += float(b.export_mw.sum() * ih)
        flows["curtailed"] += float(b.curtailed_mw.sum() * ih)
        flows["import"] += float(b.import_mw.sum() * ih)
        flows["unserved"] += float(b.unserved_mw.sum() * ih)
        unserved_intervals += int((b.unserved_mw > 1e-9).sum())

    load_total = float(l_all.sum() * ih)
    capacity = {p.id: p.p_dc_mwp for p in park.pv_plants}
    capacity |= {w.id: w.capacity_mw for w in park.wind_farms}
    capacity |= {h.id: h.capacity_mw for h in park.hydro_plants}
    start = pd.Timestamp(local_day(index[:1])[0]).date() if len(index) else dt.date(park.year, 1, 1)
    return Summary(
        scenario=series.scenario,
        start_local_date=start.isoformat(),
        days=round(len(index) * ih / 24.0),
        resolution_min=series.resolution_min,
        generation_mwh=by_source,
        load_mwh=load_total,
        load_by_consumer_mwh={c: float(load[c].sum() * ih) for c in load.columns},
        renewable_fraction=_ratio(total_gen, load_total),
        hourly_match_no_storage=(
            hourly_match(g_all, l_all, steps_per_hour) if load_total > 0 else None
        ),
        self_consumed_mwh=flows["self"],
        export_mwh=flows["export"],
        curtailment_mwh=flows["curtailed"],
        curtailment_share=_ratio(flows["curtailed"], total_gen),
        import_mwh=flows["import"],
        unserved_mwh=flows["unserved"],
        unserved_intervals=unserved_intervals,
        peak_load_mw=float(l_all.max()) if len(l_all) else 0.0,
        full_load_hours={a: float(gen[a].sum() * ih / capacity[a]) for a in gen.columns},
        pue_mean={k: float(v["pue"].mean()) for k, v in series.data_center.items()},
    )
