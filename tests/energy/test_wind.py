import numpy as np
import pytest
from windpowerlib import WindTurbine

from suandian.core.errors import InputError
from suandian.energy import wind


def test_air_density_falls_with_altitude() -> None:
    sea = wind.air_density_kg_per_m3(0.0, 100.0, 15.0)
    plateau = wind.air_density_kg_per_m3(2260.0, 100.0, 6.0)
    # Standard atmosphere: ≈1.21 kg/m³ at 100 m; Xining ≈ 0.95 kg/m³ (pressure ≈ 77 kPa).
    assert sea == pytest.approx(1.21, abs=0.02)
    assert plateau == pytest.approx(0.95, abs=0.03)


def test_curve_at_standard_density_is_the_library_curve() -> None:
    speeds, p_pu = wind.turbine_curve_pu("MM100/2000", 100.0, 1.225)
    t = WindTurbine(turbine_type="MM100/2000", hub_height=100)
    ref = np.interp(speeds, t.power_curve["wind_speed"], t.power_curve["value"]) / t.nominal_power
    inside = speeds <= t.power_curve["wind_speed"].max()
    np.testing.assert_allclose(p_pu[inside], ref[inside], atol=2e-3)


def test_thin_air_shifts_the_curve_right() -> None:
    speeds, dense = wind.turbine_curve_pu("MM100/2000", 100.0, 1.225)
    _, thin = wind.turbine_curve_pu("MM100/2000", 100.0, 0.95)
    mid = (speeds > 5) & (speeds < 10)
    assert (thin[mid] < dense[mid]).all()


def test_farm_never_exceeds_nameplate_and_cuts_out() -> None:
    curve = wind.turbine_curve_pu("MM100/2000", 100.0, 0.95)
    v = np.array([0.0, 2.0, 8.0, 15.0, 24.0, 35.0, 60.0])
    p = wind.farm_power_mw(v, curve, 80.0, 0.95)
    assert p.max() <= 80.0 + 1e-9
    assert p[0] == 0.0 and p[-1] == 0.0  # below cut-in, above cut-out
    assert p[3] == pytest.approx(80.0 * 0.95, rel=1e-6)  # rated


def test_scale_calibration_hits_target_and_refuses_impossible() -> None:
    rng = np.random.default_rng(3)
    unit = rng.weibull(2.0, 35_040)
    curve = wind.turbine_curve_pu("MM100/2000", 100.0, 0.95)
    c, p = wind.calibrate_wind_scale(
        unit,
        curve,
        capacity_mw=80.0,
        farm_efficiency_pu=0.95,
        interval_h=0.25,
        target_full_load_h=1600.0,
        days=365,
    )
    assert 3.0 < c < 12.0
    assert p.sum() * 0.25 / 80.0 == pytest.approx(1600.0, rel=1e-3)
    with pytest.raises(InputError, match="more than this wind farm can yield"):
        wind.calibrate_wind_scale(
            unit,
            curve,
            capacity_mw=80.0,
            farm_efficiency_pu=0.95,
            interval_h=0.25,
            target_full_load_h=5900.0,
            days=365,
        )
