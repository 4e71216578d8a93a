"""Consumers whose energy dispatch may move: EV smart charging and a hydrogen electrolyzer."""

from __future__ import annotations

import copy
from importlib import resources
from typing import Any

import pytest
import yaml

from suandian.core.errors import FieldProblem, ScenarioError
from suandian.scenario import Park, scenario_from_yaml
from suandian.scenario.model import EV_PEAK_TO_MEAN_PU

_XINING: dict[str, Any] = yaml.safe_load(
    resources.files("suandian.scenario.data").joinpath("xining.yaml").read_text(encoding="utf-8")
)


def _index(data: dict[str, Any], consumer_id: str) -> int:
    return next(i for i, c in enumerate(data["consumers"]) if c["id"] == consumer_id)


def _problems(change: dict[str, Any], consumer_id: str) -> tuple[int, list[FieldProblem]]:
    data = copy.deepcopy(_XINING)
    i = _index(data, consumer_id)
    data["consumers"][i].update(change)
    with pytest.raises(ScenarioError) as info:
        scenario_from_yaml(yaml.safe_dump(data, allow_unicode=True), source="broken.yaml")
    return i, list(info.value.problems)


def test_xining_has_a_smart_ev_station_and_an_electrolyzer(xining: Park) -> None:
    by_id = {c.id: c for c in xining.consumers}
    ev = by_id["svc-12"]
    assert ev.kind == "ev_charging"
    assert ev.ev is not None
    assert (ev.ev.chargers, ev.ev.charger_kw, ev.ev.dwell_h) == (40, 60.0, 8.0)
    assert ev.ev.flexible_share_pu == pytest.approx(0.8, abs=1e-12)
    assert ev.ev.capacity_mw == pytest.approx(2.4, abs=1e-12)
    assert ev.mean_mw * EV_PEAK_TO_MEAN_PU <= ev.ev.capacity_mw
    h2 = by_id["h2-01"]
    assert (h2.kind, h2.site, h2.name, h2.name_zh) == (
        "electrolyzer",
        "nanchuan",
        "Green Hydrogen Pilot",
        "绿氢示范",
    )
    assert h2.mean_mw == pytest.approx(2.0, abs=1e-12)
    assert h2.electrolyzer is not None
    assert h2.electrolyzer.rated_mw == pytest.approx(5.0, abs=1e-12)
    assert h2.electrolyzer.min_load_mw == pytest.approx(1.0, abs=1e-12)


def test_an_ev_block_on_another_kind_is_refused() -> None:
    i, problems = _problems({"ev": {"chargers": 4, "charger_kw": 60}}, "silicon-a")
    (p,) = problems
    assert p.path == f"consumers[{i}].ev"
    assert "only an ev_charging consumer" in p.message
    assert "polysilicon" in p.message


def test_an_electrolyzer_block_on_another_kind_is_refused() -> None:
    i, problems = _problems({"electrolyzer": {"rated_mw": 5.0}}, "svc-12")
    (p,) = problems
    assert p.path == f"consumers[{i}].electrolyzer"
    assert "set kind: electrolyzer" in p.message


def test_rated_power_below_the_mean_is_refused() -> None:
    i, problems = _problems({"electrolyzer": {"rated_mw": 1.5}}, "h2-01")
    (p,) = problems
    assert p.path == f"consumers[{i}].electrolyzer.rated_mw"
    assert p.value == pytest.approx(1.5, abs=1e-12)
    assert "below mean_mw (2 MW)" in p.message


def test_a_minimum_load_above_the_mean_is_refused() -> None:
    i, problems = _problems({"electrolyzer": {"rated_mw": 5.0, "min_load_pu": 0.5}}, "h2-01")
    (p,) = problems
    assert p.path == f"consumers[{i}].electrolyzer.min_load_pu"
    assert "minimum load 2.5 MW" in p.message


def test_too_few_chargers_for_the_peak_are_refused() -> None:
    # 0.45 MW × 2.8 = 1.26 MW of uncontrolled peak; 10 × 60 kW = 0.6 MW cannot carry it.
    i, problems = _problems({"ev": {"chargers": 10, "charger_kw": 60}}, "svc-12")
    (p,) = problems
    assert p.path == f"consumers[{i}].ev.chargers"
    assert "0.6 MW cannot carry the station's uncontrolled peak of 1.26 MW" in p.message


@pytest.mark.parametrize(
    ("block", "path"),
    [
        ({"chargers": 0, "charger_kw": 60}, "ev.chargers"),
        ({"chargers": 40, "charger_kw": 0}, "ev.charger_kw"),
        ({"chargers": 40, "charger_kw": 60, "dwell_h": 30}, "ev.dwell_h"),
        ({"chargers": 40, "charger_kw": 60, "flexible_share_pu": 1.5}, "ev.flexible_share_pu"),
    ],
)
def test_ev_block_ranges(block: dict[str, Any], path: str) -> None:
    i, problems = _problems({"ev": block}, "svc-12")
    assert [p.path for p in problems] == [f"consumers[{i}].{path}"]
