"""Event settlement on hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest

from suandian.core.errors import InputError
from suandian.vpp import settle_event


def test_peak_shaving_pays_delivery_up_to_the_commitment_and_penalises_shortfall() -> None:
    # Four 15-min intervals, 10 MW committed, 3 CNY/kWh, penalty 1 CNY/kWh.
    s = settle_event(
        direction="reduce",
        baseline_mw=np.array([50.0, 50.0, 50.0, 50.0]),
        actual_mw=np.array([40.0, 35.0, 45.0, 52.0]),  # reduces 10, 15, 5, −2
        committed_mw=10.0,
        price_cny_per_kwh=3.0,
        penalty_cny_per_kwh=1.0,
        step_h=0.25,
    )
    np.testing.assert_allclose(s.delivered_mw, [10.0, 10.0, 5.0, 0.0])
    np.testing.assert_allclose(s.shortfall_mw, [0.0, 0.0, 5.0, 10.0])
    assert s.committed_mwh == pytest.approx(10.0)  # 10 MW × 1 h
    assert s.delivered_mwh == pytest.approx(6.25)  # (10 + 10 + 5) × 0.25
    assert s.shortfall_mwh == pytest.approx(3.75)
    assert s.revenue_cny == pytest.approx(6_250 * 3.0)
    assert s.penalty_cny == pytest.approx(3_750 * 1.0)
    assert s.net_cny == pytest.approx(15_000.0)
    assert s.delivery_pu == pytest.approx(0.625)


def test_valley_filling_counts_load_above_the_baseline() -> None:
    s = settle_event(
        direction="increase",
        baseline_mw=np.array([20.0, 20.0]),
        actual_mw=np.array([28.0, 18.0]),
        committed_mw=np.array([8.0, 8.0]),
        price_cny_per_kwh=0.2,
        penalty_cny_per_kwh=0.0,
        step_h=1.0,
    )
    np.testing.assert_allclose(s.delivered_mw, [8.0, 0.0])
    assert s.revenue_cny == pytest.approx(8_000 * 0.2)
    assert s.penalty_cny == 0.0


def test_bad_input_names_the_field() -> None:
    args = {
        "baseline_mw": np.ones(2),
        "actual_mw": np.ones(2),
        "committed_mw": 1.0,
        "price_cny_per_kwh": 1.0,
        "penalty_cny_per_kwh": 1.0,
        "step_h": 0.25,
    }
    with pytest.raises(InputError, match="direction"):
        settle_event(direction="up", **args)  # type: ignore[arg-type]
    with pytest.raises(InputError, match="committed_mw"):
        settle_event(direction="reduce", **(args | {"committed_mw": -1.0}))
    with pytest.raises(InputError, match="actual_mw"):
        settle_event(direction="reduce", **(args | {"actual_mw": np.array([1.0, np.nan])}))
