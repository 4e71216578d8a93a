"""Bad dispatch inputs are refused with messages that name the field, the value and the fix."""

import numpy as np
import pandas as pd
import pytest

from suandian.core.errors import InputError
from suandian.dispatch import (
    BatteryUnit,
    DispatchInputs,
    FlexibleLoad,
    Generator,
    GridConnection,
    build_problem,
)

GRID = GridConnection(import_price_cny_per_kwh=0.3)


def _inputs(**kw: object) -> DispatchInputs:
    spec: dict = dict(interval_h=1.0, load_mw=np.full(4, 10.0), grid=GRID)
    spec.update(kw)
    return DispatchInputs(**spec)


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"interval_h": 0.0}, "interval_h"),
        ({"load_mw": np.array([1.0, np.nan, 2.0, 3.0])}, "load_mw: value at step 1"),
        ({"load_mw": np.array([1.0, -2.0, 2.0, 3.0])}, "load_mw: must be ≥ 0"),
        (
            {"generators": (Generator("pv", "pv", np.ones(3)),)},
            r"generators\[0\].available_mw: expected 4 values",
        ),
        (
            {"grid": GridConnection(import_price_cny_per_kwh=-0.1)},
            "grid.import_price_cny_per_kwh: must be ≥ 0",
        ),
        (
            {"grid": GridConnection(import_price_cny_per_kwh=0.3, export_limit_share_pu=1.5)},
            "export_limit_share_pu",
        ),
        (
            {"batteries": (BatteryUnit("b", 10, 10, soc_min_pu=0.5, soc_initial_pu=0.2),)},
            r"soc_min_pu ≤ soc_initial_pu",
        ),
        (
            {"batteries": (BatteryUnit("b", 10, 10, round_trip_efficiency_pu=0.0),)},
            "round_trip_efficiency_pu",
        ),
        (
            {"batteries": (BatteryUnit("b", 10, 10, soc_max_pu=0.8, end_soc=0.9),)},
            "end_soc: 0.9 lies outside",
        ),
        (
            {"batteries": (BatteryUnit("b", 10, 10, end_soc="loop"),)},  # type: ignore[arg-type]
            "use 'cyclic', 'free'",
        ),
        (
            {"flexible_loads": (FlexibleLoad("j", 3, 3, 1.0, 1.0),)},
            r"window \[3, 3\)",
        ),
        (
            {"flexible_loads": (FlexibleLoad("j", 0, 2, 1.0, 1.0),) * 2},
            "name 'j' is used twice",
        ),
        ({"green_target_period": "day"}, "needs index_utc"),
        ({"index_utc": pd.date_range("2025-01-01", periods=4, freq="1h")}, "naive"),
        (
            {"index_utc": pd.date_range("2025-01-01", periods=3, freq="1h", tz="UTC")},
            "3 timestamps for 4 intervals",
        ),
    ],
)
def test_bad_inputs_are_refused(kw: dict, match: str) -> None:
    with pytest.raises(InputError, match=match):
        _inputs(**kw)


def test_unknown_objective_is_refused() -> None:
    with pytest.raises(InputError, match="choose one of cost, carbon, cost\\+carbon, green"):
        build_problem(_inputs(), "money")  # type: ignore[arg-type]


def test_scalars_broadcast_and_arrays_are_frozen() -> None:
    inputs = _inputs(grid=GridConnection(0.3, 0.1, 0.5, import_limit_mw=60.0))
    assert inputs.import_price_cny_per_kwh.shape == (4,)
    assert inputs.import_cap_mw.tolist() == [60.0] * 4
    with pytest.raises(ValueError, match="read-only"):
        inputs.load_mw[0] = 1.0


def test_problem_names_its_blocks_like_pypsa() -> None:
    inputs = _inputs(
        generators=(Generator("pv", "pv", np.ones(4)),),
        batteries=(BatteryUnit("b", 10, 10),),
        flexible_loads=(FlexibleLoad("j", 0, 2, 1.0, 1.0),),
    )
    problem = build_problem(inputs)
    assert set(problem.lp.variables) == {
        "generator-p",
        "battery-charge",
        "battery-discharge",
        "battery-soe",
        "grid-export",
        "flex-p",
    }
    assert set(problem.lp.expressions) == {"grid-import"}
    assert set(problem.lp.constraints) == {
        "grid-import",
        "battery-storage",
        "battery-end",
        "flex-energy",
        "flex-group-cap",
    }
    assert problem.lp.variables["battery-soe"].shape == (1, 4)
    assert problem.lp.constraints["flex-group-cap"].shape == (0, 4)  # no groups: no rows


def test_inputs_copy_the_callers_arrays() -> None:
    load = np.full(4, 10.0)
    inputs = _inputs(load_mw=load)
    load[0] = 99.0  # the caller's array stays writable and the inputs keep their copy
    assert inputs.load_mw[0] == 10.0
