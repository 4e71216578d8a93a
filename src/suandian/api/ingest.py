"""The one ingestion path of the service: readings from HTTP bodies and MQTT messages.

Both channels turn what they received into a frame of ``meter_id, start_utc, kwh`` text and
values and hand it to :func:`ingest`, which runs the importer's checks
(:func:`suandian.meters.importer.import_readings`: per-row rejections, idempotent versioned
storage) under the readings store's lock and counts every row's outcome in the service's
metrics. :func:`ingest` returns only once the accepted rows are committed, so a caller that
answers (HTTP) or acknowledges (MQTT) after it never confirms a reading that is not durable.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

import numpy as np
import numpy.typing as npt
import orjson
import pandas as pd

from suandian.api.context import Platform
from suandian.core.errors import InputError
from suandian.meters.importer import EXPECTED_HEADER, REJECTION_COLUMNS, import_readings

__all__ = [
    "MAX_BODY_BYTES",
    "MAX_ROWS",
    "Channel",
    "IngestOutcome",
    "TooLarge",
    "frame_from_csv",
    "frame_from_json",
    "frame_from_rows",
    "ingest",
]

MAX_ROWS: Final = 100_000
"""Readings one HTTP request may carry; a larger request is refused whole."""

MAX_BODY_BYTES: Final = 32 * 1024 * 1024
"""Bytes one HTTP request body may have: room for :data:`MAX_ROWS` rows of long meter ids."""

Channel = Literal["http", "mqtt"]

_EMPTY_REJECTIONS = pd.DataFrame({c: pd.Series(dtype=object) for c in REJECTION_COLUMNS})


class TooLarge(InputError):
    """A request with more rows or bytes than one request may carry; nothing was stored."""


@dataclass(frozen=True)
class IngestOutcome:
    """What one ingestion did: ``rows = new + corrected + duplicate + rejected``."""

    rows: int
    new: int
    corrected: int
    duplicate: int
    rejected: int
    rejections: pd.DataFrame
    """``row, meter_id, field, value, reason``, one line per problem (a row may have several);
    ``row`` is the 1-based position of the reading in what was sent."""

    def errors(self) -> list[dict[str, Any]]:
        """The rejections as JSON-ready records."""
        frame = self.rejections
        return [
            {"row": int(r), "meter_id": str(m), "field": str(f), "value": str(v), "reason": str(x)}
            for r, m, f, v, x in zip(
                frame["row"].tolist(),
                frame["meter_id"].tolist(),
                frame["field"].tolist(),
                frame["value"].tolist(),
                frame["reason"].tolist(),
                strict=True,
            )
        ]


def ingest(
    platform: Platform,
    frame: pd.DataFrame,
    *,
    channel: Channel,
    resolution_min: int,
    received_utc: dt.datetime | None = None,
) -> IngestOutcome:
    """Check ``frame`` and commit its good rows; count every row's outcome for ``channel``.

    Raises
    ------
    InputError
        The frame lacks a column or the resolution does not divide a day; nothing is stored.
    StoreError
        The store could not commit; nothing is stored.
    """
    with platform.readings() as store:
        result = import_readings(
            store, frame, resolution_min=resolution_min, received_utc=received_utc
        )
    counter = platform.metrics.readings
    for outcome, n in (
        ("new", result.accepted),
        ("corrected", result.corrected),
        ("duplicate", result.duplicate),
        ("rejected", result.rejected),
    ):
        if n:
            counter.labels(channel, outcome).inc(n)
    rejections = result.rejections if result.rejections is not None else _EMPTY_REJECTIONS
    return IngestOutcome(
        rows=result.rows,
        new=result.accepted,
        corrected=result.corrected,
        duplicate=result.duplicate,
        rejected=result.rejected,
        rejections=rejections,
    )


# --- what arrives -------------------------------------------------------------------------------


def _limit(rows: int) -> None:
    if rows > MAX_ROWS:
        raise TooLarge(
            f"{rows:,} readings in one request; at most {MAX_ROWS:,} are taken — split them into "
            "several requests (nothing was stored)"
        )


def _text(values: Sequence[object]) -> list[str]:
    """Values as the text the importer checks: missing as '', numbers and text as written."""
    return [v if type(v) is str else "" if v is None else orjson.dumps(v).decode() for v in values]


def _numbers(values: Sequence[object]) -> npt.NDArray[np.float64] | list[str]:
    # The common case, every kwh a JSON number, skips the text round trip.
    if all(type(v) is float or type(v) is int for v in values):
        return np.asarray(values, dtype=np.float64)
    return _text(values)


def frame_from_rows(
    meter_ids: Sequence[object], starts: Sequence[object], kwh: Sequence[object]
) -> pd.DataFrame:
    """A frame of what was sent, field by field (JSON values, or text)."""
    ids = meter_ids if all(type(v) is str for v in meter_ids) else _text(meter_ids)
    start = starts if all(type(v) is str for v in starts) else _text(starts)
    return pd.DataFrame(
        {
            "meter_id": np.asarray(ids, dtype=object),
            "start_utc": np.asarray(start, dtype=object),
            "kwh": _numbers(kwh),
        }
    )


def frame_from_json(body: bytes) -> tuple[pd.DataFrame, int | None]:
    """The readings of a JSON body ``{"resolution_min": 15, "readings": [{...}, ...]}``.

    Returns the frame and the body's ``resolution_min`` (None when it has none).
    """
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InputError(
            f'the body is not JSON ({exc}); send {{"readings": [{{"meter_id": ..., '
            '"start_utc": ..., "kwh": ...}, ...]}, or CSV with Content-Type: text/csv'
        ) from None
    if not isinstance(doc, dict) or not isinstance(doc.get("readings"), list):
        raise InputError(
            'the body needs a "readings" list: {"resolution_min": 15, "readings": '
            '[{"meter_id": "m-pv-nanchuan", "start_utc": "2025-01-15T08:00:00Z", "kwh": 12.5}]}'
        )
    rows: list[object] = doc["readings"]
    _limit(len(rows))
    resolution = doc.get("resolution_min")
    if resolution is not None and (type(resolution) is not int or not 1 <= resolution <= 1440):
        raise InputError(
            f"resolution_min: {resolution!r} is not a whole number of minutes that divides a "
            "day; use one of 1, 5, 15, 30, 60"
        )
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            raise InputError(
                f"readings[{i}] is not an object; each reading is "
                '{"meter_id": ..., "start_utc": ..., "kwh": ...} (nothing was stored)'
            )
    dicts: list[dict[str, object]] = rows  # type: ignore[assignment]
    frame = frame_from_rows(
        [r.get("meter_id") for r in dicts],
        [r.get("start_utc") for r in dicts],
        [r.get("kwh") for r in dicts],
    )
    return frame, resolution


def frame_from_csv(body: bytes) -> pd.DataFrame:
    """The readings of a CSV body with the header ``meter_id,start_utc,kwh``."""
    try:
        # As the importer reads files: everything as text, blank lines kept for row numbers.
        frame = pd.read_csv(
            io.BytesIO(body),
            dtype=str,
            keep_default_na=False,
            na_filter=False,
            skip_blank_lines=False,
            encoding="utf-8-sig",
        )
    except pd.errors.EmptyDataError:
        raise InputError(f"the CSV body is empty; it needs the header {EXPECTED_HEADER}") from None
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        raise InputError(
            f"the body is not readable CSV ({exc}); send UTF-8 CSV with the header "
            f"{EXPECTED_HEADER} and one reading per line"
        ) from None
    _limit(len(frame))
    return frame
