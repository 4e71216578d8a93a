"""Benchmark: one simulated year of the bundled ``xining`` park at 15-minute resolution.

Measures
--------
seconds
    Best wall time (``time.perf_counter``) of
    ``simulate_year(load_scenario("xining"), 2025)`` over ``--repeat`` runs, taken after one
    untimed warm-up run in the same process. The call covers the whole year: site weather,
    clear sky and solar position, the PV chain inside the Brent calibration of the cloud
    deficit, the wind calibration, and the data-center and enterprise loads (35,040 intervals).
    ``median_seconds`` and ``all_seconds`` give the spread.
cold
    A fresh subprocess (same interpreter) that imports ``suandian``, loads the scenario and
    simulates once: ``import_seconds`` (imports and scenario load), ``first_run_seconds`` (the
    first call, which also pays for lazy imports, the read of pvlib's Linke turbidity HDF5 file
    and of windpowerlib's turbine library) and ``process_seconds`` (the subprocess from start to
    exit, interpreter start-up included).
peak_rss_mib
    ``resource.getrusage(RUSAGE_SELF).ru_maxrss`` (KiB on Linux) of that same fresh subprocess
    after its one run, in MiB: the peak resident set of a process that does nothing but import
    the package and simulate the year. ``rss_after_import_mib`` is the same reading taken before
    the run, so the difference is what the year itself costs.
peer_pvlib_modelchain_pv_only_seconds
    For reference, in the same run: the conventional way of getting a year of PV from pvlib,
    a ``pvlib.modelchain.ModelChain`` over a ``PVSystem`` (PVWatts DC, losses and AC, Faiman
    cell temperature, 150 MWp DC, 125 MW AC, tilt 33°, azimuth 180°) fed with
    ``Location.get_clearsky`` (Ineichen) for Xining (36.62 N, 101.78 E, 2260 m) over 35,040
    15-minute intervals. One evaluation of the chain (clear sky included), no calibration,
    PV only; timed like ``seconds`` (best after a warm-up). The park simulation evaluates its
    own PV chain once per Brent iteration, which ``pv_chain_evaluations`` counts.
full_load_hours
    Annual AC energy of each source over its nameplate (PV over DC MWp, wind over MW), from the
    last timed result, next to the scenario's targets, to show that the calibration held.

``--quick`` times ``simulate(park, start=2025-01-01, days=30)`` instead; that call still generates
and calibrates the whole year internally (the calibration is annual) and cuts 30 days from it.
The peer stays at a full year in both modes.

The last line printed is one JSON object with the figures; everything before it is for people.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the sibling module below
from machine import machine_info

SCENARIO = "xining"
YEAR = 2025
QUICK_DAYS = 30
TARGET_SECONDS = 5.0
FULL_YEAR_INTERVALS = 35_040

# The peer: the park's PV plant as a plain pvlib ModelChain.
LAT_DEG, LON_DEG, ALTITUDE_M = 36.62, 101.78, 2260.0
PV_DC_W, PV_AC_W = 150e6, 125e6
TILT_DEG, AZIMUTH_DEG = 33.0, 180.0
GAMMA_PDC_PER_C, ETA_INV_NOM = -0.0035, 0.985


def _mib_from_ru_maxrss(value: int) -> float:
    # ru_maxrss is KiB on Linux, bytes on macOS.
    return value / (1024.0 * 1024.0) if sys.platform == "darwin" else value / 1024.0


def _peak_rss_mib() -> float:
    return _mib_from_ru_maxrss(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def _workload(quick: bool) -> Callable[[], Any]:
    """The timed call: a full year, or 30 days cut from a full year with ``--quick``."""
    from suandian.scenario import load_scenario
    from suandian.sim.park import simulate, simulate_year

    park = load_scenario(SCENARIO)
    if quick:
        start = dt.date(YEAR, 1, 1)
        return lambda: simulate(park, start=start, days=QUICK_DAYS)
    return lambda: simulate_year(park, YEAR)


def _child(quick: bool) -> None:
    """Cold run in a fresh process: imports, one simulation, peak RSS. Prints one JSON line."""
    t0 = time.perf_counter()
    run = _workload(quick)
    t1 = time.perf_counter()
    rss_import = _peak_rss_mib()
    result = run()
    t2 = time.perf_counter()
    print(
        json.dumps(
            {
                "import_seconds": t1 - t0,
                "first_run_seconds": t2 - t1,
                "rss_after_import_mib": rss_import,
                "peak_rss_mib": _peak_rss_mib(),
                "intervals": len(result.index),
            }
        )
    )


def _cold(quick: bool) -> dict[str, Any]:
    cmd = [sys.executable, os.path.abspath(__file__), "--child"]
    if quick:
        cmd.append("--quick")
    t0 = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, check=True)
    elapsed = time.perf_counter() - t0
    out: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    out["process_seconds"] = elapsed
    return out


def _timed(fn: Callable[[], Any], repeat: int) -> tuple[list[float], Any]:
    """One untimed warm-up, then ``repeat`` timed calls; returns the times and the last result."""
    result = fn()
    times: list[float] = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return times, result


def _peer_year() -> Callable[[], Any]:
    """A year of PV the conventional pvlib way: Location clear sky into a ModelChain."""
    import pandas as pd
    from pvlib.location import Location
    from pvlib.modelchain import ModelChain
    from pvlib.pvsystem import PVSystem

    times = pd.date_range(
        f"{YEAR}-01-01", periods=FULL_YEAR_INTERVALS, freq="15min", tz="Asia/Shanghai"
    )
    location = Location(LAT_DEG, LON_DEG, tz="Asia/Shanghai", altitude=ALTITUDE_M)
    system = PVSystem(
        surface_tilt=TILT_DEG,
        surface_azimuth=AZIMUTH_DEG,
        module_parameters={"pdc0": PV_DC_W, "gamma_pdc": GAMMA_PDC_PER_C},
        inverter_parameters={"pdc0": PV_AC_W / ETA_INV_NOM, "eta_inv_nom": ETA_INV_NOM},
        temperature_model_parameters={"u0": 25.0, "u1": 6.84},  # Faiman defaults
    )

    def run() -> Any:
        weather = location.get_clearsky(times, model="ineichen")
        mc = ModelChain(
            system,
            location,
            dc_model="pvwatts",
            ac_model="pvwatts",
            aoi_model="physical",
            spectral_model="no_loss",
            temperature_model="faiman",
            losses_model="pvwatts",
        )
        mc.run_model(weather)
        return mc.results.ac

    return run


def _full_load_hours(series: Any) -> dict[str, dict[str, float]]:
    """Per source: AC energy over nameplate for the period, and the scenario's annual target."""
    from suandian.scenario import load_scenario

    park = load_scenario(SCENARIO)
    energy_mwh = series.generation_mw.sum() * series.interval_h
    nameplate = {
        "pv": {p.id: (p.p_dc_mwp, p.target_full_load_h) for p in park.pv_plants},  # DC MWp
        "wind": {w.id: (w.capacity_mw, w.target_full_load_h) for w in park.wind_farms},
    }
    out: dict[str, dict[str, float]] = {}
    for source, assets in nameplate.items():
        if not assets:
            continue
        cap = sum(c for c, _ in assets.values())
        target = sum(c * t for c, t in assets.values()) / cap
        out[source] = {
            "full_load_hours": round(float(sum(energy_mwh[a] for a in assets)) / cap, 2),
            "target_full_load_hours": target,
            "nameplate_mw": cap,
        }
    return out


def _pv_chain_evaluations(run: Callable[[], Any]) -> int:
    """How many times one call evaluates the PV chain (untimed, counted by wrapping it)."""
    from suandian.energy import solar

    original = solar.pv_ac_power_mw
    calls = 0

    def counting(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        return original(*args, **kwargs)

    solar.pv_ac_power_mw = counting  # type: ignore[assignment]
    try:
        run()
    finally:
        solar.pv_ac_power_mw = original  # type: ignore[assignment]
    return calls


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=f"time {QUICK_DAYS} days, not a year")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs after the warm-up")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    if args.child:
        _child(args.quick)
        return

    label = f"{QUICK_DAYS} days" if args.quick else "full year"
    print(f"energy_year: {SCENARIO} {YEAR}, {label}, 15 min, repeat {args.repeat}", flush=True)

    cold = _cold(args.quick)
    print(
        f"  cold (fresh process): import {cold['import_seconds']:.2f} s, "
        f"first run {cold['first_run_seconds']:.2f} s, process {cold['process_seconds']:.2f} s, "
        f"peak RSS {cold['peak_rss_mib']:.0f} MiB",
        flush=True,
    )

    run = _workload(args.quick)
    times, series = _timed(run, args.repeat)
    best, median = min(times), statistics.median(times)
    intervals = len(series.index)
    print(f"  warm: best {best:.3f} s, median {median:.3f} s over {intervals} intervals")

    evaluations = _pv_chain_evaluations(run)
    flh = _full_load_hours(series)
    for source, row in flh.items():
        print(
            f"  {source}: {row['full_load_hours']:.1f} h over {row['nameplate_mw']:g} "
            f"{'MWp DC' if source == 'pv' else 'MW'} "
            f"(annual target {row['target_full_load_hours']:g} h)"
        )

    peer_times, peer_ac = _timed(_peer_year(), args.repeat)
    peer_flh = float(peer_ac.clip(lower=0.0).sum()) * 0.25 / PV_DC_W
    print(
        f"  peer pvlib ModelChain, PV only, clear sky, one evaluation: best {min(peer_times):.3f} s"
        f" ({peer_flh:.0f} clear-sky full-load hours)"
    )

    report: dict[str, Any] = {
        "benchmark": "energy_year",
        "scenario": SCENARIO,
        "year": YEAR,
        "mode": "quick" if args.quick else "full",
        "days": QUICK_DAYS if args.quick else None,
        "seconds": round(best, 4),
        "median_seconds": round(median, 4),
        "all_seconds": [round(t, 4) for t in times],
        "repeat": args.repeat,
        "target_seconds": TARGET_SECONDS,
        "meets_target": best < TARGET_SECONDS,
        "intervals": intervals,
        "cold_import_seconds": round(cold["import_seconds"], 4),
        "cold_first_run_seconds": round(cold["first_run_seconds"], 4),
        "cold_process_seconds": round(cold["process_seconds"], 4),
        "peak_rss_mib": round(cold["peak_rss_mib"], 1),
        "rss_after_import_mib": round(cold["rss_after_import_mib"], 1),
        "peak_rss_method": "ru_maxrss (KiB on Linux) of a fresh subprocess after one run",
        "full_load_hours": flh,
        "pv_chain_evaluations": evaluations,
        "peer_pvlib_modelchain_pv_only_seconds": round(min(peer_times), 4),
        "peer_intervals": len(peer_ac),
        "peer_clear_sky_full_load_hours": round(peer_flh, 1),
        "machine": machine_info(("numpy", "pandas", "pvlib")),
        "run_at_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    if args.quick:
        report["note"] = (
            f"--quick times simulate(days={QUICK_DAYS}), which still generates and calibrates "
            f"the whole {YEAR} internally (calibration is annual) and cuts {QUICK_DAYS} days from "
            "it; full_load_hours are for those days only; the peer is a full year"
        )
    print(json.dumps(report, ensure_ascii=False))


if __name__ == "__main__":
    main()
