"""Meters and their interval-energy readings, kept with every correction, in DuckDB.

One file in the data directory (``meters.duckdb``), sessions in UTC. Two tables:

``meters``
    One row per meter with an integer surrogate ``meter_key``; readings refer to the key, never to
    the string id, so that 350 million readings stay small and join fast.
``readings``
    ``(meter_key, start_utc, kwh, version, received_utc, superseded_utc)``: interval energy in kWh
    at a UTC interval start. A value for a (meter, interval) that already has one is either a
    duplicate (same value within 1e-9 kWh: nothing is written) or a correction: the current row
    gets ``superseded_utc`` set to the correction's ``received_utc`` and the new value is appended
    with the next ``version``.

So the latest value is the plain filter ``superseded_utc IS NULL`` and the value known at time
``T`` is ``received_utc <= T AND (superseded_utc IS NULL OR superseded_utc > T)``; no read ever
groups over versions.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, get_args

import duckdb
import numpy as np
import numpy.typing as npt
import pandas as pd

from suandian.core.errors import InputError, NotFound, StoreError
from suandian.core.times import interval_grid, require_utc
from suandian.store.duckdb_file import DuckDBFile

__all__ = [
    "DUPLICATE_TOLERANCE_KWH",
    "GENERATION_SOURCES",
    "IngestCounts",
    "Meter",
    "MeterKind",
    "ReadingsStore",
]

MeterKind = Literal[
    "generation",
    "consumption",
    "storage_charge",
    "storage_discharge",
    "grid_import",
    "grid_export",
]
_KINDS: tuple[str, ...] = get_args(MeterKind)
_RATED_KINDS = ("generation", "storage_charge", "storage_discharge")
_ASSET_KINDS = (*_RATED_KINDS, "consumption")

GENERATION_SOURCES = ("pv", "wind", "hydro")
"""Sources a generation meter may carry."""

_DENSE_CELLS_PER_QUERY = 1 << 22
"""Grid cells (meters × intervals) :meth:`ReadingsStore.dense` reads per query: ~4 million, a
result of ~64 MB; whole years of thousands of meters are read in many such queries."""

_READ_MEMORY_LIMIT = "1GB"
"""DuckDB's memory limit while :meth:`ReadingsStore.dense` reads, which bounds its block cache."""

DUPLICATE_TOLERANCE_KWH = 1e-9
"""A re-sent value within this of the current one is a duplicate, not a correction. [kWh]"""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meters (
    meter_key      INTEGER PRIMARY KEY,
    meter_id       VARCHAR NOT NULL UNIQUE,
    kind           VARCHAR NOT NULL,
    site           VARCHAR NOT NULL,
    asset_id       VARCHAR,
    source         VARCHAR,
    nameplate_kw   DOUBLE,
    registered_utc TIMESTAMPTZ NOT NULL
);
CREATE TABLE IF NOT EXISTS readings (
    meter_key      INTEGER NOT NULL,
    start_utc      TIMESTAMPTZ NOT NULL,
    kwh            DOUBLE NOT NULL,
    version        INTEGER NOT NULL,
    received_utc   TIMESTAMPTZ NOT NULL,
    superseded_utc TIMESTAMPTZ
);
"""

_METER_COLUMNS = ["meter_id", "kind", "site", "asset_id", "source", "nameplate_kw"]


@dataclass(frozen=True)
class Meter:
    """A meter and what it measures.

    Generation meters name their asset and source (pv, wind, hydro); storage meters come in
    pairs (``storage_charge`` and ``storage_discharge``) on one storage asset; consumption meters
    name the consumer (enterprise or data center); grid meters (``grid_import``, ``grid_export``)
    sit on the site's grid tie and name no asset.
    """

    meter_id: str
    kind: MeterKind
    site: str
    asset_id: str | None = None
    """Generator, storage or consumer id; None for grid meters."""
    source: str | None = None
    """``pv``, ``wind`` or ``hydro`` for generation meters, else None."""
    nameplate_kw: float | None = None
    """Maximum power of the generator or storage device; None for other meters. [kW]"""

    def __post_init__(self) -> None:
        where = f"meter {self.meter_id!r}"
        if not isinstance(self.meter_id, str) or not self.meter_id.strip():
            raise InputError(f"meter_id: {self.meter_id!r} is empty; give every meter an id")
        if self.kind not in _KINDS:
            raise InputError(f"{where}: kind {self.kind!r} is unknown; use one of {_KINDS}")
        if not self.site:
            raise InputError(f"{where}: site is empty; name the site the meter stands on")
        if self.kind in _ASSET_KINDS and not self.asset_id:
            raise InputError(f"{where}: a {self.kind} meter needs the asset_id it measures")
        if self.kind not in _ASSET_KINDS and self.asset_id is not None:
            raise InputError(
                f"{where}: a {self.kind} meter sits on the grid tie; leave asset_id unset "
                f"(got {self.asset_id!r})"
            )
        if self.kind == "generation" and self.source not in GENERATION_SOURCES:
            raise InputError(
                f"{where}: source {self.source!r} is not one of {GENERATION_SOURCES}; "
                "a generation meter names the source it measures"
            )
        if self.kind != "generation" and self.source is not None:
            raise InputError(
                f"{where}: only generation meters carry a source; leave it unset for a "
                f"{self.kind} meter (got {self.source!r})"
            )
        if self.nameplate_kw is not None:
            if self.kind not in _RATED_KINDS:
                raise InputError(
                    f"{where}: nameplate_kw is for generation and storage meters; leave it "
                    f"unset for a {self.kind} meter (got {self.nameplate_kw!r})"
                )
            if (
                isinstance(self.nameplate_kw, bool)
                or not isinstance(self.nameplate_kw, int | float)
                or not math.isfinite(self.nameplate_kw)
                or self.nameplate_kw <= 0.0
            ):
                raise InputError(
                    f"{where}: nameplate_kw must be a positive number of kW "
                    f"(got {self.nameplate_kw!r})"
                )


@dataclass(frozen=True)
class IngestCounts:
    """What one ingest did with its rows."""

    new: int
    """Rows that gave a (meter, interval) its first value."""
    corrected: int
    """Rows with a different value from the current one: stored as a new version."""
    duplicate: int
    """Rows equal to the current value (or repeated within the batch): nothing written."""


class ReadingsStore(DuckDBFile):
    """The DuckDB file holding meters and their versioned readings."""

    FILENAME = "meters.duckdb"

    SCHEMA = _SCHEMA
    WHAT = "meter store"

    # --- meters ---------------------------------------------------------------------------------

    def register_meters(self, meters: Sequence[Meter]) -> int:
        """Add meters, or update the site, asset, source or nameplate of known ones.

        Re-registering an identical meter changes nothing. A meter's kind is fixed: its readings
        mean different things under another kind, so changing it raises :class:`InputError`.
        Returns the number of meters added or changed.
        """
        wanted: dict[str, Meter] = {}
        for meter in meters:
            if not isinstance(meter, Meter):
                raise InputError(f"register_meters takes Meter objects, got {type(meter).__name__}")
            earlier = wanted.setdefault(meter.meter_id, meter)
            if earlier != meter:
                raise InputError(
                    f"meter {meter.meter_id!r} is given twice with different details "
                    f"({earlier} and {meter}); give each meter id once"
                )
        if not wanted:
            return 0
        known = self._registered()
        changed: list[Meter] = []
        added: list[Meter] = []
        for meter in wanted.values():
            before = known.get(meter.meter_id)
            if before is None:
                added.append(meter)
            elif before.kind != meter.kind:
                raise InputError(
                    f"meter {meter.meter_id!r} is registered as {before.kind} and cannot become "
                    f"{meter.kind}; its readings would change meaning — register the new role "
                    "under a new meter id"
                )
            elif before != meter:
                changed.append(meter)
        if not added and not changed:
            return 0
        con = self._con
        top = _first_row(con, "SELECT coalesce(max(meter_key), 0) FROM meters")
        first_key = int(top[0]) + 1 if top else 1
        frames = {
            "added_meters": _meter_frame(added, first_key=first_key),
            "changed_meters": _meter_frame(changed, first_key=0),
        }
        for name, frame in frames.items():
            con.register(name, frame)
        con.execute("BEGIN TRANSACTION")
        try:
            if changed:
                con.execute(
                    "UPDATE meters SET site = c.site, asset_id = c.asset_id, source = c.source, "
                    "nameplate_kw = c.nameplate_kw FROM changed_meters c "
                    "WHERE meters.meter_id = c.meter_id"
                )
            if added:
                con.execute(
                    f"INSERT INTO meters SELECT meter_key, {', '.join(_METER_COLUMNS)}, ? "
                    "FROM added_meters ORDER BY meter_key",
                    [dt.datetime.now(dt.UTC)],
                )
            con.execute("COMMIT")
        except duckdb.Error as exc:
            with contextlib.suppress(duckdb.Error):
                con.execute("ROLLBACK")
            raise StoreError(f"registering meters failed and was rolled back: {exc}") from None
        finally:
            for name in frames:
                con.unregister(name)
        return len(added) + len(changed)

    def meters(self) -> pd.DataFrame:
        """Registered meters: meter_id, kind, site, asset_id, source, nameplate_kw."""
        frame = self._con.execute(
            f"SELECT {', '.join(_METER_COLUMNS)} FROM meters ORDER BY meter_key"
        ).df()
        return frame.astype({"nameplate_kw": "float64"})

    def _registered(self) -> dict[str, Meter]:
        rows = self._con.execute(
            f"SELECT {', '.join(_METER_COLUMNS)} FROM meters ORDER BY meter_key"
        ).fetchall()
        return {
            r[0]: Meter(
                meter_id=r[0],
                kind=r[1],
                site=r[2],
                asset_id=r[3],
                source=r[4],
                nameplate_kw=None if r[5] is None else float(r[5]),
            )
            for r in rows
        }

    def _meter_keys(self) -> pd.Series:
        """Surrogate key of every registered meter, indexed by meter_id."""
        keys = self._con.execute("SELECT meter_id, meter_key FROM meters").fetchnumpy()
        return pd.Series(
            np.asarray(keys["meter_key"], dtype=np.int32),
            index=pd.Index(np.asarray(keys["meter_id"], dtype=object), dtype=object),
        )

    def _keys_for(
        self, meter_ids: Sequence[str] | npt.NDArray[np.object_], what: str
    ) -> npt.NDArray[np.int32]:
        keys = self._meter_keys()
        ids = pd.Index(np.asarray(meter_ids, dtype=object), dtype=object)
        pos = keys.index.get_indexer(ids) if len(keys) else np.full(len(ids), -1)
        if (pos < 0).any():
            unknown = sorted(set(ids[pos < 0].astype(str)))
            shown = ", ".join(unknown[:5]) + (
                f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""
            )
            raise NotFound(
                f"{what}: {len(unknown)} unknown meter id(s): {shown}; register them first "
                f"({len(keys)} meters are registered)"
            )
        return np.asarray(keys.to_numpy()[pos], dtype=np.int32)

    # --- readings -------------------------------------------------------------------------------

    def ingest(
        self, rows: pd.DataFrame, *, received_utc: dt.datetime | None = None
    ) -> IngestCounts:
        """Store interval readings in one transaction.

        ``rows`` holds validated readings: ``meter_id`` (registered meters), ``start_utc``
        (tz-aware interval starts) and ``kwh`` (interval energy, finite). [kWh]
        Each row is new (first value of its meter and interval), a duplicate (equal to the
        current value within :data:`DUPLICATE_TOLERANCE_KWH`, or repeated in ``rows``) or a
        correction (kept as the next version, received at ``received_utc``, default now).
        Two different values for one meter and interval within ``rows`` raise InputError.
        """
        received = (
            dt.datetime.now(dt.UTC)
            if received_utc is None
            else require_utc(received_utc, "received_utc").to_pydatetime()
        )
        batch = self._batch(rows)
        if batch.empty:
            return IngestCounts(new=0, corrected=0, duplicate=0)
        con = self._con
        con.register("incoming", batch)
        con.execute("BEGIN TRANSACTION")
        try:
            counts = self._ingest_batch(batch, received)
            con.execute("COMMIT")
        except BaseException as exc:
            with contextlib.suppress(duckdb.Error):
                con.execute("ROLLBACK")
            if isinstance(exc, duckdb.Error):
                raise StoreError(
                    f"storing {len(batch):,} readings failed and was rolled back: {exc}"
                ) from None
            raise
        finally:
            con.unregister("incoming")
            con.execute("DROP TABLE IF EXISTS temp.classified")
        return counts

    def _batch(self, rows: pd.DataFrame) -> pd.DataFrame:
        missing = [c for c in ("meter_id", "start_utc", "kwh") if c not in rows.columns]
        if missing:
            raise InputError(
                f"readings lack column(s) {', '.join(missing)}; expected meter_id, start_utc, kwh"
            )
        if rows.empty:
            return pd.DataFrame()
        start = rows["start_utc"]
        if not isinstance(start.dtype, pd.DatetimeTZDtype):
            raise InputError(
                f"start_utc has dtype {start.dtype}, not tz-aware datetimes; parse it with "
                "pd.to_datetime(..., utc=True) from text that carries its offset"
            )
        if start.isna().any():
            raise InputError("start_utc has missing values; drop those rows (a gap is no reading)")
        kwh = pd.to_numeric(rows["kwh"], errors="coerce").to_numpy(dtype=np.float64)
        if not np.isfinite(kwh).all():
            raise InputError(
                "kwh has missing, non-numeric or infinite values; drop those rows (a gap is no "
                "reading, never 0)"
            )
        if (kwh < 0.0).any():
            raise InputError("kwh has negative values; energy must be ≥ 0 [kWh]")
        return pd.DataFrame(
            {
                "meter_key": self._keys_for(
                    rows["meter_id"].astype("str").to_numpy(dtype=object), "readings"
                ),
                "start_utc": start.dt.tz_convert("UTC").astype("datetime64[us, UTC]").array,
                "kwh": kwh,
            }
        )

    def _ingest_batch(self, batch: pd.DataFrame, received: dt.datetime) -> IngestCounts:
        con = self._con
        # Constant bounds let DuckDB skip row groups of readings (zonemaps) outside the batch.
        bounds = [
            int(batch["meter_key"].min()),
            int(batch["meter_key"].max()),
            batch["start_utc"].min().to_pydatetime(),
            batch["start_utc"].max().to_pydatetime(),
        ]
        con.execute(
            """
            CREATE OR REPLACE TEMP TABLE classified AS
            WITH batch AS (
                SELECT meter_key, start_utc, min(kwh) AS kwh, max(kwh) - min(kwh) AS spread,
                       count(*) AS n
                FROM incoming GROUP BY meter_key, start_utc
            ),
            current AS (
                SELECT meter_key, start_utc, kwh, version, received_utc
                FROM readings
                WHERE superseded_utc IS NULL
                  AND meter_key BETWEEN ? AND ?
                  AND start_utc BETWEEN ? AND ?
            )
            SELECT batch.meter_key, batch.start_utc, batch.kwh, batch.spread, batch.n,
                   current.version AS current_version,
                   current.received_utc AS current_received_utc,
                   CASE
                       WHEN current.kwh IS NULL THEN 'new'
                       WHEN abs(current.kwh - batch.kwh) <= ? THEN 'duplicate'
                       ELSE 'corrected'
                   END AS status
            FROM batch LEFT JOIN current USING (meter_key, start_utc)
            """,
            [*bounds, DUPLICATE_TOLERANCE_KWH],
        )
        # Repeats within the batch are duplicates; repeats with another value are a
        # contradiction the sender must resolve.
        conflict = _first_row(
            con,
            "SELECT m.meter_id, c.start_utc, c.kwh, c.kwh + c.spread FROM classified c "
            "JOIN meters m USING (meter_key) WHERE c.spread > ? LIMIT 1",
            [DUPLICATE_TOLERANCE_KWH],
        )
        if conflict:
            meter_id, start, lo, hi = conflict
            raise InputError(
                f"meter {meter_id!r} at {pd.Timestamp(start).isoformat()} has two values in one "
                f"batch ({lo} and {hi} kWh); send one value — a later batch with another value "
                "is kept as a correction"
            )
        row = _first_row(
            con,
            """
            SELECT count(*) FILTER (WHERE status = 'new'),
                   count(*) FILTER (WHERE status = 'corrected'),
                   coalesce(sum(n), 0) - count(*) FILTER (WHERE status <> 'duplicate'),
                   max(current_received_utc) FILTER (WHERE status = 'corrected')
            FROM classified
            """,
        )
        assert row is not None
        new, corrected, duplicate, last_received = int(row[0]), int(row[1]), int(row[2]), row[3]
        if last_received is not None and pd.Timestamp(last_received) >= pd.Timestamp(received):
            raise InputError(
                f"received_utc {received.isoformat()} is not after {last_received.isoformat()}, "
                "when a value it corrects was received; corrections must arrive later than what "
                "they correct (leave received_utc unset to use the current time)"
            )
        if corrected:
            con.execute(
                """
                UPDATE readings SET superseded_utc = ?
                FROM (
                    SELECT meter_key, start_utc FROM classified WHERE status = 'corrected'
                ) AS c
                WHERE readings.meter_key = c.meter_key
                  AND readings.start_utc = c.start_utc
                  AND readings.superseded_utc IS NULL
                """,
                [received],
            )
        if new or corrected:
            con.execute(
                """
                INSERT INTO readings
                SELECT meter_key, start_utc, kwh, coalesce(current_version, 0) + 1, ?, NULL
                FROM classified WHERE status <> 'duplicate'
                ORDER BY meter_key, start_utc
                """,
                [received],
            )
        return IngestCounts(new=new, corrected=corrected, duplicate=duplicate)

    def dense(
        self,
        meter_ids: Sequence[str],
        start_utc: dt.datetime | pd.Timestamp,
        end_utc: dt.datetime | pd.Timestamp,
        *,
        resolution_min: int = 15,
        as_of: dt.datetime | pd.Timestamp | None = None,
    ) -> npt.NDArray[np.float64]:
        """Readings of ``meter_ids`` on the interval grid ``[start_utc, end_utc)``. [kWh]

        Returns an array of shape ``(len(meter_ids), T)``, one row per requested id in order,
        holding the latest value of each interval, or the value current at ``as_of``. An interval
        without a reading is NaN, never 0. Readings must sit on the requested grid: to get hourly
        energy from 15-min readings, read at 15 min and sum groups of four (a gap stays NaN).
        Unknown meter ids raise :class:`NotFound`.
        """
        grid = interval_grid(start_utc, end_utc, resolution_min)
        n_t = len(grid)
        out = np.full((len(meter_ids), n_t), np.nan, dtype=np.float64)
        if not len(meter_ids):
            return out
        keys = self._keys_for(meter_ids, "dense")
        start = grid[0].to_pydatetime()
        end = (grid[-1] + pd.Timedelta(minutes=resolution_min)).to_pydatetime()
        params: dict[str, object] = {
            "start_us": _epoch_us(start),
            "step_us": resolution_min * 60_000_000,
            "n_t": n_t,
            "start": start,
            "end": end,
        }
        if as_of is None:
            version_filter = "r.superseded_utc IS NULL"
        else:
            params["as_of"] = require_utc(as_of, "as_of").to_pydatetime()
            version_filter = (
                "r.received_utc <= $as_of "
                "AND (r.superseded_utc IS NULL OR r.superseded_utc > $as_of)"
            )
        # One query per batch of meters, in key order: DuckDB materializes a query's whole
        # result before handing it over, so a few million cells per query keep that buffer and
        # its conversion to numpy small and fast, and each batch's key range narrow for the zone
        # maps. DuckDB also keeps every block it reads cached up to its memory limit (by default
        # 80 % of RAM), so one pass over a year of 10,000 meters would leave the whole compressed
        # table (~3.6 GB) in this process: a lower limit while reading makes it evict as it
        # goes, and the default comes back afterwards, so ingests keep their memory.
        order = np.argsort(keys, kind="stable").astype(np.int32)
        per_query = max(1, _DENSE_CELLS_PER_QUERY // n_t)
        self._con.execute(f"SET memory_limit = '{_READ_MEMORY_LIMIT}'")
        try:
            for a in range(0, len(order), per_query):
                rows = order[a : a + per_query]
                cells, kwh = self._dense_batch(rows, keys[rows], version_filter, params)
                if len(cells) and cells.min() < 0:
                    raise InputError(
                        f"some readings in [{grid[0]}, {end}) do not start on the "
                        f"{resolution_min}-min grid; read them at their own resolution (15 min) "
                        "and aggregate the array"
                    )
                out.reshape(-1)[cells] = kwh
        finally:
            with contextlib.suppress(duckdb.Error):  # never mask the reason a read failed
                self._con.execute("RESET memory_limit")
        return out

    def _dense_batch(
        self,
        rows: npt.NDArray[np.int32],
        keys: npt.NDArray[np.int32],
        version_filter: str,
        params: dict[str, object],
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
        """Flat cell index (row × T + column, -1 off the grid) and kWh of each reading of one
        batch of meters; ``rows[i]`` is the output row of meter key ``keys[i]``."""
        con = self._con
        con.register("wanted", pd.DataFrame({"row_idx": rows, "meter_key": keys}))
        try:
            fetched = con.execute(
                f"""
                SELECT CASE WHEN (epoch_us(r.start_utc) - $start_us) % $step_us = 0
                            THEN w.row_idx::BIGINT * $n_t
                                 + (epoch_us(r.start_utc) - $start_us) // $step_us
                            ELSE -1 END AS cell,
                       r.kwh
                FROM readings r JOIN wanted w ON r.meter_key = w.meter_key
                WHERE r.meter_key BETWEEN $key_lo AND $key_hi
                  AND r.start_utc >= $start AND r.start_utc < $end
                  AND {version_filter}
                """,
                {**params, "key_lo": int(keys.min()), "key_hi": int(keys.max())},
            ).fetchnumpy()
        finally:
            con.unregister("wanted")
        return (
            np.asarray(fetched["cell"], dtype=np.int64),
            np.asarray(fetched["kwh"], dtype=np.float64),
        )

    def first_start(
        self, meter_ids: Sequence[str], *, as_of: dt.datetime | pd.Timestamp | None = None
    ) -> pd.Timestamp | None:
        """Earliest interval start with a reading of any of ``meter_ids`` (``None`` if none)."""
        if not len(meter_ids):
            return None
        keys = self._keys_for(meter_ids, "first_start")
        params: list[object] = []
        version_filter = "superseded_utc IS NULL"
        if as_of is not None:
            cutoff = require_utc(as_of, "as_of").to_pydatetime()
            params = [cutoff, cutoff]
            version_filter = "received_utc <= ? AND (superseded_utc IS NULL OR superseded_utc > ?)"
        in_list = ", ".join(str(int(k)) for k in keys)  # integer keys from the meters table
        row = _first_row(
            self._con,
            f"SELECT min(start_utc) FROM readings WHERE meter_key IN ({in_list}) "
            f"AND {version_filter}",
            params,
        )
        if row is None or row[0] is None:
            return None
        return pd.Timestamp(row[0]).tz_convert("UTC")

    def span_utc(self) -> tuple[pd.Timestamp, pd.Timestamp] | None:
        """First and last interval start with a current reading (``None`` without readings)."""
        row = _first_row(
            self._con,
            "SELECT min(start_utc), max(start_utc) FROM readings WHERE superseded_utc IS NULL",
        )
        if row is None or row[0] is None:
            return None
        return pd.Timestamp(row[0]).tz_convert("UTC"), pd.Timestamp(row[1]).tz_convert("UTC")

    def versions_before(self, ends_utc: Sequence[dt.datetime]) -> list[int]:
        """For each of ``ends_utc``: stored reading versions whose interval starts before it.

        Any new reading or correction of an interval before an end raises its count, so the
        counts key caches of results derived from the readings up to each end.
        """
        if not len(ends_utc):
            return []
        ends = [require_utc(e, "ends_utc").to_pydatetime() for e in ends_utc]
        columns = ", ".join(
            f"count(*) FILTER (WHERE start_utc < ${i + 1})" for i in range(len(ends))
        )
        row = _first_row(self._con, f"SELECT {columns} FROM readings", ends)
        assert row is not None
        return [int(v) for v in row]

    def counts(self) -> dict[str, int]:
        """Registered meters, current readings (one per meter and interval) and all versions."""
        row = _first_row(
            self._con,
            "SELECT (SELECT count(*) FROM meters), "
            "(SELECT count(*) FROM readings WHERE superseded_utc IS NULL), "
            "(SELECT count(*) FROM readings)",
        )
        assert row is not None
        return {"meters": int(row[0]), "readings": int(row[1]), "versions": int(row[2])}


def _first_row(
    con: duckdb.DuckDBPyConnection, sql: str, params: Sequence[object] = ()
) -> tuple[Any, ...] | None:
    """First row of a query, with the result read to the end (DuckDB 2 refuses other work on a
    connection while a result is only partly fetched)."""
    rows = con.execute(sql, list(params)).fetchall()
    return tuple(rows[0]) if rows else None


def _epoch_us(ts: dt.datetime) -> int:
    return int(pd.Timestamp(ts).value // 1000)


def _meter_frame(meters: Sequence[Meter], *, first_key: int) -> pd.DataFrame:
    """Meters as a frame to register in DuckDB, numbered from ``first_key``."""
    return pd.DataFrame(
        {
            "meter_key": np.arange(first_key, first_key + len(meters), dtype=np.int32),
            "meter_id": pd.Series([m.meter_id for m in meters], dtype=object),
            "kind": pd.Series([m.kind for m in meters], dtype=object),
            "site": pd.Series([m.site for m in meters], dtype=object),
            "asset_id": pd.Series([m.asset_id for m in meters], dtype=object),
            "source": pd.Series([m.source for m in meters], dtype=object),
            "nameplate_kw": pd.Series([m.nameplate_kw for m in meters], dtype=np.float64),
        }
    )
