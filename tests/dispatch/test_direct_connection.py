"""Direct-connection compliance (绿电直连): self-consumption and on-site green share.

Toy parks solved on paper; the working is in the comments. On-site use is
u = Σ (Σ_g used − export)·Δt; self-consumption is u / Σ available·Δt, the on-site green share
u / Σ (load + flexible)·Δt. Every LP plan is checked against the rebuilt physics and for
simultaneous charge/discharge and import/export.
"""

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from suandian.core.errors import InputError
from suandian.dispatch import (
    BatteryUnit,
    DispatchInputs,
    DispatchResult,
    FlexibleLoad,
    Generator,
    GridConnection,
    check_invariants,
    diagnose,
    dispatch,
    rolling_dispatch,
)


def _checked(inputs: DispatchInputs, result: DispatchResult) -> DispatchResult:
    check_invariants(inputs, result)
    assert result.method == "lp"
    assert result.status == "Optimal"
    assert not result.notes
    both = np.minimum(result.battery_charge_mw, result.battery_discharge_mw)
    assert both.max(initial=0.0) <= 1e-9
    assert np.minimum(result.grid_import_mw, result.grid_export_mw).max() <= 1e-9
    return result


def _use_mwh(r: DispatchResult) -> float:
    return float((r.generator_p_mw.sum(axis=0) - r.grid_export_mw).sum() * r.interval_h)


def _battery(p_mw: float, e_mwh: float) -> BatteryUnit:
    return BatteryUnit("bess", p_mw, e_mwh, 1.0, 0.0, 1.0, 0.0, "free")


# --- (1) self-consumption cuts export -------------------------------------------------------------
#
# Δt = 1 h. PV 10 MW then 0; load 2 then 4 MW; battery 10 MW / 10 MWh, η = 1, empty, free end.
# Import 0.6 then 0.2 CNY/kWh; export 0.5 then 0 (never above import).
# Without the share: export the 8 MW surplus at noon (+4,000 CNY), import 4 MW in the evening
# (−800): cost = 800 − 4,000 = −3,200 CNY. Storing 1 MWh for the evening gives up 500 to save
# 200, so the battery stays idle; self-consumption = (10 − 8) / 10 = 20 %.
# With s_min = 0.5: u = 10 − export ≥ 0.5 × 10 = 5 → export ≤ 5. The 3 MW no longer exported
# must go into the battery (curtailing lowers used and export alike, u unchanged) and come back
# in the evening: import 4 − 3 = 1 MW. Cost = 0.2 × 1 × 1000 − 0.5 × 5 × 1000 = −2,300 CNY,
# i.e. 900 CNY more = 3 MWh × (500 − 200).


def _noon(s_min: float | None = None, **kw: object) -> DispatchInputs:
    return DispatchInputs(
        interval_h=1.0,
        load_mw=np.array([2.0, 4.0]),
        generators=(Generator("pv", "pv", np.array([10.0, 0.0])),),
        batteries=(_battery(10.0, 10.0),),
        grid=GridConnection(
            import_price_cny_per_kwh=np.array([0.6, 0.2]),
            export_price_cny_per_kwh=np.array([0.5, 0.0]),
        ),
        self_consumption_min_pu=s_min,
        **kw,  # type: ignore[arg-type]
    )


def test_self_consumption_cuts_export_to_the_share() -> None:
    free = _checked(_noon(), dispatch(_noon(), "cost"))
    assert free.cost_cny == pytest.approx(-3200.0, abs=1e-3)
    assert_allclose(free.grid_export_mw, [8.0, 0.0], atol=1e-6)
    assert _use_mwh(free) / 10.0 == pytest.approx(0.2, abs=1e-6)

    inputs = _noon(0.5)
    r = _checked(inputs, dispatch(inputs, "cost"))
    assert _use_mwh(r) / 10.0 == pytest.approx(0.5, abs=1e-6)
    assert_allclose(r.grid_export_mw, [5.0, 0.0], atol=1e-6)
    assert_allclose(r.battery_charge_mw[0], [3.0, 0.0], atol=1e-6)
    assert_allclose(r.battery_discharge_mw[0], [0.0, 3.0], atol=1e-6)
    assert_allclose(r.grid_import_mw, [0.0, 1.0], atol=1e-6)
    assert r.cost_cny == pytest.approx(-2300.0, abs=1e-3)
    assert r.cost_cny - free.cost_cny == pytest.approx(900.0, abs=1e-3)


# --- (2) on-site green share pulls flexible load into PV hours ------------------------------------
#
# Δt = 1 h. PV 10 MW then 0; fixed load 1 MW in both hours; a flexible load of 4 MWh anywhere in
# the two hours, ≤ 4 MW; no battery. Import 0.6 then 0.2 CNY/kWh; export 0.5 then 0.
# Without the share: running flexible load at noon gives up 500 CNY/MWh of export to save 200
# of evening import, so it runs in the evening: export 9 MW (+4,500), import 1 + 4 = 5 MW (−1,000):
# cost −3,500 CNY; on-site green share = (10 − 9) / (2 + 4) = 1/6.
# With g_min = 0.5: u ≥ 0.5 × 6 = 3 MWh. u = 1 + x with x MW of flexible load at noon → x = 2:
# export 7 (+3,500), import 1 + 2 = 3 (−600): cost −2,900 CNY, 600 = 2 × (500 − 200) more.


def _flex(g_min: float | None = None) -> DispatchInputs:
    return DispatchInputs(
        interval_h=1.0,
        load_mw=np.array([1.0, 1.0]),
        generators=(Generator("pv", "pv", np.array([10.0, 0.0])),),
        flexible_loads=(FlexibleLoad("dc", 0, 2, 4.0, 4.0),),
        grid=GridConnection(
            import_price_cny_per_kwh=np.array([0.6, 0.2]),
            export_price_cny_per_kwh=np.array([0.5, 0.0]),
        ),
        onsite_green_min_pu=g_min,
    )


def test_onsite_green_share_moves_flexible_load_into_pv_hours() -> None:
    free = _checked(_flex(), dispatch(_flex(), "cost"))
    assert_allclose(free.flex_p_mw[0], [0.0, 4.0], atol=1e-6)
    assert free.cost_cny == pytest.approx(-3500.0, abs=1e-3)
    assert _use_mwh(free) / 6.0 == pytest.approx(1.0 / 6.0, abs=1e-6)

    inputs = _flex(0.5)
    r = _checked(inputs, dispatch(inputs, "cost"))
    assert_allclose(r.flex_p_mw[0], [2.0, 2.0], atol=1e-6)
    assert_allclose(r.grid_export_mw, [7.0, 0.0], atol=1e-6)
    assert_allclose(r.grid_import_mw, [0.0, 3.0], atol=1e-6)
    assert _use_mwh(r) / 6.0 == pytest.approx(0.5, abs=1e-6)
    assert r.cost_cny == pytest.approx(-2900.0, abs=1e-3)


# --- (3) a share no plan can reach ------------------------------------------------------------
#
# Two hours from 12:00 Beijing time on 2025-07-01 (04:00 UTC), daily periods. PV 10 MW then 0;
# load 1 MW in both hours; battery 1 MW / 1 MWh, η = 1, empty. At noon at most load 1 + charge
# 1 = 2 MW of the 10 can stay on site (η = 1: no losses to burn), the rest must be exported:
# self-consumption ≤ 2 / 10 = 20 % < 60 %.

INDEX = pd.date_range("2025-07-01 04:00", periods=2, freq="1h", tz="UTC")


def _too_small() -> DispatchInputs:
    return DispatchInputs(
        interval_h=1.0,
        load_mw=np.array([1.0, 1.0]),
        generators=(Generator("pv", "pv", np.array([10.0, 0.0])),),
        batteries=(_battery(1.0, 1.0),),
        grid=GridConnection(import_price_cny_per_kwh=0.5, export_price_cny_per_kwh=0.3),
        index_utc=INDEX,
        green_target_period="day",
        self_consumption_min_pu=0.6,
    )


def test_unreachable_self_consumption_is_diagnosed_and_falls_back() -> None:
    inputs = _too_small()
    d = diagnose(inputs)
    assert d.kind == "self-consumption"
    assert d.step == 1
    r = dispatch(inputs, "cost")
    assert r.method == "rules"
    assert r.status == "Infeasible"
    assert r.diagnosis == d.message
    for text in (
        "self-consumption 20 % of available output on 2025-07-01",
        "below the required 60 %",
        "at most 2 of the 10 MWh available",
    ):
        assert text in r.diagnosis
    check_invariants(inputs, r)


def test_unreachable_onsite_green_share_is_named() -> None:
    # No generation at all: on-site output covers 0 of the 2 MWh consumed, against 30 %.
    inputs = DispatchInputs(
        interval_h=1.0,
        load_mw=np.array([1.0, 1.0]),
        generators=(Generator("pv", "pv", np.array([0.0, 0.0])),),
        grid=GridConnection(import_price_cny_per_kwh=0.5),
        onsite_green_min_pu=0.3,
    )
    d = diagnose(inputs)
    assert d.kind == "onsite-green"
    assert "on-site green share 0 % of consumption over steps [0, 2)" in d.message
    assert "below the required 30 %" in d.message
    assert "at most 0 of the 2 MWh consumed" in d.message


# --- (4) daily periods hold per day --------------------------------------------------------------
#
# Case (1) twice, on two Asia/Shanghai days (noon and evening hours of each); s_min = 0.5 must
# hold on each day: export 5 MW at each noon, cost 2 × (−2,300) = −4,600 CNY.


def test_daily_self_consumption_holds_each_day() -> None:
    index = pd.DatetimeIndex(
        ["2025-07-01 04:00", "2025-07-01 10:00", "2025-07-02 04:00", "2025-07-02 10:00"],
        tz="UTC",
    )
    inputs = DispatchInputs(
        interval_h=1.0,
        load_mw=np.array([2.0, 4.0, 2.0, 4.0]),
        generators=(Generator("pv", "pv", np.array([10.0, 0.0, 10.0, 0.0])),),
        batteries=(_battery(10.0, 10.0),),
        grid=GridConnection(
            import_price_cny_per_kwh=np.array([0.6, 0.2, 0.6, 0.2]),
            export_price_cny_per_kwh=np.array([0.5, 0.0, 0.5, 0.0]),
        ),
        index_utc=index,
        green_target_period="day",
        self_consumption_min_pu=0.5,
    )
    r = _checked(inputs, dispatch(inputs, "cost"))
    assert_allclose(r.grid_export_mw, [5.0, 0.0, 5.0, 0.0], atol=1e-6)
    assert r.cost_cny == pytest.approx(-4600.0, abs=1e-3)


# --- (5) inputs ---------------------------------------------------------------------------------


@pytest.mark.parametrize("field", ["self_consumption_min_pu", "onsite_green_min_pu"])
def test_share_outside_unit_interval_is_refused(field: str) -> None:
    with pytest.raises(InputError, match=rf"{field}: 1.5 is outside \[0, 1\]"):
        _noon(**{field: 1.5}) if field != "self_consumption_min_pu" else _noon(1.5)


@pytest.mark.parametrize("field", ["self_consumption_min_pu", "onsite_green_min_pu"])
def test_rolling_refuses_direct_connection_shares(field: str) -> None:
    inputs = _noon(0.5) if field == "self_consumption_min_pu" else _noon(onsite_green_min_pu=0.5)
    with pytest.raises(InputError, match=rf"{field}: .*rolling windows"):
        rolling_dispatch(inputs, window_steps=2, commit_steps=1)
