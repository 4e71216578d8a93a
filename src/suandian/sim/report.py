"""Self-contained HTML report of a simulated period, with Plotly charts.

Charts: a summer and a winter week of generation against load, monthly energy by source, and the
daily hourly-matched green share against the park's targets. Plotly's JavaScript is inlined once,
so the file opens offline. Labels are zh-CN by default, English on request.
"""

from __future__ import annotations

import datetime as dt
import html
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.offline import get_plotlyjs

from suandian.core.times import LOCAL_TZ, local_date_start_utc, local_day
from suandian.scenario.model import Park
from suandian.sim.park import ParkSeries
from suandian.sim.summary import Summary, daily_green_share

__all__ = ["LABELS", "write_report"]

LABELS: dict[str, dict[str, str]] = {
    "zh": {
        "title": "园区能源年度模拟",
        "pv": "光伏",
        "wind": "风电",
        "hydro": "水电",
        "load": "负荷",
        "summer": "夏季周：发电与负荷",
        "winter": "冬季周：发电与负荷",
        "week": "所选周：发电与负荷",
        "monthly": "月度能量（按来源）",
        "daily": "逐日小时匹配绿电占比（无储能）",
        "share": "绿电占比",
        "target": "目标",
        "mw": "功率 (MW)",
        "mwh": "能量 (MWh)",
        "summary": "概要",
        "generation": "发电量",
        "renewable_fraction": "可再生电量占比（电量口径）",
        "hourly_match": "小时匹配绿电占比（无储能）",
        "curtailment": "出口受限弃电量",
        "unserved": "超出进口上限的缺口",
        "note": "时间为北京时间；模拟数据由气象模型合成，光伏与风电按年度利用小时数校准。",
    },
    "en": {
        "title": "Park energy simulation",
        "pv": "PV",
        "wind": "Wind",
        "hydro": "Hydro",
        "load": "Load",
        "summer": "Summer week: generation vs load",
        "winter": "Winter week: generation vs load",
        "week": "Selected week: generation vs load",
        "monthly": "Monthly energy by source",
        "daily": "Daily hourly-matched green share (no storage)",
        "share": "Green share",
        "target": "target",
        "mw": "Power (MW)",
        "mwh": "Energy (MWh)",
        "summary": "Summary",
        "generation": "Generation",
        "renewable_fraction": "Renewable fraction (energy basis)",
        "hourly_match": "Hourly-matched green share (no storage)",
        "curtailment": "Curtailment under the export cap",
        "unserved": "Deficit above the import limit",
        "note": "Times are Beijing time; weather is synthesised and PV and wind are calibrated to "
        "their annual full-load hours.",
    },
}

_COLORS = {"pv": "#f2b701", "wind": "#3c8dbc", "hydro": "#2ca58d", "load": "#222222"}


def _by_source(series: ParkSeries) -> pd.DataFrame:
    out = pd.DataFrame(index=series.generation_mw.index)
    for asset, source in series.source_of.items():
        col = series.generation_mw[asset]
        out[source] = out[source] + col if source in out else col
    return out


def _week_figure(
    series: ParkSeries, first_day: dt.date, title: str, lab: dict[str, str]
) -> go.Figure:
    lo, hi = local_date_start_utc(first_day), local_date_start_utc(first_day + dt.timedelta(days=7))
    src = _by_source(series)
    src = src.loc[(src.index >= lo) & (src.index < hi)]
    load = series.load_mw.sum(axis=1)
    load = load.loc[(load.index >= lo) & (load.index < hi)]
    x = pd.DatetimeIndex(src.index).tz_convert(LOCAL_TZ).tz_localize(None)
    fig = go.Figure()
    for source in ("hydro", "wind", "pv"):
        if source in src:
            fig.add_trace(
                go.Scatter(
                    x=x,
                    y=src[source].round(3),
                    name=lab[source],
                    stackgroup="gen",
                    line={"width": 0.5, "color": _COLORS[source]},
                )
            )
    fig.add_trace(
        go.Scatter(x=x, y=load.round(3), name=lab["load"], line={"color": _COLORS["load"]})
    )
    fig.update_layout(title=title, yaxis_title=lab["mw"], height=380, margin={"t": 50})
    return fig


def _monthly_figure(series: ParkSeries, lab: dict[str, str]) -> go.Figure:
    ih = series.interval_h
    src = _by_source(series) * ih
    months = pd.DatetimeIndex(src.index).tz_convert(LOCAL_TZ).strftime("%Y-%m")
    monthly = src.groupby(months).sum()
    load = (series.load_mw.sum(axis=1) * ih).groupby(months).sum()
    fig = go.Figure()
    for source in ("pv", "wind", "hydro"):
        if source in monthly:
            fig.add_trace(
                go.Bar(
                    x=monthly.index,
                    y=monthly[source].round(1),
                    name=lab[source],
                    marker_color=_COLORS[source],
                )
            )
    fig.add_trace(
        go.Scatter(
            x=load.index,
            y=load.round(1),
            name=lab["load"],
            mode="lines+markers",
            line={"color": _COLORS["load"]},
        )
    )
    fig.update_layout(
        title=lab["monthly"],
        barmode="stack",
        yaxis_title=lab["mwh"],
        height=380,
        margin={"t": 50},
    )
    return fig


def _daily_figure(series: ParkSeries, park: Park, lab: dict[str, str]) -> go.Figure:
    steps = round(1.0 / series.interval_h)
    g = series.generation_mw.sum(axis=1).to_numpy()
    ld = series.load_mw.sum(axis=1).to_numpy()
    share = daily_green_share(series.index, g, ld, steps)
    days = pd.DatetimeIndex(share.index)
    fig = go.Figure(
        go.Scatter(x=days, y=(share * 100).round(2), name=lab["share"], line={"color": "#2ca58d"})
    )
    for target in (park.targets.green_share_hub_pu, park.targets.green_share_zero_carbon_pu):
        fig.add_hline(
            y=target * 100,
            line_dash="dot",
            line_color="#888",
            annotation_text=f"{lab['target']} {target:.0%}",
        )
    fig.update_layout(
        title=lab["daily"], yaxis_title="%", yaxis_range=[0, 100], height=380, margin={"t": 50}
    )
    return fig


def _pick_week(days: np.ndarray, month: int, day: int) -> dt.date | None:
    """First day of a whole week around ``month``/``day`` inside the period, if there is one."""
    have = {pd.Timestamp(d).date() for d in days}
    for year in sorted({d.year for d in have}):
        first = dt.date(year, month, day)
        if all(first + dt.timedelta(days=k) in have for k in range(7)):
            return first
    return None


def write_report(
    path: Path, *, park: Park, series: ParkSeries, summary: Summary, lang: str = "zh"
) -> Path:
    """Write the HTML report to ``path`` and return it."""
    lab = LABELS[lang]
    days = np.unique(local_day(series.index))
    figures: list[go.Figure] = []
    summer, winter = _pick_week(days, 7, 1), _pick_week(days, 1, 8)
    if summer:
        figures.append(_week_figure(series, summer, lab["summer"], lab))
    if winter:
        figures.append(_week_figure(series, winter, lab["winter"], lab))
    if not summer and not winter:
        first = pd.Timestamp(days[0]).date()
        figures.append(_week_figure(series, first, lab["week"], lab))
    figures.append(_monthly_figure(series, lab))
    figures.append(_daily_figure(series, park, lab))

    def pct(x: float | None) -> str:
        return "—" if x is None else f"{x:.1%}"

    g = summary.generation_mwh
    rows = [
        (lab["generation"] + f" ({lab['pv']})", f"{g['pv']:,.0f} MWh"),
        (lab["generation"] + f" ({lab['wind']})", f"{g['wind']:,.0f} MWh"),
        (lab["generation"] + f" ({lab['hydro']})", f"{g['hydro']:,.0f} MWh"),
        (lab["load"], f"{summary.load_mwh:,.0f} MWh"),
        (lab["renewable_fraction"], pct(summary.renewable_fraction)),
        (lab["hourly_match"], pct(summary.hourly_match_no_storage)),
        (
            lab["curtailment"],
            f"{summary.curtailment_mwh:,.0f} MWh ({pct(summary.curtailment_share)})",
        ),
        (lab["unserved"], f"{summary.unserved_mwh:,.1f} MWh"),
    ]
    table = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in rows)
    title = park.title_zh if lang == "zh" and park.title_zh else (park.title or park.name)
    charts = "\n".join(
        f.to_html(full_html=False, include_plotlyjs=False, config={"displaylogo": False})
        for f in figures
    )
    period = f"{summary.start_local_date} · {summary.days} d · {summary.resolution_min} min"
    doc = f"""<!DOCTYPE html>
<html lang="{"zh-CN" if lang == "zh" else "en"}">
<head><meta charset="utf-8"><title>{html.escape(title)} — {html.escape(lab["title"])}</title>
<style>
body {{ font-family: system-ui, "Noto Sans CJK SC", "Microsoft YaHei", sans-serif; margin: 2rem; }}
table {{ border-collapse: collapse; margin: 1rem 0; }}
th, td {{ border-bottom: 1px solid #ddd; padding: .3rem .8rem; text-align: left; }}
td {{ font-variant-numeric: tabular-nums; }}
.note {{ color: #666; font-size: .9rem; }}
</style>
<script type="text/javascript">{get_plotlyjs()}</script>
</head>
<body>
<h1>{html.escape(title)} — {html.escape(lab["title"])}</h1>
<p>{html.escape(period)}</p>
<h2>{html.escape(lab["summary"])}</h2>
<table>{table}</table>
{charts}
<p class="note">{html.escape(lab["note"])}</p>
</body>
</html>
"""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(doc, encoding="utf-8")
    return path
