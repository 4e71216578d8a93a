"""Certify a park's metered green power: register it in the ledger, issue, allocate, claim.

The step of the closed loop between metering and reporting (DESIGN §2): from the readings in
the meters store, the certificate ledger (:class:`~suandian.ledger.Ledger`) gets

1. **a registry** derived from the scenario (:func:`register_park`): organisation ``park``
   with the issuing account ``park-operator`` (park operator), ``park-generation`` (generator,
   owner of every generating device) and ``park-auditor`` (auditor); one organisation and one
   consumer account per data center and enterprise, named by its id and accepting transfers
   from ``park-generation``; one device per PV plant, wind farm and hydro plant with its site,
   grid zone, lifecycle emission factor and a 12-character GEC project code
   (``QH`` + the first ten hex digits of the SHA-1 of its id, upper case);
2. **metered energy by clock hour** (:func:`record_metering`): each generator meter's and
   each consumer meter's quarter-hour readings summed per UTC hour and rounded to whole Wh, with
   the meter id as lineage (``m-pv-01@hourly``). An hour with a missing quarter is not
   recorded (a certificate is never issued against energy that was not metered);
3. **issuance** (:func:`issue_metered`): one bundle per device and metered hour, all hours of a
   device in one transaction; hours issued before are skipped, so a rerun adds only new hours;
4. **allocation and claims** (:func:`claim_hourly`), hour by hour: the certificates of the hour
   go first to the consumers holding a direct contract (绿电直连) with their device, by
   priority and up to the contracted capacity and the consumer's metered consumption; what is
   left is shared across consumers pro rata to the consumption they still have uncovered, never
   above it (Wh rounded down; the remainder stays with ``park-generation`` as active
   certificates, e.g. for export or sale). A device-hour's bundles are split into one part per
   receiving consumer (plus the remainder); the parts are transferred, cancelled for the
   consumer and that hour, and claimed against its metered consumption. Certificates already
   expired (two years after production) are skipped with a note. Each step is its own
   transaction: a run that stops half way leaves parts with a consumer, and the next run
   cancels and claims those first, so nothing is stranded.

**Storage.** Each battery is a storage device of ``park-generation`` (η its round trip). In
an hour it charges, it takes its metered charge from the hour's certificates first (as the
trace takes storage charging first from the on-site pool) and
:meth:`~suandian.ledger.Ledger.record_charge` cancels them; in an hour it discharges, its
metered discharge (a generation reading of the battery) is issued as storage-discharge
certificates by :meth:`~suandian.ledger.Ledger.issue_discharge`, never above η × what was
charged earlier in the run less what was discharged, and they join the hour's pool for the
consumers. Energy the battery held before the first charge of the run stays uncertified.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import pandas as pd

from suandian.core.errors import InputError, LedgerConflict, NotFound
from suandian.grid.factors import emission_factor
from suandian.ledger import ChainHead, ConsumptionView, IssueLine, Ledger, MeterReading
from suandian.ledger.domain import floor_hour
from suandian.scenario.model import Park
from suandian.store.readings import ReadingsStore

__all__ = [
    "AUDITOR",
    "GENERATOR",
    "OPERATOR",
    "CertifyResult",
    "certify_park",
    "claim_hourly",
    "hourly_charge_wh",
    "issue_metered",
    "project_code",
    "record_metering",
    "register_park",
]

OPERATOR = "park-operator"
GENERATOR = "park-generation"
AUDITOR = "park-auditor"
_PARK_ORG = "park"
_LIFECYCLE = {"pv": "lifecycle-solar", "wind": "lifecycle-wind", "hydro": "lifecycle-hydro"}
_WH_PER_KWH = 1000
_HOUR = dt.timedelta(hours=1)

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class CertifyResult:
    """What one certification run did."""

    devices: tuple[str, ...]
    consumers: tuple[str, ...]
    generation_hours: int
    """Device-hours of metered generation recorded by this run."""
    consumption_hours: int
    issued_bundles: int
    issued_wh: int
    claim_start_utc: dt.datetime | None
    claim_end_utc: dt.datetime | None
    claimed_wh: dict[str, int] = field(default_factory=dict)
    """Per consumer: Wh claimed in the claim window by this run."""
    consumption_wh: dict[str, int] = field(default_factory=dict)
    """Per consumer: metered Wh in the claim window."""
    head: ChainHead | None = None
    notes: tuple[str, ...] = ()

    def to_json(self) -> dict[str, object]:
        return {
            "devices": list(self.devices),
            "consumers": list(self.consumers),
            "generation_hours": self.generation_hours,
            "consumption_hours": self.consumption_hours,
            "issued_bundles": self.issued_bundles,
            "issued_mwh": self.issued_wh / 1e6,
            "claim_start_utc": _iso(self.claim_start_utc),
            "claim_end_utc": _iso(self.claim_end_utc),
            "claimed_mwh": {k: v / 1e6 for k, v in self.claimed_wh.items()},
            "consumption_mwh": {k: v / 1e6 for k, v in self.consumption_wh.items()},
            "notes": list(self.notes),
            "chain_head": None
            if self.head is None
            else {"seq": self.head.seq, "hash": self.head.hash},
        }


def _iso(t: dt.datetime | None) -> str | None:
    return None if t is None else t.isoformat()


def project_code(asset_id: str) -> str:
    """The 12-character GEC project code of a scenario asset (see the module docstring)."""
    return "QH" + hashlib.sha1(asset_id.encode("utf-8")).hexdigest()[:10].upper()


def _name(asset: object, fallback: str) -> str:
    name = getattr(asset, "name", "")
    return name if isinstance(name, str) and name else fallback


def _generators(park: Park) -> list[tuple[str, str, str, float, str]]:
    """(id, name, source, capacity MW, site) of every generating asset."""
    out = [(p.id, _name(p, p.id), "pv", p.p_ac_mw, p.site) for p in park.pv_plants]
    out += [(w.id, _name(w, w.id), "wind", w.capacity_mw, w.site) for w in park.wind_farms]
    out += [(h.id, _name(h, h.id), "hydro", h.capacity_mw, h.site) for h in park.hydro_plants]
    return out


def _consumers(park: Park) -> list[tuple[str, str, str]]:
    """(id, name, site) of every data center and enterprise."""
    return [(c.id, _name(c, c.id), c.site) for c in [*park.data_centers, *park.consumers]]


def _once(action: Callable[..., object], **kwargs: object) -> bool:
    """Run a registry action; False if what it creates exists already."""
    try:
        action(**kwargs)
    except LedgerConflict as exc:
        if "already exists" in str(exc):
            return False
        raise
    return True


def register_park(ledger: Ledger, park: Park, *, commissioned_on: dt.date | None = None) -> None:
    """Organisations, accounts and devices of ``park`` (existing ones are left as they are)."""
    since = commissioned_on or dt.date(park.year - 1, 1, 1)
    _once(ledger.create_organisation, code=_PARK_ORG, name=park.title or park.name)
    for code, kind in ((OPERATOR, "park_operator"), (GENERATOR, "generator"), (AUDITOR, "auditor")):
        _once(ledger.create_account, code=code, organisation=_PARK_ORG, kind=kind)
    for cid, name, _site in _consumers(park):
        _once(ledger.create_organisation, code=cid, name=name)
        _once(
            ledger.create_account, code=cid, organisation=cid, kind="consumer", accepts=(GENERATOR,)
        )
    zone_of = {s.id: s.zone for s in park.sites}
    for b in park.batteries:
        try:
            ledger.device(b.id)
        except NotFound:
            ledger.register_device(
                code=b.id,
                name=_name(b, b.id),
                source="storage",
                capacity_mw=b.p_mw,
                site=b.site,
                zone=zone_of[b.site],
                commissioned_on=since,
                owner=GENERATOR,
                emission_factor_g_per_kwh=0.0,
                project_code=project_code(b.id),
                round_trip_efficiency_pu=b.round_trip_efficiency_pu,
            )
    for gid, name, source, capacity_mw, site in _generators(park):
        try:
            ledger.device(gid)
            continue  # registered by an earlier run
        except NotFound:
            pass
        ledger.register_device(
            code=gid,
            name=name,
            source=source,
            capacity_mw=capacity_mw,
            site=site,
            zone=zone_of[site],
            commissioned_on=since,
            owner=GENERATOR,
            emission_factor_g_per_kwh=emission_factor(_LIFECYCLE[source]).ef_kgco2_per_kwh * 1e3,
            project_code=project_code(gid),
        )


def _hourly_wh(
    store: ReadingsStore, meter_ids: Sequence[str], start_utc: dt.datetime, end_utc: dt.datetime
) -> tuple[pd.DatetimeIndex, npt.NDArray[np.int64], npt.NDArray[np.bool_]]:
    """Hourly Wh per meter (rows) and whether the hour is complete (all four quarters)."""
    for name, t in (("start_utc", start_utc), ("end_utc", end_utc)):
        if t != floor_hour(t):
            raise InputError(
                f"{name}: {t.isoformat()} is not on the hour; certificates are issued per clock "
                "hour, so give whole hours (e.g. a local day's start)"
            )
    quarters = store.dense(meter_ids, start_utc, end_utc, resolution_min=15)
    n_h = quarters.shape[1] // 4
    blocks = quarters[:, : n_h * 4].reshape(len(meter_ids), n_h, 4)
    complete: npt.NDArray[np.bool_] = np.asarray(np.isfinite(blocks).all(axis=2))
    kwh = np.where(complete, np.nansum(blocks, axis=2), 0.0)
    wh = np.floor(kwh * _WH_PER_KWH + 1e-6).astype(np.int64)
    hours = pd.date_range(start_utc, periods=n_h, freq="1h", tz="UTC")
    return hours, wh, complete


def _readings(
    hours: pd.DatetimeIndex,
    wh: npt.NDArray[np.int64],
    complete: npt.NDArray[np.bool_],
    meter_id: str,
    skip: set[dt.datetime],
) -> list[MeterReading]:
    out = []
    for t, v, ok in zip(hours.to_pydatetime(), wh.tolist(), complete.tolist(), strict=True):
        if ok and t not in skip:
            out.append(MeterReading(t, t + _HOUR, int(v), f"{meter_id}@hourly"))
    return out


def _record(
    store: ReadingsStore,
    pairs: Sequence[tuple[str, str]],
    start_utc: dt.datetime,
    end_utc: dt.datetime,
    *,
    held: Callable[[str], Sequence[MeterReading] | Sequence[ConsumptionView]],
    record: Callable[[str, list[MeterReading]], int],
) -> int:
    """Record each (ledger id, meter id)'s complete hours the ledger does not hold yet."""
    if not pairs:
        return 0
    hours, wh, ok = _hourly_wh(store, [m for _, m in pairs], start_utc, end_utc)
    added = 0
    for i, (code, meter) in enumerate(pairs):
        have = {r.start_utc for r in held(code)}
        readings = _readings(hours, wh[i], ok[i], meter, have)
        if readings:
            added += record(code, readings)
    return added


def record_metering(
    ledger: Ledger, store: ReadingsStore, park: Park, start_utc: dt.datetime, end_utc: dt.datetime
) -> tuple[int, int]:
    """Hourly metered generation and consumption of ``park`` into the ledger.

    Hours the ledger holds already are skipped. Returns (device-hours, consumer-hours) added.
    """
    # (ledger id, meter id) pairs; a battery's discharge is its storage device's generation.
    generation = [(g[0], f"m-{g[0]}") for g in _generators(park)]
    generation += [(b.id, f"m-{b.id}-discharge") for b in park.batteries]
    consumption = [(c[0], f"m-{c[0]}") for c in _consumers(park)]
    n_gen = _record(
        store,
        generation,
        start_utc,
        end_utc,
        held=lambda code: ledger.generation_for(code, start_utc, end_utc),
        record=lambda code, rs: ledger.record_generation(device=code, readings=rs),
    )
    n_con = _record(
        store,
        consumption,
        start_utc,
        end_utc,
        held=lambda code: ledger.consumption_for(code, start_utc, end_utc),
        record=lambda code, rs: ledger.record_consumption(account=code, readings=rs),
    )
    return n_gen, n_con


def hourly_charge_wh(
    store: ReadingsStore, park: Park, start_utc: dt.datetime, end_utc: dt.datetime
) -> dict[str, dict[dt.datetime, int]]:
    """Metered charge of each battery per complete clock hour in ``[start, end)``. [Wh]"""
    bats = [b.id for b in park.batteries]
    if not bats:
        return {}
    hours, wh, ok = _hourly_wh(store, [f"m-{b}-charge" for b in bats], start_utc, end_utc)
    starts = hours.to_pydatetime()
    return {
        b: {t: int(v) for t, v, k in zip(starts, wh[i], ok[i], strict=True) if k and v > 0}
        for i, b in enumerate(bats)
    }


def issue_metered(
    ledger: Ledger, park: Park, start_utc: dt.datetime, end_utc: dt.datetime
) -> tuple[int, int]:
    """Issue every metered, not yet issued device-hour of ``park``; (bundles, Wh) issued."""
    bundles = wh = 0
    for gid, *_ in _generators(park):
        done = set(ledger.issued_starts(gid, start_utc, end_utc))
        lines = [
            IssueLine(r.start_utc, r.end_utc, r.wh)
            for r in ledger.generation_for(gid, start_utc, end_utc)
            if r.start_utc not in done and r.wh > 0
        ]
        if lines:
            bundles += len(ledger.issue_many(device=gid, lines=lines, issuer=OPERATOR))
            wh += sum(line.wh for line in lines)
    return bundles, wh


def _allocate(
    available_wh: dict[str, int],
    need_wh: dict[str, int],
    direct: Sequence[tuple[str, str, int, float | None]],
) -> dict[str, dict[str, int]]:
    """Per device, Wh for each consumer: direct contracts first, then pro rata (floored).

    ``direct`` holds (device, consumer, priority, cap MW) of the contracts.
    """
    left = dict(available_wh)
    need = dict(need_wh)
    out: dict[str, dict[str, int]] = {d: {} for d in available_wh}
    for device, consumer, _prio, cap_mw in sorted(direct, key=lambda c: c[2]):
        if device not in left or consumer not in need:
            continue
        cap = left[device] if cap_mw is None else min(left[device], int(cap_mw * 1e6))
        give = min(cap, need[consumer])
        if give > 0:
            out[device][consumer] = out[device].get(consumer, 0) + give
            left[device] -= give
            need[consumer] -= give
    total_need = sum(need.values())
    total_left = sum(left.values())
    if total_need <= 0 or total_left <= 0:
        return out
    share = min(1.0, total_left / total_need)  # of each consumer's uncovered consumption
    for consumer, n in need.items():
        want = int(n * share)
        for device in sorted(left, key=lambda d: -left[d]):
            if want <= 0:
                break
            give = min(want, left[device])
            if give > 0:
                out[device][consumer] = out[device].get(consumer, 0) + give
                left[device] -= give
                want -= give
    return out


@dataclass
class _Claims:
    claimed: dict[str, int]
    consumption: dict[str, int]
    notes: list[str]


def _finish_held(
    ledger: Ledger, consumers: Sequence[str], start_utc: dt.datetime, end_utc: dt.datetime
) -> tuple[dict[str, int], list[str]]:
    """Claim what an interrupted run left with the consumers: bundles transferred but not yet
    cancelled, or cancelled but not yet claimed, for hours in ``[start, end)``."""
    claimed: dict[str, int] = dict.fromkeys(consumers, 0)
    notes: list[str] = []
    for c in consumers:
        held = [
            b
            for b in ledger.bundles_of(c, "active")
            if start_utc <= b.production_start_utc < end_utc
        ]
        by_hour: dict[dt.datetime, list[int]] = {}
        for b in held:
            by_hour.setdefault(floor_hour(b.production_start_utc), []).append(b.id)
        for hour, ids in sorted(by_hour.items()):
            ledger.cancel(
                bundle_ids=ids,
                account=c,
                beneficiary=c,
                period_start_utc=hour,
                period_end_utc=hour + _HOUR,
            )
        pending = [
            b
            for b in ledger.bundles_of(c, "cancelled")
            if b.beneficiary == c and start_utc <= b.production_start_utc < end_utc
        ]
        for b in pending:
            try:
                ledger.claim(bundle_ids=[b.id], beneficiary=c)
                claimed[c] += b.wh
            except LedgerConflict as exc:
                notes.append(f"{c}: bundle {b.id} stays cancelled, not claimed: {exc}")
    return claimed, notes


def claim_hourly(
    ledger: Ledger,
    park: Park,
    start_utc: dt.datetime,
    end_utc: dt.datetime,
    *,
    charge_wh: Mapping[str, Mapping[dt.datetime, int]] | None = None,
    now_utc: dt.datetime | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[dict[str, int], dict[str, int], list[str]]:
    """Allocate, transfer, cancel and claim each hour's certificates in ``[start, end)``.

    Uses the active certificates ``park-generation`` holds for each hour (whole issued bundles,
    or what an earlier run left), skipping any expired at ``now_utc`` (default: now), and first
    finishes what an interrupted run left with the consumers. With ``charge_wh`` (per battery,
    metered charge per hour, see :func:`hourly_charge_wh`) each battery's charge is cancelled
    from the hour's certificates before the consumers' share, and its recorded discharge is
    issued as storage certificates (see the module docstring). Per hour: one split per device,
    then a transfer, a cancel and a claim per receiving consumer, each its own transaction.
    Returns (claimed Wh, metered consumption Wh) per consumer and notes on what was skipped.
    """
    if start_utc != floor_hour(start_utc) or end_utc != floor_hour(end_utc):
        raise InputError(
            f"claim window {start_utc.isoformat()} – {end_utc.isoformat()}: claims match clock "
            "hours; start and end on the hour"
        )
    now = now_utc or dt.datetime.now(dt.UTC)
    gens = [g[0] for g in _generators(park)]
    bats = {b.id: b.round_trip_efficiency_pu for b in park.batteries}
    cons = [c[0] for c in _consumers(park)]
    direct = [(c.generator, c.consumer, c.priority, c.cap_mw) for c in park.contracts]
    claimed, notes = _finish_held(ledger, cons, start_utc, end_utc)
    pool: dict[tuple[str, dt.datetime], list[tuple[int, int]]] = {}
    expired = 0
    for held in sorted(ledger.bundles_of(GENERATOR, "active"), key=lambda x: x.start_id):
        if not start_utc <= held.production_start_utc < end_utc:
            continue
        if held.expires_utc <= now:
            expired += held.wh
            continue
        key = (held.device, floor_hour(held.production_start_utc))
        pool.setdefault(key, []).append((held.id, held.wh))
    if expired:
        notes.append(
            f"{expired / 1e6:,.3f} MWh of certificates expired before they could be claimed "
            "(valid two years after production)"
        )
    charges = {b: dict((charge_wh or {}).get(b, {})) for b in bats}
    discharges: dict[str, dict[dt.datetime, int]] = {}
    for b in bats:
        done = set(ledger.issued_starts(b, start_utc, end_utc))
        discharges[b] = {
            r.start_utc: r.wh
            for r in ledger.generation_for(b, start_utc, end_utc)
            if r.wh > 0 and r.start_utc not in done
        }
    charged = dict.fromkeys(bats, 0)  # this run's charge records, for the discharge limit
    discharged = dict.fromkeys(bats, 0)
    need_by_hour: dict[dt.datetime, dict[str, int]] = {}
    consumption: dict[str, int] = dict.fromkeys(cons, 0)
    for c in cons:
        for r in ledger.consumption_for(c, start_utc, end_utc):
            unclaimed = r.wh - r.claimed_wh
            consumption[c] += r.wh
            if unclaimed > 0:
                need_by_hour.setdefault(r.start_utc, {})[c] = unclaimed
    hours = sorted(
        {t for (_, t) in pool}
        | {t for d in discharges.values() for t in d}
        | {t for c in charges.values() for t in c if start_utc <= t < end_utc}
    )
    for k, hour in enumerate(hours):
        devices = [g for g in [*gens, *bats] if pool.get((g, hour))]
        # 1. Storage charging takes its metered charge first.
        for bat in bats:
            want = charges[bat].get(hour, 0)
            supply = {g: sum(w for _, w in pool.get((g, hour), [])) for g in gens}
            if want <= 0 or not any(supply.values()):
                continue
            take = _allocate(supply, {bat: want}, [])
            ids: list[int] = []
            for g, by in take.items():
                if by:
                    got, pool[(g, hour)] = _carve(ledger, pool[(g, hour)], by)
                    ids.extend(got.get(bat, []))
            if ids:
                ledger.record_charge(
                    device=bat, bundle_ids=ids, start_utc=hour, end_utc=hour + _HOUR
                )
                charged[bat] += sum(take[g].get(bat, 0) for g in take)
        # 2. Storage discharge becomes storage certificates of the hour.
        for bat, eta in bats.items():
            metered = discharges[bat].get(hour, 0)
            allowed = int(eta * 1_000_000) * charged[bat] // 1_000_000 - discharged[bat]
            wh = min(metered, max(allowed, 0))
            if wh <= 0:
                continue
            try:
                bid = ledger.issue_discharge(
                    device=bat, start_utc=hour, end_utc=hour + _HOUR, wh=wh, issuer=OPERATOR
                )
            except LedgerConflict as exc:
                notes.append(f"{bat} {hour.isoformat()}: no discharge certificates: {exc}")
                continue
            discharged[bat] += wh
            pool.setdefault((bat, hour), []).append((bid, wh))
            if bat not in devices:
                devices.append(bat)
        # 3. The consumers: direct contracts first, then pro rata.
        need = need_by_hour.get(hour, {})
        supply = {g: sum(w for _, w in pool.get((g, hour), [])) for g in devices}
        plan = _allocate(supply, need, direct)
        pieces: dict[str, list[int]] = {}
        for device, by_consumer in plan.items():
            if not by_consumer:
                continue
            got, pool[(device, hour)] = _carve(ledger, pool[(device, hour)], by_consumer)
            for c, ids in got.items():
                pieces.setdefault(c, []).extend(ids)
        for c, ids in pieces.items():
            ledger.transfer(bundle_ids=ids, sender=GENERATOR, recipient=c)
            ledger.cancel(
                bundle_ids=ids,
                account=c,
                beneficiary=c,
                period_start_utc=hour,
                period_end_utc=hour + _HOUR,
            )
            ledger.claim(bundle_ids=ids, beneficiary=c)
            claimed[c] += sum(plan[d].get(c, 0) for d in plan)
        if progress is not None:
            progress(k + 1, len(hours))
    return claimed, consumption, notes


def _carve(
    ledger: Ledger, bundles: Sequence[tuple[int, int]], wh_by_taker: Mapping[str, int]
) -> tuple[dict[str, list[int]], list[tuple[int, int]]]:
    """Bundle ids of exactly ``wh_by_taker`` Wh for each taker, splitting as needed; and the
    (id, Wh) of what is left.

    Bundles are used whole while they fit; the one that does not is split into the part needed
    and the rest, which stays with ``park-generation``.
    """
    queue = list(bundles)
    out: dict[str, list[int]] = {}
    for c in sorted(wh_by_taker):
        want = wh_by_taker[c]
        while want > 0 and queue:
            bid, wh = queue.pop(0)
            if wh <= want:
                out.setdefault(c, []).append(bid)
                want -= wh
            else:
                head, rest = ledger.split(
                    bundle_id=bid, sizes_wh=[want, wh - want], account=GENERATOR
                )
                out.setdefault(c, []).append(head)
                queue.insert(0, (rest, wh - want))
                want = 0
    return out, queue


def certify_park(
    ledger: Ledger,
    store: ReadingsStore,
    park: Park,
    *,
    start_utc: dt.datetime,
    end_utc: dt.datetime,
    claim_from_utc: dt.datetime | None = None,
    now_utc: dt.datetime | None = None,
    progress: Callable[[str], None] | None = None,
) -> CertifyResult:
    """Register ``park``, record its metering, issue ``[start, end)`` and claim from
    ``claim_from_utc`` (default ``start``) to ``end``.

    Claims take a transfer, a cancel and a claim per consumer and hour (and a split per device
    and hour), each a transaction, so a long period is issued in full but claimed for a shorter
    window when asked. ``now_utc`` is the time expiry is judged at (default: now); it should
    agree with the ledger's clock.
    """
    say = progress or (lambda _m: None)
    say("ledger: registry")
    register_park(ledger, park)
    say("ledger: metering")
    n_gen, n_con = record_metering(ledger, store, park, start_utc, end_utc)
    say("ledger: issuing")
    bundles, wh = issue_metered(ledger, park, start_utc, end_utc)
    claim_from = max(claim_from_utc or start_utc, start_utc)
    say("ledger: claims")
    charge = hourly_charge_wh(store, park, claim_from, end_utc)
    claimed, consumption, notes = claim_hourly(
        ledger, park, claim_from, end_utc, charge_wh=charge, now_utc=now_utc
    )
    return CertifyResult(
        devices=tuple(g[0] for g in _generators(park)),
        consumers=tuple(c[0] for c in _consumers(park)),
        generation_hours=n_gen,
        consumption_hours=n_con,
        issued_bundles=bundles,
        issued_wh=wh,
        claim_start_utc=claim_from,
        claim_end_utc=end_utc,
        claimed_wh=claimed,
        consumption_wh=consumption,
        head=ledger.head(),
        notes=tuple(notes),
    )
