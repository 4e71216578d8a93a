import numpy as np
import pytest

from suandian.energy import loads


def test_pue_is_piecewise_linear_in_ambient_temperature() -> None:
    t = np.array([-20.0, 4.0, 16.0, 28.0, 40.0])
    pue = loads.pue_from_ambient(
        t, pue_min=1.14, pue_max=1.40, t_free_cooling_c=4.0, t_full_cooling_c=28.0
    )
    # Halfway between 4 and 28 °C: 1.14 + 0.26 / 2 = 1.27.
    np.testing.assert_allclose(pue, [1.14, 1.14, 1.27, 1.40, 1.40])


def _calendar(days: int = 28) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    hours = np.tile(np.arange(0, 24, 0.25), days)
    weekday = np.repeat(np.arange(days) % 7, 96).astype(np.int64)
    month = np.ones(hours.size, dtype=np.int64)
    return hours, weekday, month


def test_data_center_mean_capacity_and_split() -> None:
    hours, weekday, _ = _calendar()
    pue = np.full(hours.size, 1.2)
    d = loads.data_center_load(
        hours,
        weekday,
        pue,
        np.random.default_rng(0),
        it_capacity_mw=40.0,
        it_mean_mw=30.0,
        deferrable_share_pu=0.25,
        interval_h=0.25,
    )
    it = d.it_fixed_mw + d.it_deferrable_mw
    assert it.mean() == pytest.approx(30.0, rel=0.01)
    assert d.it_deferrable_mw.mean() == pytest.approx(7.5, rel=0.02)
    assert it.max() <= 40.0 + 1e-9
    np.testing.assert_allclose(d.facility_mw, it * 1.2)


@pytest.mark.parametrize("kind", ["polysilicon", "battery", "services", "ev_charging", "other"])
def test_consumer_profiles_keep_their_mean_and_stay_non_negative(kind: str) -> None:
    hours, weekday, month = _calendar()
    p = loads.consumer_profile_mw(
        kind, hours, weekday, month, np.random.default_rng(1), mean_mw=2.5, interval_h=0.25
    )
    assert p.mean() == pytest.approx(2.5, rel=1e-9)
    assert p.min() >= 0.0


def test_services_peak_in_office_hours_and_unknown_kind_is_refused() -> None:
    hours, weekday, month = _calendar()
    p = loads.consumer_profile_mw(
        "services", hours, weekday, month, np.random.default_rng(1), mean_mw=1.0, interval_h=0.25
    )
    office = (hours >= 8) & (hours < 18) & (weekday < 5)
    assert p[office].mean() > 2.0 * p[~office].mean()
    with pytest.raises(ValueError, match="no load profile"):
        loads.consumer_profile_mw(
            "steelworks",
            hours,
            weekday,
            month,
            np.random.default_rng(1),
            mean_mw=1.0,
            interval_h=0.25,
        )


def test_hydro_follows_its_monthly_capacity_factor() -> None:
    p = loads.hydro_power_mw(
        np.array([1, 6, 12]),
        capacity_mw=10.0,
        monthly_capacity_factor_pu=tuple([0.2] * 5 + [0.8] + [0.5] * 6),
    )
    np.testing.assert_allclose(p, [2.0, 8.0, 5.0])
