"""The ``suandian`` command line.

Errors that suandian raises on purpose are printed as one clear message and exit with status 1;
nothing here prints a traceback for bad input.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import pandas as pd
import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from suandian.cli_admin import admin_app
from suandian.cli_dispatch import (
    Comparison,
    comparison_json,
    dispatch_app,
    plan_site,
    print_comparison,
)
from suandian.cli_jobs import jobs_app
from suandian.cli_ledger import ledger_app, print_gec
from suandian.cli_meters import meters_app
from suandian.cli_progress import stage_progress
from suandian.cli_vpp import vpp_app
from suandian.core.errors import SuandianError
from suandian.core.times import parse_local_date
from suandian.scenario import bundled_scenarios, load_scenario
from suandian.scenario.model import Park
from suandian.settings import Settings
from suandian.store.readings import ReadingsStore

if TYPE_CHECKING:  # the ledger, its SQL store and the simulation load inside the demo
    from suandian.ledger import GecMonth
    from suandian.meters.certify import CertifyResult
    from suandian.sim.closed_loop import ClosedLoop
    from suandian.sim.network_loop import NetworkLoop

__all__ = ["app", "main"]

app = typer.Typer(
    name="suandian",
    help="算电 suandian — energy-carbon brain of a green compute park.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
scenario_app = typer.Typer(help="Park scenarios: list, show and validate.", no_args_is_help=True)
app.add_typer(scenario_app, name="scenario")
report_app = typer.Typer(help="Green-power reports from metered readings.", no_args_is_help=True)
app.add_typer(report_app, name="report")
app.add_typer(meters_app, name="meters")
app.add_typer(dispatch_app, name="dispatch")
app.add_typer(ledger_app, name="ledger")
app.add_typer(jobs_app, name="jobs")
app.add_typer(admin_app, name="admin")
app.add_typer(vpp_app, name="vpp")

# No console markup: scenario names, titles and messages are user text and may hold brackets.
# Piped output gets a wide fixed width rather than 80 columns, so report tables stay readable.
out = Console(markup=False, width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True, markup=False)


# --- scenario -----------------------------------------------------------------------------------


@scenario_app.command("list")
def scenario_list() -> None:
    """List the bundled scenarios."""
    for name in bundled_scenarios():
        park = load_scenario(name)
        out.print(Text(name, style="bold") + Text(f"  {park.title}  {park.title_zh}"))


@scenario_app.command("show")
def scenario_show(
    name_or_file: Annotated[str, typer.Argument(help="Bundled name (xining, national) or YAML.")],
) -> None:
    """Show a scenario as tables."""
    park = load_scenario(name_or_file)
    _print_park(park)


@scenario_app.command("validate")
def scenario_validate(
    file: Annotated[Path, typer.Argument(help="Scenario YAML file to check.")],
) -> None:
    """Validate a scenario file; exit 1 with every problem listed if it is invalid."""
    park = load_scenario(file)
    n_assets = (
        len(park.pv_plants) + len(park.wind_farms) + len(park.hydro_plants) + len(park.batteries)
    )
    out.print(
        Text("✓ ", style="green")
        + Text(
            f"{file}: scenario {park.name} is valid — "
            f"{len(park.sites)} site(s), {n_assets} generation/storage asset(s), "
            f"{len(park.data_centers)} data center(s), {len(park.consumers)} enterprise(s)"
        )
    )


def _fmt(x: float | None, unit: str = "", digits: int = 1) -> str:
    return "—" if x is None else f"{x:,.{digits}f}{(' ' + unit) if unit else ''}"


def _print_park(park: Park) -> None:
    out.print(Text(park.name, style="bold") + Text(f" — {park.title} {park.title_zh}"))
    out.print(f"year {park.year} · seed {park.seed} · {park.resolution_min}-min intervals")
    if park.description:
        out.print(park.description, style="dim")

    sites = Table(title="Sites")
    for col in ("id", "name", "名称", "lat °", "lon °", "alt m", "zone"):
        sites.add_column(col, no_wrap=col == "id")
    for s in park.sites:
        sites.add_row(
            s.id,
            s.name,
            s.name_zh,
            f"{s.lat_deg:.2f}",
            f"{s.lon_deg:.2f}",
            f"{s.altitude_m:,.0f}",
            s.zone,
        )
    out.print(sites)

    grid = Table(title="Grid ties and network")
    for col in ("site", "EF kgCO₂/kWh", "import MW", "export cap", "RTT BJ/SH/GZ ms"):
        grid.add_column(col, no_wrap=col == "site")
    for s in park.sites:
        rtt = f"{s.rtt.beijing_ms:g}/{s.rtt.shanghai_ms:g}/{s.rtt.guangzhou_ms:g}" if s.rtt else "—"
        grid.add_row(
            s.id,
            f"{s.grid.ef_location_kgco2_per_kwh:.4f}",
            _fmt(s.grid.import_limit_mw, digits=0),
            f"{s.grid.export_limit_share_pu:.0%}",
            rtt,
        )
    sources = sorted({s.grid.ef_location_source for s in park.sites})
    grid.caption = "EF: " + "; ".join(sources)
    out.print(grid)

    if park.pv_plants or park.wind_farms or park.hydro_plants or park.batteries:
        assets = Table(title="Generation and storage")
        for col in ("id", "site", "kind", "capacity", "detail", "target FLH h"):
            assets.add_column(col, no_wrap=col in ("id", "capacity"))
        for p in park.pv_plants:
            assets.add_row(
                p.id,
                p.site,
                "PV",
                f"{p.p_dc_mwp:g} MWp",
                f"tilt {p.tilt_deg:g}°, az {p.azimuth_deg:g}°, DC/AC {p.dc_ac_ratio_pu:g}",
                f"{p.target_full_load_h:,.0f}",
            )
        for w in park.wind_farms:
            assets.add_row(
                w.id,
                w.site,
                "wind",
                f"{w.capacity_mw:g} MW",
                f"{w.turbine_type}, hub {w.hub_height_m:g} m",
                f"{w.target_full_load_h:,.0f}",
            )
        for h in park.hydro_plants:
            assets.add_row(h.id, h.site, "hydro", f"{h.capacity_mw:g} MW", "run of river", "—")
        for b in park.batteries:
            assets.add_row(
                b.id,
                b.site,
                "battery",
                f"{b.p_mw:g} MW / {b.e_mwh:g} MWh",
                f"η {b.round_trip_efficiency_pu:.0%}, SoC {b.soc_min_pu:.0%}–{b.soc_max_pu:.0%}",
                "—",
            )
        out.print(assets)

    if park.data_centers:
        dcs = Table(title="Data centers")
        for col in ("id", "site", "IT capacity MW", "IT mean MW", "deferrable", "PUE range"):
            dcs.add_column(col, no_wrap=col == "id")
        for d in park.data_centers:
            dcs.add_row(
                d.id,
                d.site,
                f"{d.it_capacity_mw:g}",
                f"{d.it_mean_mw:g}",
                f"{d.deferrable_share_pu:.0%} within {d.deferral_window_h:g} h",
                f"{d.pue.pue_min:.2f}–{d.pue.pue_max:.2f}",
            )
        out.print(dcs)

    if park.consumers:
        cons = Table(title=f"Enterprises ({len(park.consumers)})")
        for col in ("id", "name", "kind", "mean MW"):
            cons.add_column(col, no_wrap=col == "id")
        for c in park.consumers:
            cons.add_row(c.id, f"{c.name} {c.name_zh}".strip(), c.kind, f"{c.mean_mw:g}")
        kinds = Counter(c.kind for c in park.consumers)
        cons.caption = " · ".join(f"{k}: {n}" for k, n in sorted(kinds.items())) + (
            f" · total {sum(c.mean_mw for c in park.consumers):.1f} MW mean"
        )
        out.print(cons)

    if park.contracts:
        contracts = Table(title="Direct supply contracts (绿电直连)")
        for col in ("generator", "consumer", "priority", "cap MW"):
            contracts.add_column(col)
        for contract in park.contracts:
            contracts.add_row(
                contract.generator,
                contract.consumer,
                str(contract.priority),
                _fmt(contract.cap_mw, digits=0),
            )
        out.print(contracts)

    for s in park.sites:
        if s.grid.tariff:
            tariff = Table(title=f"Tariff at {s.id} (local time)")
            for col in ("period", "CNY/kWh", "hours"):
                tariff.add_column(col)
            for period in s.grid.tariff.periods:
                hours = ", ".join(f"{a:g}–{b:g}" for a, b in period.hours_h)
                tariff.add_row(period.name, f"{period.price_cny_per_kwh:.4f}", hours)
            tariff.caption = f"export {s.grid.tariff.export_price_cny_per_kwh:.4f} CNY/kWh"
            out.print(tariff)


# --- demo ---------------------------------------------------------------------------------------


@app.command()
def demo(
    days: Annotated[
        int | None, typer.Option(min=1, help="Days to simulate (default: one year).")
    ] = None,
    start: Annotated[
        str | None, typer.Option(help="First local day, YYYY-MM-DD (default: 1 Jan of the year).")
    ] = None,
    scenario: Annotated[str, typer.Option(help="Bundled scenario name or YAML file.")] = "xining",
    out_dir: Annotated[Path, typer.Option("--out", help="Directory for the HTML report.")] = Path(
        "suandian-out"
    ),
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the summary as one JSON object.")
    ] = False,
    lang: Annotated[str, typer.Option(help="Report language: zh or en.")] = "zh",
    network: Annotated[
        bool,
        typer.Option(
            "--network",
            help="Also run the national computing network's sites beside the park, "
            "uncoordinated and coordinated (docs/closed_loop.md).",
        ),
    ] = False,
) -> None:
    """Simulate the park, dispatch it, meter it, trace its green power and report.

    Dispatches storage, grid and deferrable compute with the LP (rolling 48/24 h beyond two
    days) beside the rule-based baseline, meters the optimised plan, stores the simulated
    series and the meter readings in the data directory, writes an HTML report, and ends with
    the last day's green-power report and a summary per enterprise.
    """
    import datetime as dt

    from suandian.core.times import local_date_start_utc
    from suandian.meters.certify import certify_park
    from suandian.meters.importer import import_readings
    from suandian.meters.registry import meters_for_park
    from suandian.reports.daily import daily_report
    from suandian.reports.period import trace_period
    from suandian.reports.summary import period_summary
    from suandian.sim.closed_loop import closed_loop, closed_loop_sites
    from suandian.sim.dispatch_inputs import SiteDispatch
    from suandian.sim.metering import simulated_readings
    from suandian.sim.park import simulate, stage_count
    from suandian.sim.report import write_report
    from suandian.sim.summary import summarize
    from suandian.store.sql import database_url, open_ledger
    from suandian.store.timeseries import TimeseriesStore

    if lang not in ("zh", "en"):
        raise typer.BadParameter(f"{lang!r}; use zh or en", param_hint="--lang")
    settings = Settings()
    park = load_scenario(scenario)
    first = parse_local_date(start, "--start") if start else None
    n_years = _years_spanned(park, first, days)
    with stage_progress(err, as_json=as_json) as progress:
        task = progress.add_task("simulating", total=stage_count(park) * n_years + 7 + network)

        def tick(stage: str) -> None:
            progress.update(task, advance=1, description=stage)

        series = simulate(park, start=first, days=days, progress=tick)
        summary = summarize(park, series)
        progress.update(task, description="storing series (DuckDB)")
        run_id = f"{park.name}-{summary.start_local_date}-{summary.days}d-seed{park.seed}"
        frames = {"generation": series.generation_mw, "load": series.load_mw}
        frames |= {f"data_center/{k}": v for k, v in series.data_center.items()}
        frames |= {f"weather/{k}": v for k, v in series.weather.items()}
        with TimeseriesStore(settings.data_dir) as store:
            n_values = store.write_run(
                run_id=run_id,
                scenario=park.name,
                frames=frames,
                summary=summary.to_json(),
                resolution_min=series.resolution_min,
            )
            store_path = store.path
        progress.update(task, advance=1, description="writing report")
        report = write_report(
            out_dir / f"{run_id}.html", park=park, series=series, summary=summary, lang=lang
        )
        progress.update(task, advance=1, description="dispatch (HiGHS)")
        plans, skipped = _demo_dispatch(park, series)
        progress.update(task, advance=1, description="closed loop (forecast, plan, run)")
        loops = [closed_loop(park, series, site=site) for site in closed_loop_sites(park)]
        net = None
        if network:
            progress.update(task, advance=1, description="network (11 sites)")

            def network_day(day: int, n_days: int) -> None:
                progress.update(task, description=f"network: plan {day}/{n_days}")

            net = _demo_network(loops, summary.start_local_date, summary.days, network_day)
        progress.update(task, advance=1, description="metering (readings import)")
        first_day = dt.date.fromisoformat(summary.start_local_date)
        last_day = first_day + dt.timedelta(days=summary.days - 1)
        traced = None
        with ReadingsStore(settings.data_dir) as readings:
            readings.register_meters(meters_for_park(park))
            dispatched = [SiteDispatch(c.site, c.inputs, c.optimised) for c in plans]
            imported = import_readings(
                readings, simulated_readings(park, series, dispatch=dispatched)
            )
            progress.update(task, advance=1, description="tracing green power")
            if park.data_centers or park.consumers:
                traced = trace_period(readings, park, start=first_day, days=summary.days)
            progress.update(task, advance=1, description="certificates (ledger)")
            # The ledger runs on the simulation's clock: events are stamped, and certificates
            # expire, as if the period had just ended (a 2025 period certified in 2027 would
            # otherwise find its certificates expired).
            sim_now = local_date_start_utc(last_day + dt.timedelta(days=1)).to_pydatetime()
            ledger = open_ledger(database_url(settings), clock=lambda: sim_now)
            period_start = local_date_start_utc(first_day).to_pydatetime()
            period_end = local_date_start_utc(last_day + dt.timedelta(days=1)).to_pydatetime()
            claim_from = local_date_start_utc(
                max(first_day, last_day - dt.timedelta(days=DEMO_CLAIM_DAYS - 1))
            ).to_pydatetime()
            certified = certify_park(
                ledger,
                readings,
                park,
                start_utc=period_start,
                end_utc=period_end,
                claim_from_utc=claim_from,
                now_utc=sim_now,
            )
            gec = ledger.gec_summary()
        progress.update(task, advance=1, description="done")

    for note in skipped:
        err.print(note)
    day_report = daily_report(traced, park, date=last_day, resolution_min=60) if traced else None
    enterprises = period_summary(traced, park) if traced else None
    if as_json:
        payload = summary.to_json() | {
            "run_id": run_id,
            "report": str(report),
            "readings": imported.to_json(),
            "dispatch": {c.site: comparison_json(c) for c in plans},
            **_closed_loop_json(loops, net),
            "certificates": certified.to_json()
            | {"gec": [_gec_json(m) for m in gec], "database": _redacted(database_url(settings))},
        }
        if day_report is not None and enterprises is not None:
            payload["last_day"] = day_report.to_json()
            payload["period_by_consumer"] = enterprises.replace({float("nan"): None}).to_dict(
                orient="records"
            )
        sys.stdout.write(json.dumps(payload, ensure_ascii=False) + "\n")
        return
    _print_summary(park, summary)
    for c in plans:
        print_comparison(out, c, lang)
    for loop in loops:
        _print_closed_loop(loop, lang)
    if net is not None:
        _print_network(net, lang)
    out.print(f"stored {n_values:,} values as run {run_id} in {store_path}")
    out.print(
        f"meter readings: {imported.accepted:,} new, {imported.corrected:,} corrected, "
        f"{imported.duplicate:,} unchanged, {imported.rejected:,} rejected"
    )
    if day_report is not None and enterprises is not None:
        _print_daily(day_report, lang)
        _print_period(enterprises, lang, first_day, summary.days)
    _print_certificates(certified, gec)
    out.print(f"report: {report}")


DEMO_CLAIM_DAYS = 7
"""The demo issues certificates for its whole period and claims the last this many days:
claims take a transfer, a cancel and a claim per consumer and hour, each a transaction."""


def _redacted(url: str) -> str:
    """A database URL without its password, fit to print."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def _gec_json(m: GecMonth) -> dict[str, object]:
    return {
        "device": m.device,
        "project_code": m.project_code,
        "month": m.month,
        "issued_mwh": m.issued_wh / 1e6,
        "withdrawn_mwh": m.withdrawn_wh / 1e6,
        "certificates": m.certificates,
        "carry_out_kwh": m.carry_out_wh / 1e3,
        "first_code": m.first_code,
        "last_code": m.last_code,
    }


def _print_certificates(c: CertifyResult, gec: list[GecMonth]) -> None:
    out.print(
        f"certificates: issued {c.issued_bundles:,} hourly bundles this run, "
        f"{c.issued_wh / 1e6:,.1f} MWh (one certificate per Wh); ledger chain head "
        f"{c.head.hash if c.head else '—'}"
    )
    if c.claim_start_utc is not None:
        table = Table(
            "consumer", "consumed MWh", "claimed MWh", "hourly match", title="claims, last days"
        )
        for name in c.consumers:
            used, got = c.consumption_wh.get(name, 0), c.claimed_wh.get(name, 0)
            table.add_row(
                name,
                f"{used / 1e6:,.2f}",
                f"{got / 1e6:,.2f}",
                f"{got / used:.1%}" if used else "—",
            )
        table.caption = (
            f"{c.claim_start_utc:%Y-%m-%d %H:%M} – {c.claim_end_utc:%Y-%m-%d %H:%M} UTC; claims "
            "made by this run (an hour claimed before counts as consumption only)"
        )
        out.print(table)
    for note in c.notes:
        out.print(note)
    print_gec(out, gec)


def _closed_loop_json(loops: list[ClosedLoop], net: NetworkLoop | None) -> dict[str, object]:
    """``uncoordinated`` and ``coordinated``: the figures of the first site's closed loop (the
    park's one site for ``xining``), with every site's under ``by_site`` and, with
    ``--network``, the network's under ``network``."""
    if not loops:
        return {"uncoordinated": None, "coordinated": None}
    out: dict[str, object] = {}
    for mode in ("uncoordinated", "coordinated"):
        side = loops[0].side_json(mode)
        if len(loops) > 1:
            side["by_site"] = {lp.site: lp.side_json(mode) for lp in loops}
        if net is not None:
            side["network"] = net.side_json(mode)
        out[mode] = side
    out["closed_loop"] = {
        "objective": loops[0].objective,
        "horizon": loops[0].horizon,
        "resolution_min": loops[0].resolution_min,
        "forecast_error": asdict(loops[0].forecast_error),
        "notes": list(loops[0].notes),
    }
    if net is not None:
        out["closed_loop"]["network"] = net.how_json()  # type: ignore[index]
    return out


def _demo_network(
    loops: list[ClosedLoop],
    first_local_date: str,
    days: int,
    progress: Callable[[int, int], None],
) -> NetworkLoop:
    """The ``national`` sites beside the park's closed loop over the same days."""
    import datetime as dt

    from suandian.core.errors import InputError
    from suandian.sim.network_loop import network_loop

    if not loops:
        raise InputError(
            "--network: the scenario has no site the closed loop can run; use the xining park"
        )
    return network_loop(
        load_scenario("national"),
        loops[0],
        first_day=dt.date.fromisoformat(first_local_date),
        days=days,
        progress=progress,
    )


def _print_network(net: NetworkLoop, lang: str) -> None:
    title = (
        f"算力网 · {len(net.sites)} 个节点 · 无协同 vs 算电协同"
        if lang == "zh"
        else f"Computing network · {len(net.sites)} sites · uncoordinated vs coordinated"
    )
    table = _side_by_side(title, _NETWORK_ROWS, net.uncoordinated, net.coordinated, lang)
    table.caption = " · ".join(net.notes) + " · docs/closed_loop.md"
    out.print(table)


def _side_by_side(
    title: str, rows: tuple[tuple[str, str, str, str], ...], unc: object, coo: object, lang: str
) -> Table:
    """One row per (attribute, English, Chinese, kind ``pct``, ``num`` or ``int``) of two runs,
    with the change."""
    zh = lang == "zh"
    table = Table(title=title)
    table.add_column("指标" if zh else "figure")
    table.add_column("无协同" if zh else "uncoordinated", justify="right")
    table.add_column("算电协同" if zh else "coordinated", justify="right")
    table.add_column("变化" if zh else "change", justify="right")
    for key, en, cn, kind in rows:
        a, b = float(getattr(unc, key)), float(getattr(coo, key))
        if kind == "pct":
            cells = (f"{a:.1%}", f"{b:.1%}", f"{(b - a) * 100:+.1f} pp")
        else:
            change = f"{(b - a) / abs(a):+.1%}" if a else "—"
            digits = 0 if kind == "int" else 1
            cells = (f"{a:,.{digits}f}", f"{b:,.{digits}f}", change)
        table.add_row(cn if zh else en, *cells)
    return table


_NETWORK_ROWS = (
    ("green_share_pu", "hourly green share (park output)", "小时绿电占比（园区余电）", "pct"),
    ("cfe_pu", "CFE (hourly carbon-free)", "CFE（逐时无碳）", "pct"),
    ("cost_cny", "cost incl. data moves [CNY]", "成本（含数据传输）[CNY]", "num"),
    ("emissions_tco2", "emissions [tCO₂]", "排放 [tCO₂]", "num"),
    ("curtailment_absorbed_mwh", "park curtailment absorbed [MWh]", "消纳园区弃电 [MWh]", "num"),
    ("deadline_misses_mwh", "deadline misses [MWh]", "超期算力 [MWh]", "num"),
    ("jobs_missed", "jobs missed", "超期作业数", "int"),
    ("jobs_moved", "jobs run away from their data", "异地运行作业数", "int"),
    ("data_moved_gb", "data moved [GB]", "数据传输 [GB]", "int"),
    ("capacity_overrun_mwh", "hall capacity overrun [MWh]", "机房超容 [MWh]", "num"),
)


_LOOP_ROWS = (
    ("green_share_pu", "hourly green share", "小时绿电占比", "pct"),
    ("cfe_pu", "CFE (hourly carbon-free)", "CFE（逐时无碳）", "pct"),
    ("cost_cny", "cost [CNY]", "电费 [CNY]", "num"),
    ("emissions_tco2", "emissions [tCO₂]", "排放 [tCO₂]", "num"),
    ("curtailment_mwh", "curtailment [MWh]", "弃电 [MWh]", "num"),
    ("curtailment_absorbed_mwh", "curtailment absorbed [MWh]", "消纳弃电 [MWh]", "num"),
    ("deadline_misses_mwh", "deadline misses [MWh]", "超期算力 [MWh]", "num"),
    ("unserved_mwh", "unserved load [MWh]", "未供负荷 [MWh]", "num"),
)


def _print_closed_loop(loop: ClosedLoop, lang: str) -> None:
    title = (
        f"闭环运行 · {loop.site} · 无协同 vs 算电协同"
        if lang == "zh"
        else f"Closed loop · {loop.site} · uncoordinated vs coordinated (算电协同)"
    )
    table = _side_by_side(title, _LOOP_ROWS, loop.uncoordinated, loop.coordinated, lang)
    table.caption = (
        f"uncoordinated: compute on arrival, battery by rules · coordinated: LP "
        f"({loop.objective}, {loop.horizon}, {loop.resolution_min} min) on forecasts, run on "
        "realised weather · docs/closed_loop.md"
    )
    out.print(table)


def _demo_dispatch(park: Park, series: object) -> tuple[list[Comparison], list[str]]:
    """Dispatch every site with assets at the simulation's resolution, cost objective.

    Periods over two days roll a 48 h window committed 24 h at a time; shorter ones are one
    solve. Sites without a tariff are skipped with a note.
    """
    from suandian.sim.dispatch_inputs import dispatchable_sites
    from suandian.sim.park import ParkSeries

    assert isinstance(series, ParkSeries)
    steps_per_h = 60 // series.resolution_min
    days = len(series.index) / (24 * steps_per_h)
    rolling = (48 * steps_per_h, 24 * steps_per_h) if days > 2 else None
    plans: list[Comparison] = []
    skipped: list[str] = []
    for site in dispatchable_sites(park):
        if park.site(site).grid.tariff is None:
            skipped.append(f"dispatch: site {site} has no tariff; its battery stays idle")
            continue
        plans.append(
            plan_site(
                park,
                series,
                site=site,
                objective="cost",
                resolution_min=series.resolution_min,
                rolling=rolling,
            )
        )
    return plans, skipped


def _print_period(frame: pd.DataFrame, lang: str, first: object, days: int) -> None:
    heads = {
        "en": (
            "consumer",
            "load MWh",
            "green %",
            "CFE %",
            "location tCO₂",
            "market tCO₂",
            "avoided tCO₂",
            "complete %",
        ),
        "zh": (
            "用户",
            "用电量 MWh",
            "绿电占比 %",
            "CFE %",
            "基于位置 tCO₂",
            "基于市场 tCO₂",
            "减排量 tCO₂",
            "完整率 %",
        ),
    }[lang]
    title = (
        f"Green power by enterprise · {first} · {days} days"
        if lang == "en"
        else f"各企业绿电汇总 · {first} · {days} 天"
    )
    table = Table(title=title)
    for i, head in enumerate(heads):
        table.add_column(head, justify="left" if i < 1 else "right", no_wrap=i == 0)
    for _, row in frame.drop(columns=["name"]).iterrows():
        values = row.to_list()
        cells = [str(values[0])] + ["—" if v != v else f"{v:,.1f}" for v in values[1:]]
        table.add_row(*cells, style="bold" if values[0] == "park" else None)
    out.print(table)


def _years_spanned(park: Park, first: object, days: int | None) -> int:
    import datetime as dt

    start = first if isinstance(first, dt.date) else dt.date(park.year, 1, 1)
    if days is None:  # one year from the start, as simulate() does
        try:
            end = start.replace(year=start.year + 1) - dt.timedelta(days=1)
        except ValueError:  # 29 February
            end = dt.date(start.year + 1, 2, 28)
    else:
        end = start + dt.timedelta(days=max(days, 1) - 1)
    return end.year - start.year + 1


def _print_summary(park: Park, s: object) -> None:
    from suandian.sim.summary import Summary

    assert isinstance(s, Summary)

    def pct(x: float | None) -> str:
        return "—" if x is None else f"{x:.1%}"

    table = Table(title=f"{park.title or park.name} · {s.start_local_date} · {s.days} days")
    table.add_column("figure")
    table.add_column("value", justify="right")
    for source in ("pv", "wind", "hydro"):
        if s.generation_mwh.get(source):
            table.add_row(f"generation {source}", f"{s.generation_mwh[source]:,.0f} MWh")
    table.add_row("generation total", f"{s.generation_mwh['total']:,.0f} MWh")
    table.add_row("load", f"{s.load_mwh:,.0f} MWh (peak {s.peak_load_mw:,.1f} MW)")
    table.add_row("renewable fraction (energy)", pct(s.renewable_fraction))
    table.add_row("hourly-matched green share, no storage", pct(s.hourly_match_no_storage))
    table.add_row("export (capped)", f"{s.export_mwh:,.0f} MWh")
    table.add_row(
        "curtailment under the export cap",
        f"{s.curtailment_mwh:,.0f} MWh ({pct(s.curtailment_share)})",
    )
    table.add_row("grid import", f"{s.import_mwh:,.0f} MWh")
    table.add_row(
        "deficit above the import limit",
        f"{s.unserved_mwh:,.1f} MWh in {s.unserved_intervals} intervals",
    )
    for asset, flh in s.full_load_hours.items():
        table.add_row(f"full-load hours {asset}", f"{flh:,.0f} h")
    for dc, pue in s.pue_mean.items():
        table.add_row(f"mean PUE {dc}", f"{pue:.3f}")
    out.print(table)


# --- emission factors ---------------------------------------------------------------------------


@app.command("factors")
def factors_list() -> None:
    """List the emission factors a report can name (--factor), with their sources."""
    from suandian.grid.factors import emission_factors

    table = Table(title="Emission factors (kgCO₂/kWh)")
    for col in ("name", "kgCO₂/kWh", "year", "scope", "source"):
        table.add_column(col, no_wrap=col == "name", justify="right" if col[0] == "k" else "left")
    for f in emission_factors().values():
        year = "—" if f.year is None else str(f.year)
        table.add_row(f.name, f"{f.ef_kgco2_per_kwh:.4f}", year, f.scope, f.source)
    out.print(table)


# --- reports ------------------------------------------------------------------------------------


@report_app.command("daily")
def report_daily(
    date: Annotated[str, typer.Option(help="Local (Asia/Shanghai) day, YYYY-MM-DD.")],
    consumer: Annotated[
        str | None, typer.Option(help="Only this consumer (asset id); default all and the park.")
    ] = None,
    fmt: Annotated[str, typer.Option("--format", help="table, csv, xlsx or json.")] = "table",
    lang: Annotated[str, typer.Option(help="zh or en.")] = "zh",
    factor: Annotated[
        str, typer.Option(help="Reference emission factor for avoided CO₂ (see the factor table).")
    ] = "cn-national-2023",
    scenario: Annotated[str, typer.Option(help="Bundled scenario name or YAML file.")] = "xining",
    out_file: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="File for csv, xlsx or json (default: stdout for "
            "csv and json, ./report-DATE.xlsx for xlsx).",
        ),
    ] = None,
    resolution: Annotated[int, typer.Option(help="Attribution interval: 60 or 15 minutes.")] = 60,
    lifecycle: Annotated[
        bool, typer.Option(help="Charge on-site green power its lifecycle factor (else 0).")
    ] = False,
    as_of: Annotated[
        str | None,
        typer.Option(
            help="Recompute as the readings stood at this UTC time (ISO-8601 with offset)."
        ),
    ] = None,
) -> None:
    """Daily green-power report: source composition, green share, CFE, emissions, avoided CO₂."""
    from suandian.core.times import require_utc
    from suandian.reports.daily import daily_report
    from suandian.reports.period import trace_period
    from suandian.store.readings import ReadingsStore

    if fmt not in ("table", "csv", "xlsx", "json"):
        raise typer.BadParameter(f"{fmt!r}; use table, csv, xlsx or json", param_hint="--format")
    if lang not in ("zh", "en"):
        raise typer.BadParameter(f"{lang!r}; use zh or en", param_hint="--lang")
    if resolution not in (15, 60):
        raise typer.BadParameter(f"{resolution}; use 60 or 15 minutes", param_hint="--resolution")
    day = parse_local_date(date, "--date")
    cutoff = None
    if as_of:
        stamp = pd_timestamp(as_of)
        if stamp.tzinfo is None:
            raise typer.BadParameter(
                f"{as_of!r} has no time zone; add one, e.g. {as_of}Z or {as_of}+08:00",
                param_hint="--as-of",
            )
        cutoff = require_utc(stamp, "--as-of").to_pydatetime()
    park = load_scenario(scenario)
    with ReadingsStore(Settings().data_dir) as store:
        traces = trace_period(
            store,
            park,
            start=day,
            days=1,
            resolution_min=resolution,
            reference=factor,
            lifecycle=lifecycle,
            as_of=cutoff,
        )
    report = daily_report(traces, park, date=day, resolution_min=resolution).select(consumer)
    if fmt == "table":
        _print_daily(report, lang)
        return
    if fmt in ("csv", "json") and out_file is None:
        import io
        import json as _json

        if fmt == "json":
            sys.stdout.write(_json.dumps(report.to_json(), ensure_ascii=False) + "\n")
        else:
            buf = io.StringIO()
            report.csv_frame().to_csv(buf, index=False)
            sys.stdout.write(buf.getvalue())
        return
    target = out_file or Path(f"report-{day.isoformat()}.xlsx")
    report.write(fmt, target, lang)  # type: ignore[arg-type]
    out.print(f"wrote {target}")


def pd_timestamp(text: str) -> pd.Timestamp:
    try:
        return pd.Timestamp(text)
    except ValueError:
        raise typer.BadParameter(
            f"{text!r} is not a timestamp; write ISO-8601 with an offset, "
            "e.g. 2025-07-02T00:00:00Z",
            param_hint="--as-of",
        ) from None


def _print_daily(report: object, lang: str) -> None:
    from suandian.reports.daily import LABELS, DailyReport

    assert isinstance(report, DailyReport)
    lab = LABELS[lang]
    frame = report.labelled(lang).drop(columns=[LABELS[lang]["name"]])  # names: scenario show
    table = Table(title=f"{lab['title']} · {report.scenario} · {report.date.isoformat()}")
    for i, col in enumerate(frame.columns):
        table.add_column(str(col), justify="left" if i < 1 else "right", no_wrap=i == 0)
    for _, row in frame.iterrows():
        cells = [
            ("—" if v != v else f"{v:,.1f}") if isinstance(v, float) else str(v)
            for v in row.to_list()
        ]
        table.add_row(*cells, style="bold" if row.iloc[0] == "park" else None)
    table.caption = report.notes(lang)
    out.print(table)


# --- service ------------------------------------------------------------------------------------


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8000,
    scenario: Annotated[
        str | None,
        typer.Option(help="Scenario served (default: SUANDIAN_SCENARIO, else xining)."),
    ] = None,
    mqtt: Annotated[
        str | None,
        typer.Option(
            help="MQTT broker for readings, e.g. mqtt://127.0.0.1:1883 (default: "
            "SUANDIAN_MQTT_URL; unset: no MQTT)."
        ),
    ] = None,
    log_level: Annotated[str, typer.Option(help="debug, info, warning or error.")] = "info",
) -> None:
    """Run the platform service: REST API, ingestion, emissions API and dashboard.

    Stores: the data directory (SUANDIAN_DATA_DIR) and SQLite, or PostgreSQL with
    SUANDIAN_DATABASE_URL. OpenAPI at /docs and /openapi.json, the dashboard at /dashboard.
    """
    import uvicorn

    from suandian.api import create_app
    from suandian.api.logs import configure_logging

    if log_level not in ("debug", "info", "warning", "error"):
        raise typer.BadParameter(f"{log_level!r}; use debug, info, warning or error")
    overrides: dict[str, object] = {}
    if scenario is not None:
        overrides["scenario"] = scenario
    if mqtt is not None:
        overrides["mqtt_url"] = mqtt
    settings = Settings(**overrides)  # type: ignore[arg-type]
    configure_logging(log_level)
    application = create_app(settings)
    err.print(
        f"suandian serving {settings.scenario} on http://{host}:{port} (dashboard: /dashboard)"
    )
    uvicorn.run(application, host=host, port=port, log_config=None, access_log=False)


# --- entry point --------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    """Console entry point: run the app, turn suandian's errors into a message and exit 1."""
    try:
        app(args=argv, standalone_mode=True)
    except SuandianError as exc:
        # Plain text: messages contain brackets ("[MW]", "[0]") that are not markup.
        err.print(Text("error: ", style="bold red") + Text(str(exc)), highlight=False)
        sys.exit(1)


if __name__ == "__main__":
    main()
