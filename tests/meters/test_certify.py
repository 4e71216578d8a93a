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
NOW = dt.datetime(2025, 3, 2, tzinfo=UTC)

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
    # A fixed clock: the certificates of 2025 are valid until 2027, whenever the suite runs.
    ledger = open_ledger(f"sqlite:///{tmp_path}/ledger.sqlite", clock=lambda: NOW)
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
    out = certify_park(ledger, store, park, start_utc=T0, end_utc=T0 + 3 * HOUR, now_utc=NOW)
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
    certify_park(ledger, store, park, start_utc=T0, end_utc=T0 + 3 * HOUR, now_utc=NOW)
    head = ledger.head()
    again = certify_park(ledger, store, park, start_utc=T0, end_utc=T0 + 3 * HOUR, now_utc=NOW)
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
    certify_park(ledger, store, park, start_utc=T0, end_utc=T0 + 3 * HOUR, now_utc=NOW)
    day = dt.date(2025, 3, 1)
    pack = evidence_pack(ledger, "a", day, day, direct_cap_mw={"pv": None})
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


def _capped(tmp_path, cap_mw: float):  # type: ignore[no-untyped-def]
    """The tiny park with a capped contract, metered 15:00–17:00 UTC (23:00–01:00 Shanghai)."""
    spec = {**TINY, "contracts": [{"generator": "pv", "consumer": "a", "cap_mw": cap_mw}]}
    park = parse_scenario(spec)
    start = dt.datetime(2025, 3, 1, 15, tzinfo=UTC)
    idx = pd.date_range(start, periods=8, freq="15min")
    rows = pd.concat(
        [
            pd.DataFrame({"meter_id": m, "start_utc": idx, "kwh": [v] * 8})
            for m, v in (("m-pv", 100.0), ("m-a", 50.0), ("m-b", 25.0))
        ]
    )
    ledger = open_ledger(f"sqlite:///{tmp_path}/capped.sqlite", clock=lambda: NOW)
    store = ReadingsStore(tmp_path)
    store.register_meters(meters_for_park(park))
    assert import_readings(store, rows).rejected == 0
    return park, store, ledger, start


def test_capped_contract_and_evidence_across_a_shanghai_midnight(tmp_path) -> None:
    from suandian.reports.evidence import evidence_pack

    park, store, ledger, start = _capped(tmp_path, cap_mw=0.05)  # 50 kWh in an hour
    with store:
        certify_park(ledger, store, park, start_utc=start, end_utc=start + 2 * HOUR, now_utc=NOW)
    # Each hour: PV 400 kWh; a needs 200, b 100. The contract gives a 50 kWh first; the other
    # 350 kWh cover the 250 kWh still uncovered in full (a 150, b 100); 100 kWh stay unsold.
    for day in (dt.date(2025, 3, 1), dt.date(2025, 3, 2)):  # 23:00 and 00:00 Shanghai
        pack = evidence_pack(ledger, "a", day, day, direct_cap_mw={"pv": 0.05})
        assert pack.consumption_wh == 200_000
        assert pack.claimed_wh == 200_000
        assert pack.hourly_match_pu == 1.0
        # Only the contracted 50 kWh count as direct supply, not the 150 kWh from the pool.
        assert pack.direct_wh == 50_000
        assert pack.direct_supply_pu == pytest.approx(0.25, abs=1e-12)
        assert [h.start_utc for h in pack.consumption] == [start if day.day == 1 else start + HOUR]


def test_a_run_stopped_half_way_is_finished_by_the_next(tmp_path) -> None:
    from suandian.meters.certify import issue_metered, record_metering, register_park

    park, store, ledger, start = _capped(tmp_path, cap_mw=0.05)
    end = start + 2 * HOUR
    with store:
        register_park(ledger, park)
        record_metering(ledger, store, park, start, end)
        issue_metered(ledger, park, start, end)
        # Stopped after the first step of the first hour: a's part split off, transferred only.
        first = ledger.bundles_of(GENERATOR, "active")[0]
        part, _rest = ledger.split(
            bundle_id=first.id, sizes_wh=[50_000, first.wh - 50_000], account=GENERATOR
        )
        ledger.transfer(bundle_ids=[part], sender=GENERATOR, recipient="a")
        out = certify_park(ledger, store, park, start_utc=start, end_utc=end, now_utc=NOW)
    # The stranded part is cancelled and claimed, and the hour is completed from the rest.
    assert ledger.get_bundle(part).status.value == "claimed"
    assert out.claimed_wh == {"a": 400_000, "b": 200_000}
    assert ledger.audit() == []


def test_expired_certificates_are_skipped_with_a_note(tmp_path) -> None:
    park, store, ledger, start = _capped(tmp_path, cap_mw=0.05)
    later = dt.datetime(2027, 6, 1, tzinfo=UTC)
    with store:
        from suandian.meters.certify import (
            claim_hourly,
            issue_metered,
            record_metering,
            register_park,
        )

        register_park(ledger, park)

        record_metering(ledger, store, park, start, start + 2 * HOUR)
    issue_metered(ledger, park, start, start + 2 * HOUR)
    claimed, _used, notes = claim_hourly(ledger, park, start, start + 2 * HOUR, now_utc=later)
    assert claimed == {"a": 0, "b": 0}
    assert len(notes) == 1 and "800.000" not in notes[0] and "expired" in notes[0]
    assert len(ledger.bundles_of(GENERATOR, "active")) == 2  # untouched


def test_storage_charge_takes_first_and_discharge_is_certified(tmp_path) -> None:
    from suandian.reports.evidence import evidence_pack

    spec = {
        **TINY,
        "batteries": [
            {"id": "bess", "site": "s", "p_mw": 1.0, "e_mwh": 2.0, "round_trip_efficiency_pu": 0.9}
        ],
    }
    park = parse_scenario(spec)
    ledger = open_ledger(f"sqlite:///{tmp_path}/storage.sqlite", clock=lambda: NOW)
    # Hour 1: PV 400 kWh, the battery charges 100, a 200 (contract), b 100.
    # Hour 2: no PV, the battery discharges 45 kWh, a 200, b 100.
    rows = pd.concat(
        [
            _rows("m-pv", [100.0] * 4 + [0.0] * 4),
            _rows("m-bess-charge", [25.0] * 4 + [0.0] * 4),
            _rows("m-bess-discharge", [0.0] * 4 + [11.25] * 4),
            _rows("m-a", [50.0] * 8),
            _rows("m-b", [25.0] * 8),
        ]
    )
    with ReadingsStore(tmp_path) as store:
        store.register_meters(meters_for_park(park))
        assert import_readings(store, rows).rejected == 0
        out = certify_park(ledger, store, park, start_utc=T0, end_utc=T0 + 2 * HOUR, now_utc=NOW)
    # Hour 1: the battery's 100 kWh are taken first and cancelled by its charge record; the
    # other 300 kWh cover a (200, under its contract) and b (100). Hour 2: η 0.9 × 100 kWh
    # allows 90 kWh of discharge certificates; the metered 45 kWh are issued and shared pro
    # rata over the 300 kWh uncovered: a 30, b 15.
    assert out.claimed_wh == {"a": 230_000, "b": 115_000}
    bundles = ledger.bundles_of(GENERATOR)
    charged = [b for b in bundles if b.status.value == "cancelled" and b.beneficiary == GENERATOR]
    assert sum(b.wh for b in charged) == 100_000
    pack = evidence_pack(ledger, "a", dt.date(2025, 3, 1), dt.date(2025, 3, 1))
    assert pack.by_source_wh() == {"pv": 200_000, "storage": 30_000}
    assert all(c.bundle.storage for c in pack.claims if c.bundle.source.value == "storage")
    assert ledger.audit() == []
    assert ledger.verify().ok
