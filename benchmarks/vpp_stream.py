"""End-to-end run: a grid operator's year of demand-response events through the park's VTN.

What runs
---------
The platform's app (``suandian.api.create_app``) on a fresh SQLite store, or on PostgreSQL with
``--database-url`` (a fresh schema, dropped afterwards), driven in-process over its HTTP API.
A park admin token is created in the store; through ``/v1/admin/openadr-clients`` a grid-operator
client (``bl``) and the park's VEN (``ven``) are created. The grid operator creates a program and
posts ``--events`` events drawn by ``suandian.sim.dr_stream.event_stream`` (seed 7) over the
scenario's year, each at its reception time on the simulated clock: evening peak shaving at
3–5 CNY/kWh, midday valley filling at 0.2 CNY/kWh, 5–40 MW, 1–3 h, 80 % day-ahead, plus three
overlapping, three late and three oversized (400 MW) events. The park
(``suandian.api.vpp_agent.VppAgent`` over ``suandian.sim.vpp_operation.VppOperation``, site
``nanchuan`` of ``xining``, 15 min) answers each event right after it is posted, re-plans the
day, closes every day (meter, settle against the 10-of-10 baseline with the day-of adjustment)
and reports delivery. The grid operator then settles from the reports alone.

Measures (last stdout line, one JSON object)
--------------------------------------------
events, answered, accepted, partial, rejected
    Events posted; events with an answer report; answers by kind.
delivered_within_5pct, committed_events
    Committed events whose settled delivery (from the reports) is within ±5 % of the committed
    energy, and how many were committed.
delivered_mwh, revenue_cny, penalty_cny
    From the grid operator's reading of the reports.
settlement_diff_cny, delivered_diff_mwh, meter_mismatch_mw
    Largest disagreement between the grid operator's settlement and the park's own, and
    between the reports' metered power and the park's meter.
deadline_misses
    Days whose final plan leaves flexible (job) energy unserved by its deadline.
job_delay_mwh_h, replan_cost_cny
    Flexible energy served later than planned × the delay, and the re-plans' cost, summed.
seconds
    Wall time of the stream (simulation excluded).

``--quick``: 45 days from 1 May and 16 events (2 of each awkward kind).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import tempfile
import time
import uuid
from pathlib import Path

from fastapi.testclient import TestClient

from suandian.api import create_app
from suandian.api.vpp_stream import run_stream
from suandian.scenario import load_scenario
from suandian.settings import Settings
from suandian.sim.dr_stream import event_stream
from suandian.sim.park import simulate
from suandian.sim.vpp_operation import VppOperation
from suandian.store.platform import PlatformDirectory
from suandian.store.sql import database_url, engine_for, migrate


def _admin_token(settings: Settings) -> str:
    engine = engine_for(database_url(settings), schema=settings.database_schema)
    try:
        migrate(engine)
        directory = PlatformDirectory(engine)
        directory.ensure_org("park", kind="park")
        return directory.create_token(user="admin", org="park", role="park_admin").token
    finally:
        engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="45 days, 16 events")
    parser.add_argument("--events", type=int, default=100)
    parser.add_argument("--database-url", default=None, help="PostgreSQL URL (default SQLite)")
    args = parser.parse_args()

    park = load_scenario("xining")
    if args.quick:
        first, days, n_events, awkward, history = dt.date(park.year, 5, 1), 45, 16, 2, 25
    else:
        first, days, n_events, awkward, history = dt.date(park.year, 1, 1), 365, args.events, 3, 30
    series = simulate(park, start=first, days=days)
    operation = VppOperation(park, series, site="nanchuan")
    stream = event_stream(
        first + dt.timedelta(days=history),
        first + dt.timedelta(days=days - 1),
        n_events=n_events,
        n_awkward=awkward,
    )

    with tempfile.TemporaryDirectory() as tmp:
        schema = None
        if args.database_url:
            import psycopg

            schema = f"bench_{uuid.uuid4().hex[:12]}"
            with psycopg.connect(args.database_url, autocommit=True) as con:
                con.execute(f"CREATE SCHEMA {schema}")
        settings = Settings(
            data_dir=Path(tmp) / "data", database_url=args.database_url, database_schema=schema
        )
        try:
            token = _admin_token(settings)
            start = time.perf_counter()
            with TestClient(create_app(settings, park=park)) as client:
                result = run_stream(
                    client,
                    admin_headers={"Authorization": f"Bearer {token}"},
                    operation=operation,
                    stream=stream,
                    progress=lambda text: print(text, file=sys.stderr),
                )
            seconds = time.perf_counter() - start
        finally:
            if schema is not None:
                import psycopg

                with psycopg.connect(args.database_url, autocommit=True) as con:
                    con.execute(f"DROP SCHEMA {schema} CASCADE")

    committed = [k for k, a in result.answers.items() if a.answer != "rejected"]
    within = [k for k in committed if abs(result.delivery_pu.get(k, 0.0) - 1.0) <= 0.05]
    commitments = [c for d in result.days for c in d.commitments]
    counts = result.counts
    out = {
        "events": result.posted,
        "answered": len(result.answers),
        "accepted": counts["accepted"],
        "partial": counts["partial"],
        "rejected": counts["rejected"],
        "committed_events": len(committed),
        "delivered_within_5pct": len(within),
        "delivered_mwh": round(result.delivered_by_reports_mwh, 3),
        "revenue_cny": round(result.revenue_by_reports_cny, 2),
        "penalty_cny": round(result.penalty_by_reports_cny, 2),
        "settlement_diff_cny": abs(result.revenue_by_reports_cny - result.revenue_by_park_cny)
        + abs(result.penalty_by_reports_cny - result.penalty_by_park_cny),
        "delivered_diff_mwh": abs(result.delivered_by_reports_mwh - result.delivered_by_park_mwh),
        "meter_mismatch_mw": result.meter_mismatch_mw,
        "deadline_misses": sum(1 for d in result.days if d.unserved_flex_mwh > 1e-6),
        "job_delay_mwh_h": round(sum(c.delay_mwh_h for c in commitments), 2),
        "replan_cost_cny": round(sum(c.replan_cost_cny for c in commitments), 2),
        "backend": "postgresql" if args.database_url else "sqlite",
        "seconds": round(seconds, 2),
    }
    for event_id, answer in result.answers.items():
        if result.tags.get(event_id) != "regular":
            print(f"{result.tags[event_id]:8} {answer.answer:9} {answer.reason}", file=sys.stderr)
    print(json.dumps(out))
    ok = (
        result.every_event_answered
        and out["answered"] == out["events"]
        and out["meter_mismatch_mw"] < 1e-6
        and out["delivered_diff_mwh"] < 1e-6
        and out["delivered_within_5pct"] == out["committed_events"]
        and out["settlement_diff_cny"] < 1e-6
        and out["deadline_misses"] == 0
    )
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
