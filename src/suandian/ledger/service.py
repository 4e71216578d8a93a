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
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, Row, func, insert, select, update

from suandian.core.errors import InputError, LedgerConflict
from suandian.ledger import chain
from suandian.ledger.domain import (
    LIVE_STATUSES,
    AccountKind,
    IssueLine,
    Source,
    Status,
    check_consumption_hour,
    check_production_interval,
    check_wh,
    discharge_allowance_wh,
    expiry_utc,
    next_range,
    split_ranges,
    utc,
)
from suandian.ledger.registry import RegistryOps
from suandian.ledger.repository import (
    _B,
    _HOUR,
    PG_CANCEL,
    PG_LOCK_BUNDLES,
    PG_LOCK_FOR_SPLIT,
    PG_LOCK_FOR_TRANSFER,
    PG_SPLIT,
    PG_TRANSFER,
    SQL_CANCEL,
    SQL_INSERT_BUNDLES,
    SQL_LOCK_FOR_TRANSFER,
    SQL_SET_OWNER,
    SQL_SET_STATUS,
    _claimed_by_hour,
    _code_of,
    _ids,
    pg_copy_issue,
)
from suandian.ledger.tables import (
    ConsumptionRow,
    DeviceRow,
    GenerationRow,
    IssuanceRow,
    StorageChargeRow,
)

__all__ = ["Ledger"]


class Ledger(RegistryOps):
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
        metered, was issued before, or has already expired (its production ended two years or
        more before the ledger clock). One chain event (``issue``) records every line. The
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
        now = self._now()
        for s, e, w in lines:
            at = f"device {device!r} at {s.isoformat()}–{e.isoformat()}"
            expires = expiry_utc(e)
            if expires <= now:  # the bundle could never be transferred, split or cancelled
                raise LedgerConflict(
                    f"{at}: cannot issue certificates for this production: they expired at "
                    f"{expires.isoformat()}; certificates are valid for two years after "
                    "production"
                )
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
        if conn.dialect.name == "postgresql":
            bundle_ids = pg_copy_issue(conn, issuances, bundles)
        else:
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
            rows = self._lock_bundles(
                conn,
                sorted(ids),
                SQL_LOCK_FOR_TRANSFER,
                {"sender": sender_id, "recipient": recipient_id},
                pg_sql=PG_LOCK_FOR_TRANSFER,
            )
            self._require_active(conn, rows, verb="transfer", owner_id=sender_id, owner=sender)
            if not rows[0].recipient_accepts:
                raise LedgerConflict(
                    f"bundle {ids[0]}: cannot transfer it: account {recipient!r} does not "
                    f"accept transfers from {sender!r}; it must list {sender!r} as a sender"
                )
            change = {"ids": ids, "new_owner": recipient_id}
            if conn.dialect.name != "postgresql":
                conn.execute(SQL_SET_OWNER, change)
            self._append(
                conn,
                "transfer",
                {"bundles": ids, "sender": sender, "recipient": recipient},
                pg_sql=PG_TRANSFER,
                pg_params=change,
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
            pg = conn.dialect.name == "postgresql"
            (parent,) = self._lock_bundles(
                conn, [bid], params={"children": len(sizes)}, pg_sql=PG_LOCK_FOR_SPLIT
            )
            self._require_active(conn, [parent], verb="split", owner_id=owner_id, owner=account)
            try:
                ranges = split_ranges(parent.start_id, parent.end_id, sizes)
            except InputError as exc:
                raise InputError(f"bundle {bid}: {exc}") from None
            if pg:  # the children's ids came with the lock; PG_SPLIT copies the parent in SQL
                child_ids = list(parent.child_ids)
            else:
                base = {k: v for k, v in parent._mapping.items() if k != "id"}
                children = [
                    {**base, "parent_id": bid, "start_id": a, "end_id": b, "wh": b - a + 1}
                    for a, b in ranges
                ]
                child_ids = list(conn.execute(SQL_INSERT_BUNDLES, children).scalars())
                conn.execute(SQL_SET_STATUS, {"ids": [bid], "new_status": Status.SPLIT.value})
            self._append(
                conn,
                "split",
                {
                    "bundle": bid,
                    "account": account,
                    "children": [[c, a, b] for c, (a, b) in zip(child_ids, ranges, strict=True)],
                },
                pg_sql=PG_SPLIT,
                pg_params={
                    "bundle": bid,
                    "child_ids": child_ids,
                    "starts": [a for a, _ in ranges],
                    "ends": [b for _, b in ranges],
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
            rows = self._lock_bundles(conn, sorted(ids), pg_sql=PG_LOCK_BUNDLES)
            self._require_active(conn, rows, verb="cancel", owner_id=owner_id, owner=account)
            _require_inside(rows, hour_start, hour_end)
            change = {
                "ids": ids,
                "beneficiary": ben_id,
                "hour_start": hour_start,
                "hour_end": hour_end,
                "now": self._now(),
            }
            if conn.dialect.name != "postgresql":
                conn.execute(SQL_CANCEL, change)
            self._append(
                conn,
                "cancel",
                {
                    "bundles": ids,
                    "account": account,
                    "beneficiary": beneficiary,
                    "period": [chain.iso_utc(hour_start), chain.iso_utc(hour_end)],
                },
                pg_sql=PG_CANCEL,
                pg_params=change,
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
            # The beneficiary's row first, then the bundles: a consumption correction for this
            # consumer waits until the claim commits (or the claim waits for the correction),
            # so neither decides on claimed or metered Wh the other is changing.
            self._lock_account(conn, ben_id)
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
        """Expire every live bundle whose expiry is at or before ``now_utc``; returns their ids.

        ``now_utc`` may not be later than the ledger clock: expiring is final, and a time
        ahead of the clock would retire certificates that are still valid.
        """
        now = utc(now_utc, "now_utc")
        clock = self._now()
        if now > clock:
            raise InputError(
                f"now_utc: {now.isoformat()} is later than the ledger clock "
                f"({clock.isoformat()}); certificates can only be expired up to the current time"
            )

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


def _require_inside(rows: Iterable[Any], start: dt.datetime, end: dt.datetime) -> None:
    for r in rows:
        if r.start_utc < start or r.end_utc > end:
            lo, hi = r.start_utc.astimezone(dt.UTC), r.end_utc.astimezone(dt.UTC)
            raise LedgerConflict(
                f"bundle {r.id}: period mismatch: produced {lo.isoformat()}–"
                f"{hi.isoformat()}, outside the hour {start.isoformat()}–"
                f"{end.isoformat()}; certificates match consumption in the same hour"
            )
