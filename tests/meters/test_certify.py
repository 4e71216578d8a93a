"""Certifying metered green power: registry, hourly metering, issuance, allocation and claims."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from suandian.meters.certify import (
    GENERATOR,
    _allocate,
    certify_park,
    project_code,
)
from suandian.meters.importer import import_readings
from suandian.meters.registry import meters_for_park
from suandian.scenario import parse_scenario
from suandian.store.readings import ReadingsStore
from suandian.store.sql import open_ledger

UTC = dt.UTC
T0 = dt.datetime(2025, 3, 1, 4, tzinfo=UTC)  # 12:00 in Shanghai
HOUR = dt.timedelta(hours=1)

TINY = {
    "name": "tiny",
    "sites": [
        {
            "id": "s",
            "name": "Site",
            "lat_deg": 36.6,
            "lon_deg": 101.8,
            "altitude_m": 2260,
            "zone": "CN-QH",
            "grid": {
                "ef_location_kgco2_per_kwh": 0.1567,
                "ef_location_source": "MEE 2022 Qinghai",
                "ef_residual_kgco2_per_kwh": 0.6096,
                "mix_non_fossil_pu": {"hydro": 0.5, "solar": 0.3, "wind": 0.2},
            },
        }
    ],
    "pv_plants": [
        {
            "id": "pv",
            "site": "s",
            "p_dc_mwp": 1.2,
            "dc_ac_ratio_pu": 1.2,
            "target_full_load_h": 1500,
        }
    ],
    "consumers": [
        {"id": "a", "site": "s", "kind": "other", "name": "A", "mean_mw": 0.1},
        {"id": "b", "site": "s", "kind": "other", "name": "B", "mean_mw": 0.1},
    ],
    "contracts": [{"generator": "pv", "consumer": "a"}],
}


def _rows(meter: str, kwh: list[float]) -> pd.DataFrame:
    idx = pd.date_range(T0, periods=len(kwh), freq="15min")
    return pd.DataFrame({"meter_id": meter, "start_utc": idx, "kwh": kwh})


@pytest.fixture
def setup(tmp_path):
    park = parse_scenario(TINY)
    ledger = open_ledger(f"sqlite:///{tmp_path}/ledger.sqlite")
    with ReadingsStore(tmp_path) as store:
        store.register_meters(meters_for_park(park))
        # Hour 1: PV 400 kWh, a 200, b 100. Hour 2: PV 80, a 200, b 100. Hour 3: PV has a gap.
        readings = pd.concat(
            [
                _rows("m-pv", [100.0] * 4 + [20.0] * 4 + [50.0, 50.0, 50.0]),
                _rows("m-a", [50.0] * 8 + [50.0] * 4),
                _rows("m-b", [25.0] * 8 + [25.0] * 4),
            ]
        )
        result = import_readings(store, readings)
        assert result.rejected == 0
        yield park, store, ledger


def test_direct_contract_first_then_pro_rata_per_hour(setup) -> None:
    park, store, ledger = setup
    out = certify_park(ledger, store, park, start_utc=T0, end_utc=T0 + 3 * HOUR)
    # Hour 3 of PV misses a quarter: recorded for neither metering nor issue.
    assert out.generation_hours == 2
    assert out.consumption_hours == 6
    assert out.issued_bundles == 2
    assert out.issued_wh == 480_000
    # Hour 1: a takes 200,000 Wh under its contract, b then 100,000 of the 200,000 left,
    # 100,000 stay active with park-generation. Hour 2: a takes all 80,000.
    assert out.claimed_wh == {"a": 280_000, "b": 100_000}
    assert out.consumption_wh == {"a": 600_000, "b": 300_000}
    left = ledger.bundles_of(GENERATOR, "active")
    assert [(b.wh, b.production_start_utc) for b in left] == [(100_000, T0)]
    claims_a = ledger.claims_for("a", T0, T0 + 3 * HOUR)
    assert sum(c.bundle.wh for c in claims_a) == 280_000
    assert {c.meter_ref for c in claims_a} == {"m-pv@hourly"}
    assert ledger.audit() == []
    assert ledger.verify().ok


def test_rerun_adds_nothing_and_keeps_the_chain(setup) -> None:
    park, store, ledger = setup
    certify_park(ledger, store, park, start_utc=T0, end_utc=T0 + 3 * HOUR)
    head = ledger.head()
    again = certify_park(ledger, store, park, start_utc=T0, end_utc=T0 + 3 * HOUR)
    assert again.issued_bundles == 0
    assert again.generation_hours == 0
    assert again.claimed_wh == {"a": 0, "b": 0}
    # Only idempotent reads and no-op writes: the registry's creations were refused.
    assert ledger.head() == head
    assert ledger.verify().ok


def test_pro_rata_never_exceeds_uncovered_consumption() -> None:
    # 150 Wh for 300 Wh of need: each consumer gets half of its need.
    assert _allocate({"d": 150}, {"a": 200, "b": 100}, []) == {"d": {"a": 100, "b": 50}}
    # More supply than need: each gets its need, the rest is not allocated.
    assert _allocate({"d": 1000}, {"a": 200, "b": 100}, []) == {"d": {"a": 200, "b": 100}}
    # A capped contract (1e-4 MW = 100 Wh in an hour) goes first: a 100, leaving 150 Wh for
    # a's other 100 and b's 100, i.e. 75 % of each: a 100 + 75, b 75.
    got = _allocate({"d": 250}, {"a": 200, "b": 100}, [("d", "a", 1, 1e-4)])
    assert got == {"d": {"a": 175, "b": 75}}
    assert sum(got["d"].values()) <= 250


def test_project_codes_are_gec_shaped_and_distinct() -> None:
    codes = {project_code(x) for x in ("pv-01", "pv-02", "wind-01")}
    assert len(codes) == 3
    assert all(len(c) == 12 and c.isalnum() and c.upper() == c for c in codes)


def test_evidence_pack_numbers_lineage_and_chain_head(setup) -> None:
    from suandian.reports.evidence import evidence_pack

    park, store, ledger = setup
    certify_park(ledger, store, park, start_utc=T0, end_utc=T0 + 3 * HOUR)
    day = dt.date(2025, 3, 1)
    pack = evidence_pack(ledger, "a", day, day, direct_devices=("pv",))
    # a consumed 3 × 200 kWh and claimed 200 + 80 kWh, all from its contracted PV plant.
    assert pack.consumption_wh == 600_000
    assert pack.claimed_wh == 280_000
    assert pack.hourly_match_pu == pytest.approx(280 / 600, abs=1e-12)
    assert pack.direct_supply_pu == pytest.approx(280 / 600, abs=1e-12)
    data = pack.to_json()
    assert [h["claimed_wh"] for h in data["hours"]] == [200_000, 80_000, 0]
    certs = data["certificates"]
    assert {c["meter_ref"] for c in certs} == {"m-pv@hourly"}
    assert sum(c["end_id"] - c["start_id"] + 1 for c in certs) == 280_000
    assert data["chain"]["verified"] is True
    assert data["chain"]["head_hash"] == ledger.head().hash
    page = pack.to_html()
    assert ledger.head().hash in page and "46.7 %" in page
    other = evidence_pack(ledger, "b", day, day)  # no contract names b
    assert other.hourly_match_pu == pytest.approx(100 / 300, abs=1e-12)
    assert other.direct_supply_pu == 0.0  # its share came from the pool
