"""Meter readings of a simulated park: what its meters would have recorded. [kWh]

**Without a dispatch** (``dispatch=None``) consumption meters read the simulated mean power ×
interval. Generation meters read what was produced: the available output less what the export
cap forces to curtail (shared among the site's generators in proportion to their output), so
each site's meters balance. The battery is idle, so its charge and discharge meters read zero.
The grid-tie meters read the no-storage balance: import is the deficit up to the import limit,
export the surplus up to the export cap.

**With a dispatch** of a site (:class:`~suandian.sim.dispatch_inputs.SiteDispatch`, a plan made
on :func:`~suandian.sim.dispatch_inputs.dispatch_inputs` of the same series), that site's
meters read the plan:

- battery meters: the planned charge and discharge;
- each data center's consumption meter: its fixed IT load × PUE plus its planned flexible load
  (the deferrable IT load moved by the plan); each EV station's and electrolyzer's meter: its
  fixed part (inflexible sessions; the minimum stable load) plus its planned classes, so over
  each class's window it reads the class's simulated energy; other enterprises as simulated;
- grid and generation meters: at the simulation's own resolution, the plan's import, export
  and used output (generation meters share the site's used output in proportion to each
  generator's available output). A plan at a coarser resolution holds its battery and flexible
  power over each of its intervals, and the grid closes the balance of every simulated
  interval: a surplus is exported up to the export cap and the rest curtailed (a discharge
  held above a dip in demand is exported), a deficit is imported. The limits hold for the
  plan's interval means; a simulated interval may exceed them by the variation inside the
  plan's interval, and the meters record what flowed. Dispatch at the simulation's
  resolution (as the demo does) to meter the plan itself.

Load a plan leaves unserved (a rule-based plan short of import) is not consumed: the site's
consumption meters are scaled down by the unserved share of that interval. Every site's
meters balance in every interval: generation + import + discharge = consumption + export +
charge.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import pandas as pd

from suandian.core.errors import InputError
from suandian.core.units import KW_PER_MW
from suandian.scenario.model import Park, Site
from suandian.sim.dispatch_inputs import SiteDispatch, flexible_arrivals_mw, flexible_by_asset
from suandian.sim.park import ParkSeries
from suandian.sim.summary import site_balance

__all__ = ["simulated_readings"]

FloatArray = npt.NDArray[np.float64]


def simulated_readings(
    park: Park,
    series: ParkSeries,
    dispatch: SiteDispatch | Sequence[SiteDispatch] | None = None,
) -> pd.DataFrame:
    """Long frame ``meter_id, start_utc, kwh`` for every meter of ``park`` over ``series``.

    ``dispatch``: plans of one or more sites whose meters should read them (see the module
    docstring); other sites read the no-storage balance.
    """
    plans = _by_site(park, dispatch)
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
        if site.id in plans:
            flows = _planned_site(park, series, site, plans[site.id], g_cols, l_cols)
            for meter, mw in flows.items():
                columns[meter] = mw * kwh_per_mw
            continue
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


def _by_site(
    park: Park, dispatch: SiteDispatch | Sequence[SiteDispatch] | None
) -> dict[str, SiteDispatch]:
    if dispatch is None:
        return {}
    items = [dispatch] if isinstance(dispatch, SiteDispatch) else list(dispatch)
    out: dict[str, SiteDispatch] = {}
    known = {s.id for s in park.sites}
    for d in items:
        if d.site not in known:
            raise InputError(f"dispatch: site {d.site!r} is not a site of {park.name}")
        if d.site in out:
            raise InputError(f"dispatch: two plans for site {d.site!r}; give one per site")
        out[d.site] = d
    return out


def _hold(values: FloatArray, k: int) -> FloatArray:
    """Hold each of the plan's interval values over its ``k`` simulated intervals."""
    return np.repeat(np.asarray(values, dtype=np.float64), k, axis=-1)


def _planned_site(
    park: Park,
    series: ParkSeries,
    site: Site,
    planned: SiteDispatch,
    g_cols: list[str],
    l_cols: list[str],
) -> dict[str, FloatArray]:
    """Power of every meter of ``site`` under the plan, per simulated interval. [MW]"""
    inputs, result = planned.inputs, planned.result
    n = len(series.index)
    ratio = inputs.interval_h / series.interval_h
    k = round(ratio)
    if abs(ratio - k) > 1e-9 or k < 1 or inputs.n_steps * k != n:
        raise InputError(
            f"dispatch of site {site.id!r}: {inputs.n_steps} plan intervals of "
            f"{inputs.interval_h:g} h do not cover the {n} simulated intervals of "
            f"{series.interval_h:g} h; plan on dispatch_inputs() of the same series"
        )
    if [g.name for g in inputs.generators] != g_cols:
        raise InputError(
            f"dispatch of site {site.id!r}: its generators {[g.name for g in inputs.generators]} "
            f"are not the site's {g_cols}; plan on dispatch_inputs() of the same series"
        )
    flows: dict[str, FloatArray] = {}
    consumption: dict[str, FloatArray] = {}
    for c in l_cols:
        consumption[c] = series.load_mw[c].to_numpy().astype(np.float64)
    # Each flexible asset: its simulated load less what its classes took over, plus the plan.
    arriving = flexible_arrivals_mw(
        park, series, site=site.id, resolution_min=round(inputs.interval_h * 60)
    )
    for asset, flex_mw in flexible_by_asset(inputs, result).items():
        consumption[asset] = consumption[asset] - arriving[asset] + _hold(flex_mw, k)
    charge = np.zeros(n)
    discharge = np.zeros(n)
    for i, b in enumerate(inputs.batteries):
        flows[f"m-{b.name}-charge"] = _hold(result.battery_charge_mw[i], k)
        flows[f"m-{b.name}-discharge"] = _hold(result.battery_discharge_mw[i], k)
        charge += flows[f"m-{b.name}-charge"]
        discharge += flows[f"m-{b.name}-discharge"]

    total = sum(consumption.values(), np.zeros(n))
    unserved = np.minimum(_hold(result.unserved_mw, k), total)
    served_pu = np.ones(n)
    np.divide(total - unserved, total, out=served_pu, where=total > 0)
    for c, mw in consumption.items():
        flows[f"m-{c}"] = mw * served_pu
    demand = total - unserved

    available = (
        series.generation_mw[g_cols].to_numpy().astype(np.float64) if g_cols else np.zeros((n, 0))
    )
    avail_total = available.sum(axis=1)
    if k == 1:
        per_asset = np.asarray(result.generator_p_mw, dtype=np.float64).reshape(len(g_cols), n)
        used = per_asset.sum(axis=0)
        imported, exported = result.grid_import_mw.copy(), result.grid_export_mw.copy()
        # The plan balances to the solver's tolerance; the grid tie takes the residue.
        residue = demand + charge + exported - used - imported - discharge
        imported += np.maximum(residue, 0.0)
        exported += np.maximum(-residue, 0.0)
    else:
        net = avail_total + discharge - charge - demand
        surplus = np.maximum(net, 0.0)
        exported = np.minimum(surplus, site.grid.export_limit_share_pu * avail_total)
        curtailed = np.minimum(surplus - exported, avail_total)
        exported = surplus - curtailed  # a discharge held above the demand is exported
        used = avail_total - curtailed
        imported = np.maximum(-net, 0.0)
        used_pu = np.zeros(n)
        np.divide(used, avail_total, out=used_pu, where=avail_total > 0)
        per_asset = (available * used_pu[:, np.newaxis]).T
    flows[f"m-{site.id}-import"] = imported
    flows[f"m-{site.id}-export"] = exported
    for j, asset in enumerate(g_cols):
        flows[f"m-{asset}"] = per_asset[j]
    return flows
