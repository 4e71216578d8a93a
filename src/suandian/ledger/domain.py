"""Pure rules of the certificate ledger: statuses, ID ranges, split arithmetic, intervals, expiry.

Nothing here touches a database; :mod:`suandian.ledger.service` applies these rules inside one
transaction per operation.

ID scheme
---------
One Wh is one certificate ID. Device number ``n`` (its row id, 1 ≤ n ≤ 32,767) owns the disjoint
global ID space ``[n << 48, (n + 1) << 48)``, 2⁴⁸ Wh ≈ 281 TWh per device, so an ID names its
device on its own (``device_no_of(id) = id >> 48``). Within a device IDs are handed out in issue
order by a per-device counter: a new range starts at the device's last ``end_id + 1``. A bundle
is an inclusive range ``[start_id, end_id]`` of one device and one production interval; its face
value is ``end_id - start_id + 1`` Wh.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from suandian.core.errors import InputError, TimeError

__all__ = [
    "EXPIRY_YEARS",
    "ID_BITS",
    "LIVE_STATUSES",
    "MAX_DEVICE_NO",
    "MAX_INTERVAL",
    "RETIRED_STATUSES",
    "AccountKind",
    "BundleView",
    "ChainHead",
    "ClaimView",
    "ConsumptionView",
    "DeviceView",
    "IssueLine",
    "MeterReading",
    "Source",
    "Status",
    "VerifyResult",
    "check_consumption_hour",
    "check_production_interval",
    "check_wh",
    "device_id_base",
    "device_no_of",
    "discharge_allowance_wh",
    "expiry_utc",
    "floor_hour",
    "next_range",
    "split_ranges",
    "utc",
]

ID_BITS = 48
"""Bits of a device's own ID space: IDs of device ``n`` are ``[n << 48, (n + 1) << 48)``."""
MAX_DEVICE_NO = (1 << (63 - ID_BITS)) - 1
"""Largest device number whose IDs still fit a signed 64-bit integer (32,767)."""
MAX_INTERVAL = dt.timedelta(hours=1)
"""Longest production interval of one bundle."""
EXPIRY_YEARS = 2
"""A bundle expires this many years after the end of its production interval."""
HOUR = dt.timedelta(hours=1)
_EFFICIENCY_SCALE = 1_000_000  # η is applied as an integer number of parts per million


class AccountKind(StrEnum):
    """Who holds an account."""

    GENERATOR = "generator"
    CONSUMER = "consumer"
    PARK_OPERATOR = "park_operator"
    """Operates the park's registry: registers devices, records metering, issues, withdraws."""
    AUDITOR = "auditor"


class Source(StrEnum):
    PV = "pv"
    WIND = "wind"
    HYDRO = "hydro"
    STORAGE = "storage"


class Status(StrEnum):
    """Status of a bundle.

    ``active`` bundles may be transferred, split, cancelled and withdrawn. ``split`` marks a parent
    whose range now lives on in its children: it is no longer live and counts for nothing.
    ``cancelled``, ``claimed``, ``withdrawn`` and ``expired`` are retired: final, never
    transferable. ``locked`` and ``reserved`` (held by an auditor or a pending trade) are live but
    not transferable; no operation of this module sets them yet.
    """

    ACTIVE = "active"
    SPLIT = "split"
    CANCELLED = "cancelled"
    CLAIMED = "claimed"
    WITHDRAWN = "withdrawn"
    EXPIRED = "expired"
    LOCKED = "locked"
    RESERVED = "reserved"


LIVE_STATUSES = frozenset({Status.ACTIVE, Status.LOCKED, Status.RESERVED})
RETIRED_STATUSES = frozenset({Status.CANCELLED, Status.CLAIMED, Status.WITHDRAWN, Status.EXPIRED})


# --- inputs -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MeterReading:
    """Metered energy of one device (generation) or one consumer account (consumption)."""

    start_utc: dt.datetime
    end_utc: dt.datetime
    wh: int
    meter_ref: str
    """Lineage of the value, e.g. ``"m-pv-01@v2"`` (meter id and reading version)."""


@dataclass(frozen=True)
class IssueLine:
    """Certificates to issue for one metered production interval of a device."""

    start_utc: dt.datetime
    end_utc: dt.datetime
    wh: int


# --- read models --------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeviceView:
    code: str
    device_no: int
    name: str
    source: Source
    capacity_mw: float
    site: str
    zone: str
    country: str
    commissioned_on: dt.date
    owner: str
    """Code of the owner account."""
    emission_factor_g_per_kwh: float
    project_code: str
    round_trip_efficiency_pu: float | None
    """η of a storage device; ``None`` for generation."""


@dataclass(frozen=True)
class BundleView:
    """One bundle as stored; ``wh == end_id - start_id + 1``."""

    id: int
    device: str
    issuance_id: int
    parent_id: int | None
    start_id: int
    end_id: int
    wh: int
    production_start_utc: dt.datetime
    production_end_utc: dt.datetime
    owner: str
    status: Status
    source: Source
    country: str
    zone: str
    emission_factor_g_per_kwh: float
    storage: bool
    issuer: str
    expires_utc: dt.datetime
    beneficiary: str | None
    consumption_start_utc: dt.datetime | None
    consumption_end_utc: dt.datetime | None


@dataclass(frozen=True)
class ClaimView:
    """A claimed bundle with the lineage an evidence pack cites."""

    bundle: BundleView
    device: DeviceView
    meter_ref: str
    """Reference of the generation reading the bundle was issued against."""
    claimed_utc: dt.datetime


@dataclass(frozen=True)
class ConsumptionView:
    account: str
    start_utc: dt.datetime
    end_utc: dt.datetime
    wh: int
    claimed_wh: int
    meter_ref: str


@dataclass(frozen=True)
class ChainHead:
    seq: int
    """Sequence number of the last event; 0 for an empty chain."""
    hash: str
    """Hex SHA-256 of the last event; 64 zeros for an empty chain."""


@dataclass(frozen=True)
class VerifyResult:
    """Outcome of recomputing the event chain."""

    ok: bool
    head_hash: str
    """Hash of the last event that verified (64 zeros if none did)."""
    count: int
    """Events read."""
    first_bad_seq: int | None
    """Sequence number of the first event altered, missing or out of order."""
    reason: str | None


# --- rules --------------------------------------------------------------------------------------


def utc(value: dt.datetime, field: str) -> dt.datetime:
    """``value`` in UTC; a naive datetime is refused (it could be UTC or Beijing time)."""
    if not isinstance(value, dt.datetime):
        raise TimeError(f"{field}: expected a tz-aware datetime, got {value!r}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise TimeError(
            f"{field}: naive datetime {value.isoformat()} has no time zone; attach one, e.g. "
            f"datetime(..., tzinfo=datetime.UTC) or '2025-01-15T08:00:00+00:00'"
        )
    return value.astimezone(dt.UTC)


def check_wh(wh: int, field: str, *, allow_zero: bool = False) -> int:
    """An energy quantity: a whole, non-negative (or positive) number of Wh."""
    if isinstance(wh, bool) or not isinstance(wh, int):
        raise InputError(f"{field}: {wh!r} is not a whole number of Wh; round it to an int")
    if wh < 0 or (wh == 0 and not allow_zero):
        need = "≥ 0" if allow_zero else "> 0"
        raise InputError(f"{field}: {wh} Wh; it must be {need}")
    return wh


def check_production_interval(
    start: dt.datetime, end: dt.datetime, field: str = "production interval"
) -> tuple[dt.datetime, dt.datetime]:
    """A production interval ``[start, end)``: at most one hour, inside one clock hour.

    Keeping each interval inside one clock hour (UTC and Asia/Shanghai hours coincide) lets
    every bundle be matched against exactly one consumption hour.
    """
    s, e = utc(start, f"{field} start"), utc(end, f"{field} end")
    if e <= s:
        raise TimeError(f"{field}: end {e.isoformat()} must be after start {s.isoformat()}")
    if e - s > MAX_INTERVAL:
        raise TimeError(f"{field}: {s.isoformat()}–{e.isoformat()} is longer than one hour")
    hour = floor_hour(s)
    if e > hour + HOUR:
        raise TimeError(
            f"{field}: {s.isoformat()}–{e.isoformat()} crosses the clock hour at "
            f"{(hour + HOUR).isoformat()}; split it at the hour"
        )
    return s, e


def check_consumption_hour(
    start: dt.datetime, end: dt.datetime, field: str = "consumption period"
) -> tuple[dt.datetime, dt.datetime]:
    """A consumption period: exactly one clock hour ``[h, h + 1 h)``."""
    s, e = utc(start, f"{field} start"), utc(end, f"{field} end")
    if s != floor_hour(s) or e - s != HOUR:
        h = floor_hour(s)
        raise TimeError(
            f"{field}: {s.isoformat()}–{e.isoformat()} is not one clock hour; consumption is "
            f"matched hourly, e.g. {h.isoformat()}–{(h + HOUR).isoformat()}"
        )
    return s, e


def floor_hour(t: dt.datetime) -> dt.datetime:
    """Start of the clock hour holding ``t`` (UTC and Asia/Shanghai hours coincide)."""
    return t.replace(minute=0, second=0, microsecond=0)


def expiry_utc(production_end_utc: dt.datetime) -> dt.datetime:
    """End of production plus two calendar years (29 February rolls to 1 March)."""
    t = utc(production_end_utc, "production end")
    try:
        return t.replace(year=t.year + EXPIRY_YEARS)
    except ValueError:  # 29 February into a common year
        return t.replace(year=t.year + EXPIRY_YEARS, month=3, day=1)


def device_id_base(device_no: int) -> int:
    """First certificate ID of device ``device_no``."""
    if not 1 <= device_no <= MAX_DEVICE_NO:
        raise InputError(
            f"device number {device_no} is outside 1–{MAX_DEVICE_NO}; the ID space of one "
            f"ledger holds {MAX_DEVICE_NO} devices"
        )
    return device_no << ID_BITS


def device_no_of(cert_id: int) -> int:
    """Device number an ID belongs to."""
    return cert_id >> ID_BITS


def next_range(next_id: int, wh: int) -> tuple[int, int]:
    """Inclusive range of ``wh`` IDs starting at ``next_id``, inside one device's space."""
    start, end = next_id, next_id + wh - 1
    if device_no_of(start) != device_no_of(end):
        raise InputError(
            f"issuing {wh} Wh from ID {start} would leave device {device_no_of(start)}'s ID space"
        )
    return start, end


def split_ranges(start_id: int, end_id: int, sizes_wh: Sequence[int]) -> list[tuple[int, int]]:
    """Child ranges that partition ``[start_id, end_id]`` in order, one per size.

    A 1,000 Wh bundle starting at ``s`` split ``[250, 750]`` gives ``[s, s + 249]`` and
    ``[s + 250, s + 999]``.
    """
    total = end_id - start_id + 1
    if len(sizes_wh) < 2:
        raise InputError(f"split sizes {list(sizes_wh)}: give at least two parts")
    for i, w in enumerate(sizes_wh):
        check_wh(w, f"split size [{i}]")
    if sum(sizes_wh) != total:
        raise InputError(
            f"split sizes {list(sizes_wh)} add up to {sum(sizes_wh)} Wh, the bundle holds "
            f"{total} Wh; the parts must add up to it exactly"
        )
    out, s = [], start_id
    for w in sizes_wh:
        out.append((s, s + w - 1))
        s += w
    return out


def discharge_allowance_wh(charged_wh: int, round_trip_efficiency_pu: float) -> int:
    """Most storage-discharge Wh that ``charged_wh`` of cancelled charge certificates allow.

    ``floor(charged_wh × η)``, with η taken to parts per million so the result is exact and the
    same on every database.
    """
    eta_ppm = round(round_trip_efficiency_pu * _EFFICIENCY_SCALE)
    return charged_wh * eta_ppm // _EFFICIENCY_SCALE
