"""Green-certificate ledger: hourly granular certificates (EnergyTag GC model) and their China
GEC view, with a tamper-evident event chain. See ``docs/ledger.md``.

Pure rules live in :mod:`~suandian.ledger.domain`, :mod:`~suandian.ledger.chain` and
:mod:`~suandian.ledger.gec` (no SQL); :mod:`~suandian.ledger.tables` and
:mod:`~suandian.ledger.service` keep them in a SQL database. Open one with
:func:`suandian.store.sql.open_ledger`.
"""

from suandian.ledger.chain import GENESIS_HASH, StoredEvent, canonical_json, event_hash
from suandian.ledger.domain import (
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
)
from suandian.ledger.gec import GecCode, GecMonth, gec_code, parse_gec_code
from suandian.ledger.service import Ledger

__all__ = [
    "GENESIS_HASH",
    "AccountKind",
    "BundleView",
    "ChainHead",
    "ClaimView",
    "ConsumptionView",
    "DeviceView",
    "GecCode",
    "GecMonth",
    "IssueLine",
    "Ledger",
    "MeterReading",
    "Source",
    "Status",
    "StoredEvent",
    "VerifyResult",
    "canonical_json",
    "event_hash",
    "gec_code",
    "parse_gec_code",
]
