"""Benchmark: how much the closed loop gains from more flexibility at one site (xining, nanchuan).

What runs
---------
For each variant, the bundled ``xining`` scenario is read as a plain mapping, fields of the data
center ``dc-nanchuan`` and of the battery ``bess-nanchuan`` are changed, the mapping is written to
a YAML file in a temporary directory and loaded with ``suandian.scenario.load_scenario(path)``, so
that every variant goes through the scenario's full validation. Then, at the loop's hourly
resolution on site ``nanchuan``::

    series = simulate(park)                                   (the whole year, or --days)
    loop   = site_loop(park, series, site="nanchuan")         (default forecast error)
    loop_p = site_loop(..., forecast_error=PERFECT_FORECAST)  (perfect foresight)
    uncoordinated = settle(operate_uncoordinated(loop), loop)
    forecast      = settle(operate_coordinated(loop), loop, reference=uncoordinated)
    perfect       = settle(operate_coordinated(loop_p), loop_p, reference=uncoordinated)

The coordinated runs use the loop's defaults (objective ``green``, plan 48 h, keep 24 h) except
where a variant sets the planning window.

The variants
------------
v1   as is: hall 40 MW, 25 % deferrable, 24 h deferral window, battery 50 MW / 200 MWh
v2   hall (IT capacity) 60 MW
v3   50 % deferrable
v4   50 % deferrable and hall 60 MW
v5   72 h deferral window and hall 60 MW
v6   battery ×2: 100 MW / 400 MWh
v5b  as v5, with a 96 h planning window, which covers the 72 h deadline

Measures (last stdout line, one JSON object)
--------------------------------------------
variants
    One object a variant: ``variant``, ``label``, the changes (``data_center``, ``battery``,
    ``window_h``), and for each run (``uncoordinated``, ``forecast``, ``perfect``):
    ``green_share_pct`` (hourly on-site green match), ``cost_mcny``, ``curtailment_mwh``,
    ``unserved_mwh``, ``deadline_misses_mwh``, ``consumption_mwh``, ``flexible_mwh`` and
    ``stored_change_mwh`` (see ``suandian.sim.closed_loop.Figures``). ``binds_pct`` (coordinated
    runs only): over the curtailed hours (``curtailed_h``), the % of them with the battery at
    ``soc_max``, the battery charging at ``p_max``, the data center's flexible load at the hall's
    headroom, and export at its cap: what limits the absorption of the surplus.
    ``notes``: the coordinated runs' notes beyond the first (windows that fell back to the rules,
    flexible load that did not fit). ``seconds_sim`` / ``seconds_loop``: the simulation / the
    three runs. A variant that fails carries ``error`` instead.
days, seconds, machine
    Days simulated (``null`` for the whole year); wall time of all variants.

The tables of these figures (markdown) are printed to stdout before the JSON line.

Run::

    .venv/bin/python benchmarks/closed_loop_flexibility.py [--variants v1,v5b] [--days 14]

``--days N`` simulates N days from 1 January of the scenario's year instead of the whole year.
The whole year of all seven variants takes about 30 s.
"""

from __future__ import annotations

import argparse
import copy
import datetime as dt
import json
import sys
import tempfile
import time
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from machine import machine_info
from suandian.scenario import load_scenario
from suandian.scenario.model import Park
from suandian.sim.closed_loop import (
    WINDOW_H,
    Figures,
    Operation,
    SiteLoop,
    operate_coordinated,
    operate_uncoordinated,
    settle,
    site_loop,
)
from suandian.sim.dispatch_inputs import flexible_by_asset
from suandian.sim.forecast import PERFECT_FORECAST
from suandian.sim.park import ParkSeries, simulate

SITE = "nanchuan"
DC = "dc-nanchuan"
BESS = "bess-nanchuan"
RUNS = ("uncoordinated", "forecast", "perfect")
COORDINATED = ("forecast", "perfect")
TOL_MW = 1e-3
"""A battery or load within this of its limit counts as at the limit. [MW or MWh]"""


@dataclass(frozen=True)
class Variant:
    key: str
    label: str
    data_center: dict[str, float] = field(default_factory=dict)
    """Fields of ``dc-nanchuan`` to change."""
    battery: dict[str, float] = field(default_factory=dict)
    """Fields of ``bess-nanchuan`` to change."""
    window_h: float = WINDOW_H
    """Planning window of the coordinated runs."""


VARIANTS: dict[str, Variant] = {
    v.key: v
    for v in (
        Variant("v1", "1 as is (40 MW, 25 %, 24 h, 50 MW/200 MWh)"),
        Variant("v2", "2 hall 60 MW", {"it_capacity_mw": 60}),
        Variant("v3", "3 deferrable 50 %", {"deferrable_share_pu": 0.5}),
        Variant(
            "v4",
            "4 deferrable 50 % + hall 60 MW",
            {"deferrable_share_pu": 0.5, "it_capacity_mw": 60},
        ),
        Variant(
            "v5",
            "5 window 72 h + hall 60 MW",
            {"deferral_window_h": 72, "it_capacity_mw": 60},
        ),
        Variant("v6", "6 battery ×2 (100 MW/400 MWh)", battery={"p_mw": 100, "e_mwh": 400}),
        Variant(
            "v5b",
            "5b window 72 h + hall 60 MW, LP window 96 h",
            {"deferral_window_h": 72, "it_capacity_mw": 60},
            window_h=96,
        ),
    )
}


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def base_data() -> dict[str, Any]:
    """The bundled ``xining.yaml`` as a plain mapping."""
    text = resources.files("suandian.scenario.data").joinpath("xining.yaml").read_text("utf-8")
    data: dict[str, Any] = yaml.safe_load(text)
    return data


def variant_data(base: dict[str, Any], variant: Variant) -> dict[str, Any]:
    """``base`` with the variant's changes to the data center and the battery."""
    data = copy.deepcopy(base)
    (dc,) = [d for d in data["data_centers"] if d["id"] == DC]
    dc.update(variant.data_center)
    (bess,) = [b for b in data["batteries"] if b["id"] == BESS]
    bess.update(variant.battery)
    return data


def binding(loop: SiteLoop, op: Operation) -> dict[str, float]:
    """What limits the coordinated run ``op`` over the hours with curtailment."""
    inputs = loop.inputs
    result = op.result
    assert result is not None, "a coordinated run carries its schedule"
    curtailed = op.available_mw - op.generation_mw > 1e-6
    (battery,) = inputs.batteries
    full = result.battery_soe_mwh[0] >= battery.soc_max_pu * battery.e_mwh - TOL_MW
    at_p_max = result.battery_charge_mw[0] >= battery.p_mw - TOL_MW
    (group,) = [g for g in inputs.flex_groups if g.name == DC]
    dc_mw = flexible_by_asset(inputs, result).get(DC, np.zeros(inputs.n_steps))
    dc_at_cap = dc_mw >= group.cap_mw - TOL_MW
    export_at_cap = op.export_mw >= inputs.export_cap_mw - TOL_MW
    n = int(curtailed.sum())

    def pct(mask: np.ndarray[Any, np.dtype[np.bool_]]) -> float:
        return 100.0 * float((mask & curtailed).sum()) / max(n, 1)

    return {
        "curtailed_h": n * inputs.interval_h,
        "battery_full": pct(full),
        "battery_at_p_max": pct(at_p_max),
        "dc_at_headroom": pct(dc_at_cap),
        "export_at_cap": pct(export_at_cap),
    }


def per_run(figures: dict[str, Figures], name: str, scale: float = 1.0) -> dict[str, float]:
    """One figure of the three runs, scaled."""
    return {run: float(getattr(fig, name)) * scale for run, fig in figures.items()}


def rounded(value: Any, digits: int = 3) -> Any:
    """``value`` with every float in it rounded, for the JSON line."""
    if isinstance(value, float):
        return round(value, digits)
    if isinstance(value, dict):
        return {k: rounded(v, digits) for k, v in value.items()}
    if isinstance(value, list):
        return [rounded(v, digits) for v in value]
    return value


def run_variant(
    variant: Variant, base: dict[str, Any], tmp: Path, days: int | None
) -> dict[str, Any]:
    row: dict[str, Any] = {
        "variant": variant.key,
        "label": variant.label,
        "data_center": variant.data_center,
        "battery": variant.battery,
        "window_h": variant.window_h,
    }
    path = tmp / f"xining_{variant.key}.yaml"
    text = yaml.safe_dump(variant_data(base, variant), allow_unicode=True, sort_keys=False)
    path.write_text(text, encoding="utf-8")
    t0 = time.perf_counter()
    try:
        park: Park = load_scenario(path)
        series: ParkSeries = (
            simulate(park)
            if days is None
            else simulate(park, start=dt.date(park.year, 1, 1), days=days)
        )
        t1 = time.perf_counter()
        loop = site_loop(park, series, site=SITE)
        loop_p = site_loop(park, series, site=SITE, forecast_error=PERFECT_FORECAST)
        unc = operate_uncoordinated(loop)
        coo = operate_coordinated(loop, window_h=variant.window_h)
        coo_p = operate_coordinated(loop_p, window_h=variant.window_h)
        t2 = time.perf_counter()
    except Exception as exc:  # a variant the scenario rejects, or a failed run: record it
        row["error"] = f"{type(exc).__name__}: {exc}"
        return row
    figures = {
        "uncoordinated": settle(unc, loop),
        "forecast": settle(coo, loop, reference=unc),
        "perfect": settle(coo_p, loop_p, reference=unc),
    }
    # The first note says how the run was planned; any further ones report windows that fell
    # back to the rules or flexible load that did not fit.
    warnings = {
        run: list(op.result.notes[1:]) if op.result is not None else []
        for run, op in (("forecast", coo), ("perfect", coo_p))
    }
    for run, notes in warnings.items():
        for note in notes:
            log(f"  [{variant.key}] {run}: {note}")
    row.update(
        green_share_pct=per_run(figures, "green_share_pu", 100.0),
        cost_mcny=per_run(figures, "cost_cny", 1e-6),
        curtailment_mwh=per_run(figures, "curtailment_mwh"),
        unserved_mwh=per_run(figures, "unserved_mwh"),
        deadline_misses_mwh=per_run(figures, "deadline_misses_mwh"),
        consumption_mwh=per_run(figures, "consumption_mwh"),
        flexible_mwh=per_run(figures, "flexible_mwh"),
        stored_change_mwh=per_run(figures, "stored_change_mwh"),
        binds_pct={"forecast": binding(loop, coo), "perfect": binding(loop_p, coo_p)},
        notes=warnings,
        seconds_sim=round(t1 - t0, 2),
        seconds_loop=round(t2 - t1, 2),
    )
    return row


def tables(rows: list[dict[str, Any]]) -> str:
    """The figures as three markdown tables."""
    ok = [r for r in rows if "error" not in r]
    out = [
        "| variant | green share % uncoordinated | coordinated forecast | coordinated perfect "
        "| cost MCNY uncoordinated | coordinated forecast | coordinated perfect |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        if "error" in r:
            out.append(f"| {r['label']} | error: {r['error']} | | | | | |")
            continue
        g, c = r["green_share_pct"], r["cost_mcny"]
        out.append(
            f"| {r['label']} | "
            + " | ".join(f"{g[k]:.1f}" for k in RUNS)
            + " | "
            + " | ".join(f"{c[k]:.2f}" for k in RUNS)
            + " |"
        )
    out += [
        "",
        "Curtailment and other figures [MWh]:",
        "",
        "| variant | curt. unc | curt. coord fc | curt. coord perf | unserved unc/fc/perf "
        "| deadline misses fc/perf | consumption | flexible (coord) | stored change unc/fc/perf |",
        "|---|---:|---:|---:|---|---|---:|---:|---|",
    ]
    for r in ok:
        cu, un, dm, st = (
            r["curtailment_mwh"],
            r["unserved_mwh"],
            r["deadline_misses_mwh"],
            r["stored_change_mwh"],
        )
        out.append(
            f"| {r['label']} | "
            + " | ".join(f"{cu[k]:,.0f}" for k in RUNS)
            + " | "
            + "/".join(f"{un[k]:.1f}" for k in RUNS)
            + " | "
            + "/".join(f"{dm[k]:.1f}" for k in COORDINATED)
            + f" | {r['consumption_mwh']['uncoordinated']:,.0f}"
            + f" | {r['flexible_mwh']['forecast']:,.0f} | "
            + "/".join(f"{st[k]:.0f}" for k in RUNS)
            + " |"
        )
    out += [
        "",
        "What binds in curtailed hours (coordinated forecast / perfect): % of curtailed hours "
        "with the battery at soc_max, the battery charging at p_max, the data center's flexible "
        "load at the hall's headroom, export at its cap:",
        "",
        "| variant | curtailed h | batt full | batt at p_max | DC at headroom | export at cap |",
        "|---|---|---|---|---|---|",
    ]
    for r in ok:
        a, b = r["binds_pct"]["forecast"], r["binds_pct"]["perfect"]
        cells = [f"{a['curtailed_h']:.0f} / {b['curtailed_h']:.0f}"] + [
            f"{a[k]:.0f} / {b[k]:.0f}"
            for k in ("battery_full", "battery_at_p_max", "dc_at_headroom", "export_at_cap")
        ]
        out.append(f"| {r['label']} | " + " | ".join(cells) + " |")
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--variants",
        default=",".join(VARIANTS),
        help=f"comma-separated keys (default all: {','.join(VARIANTS)})",
    )
    parser.add_argument(
        "--days", type=int, default=None, help="days from 1 January (default the whole year)"
    )
    args = parser.parse_args()
    keys = [k.strip() for k in args.variants.split(",") if k.strip()]
    unknown = [k for k in keys if k not in VARIANTS]
    if unknown or not keys:
        parser.error(f"--variants: unknown {unknown}; choose from {','.join(VARIANTS)}")

    base = base_data()
    rows: list[dict[str, Any]] = []
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for key in keys:
            t = time.perf_counter()
            row = run_variant(VARIANTS[key], base, Path(tmp), args.days)
            rows.append(row)
            if "error" in row:
                log(f"[{key}] error: {row['error']}")
            else:
                g = row["green_share_pct"]
                log(
                    f"[{key}] green share {g['uncoordinated']:.1f} / {g['forecast']:.1f} / "
                    f"{g['perfect']:.1f} % in {time.perf_counter() - t:.1f} s"
                )
    seconds = time.perf_counter() - start

    print(tables(rows))
    result = {
        "benchmark": "closed_loop_flexibility",
        "scenario": "xining",
        "site": SITE,
        "days": args.days,
        "variants": rounded(rows),
        "seconds": round(seconds, 2),
        "machine": machine_info(("numpy", "scipy", "highspy", "pydantic")),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
