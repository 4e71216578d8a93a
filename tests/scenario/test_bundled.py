"""The bundled scenarios carry the numbers of the project design (DESIGN.md §6 and §7)."""

from __future__ import annotations

import pytest

from suandian.core.errors import NotFound
from suandian.scenario import Park, bundled_scenarios, load_scenario


@pytest.fixture(scope="module")
def xining() -> Park:
    return load_scenario("xining")


@pytest.fixture(scope="module")
def national() -> Park:
    return load_scenario("national")


def test_bundled_scenarios_lists_both() -> None:
    names = bundled_scenarios()
    assert {"xining", "national"} <= set(names)
    assert names == sorted(names)


def test_unknown_name_is_not_found_and_names_the_bundled_ones() -> None:
    with pytest.raises(NotFound) as info:
        load_scenario("shanghai")
    message = str(info.value)
    assert "'shanghai'" in message
    assert "xining" in message
    assert "national" in message
    assert isinstance(info.value, LookupError)


# --- xining: DESIGN.md §6 -----------------------------------------------------------------------


def test_xining_location(xining: Park) -> None:
    assert xining.name == "xining"
    assert len(xining.sites) == 1
    site = xining.sites[0]
    assert site.lat_deg == pytest.approx(36.62, abs=1e-9)
    assert site.lon_deg == pytest.approx(101.78, abs=1e-9)
    assert site.altitude_m == pytest.approx(2260.0, abs=50.0)  # "~2,260 m"
    assert site.zone == "CN-QH"


def test_xining_generation_and_storage(xining: Park) -> None:
    (pv,) = xining.pv_plants
    assert pv.p_dc_mwp == pytest.approx(150.0, abs=1e-9)
    assert pv.target_full_load_h == pytest.approx(1550.0, abs=1e-9)
    (wind,) = xining.wind_farms
    assert wind.capacity_mw == pytest.approx(80.0, abs=1e-9)
    assert wind.target_full_load_h == pytest.approx(1600.0, abs=1e-9)
    (bess,) = xining.batteries
    assert bess.p_mw == pytest.approx(50.0, abs=1e-9)
    assert bess.e_mwh == pytest.approx(200.0, abs=1e-9)
    assert bess.e_mwh / bess.p_mw == pytest.approx(4.0, abs=1e-9)  # 4-hour storage
    assert bess.round_trip_efficiency_pu == pytest.approx(0.90, abs=1e-9)
    assert xining.hydro_plants == []
    for asset in (pv, wind, bess):
        assert asset.site == xining.sites[0].id


def test_xining_grid_tie_and_emission_factors(xining: Park) -> None:
    grid = xining.sites[0].grid
    assert grid.import_limit_mw == pytest.approx(60.0, abs=1e-9)
    assert grid.export_limit_share_pu == pytest.approx(0.2, abs=1e-9)
    assert grid.ef_location_kgco2_per_kwh == pytest.approx(0.1567, abs=1e-9)
    assert grid.ef_residual_kgco2_per_kwh == pytest.approx(0.6096, abs=1e-9)
    assert grid.ef_fossil_kgco2_per_kwh == pytest.approx(0.8273, abs=1e-9)
    assert "Qinghai" in grid.ef_location_source


@pytest.mark.parametrize(
    ("quarter", "price"),
    [
        (0, 0.38),  # 00:00 flat
        (7 * 4 - 1, 0.38),  # 06:45 flat
        (7 * 4, 0.57),  # 07:00 peak
        (9 * 4 - 1, 0.57),  # 08:45 peak
        (9 * 4, 0.19),  # 09:00 valley
        (17 * 4 - 1, 0.19),  # 16:45 valley
        (17 * 4, 0.57),  # 17:00 peak
        (23 * 4 - 1, 0.57),  # 22:45 peak
        (23 * 4, 0.38),  # 23:00 flat
        (95, 0.38),  # 23:45 flat
    ],
)
def test_xining_tou_prices(xining: Park, quarter: int, price: float) -> None:
    tariff = xining.sites[0].grid.tariff
    assert tariff is not None
    prices = tariff.price_by_quarter_hour()
    assert len(prices) == 96
    assert prices[quarter] == pytest.approx(price, abs=1e-9)


def test_xining_tou_hours_per_period(xining: Park) -> None:
    # valley 09–17 = 8 h; peak 07–09 and 17–23 = 8 h; flat the other 8 h.
    tariff = xining.sites[0].grid.tariff
    assert tariff is not None
    prices = tariff.price_by_quarter_hour()
    for price in (0.19, 0.57, 0.38):
        hours = sum(0.25 for p in prices if p == pytest.approx(price, abs=1e-9))
        assert hours == pytest.approx(8.0, abs=1e-9)


def test_xining_data_center(xining: Park) -> None:
    (dc,) = xining.data_centers
    assert dc.it_capacity_mw == pytest.approx(40.0, abs=1e-9)
    assert dc.it_mean_mw == pytest.approx(30.0, abs=1e-9)
    assert dc.deferrable_share_pu == pytest.approx(0.25, abs=1e-9)
    assert dc.deferral_window_h == pytest.approx(24.0, abs=1e-9)
    # PUE ≈1.15 Oct–Apr and ≈1.28 Jun–Aug must lie within the model's range.
    assert dc.pue.pue_min <= 1.15
    assert dc.pue.pue_max >= 1.28


def test_xining_enterprises(xining: Park) -> None:
    consumers = xining.consumers
    assert 18 <= len(consumers) <= 22  # "~20 enterprises"
    kinds = {c.kind for c in consumers}
    assert {"polysilicon", "battery", "services"} <= kinds
    assert len({c.id for c in consumers}) == len(consumers)
    assert all(c.site == xining.sites[0].id for c in consumers)


def test_xining_certificate_price_and_targets(xining: Park) -> None:
    assert xining.gec_price_cny_per_mwh == pytest.approx(5.2, abs=1e-9)
    t = xining.targets
    assert t.green_share_hub_pu == pytest.approx(0.8, abs=1e-9)
    assert t.green_share_zero_carbon_pu == pytest.approx(0.9, abs=1e-9)
    assert t.self_consumption_min_pu == pytest.approx(0.6, abs=1e-9)
    assert t.onsite_green_min_pu == pytest.approx(0.3, abs=1e-9)


# --- national: DESIGN.md §7 ---------------------------------------------------------------------

# site id, name, MEE 2022 provincial factor [kgCO₂/kWh], RTT Beijing/Shanghai/Guangzhou [ms]
NATIONAL = [
    ("xining", "Xining (Qinghai)", 0.157, (20, 28, 27)),
    ("zhangjiakou", "Zhangjiakou (Hebei)", 0.725, (2, 17, 28)),
    ("qingpu", "Yangtze delta, Qingpu", 0.58, (16, 2, 18)),
    ("wuhu", "Wuhu (Anhui)", 0.678, (15, 5, 16)),
    ("shaoguan", "Shaoguan (Guangdong)", 0.440, (25, 16, 4)),
    ("tianfu", "Tianfu (Sichuan)", 0.140, (22, 24, 18)),
    ("chongqing", "Chongqing", 0.523, (21, 21, 15)),
    ("guian", "Gui'an (Guizhou)", 0.499, (26, 23, 12)),
    ("horinger", "Horinger (Inner Mongolia)", 0.685, (7, 20, 28)),
    ("qingyang", "Qingyang (Gansu)", 0.477, (14, 20, 22)),
    ("zhongwei", "Zhongwei (Ningxia)", 0.642, (15, 24, 26)),
]


def test_national_has_the_eleven_sites(national: Park) -> None:
    assert national.name == "national"
    assert len(national.sites) == 11
    assert [s.id for s in national.sites] == [row[0] for row in NATIONAL]


@pytest.mark.parametrize(
    ("site_id", "name", "factor", "rtt"), NATIONAL, ids=[r[0] for r in NATIONAL]
)
def test_national_site_factor_and_rtt(
    national: Park, site_id: str, name: str, factor: float, rtt: tuple[int, int, int]
) -> None:
    site = national.site(site_id)
    assert site.name == name
    assert site.grid.ef_location_kgco2_per_kwh == pytest.approx(factor, abs=1e-9)
    assert "MEE 2022" in site.grid.ef_location_source
    assert site.rtt is not None
    got = (site.rtt.beijing_ms, site.rtt.shanghai_ms, site.rtt.guangzhou_ms)
    assert got == pytest.approx(rtt, abs=1e-9)
