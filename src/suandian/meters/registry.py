"""The meters a park scenario implies: one per generator, storage direction, consumer and grid tie.

Meter ids follow the asset they measure: ``m-<asset_id>`` for generators and consumers,
``m-<battery_id>-charge`` / ``-discharge`` for storage, ``m-<site_id>-import`` / ``-export`` for
the grid tie. Nameplates bound what a meter can plausibly read: AC power for PV, rated power for
wind and hydro, the power limit for storage. [kW]
"""

from __future__ import annotations

from collections import Counter

from suandian.core.errors import InputError
from suandian.core.units import KW_PER_MW
from suandian.scenario.model import Park
from suandian.store.readings import Meter

__all__ = ["meters_for_park"]


def meters_for_park(park: Park) -> list[Meter]:
    """Every meter of ``park``: generation, storage, consumption, then grid, in scenario order."""
    meters: list[Meter] = []
    for pv in park.pv_plants:
        meters.append(_generation(pv.id, pv.site, "pv", pv.p_ac_mw))
    for wind in park.wind_farms:
        meters.append(_generation(wind.id, wind.site, "wind", wind.capacity_mw))
    for hydro in park.hydro_plants:
        meters.append(_generation(hydro.id, hydro.site, "hydro", hydro.capacity_mw))
    for battery in park.batteries:
        nameplate_kw = battery.p_mw * KW_PER_MW
        meters.append(
            Meter(
                meter_id=f"m-{battery.id}-charge",
                kind="storage_charge",
                site=battery.site,
                asset_id=battery.id,
                nameplate_kw=nameplate_kw,
            )
        )
        meters.append(
            Meter(
                meter_id=f"m-{battery.id}-discharge",
                kind="storage_discharge",
                site=battery.site,
                asset_id=battery.id,
                nameplate_kw=nameplate_kw,
            )
        )
    for consumer in [*park.data_centers, *park.consumers]:
        meters.append(
            Meter(
                meter_id=f"m-{consumer.id}",
                kind="consumption",
                site=consumer.site,
                asset_id=consumer.id,
            )
        )
    for site in park.sites:
        meters.append(Meter(meter_id=f"m-{site.id}-import", kind="grid_import", site=site.id))
        meters.append(Meter(meter_id=f"m-{site.id}-export", kind="grid_export", site=site.id))
    clashes = sorted(m for m, k in Counter(m.meter_id for m in meters).items() if k > 1)
    if clashes:
        raise InputError(
            f"scenario {park.name}: meter id(s) {', '.join(clashes)} would measure two things "
            "(an asset id ending in -charge, -discharge, -import or -export clashes with a "
            "battery or site id); rename the asset"
        )
    return meters


def _generation(asset_id: str, site: str, source: str, p_mw: float) -> Meter:
    return Meter(
        meter_id=f"m-{asset_id}",
        kind="generation",
        site=site,
        asset_id=asset_id,
        source=source,
        nameplate_kw=p_mw * KW_PER_MW,
    )
