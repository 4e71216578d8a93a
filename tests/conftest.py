"""Shared fixtures: one simulated year of the bundled park, reused across tests."""

from __future__ import annotations

import pytest

from suandian.scenario import Park, load_scenario
from suandian.sim.park import ParkSeries, simulate_year


@pytest.fixture(scope="session")
def xining() -> Park:
    return load_scenario("xining")


@pytest.fixture(scope="session")
def xining_year(xining: Park) -> ParkSeries:
    """A whole simulated year (2025) of the bundled park at 15 min."""
    return simulate_year(xining, 2025)
