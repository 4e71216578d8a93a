import numpy as np
import pytest

from suandian.core.units import energy_mwh, full_load_hours, power_mw, unit_of


@pytest.mark.parametrize(
    ("name", "unit"),
    [
        ("import_limit_mw", "MW"),
        ("p_dc_mwp", "MWp"),
        ("e_mwh", "MWh"),
        ("ef_location_kgco2_per_kwh", "kgCO₂/kWh"),
        ("price_cny_per_kwh", "CNY/kWh"),
        ("soc_min_pu", "per unit (0–1)"),
        ("t_mean_c", "°C"),
        ("target_full_load_h", "hours"),
        ("altitude_m", "m"),
        ("name", None),
    ],
)
def test_unit_of_reads_the_suffix(name: str, unit: str | None) -> None:
    assert unit_of(name) == unit


def test_energy_and_power_round_trip() -> None:
    e = energy_mwh([4.0, 8.0], 0.25)
    np.testing.assert_allclose(e, [1.0, 2.0])
    np.testing.assert_allclose(power_mw(e, 0.25), [4.0, 8.0])


def test_full_load_hours() -> None:
    # 96 quarter hours at half of 10 MW: 12 h of full load.
    assert full_load_hours(np.full(96, 5.0), 10.0, 0.25) == pytest.approx(12.0)
    with pytest.raises(ValueError, match="capacity_mw must be > 0"):
        full_load_hours([1.0], 0.0, 1.0)
