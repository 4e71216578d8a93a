"""``suandian ledger``: the green-certificate ledger from the command line.

Mounted on the main app as ``app.add_typer(ledger_app, name="ledger")``. The ledger lives in
``SUANDIAN_DATABASE_URL`` (PostgreSQL) or else SQLite in the data directory; it is migrated
to the latest schema when opened. Errors are :class:`~suandian.core.errors.SuandianError`
subclasses; ``suandian.cli.main`` prints them as one message and exits 1, and an operation
that fails changes nothing.

Times on the command line are Asia/Shanghai: ``--from`` / ``--to`` are local days (inclusive),
``--hour`` a local clock hour such as ``2025-07-01T10:00``.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import pandas as pd
import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from suandian.core.errors import InputError
from suandian.core.times import LOCAL_TZ, local_date_start_utc, parse_local_date
from suandian.scenario import Park, load_scenario
from suandian.settings import Settings

if TYPE_CHECKING:  # the SQL store and the meters load inside the commands
    from suandian.ledger import BundleView, GecMonth, Ledger

__all__ = ["ledger_app", "print_gec"]

ledger_app = typer.Typer(
    help="Green certificates (one Wh, one ID): issue, transfer, split, cancel, claim, show, "
    "verify, evidence.",
    no_args_is_help=True,
)

out = Console(markup=False)
err = Console(stderr=True, markup=False)

BundleIds = Annotated[list[int], typer.Option("--bundle", help="Bundle id (repeat for more).")]
FromDay = Annotated[str, typer.Option("--from", help="First local day, YYYY-MM-DD.")]
ToDay = Annotated[str | None, typer.Option("--to", help="Last local day (default: --from).")]
ScenarioOpt = Annotated[str, typer.Option(help="Bundled scenario name or YAML file.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]


def _ledger() -> Ledger:
    from suandian.store.sql import database_url, open_ledger

    return open_ledger(database_url(Settings()))


def _days(first: str, last: str | None) -> tuple[dt.date, dt.date, dt.datetime, dt.datetime]:
    d1 = parse_local_date(first, "--from")
    d2 = parse_local_date(last, "--to") if last else d1
    if d2 < d1:
        raise InputError(f"--to {d2} is before --from {d1}; give the first day first")
    start = local_date_start_utc(d1).to_pydatetime()
    end = local_date_start_utc(d2 + dt.timedelta(days=1)).to_pydatetime()
    return d1, d2, start, end


def _local_hour(text: str) -> dt.datetime:
    try:
        t = pd.Timestamp(text)
    except ValueError:
        raise InputError(f"--hour: {text!r} is not a time; use e.g. 2025-07-01T10:00") from None
    if t.tzinfo is None:
        t = t.tz_localize(LOCAL_TZ)
    if t != t.floor("h"):
        raise InputError(f"--hour: {text!r} is not on the hour; certificates match clock hours")
    return t.tz_convert("UTC").to_pydatetime()


def _emit(payload: dict[str, object]) -> None:
    sys.stdout.write(json.dumps(payload, ensure_ascii=False, default=str) + "\n")


@ledger_app.command("issue")
def ledger_issue(
    first: FromDay,
    last: ToDay = None,
    scenario: ScenarioOpt = "xining",
    as_json: JsonOpt = False,
) -> None:
    """Register the park, record its hourly metering and issue certificates for it.

    Reads the meters store (``suandian meters import`` or the demo fill it); an hour is issued
    once, never above what was metered, and hours issued before are skipped.
    """
    from suandian.meters.certify import issue_metered, record_metering, register_park
    from suandian.meters.registry import meters_for_park
    from suandian.store.readings import ReadingsStore

    park = load_scenario(scenario)
    _d1, _d2, start, end = _days(first, last)
    ledger = _ledger()
    with ReadingsStore(Settings().data_dir) as store:
        store.register_meters(meters_for_park(park))
        register_park(ledger, park)
        n_gen, n_con = record_metering(ledger, store, park, start, end)
    bundles, wh = issue_metered(ledger, park, start, end)
    payload = {
        "generation_hours_recorded": n_gen,
        "consumption_hours_recorded": n_con,
        "issued_bundles": bundles,
        "issued_mwh": wh / 1e6,
        "chain_head": ledger.head().hash,
    }
    if as_json:
        _emit(payload)
        return
    out.print(
        f"recorded {n_gen:,} device-hours of generation and {n_con:,} consumer-hours; "
        f"issued {bundles:,} bundles, {wh / 1e6:,.3f} MWh"
    )


@ledger_app.command("transfer")
def ledger_transfer(
    bundle: BundleIds,
    sender: Annotated[str, typer.Option(help="Account that holds the bundles.")],
    recipient: Annotated[str, typer.Option(help="Account that receives them.")],
) -> None:
    """Move active bundles to an account that accepts the sender."""
    _ledger().transfer(bundle_ids=bundle, sender=sender, recipient=recipient)
    out.print(f"transferred {len(bundle)} bundle(s) from {sender} to {recipient}")


@ledger_app.command("split")
def ledger_split(
    bundle: Annotated[int, typer.Option("--bundle", help="Bundle id.")],
    sizes: Annotated[str, typer.Option(help="Wh of each child, comma-separated: 250,750.")],
    account: Annotated[str, typer.Option(help="Account that holds the bundle.")],
) -> None:
    """Split an active bundle into children that partition its ID range."""
    try:
        parts = [int(x) for x in sizes.split(",") if x.strip()]
    except ValueError:
        raise InputError(f"--sizes: {sizes!r}; give whole Wh separated by commas") from None
    children = _ledger().split(bundle_id=bundle, sizes_wh=parts, account=account)
    out.print(f"bundle {bundle} split into {', '.join(map(str, children))}")


@ledger_app.command("cancel")
def ledger_cancel(
    bundle: BundleIds,
    account: Annotated[str, typer.Option(help="Account that holds the bundles.")],
    beneficiary: Annotated[str, typer.Option(help="Consumer account the energy is for.")],
    hour: Annotated[str, typer.Option(help="Consumption hour (local), e.g. 2025-07-01T10:00.")],
) -> None:
    """Cancel active bundles for a beneficiary's consumption in one clock hour."""
    start = _local_hour(hour)
    _ledger().cancel(
        bundle_ids=bundle,
        account=account,
        beneficiary=beneficiary,
        period_start_utc=start,
        period_end_utc=start + dt.timedelta(hours=1),
    )
    out.print(f"cancelled {len(bundle)} bundle(s) for {beneficiary}, hour {hour}")


@ledger_app.command("claim")
def ledger_claim(
    bundle: Annotated[
        list[int] | None, typer.Option("--bundle", help="Cancelled bundle id (repeat).")
    ] = None,
    beneficiary: Annotated[str | None, typer.Option(help="Consumer account.")] = None,
    auto: Annotated[
        bool,
        typer.Option(
            "--hourly",
            help="Allocate each hour's active certificates to the consumers (direct contracts "
            "first, then pro rata) and claim them, over --from … --to.",
        ),
    ] = False,
    first: Annotated[str | None, typer.Option("--from", help="First local day.")] = None,
    last: ToDay = None,
    scenario: ScenarioOpt = "xining",
) -> None:
    """Claim cancelled bundles against metered consumption (or allocate hourly, --hourly)."""
    from suandian.meters.certify import claim_hourly, hourly_charge_wh
    from suandian.meters.registry import meters_for_park
    from suandian.store.readings import ReadingsStore

    ledger = _ledger()
    if auto:
        if first is None:
            raise InputError("--hourly needs --from (and optionally --to)")
        park = load_scenario(scenario)
        d1, d2, start, end = _days(first, last)
        n_hours = int((end - start) / dt.timedelta(hours=1))
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total} h"),
            TimeElapsedColumn(),
            console=err,
            disable=not err.is_terminal,
        ) as bar:
            task = bar.add_task(f"claims {d1} – {d2}", total=n_hours)

            def tick(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total)

            with ReadingsStore(Settings().data_dir) as store:
                store.register_meters(meters_for_park(park))
                charge = hourly_charge_wh(store, park, start, end)
            claimed, consumed, notes = claim_hourly(
                ledger, park, start, end, charge_wh=charge, progress=tick
            )
        for note in notes:
            err.print(note)
        for c in sorted(claimed):
            share = claimed[c] / consumed[c] if consumed[c] else float("nan")
            out.print(f"{c}: claimed {claimed[c] / 1e6:,.3f} MWh, hourly match {share:.1%}")
        return
    if not bundle or beneficiary is None:
        raise InputError("claim needs --bundle … and --beneficiary, or --hourly --from D")
    ledger.claim(bundle_ids=bundle, beneficiary=beneficiary)
    out.print(f"claimed {len(bundle)} bundle(s) for {beneficiary}")


def _bundle_row(b: BundleView) -> list[str]:
    return [
        str(b.id),
        b.device,
        b.source.value + (" · storage" if b.storage else ""),
        b.production_start_utc.astimezone(LOCAL_TZ).strftime("%Y-%m-%d %H:%M"),
        f"{b.wh:,}",
        f"{b.start_id}–{b.end_id}",
        b.owner,
        b.status.value,
        b.beneficiary or "",
    ]


@ledger_app.command("show")
def ledger_show(
    account: Annotated[str | None, typer.Option(help="List this account's bundles.")] = None,
    bundle: Annotated[int | None, typer.Option("--bundle", help="Show one bundle.")] = None,
    status: Annotated[str | None, typer.Option(help="Only bundles in this status.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="Most bundles listed.")] = 50,
    as_json: JsonOpt = False,
) -> None:
    """One bundle, an account's bundles, or (by default) the chain head and the GEC view."""
    ledger = _ledger()
    if bundle is not None:
        b = ledger.get_bundle(bundle)
        if as_json:
            _emit({k: getattr(b, k) for k in b.__dataclass_fields__})
            return
        table = Table("field", "value")
        for k in b.__dataclass_fields__:
            table.add_row(k, str(getattr(b, k)))
        out.print(table)
        return
    if account is not None:
        bundles = ledger.bundles_of(account, status)
        if as_json:
            _emit({"account": account, "bundles": [b.__dict__ for b in bundles[:limit]]})
            return
        table = Table(
            "id", "device", "source", "produced (local)", "Wh", "IDs", "owner", "status", "for"
        )
        for b in bundles[:limit]:
            table.add_row(*_bundle_row(b))
        table.caption = f"{len(bundles):,} bundle(s), {sum(b.wh for b in bundles):,} Wh"
        out.print(table)
        return
    head = ledger.head()
    months = ledger.gec_summary()
    if as_json:
        _emit(
            {
                "chain_head": {"seq": head.seq, "hash": head.hash},
                "gec": [m.__dict__ for m in months],
            }
        )
        return
    out.print(f"chain head: event {head.seq}, {head.hash}")
    print_gec(out, months)


def print_gec(console: Console, months: list[GecMonth]) -> None:
    """The China GEC view as a table: per device and month, 1-MWh certificates and carry-over."""
    table = Table(
        "device",
        "project",
        "month",
        "issued MWh",
        "withdrawn MWh",
        "GEC (1 MWh)",
        "carry-out kWh",
        "first code",
    )
    for m in months:
        table.add_row(
            m.device,
            m.project_code,
            m.month,
            f"{m.issued_wh / 1e6:,.3f}",
            f"{m.withdrawn_wh / 1e6:,.3f}",
            f"{m.certificates:,}",
            f"{m.carry_out_wh / 1e3:,.3f}",
            m.first_code or "",
        )
    console.print(table)


@ledger_app.command("verify")
def ledger_verify(as_json: JsonOpt = False) -> None:
    """Recompute the event chain; name the first event altered, removed or reordered."""
    result = _ledger().verify()
    if as_json:
        _emit(result.__dict__)
    elif result.ok:
        out.print(f"chain verified: {result.count:,} events, head {result.head_hash}")
    else:
        err.print(
            f"chain broken at event {result.first_bad_seq}: {result.reason} "
            f"({result.count:,} events read; last good head {result.head_hash})"
        )
    if not result.ok:
        raise typer.Exit(1)


def _direct_contracts(park: Park, consumer: str) -> dict[str, float | None]:
    return {c.generator: c.cap_mw for c in park.contracts if c.consumer == consumer}


@ledger_app.command("evidence")
def ledger_evidence(
    consumer: Annotated[str, typer.Option(help="Consumer account (data center or enterprise).")],
    first: FromDay,
    last: ToDay = None,
    scenario: ScenarioOpt = "xining",
    out_dir: Annotated[Path, typer.Option("--out", help="Directory for JSON and HTML.")] = Path(
        "suandian-out"
    ),
    as_json: JsonOpt = False,
) -> None:
    """Evidence pack for an auditor: consumption by hour, claimed certificates with lineage,
    hourly match, direct-supply share and the chain head (JSON and printable HTML)."""
    from suandian.reports.evidence import evidence_pack

    park = load_scenario(scenario)
    d1, d2, _start, _end = _days(first, last)
    pack = evidence_pack(
        _ledger(), consumer, d1, d2, direct_cap_mw=_direct_contracts(park, consumer)
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"evidence-{consumer}-{d1}-{d2}"
    json_path, html_path = out_dir / f"{stem}.json", out_dir / f"{stem}.html"
    json_path.write_text(json.dumps(pack.to_json(), ensure_ascii=False, indent=1) + "\n")
    html_path.write_text(pack.to_html(), encoding="utf-8")
    if as_json:
        _emit(pack.to_json() | {"json_path": str(json_path), "html_path": str(html_path)})
        return
    match = pack.hourly_match_pu
    direct = pack.direct_supply_pu
    out.print(
        f"{consumer} {d1} – {d2}: consumed {pack.consumption_wh / 1e6:,.3f} MWh, claimed "
        f"{pack.claimed_wh / 1e6:,.3f} MWh in {len(pack.claims):,} bundles; hourly match "
        f"{'—' if match is None else f'{match:.1%}'}, direct supply "
        f"{'—' if direct is None else f'{direct:.1%}'}; chain head {pack.chain_hash}"
    )
    out.print(f"wrote {json_path} and {html_path}")
