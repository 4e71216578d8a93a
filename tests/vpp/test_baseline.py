"""Baselines on hand-computed cases: similar days, 10 of 10, 5 highest of 10, capped adjustment."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from suandian.core.errors import InputError
from suandian.vpp import BaselineMethod, event_baseline, similar_days

EVENT_DAY = dt.date(2025, 7, 16)  # a Wednesday
STEPS = 24  # hourly profiles keep the arithmetic readable


def _flat(level_mw: float) -> np.ndarray:
    return np.full(STEPS, level_mw)


def _window(first_h: int, last_h: int) -> np.ndarray:
    mask = np.zeros(STEPS, dtype=bool)
    mask[first_h:last_h] = True
    return mask


def test_similar_days_are_recent_working_days_without_events() -> None:
    available = [EVENT_DAY - dt.timedelta(days=k) for k in range(1, 40)]
    excluded = [dt.date(2025, 7, 14)]  # Monday: an earlier event
    days = similar_days(EVENT_DAY, available, excluded=excluded, count=5)
    # Back from Wednesday 16 July: Tue 15, (Mon 14 is an event), Fri 11, Thu 10, Wed 9, Tue 8.
    assert days == [dt.date(2025, 7, d) for d in (15, 11, 10, 9, 8)]
    weekend = similar_days(dt.date(2025, 7, 19), [*available, dt.date(2025, 7, 18)], count=3)
    assert weekend == [dt.date(2025, 7, 13), dt.date(2025, 7, 12), dt.date(2025, 7, 6)]


def _history(levels: dict[int, float]) -> dict[dt.date, np.ndarray]:
    """Flat profiles on the working days ``k`` similar days back (1 = most recent)."""
    days = similar_days(EVENT_DAY, [EVENT_DAY - dt.timedelta(days=k) for k in range(1, 30)])
    return {days[k - 1]: _flat(v) for k, v in levels.items()}


def test_average_of_ten_is_the_mean_profile() -> None:
    history = _history({k: 10.0 + k for k in range(1, 11)})  # 11, 12, ..., 20 MW
    b = event_baseline(history, EVENT_DAY, _window(18, 21), method=BaselineMethod(adjust=False))
    np.testing.assert_allclose(b.profile_mw, 15.5, rtol=0, atol=1e-12)  # (11 + 20) / 2
    assert b.factor == 1.0 and len(b.days) == 10


def test_five_highest_of_ten_rank_by_the_event_window() -> None:
    history = _history({k: 10.0 + k for k in range(1, 11)})
    # Day 1 (11 MW all day) gets a 40 MW evening peak: high in the window, low elsewhere.
    first = max(history)  # the most recent similar day
    history[first] = _flat(11.0)
    history[first][18:21] = 40.0
    method = BaselineMethod(kind="high_of", adjust=False)
    b = event_baseline(history, EVENT_DAY, _window(18, 21), method=method)
    # Highest five in the window: 40 (day 1), 20, 19, 18, 17.
    assert len(b.days) == 5 and first in b.days
    assert b.profile_mw[19] == pytest.approx((40 + 20 + 19 + 18 + 17) / 5, abs=1e-12)
    assert b.profile_mw[3] == pytest.approx((11 + 20 + 19 + 18 + 17) / 5, abs=1e-12)


def test_day_of_adjustment_scales_and_is_capped() -> None:
    history = _history({k: 10.0 for k in range(1, 11)})
    window = _window(18, 21)  # 18:00–21:00; adjustment hours 14:00–17:00
    actual = _flat(10.0)
    actual[14:17] = 11.0  # +10 %
    b = event_baseline(history, EVENT_DAY, window, actual_mw=actual)
    assert b.factor == pytest.approx(1.1, abs=1e-12)
    np.testing.assert_allclose(b.adjusted_mw, 11.0, atol=1e-12)
    actual[14:17] = 15.0  # +50 % → capped at +20 %
    assert event_baseline(history, EVENT_DAY, window, actual_mw=actual).factor == pytest.approx(1.2)
    actual[14:17] = 2.0  # −80 % → capped at −20 %
    assert event_baseline(history, EVENT_DAY, window, actual_mw=actual).factor == pytest.approx(0.8)
    actual[16:18] = 0.0  # the hour just before the event is outside the window: no effect
    assert event_baseline(history, EVENT_DAY, window, actual_mw=actual).factor == pytest.approx(0.8)


def test_early_event_gets_no_adjustment_and_says_so() -> None:
    history = _history({k: 10.0 for k in range(1, 11)})
    b = event_baseline(history, EVENT_DAY, _window(2, 4), actual_mw=_flat(12.0))
    assert b.factor == 1.0
    assert any("before the local midnight" in n for n in b.notes)


def test_too_little_history_is_refused() -> None:
    history = _history({k: 10.0 for k in range(1, 5)})
    with pytest.raises(InputError, match="only 4 similar"):
        event_baseline(history, EVENT_DAY, _window(18, 21))
    b = event_baseline(history, EVENT_DAY, _window(18, 21), method=BaselineMethod(min_days=4))
    assert b.notes == ("4 similar days found of 10",)


def test_bad_methods_name_the_field() -> None:
    with pytest.raises(InputError, match="kind"):
        BaselineMethod(kind="median")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="high"):
        BaselineMethod(kind="high_of", high=11)
    with pytest.raises(InputError, match="adjust_cap_pu"):
        BaselineMethod(adjust_cap_pu=1.5)
