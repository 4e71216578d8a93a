"""Embedded columnar time-series store on DuckDB.

One file in the data directory (``timeseries.duckdb``). Sessions run in UTC and timestamps are
``TIMESTAMPTZ`` interval starts. Simulated runs are keyed by a deterministic run id, so storing
the same run again replaces it rather than duplicating it.
"""

from __future__ import annotations

import datetime as dt
import json

import duckdb
import pandas as pd

from suandian.core.errors import NotFound, StoreError
from suandian.core.units import unit_of
from suandian.store.duckdb_file import DuckDBFile

__all__ = ["TimeseriesStore"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sim_runs (
    run_id        VARCHAR PRIMARY KEY,
    scenario      VARCHAR NOT NULL,
    created_utc   TIMESTAMPTZ NOT NULL,
    start_utc     TIMESTAMPTZ NOT NULL,
    end_utc       TIMESTAMPTZ NOT NULL,
    resolution_min INTEGER NOT NULL,
    summary_json  VARCHAR NOT NULL
);
CREATE TABLE IF NOT EXISTS sim_series (
    run_id     VARCHAR NOT NULL,
    series     VARCHAR NOT NULL,
    kind       VARCHAR NOT NULL,
    unit       VARCHAR,
    start_utc  TIMESTAMPTZ NOT NULL,
    value      DOUBLE NOT NULL
);
"""


class TimeseriesStore(DuckDBFile):
    """The DuckDB file holding simulated (and later metered) series."""

    FILENAME = "timeseries.duckdb"

    SCHEMA = _SCHEMA
    WHAT = "time-series store"

    def write_run(
        self,
        *,
        run_id: str,
        scenario: str,
        frames: dict[str, pd.DataFrame],
        summary: dict[str, object],
        resolution_min: int,
    ) -> int:
        """Store a simulated run, replacing any earlier run with the same id.

        ``frames`` maps a kind (``generation``, ``load``, ``weather/<site>``, …) to a frame with a
        tz-aware UTC index and one column per series; column names carry their units.
        Returns the number of values written. The whole run is one transaction.
        """
        longs = []
        start = end = None
        for kind, frame in frames.items():
            if frame.empty:
                continue
            idx = frame.index
            if not isinstance(idx, pd.DatetimeIndex) or idx.tz is None:
                raise StoreError(f"frame {kind!r} must have a tz-aware UTC DatetimeIndex")
            start = idx[0] if start is None else min(start, idx[0])
            end = idx[-1] if end is None else max(end, idx[-1])
            long = (
                frame.rename_axis("start_utc")
                .reset_index()
                .melt(id_vars="start_utc", var_name="series", value_name="value")
            )
            long["kind"] = kind
            long["unit"] = long["series"].map(lambda s, k=kind: unit_of(s) or _kind_unit(k))
            longs.append(long[["series", "kind", "unit", "start_utc", "value"]])
        if start is None or end is None:
            raise StoreError(f"run {run_id!r} has no series to store")
        values = pd.concat(longs, ignore_index=True)
        values.insert(0, "run_id", run_id)
        step = pd.Timedelta(minutes=resolution_min)
        con = self._con
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute("DELETE FROM sim_series WHERE run_id = ?", [run_id])
            con.execute("DELETE FROM sim_runs WHERE run_id = ?", [run_id])
            con.execute(
                "INSERT INTO sim_runs VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    run_id,
                    scenario,
                    dt.datetime.now(dt.UTC),
                    start.to_pydatetime(),
                    (end + step).to_pydatetime(),
                    resolution_min,
                    json.dumps(summary),
                ],
            )
            con.register("incoming", values)
            con.execute("INSERT INTO sim_series SELECT * FROM incoming")
            con.unregister("incoming")
            con.execute("COMMIT")
        except duckdb.Error as exc:
            con.execute("ROLLBACK")
            raise StoreError(f"storing run {run_id!r} failed and was rolled back: {exc}") from None
        return len(values)

    def runs(self) -> pd.DataFrame:
        """Stored runs, newest first."""
        return self._con.execute(
            "SELECT run_id, scenario, created_utc, start_utc, end_utc, resolution_min "
            "FROM sim_runs ORDER BY created_utc DESC"
        ).df()

    def read_series(self, run_id: str, kind: str) -> pd.DataFrame:
        """One kind of a stored run back as a wide frame indexed by UTC interval start."""
        long = self._con.execute(
            "SELECT start_utc, series, value FROM sim_series WHERE run_id = ? AND kind = ? "
            "ORDER BY start_utc",
            [run_id, kind],
        ).df()
        if long.empty:
            raise NotFound(
                f"no series of kind {kind!r} in run {run_id!r}; stored runs: "
                f"{', '.join(self.runs()['run_id']) or 'none'}"
            )
        wide = long.pivot(index="start_utc", columns="series", values="value")
        wide.index = pd.DatetimeIndex(wide.index).tz_convert("UTC")
        wide.columns.name = None
        return wide


def _kind_unit(kind: str) -> str | None:
    return "MW" if kind in ("generation", "load") else None
