"""The dashboard's figures for one Asia/Shanghai day, from the daily report's own trace.

A day is traced exactly as ``suandian report daily`` traces it (:func:`trace_period`, then
:func:`daily_report` for every consumer's figures); this module only regroups the attribution
for display — hourly kWh by source group (on-site by source, storage, grid green, grid fossil),
the batteries' charge, discharge and state of energy, and the share of expected readings present
per meter kind — and scopes it to the caller: a tenant gets sums over its own consumers only.

Assembled days are cached per day under a key of the readings store's state that covers every
reading a day's figures can depend on: the count of registered meters and of stored reading
versions (corrections included) with an interval start before the day's end. A new reading or
correction for the day, or for any day before it (storage pools are replayed from the first
storage reading), changes the key, so that day is assembled again; readings of later days leave
it alone. A miss traces the block of :data:`_BLOCK_DAYS` days around its day in one pass (about
the cost of tracing one day), keeps the last few blocks, and assembles the day from its block;
a background thread warms every day from the latest back.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Final

import numpy as np
import numpy.typing as npt
import pandas as pd
from sqlalchemy import Engine, func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import aliased

from suandian.core.errors import NotFound, StoreError
from suandian.core.times import LOCAL_TZ, local_date_start_utc, local_day
from suandian.ledger.domain import LIVE_STATUSES, Status
from suandian.ledger.tables import AccountRow, BundleRow
from suandian.reports.daily import daily_report
from suandian.reports.period import SiteTrace, trace_period
from suandian.scenario.model import Park
from suandian.store.jobs import JobQueue
from suandian.store.platform import Principal
from suandian.store.readings import ReadingsStore

__all__ = [
    "GROUPS",
    "METER_KINDS",
    "NO_READINGS",
    "BatteryDay",
    "CertificateDay",
    "ConsumerDay",
    "DashboardCache",
    "DayFigures",
    "JobSpan",
    "MeterPresence",
    "ParkDay",
    "TenantView",
    "boundary_labels",
    "certificate_day",
    "day_span",
    "jobs_of_day",
    "local_hours",
    "view_for",
]

FloatArray = npt.NDArray[np.float64]
log = logging.getLogger("suandian.api.dashboard")

GROUPS: Final = (
    "onsite_pv",
    "onsite_wind",
    "onsite_hydro",
    "storage",
    "grid_green",
    "grid_fossil",
)
"""Source groups of the composition chart: storage discharge is one group whatever its origin
(the report counts it by origin; the green share and CFE figures here are the report's)."""

METER_KINDS: Final = (
    "generation",
    "storage_charge",
    "storage_discharge",
    "consumption",
    "grid_import",
    "grid_export",
)
_STEPS_PER_DAY: Final = 96  # 15-min readings
_RESOLUTION_MIN: Final = 60
_BLOCK_DAYS: Final = 31
"""Days traced together on a miss (and per step of warming)."""
_WARM_PAUSE_S: Final = 0.002
_BLOCK_CELLS_KEPT: Final = 20_000_000
"""Traced blocks are kept while their load matrices hold at most this many values (160 MB):
a year of blocks for a park of a few hundred consumers, the latest block for a far larger one."""


def _group_of(category: str) -> str:
    """Chart group of an attribution category (``onsite_pv``, ``storage_grid_wind``, …)."""
    kind, _, src = category.partition("_")
    if kind == "onsite":
        return category
    if kind == "storage":
        return "storage"
    return "grid_fossil" if src == "fossil" else "grid_green"


@dataclass(frozen=True)
class ConsumerDay:
    """One consumer's day: the report's row and its hourly kWh by source group."""

    consumer: str
    name: str
    name_zh: str
    site: str
    hourly_kwh: FloatArray
    """(24, G) kWh by :data:`GROUPS`; NaN in hours whose load is missing."""
    load_kwh: float
    matched_kwh: float
    clean_kwh: float
    avoided_kgco2: float
    emissions_location_kgco2: float
    emissions_market_kgco2: float
    completeness_pct: float
    present_readings: int
    """15-min readings of its consumption meter present that day."""


@dataclass(frozen=True)
class BatteryDay:
    battery: str
    site: str
    e_kwh: float
    """Usable energy capacity. [kWh]"""
    charge_kwh: FloatArray
    """(24,) metered charge per local hour; NaN where a quarter is missing."""
    discharge_kwh: FloatArray
    soe_kwh: FloatArray
    """(25,) energy held at each hour boundary, as the attribution's storage pool has it."""
    green_soe_kwh: FloatArray
    """(25,) the part of it charged from on-site green power."""


@dataclass(frozen=True)
class MeterPresence:
    meter_id: str
    kind: str
    asset_id: str | None
    present: int
    """15-min readings present that day (of 96)."""


@dataclass(frozen=True)
class ParkDay:
    """All the dashboard shows of one day, for the whole park (scoped by :func:`view_for`)."""

    date: dt.date
    consumers: tuple[ConsumerDay, ...]
    park_hourly_kwh: FloatArray
    """(24, G) sum over consumers with data."""
    park_load_kwh: float
    park_matched_kwh: float
    park_clean_kwh: float
    park_avoided_kgco2: float
    park_emissions_location_kgco2: float
    park_emissions_market_kgco2: float
    batteries: tuple[BatteryDay, ...]
    meters: tuple[MeterPresence, ...]
    reference_name: str
    reference_kgco2_per_kwh: float


@dataclass(frozen=True)
class DayFigures:
    """A caller's view of one day: sums over the consumers it may see."""

    date: dt.date
    hourly_kwh: FloatArray
    load_kwh: float
    matched_kwh: float
    clean_kwh: float
    avoided_kgco2: float
    emissions_location_kgco2: float
    emissions_market_kgco2: float

    @property
    def green_share_pct(self) -> float | None:
        return 100.0 * self.matched_kwh / self.load_kwh if self.load_kwh > 0 else None

    @property
    def cfe_pct(self) -> float | None:
        return 100.0 * self.clean_kwh / self.load_kwh if self.load_kwh > 0 else None


@dataclass(frozen=True)
class TenantView:
    """What one caller may see of a :class:`ParkDay`."""

    scope: str
    """``park`` or ``tenant``."""
    figures: DayFigures
    consumers: tuple[ConsumerDay, ...]
    meters: tuple[MeterPresence, ...]


def view_for(day: ParkDay, caller: Principal) -> TenantView:
    """``day`` as ``caller`` may see it: park roles everything, a tenant its consumers only.

    A tenant's figures are sums over its own consumers and its completeness counts only its own
    consumption meters, so nothing of another tenant, nor a park total, can be read from them.
    """
    if caller.sees_all:
        figures = DayFigures(
            date=day.date,
            hourly_kwh=day.park_hourly_kwh,
            load_kwh=day.park_load_kwh,
            matched_kwh=day.park_matched_kwh,
            clean_kwh=day.park_clean_kwh,
            avoided_kgco2=day.park_avoided_kgco2,
            emissions_location_kgco2=day.park_emissions_location_kgco2,
            emissions_market_kgco2=day.park_emissions_market_kgco2,
        )
        return TenantView("park", figures, day.consumers, day.meters)
    mine = tuple(c for c in day.consumers if caller.owns_asset(c.consumer))
    with_data = [c for c in mine if c.completeness_pct > 0]
    hourly = (
        _nansum([c.hourly_kwh for c in with_data])
        if with_data
        else np.full((24, len(GROUPS)), np.nan)
    )
    figures = DayFigures(
        date=day.date,
        hourly_kwh=hourly,
        load_kwh=sum(c.load_kwh for c in with_data),
        matched_kwh=sum(c.matched_kwh for c in with_data),
        clean_kwh=sum(c.clean_kwh for c in with_data),
        avoided_kgco2=sum(c.avoided_kgco2 for c in with_data),
        emissions_location_kgco2=sum(c.emissions_location_kgco2 for c in with_data),
        emissions_market_kgco2=sum(c.emissions_market_kgco2 for c in with_data),
    )
    meters = tuple(
        m for m in day.meters if m.kind == "consumption" and caller.owns_asset(m.asset_id)
    )
    return TenantView("tenant", figures, mine, meters)


def _nansum(arrays: Sequence[FloatArray]) -> FloatArray:
    """Element-wise sum ignoring NaN; NaN where every term is NaN (an hour nobody metered)."""
    stack = np.stack(arrays)
    out = np.nansum(stack, axis=0)
    out[np.all(np.isnan(stack), axis=0)] = np.nan
    return np.asarray(out, dtype=np.float64)


# --- the readings store's state ------------------------------------------------------------------


def day_span(store: ReadingsStore) -> tuple[dt.date, dt.date] | None:
    """First and last Asia/Shanghai day with a current reading, or ``None`` without readings."""
    span = store.span_utc()
    if span is None:
        return None
    first, last = (pd.Timestamp(d).date() for d in local_day(pd.DatetimeIndex(span)))
    return first, last


def _state_keys(store: ReadingsStore, days: Sequence[dt.date]) -> dict[dt.date, tuple[int, int]]:
    """Per day: (registered meters, stored reading versions starting before the day's end)."""
    ends = [local_date_start_utc(d + dt.timedelta(days=1)).to_pydatetime() for d in days]
    meters = store.counts()["meters"]
    return dict(zip(days, ((meters, n) for n in store.versions_before(ends)), strict=True))


# --- assembling days ------------------------------------------------------------------------------


def _hourly_by_group(trace: SiteTrace, d: int) -> FloatArray:
    """(C, 24, G) kWh of each consumer by source group in each interval of traced day ``d``.

    The daily report's hourly split (direct supply, then the remaining load at the interval's
    composition), kept by category and grouped for the chart instead of by origin.
    """
    park = trace.park
    lo, hi = trace.per_day * d, trace.per_day * (d + 1)
    load = trace.load_kwh[:, lo:hi]
    direct = np.zeros((load.shape[0], trace.per_day, len(park.categories)))
    for i, contract in enumerate(park.contracts):
        row = trace.contract_rows[contract.consumer]
        k = park.categories.index(f"onsite_{park.direct_source[i]}")
        direct[row, :, k] += np.where(np.isnan(load[row]), 0.0, park.direct_kwh[i, lo:hi])
    remaining = load - direct.sum(axis=2)
    per_category = remaining[:, :, np.newaxis] * park.fraction_pu[np.newaxis, lo:hi] + direct
    to_group = np.zeros((len(park.categories), len(GROUPS)))
    for k, name in enumerate(park.categories):
        to_group[k, GROUPS.index(_group_of(name))] = 1.0
    return np.asarray(per_category @ to_group, dtype=np.float64)


@dataclass(frozen=True)
class _Readings:
    """Every registered meter's 15-min readings over a traced period, read once."""

    meters: pd.DataFrame
    quarters: FloatArray
    """(M, days × 96) in the row order of ``meters``; NaN where missing. [kWh]"""
    first: dt.date

    @classmethod
    def read(cls, store: ReadingsStore, first: dt.date, days: int) -> _Readings:
        meters = store.meters()
        quarters = store.dense(
            [str(m) for m in meters["meter_id"]],
            local_date_start_utc(first),
            local_date_start_utc(first + dt.timedelta(days=days)),
        )
        return cls(meters, quarters, first)

    def day(self, day: dt.date) -> FloatArray:
        k = (day - self.first).days
        return self.quarters[:, _STEPS_PER_DAY * k : _STEPS_PER_DAY * (k + 1)]


def _batteries(
    park: Park, traces: list[SiteTrace], readings: _Readings, day: dt.date
) -> list[BatteryDay]:
    by_id = {b.id: b for b in park.batteries}
    meters = readings.meters.reset_index(drop=True)
    quarters = readings.day(day)
    out: list[BatteryDay] = []
    for trace in traces:
        d = trace.days.index(day)
        at_site = meters[meters["site"] == trace.site]
        # The park pass keeps one pool per battery with meters, in asset id order.
        ids = sorted(
            str(a)
            for a in at_site.loc[at_site["kind"] == "storage_charge", "asset_id"]
            if str(a) in by_id
        )
        row = {
            (str(k), str(a)): i
            for i, k, a in zip(at_site.index, at_site["kind"], at_site["asset_id"], strict=True)
        }
        pools = trace.park.storage_pool_kwh[:, trace.per_day * d : trace.per_day * (d + 1) + 1, :]
        onsite = [i for i, k in enumerate(trace.park.pool_keys) if not k.startswith("grid_")]
        for s, battery in enumerate(ids):
            charge = quarters[row[("storage_charge", battery)]]
            discharge = quarters[row[("storage_discharge", battery)]]
            out.append(
                BatteryDay(
                    battery=battery,
                    site=trace.site,
                    e_kwh=by_id[battery].e_mwh * 1000.0,
                    charge_kwh=charge.reshape(24, 4).sum(axis=1),
                    discharge_kwh=discharge.reshape(24, 4).sum(axis=1),
                    soe_kwh=pools[s].sum(axis=1),
                    green_soe_kwh=pools[s][:, onsite].sum(axis=1),
                )
            )
    return out


def _meter_presence(readings: _Readings, day: dt.date) -> list[MeterPresence]:
    present = np.isfinite(readings.day(day)).sum(axis=1)
    m = readings.meters
    return [
        MeterPresence(
            meter_id=str(i),
            kind=str(k),
            asset_id=None if a is None or pd.isna(a) else str(a),
            present=int(n),
        )
        for i, k, a, n in zip(m["meter_id"], m["kind"], m["asset_id"], present, strict=True)
    ]


def _assemble(park: Park, traces: list[SiteTrace], readings: _Readings, day: dt.date) -> ParkDay:
    report = daily_report(traces, park, date=day, resolution_min=_RESOLUTION_MIN)
    rows = report.rows.set_index("consumer")
    names_zh = {c.id: c.name_zh for c in park.consumers}
    consumers: list[ConsumerDay] = []
    for trace in traces:
        d = trace.days.index(day)
        hourly = _hourly_by_group(trace, d)
        for c, consumer in enumerate(trace.consumers):
            row = rows.loc[consumer]
            load = _num(row["load_kwh"])
            consumers.append(
                ConsumerDay(
                    consumer=consumer,
                    name=str(row["name"]),
                    name_zh=names_zh.get(consumer) or str(row["name"]),
                    site=trace.site,
                    hourly_kwh=hourly[c],
                    load_kwh=load,
                    # The report keeps shares; its matched and clean energies are share × load.
                    matched_kwh=_num(row["green_share_pct"]) * load / 100.0,
                    clean_kwh=_num(row["cfe_pct"]) * load / 100.0,
                    avoided_kgco2=_num(row["avoided_kgco2"]),
                    emissions_location_kgco2=_num(row["emissions_location_kgco2"]),
                    emissions_market_kgco2=_num(row["emissions_market_kgco2"]),
                    completeness_pct=_num(row["completeness_pct"]),
                    present_readings=round(float(trace.completeness_pu[c, d]) * _STEPS_PER_DAY),
                )
            )
    park_row = rows.loc["park"]
    with_data = [c.hourly_kwh for c in consumers if c.completeness_pct > 0]
    return ParkDay(
        date=day,
        consumers=tuple(consumers),
        park_hourly_kwh=(_nansum(with_data) if with_data else np.full((24, len(GROUPS)), np.nan)),
        park_load_kwh=_num(park_row["load_kwh"]),
        park_matched_kwh=sum(c.matched_kwh for c in consumers),
        park_clean_kwh=sum(c.clean_kwh for c in consumers),
        park_avoided_kgco2=_num(park_row["avoided_kgco2"]),
        park_emissions_location_kgco2=_num(park_row["emissions_location_kgco2"]),
        park_emissions_market_kgco2=_num(park_row["emissions_market_kgco2"]),
        batteries=tuple(_batteries(park, traces, readings, day)),
        meters=tuple(_meter_presence(readings, day)),
        reference_name=report.reference_name,
        reference_kgco2_per_kwh=report.reference_kgco2_per_kwh,
    )


def _num(value: object) -> float:
    """A report figure as a float, 0 for a consumer without data (NaN in the report)."""
    x = float(value)  # type: ignore[arg-type]
    return 0.0 if np.isnan(x) else x


# --- the cache ------------------------------------------------------------------------------------

Readings = Callable[[], AbstractContextManager[ReadingsStore]]
""":meth:`suandian.api.context.Platform.readings`: the store, held for a ``with`` block."""


@dataclass(frozen=True)
class _Block:
    """A traced run of days: the trace of the whole run is little dearer than one day's (the
    storage pools are replayed from the first storage reading either way), so a miss traces
    the block around its day and the block's other days only need assembling."""

    first: dt.date
    last: dt.date
    key: tuple[int, int]
    """State key of ``last``, which covers every day of the block."""
    traces: list[SiteTrace]
    readings: _Readings


def _cells(blocks: Iterable[_Block]) -> int:
    return sum(t.load_kwh.size for b in blocks for t in b.traces)


def _block_bounds(span: tuple[dt.date, dt.date], day: dt.date) -> tuple[dt.date, dt.date]:
    i = (day - span[0]).days // _BLOCK_DAYS
    first = span[0] + dt.timedelta(days=i * _BLOCK_DAYS)
    return first, min(span[1], first + dt.timedelta(days=_BLOCK_DAYS - 1))


@dataclass
class DashboardCache:
    """Assembled days of one service, each under the readings store's state key of that day,
    and the last few traced blocks of days they are assembled from."""

    _days: dict[dt.date, tuple[tuple[int, int], ParkDay]] = field(default_factory=dict)
    _blocks: OrderedDict[tuple[dt.date, dt.date], _Block] = field(default_factory=OrderedDict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _warming: threading.Thread | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _warmed: tuple[tuple[dt.date, dt.date], tuple[int, int]] | None = None
    """Span and whole-store key of the last complete warming."""
    assembled_days: int = 0
    """Days assembled so far, by requests and by warming."""
    traced_blocks: int = 0

    def day(self, store: ReadingsStore, park: Park, day: dt.date) -> ParkDay:
        """The assembled ``day``: from the cache while its state key holds, else assembled
        from its block (traced first when the block is not cached or stale)."""
        span = day_span(store)
        if span is None:
            raise NotFound(NO_READINGS)
        if not span[0] <= day <= span[1]:
            raise NotFound(
                f"no readings for {day.isoformat()}: readings cover {span[0].isoformat()} to "
                f"{span[1].isoformat()} (Asia/Shanghai days); pick a day in that range"
            )
        keys = _state_keys(store, [day])
        with self._lock:
            hit = self._days.get(day)
        if hit is not None and hit[0] == keys[day]:
            return hit[1]
        block = self._block(store, park, span, day)
        assembled = _assemble(park, block.traces, block.readings, day)
        self._keep([assembled], keys)
        return assembled

    def _block(
        self, store: ReadingsStore, park: Park, span: tuple[dt.date, dt.date], day: dt.date
    ) -> _Block:
        first, last = _block_bounds(span, day)
        key = _state_keys(store, [last])[last]
        with self._lock:
            block = self._blocks.get((first, last))
            if block is not None and block.key == key:
                self._blocks.move_to_end((first, last))
                return block
        n = (last - first).days + 1
        block = _Block(
            first=first,
            last=last,
            key=key,
            traces=trace_period(store, park, start=first, days=n, resolution_min=_RESOLUTION_MIN),
            readings=_Readings.read(store, first, n),
        )
        with self._lock:
            self._blocks[(first, last)] = block
            self._blocks.move_to_end((first, last))
            while len(self._blocks) > 1 and _cells(self._blocks.values()) > _BLOCK_CELLS_KEPT:
                self._blocks.popitem(last=False)
            self.traced_blocks += 1
        return block

    def _keep(self, assembled: Sequence[ParkDay], keys: dict[dt.date, tuple[int, int]]) -> None:
        with self._lock:
            for a in assembled:
                before = self._days.get(a.date)
                # Keys only grow: never replace a day assembled from later readings.
                if before is None or keys[a.date] >= before[0]:
                    self._days[a.date] = (keys[a.date], a)
            self.assembled_days += len(assembled)

    def progress(self, store: ReadingsStore, span: tuple[dt.date, dt.date]) -> tuple[int, bool]:
        """Days of ``span`` assembled so far, and whether warming finished on the store as it
        stands (every day of the span then answers from the cache)."""
        whole = _state_keys(store, [span[1]])[span[1]]
        with self._lock:
            cached = sum(1 for d in self._days if span[0] <= d <= span[1])
            return cached, self._warmed == (span, whole)

    def warm(self, readings: Readings, park: Park) -> None:
        """Assemble every day with readings not cached yet, latest first, in a daemon thread.

        The thread holds the store for one block's trace and read at a time, so requests
        interleave with it, and does nothing when no reading changed since it last ran;
        :meth:`stop` ends it.
        """
        with self._lock:
            if self._stop.is_set() or (self._warming is not None and self._warming.is_alive()):
                return
            thread = threading.Thread(
                target=self._warm, args=(readings, park), name="dashboard-warm", daemon=True
            )
            self._warming = thread
        thread.start()

    def wait(self) -> None:
        """Wait for the warming thread, if one runs, to finish."""
        thread = self._warming
        if thread is not None:
            thread.join()

    def stop(self) -> None:
        """Stop warming (before the service closes its stores) and wait for the thread."""
        self._stop.set()
        thread = self._warming
        if thread is not None:
            thread.join()

    def _warm(self, readings: Readings, park: Park) -> None:
        try:
            with readings() as store:
                span = day_span(store)
                if span is None:
                    return
                whole = _state_keys(store, [span[1]])[span[1]]
            if self._warmed == (span, whole):
                return  # nothing changed since the last warming
            day = span[1]
            while day >= span[0]:
                first, last = _block_bounds(span, day)
                days = [first + dt.timedelta(days=k) for k in range((last - first).days + 1)]
                with readings() as store:
                    if day_span(store) != span:
                        return  # readings of new days: the next call warms again
                    keys = _state_keys(store, days)
                    with self._lock:
                        stale = [d for d in days if self._days.get(d, ((-1, -1),))[0] != keys[d]]
                    block = self._block(store, park, span, first) if stale else None
                # Assembly needs no store: requests get it meanwhile.
                for d in stale:
                    if self._stop.is_set() or block is None:
                        return
                    self._keep([_assemble(park, block.traces, block.readings, d)], keys)
                    time.sleep(_WARM_PAUSE_S)  # let requests' threads in between days
                day = first - dt.timedelta(days=1)
            self._warmed = (span, whole)
        except Exception:
            # Warming only saves time; a request assembles its day itself on a miss.
            log.exception("warming the dashboard's days stopped")


NO_READINGS: Final = (
    "no meter readings are stored yet; run `suandian demo` or send readings to the "
    "ingestion API first"
)


def local_hours() -> list[str]:
    """Labels of the 24 local hours of a day (``00:00`` … ``23:00``)."""
    return [f"{h:02d}:00" for h in range(24)]


def boundary_labels(day: dt.date) -> list[str]:
    """The 25 hour boundaries of ``day`` as local ISO times (the last is next midnight)."""
    start = local_date_start_utc(day)
    return [(start + pd.Timedelta(hours=h)).tz_convert(LOCAL_TZ).isoformat() for h in range(25)]


# --- certificates and jobs (SQL store) ------------------------------------------------------------


@dataclass(frozen=True)
class CertificateDay:
    """Certificates of production hours in one day, by what became of them. [kWh]

    ``issued`` is every certificate issued for the day's hours (storage discharge included) and
    splits into the other four; for a tenant, what was allocated to its consumers.
    """

    issued_kwh: float
    claimed_kwh: float
    available_kwh: float
    """Still live (active, locked or reserved)."""
    into_storage_kwh: float
    """Cancelled into a battery as it charged (reissued on discharge)."""
    other_retired_kwh: float
    """Cancelled without a claim yet, withdrawn or expired."""


def certificate_day(
    engine: Engine, day: dt.date, accounts: frozenset[str] | None
) -> CertificateDay:
    """Status of the certificates produced in ``day``; ``accounts`` limits it to those consumer
    accounts (a tenant's assets), ``None`` is the whole park."""
    lo = local_date_start_utc(day).to_pydatetime()
    hi = local_date_start_utc(day + dt.timedelta(days=1)).to_pydatetime()
    owner = aliased(AccountRow)
    beneficiary = aliased(AccountRow)
    stmt = (
        select(
            BundleRow.status,
            BundleRow.charge_id.is_not(None).label("into_storage"),
            owner.code.label("owner"),
            beneficiary.code.label("beneficiary"),
            func.sum(BundleRow.wh).label("wh"),
        )
        .join(owner, owner.id == BundleRow.owner_id)
        .outerjoin(beneficiary, beneficiary.id == BundleRow.beneficiary_id)
        .where(
            BundleRow.start_utc >= lo,
            BundleRow.start_utc < hi,
            BundleRow.status != Status.SPLIT.value,
        )
        .group_by(BundleRow.status, "into_storage", owner.code, beneficiary.code)
    )
    try:
        with engine.connect() as conn:
            rows = conn.execute(stmt).all()
    except SQLAlchemyError as exc:
        raise StoreError(f"reading certificates for {day.isoformat()} failed: {exc}") from None
    sums = dict.fromkeys(("issued", "claimed", "available", "storage", "other"), 0)
    live = {s.value for s in LIVE_STATUSES}
    for r in rows:
        if accounts is not None and r.owner not in accounts and r.beneficiary not in accounts:
            continue
        wh = int(r.wh or 0)
        sums["issued"] += wh
        if r.status == Status.CLAIMED.value:
            sums["claimed"] += wh
        elif r.status in live:
            sums["available"] += wh
        elif r.into_storage:
            sums["storage"] += wh
        else:
            sums["other"] += wh
    return CertificateDay(
        issued_kwh=sums["issued"] / 1000.0,
        claimed_kwh=sums["claimed"] / 1000.0,
        available_kwh=sums["available"] / 1000.0,
        into_storage_kwh=sums["storage"] / 1000.0,
        other_retired_kwh=sums["other"] / 1000.0,
    )


@dataclass(frozen=True)
class JobSpan:
    tenant: str
    job_id: str
    status: str
    site: str | None
    start_utc: dt.datetime
    end_utc: dt.datetime
    """Planned run ``[start, end)``; for an unplanned job, its window."""
    power_mw: float
    planned: bool


_TIMELINE_STATUSES: Final = ("planned", "running", "done")
_WAITING_STATUSES: Final = ("queued", "failed")


def jobs_of_day(queue: JobQueue, day: dt.date, tenant: str | None) -> list[JobSpan]:
    """Jobs planned to run during ``day`` (by site) and unplanned jobs whose window overlaps it;
    ``tenant`` limits them to one organisation's."""
    lo = local_date_start_utc(day).to_pydatetime()
    hi = local_date_start_utc(day + dt.timedelta(days=1)).to_pydatetime()
    out: list[JobSpan] = []
    for q in queue.jobs(tenant=tenant):
        job = q.job
        if q.status in _TIMELINE_STATUSES and q.start_utc is not None:
            start = q.start_utc
            end = start + dt.timedelta(minutes=job.step_min * job.duration_steps)
            planned = True
        elif q.status in _WAITING_STATUSES:
            start, end, planned = job.release_utc, job.deadline_utc, False
        else:
            continue
        if start < hi and end > lo:
            out.append(
                JobSpan(
                    tenant=job.tenant,
                    job_id=job.id,
                    status=q.status,
                    site=q.site if planned else None,
                    start_utc=start,
                    end_utc=end,
                    power_mw=job.power_mw,
                    planned=planned,
                )
            )
    return sorted(out, key=lambda j: (j.site or "~", j.start_utc, j.tenant, j.job_id))
