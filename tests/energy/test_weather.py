import math

import numpy as np
import pytest

from suandian.energy import weather


def test_ar1_has_unit_variance_and_its_lag_one_correlation() -> None:
    x = weather.ar1(200_000, 0.9, np.random.default_rng(0))
    assert x.std() == pytest.approx(1.0, abs=0.03)
    assert np.corrcoef(x[:-1], x[1:])[0, 1] == pytest.approx(0.9, abs=0.01)
    with pytest.raises(ValueError, match="stationary"):
        weather.ar1(10, 1.0, np.random.default_rng(0))


def test_day_types_keep_the_monthly_shares_and_come_in_spells() -> None:
    climate = weather.DayTypeClimate((0.5,) * 12, (0.2,) * 12, 0.6)
    months = np.ones(100_000, dtype=np.int64)
    types = weather.day_types(months, climate, np.random.default_rng(1))
    shares = np.bincount(types, minlength=3) / types.size
    np.testing.assert_allclose(shares, [0.5, 0.3, 0.2], atol=0.01)
    # P(same as yesterday) = ρ + (1-ρ) Σ π² = 0.6 + 0.4 × 0.38 = 0.752
    same = (types[1:] == types[:-1]).mean()
    assert same == pytest.approx(0.752, abs=0.01)


def test_unit_wind_has_the_weibull_mean_without_modulation() -> None:
    n = 200_000
    w = weather.unit_wind(
        np.linspace(1, 365, n),
        np.zeros(n),
        np.random.default_rng(2),
        interval_h=0.25,
        weibull_k=2.0,
        seasonal_amplitude_pu=0.0,
        windiest_day_of_year=100,
        diurnal_amplitude_pu=0.0,
        windiest_local_hour_h=15.0,
        autocorrelation_time_h=3.0,
    )
    # Weibull(k=2, c=1): mean Γ(1.5) = 0.8862, median (ln 2)^(1/2) = 0.8326.
    assert w.mean() == pytest.approx(math.gamma(1.5), rel=0.02)
    assert np.median(w) == pytest.approx(math.log(2) ** 0.5, rel=0.02)
    # Persistence survives the transform: 15-min steps with a 3 h e-folding time.
    assert np.corrcoef(w[:-1], w[1:])[0, 1] > 0.85


def test_temperature_follows_season_and_day() -> None:
    days = 365
    hours = np.tile(np.arange(0, 24, 0.25), days)
    day_index = np.repeat(np.arange(days), 96)
    doy = day_index + 1 + hours / 24
    types = np.full(days, weather.PARTLY, dtype=np.int64)
    t = weather.ambient_temperature_c(
        doy,
        hours,
        day_index,
        types,
        np.random.default_rng(3),
        t_mean_c=6.0,
        t_seasonal_amplitude_c=12.5,
        t_coldest_day_of_year=17,
        t_diurnal_amplitude_c=6.5,
        t_warmest_local_hour_h=15.0,
        t_noise_sd_c=0.0,
    )
    assert t.mean() == pytest.approx(6.0, abs=0.2)
    jan, jul = t[day_index == 16], t[day_index == 199]
    assert jan.mean() == pytest.approx(6.0 - 12.5, abs=0.3)
    assert jul.mean() == pytest.approx(6.0 + 12.5, abs=0.5)
    assert hours[day_index == 16][np.argmax(jan)] == pytest.approx(15.0, abs=0.5)
