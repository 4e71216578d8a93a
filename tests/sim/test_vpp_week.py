"""The demonstration week: events at 12–14 and 19–21 Asia/Shanghai, prices as documented."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from suandian.core.errors import InputError
from suandian.core.times import LOCAL_TZ
from suandian.scenario.model import Park
from suandian.sim.vpp_week import (
    PEAK_PRICES_CNY_PER_KWH,
    VppWeek,
    default_target_mw,
    vpp_week,
)

START = dt.date(2025, 7, 7)  # a Monday: 12 history days hold 8 weekdays (5 needed)


@pytest.fixture(scope="module")
def week(xining: Park) -> VppWeek:
    return vpp_week(xining, start=START, days=2, history_days=12)


def test_two_events_a_day_at_the_documented_times_and_prices(week: VppWeek) -> None:
    assert [e.event_id for e in week.events] == [
        "valley-2025-07-07",
        "peak-2025-07-07",
        "valley-2025-07-08",
        "peak-2025-07-08",
    ]
    for k, (valley, peak) in enumerate(zip(week.events[::2], week.events[1::2], strict=True)):
        day = START + dt.timedelta(days=k)
        assert valley.direction == "increase" and peak.direction == "reduce"
        assert valley.start_local == dt.datetime(day.year, day.month, day.day, 12, tzinfo=LOCAL_TZ)
        assert valley.end_local == dt.datetime(day.year, day.month, day.day, 14, tzinfo=LOCAL_TZ)
        assert peak.start_local == dt.datetime(day.year, day.month, day.day, 19, tzinfo=LOCAL_TZ)
        assert peak.end_local == dt.datetime(day.year, day.month, day.day, 21, tzinfo=LOCAL_TZ)
        # 12:00 local is 04:00 UTC; 19:00 local is 11:00 UTC (UTC+8, no DST).
        assert valley.start_local.astimezone(dt.UTC).hour == 4
        assert peak.start_local.astimezone(dt.UTC).hour == 11
        # Received day-ahead: 18:00 local the evening before = 10:00 UTC that day.
        evening = dt.datetime(day.year, day.month, day.day, tzinfo=LOCAL_TZ) - dt.timedelta(hours=6)
        assert valley.received_utc == peak.received_utc == evening
        assert valley.price_cny_per_kwh == pytest.approx(0.2)
        assert valley.penalty_cny_per_kwh == pytest.approx(0.1)
        assert peak.price_cny_per_kwh == pytest.approx(PEAK_PRICES_CNY_PER_KWH[k])
        assert 3.0 <= peak.price_cny_per_kwh <= 5.0
        assert peak.penalty_cny_per_kwh == pytest.approx(peak.price_cny_per_kwh / 2)
    # 40 % of nanchuan's 50 MW battery.
    assert all(e.target_mw == pytest.approx(20.0) for e in week.events)


def test_week_figures_reconcile(week: VppWeek, xining: Park) -> None:
    assert default_target_mw(xining, "nanchuan") == pytest.approx(20.0)
    assert week.site == "nanchuan" and week.metered_mw.shape == (2 * 96,)
    assert week.planned_before_mw.shape == week.metered_mw.shape == (len(week.index_utc),)
    assert week.index_utc[0].tz_convert(LOCAL_TZ).hour == 0
    assert week.deadline_misses == 0
    assert len(week.records) == len(week.events)
    for e in week.events:
        if e.answer == "rejected":
            assert e.committed_mw == 0 and e.revenue_cny == 0 and e.reason
            assert e.delivered_mw.size == 0
            continue
        # Settled intervals are the event's window on the week's meter.
        start = week.index_utc.get_loc(e.index_utc[0])
        np.testing.assert_allclose(e.metered_mw, week.metered_mw[start : start + 8])
        assert e.delivered_mwh >= 0.95 * e.committed_mwh - 1e-6
        assert e.revenue_cny == pytest.approx(e.delivered_mwh * 1000 * e.price_cny_per_kwh)
        assert e.net_cny == pytest.approx(e.revenue_cny - e.penalty_cny)
        assert e.delivered_mean_mw == pytest.approx(e.delivered_mwh / 2.0)


def test_arguments_are_checked_before_simulating(xining: Park) -> None:
    with pytest.raises(InputError, match=r"^start: "):
        vpp_week(xining, start=dt.date(2025, 1, 3))
    with pytest.raises(InputError, match=r"^site: "):
        vpp_week(xining, start=START, site="lhasa")
    with pytest.raises(InputError, match=r"^days: "):
        vpp_week(xining, start=START, days=0)
