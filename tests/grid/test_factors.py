"""Bundled emission factors: every published number of DESIGN §5 and §7, exactly."""

from __future__ import annotations

import csv
import dataclasses
import io
from importlib import resources

import pytest

from suandian.core.errors import NotFound
from suandian.grid.factors import EmissionFactor, emission_factor, emission_factors

# DESIGN §5, "Emission factors (kgCO₂/kWh, MEE / NBS)", table and the line below it.
DESIGN_5 = {
    "cn-national-2021": 0.5568,
    "cn-national-2022": 0.5366,
    "cn-national-2023": 0.5306,
    "cn-residual-2022": 0.5856,
    "cn-residual-2023": 0.6096,
    "cn-fossil-2021": 0.8426,
    "cn-fossil-2022": 0.8325,
    "cn-fossil-2023": 0.8273,
    "cn-northwest-2022": 0.5857,
    "cn-northwest-2023": 0.5543,
    "cn-qinghai-2021": 0.1326,
    "cn-qinghai-2022": 0.1567,
    "cn-north-2023": 0.6361,
    "cn-northeast-2023": 0.5122,
    "cn-east-2023": 0.5500,
    "cn-central-2023": 0.5271,
    "cn-south-2023": 0.4042,
    "cn-southwest-2023": 0.2472,
}

# DESIGN §7, MEE 2022 provincial averages of the national computing-network sites (Qinghai's
# 0.157 is the rounded cn-qinghai-2022 above).
DESIGN_7 = {
    "cn-hebei-2022": 0.725,
    "cn-shanghai-2022": 0.58,
    "cn-anhui-2022": 0.678,
    "cn-guangdong-2022": 0.440,
    "cn-sichuan-2022": 0.140,
    "cn-chongqing-2022": 0.523,
    "cn-guizhou-2022": 0.499,
    "cn-inner-mongolia-2022": 0.685,
    "cn-gansu-2022": 0.477,
    "cn-ningxia-2022": 0.642,
}

# DESIGN §5, EF_src lifecycle: solar 45, wind 11, hydro 24 g/kWh.
LIFECYCLE = {"lifecycle-solar": 0.045, "lifecycle-wind": 0.011, "lifecycle-hydro": 0.024}

SCOPES = {"national", "national-residual", "national-fossil", "regional", "provincial", "lifecycle"}


@pytest.mark.parametrize(("name", "value"), sorted({**DESIGN_5, **DESIGN_7, **LIFECYCLE}.items()))
def test_every_design_factor_is_bundled_exactly(name: str, value: float) -> None:
    assert emission_factor(name).ef_kgco2_per_kwh == pytest.approx(value, rel=0.0, abs=1e-12)


def test_qinghai_2022_is_kept_at_four_decimals() -> None:
    assert emission_factor("cn-qinghai-2022").ef_kgco2_per_kwh == pytest.approx(0.1567, abs=1e-12)
    assert round(emission_factor("cn-qinghai-2022").ef_kgco2_per_kwh, 3) == pytest.approx(0.157)


def test_file_has_unique_names_and_the_documented_columns() -> None:
    text = resources.files("suandian.grid").joinpath("data", "emission_factors.csv").read_text()
    rows = list(csv.DictReader(io.StringIO(text)))
    assert list(rows[0]) == ["name", "ef_kgco2_per_kwh", "year", "scope", "source"]
    names = [r["name"] for r in rows]
    assert len(names) == len(set(names))
    assert set(names) == set(emission_factors())
    assert set(DESIGN_5) | set(DESIGN_7) | set(LIFECYCLE) <= set(names)


@pytest.mark.parametrize("factor", list(emission_factors().values()), ids=lambda f: f.name)
def test_metadata_is_consistent(factor: EmissionFactor) -> None:
    assert factor.name == factor.name.lower()
    assert factor.scope in SCOPES
    assert 0.0 < factor.ef_kgco2_per_kwh < 1.0
    if factor.scope == "lifecycle":
        assert factor.year is None
        assert "IPCC AR5 WG3 Annex III" in factor.source
    else:
        assert factor.year is not None
        assert factor.name.endswith(f"-{factor.year}")
        assert factor.source.startswith("MEE/NBS")
        assert str(factor.year) in factor.source


def test_scopes_of_named_factors() -> None:
    assert emission_factor("cn-residual-2023").scope == "national-residual"
    assert emission_factor("cn-fossil-2023").scope == "national-fossil"
    assert emission_factor("cn-northwest-2023").scope == "regional"
    assert emission_factor("cn-qinghai-2022").scope == "provincial"
    assert emission_factor("cn-national-2023").year == 2023


def test_unknown_name_lists_close_and_available_names() -> None:
    with pytest.raises(NotFound, match="no emission factor named 'cn-qinhai-2022'") as info:
        emission_factor("cn-qinhai-2022")
    message = str(info.value)
    assert "Did you mean 'cn-qinghai-2022'" in message
    assert "cn-national-2023" in message and "lifecycle-wind" in message
    assert isinstance(info.value, LookupError)


def test_unknown_name_without_a_close_match_still_lists_names() -> None:
    with pytest.raises(NotFound, match="Use one of: cn-national-2021") as info:
        emission_factor("zzz")
    assert "Did you mean" not in str(info.value)


def test_callers_get_a_copy_and_factors_are_frozen() -> None:
    factors = emission_factors()
    factors.pop("cn-national-2023")
    assert "cn-national-2023" in emission_factors()
    with pytest.raises(dataclasses.FrozenInstanceError):
        emission_factor("cn-national-2023").ef_kgco2_per_kwh = 0.0  # type: ignore[misc]
