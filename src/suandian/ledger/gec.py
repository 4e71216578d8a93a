"""The China GEC (绿证) view of the ledger: 1 GEC = 1 MWh, a project's production month.

Each device is one GEC project with a 12-character project code. The GEC view shows the same
energy as the hourly certificates, counted in MWh: it adds no certificates of its own. A
device's hourly issuance, less what its issuer withdrew, is summed per Asia/Shanghai calendar
month; whole MWh become certificates, the leftover Wh (< 1 MWh) carry into the next month
(also across months with no issuance). Storage-discharge certificates are left out: they
re-certify energy whose production was already certified.

Certificate code layout (32 characters, fixed widths, positions 1-based)::

    1–12   project code      12 × [0-9A-Z]       e.g. QHXN0PV00001
    13–18  production month  YYYYMM, Shanghai    e.g. 202503
    19–28  sequence          10 digits, from 0000000001 within the project-month
    29–32  category          source (PV, WD, HY) + type (01 = renewable production)

e.g. ``QHXN0PV00001`` ``202503`` ``0000000042`` ``PV01`` →
``QHXN0PV000012025030000000042PV01``.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import pandas as pd

from suandian.core.errors import InputError
from suandian.core.times import local_day
from suandian.ledger.domain import Source

__all__ = [
    "CODE_LENGTH",
    "PROJECT_CODE_LENGTH",
    "SEQUENCE_DIGITS",
    "WH_PER_GEC",
    "GecCode",
    "GecMonth",
    "aggregate_months",
    "check_project_code",
    "gec_code",
    "gec_codes",
    "local_months",
    "parse_gec_code",
    "sum_by_month",
]

WH_PER_GEC = 1_000_000
PROJECT_CODE_LENGTH = 12
MONTH_LENGTH = 6
SEQUENCE_DIGITS = 10
CATEGORY_LENGTH = 4
CODE_LENGTH = PROJECT_CODE_LENGTH + MONTH_LENGTH + SEQUENCE_DIGITS + CATEGORY_LENGTH  # 32
PRODUCTION_TYPE = "01"

_SOURCE_CODES = {Source.PV: "PV", Source.WIND: "WD", Source.HYDRO: "HY"}
_CODE_SOURCES = {v: k for k, v in _SOURCE_CODES.items()}
_PROJECT_RE = re.compile(r"[0-9A-Z]{12}")
_CODE_RE = re.compile(r"([0-9A-Z]{12})(\d{4})(\d{2})(\d{10})([A-Z]{2})(\d{2})")


@dataclass(frozen=True)
class GecCode:
    """The parts of a 32-character GEC code."""

    project_code: str
    month: str
    """Production month ``YYYYMM`` (Asia/Shanghai)."""
    sequence: int
    source: Source
    certificate_type: str


@dataclass(frozen=True)
class GecMonth:
    """One project's month in the GEC view."""

    device: str
    project_code: str
    month: str
    """``YYYYMM`` (Asia/Shanghai)."""
    issued_wh: int
    """Production certificates issued for intervals starting in the month."""
    withdrawn_wh: int
    """Of ``issued_wh``, the certificates withdrawn by their issuer: they never become GECs."""
    carry_in_wh: int
    certificates: int
    """Whole MWh of ``carry_in_wh + issued_wh − withdrawn_wh``."""
    carry_out_wh: int
    """Leftover below 1 MWh, carried into the next month."""
    first_code: str | None
    last_code: str | None


def check_project_code(code: str) -> str:
    if not isinstance(code, str) or not _PROJECT_RE.fullmatch(code):
        raise InputError(
            f"project_code: {code!r} must be exactly {PROJECT_CODE_LENGTH} characters of 0-9 "
            "and A-Z, e.g. 'QHXN0PV00001'"
        )
    return code


def _check_month(month: str) -> str:
    if not re.fullmatch(r"\d{6}", month) or not 1 <= int(month[4:]) <= 12:
        raise InputError(f"month: {month!r} is not YYYYMM, e.g. '202503'")
    return month


def gec_code(project_code: str, month: str, sequence: int, source: Source) -> str:
    """The 32-character code of certificate ``sequence`` (1-based) of a project-month."""
    check_project_code(project_code)
    _check_month(month)
    if source not in _SOURCE_CODES:
        raise InputError(f"source {source!r}: GECs are issued for pv, wind and hydro only")
    if not 1 <= sequence < 10**SEQUENCE_DIGITS:
        raise InputError(f"sequence {sequence} is outside 1–{10**SEQUENCE_DIGITS - 1}")
    code = f"{project_code}{month}{sequence:0{SEQUENCE_DIGITS}d}{_SOURCE_CODES[source]}"
    return code + PRODUCTION_TYPE


def parse_gec_code(code: str) -> GecCode:
    m = _CODE_RE.fullmatch(code) if isinstance(code, str) else None
    if m is None or m.group(5) not in _CODE_SOURCES or not 1 <= int(m.group(3)) <= 12:
        raise InputError(
            f"GEC code {code!r} does not follow the {CODE_LENGTH}-character layout project(12) "
            "+ YYYYMM + sequence(10) + source(2) + type(2)"
        )
    return GecCode(
        project_code=m.group(1),
        month=m.group(2) + m.group(3),
        sequence=int(m.group(4)),
        source=_CODE_SOURCES[m.group(5)],
        certificate_type=m.group(6),
    )


def gec_codes(project_code: str, month: str, count: int, source: Source) -> list[str]:
    """All codes of a project-month holding ``count`` certificates."""
    return [gec_code(project_code, month, i, source) for i in range(1, count + 1)]


def local_months(starts_utc: Sequence[dt.datetime]) -> list[str]:
    """Asia/Shanghai production month ``YYYYMM`` of each UTC interval start."""
    if not starts_utc:
        return []
    days = local_day(pd.DatetimeIndex(list(starts_utc)))
    return [str(d)[:4] + str(d)[5:7] for d in days.astype("datetime64[M]")]


def _next_month(month: str) -> str:
    y, m = int(month[:4]), int(month[4:])
    return f"{y + m // 12:04d}{m % 12 + 1:02d}"


def aggregate_months(
    issued_wh_by_month: Mapping[str, int],
    *,
    device: str,
    project_code: str,
    source: Source,
    carry_in_wh: int = 0,
    withdrawn_wh_by_month: Mapping[str, int] | None = None,
) -> list[GecMonth]:
    """Monthly GECs of one project from its issued Wh per month, with carry-over.

    Months run consecutively from the first to the last month given (a month without issuance
    still passes its carry on). Hand check: 2.4 MWh, 0.7 MWh, nothing, 0.95 MWh give 2 GECs
    (carry 0.4), 1 (0.4 + 0.7 = 1.1, carry 0.1), 0 (carry 0.1), 1 (0.1 + 0.95 = 1.05, carry 0.05).
    ``withdrawn_wh_by_month`` (by production month, at most what was issued in it) is subtracted
    from the month's issuance before it counts.
    """
    withdrawn_by_month = dict(withdrawn_wh_by_month or {})
    for m, w in withdrawn_by_month.items():
        if not 0 <= w <= issued_wh_by_month.get(m, 0):
            raise InputError(
                f"withdrawn Wh of {m}: {w}; it must be between 0 and the "
                f"{issued_wh_by_month.get(m, 0)} Wh issued in that month"
            )
    months = sorted(_check_month(m) for m in issued_wh_by_month)
    if not months:
        return []
    out: list[GecMonth] = []
    carry, month = carry_in_wh, months[0]
    while month <= months[-1]:
        issued = issued_wh_by_month.get(month, 0)
        withdrawn = withdrawn_by_month.get(month, 0)
        total = carry + issued - withdrawn
        n, left = divmod(total, WH_PER_GEC)
        out.append(
            GecMonth(
                device=device,
                project_code=project_code,
                month=month,
                issued_wh=issued,
                withdrawn_wh=withdrawn,
                carry_in_wh=carry,
                certificates=n,
                carry_out_wh=left,
                first_code=gec_code(project_code, month, 1, source) if n else None,
                last_code=gec_code(project_code, month, n, source) if n else None,
            )
        )
        carry, month = left, _next_month(month)
    return out


def sum_by_month(starts_utc: Iterable[dt.datetime], wh: Iterable[int]) -> dict[str, int]:
    """Wh per Shanghai month from interval starts and their Wh."""
    starts, amounts = list(starts_utc), list(wh)
    out: dict[str, int] = {}
    for month, w in zip(local_months(starts), amounts, strict=True):
        out[month] = out.get(month, 0) + w
    return out
