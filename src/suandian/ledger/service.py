"""The certificate ledger service: each operation is one atomic database transaction.

Operations take explicit bundle ids, never a query. Each one locks what it touches
(``SELECT … FOR UPDATE`` on PostgreSQL, bundles in id order so that concurrent operations never
deadlock; SQLite serialises writers with ``BEGIN IMMEDIATE``), checks every rule, applies its
changes and, as its last step, appends one event to the hash chain while holding the one-row
chain head lock — so the head is held only for the few statements before commit. A refused
operation raises :class:`~suandian.core.errors.LedgerConflict` (or ``NotFound`` /
``InputError``) naming the bundle and the reason, and the transaction is rolled back: nothing
is half-applied. Deadlocks and serialisation failures are retried a bounded number of times.
"""

from __future__ import annotations

import datetime as dt
import itertools
import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from enum import StrEnum
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, Row, and_, delete, func, insert, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError

from suandian.core.errors import InputError, LedgerConflict, NotFound, StoreError
from suandian.ledger import chain
from suandian.ledger.domain import (
    LIVE_STATUSES,
    AccountKind,
    BundleView,
    ChainHead,
    ClaimView,
    ConsumptionView,
    DeviceView,
    IssueLine,
    MeterReading,
    Source,
    Status,
    VerifyResult,
    check_consumption_hour,
    check_production_interval,
    check_wh,
    device_id_base,
    discharge_allowance_wh,
    expiry_utc,
    next_range,
    split_ranges,
    utc,
)
from suandian.ledger.gec import GecMonth, aggregate_months, check_project_code, sum_by_month
from suandian.ledger.tables import (
    AccountAcceptRow,
    AccountRow,
    BundleRow,
    ChainEventRow,
    ChainHeadRow,
    ConsumptionRow,
    DeviceRow,
    GenerationRow,
    IssuanceRow,
    OrganisationRow,
    StorageChargeRow,
)

__all__ = ["Ledger"]

T = TypeVar("T")
E = TypeVar("E", bound=StrEnum)
_B = BundleRow
_HOUR = dt.timedelta(hours=1)
_RETRY_SQLSTATES = {"40001", "40P01"}  # serialization failure, deadlock detected


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _retryable(exc: DBAPIError) -> bool:
    orig = exc.orig
    if getattr(orig, "sqlstate", None) in _RETRY_SQLSTATES:
        return True
    return "database is locked" in str(orig)


def _ids(bundle_ids: Iterable[int], field: str = "bundle_ids") -> list[int]:
    out = list(bundle_ids)
    if not out:
        raise InputError(f"{field}: give at least one bundle id")
    for b in out:
        if isinstance(b, bool) or not isinstance(b, int):
            raise InputError(f"{field}: {b!r} is not a bundle id (an int)")
    if len(set(out)) != len(out):
        dup = sorted({b for b in out if out.count(b) > 1})
        raise InputError(f"{field}: bundle ids {dup} are given more than once")
    return out


def _chunks(seq: Sequence[T], n: int = 5000) -> Iterator[Sequence[T]]:
    for i in range(0, len(seq), n):
        yield seq[i : i + n]


class Ledger:
    """Granular certificates (one Wh, one ID) and their China GEC view, on a SQL database.

    Parameters
    ----------
    engine
        A SQLAlchemy engine whose database has been migrated
        (:func:`suandian.store.sql.migrate`); :func:`suandian.store.sql.open_ledger` does both.
    clock
        Returns the current time (tz-aware); events are stamped with it and bundles past
        their expiry at that time are refused. Defaults to the system clock.
    max_retries
        Times an operation is retried after a deadlock or serialisation failure.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        clock: Callable[[], dt.datetime] = _now,
        max_retries: int = 10,
    ) -> None:
        self.engine = engine
        self._clock = clock
        self._max_retries = max_retries
        # Account and device codes never change and are never reused: cache code ↔ id.
        self._lock = threading.Lock()
        self._account_ids: dict[str, tuple[int, str]] = {}
        self._account_codes: dict[int, str] = {}
        self._device_codes: dict[int, str] = {}

    # --- transactions -------------------------------------------------------------------------

    def _now(self) -> dt.datetime:
        return utc(self._clock(), "ledger clock")

    def _write(self, fn: Callable[[Connection], T]) -> T:
        for attempt in range(self._max_retries + 1):
            try:
                with self.engine.begin() as conn:
                    return fn(conn)
            except IntegrityError as exc:
                raise LedgerConflict(
                    f"the database refused the change as inconsistent ({exc.orig}); another "
                    "operation touched the same records — read them again and retry"
                ) from None
            except DBAPIError as exc:
                if attempt < self._max_retries and _retryable(exc):
                    time.sleep(random.uniform(0.0, 0.002 * 2**attempt))
                    continue
                raise StoreError(f"ledger store error: {exc.orig}") from exc
        raise AssertionError("unreachable")  # pragma: no cover

    def _read(self, fn: Callable[[Connection], T]) -> T:
        try:
            with self.engine.begin() as conn:
                return fn(conn)
        except DBAPIError as exc:
            raise StoreError(f"ledger store error: {exc.orig}") from exc

    def _append(self, conn: Connection, kind: str, payload: dict[str, Any]) -> int:
        """Append one event; holds the chain head lock until the transaction commits."""
        head = conn.execute(
            select(ChainHeadRow.seq, ChainHeadRow.hash)
            .where(ChainHeadRow.id == 1)
            .with_for_update()
        ).one()
        seq, recorded = head.seq + 1, self._now()
        digest = chain.event_hash(
            seq=seq, kind=kind, recorded_utc=recorded, payload=payload, prev_hash=head.hash
        )
        conn.execute(
            insert(ChainEventRow).values(
                seq=seq,
                kind=kind,
                recorded_utc=recorded,
                payload_json=chain.canonical_json(payload),
                prev_hash=head.hash,
                hash=digest,
            )
        )
        conn.execute(update(ChainHeadRow).where(ChainHeadRow.id == 1).values(seq=seq, hash=digest))
        return int(seq)

    # --- lookups ------------------------------------------------------------------------------

    def _account(self, conn: Connection, code: str, field: str = "account") -> tuple[int, str]:
        """(id, kind) of account ``code``."""
        hit = self._account_ids.get(code)
        if hit is not None:
            return hit
        row = conn.execute(
            select(AccountRow.id, AccountRow.kind).where(AccountRow.code == code)
        ).one_or_none()
        if row is None:
            raise NotFound(f"{field}: account {code!r} does not exist; create it first")
        with self._lock:
            self._account_ids[code] = (row.id, row.kind)
            self._account_codes[row.id] = code
        return row.id, row.kind

    def _codes(self, conn: Connection) -> tuple[dict[int, str], dict[int, str]]:
        accounts = dict(conn.execute(select(AccountRow.id, AccountRow.code)).all())
        devices = dict(conn.execute(select(DeviceRow.id, DeviceRow.code)).all())
        return accounts, devices

    def _device(self, conn: Connection, code: str, *, lock: bool = False) -> Row[Any]:
        stmt = select(DeviceRow).where(DeviceRow.code == code)
        if lock:
            stmt = stmt.with_for_update()
        row = conn.execute(stmt).one_or_none()
        if row is None:
            raise NotFound(f"device {code!r} does not exist; register it first")
        return row

    def _lock_bundles(self, conn: Connection, ids: Sequence[int]) -> list[Row[Any]]:
        """The bundles, locked in id order (a fixed order: concurrent callers cannot deadlock)."""
        rows = conn.execute(
            select(_B).where(_B.id.in_(ids)).order_by(_B.id).with_for_update()
        ).all()
        if len(rows) != len(ids):
            found = {r.id for r in rows}
            missing = [i for i in ids if i not in found]
            raise NotFound(f"bundle {missing[0]} does not exist (unknown ids: {missing})")
        return list(rows)

    def _require_active(
        self, conn: Connection, rows: Iterable[Row[Any]], *, verb: str, owner_id: int, owner: str
    ) -> None:
        now = self._now()
        for r in rows:
            if r.status != Status.ACTIVE:
                raise LedgerConflict(
                    f"bundle {r.id}: cannot {verb} it: it is {r.status}; only active bundles "
                    f"can be {_PAST[verb]}"
                )
            if r.owner_id != owner_id:
                holder = self._account_codes.get(r.owner_id) or _code_of(conn, r.owner_id)
                raise LedgerConflict(
                    f"bundle {r.id}: cannot {verb} it: it belongs to account {holder!r}, not "
                    f"{owner!r}; only the owner's account can"
                )
            if r.expires_utc <= now:
                raise LedgerConflict(
                    f"bundle {r.id}: cannot {verb} it: it expired at {r.expires_utc.isoformat()}"
                )

    # --- registry -----------------------------------------------------------------------------

    def create_organisation(self, *, code: str, name: str) -> None:
        """Register an organisation that holds accounts."""
        _check_code(code, "organisation code")

        def op(conn: Connection) -> None:
            if conn.execute(select(OrganisationRow.id).where(OrganisationRow.code == code)).first():
                raise LedgerConflict(f"organisation {code!r} already exists")
            conn.execute(insert(OrganisationRow).values(code=code, name=name))
            self._append(conn, "organisation.create", {"code": code, "name": name})

        self._write(op)

    def create_account(
        self,
        *,
        code: str,
        organisation: str,
        kind: AccountKind | str,
        accept_all: bool = False,
        accepts: Sequence[str] = (),
    ) -> None:
        """Open an account. It accepts transfers only from ``accepts`` (or anyone if
        ``accept_all``)."""
        _check_code(code, "account code")
        account_kind = _enum(AccountKind, kind, "kind")

        def op(conn: Connection) -> None:
            org = conn.execute(
                select(OrganisationRow.id).where(OrganisationRow.code == organisation)
            ).scalar_one_or_none()
            if org is None:
                raise NotFound(f"organisation {organisation!r} does not exist; create it first")
            if conn.execute(select(AccountRow.id).where(AccountRow.code == code)).first():
                raise LedgerConflict(f"account {code!r} already exists")
            senders = [self._account(conn, s, "accepts")[0] for s in accepts]
            new_id = conn.execute(
                insert(AccountRow)
                .values(
                    code=code, organisation_id=org, kind=account_kind.value, accept_all=accept_all
                )
                .returning(AccountRow.id)
            ).scalar_one()
            if senders:
                conn.execute(
                    insert(AccountAcceptRow),
                    [{"account_id": new_id, "sender_id": s} for s in senders],
                )
            self._append(
                conn,
                "account.create",
                {
                    "code": code,
                    "organisation": organisation,
                    "kind": account_kind.value,
                    "accept_all": accept_all,
                    "accepts": sorted(accepts),
                },
            )

        self._write(op)

    def set_acceptance(
        self, *, account: str, accept_all: bool, accepts: Sequence[str] = ()
    ) -> None:
        """Replace the senders ``account`` accepts transfers from."""

        def op(conn: Connection) -> None:
            acc_id = self._account(conn, account)[0]
            senders = [self._account(conn, s, "accepts")[0] for s in accepts]
            conn.execute(
                update(AccountRow).where(AccountRow.id == acc_id).values(accept_all=accept_all)
            )
            conn.execute(delete(AccountAcceptRow).where(AccountAcceptRow.account_id == acc_id))
            if senders:
                conn.execute(
                    insert(AccountAcceptRow),
                    [{"account_id": acc_id, "sender_id": s} for s in set(senders)],
                )
            payload = {"account": account, "accept_all": accept_all, "accepts": sorted(accepts)}
            self._append(conn, "account.acceptance", payload)

        self._write(op)

    def register_device(
        self,
        *,
        code: str,
        name: str,
        source: Source | str,
        capacity_mw: float,
        site: str,
        zone: str,
        commissioned_on: dt.date,
        owner: str,
        emission_factor_g_per_kwh: float,
        project_code: str,
        country: str = "CN",
        round_trip_efficiency_pu: float | None = None,
    ) -> int:
        """Register a generation or storage asset; returns its device number.

        A storage device needs ``round_trip_efficiency_pu`` (η in (0, 1]); its discharge
        certificates are limited to η × the energy certificates cancelled while charging.
        ``project_code`` (12 × [0-9A-Z], unique) names the device in the GEC view.
        """
        _check_code(code, "device code")
        src = _enum(Source, source, "source")
        check_project_code(project_code)
        if not capacity_mw > 0:
            raise InputError(f"capacity_mw: {capacity_mw} MW; it must be > 0")
        if not emission_factor_g_per_kwh >= 0:
            raise InputError(
                f"emission_factor_g_per_kwh: {emission_factor_g_per_kwh}; it must be ≥ 0"
            )
        if not isinstance(commissioned_on, dt.date) or isinstance(commissioned_on, dt.datetime):
            raise InputError(f"commissioned_on: {commissioned_on!r} is not a date")
        if (src is Source.STORAGE) != (round_trip_efficiency_pu is not None):
            raise InputError(
                "round_trip_efficiency_pu: give it for a storage device and only for one "
                f"(source {src.value}, got {round_trip_efficiency_pu})"
            )
        if round_trip_efficiency_pu is not None and not 0 < round_trip_efficiency_pu <= 1:
            raise InputError(
                f"round_trip_efficiency_pu: {round_trip_efficiency_pu}; it must be in (0, 1]"
            )

        def op(conn: Connection) -> int:
            owner_id = self._account(conn, owner, "owner")[0]
            dup = conn.execute(
                select(DeviceRow.code).where(
                    (DeviceRow.code == code) | (DeviceRow.project_code == project_code)
                )
            ).first()
            if dup:
                raise LedgerConflict(
                    f"device {code!r} or project code {project_code!r} is already registered "
                    f"(by device {dup.code!r})"
                )
            device_no = (conn.execute(select(func.max(DeviceRow.id))).scalar() or 0) + 1
            conn.execute(
                insert(DeviceRow).values(
                    id=device_no,
                    code=code,
                    name=name,
                    source=src.value,
                    capacity_mw=capacity_mw,
                    site=site,
                    zone=zone,
                    country=country,
                    commissioned_on=commissioned_on,
                    owner_id=owner_id,
                    emission_factor_g_per_kwh=emission_factor_g_per_kwh,
                    project_code=project_code,
                    round_trip_efficiency_pu=round_trip_efficiency_pu,
                    next_cert_id=device_id_base(device_no),
                )
            )
            self._append(
                conn,
                "device.register",
                {
                    "code": code,
                    "device_no": device_no,
                    "name": name,
                    "source": src.value,
                    "capacity_mw": repr(float(capacity_mw)),
                    "site": site,
                    "zone": zone,
                    "country": country,
                    "commissioned_on": commissioned_on.isoformat(),
                    "owner": owner,
                    "emission_factor_g_per_kwh": repr(float(emission_factor_g_per_kwh)),
                    "project_code": project_code,
                    "round_trip_efficiency_pu": None
                    if round_trip_efficiency_pu is None
                    else repr(float(round_trip_efficiency_pu)),
                },
            )
            return device_no

        return self._write(op)

    # --- metering -----------------------------------------------------------------------------

    def record_generation(self, *, device: str, readings: Sequence[MeterReading]) -> int:
        """Record metered generation (or storage discharge) of ``device``; returns the count.

        Each reading covers one production interval (≤ 1 h, inside one clock hour); intervals
        of one device may not overlap. A reading for an interval already recorded replaces it
        (a newer reading version), unless certificates were issued against it.
        """
        lines = _check_readings(readings, hourly=False)

        def op(conn: Connection) -> int:
            dev = self._device(conn, device, lock=True)
            lo, hi = lines[0][0] - _HOUR, lines[-1][1]
            existing = {
                r.start_utc: r
                for r in conn.execute(
                    select(GenerationRow.start_utc, GenerationRow.end_utc).where(
                        GenerationRow.device_id == dev.id,
                        GenerationRow.start_utc >= lo,
                        GenerationRow.start_utc < hi,
                    )
                )
            }
            replaced = [s for s, *_ in lines if s in existing]
            if replaced:
                issued = conn.execute(
                    select(IssuanceRow.start_utc).where(
                        IssuanceRow.device_id == dev.id,
                        IssuanceRow.start_utc >= replaced[0],
                        IssuanceRow.start_utc <= replaced[-1],
                    )
                ).scalars()
                done = set(issued) & set(replaced)
                if done:
                    first = min(done)
                    raise LedgerConflict(
                        f"device {device!r}: the reading at {first.isoformat()} already has "
                        "certificates issued against it; a correction after issue is refused "
                        "(withdraw the certificates and record a separate adjustment instead)"
                    )
            kept = sorted(
                (r.start_utc, r.end_utc) for s, r in existing.items() if s not in set(replaced)
            )
            _check_no_overlap([(s, e) for s, e, *_ in lines], kept, f"device {device!r}")
            for part in _chunks(replaced):
                conn.execute(
                    delete(GenerationRow).where(
                        GenerationRow.device_id == dev.id, GenerationRow.start_utc.in_(part)
                    )
                )
            conn.execute(
                insert(GenerationRow),
                [
                    {"device_id": dev.id, "start_utc": s, "end_utc": e, "wh": w, "meter_ref": m}
                    for s, e, w, m in lines
                ],
            )
            self._append(
                conn,
                "metering.generation",
                {
                    "device": device,
                    "readings": [
                        [chain.iso_utc(s), chain.iso_utc(e), w, m] for s, e, w, m in lines
                    ],
                },
            )
            return len(lines)

        return self._write(op)

    def record_consumption(self, *, account: str, readings: Sequence[MeterReading]) -> int:
        """Record hourly metered consumption of a consumer account; returns the count.

        Each reading is one clock hour. Re-recording an hour replaces it, unless the new value
        is below what is already claimed against that hour.
        """
        lines = _check_readings(readings, hourly=True)

        def op(conn: Connection) -> int:
            acc_id, kind = self._account(conn, account)
            if kind != AccountKind.CONSUMER:
                raise LedgerConflict(
                    f"account {account!r} is a {kind} account; consumption is recorded for "
                    "consumer accounts"
                )
            starts = [s for s, *_ in lines]
            claimed = _claimed_by_hour(conn, acc_id, starts[0], starts[-1] + _HOUR)
            for s, _e, w, _m in lines:
                if claimed.get(s, 0) > w:
                    raise LedgerConflict(
                        f"account {account!r}: consumption at {s.isoformat()} cannot drop to "
                        f"{w} Wh: {claimed[s]} Wh are already claimed against it"
                    )
            for part in _chunks(starts):
                conn.execute(
                    delete(ConsumptionRow).where(
                        ConsumptionRow.account_id == acc_id, ConsumptionRow.start_utc.in_(part)
                    )
                )
            conn.execute(
                insert(ConsumptionRow),
                [
                    {"account_id": acc_id, "start_utc": s, "end_utc": e, "wh": w, "meter_ref": m}
                    for s, e, w, m in lines
                ],
            )
            self._append(
                conn,
                "metering.consumption",
                {
                    "account": account,
                    "readings": [
                        [chain.iso_utc(s), chain.iso_utc(e), w, m] for s, e, w, m in lines
                    ],
                },
            )
            return len(lines)

        return self._write(op)

    # --- issue --------------------------------------------------------------------------------

    def issue(
        self,
        *,
        device: str,
        start_utc: dt.datetime,
        end_utc: dt.datetime,
        wh: int,
        issuer: str,
    ) -> int:
        """Issue ``wh`` certificates for one metered interval; returns the new bundle id."""
        return self.issue_many(
            device=device, lines=[IssueLine(start_utc, end_utc, wh)], issuer=issuer
        )[0]

    def issue_many(self, *, device: str, lines: Sequence[IssueLine], issuer: str) -> list[int]:
        """Issue certificates for many metered intervals of one device in one transaction.

        Each line gets one bundle (returned in line order) owned by the device's owner, with a
        fresh ID range continuing the device's last one. Refused, for the whole call, if any
        line has no generation reading with exactly its interval, asks for more than was
        metered, or was issued before. One chain event (``issue``) records every line. The
        issuer must be a park-operator account; storage devices issue through
        :meth:`issue_discharge`.
        """
        checked = _check_issue_lines(lines)
        return self._write(lambda conn: self._issue(conn, device, checked, issuer, storage=False))

    def _issue(
        self,
        conn: Connection,
        device: str,
        lines: list[tuple[dt.datetime, dt.datetime, int]],
        issuer: str,
        *,
        storage: bool,
    ) -> list[int]:
        issuer_id, issuer_kind = self._account(conn, issuer, "issuer")
        if issuer_kind != AccountKind.PARK_OPERATOR:
            raise LedgerConflict(
                f"account {issuer!r} is a {issuer_kind} account; only a park_operator account "
                "issues certificates"
            )
        dev = self._device(conn, device, lock=True)  # serialises issues of this device
        if (dev.source == Source.STORAGE) != storage:
            how = "issue_discharge" if dev.source == Source.STORAGE else "issue_many"
            raise LedgerConflict(f"device {device!r} is a {dev.source} device; use {how}")
        lo, hi = lines[0][0], lines[-1][0]
        metered = {
            r.start_utc: r
            for r in conn.execute(
                select(
                    GenerationRow.start_utc,
                    GenerationRow.end_utc,
                    GenerationRow.wh,
                    GenerationRow.meter_ref,
                ).where(
                    GenerationRow.device_id == dev.id,
                    GenerationRow.start_utc >= lo,
                    GenerationRow.start_utc <= hi,
                )
            )
        }
        issued = set(
            conn.execute(
                select(IssuanceRow.start_utc).where(
                    IssuanceRow.device_id == dev.id,
                    IssuanceRow.start_utc >= lo,
                    IssuanceRow.start_utc <= hi,
                )
            ).scalars()
        )
        for s, e, w in lines:
            at = f"device {device!r} at {s.isoformat()}–{e.isoformat()}"
            if s in issued:
                raise LedgerConflict(f"{at}: certificates were already issued for this interval")
            m = metered.get(s)
            if m is None or m.end_utc != e:
                raise LedgerConflict(
                    f"{at}: no metered generation for exactly this interval; record it first"
                )
            if w > m.wh:
                raise LedgerConflict(
                    f"{at}: cannot issue {w} Wh, only {m.wh} Wh were metered ({m.meter_ref})"
                )
        now = self._now()
        next_id, issuances, bundles, ranges = dev.next_cert_id, [], [], []
        for s, e, w in lines:
            start_id, end_id = next_range(next_id, w)
            next_id = end_id + 1
            ranges.append((start_id, end_id))
            issuances.append(
                {
                    "id": start_id,
                    "device_id": dev.id,
                    "start_utc": s,
                    "end_utc": e,
                    "wh": w,
                    "storage": storage,
                    "issuer_id": issuer_id,
                    "issued_utc": now,
                }
            )
            bundles.append(
                {
                    "device_id": dev.id,
                    "issuance_id": start_id,
                    "parent_id": None,
                    "start_id": start_id,
                    "end_id": end_id,
                    "wh": w,
                    "start_utc": s,
                    "end_utc": e,
                    "owner_id": dev.owner_id,
                    "status": Status.ACTIVE.value,
                    "source": dev.source,
                    "country": dev.country,
                    "zone": dev.zone,
                    "emission_factor_g_per_kwh": dev.emission_factor_g_per_kwh,
                    "storage": storage,
                    "issuer_id": issuer_id,
                    "expires_utc": expiry_utc(e),
                }
            )
        conn.execute(insert(IssuanceRow), issuances)
        bundle_ids = list(
            conn.execute(
                insert(_B).returning(_B.id, sort_by_parameter_order=True), bundles
            ).scalars()
        )
        conn.execute(update(DeviceRow).where(DeviceRow.id == dev.id).values(next_cert_id=next_id))
        self._append(
            conn,
            "issue",
            {
                "device": device,
                "issuer": issuer,
                "storage": storage,
                "lines": [
                    [chain.iso_utc(s), chain.iso_utc(e), w, a, b, bid]
                    for (s, e, w), (a, b), bid in zip(lines, ranges, bundle_ids, strict=True)
                ],
            },
        )
        return bundle_ids

    # --- transfer, split, cancel, claim, withdraw, expire -------------------------------------

    def transfer(self, *, bundle_ids: Sequence[int], sender: str, recipient: str) -> None:
        """Move active bundles of ``sender`` to ``recipient``, which must accept ``sender``."""
        ids = _ids(bundle_ids)
        if sender == recipient:
            raise InputError(f"transfer: sender and recipient are both {sender!r}")

        def op(conn: Connection) -> None:
            sender_id = self._account(conn, sender, "sender")[0]
            recipient_id = self._account(conn, recipient, "recipient")[0]
            rows = self._lock_bundles(conn, sorted(ids))
            self._require_active(conn, rows, verb="transfer", owner_id=sender_id, owner=sender)
            acc = conn.execute(
                select(
                    AccountRow.accept_all,
                    select(AccountAcceptRow.sender_id)
                    .where(
                        AccountAcceptRow.account_id == recipient_id,
                        AccountAcceptRow.sender_id == sender_id,
                    )
                    .exists()
                    .label("listed"),
                ).where(AccountRow.id == recipient_id)
            ).one()
            if not (acc.accept_all or acc.listed):
                raise LedgerConflict(
                    f"bundle {ids[0]}: cannot transfer it: account {recipient!r} does not "
                    f"accept transfers from {sender!r}; it must list {sender!r} as a sender"
                )
            conn.execute(update(_B).where(_B.id.in_(ids)).values(owner_id=recipient_id))
            self._append(
                conn,
                "transfer",
                {"bundles": ids, "sender": sender, "recipient": recipient},
            )

        self._write(op)

    def split(self, *, bundle_id: int, sizes_wh: Sequence[int], account: str) -> list[int]:
        """Split an active bundle into children of ``sizes_wh`` (in order); returns their ids.

        The children partition the parent's range exactly and inherit everything else; the
        parent's status becomes ``split``: it is no longer live and counts for nothing.
        """
        (bid,) = _ids([bundle_id], "bundle_id")
        sizes = list(sizes_wh)

        def op(conn: Connection) -> list[int]:
            owner_id = self._account(conn, account)[0]
            (parent,) = self._lock_bundles(conn, [bid])
            self._require_active(conn, [parent], verb="split", owner_id=owner_id, owner=account)
            try:
                ranges = split_ranges(parent.start_id, parent.end_id, sizes)
            except InputError as exc:
                raise InputError(f"bundle {bid}: {exc}") from None
            base = {k: v for k, v in parent._mapping.items() if k != "id"}
            children = [
                {**base, "parent_id": bid, "start_id": a, "end_id": b, "wh": b - a + 1}
                for a, b in ranges
            ]
            child_ids = list(
                conn.execute(
                    insert(_B).returning(_B.id, sort_by_parameter_order=True), children
                ).scalars()
            )
            conn.execute(update(_B).where(_B.id == bid).values(status=Status.SPLIT.value))
            self._append(
                conn,
                "split",
                {
                    "bundle": bid,
                    "account": account,
                    "children": [[c, a, b] for c, (a, b) in zip(child_ids, ranges, strict=True)],
                },
            )
            return child_ids

        return self._write(op)

    def cancel(
        self,
        *,
        bundle_ids: Sequence[int],
        account: str,
        beneficiary: str,
        period_start_utc: dt.datetime,
        period_end_utc: dt.datetime,
    ) -> None:
        """Cancel active bundles of ``account`` for ``beneficiary``'s consumption in one hour.

        The consumption period must be exactly one clock hour, and each bundle's production
        interval must lie inside it (hourly matching). The beneficiary must be a consumer
        account. Cancelled bundles are retired; :meth:`claim` then links them to metered
        consumption.
        """
        ids = _ids(bundle_ids)
        hour_start, hour_end = check_consumption_hour(period_start_utc, period_end_utc)

        def op(conn: Connection) -> None:
            owner_id = self._account(conn, account)[0]
            ben_id, ben_kind = self._account(conn, beneficiary, "beneficiary")
            if ben_kind != AccountKind.CONSUMER:
                raise LedgerConflict(
                    f"bundle {ids[0]}: cannot cancel it for {beneficiary!r}: a beneficiary "
                    f"must be a consumer account, not {ben_kind}"
                )
            rows = self._lock_bundles(conn, sorted(ids))
            self._require_active(conn, rows, verb="cancel", owner_id=owner_id, owner=account)
            _require_inside(rows, hour_start, hour_end)
            conn.execute(
                update(_B)
                .where(_B.id.in_(ids))
                .values(
                    status=Status.CANCELLED.value,
                    beneficiary_id=ben_id,
                    consumption_start_utc=hour_start,
                    consumption_end_utc=hour_end,
                    retired_utc=self._now(),
                )
            )
            self._append(
                conn,
                "cancel",
                {
                    "bundles": ids,
                    "account": account,
                    "beneficiary": beneficiary,
                    "period": [chain.iso_utc(hour_start), chain.iso_utc(hour_end)],
                },
            )

        self._write(op)

    def claim(self, *, bundle_ids: Sequence[int], beneficiary: str) -> None:
        """Claim bundles cancelled for ``beneficiary`` against its metered consumption.

        Per consumption hour, the Wh claimed (before and now) may not exceed the Wh metered in
        that hour. Split a bundle before cancelling it to claim part of it.
        """
        ids = _ids(bundle_ids)

        def op(conn: Connection) -> None:
            ben_id = self._account(conn, beneficiary, "beneficiary")[0]
            rows = self._lock_bundles(conn, sorted(ids))
            for r in rows:
                if r.status != Status.CANCELLED:
                    hint = " (cancel it for the beneficiary first)" if r.status == "active" else ""
                    raise LedgerConflict(
                        f"bundle {r.id}: cannot claim it: it is {r.status}; only cancelled "
                        f"bundles can be claimed{hint}"
                    )
                if r.charge_id is not None or r.beneficiary_id != ben_id:
                    raise LedgerConflict(
                        f"bundle {r.id}: cannot claim it for {beneficiary!r}: it was cancelled "
                        "for another beneficiary"
                        + (" (a storage charge)" if r.charge_id is not None else "")
                    )
            by_hour: dict[dt.datetime, list[Row[Any]]] = {}
            for r in rows:
                by_hour.setdefault(r.consumption_start_utc, []).append(r)
            hours = sorted(by_hour)
            consumption = {
                c.start_utc: c
                for c in conn.execute(
                    select(ConsumptionRow)
                    .where(
                        ConsumptionRow.account_id == ben_id,
                        ConsumptionRow.start_utc.in_(hours),
                    )
                    .order_by(ConsumptionRow.start_utc)
                    .with_for_update()  # serialises claims against the same hours
                )
            }
            claimed = _claimed_by_hour(conn, ben_id, hours[0], hours[-1] + _HOUR)
            for h in hours:
                group = by_hour[h]
                c = consumption.get(h)
                if c is None:
                    raise LedgerConflict(
                        f"bundle {group[0].id}: cannot claim it: {beneficiary!r} has no metered "
                        f"consumption in the hour {h.isoformat()}; record it first"
                    )
                want = sum(r.wh for r in group)
                if claimed.get(h, 0) + want > c.wh:
                    raise LedgerConflict(
                        f"bundle {group[-1].id}: cannot claim it: claiming {want} Wh in the hour "
                        f"{h.isoformat()} would exceed {beneficiary!r}'s metered consumption of "
                        f"{c.wh} Wh ({claimed.get(h, 0)} Wh already claimed)"
                    )
            conn.execute(
                update(_B)
                .where(_B.id.in_(ids))
                .values(status=Status.CLAIMED.value, claimed_utc=self._now())
            )
            self._append(conn, "claim", {"bundles": ids, "beneficiary": beneficiary})

        self._write(op)

    def withdraw(self, *, bundle_ids: Sequence[int], issuer: str, reason: str) -> None:
        """Withdraw live bundles (e.g. issued in error); only the issuing account may."""
        ids = _ids(bundle_ids)
        if not reason.strip():
            raise InputError("withdraw: give a reason; it is kept in the event chain")

        def op(conn: Connection) -> None:
            issuer_id = self._account(conn, issuer, "issuer")[0]
            rows = self._lock_bundles(conn, sorted(ids))
            for r in rows:
                if r.status not in LIVE_STATUSES:
                    raise LedgerConflict(
                        f"bundle {r.id}: cannot withdraw it: it is {r.status}; only live "
                        "(active, locked, reserved) bundles can be withdrawn"
                    )
                if r.issuer_id != issuer_id:
                    who = self._account_codes.get(r.issuer_id) or _code_of(conn, r.issuer_id)
                    raise LedgerConflict(
                        f"bundle {r.id}: cannot withdraw it: it was issued by {who!r}, not "
                        f"{issuer!r}; only its issuer can withdraw it"
                    )
            conn.execute(
                update(_B)
                .where(_B.id.in_(ids))
                .values(status=Status.WITHDRAWN.value, retired_utc=self._now())
            )
            self._append(conn, "withdraw", {"bundles": ids, "issuer": issuer, "reason": reason})

        self._write(op)

    def expire(self, *, now_utc: dt.datetime) -> list[int]:
        """Expire every live bundle whose expiry is at or before ``now_utc``; returns their ids."""
        now = utc(now_utc, "now_utc")

        def op(conn: Connection) -> list[int]:
            ids = sorted(
                conn.execute(
                    update(_B)
                    .where(_B.status.in_([s.value for s in LIVE_STATUSES]), _B.expires_utc <= now)
                    .values(status=Status.EXPIRED.value, retired_utc=now)
                    .returning(_B.id)
                ).scalars()
            )
            self._append(conn, "expire", {"now": chain.iso_utc(now), "bundles": ids})
            return ids

        return self._write(op)

    # --- storage ------------------------------------------------------------------------------

    def record_charge(
        self,
        *,
        device: str,
        bundle_ids: Sequence[int],
        start_utc: dt.datetime,
        end_utc: dt.datetime,
    ) -> int:
        """Cancel the certificates of the energy a storage device charged in one clock hour.

        The bundles must be active, held by the storage device's owner account, and produced
        inside the charging hour. Returns the charge record's id.
        """
        ids = _ids(bundle_ids)
        hour_start, hour_end = check_consumption_hour(start_utc, end_utc, "charging interval")

        def op(conn: Connection) -> int:
            rows = self._lock_bundles(conn, sorted(ids))
            dev = self._device(conn, device, lock=True)
            if dev.source != Source.STORAGE:
                raise LedgerConflict(f"device {device!r} is {dev.source}, not a storage device")
            owner = self._account_codes.get(dev.owner_id) or _code_of(conn, dev.owner_id)
            self._require_active(conn, rows, verb="cancel", owner_id=dev.owner_id, owner=owner)
            for r in rows:
                if r.storage:
                    raise LedgerConflict(
                        f"bundle {r.id}: cannot charge storage with a storage-discharge bundle"
                    )
            _require_inside(rows, hour_start, hour_end)
            now, total = self._now(), sum(r.wh for r in rows)
            charge_id = conn.execute(
                insert(StorageChargeRow)
                .values(
                    device_id=dev.id,
                    start_utc=hour_start,
                    end_utc=hour_end,
                    wh=total,
                    recorded_utc=now,
                )
                .returning(StorageChargeRow.id)
            ).scalar_one()
            conn.execute(
                update(_B)
                .where(_B.id.in_(ids))
                .values(
                    status=Status.CANCELLED.value,
                    beneficiary_id=dev.owner_id,
                    consumption_start_utc=hour_start,
                    consumption_end_utc=hour_end,
                    retired_utc=now,
                    charge_id=charge_id,
                )
            )
            self._append(
                conn,
                "storage.charge",
                {
                    "device": device,
                    "charge": charge_id,
                    "bundles": ids,
                    "period": [chain.iso_utc(hour_start), chain.iso_utc(hour_end)],
                    "wh": total,
                },
            )
            return int(charge_id)

        return self._write(op)

    def issue_discharge(
        self,
        *,
        device: str,
        start_utc: dt.datetime,
        end_utc: dt.datetime,
        wh: int,
        issuer: str,
    ) -> int:
        """Issue storage-discharge certificates (storage flag set); returns the bundle id.

        Limits: the metered discharge of that interval (a generation reading of the storage
        device), and ``floor(η × charged) − discharged``, where ``charged`` sums the charge
        records that ended by ``start_utc`` and ``discharged`` every discharge issued so far.
        """
        (line,) = _check_issue_lines([IssueLine(start_utc, end_utc, wh)])

        def op(conn: Connection) -> int:
            dev = self._device(conn, device, lock=True)
            if dev.source != Source.STORAGE:
                raise LedgerConflict(f"device {device!r} is {dev.source}, not a storage device")
            charged = conn.execute(
                select(func.coalesce(func.sum(StorageChargeRow.wh), 0)).where(
                    StorageChargeRow.device_id == dev.id, StorageChargeRow.end_utc <= line[0]
                )
            ).scalar_one()
            discharged = conn.execute(
                select(func.coalesce(func.sum(IssuanceRow.wh), 0)).where(
                    IssuanceRow.device_id == dev.id, IssuanceRow.storage.is_(True)
                )
            ).scalar_one()
            allowed = discharge_allowance_wh(int(charged), dev.round_trip_efficiency_pu)
            if int(discharged) + line[2] > allowed:
                raise LedgerConflict(
                    f"device {device!r} at {line[0].isoformat()}: cannot issue {line[2]} Wh of "
                    f"discharge certificates: η {dev.round_trip_efficiency_pu} × {charged} Wh "
                    f"charged allows {allowed} Wh, {discharged} Wh already issued"
                )
            (bid,) = self._issue(conn, device, [line], issuer, storage=True)
            return bid

        return self._write(op)

    # --- reads --------------------------------------------------------------------------------

    def get_bundle(self, bundle_id: int) -> BundleView:
        def op(conn: Connection) -> BundleView:
            row = conn.execute(select(_B).where(_B.id == bundle_id)).one_or_none()
            if row is None:
                raise NotFound(f"bundle {bundle_id} does not exist")
            return _bundle_view(row, *self._codes(conn))

        return self._read(op)

    def bundles_of(self, account: str, status: Status | str | None = None) -> list[BundleView]:
        """Bundles held by ``account`` (optionally of one status), by id."""
        st = None if status is None else _enum(Status, status, "status")

        def op(conn: Connection) -> list[BundleView]:
            acc_id = self._account(conn, account)[0]
            stmt = select(_B).where(_B.owner_id == acc_id).order_by(_B.id)
            if st is not None:
                stmt = stmt.where(_B.status == st.value)
            codes = self._codes(conn)
            return [_bundle_view(r, *codes) for r in conn.execute(stmt)]

        return self._read(op)

    def claims_for(
        self, beneficiary: str, start_utc: dt.datetime, end_utc: dt.datetime
    ) -> list[ClaimView]:
        """Bundles claimed by ``beneficiary`` for consumption hours in ``[start, end)``, with
        their device and the reference of the generation reading they were issued against."""
        lo, hi = utc(start_utc, "start_utc"), utc(end_utc, "end_utc")

        def op(conn: Connection) -> list[ClaimView]:
            ben_id = self._account(conn, beneficiary, "beneficiary")[0]
            accounts, devices = self._codes(conn)
            rows = conn.execute(
                select(_B, GenerationRow.meter_ref.label("meter_ref"))
                .join(
                    GenerationRow,
                    and_(
                        GenerationRow.device_id == _B.device_id,
                        GenerationRow.start_utc == _B.start_utc,
                    ),
                )
                .where(
                    _B.beneficiary_id == ben_id,
                    _B.status == Status.CLAIMED.value,
                    _B.consumption_start_utc >= lo,
                    _B.consumption_start_utc < hi,
                )
                .order_by(_B.consumption_start_utc, _B.id)
            ).all()
            views = {d: self._device_view(conn, d, accounts) for d in {r.device_id for r in rows}}
            return [
                ClaimView(
                    bundle=_bundle_view(r, accounts, devices),
                    device=views[r.device_id],
                    meter_ref=r.meter_ref,
                    claimed_utc=r.claimed_utc,
                )
                for r in rows
            ]

        return self._read(op)

    def consumption_for(
        self, beneficiary: str, start_utc: dt.datetime, end_utc: dt.datetime
    ) -> list[ConsumptionView]:
        """Metered consumption hours of ``beneficiary`` in ``[start, end)`` with Wh claimed."""
        lo, hi = utc(start_utc, "start_utc"), utc(end_utc, "end_utc")

        def op(conn: Connection) -> list[ConsumptionView]:
            acc_id = self._account(conn, beneficiary, "beneficiary")[0]
            claimed = _claimed_by_hour(conn, acc_id, lo, hi)
            rows = conn.execute(
                select(ConsumptionRow)
                .where(
                    ConsumptionRow.account_id == acc_id,
                    ConsumptionRow.start_utc >= lo,
                    ConsumptionRow.start_utc < hi,
                )
                .order_by(ConsumptionRow.start_utc)
            )
            return [
                ConsumptionView(
                    beneficiary,
                    r.start_utc,
                    r.end_utc,
                    r.wh,
                    claimed.get(r.start_utc, 0),
                    r.meter_ref,
                )
                for r in rows
            ]

        return self._read(op)

    def generation_for(
        self, device: str, start_utc: dt.datetime, end_utc: dt.datetime
    ) -> list[MeterReading]:
        """Metered generation readings of ``device`` starting in ``[start, end)``."""
        lo, hi = utc(start_utc, "start_utc"), utc(end_utc, "end_utc")

        def op(conn: Connection) -> list[MeterReading]:
            dev = self._device(conn, device)
            rows = conn.execute(
                select(GenerationRow)
                .where(
                    GenerationRow.device_id == dev.id,
                    GenerationRow.start_utc >= lo,
                    GenerationRow.start_utc < hi,
                )
                .order_by(GenerationRow.start_utc)
            )
            return [MeterReading(r.start_utc, r.end_utc, r.wh, r.meter_ref) for r in rows]

        return self._read(op)

    def device(self, code: str) -> DeviceView:
        def op(conn: Connection) -> DeviceView:
            accounts, _ = self._codes(conn)
            return self._device_view(conn, self._device(conn, code).id, accounts)

        return self._read(op)

    def _device_view(
        self, conn: Connection, device_no: int, accounts: dict[int, str]
    ) -> DeviceView:
        d = conn.execute(select(DeviceRow).where(DeviceRow.id == device_no)).one()
        return DeviceView(
            code=d.code,
            device_no=d.id,
            name=d.name,
            source=Source(d.source),
            capacity_mw=d.capacity_mw,
            site=d.site,
            zone=d.zone,
            country=d.country,
            commissioned_on=d.commissioned_on,
            owner=accounts[d.owner_id],
            emission_factor_g_per_kwh=d.emission_factor_g_per_kwh,
            project_code=d.project_code,
            round_trip_efficiency_pu=d.round_trip_efficiency_pu,
        )

    def head(self) -> ChainHead:
        """The chain head: seq and hash of the last event."""

        def op(conn: Connection) -> ChainHead:
            row = conn.execute(
                select(ChainHeadRow.seq, ChainHeadRow.hash).where(ChainHeadRow.id == 1)
            ).one()
            return ChainHead(row.seq, row.hash)

        return self._read(op)

    def events(self, *, after_seq: int = 0, limit: int | None = None) -> list[chain.StoredEvent]:
        """Stored events with seq > ``after_seq``, in order."""

        def op(conn: Connection) -> list[chain.StoredEvent]:
            stmt = (
                select(ChainEventRow)
                .where(ChainEventRow.seq > after_seq)
                .order_by(ChainEventRow.seq)
                .limit(limit)
            )
            return [_stored(r) for r in conn.execute(stmt)]

        return self._read(op)

    def verify(self) -> VerifyResult:
        """Recompute the hash chain; name the first event altered, missing or out of order."""

        def op(conn: Connection) -> VerifyResult:
            row = conn.execute(
                select(ChainHeadRow.seq, ChainHeadRow.hash).where(ChainHeadRow.id == 1)
            ).one()
            result = conn.execution_options(yield_per=2000).execute(
                select(ChainEventRow).order_by(ChainEventRow.seq)
            )
            return chain.verify_events((_stored(r) for r in result), ChainHead(row.seq, row.hash))

        return self._read(op)

    def gec_summary(
        self, *, device: str | None = None, months: Sequence[str] | None = None
    ) -> list[GecMonth]:
        """The China GEC view: per device (or every device) and Shanghai month ``YYYYMM``.

        Carry-over is computed from each device's first month of issuance, so a month's
        figures do not depend on which months are asked for.
        """

        def op(conn: Connection) -> list[GecMonth]:
            stmt = select(DeviceRow).where(DeviceRow.source != Source.STORAGE.value)
            if device is not None:
                dev = self._device(conn, device)
                stmt = stmt.where(DeviceRow.id == dev.id)
            out: list[GecMonth] = []
            for d in conn.execute(stmt.order_by(DeviceRow.id)).all():
                rows = conn.execute(
                    select(IssuanceRow.start_utc, IssuanceRow.wh).where(
                        IssuanceRow.device_id == d.id, IssuanceRow.storage.is_(False)
                    )
                ).all()
                by_month = sum_by_month([r.start_utc for r in rows], [r.wh for r in rows])
                out += aggregate_months(
                    by_month, device=d.code, project_code=d.project_code, source=Source(d.source)
                )
            if months is not None:
                wanted = set(months)
                out = [m for m in out if m.month in wanted]
            return out

        return self._read(op)


_PAST = {"transfer": "transferred", "split": "split", "cancel": "cancelled"}


def _enum(cls: type[E], value: str, field: str) -> E:
    try:
        return cls(value)
    except ValueError:
        allowed = ", ".join(m.value for m in cls.__members__.values())
        raise InputError(f"{field}: {value!r} is not one of {allowed}") from None


def _check_code(code: str, field: str) -> None:
    if not isinstance(code, str) or not code.strip() or len(code) > 64:
        raise InputError(f"{field}: {code!r} must be a non-empty string of at most 64 characters")


def _code_of(conn: Connection, account_id: int) -> str:
    return str(
        conn.execute(select(AccountRow.code).where(AccountRow.id == account_id)).scalar_one()
    )


def _check_readings(
    readings: Sequence[MeterReading], *, hourly: bool
) -> list[tuple[dt.datetime, dt.datetime, int, str]]:
    if not readings:
        raise InputError("readings: give at least one reading")
    out = []
    for i, r in enumerate(readings):
        field = f"readings[{i}]"
        if hourly:
            s, e = check_consumption_hour(r.start_utc, r.end_utc, field)
        else:
            s, e = check_production_interval(r.start_utc, r.end_utc, field)
        check_wh(r.wh, f"{field}.wh", allow_zero=True)
        if not isinstance(r.meter_ref, str) or not r.meter_ref.strip():
            raise InputError(f"{field}.meter_ref: give the meter id and reading version")
        out.append((s, e, r.wh, r.meter_ref))
    out.sort()
    for a, b in itertools.pairwise(out):
        if b[0] < a[1]:
            raise InputError(
                f"readings: intervals starting {a[0].isoformat()} and {b[0].isoformat()} overlap"
            )
    return out


def _check_no_overlap(
    new: list[tuple[dt.datetime, dt.datetime]],
    kept: list[tuple[dt.datetime, dt.datetime]],
    what: str,
) -> None:
    merged = sorted([*new, *kept])
    for a, b in itertools.pairwise(merged):
        if b[0] < a[1]:
            raise LedgerConflict(
                f"{what}: the reading {b[0].isoformat()}–{b[1].isoformat()} overlaps the one "
                f"recorded for {a[0].isoformat()}–{a[1].isoformat()}"
            )


def _check_issue_lines(lines: Sequence[IssueLine]) -> list[tuple[dt.datetime, dt.datetime, int]]:
    if not lines:
        raise InputError("lines: give at least one interval to issue")
    out = []
    for i, line in enumerate(lines):
        s, e = check_production_interval(line.start_utc, line.end_utc, f"lines[{i}]")
        out.append((s, e, check_wh(line.wh, f"lines[{i}].wh")))
    out.sort()
    for a, b in itertools.pairwise(out):
        if a[0] == b[0]:
            raise InputError(f"lines: the interval starting {a[0].isoformat()} is given twice")
    return out


def _require_inside(rows: Iterable[Row[Any]], start: dt.datetime, end: dt.datetime) -> None:
    for r in rows:
        if r.start_utc < start or r.end_utc > end:
            raise LedgerConflict(
                f"bundle {r.id}: period mismatch: produced {r.start_utc.isoformat()}–"
                f"{r.end_utc.isoformat()}, outside the hour {start.isoformat()}–"
                f"{end.isoformat()}; certificates match consumption in the same hour"
            )


def _claimed_by_hour(
    conn: Connection, account_id: int, lo: dt.datetime, hi: dt.datetime
) -> dict[dt.datetime, int]:
    rows = conn.execute(
        select(_B.consumption_start_utc, func.sum(_B.wh))
        .where(
            _B.beneficiary_id == account_id,
            _B.status == Status.CLAIMED.value,
            _B.consumption_start_utc >= lo,
            _B.consumption_start_utc < hi,
        )
        .group_by(_B.consumption_start_utc)
    )
    return {h: int(w) for h, w in rows if h is not None}


def _stored(r: Row[Any]) -> chain.StoredEvent:
    return chain.StoredEvent(r.seq, r.kind, r.recorded_utc, r.payload_json, r.prev_hash, r.hash)


def _bundle_view(r: Any, accounts: dict[int, str], devices: dict[int, str]) -> BundleView:
    return BundleView(
        id=r.id,
        device=devices[r.device_id],
        issuance_id=r.issuance_id,
        parent_id=r.parent_id,
        start_id=r.start_id,
        end_id=r.end_id,
        wh=r.wh,
        production_start_utc=r.start_utc,
        production_end_utc=r.end_utc,
        owner=accounts[r.owner_id],
        status=Status(r.status),
        source=Source(r.source),
        country=r.country,
        zone=r.zone,
        emission_factor_g_per_kwh=r.emission_factor_g_per_kwh,
        storage=r.storage,
        issuer=accounts[r.issuer_id],
        expires_utc=r.expires_utc,
        beneficiary=None if r.beneficiary_id is None else accounts[r.beneficiary_id],
        consumption_start_utc=r.consumption_start_utc,
        consumption_end_utc=r.consumption_end_utc,
    )
