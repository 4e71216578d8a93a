"""``suandian dispatch``: plan a simulated park's storage, flexible load and grid tie.

Mounted on the main app as ``app.add_typer(dispatch_app, name="dispatch")``. ``run`` simulates
the period, solves the dispatch LP (one solve, or a rolling horizon with ``--rolling 48/24``),
runs the rule-based baseline on the same inputs, prints both side by side and writes both
schedules as CSV. The demo (``suandian demo``) reuses :func:`plan_site`
(:mod:`suandian.sim.site_dispatch`, which ``POST /v1/dispatch/plans`` plans with too) and
:func:`print_comparison`. Errors are :class:`~suandian.core.errors.SuandianError` subclasses
(``suandian.cli.main`` prints them as one message and exits 1) or Typer's usage errors for
malformed options (exit 2).
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, cast

import typer
from rich.console import Console
from rich.table import Table

from suandian.core.times import LOCAL_TZ, parse_local_date
from suandian.sim.site_dispatch import Comparison, plan_site

if TYPE_CHECKING:
    # The solver, pvlib and windpowerlib load only when a command needs them, so that
    # `suandian --help` and the other commands start fast.
    from suandian.dispatch import DispatchResult, Objective

__all__ = [
    "Comparison",
    "comparison_json",
    "dispatch_app",
    "parse_rolling",
    "plan_site",
    "print_comparison",
]

dispatch_app = typer.Typer(
    help="Dispatch (源网荷储一体化): storage, flexible compute load and the grid tie.",
    no_args_is_help=True,
)

# No console markup: scenario names and messages are user text and may hold brackets.
out = Console(markup=False, width=None if sys.stdout.isatty() else 160)

_ROLLING = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*/\s*(\d+(?:\.\d+)?)\s*$")


def parse_rolling(text: str, resolution_min: int) -> tuple[int, int]:
    """``"48/24"`` (hours planned / hours committed) → (window, commit) in intervals.

    Raises :class:`typer.BadParameter` with the reason and an example.
    """
    match = _ROLLING.match(text)
    if not match:
        raise typer.BadParameter(
            f"{text!r} is not WINDOW/COMMIT in hours; write e.g. 48/24 (plan 48 h, keep 24 h)",
            param_hint="--rolling",
        )
    window_h, commit_h = float(match[1]), float(match[2])
    if commit_h <= 0 or commit_h > window_h:
        raise typer.BadParameter(
            f"{text!r}: the committed hours ({commit_h:g}) must be > 0 and at most the window "
            f"({window_h:g} h); write e.g. 48/24",
            param_hint="--rolling",
        )
    steps_per_h = 60.0 / resolution_min
    window, commit = window_h * steps_per_h, commit_h * steps_per_h
    if abs(window - round(window)) > 1e-9 or abs(commit - round(commit)) > 1e-9:
        raise typer.BadParameter(
            f"{text!r}: both figures must be whole multiples of the {resolution_min}-min interval",
            param_hint="--rolling",
        )
    return round(window), round(commit)


_LABELS = {
    "en": {
        "title": "Dispatch",
        "figure": "figure",
        "optimised": "optimised",
        "rules": "rule-based",
        "change": "change",
        "at": "at",
    },
    "zh": {
        "title": "源网荷储调度",
        "figure": "指标",
        "optimised": "优化",
        "rules": "规则",
        "change": "变化",
        "at": "分辨率",
    },
}
_FIGURES_ZH = {
    "cost_cny": "购电成本 [CNY]",
    "import_mwh": "电网购电 [MWh]",
    "export_mwh": "上网电量 [MWh]",
    "emissions_tco2": "排放（基于位置）[tCO₂]",
    "green_share_pu": "绿电占比（1 − 购电 / 用电）",
    "curtailment_mwh": "弃电 [MWh]",
    "battery_cycles": "储能等效满循环",
    "unserved_mwh": "未供负荷 [MWh]",
}


def _cell(key: str, value: float) -> str:
    if key == "green_share_pu":
        return f"{value:.1%}"
    if key == "battery_cycles":
        return f"{value:,.1f}"
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.1f}"


def _change(key: str, new: float, old: float) -> str:
    if key == "green_share_pu":
        return f"{(new - old) * 100:+.1f} pp"
    if old == 0:
        return "—"
    return f"{(new - old) / abs(old):+.1%}"


def print_comparison(console: Console, c: Comparison, lang: str = "en") -> None:
    """The two plans side by side, one figure per row, with the optimiser's notes below."""
    from suandian.dispatch import FIGURES, key_figures

    lab = _LABELS[lang]
    opt, base = key_figures(c.optimised), key_figures(c.rules)
    table = Table(
        title=f"{lab['title']} · {c.site} · {c.horizon} · {lab['at']} {c.resolution_min} min · "
        f"{c.optimised.objective}"
    )
    table.add_column(lab["figure"])
    table.add_column(f"{lab['optimised']} ({c.optimised.method})", justify="right")
    table.add_column(lab["rules"], justify="right")
    table.add_column(lab["change"], justify="right")
    for key, label in FIGURES.items():
        name = _FIGURES_ZH[key] if lang == "zh" else label
        table.add_row(
            name, _cell(key, opt[key]), _cell(key, base[key]), _change(key, opt[key], base[key])
        )
    table.caption = f"{c.optimised.status} · HiGHS {c.optimised.solve_time_s:.2f} s" + (
        f" · {c.optimised.diagnosis}" if c.optimised.diagnosis else ""
    )
    console.print(table)


def comparison_json(c: Comparison) -> dict[str, object]:
    """The comparison as plain JSON values."""
    from suandian.dispatch import key_figures

    def side(r: DispatchResult) -> dict[str, object]:
        return {
            "method": r.method,
            "status": r.status,
            "solve_time_s": r.solve_time_s,
            **key_figures(r),
            "diagnosis": r.diagnosis,
            "notes": list(r.notes),
        }

    return {
        "site": c.site,
        "objective": c.optimised.objective,
        "horizon": c.horizon,
        "resolution_min": c.resolution_min,
        "intervals": c.inputs.n_steps,
        "optimised": side(c.optimised),
        "rules": side(c.rules),
    }


def _write_schedules(c: Comparison, out_dir: Path, stem: str) -> dict[str, Path]:
    from suandian.dispatch import schedule_frame

    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {}
    for label, result in (("optimised", c.optimised), ("rules", c.rules)):
        path = out_dir / f"{stem}-{label}.csv"
        schedule_frame(c.inputs, result).to_csv(path, index=False)
        paths[label] = path
    return paths


@dispatch_app.command("run")
def dispatch_run(
    scenario: Annotated[str, typer.Option(help="Bundled scenario name or YAML file.")] = "xining",
    days: Annotated[
        int | None, typer.Option(min=1, help="Days to simulate and plan (default: one year).")
    ] = None,
    start: Annotated[
        str | None, typer.Option(help="First local day, YYYY-MM-DD (default: 1 Jan of the year).")
    ] = None,
    objective: Annotated[
        str, typer.Option(help="cost, carbon, cost+carbon or green (least grid import).")
    ] = "cost",
    rolling: Annotated[
        str | None,
        typer.Option(
            help="Rolling horizon WINDOW/COMMIT in hours, e.g. 48/24 (default: one solve)."
        ),
    ] = None,
    resolution: Annotated[int, typer.Option(help="Dispatch interval: 15, 30 or 60 min.")] = 60,
    site: Annotated[
        str | None, typer.Option(help="Site to plan (needed when several hold assets).")
    ] = None,
    time_limit: Annotated[
        float | None, typer.Option(min=0.001, help="HiGHS time limit per solve. [s]")
    ] = None,
    carbon_price: Annotated[
        float,
        typer.Option(min=0.0, help="Carbon price for --objective cost+carbon. [CNY/tCO₂]"),
    ] = 100.0,
    direct_connection: Annotated[
        bool,
        typer.Option(
            "--direct-connection/--no-direct-connection",
            help="Require the scenario's direct-connection (绿电直连) shares: self-consumption "
            "and on-site green share over the period (not with --rolling).",
        ),
    ] = False,
    green_target: Annotated[
        float | None,
        typer.Option(
            min=0.0,
            max=1.0,
            help="Least hourly-matched green share on every local day, e.g. 0.8 (the hub "
            "rule); with --rolling the windows commit whole days.",
        ),
    ] = None,
    out_dir: Annotated[
        Path, typer.Option("--out", help="Directory for the schedule CSV files.")
    ] = Path("suandian-out"),
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the comparison as one JSON object.")
    ] = False,
    lang: Annotated[str, typer.Option(help="Table language: zh or en.")] = "zh",
) -> None:
    """Plan the park's dispatch and compare it with the rule-based baseline.

    Prints cost, grid import, emissions, green share, curtailment and battery cycles of both
    plans and writes each schedule (one row per interval, UTC start, local time, every
    variable in MW) to --out.
    """
    from suandian.dispatch import OBJECTIVES
    from suandian.scenario import load_scenario
    from suandian.sim.park import simulate

    if objective not in OBJECTIVES:
        raise typer.BadParameter(
            f"{objective!r}; use one of {', '.join(OBJECTIVES)}", param_hint="--objective"
        )
    if resolution not in (15, 30, 60):
        raise typer.BadParameter(f"{resolution}; use 15, 30 or 60", param_hint="--resolution")
    if lang not in ("zh", "en"):
        raise typer.BadParameter(f"{lang!r}; use zh or en", param_hint="--lang")
    window_commit = None if rolling is None else parse_rolling(rolling, resolution)
    park = load_scenario(scenario)
    first = parse_local_date(start, "--start") if start else None
    series = simulate(park, start=first, days=days)
    c = plan_site(
        park,
        series,
        site=site,
        objective=cast("Objective", objective),
        resolution_min=resolution,
        rolling=window_commit,
        time_limit_s=time_limit,
        carbon_price_cny_per_tco2=carbon_price,
        direct_connection=direct_connection,
        green_target_pu=green_target,
    )
    index = c.inputs.index_utc
    assert index is not None
    first_day = index[0].tz_convert(LOCAL_TZ).date()
    n_days = round(c.inputs.n_steps * c.inputs.interval_h / 24.0)
    stem = f"dispatch-{park.name}-{c.site}-{first_day.isoformat()}-{n_days}d-{objective}"
    paths = _write_schedules(c, out_dir, stem)
    if as_json:
        payload = {
            "scenario": park.name,
            "start_local_date": first_day.isoformat(),
            "days": n_days,
            **comparison_json(c),
            "schedules": {k: str(v) for k, v in paths.items()},
        }
        sys.stdout.write(json.dumps(payload, ensure_ascii=False) + "\n")
        return
    print_comparison(out, c, lang)
    for note in c.optimised.notes:
        out.print(f"· {note}")
    for label, path in paths.items():
        out.print(f"schedule ({label}): {path}")
