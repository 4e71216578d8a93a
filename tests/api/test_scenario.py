"""The served scenario, the bundled names and validation of a scenario body."""

from __future__ import annotations

from importlib import resources

import pytest

from suandian.core.errors import ScenarioError
from suandian.scenario import bundled_scenarios
from suandian.scenario.loader import scenario_from_yaml
from suandian.scenario.model import Park

from .conftest import World

YAML = {"Content-Type": "application/yaml"}


def test_the_served_park_is_what_scenario_show_prints(world: World, xining: Park) -> None:
    r = world.client.get("/v1/scenario", headers=world.as_("admin"))
    assert r.status_code == 200
    park = r.json()
    assert park["name"] == "xining"
    assert [s["id"] for s in park["sites"]] == ["nanchuan"]
    site = park["sites"][0]
    assert site["ef_location_kgco2_per_kwh"] == pytest.approx(
        xining.sites[0].grid.ef_location_kgco2_per_kwh, abs=1e-12
    )
    assert site["tariff"]["periods"], "the Xining tariff is published"
    assert [c["id"] for c in park["consumers"]] == [c.id for c in xining.consumers]
    assert [d["id"] for d in park["data_centers"]] == ["dc-nanchuan"]
    assert park["contracts"] == [
        {"generator": "pv-nanchuan", "consumer": "dc-nanchuan", "priority": 1, "cap_mw": 30.0}
    ]
    # xining.yaml: 150 MWp of PV at DC/AC 1.2 → 125 MW AC; 80 MW wind; 50 MW / 200 MWh storage.
    caps = park["capacities"]
    assert caps["pv_dc_mwp"] == pytest.approx(150.0, abs=1e-9)
    assert caps["pv_ac_mw"] == pytest.approx(125.0, abs=1e-9)
    assert caps["wind_mw"] == pytest.approx(80.0, abs=1e-9)
    assert (caps["battery_mw"], caps["battery_mwh"]) == pytest.approx((50.0, 200.0), abs=1e-9)
    assert caps["consumers_mean_mw"] == pytest.approx(
        sum(c.mean_mw for c in xining.consumers), rel=1e-12
    )


def test_a_tenant_sees_the_shared_plant_and_only_its_own_consumers(world: World) -> None:
    dc = world.client.get("/v1/scenario", headers=world.as_("dc")).json()
    silicon = world.client.get("/v1/scenario", headers=world.as_("silicon")).json()
    for view in (dc, silicon):
        assert [p["id"] for p in view["pv_plants"]] == ["pv-nanchuan"]
        assert [b["id"] for b in view["batteries"]] == ["bess-nanchuan"]
    assert dc["consumers"] == [] and [d["id"] for d in dc["data_centers"]] == ["dc-nanchuan"]
    assert [c["generator"] for c in dc["contracts"]] == ["pv-nanchuan"]
    assert [c["id"] for c in silicon["consumers"]] == ["silicon-a"]
    assert silicon["data_centers"] == [] and silicon["contracts"] == []
    assert silicon["capacities"]["data_center_it_mw"] == 0.0
    dc_text = world.client.get("/v1/scenario", headers=world.as_("dc")).text
    silicon_text = world.client.get("/v1/scenario", headers=world.as_("silicon")).text
    assert "silicon-a" not in dc_text and "svc-01" not in dc_text
    assert "dc-nanchuan" not in silicon_text and "svc-01" not in silicon_text


def test_bundled_scenarios_are_listed_for_any_caller(world: World) -> None:
    r = world.client.get("/v1/scenarios", headers=world.as_("silicon"))
    assert r.status_code == 200
    assert [s["name"] for s in r.json()] == bundled_scenarios() == ["national", "xining"]
    assert world.client.get("/v1/scenarios").status_code == 401


def test_a_bundled_scenario_validates(world: World, xining: Park) -> None:
    text = resources.files("suandian.scenario.data").joinpath("xining.yaml").read_text("utf-8")
    r = world.client.post(
        "/v1/scenarios/validate", content=text.encode("utf-8"), headers=world.as_("auditor") | YAML
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["valid"] is True and body["name"] == "xining"
    assert body["sites"] == 1 and body["data_centers"] == 1
    assert body["consumers"] == len(xining.consumers)
    # 1 PV plant, 1 wind farm, 1 battery.
    assert body["generation_storage_assets"] == 3


BROKEN = """
name: Bad Name
sites:
  - id: s1
    name: Site one
    lat_deg: 95
    lon_deg: 101.7
    altitude_m: 2200
    zone: CN-QH
    grid: {ef_location_kgco2_per_kwh: 0.2, ef_location_source: test}
pv_plants:
  - {id: pv1, site: nowhere, p_dc_mwp: -5, target_full_load_h: 1500}
"""


def test_every_problem_is_listed_with_its_path(world: World) -> None:
    r = world.client.post(
        "/v1/scenarios/validate", content=BROKEN.encode(), headers=world.as_("dc") | YAML
    )
    assert r.status_code == 422
    body = r.json()
    assert body["error"] == "ScenarioError"
    paths = {p["path"] for p in body["problems"]}
    assert {"name", "sites[0].lat_deg", "pv_plants[0].p_dc_mwp"} <= paths
    # The same problems as the library (and `suandian scenario validate`) finds.
    with pytest.raises(ScenarioError) as caught:
        scenario_from_yaml(BROKEN, source="body")
    assert [p["path"] for p in body["problems"]] == [p.path for p in caught.value.problems]
    assert [p["message"] for p in body["problems"]] == [p.message for p in caught.value.problems]
    lat = next(p for p in body["problems"] if p["path"] == "sites[0].lat_deg")
    assert lat["value"] == 95
    assert body["detail"] == str(caught.value)


@pytest.mark.parametrize(
    ("body", "path"),
    [
        (b"name: [unclosed\n", "<yaml>"),
        (b"", "<root>"),
        (b"- just\n- a list\n", "<root>"),
        (b"\xff\xfe not utf-8", "<yaml>"),
        (b"? [a, b]\n: 1\n", "<yaml>"),
        (b"name: x\nname: y\n", "<yaml>"),
    ],
)
def test_unreadable_bodies_answer_422_not_500(world: World, body: bytes, path: str) -> None:
    r = world.client.post("/v1/scenarios/validate", content=body, headers=world.as_("admin"))
    assert r.status_code == 422, r.text
    assert [p["path"] for p in r.json()["problems"]] == [path]
