"""Meters implied by a park scenario: one per generator, storage direction, consumer, grid tie."""

from __future__ import annotations

from collections import Counter

import pytest

from suandian.core.errors import InputError
from suandian.meters import meters_for_park
from suandian.scenario import Park, load_scenario


def test_xining_meters_and_nameplates(xining: Park) -> None:
    meters = meters_for_park(xining)
    by_id = {m.meter_id: m for m in meters}
    assert len(by_id) == len(meters) == 28
    # 1 PV + 1 wind, 2 battery directions, 1 data center + 20 enterprises + the electrolyzer,
    # grid in and out.
    assert Counter(m.kind for m in meters) == {
        "generation": 2,
        "storage_charge": 1,
        "storage_discharge": 1,
        "consumption": 22,
        "grid_import": 1,
        "grid_export": 1,
    }

    pv = by_id["m-pv-nanchuan"]
    assert (pv.kind, pv.source, pv.asset_id, pv.site) == (
        "generation",
        "pv",
        "pv-nanchuan",
        "nanchuan",
    )
    # 150 MWp DC at a DC/AC ratio of 1.2 → 125 MW AC.
    assert pv.nameplate_kw == pytest.approx(125_000.0, rel=1e-12)
    wind = by_id["m-wind-nanchuan"]
    assert wind.source == "wind"
    assert wind.nameplate_kw == pytest.approx(80_000.0, rel=1e-12)
    for direction in ("charge", "discharge"):
        battery = by_id[f"m-bess-nanchuan-{direction}"]
        assert battery.kind == f"storage_{direction}"
        assert battery.asset_id == "bess-nanchuan"
        assert battery.nameplate_kw == pytest.approx(50_000.0, rel=1e-12)
        assert battery.source is None

    dc = by_id["m-dc-nanchuan"]
    assert (dc.kind, dc.asset_id, dc.nameplate_kw, dc.source) == (
        "consumption",
        "dc-nanchuan",
        None,
        None,
    )
    for consumer in xining.consumers:
        meter = by_id[f"m-{consumer.id}"]
        assert (meter.kind, meter.asset_id, meter.nameplate_kw) == (
            "consumption",
            consumer.id,
            None,
        )
    for kind, suffix in (("grid_import", "import"), ("grid_export", "export")):
        grid = by_id[f"m-nanchuan-{suffix}"]
        assert (grid.kind, grid.site, grid.asset_id, grid.nameplate_kw) == (
            kind,
            "nanchuan",
            None,
            None,
        )


def test_national_has_grid_meters_per_site_and_hydro_where_defined() -> None:
    park = load_scenario("national")
    meters = meters_for_park(park)
    assert len({m.meter_id for m in meters}) == len(meters)
    kinds = Counter(m.kind for m in meters)
    assert kinds["grid_import"] == kinds["grid_export"] == len(park.sites)
    assert kinds["generation"] == (
        len(park.pv_plants) + len(park.wind_farms) + len(park.hydro_plants)
    )
    for hydro in park.hydro_plants:
        meter = next(m for m in meters if m.meter_id == f"m-{hydro.id}")
        assert meter.source == "hydro"
        assert meter.nameplate_kw == pytest.approx(hydro.capacity_mw * 1000.0, rel=1e-12)


def test_clashing_meter_ids_are_refused(xining: Park) -> None:
    # A consumer named like a site's grid meter would share its meter id.
    clash = xining.consumers[0].model_copy(update={"id": "nanchuan-import"})
    park = xining.model_copy(update={"consumers": [clash, *xining.consumers[1:]]})
    with pytest.raises(InputError, match="m-nanchuan-import"):
        meters_for_park(park)
