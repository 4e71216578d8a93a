"""Park scenarios: pydantic models loaded from YAML, and the bundled `xining` and `national`."""

from suandian.scenario.loader import (
    bundled_scenarios,
    load_scenario,
    parse_scenario,
    scenario_from_yaml,
)
from suandian.scenario.model import (
    Battery,
    Climate,
    Consumer,
    DataCenter,
    GridTie,
    HydroPlant,
    Park,
    PueModel,
    PvPlant,
    Site,
    Tariff,
    TariffPeriod,
    WindFarm,
)

__all__ = [
    "Battery",
    "Climate",
    "Consumer",
    "DataCenter",
    "GridTie",
    "HydroPlant",
    "Park",
    "PueModel",
    "PvPlant",
    "Site",
    "Tariff",
    "TariffPeriod",
    "WindFarm",
    "bundled_scenarios",
    "load_scenario",
    "parse_scenario",
    "scenario_from_yaml",
]
