"""Benchmark: a year of 15-min readings of 10,000 consumer meters traced to daily reports.

The park
--------
A synthetic park built in code (``parse_scenario``): one site with the grid tie of the bundled
``xining`` scenario (Qinghai location factor, residual factor, non-fossil split), 24 PV plants
and 16 wind farms of a few MW, 5 batteries (a charge and a discharge meter each), two direct
contracts (绿电直连) and ``--meters`` consumer meters (10,000) of kinds services, battery,
polysilicon and other with mean loads of 0.05–0.5 MW (log-uniform). ``meters_for_park``
registers them, plus the site's two grid meters, which carry no readings and are not counted.

The readings (not timed)
------------------------
One Asia/Shanghai year from 2025-01-01 at 15 min (35,040 intervals) per meter, written straight
into the store's DuckDB tables with ``INSERT INTO readings SELECT ... FROM range(...)``, in
meter-key then time order (version 1, one fixed ``received_utc``, never superseded). Shapes are
deterministic functions of the meter and the interval (DuckDB ``hash``), so every size holds the
same data for the meters it shares: PV is a daylight bell with a day length following the
season times a site-wide day type (clear, partly cloudy with flicker, overcast); wind is
smooth multi-day noise with a diurnal and seasonal swing; batteries charge 10:00–15:00 and
discharge 18:00–22:00 local, on average about η × the charge (on some days more than the
battery holds); consumers are their mean × a diurnal and weekly shape of their kind × daily
and per-interval noise. Every reading lies in [0, nameplate × 0.25 h]. One reading in a
thousand is missing (a hash picks it), so completeness is exercised. The store is cached in
``--data-dir`` (default ``./bench-data``) as ``trace_year-<consumers>x<gen+storage>-<days>d``
and reused when its parameters and counts match; ``--regenerate`` rebuilds it.

Measures
--------
seconds
    Wall time of ``trace_period(store, park, start=2025-01-01, days=365)`` over the whole park
    in a fresh subprocess: every consumer's readings read from DuckDB in ``trace_period``'s
    chunks (``--chunk-meters`` overrides its default), hourly attribution (direct contracts,
    on-site pool, storage pools, grid residual at the zone's modelled mix) and daily metrics for
    every consumer and day (kWh by category, load, direct, matched, clean, grid, location- and
    market-based emissions, avoided CO₂) — the content of every consumer's daily report, not
    its rendering. One timed run (a 15–60-s job needs no warm-up; the park is built and the
    store opened before timing). ``phases_seconds`` splits it at ``trace_period``'s progress
    ticks: ``read`` (until the last consumer chunk is read, generation and storage included)
    and ``attribute_and_daily`` (the rest).
peak_rss_mib
    Peak resident set (``VmHWM``) of that subprocess after the run: interpreter, imports, park
    and the run.
pandas peer
    On a ``--pandas-meters`` (1,000) consumer subset treated as the whole park (same generation,
    storage and contracts; its own cached store holding exactly the same readings as the first
    1,000 consumers of the full store): a straightforward pandas implementation of the same
    attribution — readings to a long DataFrame (``.df()``), hourly by ``groupby``, pivot, the
    park pass with DataFrame arithmetic per hour, a Python loop over hours for the storage pools,
    then consumer × hour rows (one column per category) and a ``groupby`` by consumer and day.
    The zone's grid mix comes from ``suandian.reports.period.grid_mix_for`` on both sides (a
    shared input, not what is measured). ``suandian_subset_seconds`` is ``trace_period`` on the
    same subset store. Each side runs ``--repeat`` (3) times in its own fresh subprocess and
    the fastest run counts; ``speedup_vs_pandas`` = pandas seconds ÷ suandian subset seconds.
    ``outputs_equal``: every daily figure of every consumer (kWh by category, load, direct,
    matched, clean, grid, CFE, location- and market-based emissions, avoided) agrees within
    rtol 1e-9, atol 1e-6; ``subset_hours_by_path`` counts the hours that took each branch of the
    attribution (export, grid charging, a battery emptied, a contract at its cap, ...).

``--quick`` runs 100 consumers, 4 PV + 2 wind + 2 batteries (10 generation/storage meters) and
30 days, the pandas peer on the same 100. The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the sibling module below
from machine import machine_info

YEAR = 2025
START = dt.date(YEAR, 1, 1)
QUARTERS_PER_DAY = 96
TARGET_SECONDS = 60.0
TARGET_RSS_MIB = 4096.0
TARGET_SPEEDUP = 10.0
RTOL, ATOL = 1e-9, 1e-6
MISSING_PER_MILLE = 1  # one reading in a thousand is missing
RECEIVED_UTC = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
GENERATOR_VERSION = 2  # bump whenever the synthetic readings change
PHI = 0.6180339887498949  # golden-ratio sequence: well-spread per-meter parameters
SITE = "nanchuan"


@dataclass(frozen=True)
class Size:
    consumers: int
    pv: int
    wind: int
    batteries: int
    days: int

    @property
    def generation_storage_meters(self) -> int:
        return self.pv + self.wind + 2 * self.batteries

    @property
    def meters(self) -> int:
        return self.consumers + self.generation_storage_meters

    @property
    def intervals(self) -> int:
        return self.days * QUARTERS_PER_DAY

    def with_consumers(self, consumers: int) -> Size:
        return Size(consumers, self.pv, self.wind, self.batteries, self.days)

    def store_name(self) -> str:
        return f"trace_year-{self.consumers}x{self.generation_storage_meters}-{self.days}d"


FULL = Size(consumers=10_000, pv=24, wind=16, batteries=5, days=365)
QUICK = Size(consumers=100, pv=4, wind=2, batteries=2, days=30)
PANDAS_METERS = 1000


# --- the park -----------------------------------------------------------------------------------


def _pv_p_dc_mwp(i: int) -> float:
    return 6.0 + (i * 7) % 11  # 6–16 MWp DC, 5–13.3 MW AC


def _wind_mw(i: int) -> float:
    return 4.0 + (i * 5) % 7  # 4–10 MW


def _battery_mw(i: int) -> float:
    return 4.0 + (i * 3) % 5  # 4–8 MW, 4 h


_KINDS = ("services",) * 4 + ("battery",) * 2 + ("polysilicon",) + ("other",) * 3


def consumer_id(j: int) -> str:
    return f"c{j + 1:05d}"


def consumer_mean_mw(j: int) -> float:
    """Log-uniform in [0.05, 0.5] MW; the SQL generator computes the same expression."""
    return 0.05 * 10.0 ** (((j + 1) * PHI) % 1.0)


def build_park(size: Size) -> Any:
    """The synthetic park of ``size`` as a validated scenario."""
    from suandian.scenario import load_scenario, parse_scenario

    grid = load_scenario("xining").site(SITE).grid.model_dump(exclude_none=True)
    pv = [
        {
            "id": f"pv-{i + 1:02d}",
            "site": SITE,
            "p_dc_mwp": _pv_p_dc_mwp(i),
            "dc_ac_ratio_pu": 1.2,
            "target_full_load_h": 1550,
        }
        for i in range(size.pv)
    ]
    wind = [
        {
            "id": f"wind-{i + 1:02d}",
            "site": SITE,
            "capacity_mw": _wind_mw(i),
            "turbine_type": "MM100/2000",
            "hub_height_m": 100,
            "target_full_load_h": 1600,
        }
        for i in range(size.wind)
    ]
    batteries = [
        {
            "id": f"bess-{i + 1:02d}",
            "site": SITE,
            "p_mw": _battery_mw(i),
            "e_mwh": 4 * _battery_mw(i),
            "round_trip_efficiency_pu": 0.9,
        }
        for i in range(size.batteries)
    ]
    consumers = [
        {
            "id": consumer_id(j),
            "site": SITE,
            "kind": _KINDS[j % 10],
            "name": f"Enterprise {j + 1:05d}",
            "mean_mw": round(consumer_mean_mw(j), 6),
        }
        for j in range(size.consumers)
    ]
    contracts = [
        {"generator": "pv-01", "consumer": consumer_id(0), "priority": 1, "cap_mw": 0.1},
        {"generator": "wind-01", "consumer": consumer_id(1), "priority": 2},
    ]
    return parse_scenario(
        {
            "name": "trace-year-bench",
            "title": "Synthetic park for the trace_year benchmark",
            "year": YEAR,
            "sites": [
                {
                    "id": SITE,
                    "name": "Xining Nanchuan (synthetic)",
                    "lat_deg": 36.62,
                    "lon_deg": 101.78,
                    "altitude_m": 2260,
                    "zone": "CN-QH",
                    "grid": grid,
                }
            ],
            "pv_plants": pv,
            "wind_farms": wind,
            "batteries": batteries,
            "consumers": consumers,
            "contracts": contracts,
        },
        source="trace_year benchmark",
    )


# --- synthetic readings (not timed) -------------------------------------------------------------

# u(a, b, salt): a uniform number in [0, 1) from DuckDB's hash; a and b are BIGINT.
_MACROS = """
CREATE OR REPLACE TEMP MACRO u01(a, b, salt) AS
    (hash(a::BIGINT, b::BIGINT, salt::BIGINT) % 1000000007)::DOUBLE / 1000000007.0;
"""

# Columns every generator sees: t (interval of the period), d (day), q (quarter of the local
# day), h (local clock hour at mid-interval), doy (day of the year, 0 = 1 January).
_TIME = """
    t // 96 AS d, t % 96 AS q, (t % 96) / 4.0 + 0.125 AS h, (t // 96) AS doy
"""

_PV_SQL = f"""
WITH s AS (
    SELECT t, {_TIME} FROM range(0, $nt) r(t)
), x AS (
    SELECT t, d, h,
           sin(2 * pi() * (doy - 79) / 365.0) AS season,
           u01(d, 0, 11) AS day_type, u01(d, 0, 12) AS day_u
    FROM s
), y AS (
    SELECT t, d, day_type, season,
           (h - 13.2) / (12.0 + 2.4 * season) * pi() AS angle,
           CASE WHEN day_type < 0.55 THEN 0.92 + 0.08 * day_u
                WHEN day_type < 0.85 THEN 0.45 + 0.35 * day_u
                ELSE 0.12 + 0.18 * day_u END AS cloud
    FROM x
)
SELECT $key::INTEGER AS meter_key, to_timestamp($epoch0 + 900 * t) AS start_utc,
       $p_kwh * least(1.0,
           CASE WHEN abs(angle) < pi() / 2 THEN pow(cos(angle), 1.2) ELSE 0.0 END
           * (0.86 + 0.08 * season) * cloud * (0.93 + 0.07 * u01($g, d, 13))
           * CASE WHEN day_type >= 0.55 AND day_type < 0.85
                  THEN 1.0 - 0.4 * u01($g, t, 14) ELSE 1.0 - 0.03 * u01($g, t, 14) END
       ) AS kwh
FROM y
"""

_WIND_SQL = f"""
WITH s AS (
    SELECT t, {_TIME} FROM range(0, $nt) r(t)
), x AS (
    SELECT t, d, h, doy, (t + $lag) / 96.0 AS td FROM s
)
SELECT $key::INTEGER AS meter_key, to_timestamp($epoch0 + 900 * t) AS start_utc,
       $p_kwh * pow(least(0.97, greatest(0.0,
           0.33
           + 0.16 * sin(2 * pi() * td / 3.7 + 1.3)
           + 0.10 * sin(2 * pi() * td / 1.9 + 0.4 + $phase)
           + 0.07 * sin(2 * pi() * td / 8.3 + 2.0)
           + 0.05 * sin(2 * pi() * td / 0.7 + $phase)
           + 0.08 * cos(2 * pi() * (doy - 100) / 365.0)
           + 0.08 * sin(2 * pi() * (h - 10.0) / 24.0)
           + 0.06 * (u01($g, t, 21) - 0.5)
       )), 1.5) AS kwh
FROM x
"""

_STORAGE_SQL = f"""
WITH s AS (
    SELECT t, {_TIME} FROM range(0, $nt) r(t)
)
SELECT meter_key, to_timestamp($epoch0 + 900 * t) AS start_utc, kwh FROM (
    SELECT $charge_key::INTEGER AS meter_key, t,
           CASE WHEN q >= 40 AND q < 60
                THEN $p_kwh * (0.6 + 0.3 * u01($b, d, 31)) * (0.9 + 0.1 * u01($b, t, 32))
                ELSE 0.0 END AS kwh
    FROM s
    UNION ALL
    SELECT $discharge_key::INTEGER AS meter_key, t,
           CASE WHEN q >= 72 AND q < 88
                THEN $p_kwh * (0.5 + 0.45 * u01($b, d, 34)) * 1.05 * (0.9 + 0.1 * u01($b, t, 33))
                ELSE 0.0 END AS kwh
    FROM s
)
"""

# Consumers j0 ≤ j < j1 (0-based); meter key = $key0 + j.
_CONSUMER_SQL = f"""
WITH s AS (
    SELECT i // $nt AS j, i % $nt AS t FROM range($j0 * $nt, $j1 * $nt) r(i)
), x AS (
    SELECT j, t, {_TIME}, j % 10 AS kind,
           0.05 * pow(10.0, ((j + 1) * {PHI!r}) % 1.0) * 250.0 AS base_kwh
    FROM s
)
SELECT ($key0 + j)::INTEGER AS meter_key, to_timestamp($epoch0 + 900 * t) AS start_utc,
       base_kwh * greatest(0.05,
           CASE
               WHEN kind < 4 THEN  -- services: office hours, quieter at weekends
                   (0.45 + 1.25 * CASE WHEN h > 7 AND h < 21
                                       THEN pow(sin(pi() * (h - 7) / 14), 2) ELSE 0.0 END)
                   * CASE WHEN (d + 2) % 7 >= 5 THEN 0.75 ELSE 1.0 END
               WHEN kind < 6 THEN  -- battery factories: two shifts
                   1.0 + 0.15 * sin(2 * pi() * (h - 10.0) / 24.0)
                       - CASE WHEN h > 0 AND h < 6 THEN 0.2 ELSE 0.0 END
               WHEN kind = 6 THEN  -- polysilicon: furnaces, nearly flat
                   1.0 + 0.03 * sin(2 * pi() * d / 7.3 + j)
               ELSE  -- other: evening peak, heating in winter
                   1.0 + 0.25 * cos(2 * pi() * (h - 19.0) / 24.0)
                       + 0.12 * cos(2 * pi() * doy / 365.0)
           END
           * (0.93 + 0.14 * u01(j, d, 41)) * (0.96 + 0.08 * u01(j, t, 42))
       ) AS kwh
FROM x
"""


def _insert(con: Any, select_sql: str, params: dict[str, Any]) -> None:
    """Insert a generator's rows, minus the missing ones, in meter-key then time order."""
    con.execute(
        f"""
        INSERT INTO readings
        SELECT meter_key, start_utc, kwh, 1, $received, NULL
        FROM ({select_sql}) g
        WHERE hash(meter_key::BIGINT, epoch(start_utc)::BIGINT, 99::BIGINT) % 1000
              >= {MISSING_PER_MILLE}
        """,
        {**params, "received": RECEIVED_UTC},
    )


def _meta_path(store_dir: Path) -> Path:
    return store_dir / "generated.json"


def _store_mib(store_dir: Path) -> float:
    return sum(p.stat().st_size for p in store_dir.glob("meters.duckdb*")) / 2**20


def ensure_store(size: Size, store_dir: Path, *, regenerate: bool) -> dict[str, Any]:
    """The cached store of ``size``: reused when complete, else generated. Returns its metadata."""
    from suandian.store.readings import ReadingsStore

    wanted = {"generator_version": GENERATOR_VERSION, "size": asdict(size), "year": YEAR}
    meta_file = _meta_path(store_dir)
    if not regenerate and meta_file.exists():
        meta = json.loads(meta_file.read_text())
        if {k: meta.get(k) for k in wanted} == wanted:
            with ReadingsStore(store_dir) as store:
                counts = store.counts()
            if counts == meta["counts"]:
                meta["reused"] = True
                meta["store_mib"] = round(_store_mib(store_dir), 1)
                return meta
        print(f"  cached store {store_dir} is stale or incomplete: regenerating", flush=True)
    if store_dir.exists():
        shutil.rmtree(store_dir)
    store_dir.mkdir(parents=True)
    gitignore = store_dir.parent / ".gitignore"
    if not gitignore.exists():
        gitignore.write_text("# benchmark data, generated by benchmarks/trace_year.py\n*\n")
    meta = _generate(size, store_dir)
    meta.update(wanted)
    meta_file.write_text(json.dumps(meta, indent=1))
    meta["reused"] = False
    return meta


def _generate(size: Size, store_dir: Path) -> dict[str, Any]:
    import duckdb

    from suandian.core.times import local_year_grid
    from suandian.meters.registry import meters_for_park
    from suandian.store.readings import ReadingsStore

    t0 = time.perf_counter()
    park = build_park(size)
    with ReadingsStore(store_dir) as store:
        store.register_meters(meters_for_park(park))
    first = local_year_grid(YEAR)[0]
    epoch0 = int(first.timestamp())
    con = duckdb.connect(str(store_dir / ReadingsStore.FILENAME))
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.execute(_MACROS)
        keys = dict(con.execute("SELECT meter_id, meter_key FROM meters").fetchall())
        nt = size.intervals
        common = {"nt": nt, "epoch0": epoch0}
        for i, plant in enumerate(park.pv_plants):
            p_kwh = plant.p_ac_mw * 1000.0 * 0.25
            _insert(con, _PV_SQL, {**common, "key": keys[f"m-{plant.id}"], "g": i, "p_kwh": p_kwh})
        for i, farm in enumerate(park.wind_farms):
            _insert(
                con,
                _WIND_SQL,
                {
                    **common,
                    "key": keys[f"m-{farm.id}"],
                    "g": 1000 + i,
                    "p_kwh": farm.capacity_mw * 1000.0 * 0.25,
                    "lag": 7 * i,
                    "phase": 0.7 * i,
                },
            )
        for b, battery in enumerate(park.batteries):
            _insert(
                con,
                _STORAGE_SQL,
                {
                    **common,
                    "charge_key": keys[f"m-{battery.id}-charge"],
                    "discharge_key": keys[f"m-{battery.id}-discharge"],
                    "b": b,
                    "p_kwh": battery.p_mw * 1000.0 * 0.25,
                },
            )
        key0 = keys[f"m-{consumer_id(0)}"]
        if any(keys[f"m-{consumer_id(j)}"] != key0 + j for j in range(size.consumers)):
            raise RuntimeError("consumer meter keys are not contiguous; the generator needs them")
        step = 500
        for j0 in range(0, size.consumers, step):
            j1 = min(j0 + step, size.consumers)
            _insert(con, _CONSUMER_SQL, {**common, "j0": j0, "j1": j1, "key0": key0})
            print(
                f"  generated {j1:,}/{size.consumers:,} consumers "
                f"({time.perf_counter() - t0:.0f} s)",
                flush=True,
            )
        con.execute("CHECKPOINT")
        row = con.execute(
            """
            SELECT m.kind, count(*), sum(r.kwh), max(r.kwh / (m.nameplate_kw * 0.25))
            FROM readings r JOIN meters m USING (meter_key) GROUP BY m.kind ORDER BY m.kind
            """
        ).fetchall()
        by_kind = {
            k: {"readings": int(n), "mwh": float(s) / 1000.0, "max_pu": mx} for k, n, s, mx in row
        }
        flh = {}
        for source, kw in (
            ("pv", sum(p.p_ac_mw for p in park.pv_plants) * 1000),
            ("wind", sum(w.capacity_mw for w in park.wind_farms) * 1000),
        ):
            got = con.execute(
                "SELECT sum(r.kwh) FROM readings r JOIN meters m USING (meter_key) "
                "WHERE m.kind = 'generation' AND m.source = ?",
                [source],
            ).fetchone()
            flh[source] = round(float(got[0] or 0.0) / kw * 365 / size.days, 0) if kw else None
    finally:
        con.close()
    with ReadingsStore(store_dir) as store:
        counts = store.counts()
    expected = size.meters * size.intervals
    return {
        "counts": counts,
        "readings_expected_without_gaps": expected,
        "missing_share": round(1.0 - counts["readings"] / expected, 6),
        "by_kind": by_kind,
        "annualised_full_load_hours_ac": flh,
        "generation_seconds": round(time.perf_counter() - t0, 1),
        "store_mib": round(_store_mib(store_dir), 1),
    }


# --- the timed run and the peer, each in a fresh process ----------------------------------------


def _mib_from_ru_maxrss(value: int) -> float:
    return value / (1024.0 * 1024.0) if sys.platform == "darwin" else value / 1024.0


def _peak_rss_mib() -> float:
    """Peak resident set of this process so far. [MiB]

    Linux: ``VmHWM`` of ``/proc/self/status``, the high-water mark of this process's own memory.
    ``ru_maxrss`` is not used there: a child started with fork + exec inherits the parent's
    high-water mark at the fork, and the parent has just generated the data.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return _mib_from_ru_maxrss(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


_OUTPUTS = (
    "load_kwh",
    "direct_kwh",
    "matched_kwh",
    "clean_kwh",
    "grid_kwh",
    "cfe_pu",
    "emissions_location_kgco2",
    "emissions_market_kgco2",
    "avoided_kgco2",
)


def _child_trace(
    size: Size, store_dir: Path, chunk_meters: int | None, repeat: int, out: Path | None
) -> None:
    """Fresh process: open the store, trace the whole period ``repeat`` times (the fastest
    counts), report the times and the peak RSS."""
    import numpy as np

    from suandian.reports.period import trace_period
    from suandian.store.readings import ReadingsStore

    t0 = time.perf_counter()
    park = build_park(size)
    store = ReadingsStore(store_dir)
    setup_seconds = time.perf_counter() - t0
    rss_setup = _peak_rss_mib()
    extra = {} if chunk_meters is None else {"chunk_meters": chunk_meters}
    runs: list[tuple[float, dict[str, float]]] = []
    for _ in range(repeat):
        marks: dict[str, float] = {}

        def progress(message: str, marks: dict[str, float] = marks) -> None:
            # trace_period's ticks: "read a/b meters" after each chunk, then "traced <site>".
            marks["read" if message.startswith("read ") else "traced"] = time.perf_counter()

        t1 = time.perf_counter()
        traces = trace_period(store, park, start=START, days=size.days, progress=progress, **extra)
        t2 = time.perf_counter()
        phases = {
            "read": round(marks["read"] - t1, 3),
            "attribute_and_daily": round(t2 - marks["read"], 3),
        }
        runs.append((t2 - t1, phases))
    peak = _peak_rss_mib()
    store.close()
    seconds, phases = min(runs, key=lambda r: r[0])
    (site,) = traces
    daily = site.daily
    load = daily.load_kwh
    result = {
        "seconds": seconds,
        "all_seconds": [round(r[0], 3) for r in runs],
        "setup_seconds": setup_seconds,
        "rss_after_setup_mib": rss_setup,
        "peak_rss_mib": peak,
        "consumers": len(site.consumers),
        "days": len(site.days),
        "categories": list(daily.categories),
        "park_load_mwh": float(load.sum()) / 1000.0,
        "park_matched_pu": float(daily.matched_kwh.sum() / load.sum()),
        "park_cfe_pu": float(daily.clean_kwh.sum() / load.sum()),
        "park_storage_kwh": float(
            sum(
                daily.category_kwh[:, :, k].sum()
                for k, c in enumerate(daily.categories)
                if c.startswith("storage_")
            )
        ),
        "completeness_pu": float(site.completeness_pu.mean()),
        "paths": _paths(site),
        "phases": phases,
    }
    if out is not None:
        np.savez(
            out,
            consumers=np.asarray(site.consumers),
            categories=np.asarray(daily.categories),
            category_kwh=daily.category_kwh,
            cfe_pu=daily.share(daily.clean_kwh),
            **{k: getattr(daily, k) for k in _OUTPUTS if k != "cfe_pu"},
        )
    print(json.dumps(result))


def _paths(site: Any) -> dict[str, int]:
    """How many hours took each branch of the attribution, to show what the check covers."""
    import numpy as np

    park = site.park
    n_on = len(park.onsite_sources)
    pools = park.storage_pool_kwh  # (S, T + 1, P)
    emptied = (pools[:, 1:, :].sum(axis=2) <= 0) & (pools[:, :-1, :].sum(axis=2) > 0)
    capped = [np.isclose(park.direct_kwh[i], c.cap_kwh) for i, c in enumerate(park.contracts)]
    return {
        "hours": int(park.fraction_pu.shape[0]),
        "onsite_export": int((park.export_onsite_kwh.sum(axis=0) > 0).sum()),
        "storage_export": int((park.export_storage_kwh.sum(axis=0) > 0).sum()),
        "charge_from_grid": int((park.charge_by_key_kwh[n_on:].sum(axis=0) > 0).sum()),
        "battery_emptied": int(emptied.any(axis=0).sum()),
        "contract_at_cap": int(np.any(capped, axis=0).sum()) if capped else 0,
        "direct_supply": int((park.direct_kwh.sum(axis=0) > 0).sum()),
    }


def _child_pandas(size: Size, store_dir: Path, repeat: int, out: Path | None) -> None:
    """Fresh process: the pandas peer over the whole store ``repeat`` times (the fastest
    counts); times and peak RSS."""
    t0 = time.perf_counter()
    park = build_park(size)
    setup_seconds = time.perf_counter() - t0
    rss_setup = _peak_rss_mib()
    runs = []
    for _ in range(repeat):
        t1 = time.perf_counter()
        result, phases = pandas_trace(store_dir / "meters.duckdb", park, START, size.days)
        runs.append((time.perf_counter() - t1, phases))
        del phases
    peak = _peak_rss_mib()
    seconds, phases = min(runs, key=lambda r: r[0])
    if out is not None:
        import numpy as np

        np.savez(out, **result)
    print(
        json.dumps(
            {
                "seconds": seconds,
                "all_seconds": [round(r[0], 3) for r in runs],
                "setup_seconds": setup_seconds,
                "rss_after_setup_mib": rss_setup,
                "peak_rss_mib": peak,
                "consumers": len(result["consumers"]),
                "phases": phases,
            }
        )
    )


def pandas_trace(
    db_path: Path, park: Any, start: dt.date, days: int
) -> tuple[dict[str, Any], dict[str, float]]:
    """The same attribution and daily metrics, written the straightforward pandas way.

    Returns the daily arrays and the seconds of each phase: ``read`` (DuckDB to a long frame),
    ``hourly`` (group by meter and hour, pivot), ``park`` (contracts, pool, storage pools hour by
    hour, grid residual) and ``consumers`` (consumer × hour rows, group by consumer and day).
    """
    import duckdb
    import numpy as np
    import pandas as pd

    from suandian.core.times import LOCAL_TZ, local_date_start_utc
    from suandian.grid.factors import emission_factor
    from suandian.reports.period import DEFAULT_REFERENCE, grid_mix_for

    site = park.site(SITE)
    lo = local_date_start_utc(start)
    hi = local_date_start_utc(start + dt.timedelta(days=days))
    hours = pd.date_range(lo, hi, freq="h", inclusive="left")

    phases: dict[str, float] = {}
    tick = time.perf_counter()

    def phase(name: str) -> None:
        nonlocal tick
        now = time.perf_counter()
        phases[name] = round(now - tick, 3)
        tick = now

    # Readings: one long frame, then hourly per meter.
    con = duckdb.connect(str(db_path), read_only=True)
    con.execute("SET TimeZone = 'UTC'")
    meters = con.execute("SELECT * FROM meters ORDER BY meter_key").df()
    readings = con.execute(
        "SELECT meter_key, start_utc, kwh FROM readings "
        "WHERE superseded_utc IS NULL AND start_utc >= ? AND start_utc < ?",
        [lo.to_pydatetime(), hi.to_pydatetime()],
    ).df()
    con.close()
    phase("read")
    readings["hour"] = readings["start_utc"].dt.floor("h")
    hourly = readings.groupby(["meter_key", "hour"])["kwh"].agg(["sum", "count"])
    energy = hourly["sum"].unstack("meter_key").reindex(hours)
    quarters = hourly["count"].unstack("meter_key").reindex(hours).fillna(0)
    meters = meters.set_index("meter_key")

    def keys(kind: str) -> list[int]:
        return [k for k in meters.index[meters["kind"] == kind] if k in energy.columns]

    gen = energy[keys("generation")].fillna(0.0)
    gen.columns = meters.loc[gen.columns, "asset_id"]
    gen_source = meters.set_index("asset_id").loc[gen.columns, "source"]
    charge = energy[keys("storage_charge")].fillna(0.0)
    charge.columns = meters.loc[charge.columns, "asset_id"]
    discharge = energy[keys("storage_discharge")].fillna(0.0)
    discharge.columns = meters.loc[discharge.columns, "asset_id"]
    cons_keys = keys("consumption")
    load = energy[cons_keys].where(quarters[cons_keys] == 4)  # an incomplete hour is missing
    load.columns = meters.loc[load.columns, "asset_id"]
    known = load.fillna(0.0)
    del readings, hourly
    phase("hourly")

    grid_sources, shares, intensity = grid_mix_for(site, hours)
    mix = pd.DataFrame(shares, index=hours, columns=list(grid_sources))
    ef_loc = pd.Series(intensity, index=hours)

    # 1. Direct contracts by priority.
    gen_left = gen.copy()
    c_left = known.copy()
    direct = {}
    for c in sorted(park.contracts, key=lambda c: c.priority):
        if c.generator not in gen.columns or c.consumer not in known.columns:
            continue
        cap = math.inf if c.cap_mw is None else c.cap_mw * 1000.0
        d = np.minimum(np.minimum(gen_left[c.generator], c_left[c.consumer]), cap)
        gen_left[c.generator] -= d
        c_left[c.consumer] -= d
        direct[(c.consumer, gen_source[c.generator])] = (
            direct.get((c.consumer, gen_source[c.generator]), 0.0) + d
        )
    direct_total = sum(direct.values()) if direct else 0.0
    remaining = (known.sum(axis=1) - direct_total).clip(lower=0.0)

    def ratio(num: Any, den: pd.Series) -> Any:
        if isinstance(num, pd.DataFrame):
            return num.div(den.where(den > 0), axis=0).fillna(0.0)
        return (num / den.where(den > 0)).fillna(0.0)

    # 2. On-site pool by source; storage charging draws on it first.
    pool = gen_left.T.groupby(gen_source.values, sort=False).sum().T
    sources = list(pool.columns)
    pool_total = pool.sum(axis=1)
    charge_total = charge.sum(axis=1)
    from_pool = np.minimum(charge_total, pool_total)
    from_grid = charge_total - from_pool
    charge_onsite = ratio(pool, pool_total).mul(from_pool, axis=0)
    charge_grid = mix.mul(from_grid, axis=0).add_prefix("grid_")
    charge_by_key = pd.concat([charge_onsite, charge_grid], axis=1)
    pool_after = pool - charge_onsite
    pool_after_total = pool_after.sum(axis=1)
    served_onsite = np.minimum(pool_after_total, remaining)
    onsite_frac = ratio(pool_after.mul(ratio(served_onsite, pool_after_total), axis=0), remaining)
    left = remaining - served_onsite

    # 3. Storage pools, hour by hour.
    comp = ratio(charge_by_key, charge_total)
    pool_keys = list(charge_by_key.columns)
    n_on = len(sources)
    discharge_by_key = pd.DataFrame(0.0, index=hours, columns=pool_keys)
    eta = {b.id: b.round_trip_efficiency_pu for b in park.batteries}
    mix_values = mix.to_numpy()
    for battery in charge.columns:
        added = comp.mul(eta[battery] * charge[battery], axis=0).to_numpy()
        out = discharge[battery].to_numpy()
        taken = np.zeros_like(added)
        q = np.zeros(len(pool_keys))
        for t in range(len(hours)):
            q = q + added[t]
            d = out[t]
            if d > 0.0:
                content = q.sum()
                if d <= content:
                    part = q * (d / content)
                    q = q - part
                else:
                    part = q.copy()
                    part[n_on:] += mix_values[t] * (d - content)
                    q = np.zeros_like(q)
                taken[t] = part
        discharge_by_key += taken
    discharge_total = discharge.sum(axis=1)
    served_storage = np.minimum(discharge_total, left)
    storage_frac = ratio(
        discharge_by_key.mul(ratio(served_storage, discharge_total), axis=0), remaining
    )
    left = left - served_storage

    # 4. Grid residual at the zone's mix.
    grid_frac = mix.mul(ratio(left, remaining), axis=0)

    fractions = pd.concat(
        [
            onsite_frac.add_prefix("onsite_"),
            storage_frac.add_prefix("storage_"),
            grid_frac.add_prefix("grid_"),
        ],
        axis=1,
    )
    categories = list(fractions.columns)

    phase("park")

    # Per consumer and hour (one column per category), then per consumer and local day.
    rem = known.copy()
    for (consumer, _source), d in direct.items():
        rem[consumer] -= d
    long = (
        pd.concat({"load": known.stack(), "remaining": rem.stack()}, axis=1)
        .rename_axis(["hour", "consumer"])
        .reset_index()
    )
    hourly_table = fractions.assign(
        ef_loc=ef_loc, day=hours.tz_convert(LOCAL_TZ).normalize().tz_localize(None)
    )
    long = long.merge(hourly_table.rename_axis("hour").reset_index(), on="hour", how="left")
    for k in categories:
        long[k] = long["remaining"] * long[k]
    long["direct"] = 0.0
    for (consumer, source), d in direct.items():
        rows = long["consumer"] == consumer
        add = d.reindex(long.loc[rows, "hour"]).to_numpy()
        long.loc[rows, f"onsite_{source}"] += add
        long.loc[rows, "direct"] += add
    long["emissions_location_kgco2"] = long["load"] * long["ef_loc"]
    daily = long.groupby(["consumer", "day"])[
        [*categories, "load", "direct", "emissions_location_kgco2"]
    ].sum()

    clean_grid = {s for s in grid_sources if s != "fossil"}
    matched_cols = [f"onsite_{s}" for s in sources] + [f"storage_{s}" for s in sources]
    grid_cols = [k for k in categories if k not in matched_cols]
    clean_cols = matched_cols + [k for k in grid_cols if k.rsplit("_", 1)[-1] in clean_grid]
    residual = site.grid.ef_residual_kgco2_per_kwh
    reference = emission_factor(DEFAULT_REFERENCE).ef_kgco2_per_kwh
    daily["matched"] = daily[matched_cols].sum(axis=1)
    daily["clean"] = daily[clean_cols].sum(axis=1)
    daily["grid"] = daily[grid_cols].sum(axis=1)
    daily["cfe"] = (daily["clean"] / daily["load"].where(daily["load"] > 0)).astype(float)
    daily["emissions_market_kgco2"] = daily["grid"] * residual
    daily["avoided_kgco2"] = daily["matched"] * reference

    consumers = list(load.columns)
    n_c, n_d = len(consumers), days

    def wide(col: str) -> Any:
        return daily[col].unstack("day").reindex(consumers).to_numpy().reshape(n_c, n_d)

    result = {
        "consumers": np.asarray(consumers),
        "categories": np.asarray(categories),
        "category_kwh": np.stack([wide(k) for k in categories], axis=2),
        "load_kwh": wide("load"),
        "direct_kwh": wide("direct"),
        "matched_kwh": wide("matched"),
        "clean_kwh": wide("clean"),
        "grid_kwh": wide("grid"),
        "cfe_pu": wide("cfe"),
        "emissions_location_kgco2": wide("emissions_location_kgco2"),
        "emissions_market_kgco2": wide("emissions_market_kgco2"),
        "avoided_kgco2": wide("avoided_kgco2"),
    }
    phase("consumers")
    return result, phases


def compare(suandian_npz: Path, pandas_npz: Path) -> dict[str, Any]:
    """Every daily figure of every consumer, side by side."""
    import numpy as np

    a, b = np.load(suandian_npz), np.load(pandas_npz)
    if list(a["consumers"]) != list(b["consumers"]):
        return {"outputs_equal": False, "why": "consumer lists differ"}
    cats_a, cats_b = list(a["categories"]), list(b["categories"])
    if sorted(cats_a) != sorted(cats_b):
        return {"outputs_equal": False, "why": f"categories differ: {cats_a} vs {cats_b}"}
    order = [cats_b.index(c) for c in cats_a]
    pairs = {"category_kwh": (a["category_kwh"], b["category_kwh"][:, :, order])}
    pairs |= {k: (a[k], b[k]) for k in _OUTPUTS}
    max_abs: dict[str, float] = {}
    equal = True
    for name, (x, y) in pairs.items():
        ok = x.shape == y.shape and np.allclose(x, y, rtol=RTOL, atol=ATOL, equal_nan=True)
        equal = equal and bool(ok)
        diff = np.abs(np.nan_to_num(x) - np.nan_to_num(y)) if x.shape == y.shape else np.inf
        max_abs[name] = float(np.max(diff))
    return {
        "outputs_equal": equal,
        "max_abs_diff": max_abs,
        "compared_values": int(sum(x.size for x, _ in pairs.values())),
    }


def _run_child(
    kind: str,
    store: Path,
    size: Size,
    *,
    chunk_meters: int | None = None,
    repeat: int = 1,
    save: Path | None = None,
) -> dict[str, Any]:
    """Run ``--child kind`` in a fresh interpreter; return its JSON line plus process time."""
    args = ["--child", kind, "--store", str(store), "--size", json.dumps(asdict(size))]
    args += ["--repeat", str(repeat)]
    if chunk_meters is not None:
        args += ["--chunk-meters", str(chunk_meters)]
    if save is not None:
        args += ["--out", str(save)]
    cmd = [sys.executable, os.path.abspath(__file__), *args]
    t0 = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode:
        sys.stderr.write(done.stdout + done.stderr)
        raise SystemExit(f"child {' '.join(args)} failed with exit code {done.returncode}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    result["process_seconds"] = time.perf_counter() - t0
    return result


# --- main ---------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100 consumers, 30 days, small park")
    parser.add_argument("--meters", type=int, help="consumer meters (default 10,000; quick 100)")
    parser.add_argument("--days", type=int, help="days from 2025-01-01 (default 365; quick 30)")
    parser.add_argument(
        "--pandas-meters", type=int, default=PANDAS_METERS, help="consumers of the pandas subset"
    )
    parser.add_argument(
        "--data-dir", type=Path, default=Path("bench-data"), help="where cached stores live"
    )
    parser.add_argument("--regenerate", action="store_true", help="rebuild the cached stores")
    parser.add_argument(
        "--chunk-meters", type=int, help="trace_period's chunk_meters (default: its own)"
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="runs of each side of the subset comparison; the fastest counts (default 3)",
    )
    parser.add_argument("--child", choices=("trace", "pandas"), help=argparse.SUPPRESS)
    parser.add_argument("--size", help=argparse.SUPPRESS)
    parser.add_argument("--store", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")

    if args.child:
        size = Size(**json.loads(args.size))
        if args.child == "trace":
            _child_trace(size, args.store, args.chunk_meters, args.repeat, args.out)
        else:
            _child_pandas(size, args.store, args.repeat, args.out)
        return

    base = QUICK if args.quick else FULL
    size = Size(
        consumers=args.meters or base.consumers,
        pv=base.pv,
        wind=base.wind,
        batteries=base.batteries,
        days=args.days or base.days,
    )
    if size.consumers < 2 or not 1 <= size.days <= 365:
        parser.error("--meters must be at least 2 and --days within 1..365")
    subset = size.with_consumers(max(2, min(args.pandas_meters, size.consumers)))
    mode = "quick" if args.quick else "full" if size == FULL else "custom"
    print(
        f"trace_year ({mode}): {size.consumers:,} consumer + {size.generation_storage_meters} "
        f"generation/storage meters, {size.days} days from {START} at 15 min; pandas peer on "
        f"{subset.consumers:,} consumers",
        flush=True,
    )

    store_dir = args.data_dir / size.store_name()
    subset_dir = args.data_dir / subset.store_name()
    meta = ensure_store(size, store_dir, regenerate=args.regenerate)
    print(
        f"  store {store_dir}: {meta['counts']['readings']:,} readings, "
        f"{meta['store_mib']:,.0f} MiB, "
        + (
            "reused"
            if meta["reused"]
            else f"generated in {meta['generation_seconds']:.1f} s (not timed)"
        ),
        flush=True,
    )
    sub_meta = meta
    if subset_dir != store_dir:
        sub_meta = ensure_store(subset, subset_dir, regenerate=args.regenerate)
        print(
            f"  subset store {subset_dir}: {sub_meta['counts']['readings']:,} readings, "
            + (
                "reused"
                if sub_meta["reused"]
                else f"generated in {sub_meta['generation_seconds']:.1f} s"
            ),
            flush=True,
        )
    shared = _same_readings(store_dir, subset_dir, subset)

    print("  timed: trace_period over the whole park (fresh process) ...", flush=True)
    full = _run_child("trace", store_dir, size, chunk_meters=args.chunk_meters)
    print(
        f"  suandian {size.consumers:,} consumers: {full['seconds']:.1f} s, "
        f"peak RSS {full['peak_rss_mib']:,.0f} MiB "
        f"(park load {full['park_load_mwh']:,.0f} MWh, matched {full['park_matched_pu']:.1%}, "
        f"CFE {full['park_cfe_pu']:.1%}); phases {full['phases']}",
        flush=True,
    )

    with tempfile.TemporaryDirectory(prefix="trace_year-") as tmp:
        ours_npz, peer_npz = Path(tmp) / "suandian.npz", Path(tmp) / "pandas.npz"
        ours = _run_child(
            "trace",
            subset_dir,
            subset,
            chunk_meters=args.chunk_meters,
            repeat=args.repeat,
            save=ours_npz,
        )
        print(
            f"  suandian {subset.consumers:,} consumers: best {ours['seconds']:.2f} s of "
            f"{ours['all_seconds']}, "
            f"peak RSS {ours['peak_rss_mib']:,.0f} MiB",
            flush=True,
        )
        peer = _run_child("pandas", subset_dir, subset, repeat=args.repeat, save=peer_npz)
        print(
            f"  pandas   {subset.consumers:,} consumers: best {peer['seconds']:.2f} s of "
            f"{peer['all_seconds']}, "
            f"peak RSS {peer['peak_rss_mib']:,.0f} MiB; phases {peer['phases']}",
            flush=True,
        )
        check = compare(ours_npz, peer_npz)
    speedup = peer["seconds"] / ours["seconds"]
    print(
        f"  speedup vs pandas {speedup:.1f}x; outputs equal: {check['outputs_equal']} "
        f"(max abs diff {max(check.get('max_abs_diff', {'-': math.inf}).values()):.2e})",
        flush=True,
    )

    counts = meta["counts"]
    report: dict[str, Any] = {
        "benchmark": "trace_year",
        "mode": mode,
        "year": YEAR,
        "days": size.days,
        "intervals_15min": size.intervals,
        "meters": size.meters,
        "consumer_meters": size.consumers,
        "generation_storage_meters": size.generation_storage_meters,
        "registered_meters": counts["meters"],
        "readings": counts["readings"],
        "missing_share": meta["missing_share"],
        "seconds": round(full["seconds"], 3),
        "phases_seconds": full["phases"],
        "peak_rss_mib": round(full["peak_rss_mib"], 1),
        "rss_after_setup_mib": round(full["rss_after_setup_mib"], 1),
        "target_seconds": TARGET_SECONDS,
        "target_rss_mib": TARGET_RSS_MIB,
        "target_speedup": TARGET_SPEEDUP,
        "pandas_meters": subset.consumers,
        "pandas_seconds": round(peer["seconds"], 3),
        "pandas_all_seconds": peer["all_seconds"],
        "pandas_peak_rss_mib": round(peer["peak_rss_mib"], 1),
        "pandas_phases_seconds": peer["phases"],
        "suandian_subset_seconds": round(ours["seconds"], 3),
        "suandian_subset_all_seconds": ours["all_seconds"],
        "subset_repeat": args.repeat,
        "suandian_subset_peak_rss_mib": round(ours["peak_rss_mib"], 1),
        "suandian_subset_phases_seconds": ours["phases"],
        "speedup_vs_pandas": round(speedup, 2),
        "pandas_seconds_extrapolated_to_all_consumers": round(
            peer["seconds"] * size.consumers / subset.consumers, 1
        ),
        "outputs_equal": check["outputs_equal"],
        "max_abs_diff": check.get("max_abs_diff"),
        "compared_values": check.get("compared_values"),
        "subset_readings_same_as_full_store": shared,
        "subset_hours_by_path": ours["paths"],
        # The targets are for the full size (10,000 consumers, a year, a 1,000-consumer peer).
        "meets_targets": {
            "seconds": full["seconds"] <= TARGET_SECONDS,
            "rss": full["peak_rss_mib"] <= TARGET_RSS_MIB,
            "speedup": speedup >= TARGET_SPEEDUP,
        }
        if mode == "full" and subset.consumers == PANDAS_METERS
        else None,
        "park": {
            "load_mwh": round(full["park_load_mwh"], 1),
            "matched_pu": round(full["park_matched_pu"], 4),
            "cfe_pu": round(full["park_cfe_pu"], 4),
            "storage_kwh_attributed": round(full["park_storage_kwh"], 1),
            "completeness_pu": round(full["completeness_pu"], 5),
            "categories": full["categories"],
            "annualised_full_load_hours_ac": meta["annualised_full_load_hours_ac"],
        },
        "generation_seconds": meta["generation_seconds"],
        "store_reused": meta["reused"],
        "store_mib": meta["store_mib"],
        "store_dir": str(store_dir),
        "chunk_meters": args.chunk_meters or "trace_period default",
        "timed_runs": 1,
        "peak_rss_method": "VmHWM of /proc/self/status of a fresh subprocess after one run",
        "machine": machine_info(("numpy", "pandas", "duckdb")),
        "run_at_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    print(json.dumps(report, ensure_ascii=False))
    if not check["outputs_equal"]:
        sys.exit(1)  # a benchmark whose two sides disagree measured nothing


def _same_readings(store_dir: Path, subset_dir: Path, subset: Size) -> bool:
    """Whether the subset store holds exactly the full store's readings of its meters."""
    import duckdb

    if store_dir == subset_dir:
        return True
    # Registration order is generation, storage, then consumers: the subset's meters are the
    # first keys of both stores. An order-free checksum over (meter, interval, value).
    last_key = subset.generation_storage_meters + subset.consumers
    sql = (
        "SELECT count(*), sum(hash(m.meter_id, r.start_utc, r.kwh)::HUGEINT) "
        "FROM readings r JOIN meters m USING (meter_key) WHERE r.meter_key <= ?"
    )
    sums = []
    for d in (store_dir, subset_dir):
        con = duckdb.connect(str(d / "meters.duckdb"), read_only=True)
        try:
            sums.append(con.execute(sql, [last_key]).fetchone())
        finally:
            con.close()
    return sums[0] == sums[1]


if __name__ == "__main__":
    main()
