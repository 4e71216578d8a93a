"""A dispatch plan as a table and as the handful of figures people compare.

:func:`schedule_frame` lays a :class:`~suandian.dispatch.DispatchResult` out one row per
interval (UTC start, Asia/Shanghai clock time, every variable in MW, stored energy in MWh);
its columns balance in every row::

    Σ <generator>_p_mw + grid_import_mw + Σ <battery>_discharge_mw + unserved_mw
        = load_mw + flex_load_mw + Σ <battery>_charge_mw + grid_export_mw

:func:`key_figures` gives the totals the CLI and the demo print side by side.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from suandian.core.times import LOCAL_TZ
from suandian.core.units import KG_PER_T
from suandian.dispatch.problem import DispatchInputs, DispatchResult

__all__ = ["FIGURES", "key_figures", "schedule_frame"]

FIGURES: dict[str, str] = {
    "cost_cny": "cost [CNY]",
    "import_mwh": "grid import [MWh]",
    "export_mwh": "grid export [MWh]",
    "emissions_tco2": "grid emissions (import × location factor) [tCO₂]",
    "green_share_pu": "green share (1 − import / consumption)",
    "curtailment_mwh": "curtailment [MWh]",
    "battery_cycles": "battery cycles (equivalent full)",
    "unserved_mwh": "unserved load [MWh]",
}
"""Keys of :func:`key_figures` and what they mean."""


def key_figures(result: DispatchResult) -> dict[str, float]:
    """Totals of a plan: the keys of :data:`FIGURES`."""
    return {
        "cost_cny": result.cost_cny,
        "import_mwh": result.import_mwh,
        "export_mwh": result.export_mwh,
        "emissions_tco2": result.emissions_kgco2 / KG_PER_T,
        "green_share_pu": result.green_share_pu,
        "curtailment_mwh": result.curtailment_mwh,
        "battery_cycles": float(np.sum(result.equivalent_full_cycles)),
        "unserved_mwh": result.unserved_mwh,
    }


def schedule_frame(inputs: DispatchInputs, result: DispatchResult) -> pd.DataFrame:
    """One row per interval: ``start_utc``, ``local_time`` and every variable of the plan.

    Columns after the two times: ``load_mw`` (fixed), ``flex_load_mw`` (all flexible loads),
    ``<generator>_available_mw``, ``<generator>_p_mw``, ``<generator>_curtailment_mw``,
    ``<battery>_charge_mw``, ``<battery>_discharge_mw``, ``<battery>_soe_mwh`` (end of the
    interval), ``grid_import_mw``, ``grid_export_mw``, ``unserved_mw``, then one
    ``flex_<group>_mw`` per flexible-load group (a data center, an EV station, an electrolyzer:
    the sum of its members), and one ``flex_<name>_mw`` per flexible load only if there are at
    most 24 of them (a year has one per day and asset; together they sum to ``flex_load_mw``).
    Without ``index_utc`` the times are step numbers.
    """
    n_t = inputs.n_steps
    if inputs.index_utc is not None:
        start = pd.DatetimeIndex(inputs.index_utc)
        columns: dict[str, object] = {
            "start_utc": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "local_time": start.tz_convert(LOCAL_TZ).strftime("%Y-%m-%d %H:%M"),
        }
    else:
        columns = {"step": np.arange(n_t)}
    columns["load_mw"] = inputs.load_mw
    columns["flex_load_mw"] = result.flex.total_mw(n_t)
    for j, g in enumerate(inputs.generators):
        columns[f"{g.name}_available_mw"] = g.available_mw
        columns[f"{g.name}_p_mw"] = result.generator_p_mw[j]
        columns[f"{g.name}_curtailment_mw"] = result.generator_curtailment_mw[j]
    for i, b in enumerate(inputs.batteries):
        columns[f"{b.name}_charge_mw"] = result.battery_charge_mw[i]
        columns[f"{b.name}_discharge_mw"] = result.battery_discharge_mw[i]
        columns[f"{b.name}_soe_mwh"] = result.battery_soe_mwh[i]
    columns["grid_import_mw"] = result.grid_import_mw
    columns["grid_export_mw"] = result.grid_export_mw
    columns["unserved_mw"] = result.unserved_mw
    by_group = result.flex.sum_by(inputs.flex_group_of, len(inputs.flex_groups), n_t)
    for j, flex_group in enumerate(inputs.flex_groups):
        columns[f"flex_{flex_group.name}_mw"] = by_group[j]
    if len(inputs.flexible_loads) <= 24:
        for i, f in enumerate(inputs.flexible_loads):
            columns[f"flex_{f.name}_mw"] = result.flex.by_row(i, n_t)
    return pd.DataFrame(columns)
