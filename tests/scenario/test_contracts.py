import pytest

from suandian.core.errors import ScenarioError
from suandian.scenario import load_scenario, parse_scenario


def test_xining_has_its_direct_line() -> None:
    park = load_scenario("xining")
    (contract,) = park.contracts
    assert (contract.generator, contract.consumer) == ("pv-nanchuan", "dc-nanchuan")
    assert contract.cap_mw == pytest.approx(30.0)


def test_contract_references_are_checked_with_their_paths() -> None:
    data = load_scenario("xining").model_dump()
    data["contracts"] = [
        {"generator": "bess-nanchuan", "consumer": "dc-nanchuan"},
        {"generator": "pv-nanchuan", "consumer": "nobody"},
    ]
    with pytest.raises(ScenarioError) as info:
        parse_scenario(data)
    paths = {p.path: p for p in info.value.problems}
    assert set(paths) == {"contracts[0].generator", "contracts[1].consumer"}
    assert "no PV plant, wind farm or hydro plant" in paths["contracts[0].generator"].message
    assert paths["contracts[1].consumer"].value == "nobody"


def test_neighbour_imports_must_leave_own_supply() -> None:
    data = load_scenario("xining").model_dump()
    data["sites"][0]["grid"]["neighbours"] = [
        {
            "zone": "CN-GS",
            "share_pu": 0.6,
            "ef_location_kgco2_per_kwh": 0.477,
            "mix_non_fossil_pu": {"wind": 1.0},
        },
        {
            "zone": "CN-XJ",
            "share_pu": 0.5,
            "ef_location_kgco2_per_kwh": 0.6,
            "mix_non_fossil_pu": {"solar": 1.0},
        },
    ]
    with pytest.raises(ScenarioError, match=r"import shares sum to 1\.1"):
        parse_scenario(data)


def test_park_is_a_reserved_id_and_contracts_stay_on_one_site() -> None:
    data = load_scenario("xining").model_dump()
    data["consumers"][0]["id"] = "park"
    second = dict(data["sites"][0], id="other")
    data["sites"].append(second)
    data["consumers"][1]["site"] = "other"
    data["contracts"].append({"generator": "pv-nanchuan", "consumer": data["consumers"][1]["id"]})
    with pytest.raises(ScenarioError) as info:
        parse_scenario(data)
    problems = {p.path: p.message for p in info.value.problems}
    assert "reserved" in problems["consumers[0].id"]
    assert "a direct line joins one site" in problems["contracts[1]"]
