"""The daily green-power report (绿电日报): per consumer and for the park, in four formats.

For one Asia/Shanghai day: source composition (on-site by source, grid by source; storage is
counted by the origin of its energy), hourly-matched green share, CFE, location- and
market-based emissions, avoided CO₂ against a named reference factor, and data completeness.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from suandian.core.errors import InputError, NotFound
from suandian.core.times import LOCAL_TZ, local_date_start_utc
from suandian.reports.period import SiteTrace
from suandian.scenario.model import Park

__all__ = ["LABELS", "METHOD", "DailyReport", "Format", "daily_report"]

Format = Literal["table", "csv", "xlsx", "json"]

METHOD = {
    "en": (
        "Attribution per interval: direct contracts first, then the on-site pool shared pro-rata "
        "to remaining load (storage charging draws on it first), storage discharge at its "
        "pool's source mix after losses, and the grid residual at the zone's modelled hourly mix. "
        "Excess is exported and never counted."
    ),
    "zh": (
        "逐时段归因：先执行直连合同，再按剩余负荷比例分配园区内发电（储能充电优先取用），"
        "储能放电按其电量池来源构成（计损耗）分配，剩余由电网按所在区域逐时电源结构供给；"
        "余电上网，不计入消费。"
    ),
}

LABELS: dict[str, dict[str, str]] = {
    "en": {
        "title": "Daily green-power report",
        "consumer": "consumer",
        "name": "name",
        "load_kwh": "load kWh",
        "onsite_pv_pct": "on-site PV %",
        "onsite_wind_pct": "on-site wind %",
        "onsite_hydro_pct": "on-site hydro %",
        "grid_clean_pct": "grid clean %",
        "grid_fossil_pct": "grid fossil %",
        "green_share_pct": "hourly-matched green %",
        "cfe_pct": "CFE %",
        "emissions_location_kgco2": "location-based kgCO₂",
        "emissions_market_kgco2": "market-based kgCO₂",
        "avoided_kgco2": "avoided kgCO₂",
        "completeness_pct": "data completeness %",
        "park": "park total",
        "reference": "avoided against",
        "location": "location factor",
        "residual": "residual factor",
        "direct": "on-site green power counted at 0 kgCO₂/kWh (direct)",
        "lifecycle": "on-site green power at lifecycle factors",
        "generation_completeness": "generation and storage data completeness",
        "ignored": "meters of assets not in the scenario, not counted",
        "hour": "local time",
    },
    "zh": {
        "title": "绿电日报",
        "consumer": "用户",
        "name": "名称",
        "load_kwh": "用电量 kWh",
        "onsite_pv_pct": "园区光伏 %",
        "onsite_wind_pct": "园区风电 %",
        "onsite_hydro_pct": "园区水电 %",
        "grid_clean_pct": "电网清洁电占比 %",
        "grid_fossil_pct": "电网火电占比 %",
        "green_share_pct": "小时匹配绿电占比 %",
        "cfe_pct": "无碳电力(CFE) %",
        "emissions_location_kgco2": "基于位置排放 kgCO₂",
        "emissions_market_kgco2": "基于市场排放 kgCO₂",
        "avoided_kgco2": "减排量 kgCO₂",
        "completeness_pct": "数据完整率 %",
        "park": "园区合计",
        "reference": "减排基准因子",
        "location": "位置因子",
        "residual": "剩余电网因子",
        "direct": "园区绿电按 0 kgCO₂/kWh 计（直接排放口径）",
        "lifecycle": "园区绿电按全生命周期因子计",
        "generation_completeness": "发电与储能数据完整率",
        "ignored": "情景中已无对应资产的电表（未计入）",
        "hour": "北京时间",
    },
}

_SUMMARY_COLUMNS = (
    "load_kwh",
    "grid_clean_pct",
    "grid_fossil_pct",
    "green_share_pct",
    "cfe_pct",
    "emissions_location_kgco2",
    "emissions_market_kgco2",
    "avoided_kgco2",
    "completeness_pct",
)


@dataclass(frozen=True)
class DailyReport:
    """One local day, one row per consumer plus the park row (``consumer == "park"``)."""

    date: dt.date
    scenario: str
    resolution_min: int
    reference_name: str
    reference_kgco2_per_kwh: float
    location_factor: str
    residual_kgco2_per_kwh: float
    source_factors: dict[str, float]
    """EF charged to on-site sources: empty for direct accounting (0), else lifecycle."""
    generation_completeness_pct: float
    """Share of the day's generation and storage readings present."""
    ignored_meters: list[str]
    """Registered meters of assets the scenario no longer has; not counted."""
    rows: pd.DataFrame
    hourly: dict[str, pd.DataFrame]
    """Per consumer: kWh by source group per interval (local time index)."""

    @property
    def accounting(self) -> str:
        """How on-site green power is charged in market-based emissions and avoided CO₂."""
        return "lifecycle" if self.source_factors else "direct"

    def notes(self, lang: str) -> str:
        """What the figures rest on, in ``lang``: factors, accounting, completeness, method."""
        lab = LABELS[lang]
        if self.source_factors:
            values = ", ".join(f"{k} {v:g}" for k, v in sorted(self.source_factors.items()))
            accounting = f"{lab['lifecycle']}: {values} kgCO₂/kWh"
        else:
            accounting = lab["direct"]
        lines = [
            f"{lab['reference']}: {self.reference_name} ({self.reference_kgco2_per_kwh:g} "
            f"kgCO₂/kWh) · {lab['location']}: {self.location_factor} · {lab['residual']}: "
            f"{self.residual_kgco2_per_kwh:g} kgCO₂/kWh",
            f"{accounting} · {lab['generation_completeness']}: "
            f"{self.generation_completeness_pct:.1f} %",
        ]
        if self.ignored_meters:
            lines.append(f"{lab['ignored']}: {', '.join(self.ignored_meters)}")
        lines.append(METHOD[lang])
        return "\n".join(lines)

    def select(self, consumer: str | None) -> DailyReport:
        """Only ``consumer`` (and no park row), or everything when ``None``."""
        if consumer is None:
            return self
        if consumer not in set(self.rows["consumer"]) - {"park"}:
            known = ", ".join(c for c in self.rows["consumer"] if c != "park")
            raise NotFound(f"consumer {consumer!r} has no meter in this report; known: {known}")
        return DailyReport(
            **{
                **self.__dict__,
                "rows": self.rows[self.rows["consumer"] == consumer].reset_index(drop=True),
                "hourly": {consumer: self.hourly[consumer]},
            }
        )

    # --- outputs ---------------------------------------------------------------------------------

    def to_json(self) -> dict[str, object]:
        rows = self.rows.replace({np.nan: None}).to_dict(orient="records")
        return {
            "date": self.date.isoformat(),
            "scenario": self.scenario,
            "resolution_min": self.resolution_min,
            "reference_factor": {
                "name": self.reference_name,
                "ef_kgco2_per_kwh": self.reference_kgco2_per_kwh,
            },
            "location_factor": self.location_factor,
            "residual_kgco2_per_kwh": self.residual_kgco2_per_kwh,
            "source_factors": {
                "accounting": self.accounting,
                "ef_kgco2_per_kwh": self.source_factors,
            },
            "generation_completeness_pct": self.generation_completeness_pct,
            "ignored_meters": self.ignored_meters,
            "method": METHOD["en"],
            "consumers": [r for r in rows if r["consumer"] != "park"],
            "park": next((r for r in rows if r["consumer"] == "park"), None),
        }

    def write(self, fmt: Format, path: Path, lang: str = "zh") -> Path:
        """Write the report as ``csv``, ``json`` or ``xlsx`` to ``path``."""
        path.parent.mkdir(parents=True, exist_ok=True)
        if fmt == "csv":
            self.csv_frame().to_csv(path, index=False)
        elif fmt == "json":
            path.write_text(json.dumps(self.to_json(), ensure_ascii=False, indent=1), "utf-8")
        elif fmt == "xlsx":
            self._write_xlsx(path, lang)
        else:
            raise InputError(f"format {fmt!r} is not a file format; use csv, json or xlsx")
        return path

    def csv_frame(self) -> pd.DataFrame:
        """The rows with the factors and accounting they rest on, one CSV line per row."""
        frame = self.rows.copy()
        frame.insert(0, "date", self.date.isoformat())
        frame["reference_factor"] = self.reference_name
        frame["reference_kgco2_per_kwh"] = self.reference_kgco2_per_kwh
        frame["location_factor"] = self.location_factor
        frame["residual_kgco2_per_kwh"] = self.residual_kgco2_per_kwh
        frame["source_accounting"] = self.accounting
        frame["generation_completeness_pct"] = self.generation_completeness_pct
        return frame

    def summary_columns(self) -> list[str]:
        """Load, composition % (on-site by source, grid clean, grid fossil), then metrics."""
        onsite = [c for c in self.rows.columns if c.startswith("onsite_") and c.endswith("_pct")]
        return [_SUMMARY_COLUMNS[0], *onsite, *_SUMMARY_COLUMNS[1:]]

    def labelled(self, lang: str) -> pd.DataFrame:
        """Summary columns with human labels in ``lang``."""
        lab = LABELS[lang]
        frame = self.rows[["consumer", "name", *self.summary_columns()]].copy()
        frame.loc[frame["consumer"] == "park", "name"] = lab["park"]
        return frame.rename(columns={c: lab.get(c, c) for c in frame.columns})

    def _write_xlsx(self, path: Path, lang: str) -> None:
        lab = LABELS[lang]
        notes = self.notes(lang).split("\n")
        meta = pd.DataFrame({"": [lab["title"], self.scenario, self.date.isoformat(), *notes]})
        summary_name = "park" if lang == "en" else "园区汇总"
        used: set[str] = {summary_name}
        with pd.ExcelWriter(path, engine="openpyxl") as xl:
            meta.to_excel(xl, sheet_name=summary_name, index=False, header=False)
            self.labelled(lang).to_excel(
                xl, sheet_name=summary_name, index=False, startrow=len(meta) + 1
            )
            for consumer, frame in self.hourly.items():
                name = _sheet_name(consumer, used)
                row = self.rows[self.rows["consumer"] == consumer]
                columns = self.summary_columns()
                row[["consumer", "name", *columns]].rename(
                    columns={c: lab.get(c, c) for c in columns}
                ).to_excel(xl, sheet_name=name, index=False)
                hourly = frame.copy()
                hourly.index = pd.DatetimeIndex(hourly.index).strftime("%Y-%m-%d %H:%M")
                hourly.index.name = lab["hour"]
                hourly.to_excel(xl, sheet_name=name, startrow=3)


def _sheet_name(consumer: str, used: set[str]) -> str:
    base = "".join(ch for ch in consumer if ch not in "[]:*?/\\")[:31] or "consumer"
    name, k = base, 1
    while name in used:
        k += 1
        name = f"{base[: 31 - len(str(k)) - 1]}~{k}"
    used.add(name)
    return name


def _group(categories: tuple[str, ...], onsite: tuple[str, ...]) -> list[str]:
    """Source group of each category: ``onsite_<s>`` or ``grid_<g>``; storage by its origin."""
    out = []
    for name in categories:
        kind, _, src = name.partition("_")
        if kind == "storage":
            out.append(f"onsite_{src}" if src in onsite else src)
        else:
            out.append(name)
    return out


def daily_report(
    traces: list[SiteTrace], park: Park, *, date: dt.date, resolution_min: int
) -> DailyReport:
    """Build the report of ``date`` from traced sites (the day must be in the traced period).

    A consumer with no reading at all that day has no figures (NaN, shown as "—"), not zeros.
    Park totals are the sums over consumers with data; park completeness covers consumer meters.
    """
    names = {c.id: c.name for c in park.consumers} | {d.id: d.name for d in park.data_centers}
    frames: list[pd.DataFrame] = []
    hourly: dict[str, pd.DataFrame] = {}
    gen_present: list[float] = []
    for trace in traces:
        if date not in trace.days:
            raise InputError(f"date {date} is outside the traced period")
        d = trace.days.index(date)
        daily = trace.daily
        groups = _group(daily.categories, trace.park.onsite_sources)
        group_names = list(dict.fromkeys(groups))
        to_group = np.zeros((len(groups), len(group_names)))
        to_group[np.arange(len(groups)), [group_names.index(g) for g in groups]] = 1.0
        per_group = daily.category_kwh[:, d, :] @ to_group
        frame = pd.DataFrame(
            {
                "consumer": trace.consumers,
                "name": [names.get(c, c) for c in trace.consumers],
                "site": trace.site,
                "load_kwh": daily.load_kwh[:, d],
                "direct_kwh": daily.direct_kwh[:, d],
                **{f"{g}_kwh": per_group[:, i] for i, g in enumerate(group_names)},
                "matched_kwh": daily.matched_kwh[:, d],
                "clean_kwh": daily.clean_kwh[:, d],
                "emissions_location_kgco2": daily.emissions_location_kgco2[:, d],
                "emissions_market_kgco2": daily.emissions_market_kgco2[:, d],
                "avoided_kgco2": daily.avoided_kgco2[:, d],
                "completeness_pct": 100.0 * trace.completeness_pu[:, d],
            }
        )
        frames.append(frame)
        hourly |= _hourly_tables(trace, d, trace.per_day * d, groups, group_names)
        gen_present.append(float(trace.generation_completeness_pu[d]))

    consumers = pd.concat(frames, ignore_index=True)
    energy = [c for c in consumers.columns if c.endswith(("_kwh", "_kgco2"))]
    consumers[energy] = consumers[energy].fillna(0.0)  # a source absent at a consumer's site
    no_data = consumers["completeness_pct"] <= 0.0
    consumers.loc[no_data, energy] = np.nan
    park_row = {
        "consumer": "park",
        "name": park.title or park.name,
        "site": ",".join(t.site for t in traces),
        **consumers[energy].sum().to_dict(),
        "completeness_pct": float(consumers["completeness_pct"].mean()),
    }
    frame = pd.concat([consumers, pd.DataFrame([park_row])], ignore_index=True)
    frame = _with_shares(
        frame, tuple(dict.fromkeys(s for t in traces for s in t.park.onsite_sources))
    )
    last = traces[-1]
    return DailyReport(
        date=date,
        scenario=park.name,
        resolution_min=resolution_min,
        reference_name=last.daily.reference_name,
        reference_kgco2_per_kwh=last.daily.reference_kgco2_per_kwh,
        location_factor="; ".join(dict.fromkeys(t.location_factor_name for t in traces)),
        residual_kgco2_per_kwh=last.residual_kgco2_per_kwh,
        source_factors=last.source_factors,
        generation_completeness_pct=100.0 * float(np.mean(gen_present)),
        ignored_meters=sorted(m for t in traces for m in t.ignored_meters),
        rows=frame.drop(columns=["matched_kwh", "clean_kwh"]),
        hourly=hourly,
    )


def _with_shares(frame: pd.DataFrame, onsite: tuple[str, ...]) -> pd.DataFrame:
    """Composition and metric percentages of every row from its energies."""
    load = frame["load_kwh"].where(frame["load_kwh"] > 0)
    out = frame.copy()
    for src in onsite:
        out[f"onsite_{src}_pct"] = 100.0 * out.get(f"onsite_{src}_kwh", 0.0) / load
    fossil = out.get("grid_fossil_kwh", 0.0)
    out["grid_clean_pct"] = 100.0 * (out["clean_kwh"] - out["matched_kwh"]) / load
    out["grid_fossil_pct"] = 100.0 * fossil / load
    out["green_share_pct"] = 100.0 * out["matched_kwh"] / load
    out["cfe_pct"] = 100.0 * out["clean_kwh"] / load
    return out


def _hourly_tables(
    trace: SiteTrace, d: int, lo: int, groups: list[str], group_names: list[str]
) -> dict[str, pd.DataFrame]:
    """Per consumer, kWh by source group for each interval of day ``d`` (local time)."""
    park = trace.park
    hi = lo + trace.per_day
    load = trace.load_kwh[:, lo:hi]
    direct = np.zeros((load.shape[0], trace.per_day, len(park.categories)))
    for i, contract in enumerate(park.contracts):
        row = trace.contract_rows[contract.consumer]
        k = park.categories.index(f"onsite_{park.direct_source[i]}")
        direct[row, :, k] += np.where(np.isnan(load[row]), 0.0, park.direct_kwh[i, lo:hi])
    remaining = load - direct.sum(axis=2)
    per_category = remaining[:, :, np.newaxis] * park.fraction_pu[np.newaxis, lo:hi] + direct
    to_group = np.zeros((len(groups), len(group_names)))
    to_group[np.arange(len(groups)), [group_names.index(g) for g in groups]] = 1.0
    per_group = per_category @ to_group  # NaN rows stay NaN: missing, not zero
    step = pd.Timedelta(minutes=24 * 60 // trace.per_day)
    start = local_date_start_utc(trace.days[d])
    index = pd.date_range(start, periods=trace.per_day, freq=step).tz_convert(LOCAL_TZ)
    index = index.tz_localize(None)
    out: dict[str, pd.DataFrame] = {}
    for c, consumer in enumerate(trace.consumers):
        frame = pd.DataFrame(per_group[c], index=index, columns=[f"{g}_kwh" for g in group_names])
        frame.insert(0, "load_kwh", load[c])
        out[consumer] = frame
    return out
