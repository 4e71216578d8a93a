"""Settlement reports of demand-response events as files: three CSV tables and one workbook.

The tables are those of :mod:`suandian.vpp.reports` (per event, per interval, per month), written
to ``out_dir`` as

- ``vpp-events.csv``, ``vpp-intervals.csv``, ``vpp-monthly.csv`` (UTF-8, times as
  ``YYYY-MM-DD hh:mm:ss+00:00``, empty cells for missing values);
- ``vpp-settlement.xlsx``, sheets ``events``, ``intervals`` and ``monthly``, header row frozen.
  Excel has no time zones, so times there are UTC wall-clock times (the columns say ``_utc``).

Every file is first written under a hidden temporary name in ``out_dir`` and renamed into place
only when all of them are complete, so a failure leaves the previous reports untouched.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from suandian.core.errors import InputError
from suandian.vpp.reports import SettledEvent, event_table, interval_table, monthly_table

__all__ = ["SETTLEMENT_FILES", "SettlementFormat", "write_settlement"]

SettlementFormat = Literal["csv", "xlsx"]

SETTLEMENT_FILES = {
    "events": "vpp-events.csv",
    "intervals": "vpp-intervals.csv",
    "monthly": "vpp-monthly.csv",
    "workbook": "vpp-settlement.xlsx",
}
"""File name of each table in CSV, and of the workbook."""

_FORMATS = ("csv", "xlsx")
# Excel number formats by column-name suffix, checked in this order (the first match wins).
_NUMBER_FORMATS = (
    ("_cny_per_kwh", "0.0000"),
    ("_cny", "#,##0.00"),
    ("_mwh", "#,##0.000"),
    ("_mw", "#,##0.000"),
    ("_pu", "0.000"),
)
_COUNT_FORMAT = "0"
_DATETIME_FORMAT = "yyyy-mm-dd hh:mm"
_DATE_FORMAT = "yyyy-mm-dd"


def _formats(formats: Sequence[str]) -> list[str]:
    if isinstance(formats, str):
        raise InputError(
            f"formats: {formats!r} is a string; give a sequence such as ({formats!r},)"
        )
    unknown = [f for f in formats if f not in _FORMATS]
    if unknown:
        raise InputError(
            f"formats: {', '.join(map(repr, unknown))} is not a settlement report format; "
            f"use any of {', '.join(_FORMATS)}"
        )
    if not formats:
        raise InputError("formats: empty; give at least one of csv, xlsx")
    return [f for f in _FORMATS if f in formats]


def _out_dir(out_dir: Path | str) -> Path:
    path = Path(out_dir)
    if path.exists() and not path.is_dir():
        raise InputError(
            f"out_dir: {path} is a file, not a directory; give a directory for the reports "
            "(it is created when missing)"
        )
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(
            f"out_dir: {path} cannot be created ({exc.strerror}); give a writable directory"
        ) from exc
    return path


def _for_excel(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with tz-aware columns as naive UTC (Excel stores no time zone)."""
    out = frame.copy()
    for column in out.columns:
        if isinstance(out[column].dtype, pd.DatetimeTZDtype):
            out[column] = out[column].dt.tz_convert("UTC").dt.tz_localize(None)
    return out


def _number_format(column: str, dtype: Any) -> str | None:
    for suffix, fmt in _NUMBER_FORMATS:
        if column.endswith(suffix):
            return fmt
    if pd.api.types.is_integer_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype):
        return _COUNT_FORMAT
    return None


def _format_sheet(sheet: Any, frame: pd.DataFrame) -> None:
    """Freeze the header row, give numbers their formats and columns a readable width."""
    sheet.freeze_panes = "A2"
    for j, column in enumerate(frame.columns, start=1):
        header = sheet.cell(row=1, column=j)
        fmt = _number_format(str(column), frame[column].dtype)
        if fmt is not None:
            for (cell,) in sheet.iter_rows(min_row=2, min_col=j, max_col=j):
                cell.number_format = fmt
        values = frame[column].astype(str).str.len()
        longest = int(values.max()) if len(values) else 0
        width = min(max(len(str(column)), longest, 10) + 2, 60)
        sheet.column_dimensions[header.column_letter].width = width


def _write_xlsx(path: Path, sheets: dict[str, pd.DataFrame]) -> None:
    with pd.ExcelWriter(
        path, engine="openpyxl", datetime_format=_DATETIME_FORMAT, date_format=_DATE_FORMAT
    ) as xl:
        for name, frame in sheets.items():
            excel = _for_excel(frame)
            excel.to_excel(xl, sheet_name=name, index=False)
            _format_sheet(xl.sheets[name], excel)


def write_settlement(
    records: Sequence[SettledEvent],
    out_dir: Path | str,
    *,
    formats: Sequence[SettlementFormat] = ("csv", "xlsx"),
) -> list[Path]:
    """Write the settlement reports of ``records`` to ``out_dir``.

    Parameters
    ----------
    records : sequence of SettledEvent
        The events, their answers and settlements (see :mod:`suandian.vpp.reports`).
    out_dir : path
        Directory of the reports; created when missing. Files of the same name are replaced.
    formats : sequence of {"csv", "xlsx"}
        ``csv``: ``vpp-events.csv``, ``vpp-intervals.csv``, ``vpp-monthly.csv``; ``xlsx``:
        ``vpp-settlement.xlsx`` with sheets ``events``, ``intervals`` and ``monthly``.

    Returns
    -------
    list of Path
        The files written, CSV tables first.

    Raises
    ------
    InputError
        An unknown format, ``out_dir`` naming a file, or inconsistent records.
    """
    chosen = _formats(formats)
    directory = _out_dir(out_dir)
    tables = {
        "events": event_table(records),
        "intervals": interval_table(records),
        "monthly": monthly_table(records),
    }
    writers: list[tuple[str, Callable[[Path], None]]] = []
    if "csv" in chosen:
        for name, frame in tables.items():

            def write_csv(path: Path, frame: pd.DataFrame = frame) -> None:
                frame.to_csv(path, index=False)

            writers.append((SETTLEMENT_FILES[name], write_csv))
    if "xlsx" in chosen:
        writers.append((SETTLEMENT_FILES["workbook"], lambda path: _write_xlsx(path, tables)))

    token = secrets.token_hex(4)
    staged: list[tuple[Path, Path]] = []
    try:
        for name, write in writers:
            # The temporary name keeps the extension: pandas picks the Excel writer by it.
            tmp = directory / f".tmp-{token}-{name}"
            staged.append((tmp, directory / name))
            write(tmp)
        for tmp, final in staged:
            os.replace(tmp, final)
    finally:
        for tmp, _ in staged:
            tmp.unlink(missing_ok=True)
    return [final for _, final in staged]
