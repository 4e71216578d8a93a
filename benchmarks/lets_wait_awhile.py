"""Benchmark: the "Let's Wait Awhile" ML-training experiment, side by side with our strategy.

The experiment (Wiesner et al., ACM Middleware 2021, as ``../shared/data/carbon-intensity-2020/
README.md`` describes it)
--------------------------------------------------------------------------------------------
Grid carbon intensity of Germany, Great Britain and France in 2020 at 30 min (Germany's 15-min
file thinned to its :00 and :30 rows), read by ``suandian.sim.carbon_intensity``; the series
runs on to 2021-01-09 so that jobs arriving in late December keep their whole window.

3,387 jobs of one unit of power (1 MW here; savings do not depend on it), all interruptible
after any step. Generator, ``numpy.random.default_rng(0)``: a multinomial of 3,387 over the 262
workdays (Mon–Fri) of 2020 with equal probabilities gives the jobs per day; then, in day order,
each job's arrival step (one of the 16 half-hours 09:00, 09:30, …, 16:30 UTC) and its duration
(8 … 180 steps, 4 h … 90 h) are drawn uniformly. Deadlines, both flexibilities of the paper:

* ``next_workday``: the original finish (arrival + duration) if it falls on a workday between
  09:00 and 17:00, else the next workday 09:00 after it;
* ``semi_weekly``: the next Monday or Thursday 09:00 at or after the original finish.

Forecasts: the true series plus Gaussian noise of standard deviation 0, 5 or 10 % of the
series' mean (``forecast_with_noise``), seeds 0–9 per cell (one seed suffices at 0 %); savings
are averaged over the seeds. Saving = 1 − emissions / emissions of run-on-arrival, emissions
always counted on the true series.

Strategies: ``run_on_arrival`` (baseline), ``lwa_non_interrupting``, ``lwa_interrupting``,
``ours`` (``denoised_interrupting``: LWA interrupting on a Wiener-denoised forecast, told the
forecast's error standard deviation as a forecaster knows it from validation) and ``bound``
(``perfect_information``: interrupting on the true series, the optimum without capacity limits).

Measures (last stdout line, one JSON object)
--------------------------------------------
cells
    ``{region, flexibility, error, strategy, saving_pct}`` for every region, flexibility, error
    (%) and strategy.
ours_beats_lwa_everywhere
    ours ≥ both LWA strategies (mean saving) in every region × flexibility × error cell.
ours_beats_lwa_in_every_seed
    The same for every single forecast seed, not only on average.
gap_to_bound_pct_at_0
    Per region (worst flexibility) and ``max``: ours' emissions above the bound at 0 % error,
    in % of the bound's emissions.
seconds, strategy_seconds
    Wall time of the whole run; time of one call of each strategy on the German year with the
    semi-weekly windows (best of 3).
valid_plans
    Every plan of the first seed, and the bound's, passes ``check_plan``.

``--quick``: Germany, 2 seeds, jobs arriving in January–March only (same generator).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the sibling module below
from machine import machine_info
from suandian.compute.jobs import JobTable
from suandian.compute.signals import Signal, forecast_with_noise
from suandian.compute.strategies import (
    Placement,
    denoised_interrupting,
    emissions_kgco2,
    lwa_interrupting,
    lwa_non_interrupting,
    perfect_information,
    run_on_arrival,
)
from suandian.compute.validate import check_plan
from suandian.sim.carbon_intensity import default_shared_data_dir, load_carbon_intensity

N_JOBS = 3387
YEAR_START = pd.Timestamp("2020-01-01", tz="UTC")
YEAR_END = pd.Timestamp("2021-01-01", tz="UTC")
SIGNAL_END = pd.Timestamp("2021-01-09", tz="UTC")
STEP = pd.Timedelta(minutes=30)
REGIONS = ("de", "gb", "fr")
FLEXIBILITIES = ("next_workday", "semi_weekly")
ERRORS_PCT = (0.0, 5.0, 10.0)
SEEDS = 10
STRATEGIES = ("lwa_non_interrupting", "lwa_interrupting", "ours", "bound")
SITE = "dc"


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _next_0900(after: pd.Timestamp, weekdays: set[int]) -> pd.Timestamp:
    """The first 09:00 at or after ``after`` on one of ``weekdays`` (Mon = 0)."""
    day = after.normalize() + pd.Timedelta(hours=9)
    if day < after:
        day += pd.Timedelta(days=1)
    while day.weekday() not in weekdays:
        day += pd.Timedelta(days=1)
    return day


def make_jobs(flexibility: str, arrive_before: pd.Timestamp = YEAR_END) -> JobTable:
    """The paper's 3,387 ML-training jobs (see the module docstring), with one flexibility."""
    rng = np.random.default_rng(0)
    days = pd.date_range(YEAR_START, YEAR_END, freq="D", inclusive="left")
    workdays = days[days.day_of_week < 5]
    per_day = rng.multinomial(N_JOBS, np.full(len(workdays), 1.0 / len(workdays)))
    day_of_job = np.repeat(np.arange(len(workdays)), per_day)
    arrival_step = rng.integers(0, 16, size=N_JOBS)  # 09:00 … 16:30
    duration_steps = rng.integers(8, 181, size=N_JOBS)  # 4 h … 90 h
    release = workdays[day_of_job] + pd.Timedelta(hours=9) + arrival_step * STEP
    finish = release + duration_steps * STEP
    deadlines = []
    for end in finish:
        if flexibility == "next_workday":
            clock = end - end.normalize()
            in_hours = pd.Timedelta(hours=9) <= clock <= pd.Timedelta(hours=17)
            deadlines.append(
                end if end.weekday() < 5 and in_hours else _next_0900(end, {0, 1, 2, 3, 4})
            )
        else:
            deadlines.append(_next_0900(end, {0, 3}))
    keep = np.asarray(release < arrive_before)
    return JobTable.from_arrays(
        ids=[f"ml-{i:04d}" for i in np.flatnonzero(keep)],
        power_mw=1.0,
        duration_steps=duration_steps[keep],
        release_utc=release[keep],
        deadline_utc=pd.DatetimeIndex(deadlines)[keep],
        sites=(SITE,),
        interruptible=True,
        checkpoint_steps=1,
        step_min=30,
    )


def _plans(
    jobs: JobTable, truth: Signal, forecast: Signal, error_std: float
) -> dict[str, Callable[[], Placement]]:
    return {
        "lwa_non_interrupting": lambda: lwa_non_interrupting(jobs, forecast),
        "lwa_interrupting": lambda: lwa_interrupting(jobs, forecast),
        "ours": lambda: denoised_interrupting(jobs, forecast, error_std=error_std),
        "bound": lambda: perfect_information(jobs, truth),
    }


def run(regions: tuple[str, ...], seeds: int, arrive_before: pd.Timestamp) -> dict[str, Any]:
    signal_end = min(SIGNAL_END, arrive_before + pd.Timedelta(days=10))
    cells: list[dict[str, Any]] = []
    savings: dict[tuple[str, str, float, str], float] = {}
    valid = True
    every_seed = True
    job_sets = {flex: make_jobs(flex, arrive_before) for flex in FLEXIBILITIES}
    for region in regions:
        truth = load_carbon_intensity(
            region, start_utc=YEAR_START, end_utc=signal_end, data_dir=_DATA_DIR
        )
        for flex, jobs in job_sets.items():
            base = emissions_kgco2(jobs, run_on_arrival(jobs, truth), truth).sum()
            best = perfect_information(jobs, truth)
            bound = emissions_kgco2(jobs, best, truth).sum()
            if problems := check_plan(jobs, best.to_plan(jobs, site=SITE, grid=truth)):
                valid = False
                log(f"{region} {flex} bound: {problems[:3]}")
            for error in ERRORS_PCT:
                runs: dict[str, list[float]] = {s: [] for s in STRATEGIES}
                for seed in range(seeds if error > 0 else 1):
                    noisy = forecast_with_noise(truth.values, error, np.random.default_rng(seed))
                    forecast = truth.with_values(noisy)
                    # The forecaster's stated error level: a share of its own forecast's
                    # mean (the noise has zero mean), never of the true series.
                    error_std = error / 100.0 * float(forecast.values.mean())
                    for name, plan in _plans(jobs, truth, forecast, error_std).items():
                        if name == "bound":
                            runs[name].append(1.0 - bound / base)
                            continue
                        placement = plan()
                        if seed == 0:
                            problems = check_plan(
                                jobs, placement.to_plan(jobs, site=SITE, grid=truth)
                            )
                            if problems:
                                valid = False
                                log(f"{region} {flex} {error}% {name}: {problems[:3]}")
                        e = emissions_kgco2(jobs, placement, truth).sum()
                        runs[name].append(1.0 - e / base)
                every_seed &= all(
                    o >= max(a, b) - 1e-12
                    for o, a, b in zip(
                        runs["ours"],
                        runs["lwa_interrupting"],
                        runs["lwa_non_interrupting"],
                        strict=True,
                    )
                )
                for name, values in runs.items():
                    saving = 100.0 * float(np.mean(values))
                    savings[region, flex, error, name] = saving
                    cells.append(
                        {
                            "region": region,
                            "flexibility": flex,
                            "error": error,
                            "strategy": name,
                            "saving_pct": round(saving, 3),
                        }
                    )
                log(
                    f"{region} {flex:12s} error {error:4.1f} %: "
                    + ", ".join(f"{s} {savings[region, flex, error, s]:6.2f} %" for s in STRATEGIES)
                )
    beats = all(
        savings[r, f, e, "ours"] >= savings[r, f, e, lwa] - 1e-9
        for r in regions
        for f in FLEXIBILITIES
        for e in ERRORS_PCT
        for lwa in ("lwa_non_interrupting", "lwa_interrupting")
    )
    gap_by_flex = {
        r: {
            f: round(
                100.0
                * (
                    (1.0 - savings[r, f, 0.0, "ours"] / 100.0)
                    / (1.0 - savings[r, f, 0.0, "bound"] / 100.0)
                    - 1.0
                ),
                4,
            )
            for f in FLEXIBILITIES
        }
        for r in regions
    }
    gap = {r: max(g.values()) for r, g in gap_by_flex.items()}
    gap["max"] = max(gap.values())
    return {
        "cells": cells,
        "ours_beats_lwa_everywhere": beats,
        "ours_beats_lwa_in_every_seed": every_seed,
        "gap_to_bound_pct_at_0": gap,
        "gap_to_bound_pct_at_0_by_flexibility": gap_by_flex,
        "valid_plans": valid,
    }


def time_strategies(arrive_before: pd.Timestamp) -> dict[str, float]:
    """Best of 3 of one call of each strategy on Germany, semi-weekly windows, 10 % error."""
    jobs = make_jobs("semi_weekly", arrive_before)
    end = min(SIGNAL_END, arrive_before + pd.Timedelta(days=10))
    truth = load_carbon_intensity("de", start_utc=YEAR_START, end_utc=end, data_dir=_DATA_DIR)
    error_std = 0.1 * float(truth.values.mean())
    forecast = truth.with_values(forecast_with_noise(truth.values, 10.0, np.random.default_rng(0)))
    calls = {"run_on_arrival": lambda: run_on_arrival(jobs, truth)}
    calls.update(_plans(jobs, truth, forecast, error_std))
    out = {}
    for name, call in calls.items():
        best = np.inf
        for _ in range(3):
            t0 = time.perf_counter()
            call()
            best = min(best, time.perf_counter() - t0)
        out[name] = round(best, 4)
    return out


_DATA_DIR: Path | None = None
"""Where the carbon-intensity CSVs are; None: the shared data directory."""
_SLICE_DIR = Path(__file__).resolve().parents[1] / "tests" / "compute" / "data"
"""January–April 2020 of the German series, kept with the tests."""


def main(argv: list[str] | None = None) -> None:
    global _DATA_DIR
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="Germany, 2 seeds, Jan–Mar only")
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    if args.quick:
        regions, seeds, before = ("de",), 2, pd.Timestamp("2020-04-01", tz="UTC")
        if not (default_shared_data_dir() / "carbon-intensity-2020" / "ger_ci.csv").is_file():
            _DATA_DIR = _SLICE_DIR
            log(f"shared data not found; --quick uses the German slice in {_SLICE_DIR}")
    else:
        regions, seeds, before = REGIONS, SEEDS, YEAR_END
    log(f"lets_wait_awhile: regions {regions}, {seeds} seeds, jobs arriving before {before.date()}")
    result = run(regions, seeds, before)
    strategy_seconds = time_strategies(before)
    report = {
        "benchmark": "lets_wait_awhile",
        "quick": args.quick,
        "jobs": len(make_jobs("semi_weekly", before)),
        "flexibilities": list(FLEXIBILITIES),
        "seeds": seeds,
        **result,
        "strategy_seconds": strategy_seconds,
        "seconds": round(time.perf_counter() - t0, 2),
        "machine": machine_info(("numpy", "pandas")),
    }
    print(json.dumps(report, ensure_ascii=False))


if __name__ == "__main__":
    main()
