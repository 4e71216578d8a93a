"""Modelled hourly zone mix: exact mean intensity, valid shares, solar in daylight only."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from suandian.core.errors import InputError
from suandian.grid.factors import emission_factor
from suandian.grid.mix import zone_mix

EF_FOSSIL = emission_factor("cn-fossil-2023").ef_kgco2_per_kwh
QINGHAI = emission_factor("cn-qinghai-2022").ef_kgco2_per_kwh
HEBEI = emission_factor("cn-hebei-2022").ef_kgco2_per_kwh

QINGHAI_SPLIT = {"hydro": 0.45, "solar": 0.35, "wind": 0.20}
HEBEI_SPLIT = {"solar": 0.30, "wind": 0.60, "hydro": 0.10}


def _year(resolution_h: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Local clock hour and month of every interval of 2025 (a non-leap year)."""
    start = np.datetime64("2025-01-01T00:00")
    step = np.timedelta64(int(resolution_h * 60), "m")
    stamps = np.arange(start, np.datetime64("2026-01-01T00:00"), step)
    minutes = (stamps - stamps.astype("datetime64[D]")).astype(np.int64)
    months = stamps.astype("datetime64[M]").astype(np.int64) % 12 + 1
    return minutes / 60.0, months


@pytest.mark.parametrize(
    ("target", "split"), [(QINGHAI, QINGHAI_SPLIT), (HEBEI, HEBEI_SPLIT)], ids=["qinghai", "hebei"]
)
def test_shares_are_valid_and_the_mean_intensity_is_the_published_factor(
    target: float, split: dict[str, float]
) -> None:
    hours, months = _year()
    mix = zone_mix(hours, months, ef_target_kgco2_per_kwh=target, non_fossil_pu=split)

    assert mix.sources == ("fossil", *split)
    assert mix.shares_pu.shape == (8760, 4)
    assert mix.shares_pu.min() >= 0.0
    np.testing.assert_allclose(mix.shares_pu.sum(axis=1), 1.0, rtol=0.0, atol=1e-12)
    assert mix.intensity_kgco2_per_kwh.mean() == pytest.approx(target, abs=1e-9)
    np.testing.assert_allclose(
        mix.intensity_kgco2_per_kwh, mix.shares_pu[:, 0] * EF_FOSSIL, rtol=1e-12
    )

    # The mean clean share is 1 − target / fossil, split as given.
    clean = 1.0 - target / EF_FOSSIL
    assert mix.clean_share_pu.mean() == pytest.approx(clean, abs=1e-9)
    weights = np.array(list(split.values())) / sum(split.values())
    np.testing.assert_allclose(mix.shares_pu[:, 1:].mean(axis=0), clean * weights, rtol=1e-9)


def test_solar_is_zero_at_midnight_and_peaks_around_noon_while_fossil_fills_the_night() -> None:
    hours, months = _year()
    mix = zone_mix(hours, months, ef_target_kgco2_per_kwh=QINGHAI, non_fossil_pu=QINGHAI_SPLIT)
    solar = mix.shares_pu[:, mix.sources.index("solar")]
    fossil = mix.shares_pu[:, 0]
    midnight, noon = hours == 0.0, hours == 12.0

    np.testing.assert_allclose(solar[midnight], 0.0, rtol=0.0, atol=0.0)
    assert np.all(solar[noon] > solar[midnight])
    assert np.all(fossil[midnight] > fossil[noon])
    assert np.all(mix.clean_share_pu[noon] > mix.clean_share_pu[midnight])
    # Wind and hydro keep their 0.45 : 0.20 ratio hour by hour.
    hydro = mix.shares_pu[:, mix.sources.index("hydro")]
    wind = mix.shares_pu[:, mix.sources.index("wind")]
    np.testing.assert_allclose(hydro * 0.20, wind * 0.45, atol=1e-15)


def test_summer_days_are_longer() -> None:
    hours, months = _year()
    mix = zone_mix(hours, months, ef_target_kgco2_per_kwh=HEBEI, non_fossil_pu=HEBEI_SPLIT)
    solar = mix.shares_pu[:, 1]
    june_daylight = np.mean(solar[months == 6] > 0.0)
    december_daylight = np.mean(solar[months == 12] > 0.0)
    # Half-day of 7 h in June and 5 h in December: 13 and 9 whole hours inside (6, 20), (8, 18).
    assert june_daylight == pytest.approx(13 / 24)
    assert december_daylight == pytest.approx(9 / 24)


def test_solar_heavy_zone_caps_solar_at_the_whole_supply_and_stays_exact() -> None:
    # Clean 81 % of supply, 55 % of it solar: the midday bell would need more than 100 %.
    hours, months = _year()
    split = {"solar": 0.55, "wind": 0.45}
    mix = zone_mix(hours, months, ef_target_kgco2_per_kwh=QINGHAI, non_fossil_pu=split)
    solar = mix.shares_pu[:, 1]
    assert solar.max() == pytest.approx(1.0, abs=1e-12)
    assert mix.shares_pu.min() >= 0.0
    np.testing.assert_allclose(mix.shares_pu.sum(axis=1), 1.0, atol=1e-12)
    assert mix.intensity_kgco2_per_kwh.mean() == pytest.approx(QINGHAI, abs=1e-9)
    clean = 1.0 - QINGHAI / EF_FOSSIL
    assert solar.mean() == pytest.approx(clean * 0.55, abs=1e-9)


def test_one_day_at_15_min_is_exact_too() -> None:
    hours = np.arange(0.0, 24.0, 0.25)
    months = np.full(hours.size, 3)
    mix = zone_mix(
        hours,
        months,
        ef_target_kgco2_per_kwh=0.5543,
        non_fossil_pu={"solar": 0.5, "wind": 0.5},
        ef_fossil_kgco2_per_kwh=0.8325,
    )
    assert mix.intensity_kgco2_per_kwh.mean() == pytest.approx(0.5543, abs=1e-9)
    np.testing.assert_allclose(mix.shares_pu.sum(axis=1), 1.0, atol=1e-12)


def test_all_fossil_and_all_clean_edges() -> None:
    hours, months = _year()
    fossil_only = zone_mix(
        hours, months, ef_target_kgco2_per_kwh=EF_FOSSIL, non_fossil_pu=QINGHAI_SPLIT
    )
    np.testing.assert_allclose(fossil_only.shares_pu[:, 0], 1.0, atol=1e-12)
    clean_only = zone_mix(hours, months, ef_target_kgco2_per_kwh=0.0, non_fossil_pu={"hydro": 1.0})
    np.testing.assert_allclose(clean_only.intensity_kgco2_per_kwh, 0.0, atol=1e-15)
    np.testing.assert_allclose(clean_only.clean_share_pu, 1.0, atol=1e-15)


def test_without_solar_every_source_is_flat() -> None:
    hours, months = _year()
    mix = zone_mix(
        hours, months, ef_target_kgco2_per_kwh=HEBEI, non_fossil_pu={"wind": 3.0, "hydro": 1.0}
    )
    np.testing.assert_allclose(mix.shares_pu, mix.shares_pu[:1].repeat(hours.size, 0), atol=1e-15)
    np.testing.assert_allclose(mix.intensity_kgco2_per_kwh, HEBEI, rtol=1e-12)


@given(
    target_pu=st.floats(0.0, 1.0),
    solar=st.floats(0.0, 1.0),
    wind=st.floats(0.0, 1.0),
    hydro=st.floats(0.0, 1.0),
)
def test_invariants_hold_for_any_feasible_mix(
    target_pu: float, solar: float, wind: float, hydro: float
) -> None:
    assume(solar + wind + hydro > 1e-3)
    hours, months = np.tile(np.arange(24.0), 4), np.repeat([1, 4, 7, 10], 24)
    split = {"solar": solar, "wind": wind, "hydro": hydro}
    try:
        mix = zone_mix(
            hours, months, ef_target_kgco2_per_kwh=target_pu * EF_FOSSIL, non_fossil_pu=split
        )
    except InputError as e:
        assume("daylight" not in str(e))  # more solar than daylight hours can carry
        raise
    assert mix.shares_pu.min() >= 0.0
    np.testing.assert_allclose(mix.shares_pu.sum(axis=1), 1.0, atol=1e-12)
    assert mix.intensity_kgco2_per_kwh.mean() == pytest.approx(target_pu * EF_FOSSIL, abs=1e-9)
    weights = np.array([solar, wind, hydro]) / (solar + wind + hydro)
    np.testing.assert_allclose(
        mix.shares_pu[:, 1:].mean(axis=0), (1.0 - target_pu) * weights, atol=1e-9
    )


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"ef_target_kgco2_per_kwh": 0.9}, "above the fossil factor 0.8273"),
        ({"ef_target_kgco2_per_kwh": -0.1}, "must be a non-negative factor"),
        ({"non_fossil_pu": {"solar": 0.5, "hydro": -0.1}}, r"finite and non-negative.*'hydro'"),
        ({"non_fossil_pu": {}}, "non_fossil_pu is empty"),
        ({"non_fossil_pu": {"solar": 0.0, "wind": 0.0}}, "sum to zero"),
        ({"non_fossil_pu": {"fossil": 0.2, "wind": 0.8}}, "names the fossil column"),
        ({"ef_fossil_kgco2_per_kwh": 0.0}, "must be a positive factor"),
        # March: daylight strictly inside 07–19 h, 11 whole hours of 24 = 0.458.
        (
            {"ef_target_kgco2_per_kwh": 0.0, "non_fossil_pu": {"solar": 1.0}},
            r"only 0\.458 of the hours given have daylight",
        ),
    ],
)
def test_invalid_inputs_say_what_and_how_to_fix(kwargs: dict[str, object], match: str) -> None:
    hours, months = np.arange(24.0), np.full(24, 3)
    args: dict[str, object] = {
        "ef_target_kgco2_per_kwh": 0.5,
        "non_fossil_pu": {"solar": 0.5, "wind": 0.5},
        **kwargs,
    }
    with pytest.raises(InputError, match=match):
        zone_mix(hours, months, **args)  # type: ignore[arg-type]


def test_hours_and_months_are_checked() -> None:
    split = {"solar": 1.0}
    with pytest.raises(InputError, match=r"local clock hours in \[0, 24\)"):
        zone_mix(np.arange(48.0), np.ones(48), ef_target_kgco2_per_kwh=0.5, non_fossil_pu=split)
    with pytest.raises(InputError, match="month must have the shape"):
        zone_mix(np.arange(24.0), np.ones(23), ef_target_kgco2_per_kwh=0.5, non_fossil_pu=split)
    with pytest.raises(InputError, match="month must be in 1–12"):
        zone_mix(np.arange(24.0), np.zeros(24), ef_target_kgco2_per_kwh=0.5, non_fossil_pu=split)
    with pytest.raises(InputError, match="non-empty 1-D"):
        zone_mix(np.array([]), np.array([]), ef_target_kgco2_per_kwh=0.5, non_fossil_pu=split)
