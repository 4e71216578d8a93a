import datetime as dt

import numpy as np
import pytest

from suandian.meters.registry import meters_for_park
from suandian.scenario import Park
from suandian.sim.metering import simulated_readings
from suandian.sim.park import simulate


def test_every_meter_reads_and_the_site_balances(xining: Park) -> None:
    series = simulate(xining, start=dt.date(2025, 7, 1), days=2)
    readings = simulated_readings(xining, series)
    assert set(readings["meter_id"]) == {m.meter_id for m in meters_for_park(xining)}
    assert (readings["kwh"] >= 0).all()
    assert len(readings) == 27 * 2 * 96
    kwh = readings.pivot(index="start_utc", columns="meter_id", values="kwh")
    gen = kwh[["m-pv-nanchuan", "m-wind-nanchuan"]].sum(axis=1)
    load = kwh[[f"m-{c}" for c in series.load_mw.columns]].sum(axis=1)
    # Produced + imported = consumed + exported, every interval (nothing curtailed is metered).
    np.testing.assert_allclose(
        gen + kwh["m-nanchuan-import"], load + kwh["m-nanchuan-export"], rtol=1e-9, atol=1e-6
    )
    # Export stays under the cap: 20 % of the available output (绿电直连 rules).
    available = series.generation_mw.sum(axis=1).to_numpy() * 250.0
    assert (kwh["m-nanchuan-export"].to_numpy() <= 0.2 * available + 1e-6).all()
    # Curtailed energy is not metered as produced.
    assert (gen.to_numpy() <= available + 1e-6).all()
    assert gen.sum() < available.sum()
    assert kwh["m-bess-nanchuan-charge"].sum() == pytest.approx(0.0)
