"""Import meter readings from CSV, Parquet or a DataFrame, row by row accepted or rejected.

A file has the columns ``meter_id,start_utc,kwh`` (others are ignored): the meter, the UTC
interval start as ISO-8601 text with its offset (``2025-01-15T08:00:00Z``,
``2025-01-15T16:00:00+08:00``) and the interval energy in kWh. Every row is checked, all at once
and vectorized; a row is rejected, and named in the rejection file with the field and the reason,
when

- a value is missing (a gap is left out, never sent as 0),
- the meter is not registered,
- the timestamp cannot be read, has no offset, lies outside the years 2000–2100, or is not on
  the interval grid,
- the energy is not a finite number, is negative, or exceeds what the asset can deliver in one
  interval (``1.1 × nameplate × interval`` for generation and storage meters),
- another row of the file gives the same meter and interval a different value.

The other rows are committed together in one transaction; re-importing a file changes nothing.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import duckdb
import numpy as np
import numpy.typing as npt
import pandas as pd

from suandian.core.errors import InputError, NotFound
from suandian.core.times import interval_hours
from suandian.store.readings import DUPLICATE_TOLERANCE_KWH, ReadingsStore

__all__ = [
    "CAPACITY_MARGIN_PU",
    "EXPECTED_HEADER",
    "REJECTION_COLUMNS",
    "ImportResult",
    "import_readings",
]

REQUIRED_COLUMNS: Final = ("meter_id", "start_utc", "kwh")
EXPECTED_HEADER: Final = ",".join(REQUIRED_COLUMNS)
REJECTION_COLUMNS: Final = ("row", "meter_id", "field", "value", "reason")

CAPACITY_MARGIN_PU: Final = 1.1
"""A generation or storage reading above this × nameplate × interval is rejected."""

_RATED_KINDS = ("generation", "storage_charge", "storage_discharge")
_FIRST_START = np.datetime64("2000-01-01T00:00:00", "us")
_END_START = np.datetime64("2101-01-01T00:00:00", "us")
"""Interval starts are taken within [_FIRST_START, _END_START) UTC."""
_CSV_SUFFIXES = (".csv", ".csv.gz", ".txt")
_PARQUET_SUFFIXES = (".parquet", ".pq")

# An ISO-8601 time of day followed by an offset: Z, +08, +0800 or +08:00.
_OFFSET = r"\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?\s*(?:[zZ]|[+-]\d{2}(?::?\d{2})?)$"


@dataclass(frozen=True)
class ImportResult:
    """What an import did with its data rows.

    Every row is counted once: ``rows = accepted + corrected + duplicate + rejected``.
    """

    rows: int
    """Data rows read (blank lines are not rows)."""
    accepted: int
    """Rows that gave a meter and interval its first value."""
    corrected: int
    """Rows with a new value for a stored meter and interval: kept as a new version."""
    duplicate: int
    """Rows equal to what is stored (or repeated in the file): nothing written."""
    rejected: int
    """Rows refused; each is named in the rejection file."""
    rejection_file: Path | None
    """CSV of ``row, meter_id, field, value, reason``; None when nothing was rejected (or a
    DataFrame was imported without a ``rejections_path``)."""
    rejections: pd.DataFrame | None = dataclasses.field(default=None, compare=False, repr=False)
    """The rejected rows (``row, meter_id, field, value, reason``, one line per problem), in
    memory, for callers that answer with them rather than write a file."""

    def to_json(self) -> dict[str, object]:
        return {
            "rows": self.rows,
            "accepted": self.accepted,
            "corrected": self.corrected,
            "duplicate": self.duplicate,
            "rejected": self.rejected,
            "rejection_file": None if self.rejection_file is None else str(self.rejection_file),
        }


def import_readings(
    store: ReadingsStore,
    source: Path | pd.DataFrame,
    *,
    resolution_min: int = 15,
    rejections_path: Path | None = None,
    received_utc: dt.datetime | None = None,
) -> ImportResult:
    """Check readings from a CSV or Parquet file (or a DataFrame) and store the good ones.

    Parameters
    ----------
    store
        The readings store; the meters must be registered in it first.
    source
        A ``.csv`` (``.csv.gz``) or ``.parquet`` file, or a DataFrame with the same columns.
    resolution_min
        Interval length: timestamps must lie on this grid (UTC) and it bounds the energy a
        generator or storage device can deliver per interval. [min]
    rejections_path
        Where to write the rejected rows. Default for a file: ``<stem>.rejected.csv`` next to
        it; for a DataFrame no file is written unless a path is given.
    received_utc
        When these readings were received (default now); corrections are versioned by it.

    Raises
    ------
    InputError
        A required column is missing, or the file cannot be read; nothing is imported.
    """
    step_h = interval_hours(resolution_min)
    if isinstance(source, pd.DataFrame):
        frame, origin = _from_frame(source), None
    else:
        origin = Path(source)
        frame = _read_file(origin)
    name = str(origin) if origin is not None else "readings"
    frame = _require_columns(frame, name)
    checked = _check(frame, store.meters(), resolution_min=resolution_min, step_h=step_h)

    target = rejections_path
    if target is None and origin is not None:
        target = origin.with_name(f"{_stem(origin)}.rejected.csv")
    written: Path | None = None
    if len(checked.rejections) and target is not None:
        if origin is not None and target.resolve() == origin.resolve():
            raise InputError(
                f"the rejection file {target} would overwrite the file being imported; "
                "choose another --rejections path"
            )
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            checked.rejections.to_csv(target, index=False, encoding="utf-8")
        except OSError as exc:
            raise InputError(
                f"cannot write the rejection file {target}: {exc}; choose a writable path"
            ) from None
        written = target

    counts = store.ingest(checked.accepted, received_utc=received_utc)
    return ImportResult(
        rows=checked.rows,
        accepted=counts.new,
        corrected=counts.corrected,
        duplicate=counts.duplicate,
        rejected=checked.rejected_rows,
        rejection_file=written,
        rejections=checked.rejections,
    )


# --- reading ------------------------------------------------------------------------------------


def _stem(path: Path) -> str:
    name = path.name
    for suffix in (*_CSV_SUFFIXES, *_PARQUET_SUFFIXES):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return path.stem


def _read_file(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise NotFound(f"{path}: no such file; give the path of a CSV or Parquet file of readings")
    lower = path.name.lower()
    if lower.endswith(_PARQUET_SUFFIXES):
        return _read_parquet(path)
    if lower.endswith(_CSV_SUFFIXES):
        return _read_csv(path)
    raise InputError(
        f"{path}: unknown file type; name a CSV file *.csv (or *.csv.gz) or a Parquet file "
        f"*.parquet, with the columns {EXPECTED_HEADER}"
    )


def _read_csv(path: Path) -> pd.DataFrame:
    try:
        # Everything as text: the checks below report the value exactly as written. Blank lines
        # are kept (and dropped later) so that row numbers stay those of the file.
        frame = pd.read_csv(
            path,
            dtype=str,
            keep_default_na=False,
            na_filter=False,
            skip_blank_lines=False,
            encoding="utf-8-sig",
        )
    except pd.errors.EmptyDataError:
        raise InputError(
            f"{path}: the file is empty; it needs the header {EXPECTED_HEADER}"
        ) from None
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        raise InputError(
            f"{path}: not a readable CSV file ({exc}); write UTF-8 CSV with the header "
            f"{EXPECTED_HEADER} and one reading per line"
        ) from None
    return _normalise_columns(frame)


def _read_parquet(path: Path) -> pd.DataFrame:
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        frame = con.execute("SELECT * FROM read_parquet(?)", [str(path)]).df()
    except duckdb.Error as exc:
        raise InputError(
            f"{path}: not a readable Parquet file ({exc}); write the columns {EXPECTED_HEADER}"
        ) from None
    finally:
        con.close()
    return _normalise_columns(frame)


def _from_frame(source: pd.DataFrame) -> pd.DataFrame:
    frame = source
    # A frame indexed by start_utc (or meter_id) is read as if that index were a column.
    index_names = [n for n in frame.index.names if n in REQUIRED_COLUMNS and n not in frame.columns]
    if index_names:
        frame = frame.reset_index(level=index_names)
    return _normalise_columns(frame.reset_index(drop=True))


def _normalise_columns(frame: pd.DataFrame) -> pd.DataFrame:
    names = [str(c).strip().lower() for c in frame.columns]
    doubled = sorted({n for n in names if n in REQUIRED_COLUMNS and names.count(n) > 1})
    if doubled:
        raise InputError(
            f"column(s) {', '.join(doubled)} appear more than once; keep one of each of "
            f"{EXPECTED_HEADER}"
        )
    return frame.set_axis(names, axis="columns")


def _require_columns(frame: pd.DataFrame, name: str) -> pd.DataFrame:
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        found = ", ".join(map(str, frame.columns)) or "none"
        raise InputError(
            f"{name}: missing column(s) {', '.join(missing)}; the expected header is "
            f"{EXPECTED_HEADER} (found: {found}); nothing was imported"
        )
    return frame


# --- checking -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Checked:
    rows: int
    accepted: pd.DataFrame
    rejections: pd.DataFrame
    rejected_rows: int


BoolArray = npt.NDArray[np.bool_]


def _text(column: pd.Series) -> pd.Series:
    """A column as stripped text, missing values as ''."""
    if isinstance(column.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(
        column.dtype
    ):
        text = column.map(lambda v: "" if pd.isna(v) else pd.Timestamp(v).isoformat())
    else:
        text = column.astype(object).where(column.notna(), "")
    return text.astype(str).str.strip()


def _check(
    frame: pd.DataFrame, meters: pd.DataFrame, *, resolution_min: int, step_h: float
) -> _Checked:
    parsed = _parse(frame)
    # Blank lines (every field empty) are not rows; their numbers stay taken.
    keep = ~parsed.blank
    row_no = np.arange(1, len(frame) + 1, dtype=np.int64)[keep]
    frame = frame.loc[keep, list(REQUIRED_COLUMNS)].reset_index(drop=True)
    ids = parsed.ids[keep].reset_index(drop=True)
    start = parsed.start[keep].reset_index(drop=True)
    t_missing, t_bad, t_naive = parsed.t_missing[keep], parsed.t_bad[keep], parsed.t_naive[keep]
    values, e_missing, e_bad = parsed.kwh[keep], parsed.k_missing[keep], parsed.k_bad[keep]
    n = len(frame)
    problems: list[tuple[BoolArray, str, pd.Series | str]] = []

    def problem(mask: BoolArray, field: str, reason: pd.Series | str) -> None:
        problems.append((mask, field, reason))

    # meter_id
    id_missing = (ids == "").to_numpy()
    problem(id_missing, "meter_id", "missing value: every row names its meter")
    meter_pos = pd.Index(meters["meter_id"].astype(object)).get_indexer(ids)
    unknown = ~id_missing & (meter_pos < 0)
    problem(
        unknown,
        "meter_id",
        "unknown meter: register it first (suandian meters list shows the registered meters)",
    )

    # start_utc
    problem(t_missing, "start_utc", "missing value: every row needs its UTC interval start")
    problem(
        t_bad,
        "start_utc",
        "not an ISO-8601 timestamp: write e.g. 2025-01-15T08:00:00Z or 2025-01-15T16:00:00+08:00",
    )
    problem(
        t_naive,
        "start_utc",
        "naive timestamp: add Z or +08:00 (e.g. 2025-01-15T08:00:00Z); a time without an offset "
        "could be UTC or Beijing time, so it is not guessed",
    )
    step = pd.Timedelta(minutes=resolution_min)
    t_ok = ~(t_missing | t_bad | t_naive)
    # Far-off years are typing mistakes (and overflow the nanosecond grid check below).
    start_us = start.dt.tz_localize(None).to_numpy().astype("datetime64[us]")
    out_of_range = t_ok & ((start_us < _FIRST_START) | (start_us >= _END_START))
    problem(
        out_of_range,
        "start_utc",
        "outside the years 2000–2100: check the date; interval starts are taken from "
        "2000-01-01 to 2100-12-31 UTC",
    )
    t_ok &= ~out_of_range
    # Nanoseconds since the epoch (garbage where the start is unusable, masked by t_ok).
    start_ns = start.dt.tz_localize(None).to_numpy().astype("datetime64[ns]").view(np.int64)
    off_grid = t_ok & (start_ns % step.value != 0)
    floor = start[off_grid].dt.floor(step)
    problem(
        off_grid,
        "start_utc",
        f"not on the {resolution_min}-min grid: an interval start has minutes that are a "
        f"multiple of {resolution_min} and 0 seconds (UTC); nearest starts "
        + _strings(floor, pd.Timestamp.isoformat)
        + " and "
        + _strings(floor + step, pd.Timestamp.isoformat),
    )

    # kwh
    problem(
        e_missing,
        "kwh",
        "missing value: leave the row out for a gap (a gap is never read as 0)",
    )
    problem(e_bad, "kwh", "not a number: write the interval energy in kWh, e.g. 12.5")
    with np.errstate(invalid="ignore"):
        e_inf = np.isinf(values)
        negative = (values < 0.0) & ~e_inf
    problem(e_inf, "kwh", "not a finite number: write the interval energy in kWh, e.g. 12.5")
    problem(
        negative,
        "kwh",
        "energy must be ≥ 0: a reading is the energy through the meter in one interval [kWh]; "
        "flows the other way have their own meter (export, discharge)",
    )
    known = meter_pos >= 0
    nameplate_kw = np.full(n, np.nan)
    rated = np.zeros(n, dtype=bool)
    if len(meters):
        nameplate_kw[known] = meters["nameplate_kw"].to_numpy(dtype=np.float64)[meter_pos[known]]
        kinds = meters["kind"].to_numpy(dtype=object)
        rated[known] = np.isin(kinds[meter_pos[known]], _RATED_KINDS)
    cap_kwh = CAPACITY_MARGIN_PU * nameplate_kw * step_h
    with np.errstate(invalid="ignore"):
        over = rated & np.isfinite(values) & ~np.isnan(cap_kwh) & (values > cap_kwh)
    over_values = pd.Series(values[over])
    over_nameplate = pd.Series(nameplate_kw[over])
    problem(
        over,
        "kwh",
        "more energy than the asset can deliver: "
        + _strings(over_values, "{:,.3f}".format)
        + f" kWh > {CAPACITY_MARGIN_PU:g} × nameplate "
        + _strings(over_nameplate, "{:,.0f}".format)
        + f" kW × {step_h:g} h = "
        + _strings(over_nameplate * CAPACITY_MARGIN_PU * step_h, "{:,.3f}".format)
        + " kWh; check the meter id and the unit (kWh, not Wh)",
    )

    bad = np.zeros(n, dtype=bool)
    for mask, _, _ in problems:
        bad |= mask

    # Two rows of the file with different values for one meter and interval: refuse both.
    good = ~bad
    keys = pd.DataFrame(
        {
            "id": ids.to_numpy(dtype=object)[good],
            "t": start_ns[good],
            "kwh": values[good],
            "row": row_no[good],
        }
    )
    repeated = keys.duplicated(["id", "t"], keep=False).to_numpy()
    if repeated.any():
        twins = keys[repeated]
        grouped = twins.groupby(["id", "t"], sort=False)
        spread = (grouped["kwh"].transform("max") - grouped["kwh"].transform("min")).to_numpy()
        first = grouped["row"].transform("min").to_numpy()
        last = grouped["row"].transform("max").to_numpy()
        in_clash = spread > DUPLICATE_TOLERANCE_KWH
        if in_clash.any():
            rows_twin = twins["row"].to_numpy()
            other = np.where(rows_twin == first, last, first)[in_clash]
            clash = np.zeros(n, dtype=bool)
            clash[np.flatnonzero(good)[np.flatnonzero(repeated)[in_clash]]] = True
            problem(
                clash,
                "kwh",
                "conflicting value: row "
                + _strings(pd.Series(other), str)
                + " of this file gives this meter and interval another value; send one value "
                "(a later import with a new value is kept as a correction)",
            )
            bad |= clash

    parts = []
    for order, (mask, field, reason) in enumerate(problems):
        if not mask.any():
            continue
        parts.append(
            pd.DataFrame(
                {
                    "row": row_no[mask],
                    "meter_id": ids[mask].to_numpy(dtype=object),
                    "field": field,
                    "value": _text(frame[field][mask]).to_numpy(dtype=object),
                    "reason": reason if isinstance(reason, str) else reason.to_numpy(dtype=object),
                    "_order": order,
                }
            )
        )
    if parts:
        rejections = (
            pd.concat(parts, ignore_index=True)
            .sort_values(["row", "_order"], kind="stable")
            .drop(columns="_order")
            .reset_index(drop=True)
        )
    else:
        rejections = pd.DataFrame({c: pd.Series(dtype=object) for c in REJECTION_COLUMNS})

    ok = ~bad
    accepted = pd.DataFrame(
        {
            "meter_id": ids[ok].to_numpy(dtype=object),
            "start_utc": start[ok].reset_index(drop=True),
            "kwh": values[ok],
        }
    )
    return _Checked(rows=n, accepted=accepted, rejections=rejections, rejected_rows=int(bad.sum()))


def _strings(values: pd.Series, fmt: Callable[[Any], str]) -> pd.Series:
    """Format the (few) values that a reason quotes, as an object column of text."""
    return pd.Series([fmt(v) for v in values], dtype=object)


@dataclass(frozen=True)
class _Parsed:
    """Every field of every row as a value, with what was wrong with it."""

    ids: pd.Series
    """Meter ids as stripped text (object), '' where missing."""
    start: pd.Series
    """Interval starts, datetime64[us, UTC]; NaT where missing, unparsable or naive."""
    t_missing: BoolArray
    t_bad: BoolArray
    t_naive: BoolArray
    kwh: npt.NDArray[np.float64]
    """Energy; NaN where missing or unparsable. [kWh]"""
    k_missing: BoolArray
    k_bad: BoolArray
    blank: BoolArray
    """Rows with every field empty (blank lines)."""


def _is_datetime(column: pd.Series) -> bool:
    return isinstance(column.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(
        column.dtype
    )


def _is_number(column: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(column.dtype) and not pd.api.types.is_bool_dtype(
        column.dtype
    )


def _parse(frame: pd.DataFrame) -> _Parsed:
    n = len(frame)
    no = np.zeros(n, dtype=bool)
    start_col, kwh_col = frame["start_utc"], frame["kwh"]
    # Text goes through DuckDB: trimming, the offset test and the number parse run there in
    # native code, a few times faster than pandas' per-element string methods.
    text = {"meter_id": frame["meter_id"]}
    if not _is_datetime(start_col):
        text["start_utc"] = start_col
    if not _is_number(kwh_col):
        text["kwh"] = kwh_col
    select = ["coalesce(trim(meter_id), '') AS id"]
    if "start_utc" in text:
        select += [
            "nullif(trim(start_utc), '') AS t_text",
            f"coalesce(regexp_matches(trim(start_utc), '{_OFFSET}'), false) AS t_offset",
        ]
    if "kwh" in text:
        select += [
            "coalesce(trim(kwh), '') = '' AS k_missing",
            "coalesce(try_cast(trim(kwh) AS DOUBLE), 'NaN'::DOUBLE) AS kwh",
        ]
    con = duckdb.connect()
    try:
        con.register("raw", pd.DataFrame({k: v.astype("str").to_numpy() for k, v in text.items()}))
        got = con.execute(f"SELECT {', '.join(select)} FROM raw").fetchnumpy()
    finally:
        con.close()
    ids = pd.Series(np.asarray(got["id"], dtype=object), dtype=object)

    if "start_utc" in text:
        t_text = pd.Series(np.asarray(got["t_text"], dtype=object), dtype=object)
        t_missing = t_text.isna().to_numpy()
        parsed = pd.to_datetime(t_text, utc=True, format="ISO8601", errors="coerce")
        t_bad = ~t_missing & parsed.isna().to_numpy()
        t_naive = ~t_missing & ~t_bad & ~np.asarray(got["t_offset"], dtype=bool)
        start = parsed.where(~t_naive)
    elif isinstance(start_col.dtype, pd.DatetimeTZDtype):
        start = start_col.dt.tz_convert("UTC").reset_index(drop=True)
        t_missing, t_bad, t_naive = start.isna().to_numpy(), no, no
    else:  # naive datetimes: every row is refused
        t_missing = start_col.isna().to_numpy()
        t_bad, t_naive = no, ~t_missing
        start = pd.Series(pd.NaT, index=range(n), dtype="datetime64[us, UTC]")
    start = start.astype("datetime64[us, UTC]")

    if "kwh" in text:
        kwh = np.asarray(got["kwh"], dtype=np.float64)
        k_missing = np.asarray(got["k_missing"], dtype=bool)
        k_bad = ~k_missing & np.isnan(kwh)
    else:
        kwh = kwh_col.to_numpy(dtype=np.float64, na_value=np.nan)
        k_missing, k_bad = np.isnan(kwh), no

    blank = (ids == "").to_numpy() & t_missing & k_missing
    for column in frame.columns:
        if column not in REQUIRED_COLUMNS:
            extra = frame[column]
            blank &= (extra.isna() | (extra.astype("str") == "")).to_numpy()
    return _Parsed(
        ids=ids,
        start=start,
        t_missing=t_missing,
        t_bad=t_bad,
        t_naive=t_naive,
        kwh=kwh,
        k_missing=k_missing,
        k_bad=k_bad,
        blank=blank,
    )
