"""Trace a period from the store: readings → attribution → daily metrics, per site.

The pipeline of the daily report and of the demo's year summary. For each site of the park it
reads the site's meters for whole Asia/Shanghai days, aggregates to the attribution resolution
(hourly by default: an hour with a missing quarter is missing for a consumer; for generation
and storage a missing reading counts as zero energy, which can only understate green supply),
models the zone's grid mix around its published factor, runs the park pass, and computes daily
metrics for every consumer in chunks, so memory stays bounded however many meters there are.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from suandian.core.errors import InputError, NotFound
from suandian.core.times import local_date_start_utc, local_day
from suandian.grid.factors import emission_factor
from suandian.grid.site_mix import grid_mix_for
from suandian.scenario.model import Park, Site
from suandian.store.readings import ReadingsStore
from suandian.trace.attribution import Contract, ParkAttribution, attribute_park
from suandian.trace.daily import DailyTrace, Factors, daily_trace

__all__ = ["DEFAULT_REFERENCE", "SiteTrace", "grid_mix_for", "trace_period"]

FloatArray = npt.NDArray[np.float64]

DEFAULT_REFERENCE = "cn-national-2023"
"""Reference factor for avoided emissions unless the user picks another."""

_RESIDUAL_DEFAULT = "cn-residual-2023"
_LIFECYCLE = {"pv": "lifecycle-solar", "wind": "lifecycle-wind", "hydro": "lifecycle-hydro"}
_STEPS = 4  # 15-min readings per hour


@dataclass(frozen=True)
class SiteTrace:
    """Traced period of one site."""

    site: str
    days: list[dt.date]
    consumers: list[str]
    """Consumer (asset) ids, in the row order of ``daily``."""
    daily: DailyTrace
    park: ParkAttribution
    per_day: int
    load_kwh: FloatArray
    """(C, T) consumers' loads at the attribution resolution; NaN where missing."""
    contract_rows: list[int]
    """Row of ``load_kwh`` of each contract consumer (``Contract.consumer`` index)."""
    completeness_pu: FloatArray
    """(C, D) share of the day's 15-min readings present, per consumer."""
    generation_completeness_pu: FloatArray
    """(D,) share of generation and storage readings present."""
    grid_sources: tuple[str, ...]
    location_factor_name: str
    residual_kgco2_per_kwh: float
    source_factors: dict[str, float]
    """EF charged to on-site sources: empty for direct accounting (0), else lifecycle."""
    ignored_meters: list[str]
    """Registered meters of assets the scenario does not have (removed or renamed)."""


def _hourly(quarters: FloatArray, *, missing_as_zero: bool) -> FloatArray:
    data = np.nan_to_num(quarters) if missing_as_zero else quarters
    # Strided adds in the order a sum over a reshaped (rows, hours, 4) array takes, so the same
    # values, without numpy's slow reduction over a length-4 axis.
    out = data[:, 0::_STEPS] + data[:, 1::_STEPS]
    for k in range(2, _STEPS):
        out += data[:, k::_STEPS]
    return out


def _nansum_rows(values: FloatArray, block: int = 512) -> FloatArray:
    """``np.nansum(values, axis=0)`` by column blocks (the same sums): nansum copies its input,
    and the load matrix of 10,000 consumers for a year is 700 MB."""
    out = np.zeros(values.shape[1])
    for j in range(0, values.shape[1], block):
        out[j : j + block] = np.nansum(values[:, j : j + block], axis=0)
    return out


@dataclass(frozen=True)
class _SiteMeters:
    generation: pd.DataFrame
    charge: pd.DataFrame
    discharge: pd.DataFrame
    consumption: pd.DataFrame
    ignored: list[str]


def _site_meters(meters: pd.DataFrame, park: Park, site: Site) -> _SiteMeters:
    """The site's meters that measure assets of ``park``; meters left behind by assets that the
    scenario no longer has (removed or renamed) are set aside and named, never counted."""
    at_site = meters[meters["site"] == site.id]
    generators = {
        a.id
        for g in (park.pv_plants, park.wind_farms, park.hydro_plants)
        for a in g
        if a.site == site.id
    }
    batteries = {b.id for b in park.batteries if b.site == site.id}
    loads = {a.id for g in (park.data_centers, park.consumers) for a in g if a.site == site.id}
    wanted = {
        "generation": generators,
        "storage_charge": batteries,
        "storage_discharge": batteries,
        "consumption": loads,
    }
    keep = at_site["kind"].isin(["grid_import", "grid_export"]) | pd.Series(
        [
            str(a) in wanted.get(str(k), set())
            for k, a in zip(at_site["kind"], at_site["asset_id"], strict=True)
        ],
        index=at_site.index,
    )
    ignored = sorted(str(m) for m in at_site.loc[~keep, "meter_id"])
    kept = at_site[keep]
    charge = kept[kept["kind"] == "storage_charge"].sort_values("asset_id")
    discharge = kept[kept["kind"] == "storage_discharge"].sort_values("asset_id")
    with_charge, with_discharge = set(charge["asset_id"]), set(discharge["asset_id"])
    if with_charge != with_discharge:
        lonely = sorted(with_charge ^ with_discharge)
        raise InputError(
            f"site {site.id}: battery {', '.join(map(str, lonely))} has only one of its charge and "
            "discharge meters; register both (m-<battery>-charge and m-<battery>-discharge)"
        )
    return _SiteMeters(
        generation=kept[kept["kind"] == "generation"],
        charge=charge,
        discharge=discharge,
        consumption=kept[kept["kind"] == "consumption"],
        ignored=ignored,
    )


def _ids(frame: pd.DataFrame, column: str = "meter_id") -> list[str]:
    return [str(v) for v in frame[column]]


def trace_period(
    store: ReadingsStore,
    park: Park,
    *,
    start: dt.date,
    days: int = 1,
    resolution_min: int = 60,
    reference: str = DEFAULT_REFERENCE,
    lifecycle: bool = False,
    as_of: dt.datetime | None = None,
    chunk_meters: int = 1000,
    progress: Callable[[str], None] | None = None,
) -> list[SiteTrace]:
    """Trace ``days`` local days from ``start`` for every site of ``park`` that has meters.

    Storage pools enter the period as they stood at its start: they are rebuilt from the first
    storage reading on (a pass over generation, storage and contract meters only), so a day's
    figures do not depend on where the traced period began.
    """
    if resolution_min not in (15, 60):
        raise InputError(f"resolution_min: {resolution_min}; use 60 (hourly) or 15")
    if days < 1:
        raise InputError(f"days: {days}; trace at least one day")
    tick = progress or (lambda _s: None)
    ref = emission_factor(reference)
    if ref.scope == "lifecycle":
        raise InputError(
            f"reference factor {reference!r} is a lifecycle factor of one source; avoided "
            "emissions are counted against a grid factor such as cn-national-2023"
        )
    meters = store.meters()
    if meters.empty:
        raise NotFound(
            "no meters are registered in this data directory; run `suandian demo` or "
            "`suandian meters import FILE --scenario NAME` first"
        )
    lo = local_date_start_utc(start)
    hi = local_date_start_utc(start + dt.timedelta(days=days))
    step = resolution_min // 15
    index = pd.date_range(lo, hi, freq=f"{resolution_min}min", inclusive="left")
    per_day = 96 // step
    out: list[SiteTrace] = []
    for site in park.sites:
        sm = _site_meters(meters, park, site)
        if sm.consumption.empty:
            continue

        def read(ids: Sequence[str], a: pd.Timestamp = lo, b: pd.Timestamp = hi) -> FloatArray:
            return store.dense(list(ids), a, b, resolution_min=15, as_of=as_of)

        def to_res(q: FloatArray, *, missing_as_zero: bool) -> FloatArray:
            if step == _STEPS:
                return _hourly(q, missing_as_zero=missing_as_zero)
            return np.nan_to_num(q) if missing_as_zero else q

        g_q = read(_ids(sm.generation))
        c_q = read(_ids(sm.charge))
        d_q = read(_ids(sm.discharge))
        other_present = np.isfinite(np.vstack([g_q, c_q, d_q])).reshape(-1, days, 96)
        gen_completeness = other_present.mean(axis=(0, 2)) if other_present.size else np.ones(days)

        # Consumption in chunks: keep only the resolution-level matrix and completeness.
        consumer_ids = _ids(sm.consumption, "asset_id")
        cons_meter_ids = _ids(sm.consumption)
        load = np.empty((len(cons_meter_ids), len(index)))
        present = np.empty((len(cons_meter_ids), days))
        for a in range(0, len(cons_meter_ids), chunk_meters):
            q = read(cons_meter_ids[a : a + chunk_meters])
            present[a : a + q.shape[0]] = np.isfinite(q).reshape(q.shape[0], days, 96).mean(axis=2)
            load[a : a + q.shape[0]] = to_res(q, missing_as_zero=False)
            tick(f"read {min(a + chunk_meters, len(cons_meter_ids))}/{len(cons_meter_ids)} meters")

        batteries = {b.id: b for b in park.batteries}
        eta = [batteries[a].round_trip_efficiency_pu for a in _ids(sm.charge, "asset_id")]
        gen_assets = _ids(sm.generation, "asset_id")
        contracts, contract_rows = _contracts(park, gen_assets, consumer_ids, resolution_min)
        sources, mix, intensity = grid_mix_for(site, index)
        initial_pool = None
        if eta:
            initial_pool = _pool_at(
                store,
                site,
                sm,
                contracts,
                [cons_meter_ids[r] for r in contract_rows],
                eta,
                lo,
                resolution_min,
                as_of,
            )
        attribution = attribute_park(
            generation_kwh=to_res(g_q, missing_as_zero=True),
            generation_source=_ids(sm.generation, "source"),
            total_load_kwh=_nansum_rows(load),
            grid_mix_pu=mix,
            grid_sources=list(sources),
            contract_load_kwh=load[contract_rows] if contracts else None,
            contracts=contracts,
            charge_kwh=to_res(c_q, missing_as_zero=True) if eta else None,
            discharge_kwh=to_res(d_q, missing_as_zero=True) if eta else None,
            round_trip_efficiency_pu=eta,
            initial_pool_kwh=initial_pool,
        )
        residual = (
            site.grid.ef_residual_kgco2_per_kwh
            or emission_factor(_RESIDUAL_DEFAULT).ef_kgco2_per_kwh
        )
        factors = Factors(
            location_kgco2_per_kwh=intensity,
            residual_kgco2_per_kwh=residual,
            reference_kgco2_per_kwh=ref.ef_kgco2_per_kwh,
            reference_name=ref.name,
            source_kgco2_per_kwh=(
                {k: emission_factor(v).ef_kgco2_per_kwh for k, v in _LIFECYCLE.items()}
                if lifecycle
                else {}
            ),
            clean_grid_sources=frozenset(s for s in sources if s != "fossil"),
        )
        daily = daily_trace(
            load, attribution, factors, per_day=per_day, contract_rows=contract_rows
        )
        tick(f"traced {site.id}")
        out.append(
            SiteTrace(
                site=site.id,
                days=[start + dt.timedelta(days=k) for k in range(days)],
                consumers=consumer_ids,
                daily=daily,
                park=attribution,
                per_day=per_day,
                load_kwh=load,
                contract_rows=contract_rows,
                completeness_pu=present,
                generation_completeness_pu=np.asarray(gen_completeness, dtype=np.float64),
                grid_sources=sources,
                location_factor_name=site.grid.ef_location_source,
                residual_kgco2_per_kwh=residual,
                source_factors=dict(factors.source_kgco2_per_kwh),
                ignored_meters=sm.ignored,
            )
        )
    if not out:
        raise NotFound(
            f"scenario {park.name!r} has no consumption meters registered at any of its sites; "
            "import readings for it first"
        )
    return out


def _contracts(
    park: Park, gen_assets: list[str], consumer_ids: list[str], resolution_min: int
) -> tuple[list[Contract], list[int]]:
    """The park's contracts as kernel contracts, and the load row of each contract consumer."""
    contracts: list[Contract] = []
    contract_rows: list[int] = []
    for c in sorted(park.contracts, key=lambda c: c.priority):
        if c.generator not in gen_assets or c.consumer not in consumer_ids:
            continue  # no meter for one side at this site: nothing metered to attribute
        row = consumer_ids.index(c.consumer)
        if row not in contract_rows:
            contract_rows.append(row)
        cap = float("inf") if c.cap_mw is None else c.cap_mw * 1000.0 * resolution_min / 60
        contracts.append(
            Contract(
                generator=gen_assets.index(c.generator),
                consumer=contract_rows.index(row),
                priority=c.priority,
                cap_kwh=cap,
            )
        )
    return contracts, contract_rows


def _pool_at(
    store: ReadingsStore,
    site: Site,
    sm: _SiteMeters,
    contracts: list[Contract],
    contract_meter_ids: list[str],
    eta: list[float],
    at: pd.Timestamp,
    resolution_min: int,
    as_of: dt.datetime | None,
) -> FloatArray | None:
    """Each battery's source pool at ``at``, replayed from its first reading. (S, P) [kWh]

    Only generation, storage and contract meters matter to the pools: consumers' loads decide
    who receives a discharge, not what the battery holds.
    """
    first = store.first_start([*_ids(sm.charge), *_ids(sm.discharge)], as_of=as_of)
    if first is None or first >= at:
        return None
    day0 = pd.Timestamp(local_day(pd.DatetimeIndex([first]))[0]).date()
    lo = local_date_start_utc(day0)
    step = resolution_min // 15

    def read(ids: list[str]) -> FloatArray:
        q = store.dense(ids, lo, at, resolution_min=15, as_of=as_of)
        if step == _STEPS:
            return _hourly(q, missing_as_zero=True)
        return np.nan_to_num(q)

    index = pd.date_range(lo, at, freq=f"{resolution_min}min", inclusive="left")
    sources, mix, _ = grid_mix_for(site, index)
    contract_load = store.dense(contract_meter_ids, lo, at, resolution_min=15, as_of=as_of)
    if step == _STEPS:
        contract_load = _hourly(contract_load, missing_as_zero=False)
    history = attribute_park(
        generation_kwh=read(_ids(sm.generation)),
        generation_source=_ids(sm.generation, "source"),
        total_load_kwh=np.zeros(len(index)),
        grid_mix_pu=mix,
        grid_sources=list(sources),
        contract_load_kwh=contract_load if contracts else None,
        contracts=contracts,
        charge_kwh=read(_ids(sm.charge)),
        discharge_kwh=read(_ids(sm.discharge)),
        round_trip_efficiency_pu=eta,
    )
    return np.asarray(history.storage_pool_kwh[:, -1, :])
