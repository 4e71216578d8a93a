"""``suandian meters``: import interval readings and list the registered meters.

Mounted on the main app as ``app.add_typer(meters_app, name="meters")``. Errors are
:class:`~suandian.core.errors.SuandianError` subclasses; ``suandian.cli.main`` prints them as one
message and exits 1.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from suandian.meters.importer import import_readings
from suandian.meters.registry import meters_for_park
from suandian.scenario import load_scenario
from suandian.settings import Settings
from suandian.store.readings import ReadingsStore

__all__ = ["meters_app"]

meters_app = typer.Typer(
    help="Meters and their interval readings: import and list.", no_args_is_help=True
)

# No console markup: meter ids, paths and messages are user text and may hold brackets.
out = Console(markup=False)
err = Console(stderr=True, markup=False)


@meters_app.command("import")
def meters_import(
    file: Annotated[Path, typer.Argument(help="CSV or Parquet file: meter_id,start_utc,kwh.")],
    scenario: Annotated[
        str, typer.Option(help="Bundled scenario or YAML whose meters are registered first.")
    ] = "xining",
    rejections: Annotated[
        Path | None,
        typer.Option(help="Rejection file (CSV); default <stem>.rejected.csv beside FILE."),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the result as one JSON object.")
    ] = False,
) -> None:
    """Import readings (kWh per 15-min interval, UTC starts); bad rows go to a rejection file."""
    settings = Settings()
    park = load_scenario(scenario)
    with ReadingsStore(settings.data_dir) as store:
        store.register_meters(meters_for_park(park))
        result = import_readings(store, file, rejections_path=rejections)
        counts = store.counts()
        store_path = store.path
    if as_json:
        payload = result.to_json() | {"store": str(store_path), "store_counts": counts}
        sys.stdout.write(json.dumps(payload, ensure_ascii=False) + "\n")
        return
    table = Table(title=f"Import of {file.name}")
    table.add_column("rows")
    table.add_column("count", justify="right")
    for label, value in (
        ("accepted (new)", result.accepted),
        ("corrected (new version)", result.corrected),
        ("duplicate (unchanged)", result.duplicate),
        ("rejected", result.rejected),
        ("total", result.rows),
    ):
        table.add_row(label, f"{value:,}")
    table.caption = (
        f"store {store_path}: {counts['meters']:,} meters, {counts['readings']:,} readings, "
        f"{counts['versions']:,} versions"
    )
    out.print(table)
    if result.rejection_file is not None:
        err.print(
            Text(f"{result.rejected:,} row(s) rejected; ", style="yellow")
            + Text(f"see {result.rejection_file} (row, meter_id, field, value, reason)")
        )


@meters_app.command("list")
def meters_list() -> None:
    """List the registered meters."""
    settings = Settings()
    with ReadingsStore(settings.data_dir) as store:
        meters = store.meters()
        counts = store.counts()
        store_path = store.path
    if meters.empty:
        out.print(
            f"no meters registered in {store_path}; `suandian meters import FILE` registers "
            "the scenario's meters before it imports"
        )
        return
    table = Table(title=f"Meters ({len(meters)})")
    for col in ("meter_id", "kind", "site", "asset", "source", "nameplate kW"):
        table.add_column(col, no_wrap=col == "meter_id", justify="right" if "kW" in col else "left")

    for m in meters.to_dict("records"):
        nameplate = m["nameplate_kw"]
        table.add_row(
            str(m["meter_id"]),
            str(m["kind"]),
            str(m["site"]),
            _or_dash(m["asset_id"]),
            _or_dash(m["source"]),
            "—" if pd.isna(nameplate) else f"{float(nameplate):,.0f}",
        )
    table.caption = (
        f"{store_path}: {counts['readings']:,} readings, {counts['versions']:,} versions"
    )
    out.print(table)


def _or_dash(value: object) -> str:
    return "—" if value is None or (isinstance(value, float) and value != value) else str(value)
