"""The ledger's repository layer: transactions with bounded retries, row locks, lookups, the
chain append (under the one-row head lock) and the read methods of :class:`~suandian.ledger.Ledger`.
"""

from __future__ import annotations

import datetime as dt
import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from enum import StrEnum
from typing import Any, TypeVar, cast

from psycopg.rows import namedtuple_row
from sqlalchemy import (
    Connection,
    Engine,
    Row,
    Table,
    and_,
    bindparam,
    exists,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.sql.expression import Executable

from suandian.core.errors import InputError, LedgerConflict, NotFound, StoreError
from suandian.ledger import chain
from suandian.ledger.domain import (
    BundleView,
    ChainHead,
    ClaimView,
    ConsumptionView,
    DeviceView,
    MeterReading,
    Source,
    Status,
    VerifyResult,
    utc,
)
from suandian.ledger.gec import GecMonth, aggregate_months, sum_by_month
from suandian.ledger.invariants import BundleFacts, check_invariants
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
    UtcDateTime,
)

__all__ = ["LedgerStore"]

T = TypeVar("T")
E = TypeVar("E", bound=StrEnum)
_B = BundleRow
_HOUR = dt.timedelta(hours=1)
_PAST = {"transfer": "transferred", "split": "split", "cancel": "cancelled"}
_RETRY_SQLSTATES = {"40001", "40P01"}  # serialization failure, deadlock detected

# The hot path (transfer, split, cancel, the chain append) runs statements built once, on the
# Core tables: each execution then skips statement construction and hits the compiled cache.
BUNDLES = cast(Table, BundleRow.__table__)
_HEAD = cast(Table, ChainHeadRow.__table__)
_EVENTS = cast(Table, ChainEventRow.__table__)
_ACCOUNTS = cast(Table, AccountRow.__table__)
_ACCEPTS = cast(Table, AccountAcceptRow.__table__)
ISSUANCES = cast(Table, IssuanceRow.__table__)
SQL_LOCK_BUNDLES = (
    select(BUNDLES)
    .where(BUNDLES.c.id.in_(bindparam("ids", expanding=True)))
    .order_by(BUNDLES.c.id)
    .with_for_update()
)
# A transfer locks its bundles and reads whether the recipient accepts the sender in one trip.
_ACCEPTED = (
    select(
        or_(
            _ACCOUNTS.c.accept_all,
            exists().where(
                _ACCEPTS.c.account_id == _ACCOUNTS.c.id,
                _ACCEPTS.c.sender_id == bindparam("sender"),
            ),
        )
    )
    .where(_ACCOUNTS.c.id == bindparam("recipient"))
    .scalar_subquery()
)
SQL_LOCK_FOR_TRANSFER = (
    select(BUNDLES, _ACCEPTED.label("recipient_accepts"))
    .where(BUNDLES.c.id.in_(bindparam("ids", expanding=True)))
    .order_by(BUNDLES.c.id)
    .with_for_update(of=BUNDLES)
)
SQL_SET_OWNER = (
    update(BUNDLES)
    .where(BUNDLES.c.id.in_(bindparam("ids", expanding=True)))
    .values(owner_id=bindparam("new_owner"))
)
SQL_INSERT_BUNDLES = insert(BUNDLES).returning(BUNDLES.c.id, sort_by_parameter_order=True)
SQL_SET_STATUS = (
    update(BUNDLES)
    .where(BUNDLES.c.id.in_(bindparam("ids", expanding=True)))
    .values(status=bindparam("new_status"))
)
SQL_CANCEL = (
    update(BUNDLES)
    .where(BUNDLES.c.id.in_(bindparam("ids", expanding=True)))
    .values(
        status=Status.CANCELLED.value,
        beneficiary_id=bindparam("beneficiary"),
        consumption_start_utc=bindparam("hour_start", type_=UtcDateTime()),
        consumption_end_utc=bindparam("hour_end", type_=UtcDateTime()),
        retired_utc=bindparam("now", type_=UtcDateTime()),
    )
)
# A consumer's claims and its consumption readings are serialised on its account row. NO KEY
# UPDATE conflicts with itself (and with an update of the row) but not with the key-share locks
# foreign-key checks take, so transfers to and cancels for the account do not wait on it.
SQL_LOCK_ACCOUNT = (
    select(_ACCOUNTS.c.id).where(_ACCOUNTS.c.id == bindparam("acc")).with_for_update(key_share=True)
)
_SQL_HEAD_FOR_UPDATE = select(_HEAD.c.seq, _HEAD.c.hash).where(_HEAD.c.id == 1).with_for_update()
_SQL_INSERT_EVENT = insert(_EVENTS)
_SQL_UPDATE_HEAD = (
    update(_HEAD)
    .where(_HEAD.c.id == 1)
    .values(seq=bindparam("new_seq"), hash=bindparam("new_hash"))
)


# PostgreSQL runs the hot path (transfer, split, cancel) on the driver connection with
# statements written once here, so an operation costs two round trips and little Python:
#
# 1. lock and read: the touched bundles ``SELECT … FOR UPDATE`` in id order, with what the rules
#    need (for a transfer whether the recipient accepts the sender, for a split the ids its
#    children will get, drawn from the bundle id sequence);
# 2. after the rules are checked in Python: the change, the chain append and ``COMMIT``, one
#    statement sent with the commit (psycopg pipeline mode). The append locks the head, hashes
#    the canonical body with ``sha256()`` in SQL, inserts the event and moves the head, so the
#    head, the one row every writer passes, is held for that one round trip.
#
# The hash is the one chain.event_hash computes: sha256 of prefix || prev_hash || middle || seq
# || '}', the canonical body with its keys in sorted order (kind, payload, prev_hash,
# recorded_utc, seq). A data-modifying CTE runs exactly once whether or not it is referenced;
# all of the statement sees one snapshot, so a split's children copy the parent as it was.
_PG_IDS = "%(ids)s::bigint[]"
_PG_RESERVE_IDS = (
    "SELECT nextval(pg_get_serial_sequence('ledger_bundles', 'id')) FROM generate_series(1, %(n)s)"
)
_PG_LOCK = (
    "SELECT b.id, b.status, b.owner_id, b.expires_utc, b.start_utc, b.end_utc, b.start_id, "
    "b.end_id{extra} FROM ledger_bundles b WHERE b.id = ANY(" + _PG_IDS + ") ORDER BY b.id "
    "FOR UPDATE OF b"
)
PG_LOCK_BUNDLES = _PG_LOCK.format(extra="")
PG_LOCK_FOR_TRANSFER = _PG_LOCK.format(
    extra=", (SELECT a.accept_all OR EXISTS (SELECT 1 FROM ledger_account_accepts x "
    "WHERE x.account_id = a.id AND x.sender_id = %(sender)s) FROM ledger_accounts a "
    "WHERE a.id = %(recipient)s) AS recipient_accepts"
)
PG_LOCK_FOR_SPLIT = _PG_LOCK.format(
    extra=", ARRAY(SELECT nextval(pg_get_serial_sequence('ledger_bundles', 'id')) "
    "FROM generate_series(1, %(children)s)) AS child_ids"
)


def _pg_append(change: str = "", gate: str = "") -> str:
    """The append statement, after the operation's ``change`` (data-modifying CTEs).

    ``gate`` counts the rows the change wrote: the head row is read for update only once that
    count is known, so the change is written before the head is locked and the head is held
    just for the event and the commit.
    """
    return (
        "WITH "
        + change
        + "old AS (SELECT seq, hash FROM ledger_chain_head WHERE id = 1"
        + (f" AND ({gate}) >= 0" if gate else "")
        + " FOR UPDATE), "
        "new AS (SELECT old.seq + 1 AS seq, old.hash AS prev_hash, encode(sha256(convert_to("
        "%(prefix)s || old.hash || %(middle)s || (old.seq + 1)::text || '}', 'UTF8')), 'hex') "
        "AS hash FROM old), "
        "moved AS (UPDATE ledger_chain_head h SET seq = new.seq, hash = new.hash FROM new "
        "WHERE h.id = 1) "
        "INSERT INTO ledger_events (seq, kind, recorded_utc, payload_json, prev_hash, hash) "
        "SELECT seq, %(kind)s, %(recorded_utc)s, %(payload_json)s, prev_hash, hash FROM new "
        "RETURNING seq"
    )


_PG_APPEND = _pg_append()
_INHERITED = [
    c.name for c in BUNDLES.c if c.name not in ("id", "parent_id", "start_id", "end_id", "wh")
]
PG_TRANSFER = _pg_append(
    "changed AS (UPDATE ledger_bundles SET owner_id = %(new_owner)s "
    "WHERE id = ANY(" + _PG_IDS + ") RETURNING 1), ",
    "SELECT count(*) FROM changed",
)
PG_SPLIT = _pg_append(
    "parent AS (UPDATE ledger_bundles SET status = 'split' WHERE id = %(bundle)s RETURNING 1), "
    "children AS (INSERT INTO ledger_bundles (id, parent_id, start_id, end_id, wh, "
    + ", ".join(_INHERITED)
    + ") SELECT c.id, p.id, c.a, c.b, c.b - c.a + 1, "
    + ", ".join(f"p.{name}" for name in _INHERITED)
    + " FROM ledger_bundles p, unnest(%(child_ids)s::bigint[], %(starts)s::bigint[], "
    "%(ends)s::bigint[]) AS c(id, a, b) WHERE p.id = %(bundle)s RETURNING 1), ",
    "SELECT count(*) FROM parent) + (SELECT count(*) FROM children",
)
PG_CANCEL = _pg_append(
    "changed AS (UPDATE ledger_bundles SET status = 'cancelled', "
    "beneficiary_id = %(beneficiary)s, consumption_start_utc = %(hour_start)s, "
    "consumption_end_utc = %(hour_end)s, retired_utc = %(now)s "
    "WHERE id = ANY(" + _PG_IDS + ") RETURNING 1), ",
    "SELECT count(*) FROM changed",
)


def _driver_error(conn: Connection, sql: str, params: dict[str, Any], exc: Exception) -> DBAPIError:
    """A driver error as SQLAlchemy would raise it, so that retries and refusals stay one path."""
    err = DBAPIError.instance(sql, params, exc, conn.dialect.loaded_dbapi.Error)
    assert isinstance(err, DBAPIError)  # exc is always a driver error here
    return err


def pg_rows(conn: Connection, sql: str, params: dict[str, Any]) -> list[Any]:
    """Rows (named tuples) of one prepared statement run on the driver connection."""
    raw: Any = conn.connection.driver_connection
    try:
        with raw.cursor(row_factory=namedtuple_row) as cur:
            cur.execute(sql, params, prepare=True)
            return list(cur.fetchall())
    except conn.dialect.loaded_dbapi.Error as exc:
        raise _driver_error(conn, sql, params, exc) from exc


def pg_copy_issue(
    conn: Connection, issuances: list[dict[str, Any]], bundles: list[dict[str, Any]]
) -> list[int]:
    """Write an issue's rows with ``COPY`` and return the bundles' ids, in the given order.

    The ids are drawn from the bundle id sequence first (ascending, one per bundle), so the
    rows need no ``INSERT … RETURNING``: parsing that statement's thousands of values was most
    of the time of a large issue.
    """
    raw: Any = conn.connection.driver_connection
    sql = "COPY …"
    try:
        with raw.cursor() as cur:
            cur.execute(_PG_RESERVE_IDS, {"n": len(bundles)}, prepare=False)
            ids = sorted(r[0] for r in cur.fetchall())
            for table, rows in (
                (ISSUANCES, issuances),
                (BUNDLES, [{"id": i, **b} for i, b in zip(ids, bundles, strict=True)]),
            ):
                cols = list(rows[0])
                sql = f"COPY {table.name} ({', '.join(cols)}) FROM STDIN"
                with cur.copy(sql) as copy:
                    for row in rows:
                        copy.write_row([row[c] for c in cols])
    except conn.dialect.loaded_dbapi.Error as exc:
        raise _driver_error(conn, sql, {}, exc) from exc
    return ids


def _commit_with_pg(conn: Connection, sql: str, params: dict[str, Any]) -> int:
    """Run the transaction's last statement and commit in one round trip (pipeline mode).

    The commit happens here: the ``COMMIT`` SQLAlchemy sends when its block ends finds the
    connection idle and does nothing. Without the pipeline the client would have to be
    scheduled again between the statement and the commit while it holds the chain head, which
    with many clients on few cores stretches the time every other writer waits.
    """
    raw: Any = conn.connection.driver_connection
    try:
        with raw.pipeline():
            cur = raw.execute(sql, params, prepare=True)
            raw.commit()
        return int(cur.fetchone()[0])
    except conn.dialect.loaded_dbapi.Error as exc:
        raise _driver_error(conn, sql, params, exc) from exc


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


class LedgerStore:
    """Transactions, locks, lookups, the chain append and every read of the ledger."""

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

    def _append(
        self,
        conn: Connection,
        kind: str,
        payload: dict[str, Any],
        *,
        pg_sql: str = _PG_APPEND,
        pg_params: dict[str, Any] | None = None,
    ) -> int:
        """Append one event; holds the chain head lock until the transaction commits.

        On PostgreSQL the append is the transaction's last statement and commits it; ``pg_sql``
        may carry the operation's change in front of it (``PG_TRANSFER``, …, with
        ``pg_params``), so that the change, the append and the commit are one round trip.
        """
        recorded = self._now()
        if conn.dialect.name == "postgresql":
            payload_json = chain.canonical_json(payload)
            prefix, middle = chain.body_parts(kind, payload_json, recorded)
            params = {
                "prefix": prefix,
                "middle": middle,
                "kind": kind,
                "recorded_utc": recorded,
                "payload_json": payload_json,
                **(pg_params or {}),
            }
            return _commit_with_pg(conn, pg_sql, params)
        head = conn.execute(_SQL_HEAD_FOR_UPDATE).one()
        seq = int(head.seq) + 1
        digest = chain.event_hash(
            seq=seq, kind=kind, recorded_utc=recorded, payload=payload, prev_hash=head.hash
        )
        event = {
            "seq": seq,
            "kind": kind,
            "recorded_utc": recorded,
            "payload_json": chain.canonical_json(payload),
            "prev_hash": head.hash,
            "hash": digest,
        }
        conn.execute(_SQL_INSERT_EVENT, event)
        conn.execute(_SQL_UPDATE_HEAD, {"new_seq": seq, "new_hash": digest})
        return seq

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

    def _lock_account(self, conn: Connection, account_id: int) -> None:
        """Lock one account's row until commit (``SELECT … FOR NO KEY UPDATE``).

        :meth:`claim` and :meth:`record_consumption` take the consumer's row before they read
        what is claimed or metered, so they run one after the other for one consumer: the one
        that waited reads what the other committed. SQLite serialises writers anyway.
        """
        conn.execute(SQL_LOCK_ACCOUNT, {"acc": account_id})

    def _device(self, conn: Connection, code: str, *, lock: bool = False) -> Row[Any]:
        stmt = select(DeviceRow).where(DeviceRow.code == code)
        if lock:
            stmt = stmt.with_for_update()
        row = conn.execute(stmt).one_or_none()
        if row is None:
            raise NotFound(f"device {code!r} does not exist; register it first")
        return row

    def _lock_bundles(
        self,
        conn: Connection,
        ids: Sequence[int],
        stmt: Executable = SQL_LOCK_BUNDLES,
        params: dict[str, Any] | None = None,
        *,
        pg_sql: str | None = None,
    ) -> list[Any]:
        """The bundles, locked in id order (a fixed order: concurrent callers cannot deadlock).

        On PostgreSQL ``pg_sql`` (``PG_LOCK_*``), when given, runs instead of ``stmt`` on the
        driver connection; its rows carry the columns the hot path checks.
        """
        bound = {"ids": list(ids), **(params or {})}
        if pg_sql is not None and conn.dialect.name == "postgresql":
            rows: Sequence[Any] = pg_rows(conn, pg_sql, bound)
        else:
            rows = conn.execute(stmt, bound).all()
        if len(rows) != len(ids):
            found = {r.id for r in rows}
            missing = [i for i in ids if i not in found]
            raise NotFound(f"bundle {missing[0]} does not exist (unknown ids: {missing})")
        return list(rows)

    def _require_active(
        self, conn: Connection, rows: Iterable[Any], *, verb: str, owner_id: int, owner: str
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
                    f"bundle {r.id}: cannot {verb} it: it expired at "
                    f"{r.expires_utc.astimezone(dt.UTC).isoformat()}"
                )

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

    def issued_starts(
        self, device: str, start_utc: dt.datetime, end_utc: dt.datetime
    ) -> list[dt.datetime]:
        """Starts of the production intervals of ``device`` in ``[start, end)`` already issued.

        Lets a caller that issues from metered data skip what it issued on an earlier run
        (issuing an interval twice is refused).
        """
        lo, hi = utc(start_utc, "start_utc"), utc(end_utc, "end_utc")

        def op(conn: Connection) -> list[dt.datetime]:
            dev = self._device(conn, device)
            rows = conn.execute(
                select(IssuanceRow.start_utc)
                .where(
                    IssuanceRow.device_id == dev.id,
                    IssuanceRow.start_utc >= lo,
                    IssuanceRow.start_utc < hi,
                )
                .order_by(IssuanceRow.start_utc)
            )
            return [r.start_utc for r in rows]

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
            try:
                return chain.verify_events(
                    (_stored(r) for r in result), ChainHead(row.seq, row.hash)
                )
            finally:
                result.close()  # verification may stop early: release the server-side cursor

        return self._read(op)

    def audit(self) -> list[str]:
        """Invariants rebuilt from every stored row; the problems found (empty when sound).

        See :func:`suandian.ledger.invariants.check_invariants`. Reads the whole ledger: meant
        for audits, tests and benchmarks, not for a request path.
        """

        def op(conn: Connection) -> list[str]:
            bundles = [
                BundleFacts(**r._mapping)
                for r in conn.execute(
                    select(
                        _B.id,
                        _B.issuance_id,
                        _B.parent_id,
                        _B.start_id,
                        _B.end_id,
                        _B.wh,
                        _B.status,
                        _B.beneficiary_id,
                        _B.consumption_start_utc,
                        _B.charge_id,
                    )
                )
            ]
            issued = conn.execute(
                select(
                    IssuanceRow.id,
                    IssuanceRow.device_id,
                    IssuanceRow.start_utc,
                    IssuanceRow.wh,
                    func.coalesce(GenerationRow.wh, 0),
                ).outerjoin(
                    GenerationRow,
                    and_(
                        GenerationRow.device_id == IssuanceRow.device_id,
                        GenerationRow.start_utc == IssuanceRow.start_utc,
                    ),
                )
            ).all()
            consumption = {
                (r.account_id, r.start_utc): r.wh
                for r in conn.execute(
                    select(ConsumptionRow.account_id, ConsumptionRow.start_utc, ConsumptionRow.wh)
                )
            }
            return check_invariants(
                bundles,
                {r[0]: r[3] for r in issued},
                [(r[1], r[2], r[3], r[4]) for r in issued],
                consumption,
            )

        return self._read(op)

    def gec_summary(
        self, *, device: str | None = None, months: Sequence[str] | None = None
    ) -> list[GecMonth]:
        """The China GEC view: per device (or every device) and Shanghai month ``YYYYMM``.

        The view counts the same energy as the hourly certificates (it adds none): a month's
        issuance less the certificates of it withdrawn by their issuer. Carry-over is computed
        from each device's first month of issuance, so a month's figures do not depend on which
        months are asked for.
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
                # Withdrawn bundles (whole or split children) by their production interval.
                gone = conn.execute(
                    select(_B.start_utc, _B.wh).where(
                        _B.device_id == d.id,
                        _B.storage.is_(False),
                        _B.status == Status.WITHDRAWN.value,
                    )
                ).all()
                out += aggregate_months(
                    sum_by_month([r.start_utc for r in rows], [r.wh for r in rows]),
                    device=d.code,
                    project_code=d.project_code,
                    source=Source(d.source),
                    withdrawn_wh_by_month=sum_by_month(
                        [r.start_utc for r in gone], [r.wh for r in gone]
                    ),
                )
            if months is not None:
                wanted = set(months)
                out = [m for m in out if m.month in wanted]
            return out

        return self._read(op)


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
