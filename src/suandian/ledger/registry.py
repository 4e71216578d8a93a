"""Registry and metering operations of the ledger: organisations, accounts, devices, readings."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Sequence
from typing import cast

from sqlalchemy import Connection, Table, bindparam, delete, func, insert, select, update

from suandian.core.errors import InputError, LedgerConflict, NotFound
from suandian.ledger import chain
from suandian.ledger.domain import (
    AccountKind,
    MeterReading,
    Source,
    check_consumption_hour,
    check_production_interval,
    check_wh,
    device_id_base,
)
from suandian.ledger.gec import check_project_code
from suandian.ledger.repository import (
    _HOUR,
    LedgerStore,
    _check_code,
    _chunks,
    _claimed_by_hour,
    _enum,
)
from suandian.ledger.tables import (
    AccountAcceptRow,
    AccountRow,
    ConsumptionRow,
    DeviceRow,
    GenerationRow,
    IssuanceRow,
    OrganisationRow,
    UtcDateTime,
)

__all__ = ["RegistryOps"]

_CONSUMPTION = cast(Table, ConsumptionRow.__table__)
_SQL_UPDATE_CONSUMPTION = (
    update(_CONSUMPTION)
    .where(
        _CONSUMPTION.c.account_id == bindparam("b_acc"),
        _CONSUMPTION.c.start_utc == bindparam("b_start", type_=UtcDateTime()),
    )
    .values(
        end_utc=bindparam("b_end", type_=UtcDateTime()),
        wh=bindparam("b_wh"),
        meter_ref=bindparam("b_ref"),
    )
)
_SQL_INSERT_CONSUMPTION = insert(_CONSUMPTION).values(
    account_id=bindparam("b_acc"),
    start_utc=bindparam("b_start", type_=UtcDateTime()),
    end_utc=bindparam("b_end", type_=UtcDateTime()),
    wh=bindparam("b_wh"),
    meter_ref=bindparam("b_ref"),
)


class RegistryOps(LedgerStore):
    """Organisations, accounts and their acceptance lists, devices, metered readings."""

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
        (a newer reading version), unless certificates were issued against it: that reading is
        final (the certificates cite it, and the interval cannot be issued again); wrongly
        issued certificates can be withdrawn by their issuer.
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
                        "certificates issued against it and cannot be changed: they cite it as "
                        "their metered evidence, and an interval is issued only once (readings "
                        "without certificates can still be re-recorded). If the certificates "
                        "were issued in error, their issuer can withdraw them; the reading "
                        "stays as recorded"
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
            self._lock_account(conn, acc_id)  # serialises with claims for this consumer
            starts = [s for s, *_ in lines]
            claimed = _claimed_by_hour(conn, acc_id, starts[0], starts[-1] + _HOUR)
            for s, _e, w, _m in lines:
                if claimed.get(s, 0) > w:
                    raise LedgerConflict(
                        f"account {account!r}: consumption at {s.isoformat()} cannot drop to "
                        f"{w} Wh: {claimed[s]} Wh are already claimed against it"
                    )
            recorded: set[dt.datetime] = set()
            for part in _chunks(starts):
                recorded.update(
                    conn.execute(
                        select(ConsumptionRow.start_utc).where(
                            ConsumptionRow.account_id == acc_id, ConsumptionRow.start_utc.in_(part)
                        )
                    ).scalars()
                )
            rows = [
                {"b_acc": acc_id, "b_start": s, "b_end": e, "b_wh": w, "b_ref": m}
                for s, e, w, m in lines
            ]
            replaced = [r for r in rows if r["b_start"] in recorded]
            if replaced:  # in place: the hour's row is never absent, not even inside this write
                conn.execute(_SQL_UPDATE_CONSUMPTION, replaced)
            added = [r for r in rows if r["b_start"] not in recorded]
            if added:
                conn.execute(_SQL_INSERT_CONSUMPTION, added)
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
