"""``suandian vpp``: the park as a virtual power plant (虚拟电厂) answering demand-response events.

Mounted on the main app as ``app.add_typer(vpp_app, name="vpp")``. ``week`` runs the
demonstration week of :func:`suandian.sim.vpp_week.vpp_week` (a midday valley-filling and an
evening peak-shaving event a day) and prints, per event, what was asked, committed, delivered
and paid, and what it cost in re-planning and job delays; ``--out`` writes the settlement
reports and an HTML figure of the week. Options the command refuses are Typer usage errors
naming the option (exit 2); other suandian errors exit 1 (``suandian.cli.main``).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from suandian.cli_progress import stage_progress
from suandian.core.errors import SuandianError
from suandian.core.times import LOCAL_TZ, parse_local_date

if TYPE_CHECKING:
    # The simulation, the solver and Plotly load only when the command runs.
    import plotly.graph_objects as go

    from suandian.sim.vpp_week import VppWeek, WeekEvent

__all__ = ["VPP_WEEK_FIGURE", "vpp_app", "week_json", "write_week_figure"]

vpp_app = typer.Typer(
    help="Virtual power plant (虚拟电厂): demand-response events answered, delivered, settled.",
    no_args_is_help=True,
)

# No console markup: scenario names and messages are user text and may hold brackets.
out = Console(markup=False, width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True, markup=False)

VPP_WEEK_FIGURE = "vpp-week.html"
_OPTIONS = {
    "start": "--start",
    "site": "--site",
    "days": "--days",
    "history_days": "--history-days",
    "resolution_min": "--resolution",
}
_DIRECTION_LABEL = {"increase": "valley", "reduce": "peak"}


def _totals(week: VppWeek) -> dict[str, float | int]:
    events = week.events
    return {
        "events": len(events),
        "accepted": sum(1 for e in events if e.answer == "accepted"),
        "partial": sum(1 for e in events if e.answer == "partial"),
        "rejected": sum(1 for e in events if e.answer == "rejected"),
        "committed_mwh": sum(e.committed_mwh for e in events),
        "delivered_mwh": sum(e.delivered_mwh for e in events),
        "revenue_cny": sum(e.revenue_cny for e in events),
        "penalty_cny": sum(e.penalty_cny for e in events),
        "net_cny": sum(e.net_cny for e in events),
        "replan_cost_cny": sum(e.replan_cost_cny for e in events),
        "delay_mwh_h": sum(e.delay_mwh_h for e in events),
        "unserved_flex_mwh": week.unserved_flex_mwh,
        "deadline_misses": week.deadline_misses,
    }


def _event_json(e: WeekEvent) -> dict[str, object]:
    return {
        "event_id": e.event_id,
        "direction": e.direction,
        "local_date": e.local_date.isoformat(),
        "window_local": e.window_local,
        "start_local": e.start_local.isoformat(),
        "end_local": e.end_local.isoformat(),
        "received_utc": e.received_utc.isoformat(),
        "target_mw": e.target_mw,
        "price_cny_per_kwh": e.price_cny_per_kwh,
        "penalty_cny_per_kwh": e.penalty_cny_per_kwh,
        "answer": e.answer,
        "committed_mw": e.committed_mw,
        "reason": e.reason,
        "delivered_mean_mw": e.delivered_mean_mw,
        "committed_mwh": e.committed_mwh,
        "delivered_mwh": e.delivered_mwh,
        "revenue_cny": e.revenue_cny,
        "penalty_cny": e.penalty_cny,
        "net_cny": e.net_cny,
        "replan_cost_cny": e.replan_cost_cny,
        "delay_mwh_h": e.delay_mwh_h,
        "intervals": [
            {
                "start_utc": t.isoformat(),
                "baseline_mw": float(b),
                "metered_mw": float(m),
                "delivered_mw": float(d),
            }
            for t, b, m, d in zip(
                e.index_utc, e.baseline_mw, e.metered_mw, e.delivered_mw, strict=True
            )
        ],
    }


def week_json(week: VppWeek) -> dict[str, object]:
    """The week as plain JSON values: its events, its days and the totals."""
    return {
        "scenario": week.scenario,
        "site": week.site,
        "start_local_date": week.start.isoformat(),
        "days": week.days,
        "history_days": week.history_days,
        "resolution_min": week.resolution_min,
        "events": [_event_json(e) for e in week.events],
        "week_days": [
            {
                "local_date": d.day.isoformat(),
                "unserved_flex_mwh": d.unserved_flex_mwh,
                "plan_cost_cny": d.plan_cost_cny,
                "notes": list(d.notes),
            }
            for d in week.week_days
        ],
        "totals": _totals(week),
    }


def _money(x: float) -> str:
    text = f"{x:,.0f}"
    return "0" if text == "-0" else text


def _print_week(week: VppWeek, elapsed_s: float) -> None:
    table = Table(
        title=f"VPP week · {week.scenario} · {week.site} · {week.start} · {week.days} d · "
        f"{week.resolution_min} min"
    )
    heads = (
        "date",
        "window",
        "direction",
        "target MW",
        "answer",
        "committed MW",
        "delivered MW",
        "CNY/kWh",
        "revenue CNY",
        "penalty CNY",
        "net CNY",
        "re-plan CNY",
        "delay MWh·h",
    )
    for i, head in enumerate(heads):
        left = i < 3 or head == "answer"
        table.add_column(head, justify="left" if left else "right", no_wrap=left)
    for e in week.events:
        table.add_row(
            e.local_date.isoformat(),
            e.window_local,
            _DIRECTION_LABEL.get(e.direction, e.direction),
            f"{e.target_mw:,.1f}",
            e.answer,
            f"{e.committed_mw:,.2f}",
            f"{e.delivered_mean_mw:,.2f}",
            f"{e.price_cny_per_kwh:.2f}",
            _money(e.revenue_cny),
            _money(e.penalty_cny),
            _money(e.net_cny),
            _money(e.replan_cost_cny),
            f"{e.delay_mwh_h:,.2f}",
        )
    t = _totals(week)
    table.add_row(
        "total",
        "",
        "",
        "",
        f"{t['accepted']}/{t['partial']}/{t['rejected']}",
        f"{t['committed_mwh']:,.1f} MWh",
        f"{t['delivered_mwh']:,.1f} MWh",
        "",
        _money(t["revenue_cny"]),
        _money(t["penalty_cny"]),
        _money(t["net_cny"]),
        _money(t["replan_cost_cny"]),
        f"{t['delay_mwh_h']:,.2f}",
        style="bold",
    )
    table.caption = (
        "answer total: accepted/partial/rejected · delivered: settled against the baseline, "
        f"mean over the window · {elapsed_s:.1f} s"
    )
    out.print(table)
    for e in week.events:
        if e.reason:
            out.print(f"· {e.event_id}: {e.reason}")
    misses = week.deadline_misses
    if misses == 0:
        out.print("no deadline missed (unserved flexible energy 0 MWh on every day)")
    else:
        out.print(
            f"{misses} day(s) with a deadline missed: {week.unserved_flex_mwh:,.3f} MWh of "
            "flexible energy unserved"
        )


def week_figure(week: VppWeek) -> go.Figure:
    """Metered and pre-event planned exchange over the week, each event's baseline and target
    band, event windows shaded (valley filling green, peak shaving orange)."""
    import numpy as np
    import plotly.graph_objects as go

    local = week.index_utc.tz_convert(LOCAL_TZ).tz_localize(None)
    fig = go.Figure()
    fig.add_scatter(
        x=local, y=week.planned_before_mw, name="planned before events", line={"dash": "dot"}
    )
    fig.add_scatter(x=local, y=week.metered_mw, name="metered", line={"width": 2})
    xs: list[object] = []
    base: list[float | None] = []
    goal: list[float | None] = []
    for e in week.events:
        colour = "rgba(46,160,67,0.12)" if e.direction == "increase" else "rgba(230,120,20,0.12)"
        fig.add_vrect(
            x0=e.start_local.replace(tzinfo=None),
            x1=e.end_local.replace(tzinfo=None),
            fillcolor=colour,
            line_width=0,
            annotation_text=f"{e.answer} {e.committed_mw:.1f}/{e.target_mw:.0f} MW",
            annotation_position="top left",
            annotation_font_size=9,
        )
        if e.baseline_mw.size == 0:
            continue
        sign = 1.0 if e.direction == "increase" else -1.0
        t = e.index_utc.tz_convert(LOCAL_TZ).tz_localize(None)
        # One point past the window so the step reaches its end, then a gap.
        xs += [*t, e.end_local.replace(tzinfo=None), None]
        base += [*map(float, e.baseline_mw), float(e.baseline_mw[-1]), None]
        target = e.baseline_mw + sign * e.target_mw
        goal += [*map(float, target), float(target[-1]), None]
    fig.add_scatter(x=xs, y=base, name="settlement baseline", line={"dash": "dash", "shape": "hv"})
    fig.add_scatter(
        x=xs,
        y=goal,
        name="target (baseline ± target)",
        line={"shape": "hv", "width": 0},
        fill="tonexty",
        fillcolor="rgba(120,120,220,0.25)",
    )
    fig.update_layout(
        title=f"VPP week · {week.scenario} · {week.site} · {week.start} · grid exchange "
        "(import − export)",
        xaxis_title="Asia/Shanghai",
        yaxis_title="MW",
        hovermode="x unified",
        legend={"orientation": "h"},
    )
    assert np.isfinite(week.metered_mw).all()
    return fig


def write_week_figure(path: Path, week: VppWeek) -> Path:
    """Write :func:`week_figure` as one HTML file with Plotly inlined (opens offline)."""
    html = week_figure(week).to_html(
        full_html=True, include_plotlyjs=True, config={"displaylogo": False}
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(html, encoding="utf-8")
    return path


@vpp_app.command("week")
def vpp_week_command(
    scenario: Annotated[str, typer.Option(help="Bundled scenario name or YAML file.")] = "xining",
    start: Annotated[
        str, typer.Option(help="First local day with events, YYYY-MM-DD.")
    ] = "2025-07-07",
    site: Annotated[
        str | None, typer.Option(help="Site operated (default: the one site with assets).")
    ] = None,
    days: Annotated[int, typer.Option(min=1, help="Days with events.")] = 7,
    history_days: Annotated[
        int,
        typer.Option(
            min=1,
            help="Days before --start operated without events: the baselines' history "
            "(5 similar days needed; 21 covers a weekend).",
        ),
    ] = 21,
    resolution: Annotated[int, typer.Option(help="Planning interval: 15, 30 or 60 min.")] = 15,
    out_dir: Annotated[
        Path | None,
        typer.Option("--out", help="Directory for the settlement reports and vpp-week.html."),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the week as one JSON object.")
    ] = False,
) -> None:
    """A week of demand response: a midday valley-filling event (0.2 CNY/kWh) and an evening
    peak-shaving event (3–5 CNY/kWh) a day, answered the evening before.

    Prints per event the target, the answer, the committed and delivered MW, revenue, penalty,
    the re-plan's cost and the job delay, then totals and whether any job missed its deadline.
    """
    from suandian.reports.vpp_settlement import write_settlement
    from suandian.scenario import load_scenario
    from suandian.sim.vpp_week import progress_total, vpp_week, week_problems

    try:
        first = parse_local_date(start, "--start")
    except SuandianError as exc:
        raise typer.BadParameter(str(exc).removeprefix("--start: "), param_hint="--start") from None
    if resolution not in (15, 30, 60):
        raise typer.BadParameter(f"{resolution}; use 15, 30 or 60", param_hint="--resolution")
    park = load_scenario(scenario)
    problems = week_problems(
        park,
        start=first,
        site=site,
        days=days,
        history_days=history_days,
        resolution_min=resolution,
    )
    if problems:
        name, message = problems[0]
        raise typer.BadParameter(message, param_hint=_OPTIONS.get(name, name))
    began = time.perf_counter()
    with stage_progress(err, as_json=as_json) as progress:
        total = progress_total(park, start=first, days=days, history_days=history_days)
        task = progress.add_task("simulating", total=total)

        def tick(stage: str) -> None:
            progress.update(task, advance=1, description=stage[:28])

        week = vpp_week(
            park,
            start=first,
            site=site,
            days=days,
            history_days=history_days,
            resolution_min=resolution,
            progress=tick,
        )
        files: list[Path] = []
        if out_dir is not None:
            progress.update(task, description="writing reports")
            files = write_settlement(week.records, out_dir, formats=("csv", "xlsx"))
            files.append(write_week_figure(out_dir / VPP_WEEK_FIGURE, week))
    elapsed_s = time.perf_counter() - began
    if as_json:
        payload = week_json(week) | {
            "elapsed_s": elapsed_s,
            "files": [str(p) for p in files],
        }
        sys.stdout.write(json.dumps(payload, ensure_ascii=False) + "\n")
        return
    _print_week(week, elapsed_s)
    for path in files:
        out.print(f"written: {path}")
