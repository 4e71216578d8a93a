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
    rows: pd.DataFrame
    hourly: dict[str, pd.DataFrame]
    """Per consumer: kWh by source group per interval (local time index)."""

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
            "method": METHOD["en"],
            "consumers": [r for r in rows if r["consumer"] != "park"],
            "park": next((r for r in rows if r["consumer"] == "park"), None),
        }

    def write(self, fmt: Format, path: Path, lang: str = "zh") -> Path:
        """Write the report as ``csv``, ``json`` or ``xlsx`` to ``path``."""
        path.parent.mkdir(parents=True, exist_ok=True)
        if fmt == "csv":
            frame = self.rows.copy()
            frame.insert(0, "date", self.date.isoformat())
            frame["reference_factor"] = self.reference_name
            frame.to_csv(path, index=False, float_format="%.6g")
        elif fmt == "json":
            path.write_text(json.dumps(self.to_json(), ensure_ascii=False, indent=1), "utf-8")
        elif fmt == "xlsx":
            self._write_xlsx(path, lang)
        else:
            raise InputError(f"format {fmt!r} is not a file format; use csv, json or xlsx")
        return path

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
        meta = pd.DataFrame(
            {
                "": [lab["title"], "date", lab["reference"], lab["location"], "method"],
                " ": [
                    self.scenario,
                    self.date.isoformat(),
                    f"{self.reference_name} ({self.reference_kgco2_per_kwh:g} kgCO₂/kWh)",
                    self.location_factor,
                    METHOD[lang],
                ],
            }
        )
        used: set[str] = set()
        with pd.ExcelWriter(path, engine="openpyxl") as xl:
            summary_name = "park" if lang == "en" else "园区汇总"
            meta.to_excel(xl, sheet_name=summary_name, index=False, header=False)
            self.labelled(lang).to_excel(xl, sheet_name=summary_name, index=False, startrow=6)
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
    """Build the report of ``date`` from traced sites (the day must be in the traced period)."""
    names = {c.id: c.name for c in park.consumers} | {d.id: d.name for d in park.data_centers}
    rows: list[dict[str, object]] = []
    hourly: dict[str, pd.DataFrame] = {}
    total = {k: 0.0 for k in ("load", "matched", "clean", "grid_fossil", "elb", "emb", "avoided")}
    present, expected = 0.0, 0
    ref_name, ref_ef, loc_factor, residual = "", 0.0, "", 0.0
    for trace in traces:
        if date not in trace.days:
            raise InputError(f"date {date} is outside the traced period")
        d = trace.days.index(date)
        daily = trace.daily
        groups = _group(daily.categories, trace.park.onsite_sources)
        group_names = list(dict.fromkeys(groups))
        g_idx = np.array([group_names.index(g) for g in groups])
        per_group = np.zeros((len(trace.consumers), len(group_names)))
        np.add.at(per_group.T, g_idx, daily.category_kwh[:, d, :].T)
        fossil_col = group_names.index("grid_fossil") if "grid_fossil" in group_names else None
        lo = trace.per_day * d
        for c, consumer in enumerate(trace.consumers):
            load = float(daily.load_kwh[c, d])
            fossil = float(per_group[c, fossil_col]) if fossil_col is not None else 0.0
            row: dict[str, object] = {
                "consumer": consumer,
                "name": names.get(consumer, consumer),
                "site": trace.site,
                "load_kwh": load,
                "direct_kwh": float(daily.direct_kwh[c, d]),
            }
            row |= {f"{g}_kwh": float(per_group[c, i]) for i, g in enumerate(group_names)}
            row |= _onsite_shares(row, load, trace.park.onsite_sources)
            row |= _shares(
                load,
                matched=float(daily.matched_kwh[c, d]),
                clean=float(daily.clean_kwh[c, d]),
                fossil=fossil,
            )
            row |= {
                "emissions_location_kgco2": float(daily.emissions_location_kgco2[c, d]),
                "emissions_market_kgco2": float(daily.emissions_market_kgco2[c, d]),
                "avoided_kgco2": float(daily.avoided_kgco2[c, d]),
                "completeness_pct": 100.0 * float(trace.completeness_pu[c, d]),
            }
            rows.append(row)
            total["load"] += load
            total["matched"] += float(daily.matched_kwh[c, d])
            total["clean"] += float(daily.clean_kwh[c, d])
            total["grid_fossil"] += fossil
            total["elb"] += float(daily.emissions_location_kgco2[c, d])
            total["emb"] += float(daily.emissions_market_kgco2[c, d])
            total["avoided"] += float(daily.avoided_kgco2[c, d])
            present += float(trace.completeness_pu[c, d])
            expected += 1
        hourly |= _hourly_tables(trace, d, lo, groups, group_names)
        ref_name, ref_ef = daily.reference_name, daily.reference_kgco2_per_kwh
        loc_factor, residual = trace.location_factor_name, trace.residual_kgco2_per_kwh
        gen_complete = float(trace.generation_completeness_pu[d])
        present += gen_complete
        expected += 1
    consumers = pd.DataFrame(rows)
    kwh_cols = sorted(c for c in consumers.columns if c.endswith("_kwh"))
    consumers[kwh_cols] = consumers[kwh_cols].fillna(0.0)
    park_row: dict[str, object] = {
        "consumer": "park",
        "name": park.title or park.name,
        "site": ",".join(t.site for t in traces),
    }
    park_row |= {c: float(consumers[c].sum()) for c in kwh_cols}
    onsite_all = tuple(dict.fromkeys(s for t in traces for s in t.park.onsite_sources))
    park_row |= _onsite_shares(park_row, total["load"], onsite_all)
    park_row |= _shares(
        total["load"], matched=total["matched"], clean=total["clean"], fossil=total["grid_fossil"]
    )
    park_row |= {
        "emissions_location_kgco2": total["elb"],
        "emissions_market_kgco2": total["emb"],
        "avoided_kgco2": total["avoided"],
        "completeness_pct": 100.0 * present / expected if expected else float("nan"),
    }
    frame = pd.concat([consumers, pd.DataFrame([park_row])], ignore_index=True)
    return DailyReport(
        date=date,
        scenario=park.name,
        resolution_min=resolution_min,
        reference_name=ref_name,
        reference_kgco2_per_kwh=ref_ef,
        location_factor=loc_factor,
        residual_kgco2_per_kwh=residual,
        rows=frame,
        hourly=hourly,
    )


def _onsite_shares(
    row: dict[str, object], load: float, sources: tuple[str, ...]
) -> dict[str, float]:
    """``onsite_<s>_pct``: on-site energy of each source (direct, pool, storage) over load."""
    out = {}
    for src in sources:
        kwh = row.get(f"onsite_{src}_kwh", 0.0)
        assert isinstance(kwh, float)
        out[f"onsite_{src}_pct"] = 100.0 * kwh / load if load > 0 else float("nan")
    return out


def _shares(load: float, *, matched: float, clean: float, fossil: float) -> dict[str, float]:
    if load <= 0:
        nan = float("nan")
        return {
            "grid_clean_pct": nan,
            "grid_fossil_pct": nan,
            "green_share_pct": nan,
            "cfe_pct": nan,
        }
    return {
        "grid_clean_pct": 100.0 * (clean - matched) / load,
        "grid_fossil_pct": 100.0 * fossil / load,
        "green_share_pct": 100.0 * matched / load,
        "cfe_pct": 100.0 * clean / load,
    }


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
