"""Mistakes in a scenario file give one ScenarioError that says where, what was seen and the fix.

Every case starts from the bundled ``xining`` YAML, breaks one thing and checks that the message
names the field path, the value seen and the allowed range or unit (STYLE.md §5).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from importlib import resources
from typing import Any

import pytest
import yaml

from suandian.core.errors import FieldProblem, InputError, ScenarioError
from suandian.scenario import scenario_from_yaml

SOURCE = "broken.yaml"
XINING_TEXT = (
    resources.files("suandian.scenario.data").joinpath("xining.yaml").read_text(encoding="utf-8")
)
_XINING: dict[str, Any] = yaml.safe_load(XINING_TEXT)

Mutation = Callable[[dict[str, Any]], None]


def _fresh() -> dict[str, Any]:
    return copy.deepcopy(_XINING)


def _dump(data: dict[str, Any]) -> str:
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False)


def _error_from_text(text: str) -> ScenarioError:
    with pytest.raises(ScenarioError) as info:
        scenario_from_yaml(text, source=SOURCE)
    exc = info.value
    message = str(exc)
    # Never a pydantic help URL or a traceback in what the user reads.
    assert "errors.pydantic.dev" not in message
    assert "https://" not in message
    assert "Traceback" not in message
    assert exc.source == SOURCE
    assert message.startswith(f"{SOURCE}: {len(exc.problems)} problem(s)")
    return exc


def _error(mutate: Mutation) -> ScenarioError:
    data = _fresh()
    mutate(data)
    return _error_from_text(_dump(data))


def _only(exc: ScenarioError) -> FieldProblem:
    assert len(exc.problems) == 1, str(exc)
    return exc.problems[0]


def _tariff_hours(period: int, hours: list[list[float]]) -> Mutation:
    def mutate(d: dict[str, Any]) -> None:
        d["sites"][0]["grid"]["tariff"]["periods"][period]["hours_h"] = hours

    return mutate


def test_the_unbroken_file_loads() -> None:
    park = scenario_from_yaml(_dump(_fresh()), source=SOURCE)
    assert park.name == "xining"


def test_scenario_error_is_an_input_error() -> None:
    exc = _error(lambda d: d["pv_plants"][0].update(p_dc_mwp=-5))
    assert isinstance(exc, InputError)
    assert isinstance(exc, ValueError)


# --- one mistake at a time ----------------------------------------------------------------------


def test_negative_capacity_names_path_value_bound_unit_and_range() -> None:
    exc = _error(lambda d: d["pv_plants"][0].update(p_dc_mwp=-5))
    problem = _only(exc)
    assert problem.path == "pv_plants[0].p_dc_mwp"
    assert problem.value == pytest.approx(-5.0, abs=1e-12)
    message = str(exc)
    assert "pv_plants[0].p_dc_mwp" in message
    assert "-5" in message
    assert "> 0" in message
    assert "MWp" in message
    assert "allowed: > 0.0 and ≤ 10000.0" in message


def test_number_written_as_text() -> None:
    exc = _error(lambda d: d["pv_plants"][0].update(p_dc_mwp="lots"))
    problem = _only(exc)
    assert problem.path == "pv_plants[0].p_dc_mwp"
    assert problem.value == "lots"
    message = str(exc)
    assert "'lots'" in message
    assert "number" in message
    assert "MWp" in message


@pytest.mark.parametrize(
    ("field", "unit"),
    [("target_full_load_h", "hours"), ("p_dc_mwp", "MWp")],
)
def test_missing_required_field_says_required_and_unit(field: str, unit: str) -> None:
    exc = _error(lambda d: d["pv_plants"][0].pop(field))
    problem = _only(exc)
    assert problem.path == f"pv_plants[0].{field}"
    message = str(exc)
    assert f"pv_plants[0].{field}" in message
    assert "required" in message
    assert unit in message


def test_typo_in_field_name_suggests_the_right_one() -> None:
    def typo(d: dict[str, Any]) -> None:
        d["pv_plants"][0]["p_dc_mw"] = d["pv_plants"][0].pop("p_dc_mwp")

    exc = _error(typo)
    by_path = {p.path: p for p in exc.problems}
    # The typo is both an unknown field and a missing one; both are reported.
    assert set(by_path) == {"pv_plants[0].p_dc_mw", "pv_plants[0].p_dc_mwp"}
    unknown = by_path["pv_plants[0].p_dc_mw"].message
    assert "unknown field" in unknown
    assert "did you mean 'p_dc_mwp'" in unknown
    assert "required" in by_path["pv_plants[0].p_dc_mwp"].message


def test_typo_in_nested_and_top_level_names() -> None:
    def typos(d: dict[str, Any]) -> None:
        d["sites"][0]["grid"]["import_limit_mwh"] = d["sites"][0]["grid"].pop("import_limit_mw")
        d["pv_plant"] = d.pop("pv_plants")

    exc = _error(typos)
    by_path = {p.path: p.message for p in exc.problems}
    assert "did you mean 'import_limit_mw'" in by_path["sites[0].grid.import_limit_mwh"]
    assert "did you mean 'pv_plants'" in by_path["pv_plant"]


def test_asset_on_undefined_site_names_the_field_path() -> None:
    exc = _error(lambda d: d["batteries"][0].update(site="nowhere"))
    problem = _only(exc)
    assert problem.path == "batteries[0].site"
    assert problem.value == "nowhere"
    assert "no site with this id" in problem.message
    assert "defined sites: nanchuan" in problem.message
    assert "batteries[0].site: no site with this id" in str(exc)


def test_duplicate_asset_ids_name_both_places() -> None:
    exc = _error(lambda d: d["consumers"][1].update(id="silicon-a"))
    problem = _only(exc)
    assert problem.path == "consumers[1].id"
    assert problem.value == "silicon-a"
    assert "consumers[0] already uses it" in problem.message


def test_duplicate_yaml_keys_are_refused_with_their_line() -> None:
    text = XINING_TEXT.replace("name: xining\n", "name: xining\nname: other\n", 1)
    line = text.splitlines().index("name: other") + 1
    problem = _only(_error_from_text(text))
    assert problem.path == "<yaml>"
    assert f"line {line}" in problem.message
    assert "'name' appears twice" in problem.message


def test_a_boolean_is_not_a_number() -> None:
    exc = _error(lambda d: d["pv_plants"][0].update(p_dc_mwp=True))
    problem = _only(exc)
    assert problem.path == "pv_plants[0].p_dc_mwp"
    assert "boolean" in problem.message


@pytest.mark.parametrize(
    ("mutate", "words"),
    [
        # valley 9–17 widened to 8–17 overlaps peak 7–9 for one hour from 08:00.
        pytest.param(
            _tariff_hours(0, [[8, 17]]),
            ("'valley' and 'peak' overlap", "8 h", "1 h in all"),
            id="overlap",
        ),
        # valley narrowed to 10–17 leaves 09:00–10:00 without a price.
        pytest.param(_tariff_hours(0, [[10, 17]]), ("uncovered", "9 h", "1 h in all"), id="gap"),
        # a range that does not fall on quarter hours.
        pytest.param(_tariff_hours(0, [[9, 17.1]]), ("quarter hours", "17.1"), id="off-quarter"),
        # a range beyond the local day.
        pytest.param(_tariff_hours(2, [[0, 7], [23, 25]]), ("0 ≤ from < to ≤ 24", "25"), id="25h"),
    ],
)
def test_tariff_periods_must_cover_the_day_once(mutate: Mutation, words: tuple[str, ...]) -> None:
    exc = _error(mutate)
    problem = _only(exc)
    assert problem.path == "sites[0].grid.tariff"
    for word in words:
        assert word in problem.message


def test_soc_min_above_soc_max() -> None:
    exc = _error(lambda d: d["batteries"][0].update(soc_min_pu=0.9, soc_max_pu=0.2))
    problem = _only(exc)
    assert problem.path.startswith("batteries[0]")
    assert "soc_min_pu (0.9)" in problem.message
    assert "soc_max_pu (0.2)" in problem.message
    assert "below" in problem.message


def test_soc_fraction_out_of_range_names_unit() -> None:
    exc = _error(lambda d: d["batteries"][0].update(soc_max_pu=1.5))
    problem = _only(exc)
    assert problem.path == "batteries[0].soc_max_pu"
    assert problem.value == pytest.approx(1.5, abs=1e-12)
    assert "≤ 1" in problem.message
    assert "per unit" in problem.message


def test_unknown_turbine_type_suggests_close_names() -> None:
    exc = _error(lambda d: d["wind_farms"][0].update(turbine_type="MM100/200"))
    problem = _only(exc)
    assert problem.path == "wind_farms[0].turbine_type"
    message = str(exc)
    assert "wind_farms[0].turbine_type: 'MM100/200'" in message
    assert "windpowerlib" in message
    assert "did you mean" in message
    assert "MM100/2000" in message


@pytest.mark.parametrize(
    ("value", "bound"),
    [(136.6, "≤ 90"), (-91.0, "≥ -90")],
)
def test_latitude_out_of_range(value: float, bound: str) -> None:
    exc = _error(lambda d: d["sites"][0].update(lat_deg=value))
    problem = _only(exc)
    assert problem.path == "sites[0].lat_deg"
    assert problem.value == pytest.approx(value, abs=1e-12)
    message = str(exc)
    assert f"(got {value})" in message
    assert bound in message
    assert "degrees" in message
    assert "allowed: ≥ -90.0 and ≤ 90.0" in message


def test_data_center_mean_above_capacity() -> None:
    exc = _error(lambda d: d["data_centers"][0].update(it_mean_mw=50))
    problem = _only(exc)
    assert problem.path.startswith("data_centers[0]")
    assert "it_mean_mw (50.0 MW)" in problem.message
    assert "it_capacity_mw (40.0 MW)" in problem.message


def test_unknown_consumer_kind_lists_the_kinds() -> None:
    exc = _error(lambda d: d["consumers"][0].update(kind="steel"))
    problem = _only(exc)
    assert problem.path == "consumers[0].kind"
    assert problem.value == "steel"
    for kind in ("polysilicon", "battery", "services", "ev_charging", "other"):
        assert kind in problem.message


# --- the file as a whole ------------------------------------------------------------------------


def test_invalid_yaml_syntax_gives_line_number() -> None:
    lines = XINING_TEXT.splitlines()
    n = next(i for i, line in enumerate(lines) if line.strip() == "p_dc_mwp: 150")
    lines[n] = lines[n] + ": 3"  # "p_dc_mwp: 150: 3" is not a YAML mapping entry
    exc = _error_from_text("\n".join(lines) + "\n")
    problem = _only(exc)
    assert problem.path == "<yaml>"
    assert "not valid YAML" in problem.message
    assert f"line {n + 1}," in problem.message
    assert "fix the syntax" in problem.message


def test_unclosed_bracket_gives_line_number() -> None:
    text = "name: x\nsites:\n  - id: a\n    name: [unclosed\n  lat_deg: 3\n"
    exc = _error_from_text(text)
    assert "line 5" in _only(exc).message


@pytest.mark.parametrize(
    ("text", "seen"),
    [("- name: xining\n- name: national\n", "list"), ("just a sentence\n", "str")],
)
def test_top_level_must_be_a_mapping(text: str, seen: str) -> None:
    exc = _error_from_text(text)
    problem = _only(exc)
    assert problem.path == "<root>"
    assert "mapping" in problem.message
    assert seen in str(exc)


def test_empty_file() -> None:
    exc = _error_from_text("")
    assert "the file is empty" in _only(exc).message


def test_several_problems_are_reported_together() -> None:
    def many(d: dict[str, Any]) -> None:
        d["sites"][0]["lat_deg"] = 136.6
        d["pv_plants"][0]["p_dc_mwp"] = -5
        d["wind_farms"][0]["capacity_mw"] = "lots"
        d["batteries"][0]["soc_min_pu"] = 0.96

    exc = _error(many)
    paths = [p.path for p in exc.problems]
    assert len(exc.problems) >= 2
    for expected in (
        "sites[0].lat_deg",
        "pv_plants[0].p_dc_mwp",
        "wind_farms[0].capacity_mw",
    ):
        assert expected in paths
        assert expected in str(exc)
    assert any(p.startswith("batteries[0]") for p in paths)
    assert str(exc).startswith(f"{SOURCE}: {len(exc.problems)} problem(s)")
    # one line per problem after the header
    assert len(str(exc).splitlines()) == 1 + len(exc.problems)
