import math

import numpy as np
import pandas as pd
import pytest

from suandian.core.errors import InputError
from suandian.core.times import local_year_grid
from suandian.energy import solar

XINING = (36.62, 101.78, 2260.0)


def _meinel_laue_ghi(zenith_deg: float, altitude_km: float) -> float:
    """Independent clear-sky estimate (W m⁻²), not from pvlib.

    Direct normal after Meinel & Meinel (1976) with the altitude correction of Laue (1970):
    I_D = 1353 [(1 - a h) 0.7^(AM^0.678) + a h], a = 0.14, h in km, AM = 1 / cos(z); global
    horizontal ≈ 1.1 × I_D × cos(z) (diffuse about 10 % of direct). As given by PVEducation,
    "Air Mass" and "Calculation of Solar Insolation" (C. Honsberg, S. Bowden).
    """
    cos_z = math.cos(math.radians(zenith_deg))
    am = 1.0 / cos_z
    a = 0.14
    i_d = 1353.0 * ((1 - a * altitude_km) * 0.7 ** (am**0.678) + a * altitude_km)
    return 1.1 * i_d * cos_z


def test_clear_sky_ghi_at_xining_solar_noon_june_solstice_matches_independent_estimate() -> None:
    # Solar noon at 101.78 E on 21 June 2025 is ≈ 05:14 UTC (12:00 - 101.78/15 h, EoT ≈ -1.6 min).
    idx = pd.date_range("2025-06-21T05:00Z", "2025-06-21T05:30Z", freq="1min", inclusive="left")
    sky = solar.clear_sky(idx, *XINING)
    noon = int(np.argmax(sky.ghi_w_per_m2))
    # Zenith at noon: latitude minus declination (23.44°) ≈ 13.2°.
    assert sky.zenith_deg[noon] == pytest.approx(36.62 - 23.44, abs=0.1)
    reference = _meinel_laue_ghi(sky.zenith_deg[noon], 2.26)  # ≈ 1147 W m⁻²
    assert sky.ghi_w_per_m2[noon] == pytest.approx(reference, rel=0.05)


def test_clear_sky_is_zero_at_night_and_positive_by_day() -> None:
    idx = pd.date_range("2025-06-21T00:00Z", periods=96, freq="15min")
    sky = solar.clear_sky(idx, *XINING)
    local_hours = (idx.hour + 8) % 24
    assert (sky.ghi_w_per_m2[(local_hours >= 22) | (local_hours < 4)] == 0).all()
    assert (sky.ghi_w_per_m2[(local_hours >= 9) & (local_hours < 17)] > 200).all()


PV = solar.PvParameters(
    p_dc_mwp=150.0,
    p_ac_mw=125.0,
    tilt_deg=33.0,
    azimuth_deg=180.0,
    gamma_pdc_per_c=-0.0035,
    losses_pct=14.08,
    inverter_efficiency_pu=0.985,
)


@pytest.fixture(scope="module")
def year_sky() -> solar.ClearSky:
    return solar.clear_sky(local_year_grid(2025), *XINING)


def test_pv_never_exceeds_ac_nameplate_even_when_cold_and_bright(year_sky: solar.ClearSky) -> None:
    n = year_sky.ghi_w_per_m2.size
    # Cloud enhancement (kt 1.05), -20 °C and a breeze: the coldest, brightest case.
    p = solar.pv_ac_power_mw(year_sky, np.full(n, 1.05), np.full(n, -20.0), np.full(n, 5.0), PV)
    assert p.max() <= PV.p_ac_mw + 1e-9
    assert p.max() == pytest.approx(PV.p_ac_mw, rel=1e-6)  # a DC/AC of 1.2 does clip
    assert p.min() >= 0.0


def test_hotter_cells_produce_less(year_sky: solar.ClearSky) -> None:
    n = year_sky.ghi_w_per_m2.size
    ones, wind = np.full(n, 0.7), np.full(n, 2.0)
    cold = solar.pv_ac_power_mw(year_sky, ones, np.full(n, 0.0), wind, PV).sum()
    hot = solar.pv_ac_power_mw(year_sky, ones, np.full(n, 30.0), wind, PV).sum()
    assert hot < cold


def test_calibration_hits_the_target_and_refuses_an_impossible_one(
    year_sky: solar.ClearSky,
) -> None:
    n = year_sky.ghi_w_per_m2.size
    rng = np.random.default_rng(7)
    kt_raw = np.clip(rng.uniform(0.3, 1.0, n), 0.05, 1.05)
    t, w = np.full(n, 8.0), np.full(n, 2.0)
    b, p = solar.calibrate_cloud_deficit(
        year_sky, kt_raw, t, w, PV, interval_h=0.25, target_full_load_h=1550.0, days=365
    )
    assert b > 0
    assert p.sum() * 0.25 / PV.p_dc_mwp == pytest.approx(1550.0, rel=1e-3)
    with pytest.raises(InputError, match="more than this PV plant yields under clear skies"):
        solar.calibrate_cloud_deficit(
            year_sky, kt_raw, t, w, PV, interval_h=0.25, target_full_load_h=2900.0, days=365
        )
