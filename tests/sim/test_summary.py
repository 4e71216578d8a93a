import numpy as np
import pandas as pd
import pytest

from suandian.core.times import local_year_grid
from suandian.scenario import Park
from suandian.sim.park import ParkSeries
from suandian.sim.summary import daily_green_share, hourly_match, site_balance, summarize


def test_site_balance_by_hand() -> None:
    # Interval 1: 10 MW generation, 4 MW load → surplus 6; export cap 20 % × 10 = 2, curtail 4.
    # Interval 2: 2 MW generation, 70 MW load → import 60 (limit), 8 unserved.
    # Interval 3: 5 MW generation, 5 MW load → all self-consumed.
    b = site_balance(
        np.array([10.0, 2.0, 5.0]),
        np.array([4.0, 70.0, 5.0]),
        export_limit_share_pu=0.2,
        import_limit_mw=60.0,
    )
    np.testing.assert_allclose(b.self_consumed_mw, [4.0, 2.0, 5.0])
    np.testing.assert_allclose(b.export_mw, [2.0, 0.0, 0.0])
    np.testing.assert_allclose(b.curtailed_mw, [4.0, 0.0, 0.0])
    np.testing.assert_allclose(b.import_mw, [0.0, 60.0, 0.0])
    np.testing.assert_allclose(b.unserved_mw, [0.0, 8.0, 0.0])


def test_hourly_match_by_hand() -> None:
    # Two hours of four quarter hours. Hour 1: G = 8, L = 4 → matched 4.
    # Hour 2: G = 0 + 0 + 2 + 2 = 4 (MW·quarters), L = 8 → matched 4. HM = 8 / 12.
    g = np.array([2.0, 2.0, 2.0, 2.0, 0.0, 0.0, 2.0, 2.0])
    ld = np.array([1.0, 1.0, 1.0, 1.0, 2.0, 2.0, 2.0, 2.0])
    assert hourly_match(g, ld, 4) == pytest.approx(8.0 / 12.0)
    # Quarter-hour surplus inside an hour does offset a deficit in the same hour.
    assert hourly_match(np.array([4.0, 0.0]), np.array([2.0, 2.0]), 2) == pytest.approx(1.0)


def test_daily_green_share_groups_by_shanghai_day() -> None:
    idx = local_year_grid(2025, 60)[:48]  # two local days, hourly
    g = np.r_[np.full(24, 1.0), np.zeros(24)]
    ld = np.ones(48)
    share = daily_green_share(idx, g, ld, 1)
    assert list(share.index.astype(str)) == ["2025-01-01", "2025-01-02"]
    np.testing.assert_allclose(share.to_numpy(), [1.0, 0.0])


def test_summary_of_a_year_is_consistent(xining: Park, xining_year: ParkSeries) -> None:
    s = summarize(xining, xining_year)
    ih = xining_year.interval_h
    gen_total = xining_year.generation_mw.to_numpy().sum() * ih
    load_total = xining_year.load_mw.to_numpy().sum() * ih
    assert s.days == 365
    assert s.generation_mwh["pv"] == pytest.approx(150.0 * 1550.0, rel=0.03)
    assert s.generation_mwh["total"] == pytest.approx(gen_total, rel=1e-12)
    assert s.load_mwh == pytest.approx(load_total, rel=1e-12)
    # Generation goes to self-use, export or curtailment; load to self-use, import or unserved.
    assert s.self_consumed_mwh + s.export_mwh + s.curtailment_mwh == pytest.approx(
        gen_total, rel=1e-9
    )
    assert s.self_consumed_mwh + s.import_mwh + s.unserved_mwh == pytest.approx(
        load_total, rel=1e-9
    )
    assert s.renewable_fraction == pytest.approx(gen_total / load_total, rel=1e-12)
    assert s.hourly_match_no_storage is not None
    assert 0.0 < s.hourly_match_no_storage < min(1.0, s.renewable_fraction)
    assert s.export_mwh <= 0.2 * gen_total + 1e-6
    payload = s.to_json()
    for key in ("scenario", "days", "generation_mwh", "load_mwh", "renewable_fraction"):
        assert key in payload


def test_summary_of_a_network_without_assets_has_no_fractions() -> None:
    from suandian.scenario import load_scenario

    park = load_scenario("national")
    idx = pd.date_range("2025-01-01", periods=4, freq="15min", tz="UTC")
    series = ParkSeries(
        scenario="national",
        resolution_min=15,
        generation_mw=pd.DataFrame(index=idx),
        load_mw=pd.DataFrame(index=idx),
        data_center={},
        weather={},
        source_of={},
        site_of={},
    )
    s = summarize(park, series)
    assert s.renewable_fraction is None and s.hourly_match_no_storage is None
    assert s.generation_mwh["total"] == 0.0
