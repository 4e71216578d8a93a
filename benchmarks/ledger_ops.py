"""Benchmark: the certificate ledger issuing a park year, then 16 clients trading on PostgreSQL.

Measures
--------
issue_year_seconds
    Per database (``sqlite`` file, ``postgresql`` fresh schema): wall time of issuing a park
    year of hourly certificates, ``--devices`` (8) PV and wind devices × ``--hours`` (8,760)
    hours, one ``Ledger.issue_many`` call per device (one transaction and one chain event
    each), every line for the whole metered Wh. The metering records (generation per device
    and hour, a deterministic daylight bell for PV and a smooth swing for wind, 0.1–5 MWh) are
    recorded before the clock starts; hours metered at 0 Wh are not issued. Best of
    ``--repeat`` (3) runs, each on a fresh database.
ops_per_second
    On PostgreSQL, after the year is issued and handed out to ``--clients`` (16) consumer
    accounts that accept each other (one transfer per client, not timed): that many client
    processes (forked from a clean ``forkserver``, each with its own engine and connection, as
    real clients are separate processes or API workers), released together by a barrier, run
    random operations on the bundles they hold for ``--seconds`` (30): 50 % transfers to
    another client (the bundle reaches the recipient through its inbox queue and is worked on
    from there), 25 % splits into two random parts, 25 % cancellations for the client itself in
    the bundle's hour. A sender keeps acting on ``--stale`` (5 %) of the bundles it transferred,
    as a client with an out-of-date view would: those operations race the new holder and are
    refused. Each operation is one short transaction (row locks on the touched bundles in id
    order, the chain head locked last). ``ops_per_second`` counts committed operations over the
    wall time from the first client's start to the last one's end; ``refused`` counts the ones
    the ledger refused. ``--threads`` runs the clients as threads of one process instead (one
    interpreter lock for all of them, one shared engine), as the benchmark first did.
invariants_ok
    After the run: nothing was spent twice (every split or cancel a client saw commit is of a
    distinct bundle, and those are exactly the bundles stored as split or cancelled), the chain
    grew by exactly the committed operations, ``Ledger.audit()`` finds no broken invariant
    (conservation per issuance, disjoint ID ranges, split partitions, claims within
    consumption, issuance within metering) and ``Ledger.verify()`` recomputes the whole hash
    chain intact, on both databases.

``--quick`` issues 2 devices × 720 hours and trades for 3 s. Without a reachable PostgreSQL
(``--postgres-url``, default ``postgresql://postgres@127.0.0.1:5432/test``) the PostgreSQL
parts are skipped, unless ``SUANDIAN_REQUIRE_SERVICES=1``, where that is an error.

The last line printed is one JSON object with the figures; everything before it is for people
(on stderr).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import multiprocessing as mp
import os
import queue
import random
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, deque
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the sibling module below
from machine import machine_info
from suandian.core.errors import LedgerConflict
from suandian.ledger import IssueLine, Ledger, MeterReading
from suandian.store.sql import engine_for, migrate

YEAR_START = dt.datetime(2024, 12, 31, 16, tzinfo=dt.UTC)  # 2025-01-01 00:00 in Shanghai
HOUR = dt.timedelta(hours=1)
TARGET_OPS_PER_SECOND = 1000.0
DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/test"


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def metered_wh(device: int, hour: int) -> int:
    """Deterministic hourly generation: PV (even devices) a daylight bell, wind a smooth swing."""
    local_h = (hour + 8) % 24
    if device % 2 == 0:
        x = math.sin(math.pi * (local_h - 6) / 13) if 6 <= local_h <= 19 else 0.0
        return int(5_000_000 * max(0.0, x) ** 1.3 * (0.8 + 0.2 * math.sin(hour / 97 + device)))
    return int(
        100_000
        + 2_000_000 * (1 + math.sin(hour / 37 + device)) * (0.5 + 0.5 * math.sin(hour / 11)) ** 2
    )


def build(ledger: Ledger, devices: int, hours: int, clients: int) -> list[str]:
    ledger.create_organisation(code="park", name="Benchmark park")
    ledger.create_account(code="operator", organisation="park", kind="park_operator")
    ledger.create_account(code="gen", organisation="park", kind="generator", accept_all=True)
    names = [f"client-{k:02d}" for k in range(clients)]
    for name in names:
        ledger.create_account(code=name, organisation="park", kind="consumer", accept_all=True)
    for d in range(devices):
        source = "pv" if d % 2 == 0 else "wind"
        ledger.register_device(
            code=f"dev-{d:02d}",
            name=f"{source} {d}",
            source=source,
            capacity_mw=5.0,
            site="nanchuan",
            zone="CN-QH",
            commissioned_on=dt.date(2024, 6, 30),
            owner="gen",
            emission_factor_g_per_kwh=45.0 if source == "pv" else 11.0,
            project_code=f"QHXN0{'PV' if source == 'pv' else 'WD'}{d:05d}",
        )
        ledger.record_generation(
            device=f"dev-{d:02d}",
            readings=[
                MeterReading(
                    YEAR_START + h * HOUR,
                    YEAR_START + (h + 1) * HOUR,
                    metered_wh(d, h),
                    f"m-{d:02d}@v1",
                )
                for h in range(hours)
            ],
        )
    return names


def issue_year(ledger: Ledger, devices: int, hours: int) -> tuple[float, list[int]]:
    lines = {
        d: [
            IssueLine(YEAR_START + h * HOUR, YEAR_START + (h + 1) * HOUR, metered_wh(d, h))
            for h in range(hours)
            if metered_wh(d, h) > 0
        ]
        for d in range(devices)
    }
    t0 = time.perf_counter()
    ids: list[int] = []
    for d in range(devices):
        ids += ledger.issue_many(device=f"dev-{d:02d}", lines=lines[d], issuer="operator")
    return time.perf_counter() - t0, ids


class Database:
    """A fresh SQLite file or PostgreSQL schema, dropped on close."""

    def __init__(self, kind: str, pg_url: str, tmp: Path) -> None:
        self.kind, self.pg_url, self.schema = kind, pg_url, None
        if kind == "sqlite":
            self.engine = engine_for(f"sqlite:///{tmp}/ledger-{uuid.uuid4().hex[:8]}.sqlite")
        else:
            import psycopg

            self.schema = f"bench_{uuid.uuid4().hex[:12]}"
            with psycopg.connect(pg_url, autocommit=True) as con:
                con.execute(f"CREATE SCHEMA {self.schema}")
            self.engine = engine_for(pg_url, schema=self.schema, pool_size=24)
        migrate(self.engine)

    def close(self) -> None:
        self.engine.dispose()
        if self.schema:
            import psycopg

            with psycopg.connect(self.pg_url, autocommit=True) as con:
                con.execute(f"DROP SCHEMA {self.schema} CASCADE")


Holding = tuple[int, int, dt.datetime]  # (bundle id, Wh, production hour)


class Inbox(Protocol):
    """Where a client finds the bundles others transferred to it."""

    def take(self) -> list[Holding]: ...

    def send(self, to: int, item: Holding) -> None: ...


class ThreadInbox:
    def __init__(self, boxes: list[deque[Holding]], k: int) -> None:
        self.boxes, self.k = boxes, k

    def take(self) -> list[Holding]:
        box, out = self.boxes[self.k], []
        while box:
            out.append(box.popleft())
        return out

    def send(self, to: int, item: Holding) -> None:
        self.boxes[to].append(item)


class QueueInbox:
    def __init__(self, queues: list[Any], k: int) -> None:
        self.queues, self.k = queues, k

    def take(self) -> list[Holding]:
        q, out = self.queues[self.k], []
        while True:
            try:
                out.append(q.get_nowait())
            except queue.Empty:
                return out

    def send(self, to: int, item: Holding) -> None:
        self.queues[to].put(item)


def client_loop(
    ledger: Ledger,
    names: list[str],
    k: int,
    mine: list[Holding],
    inbox: Inbox,
    seconds: float,
    stale: float,
    stop: threading.Event | None = None,
) -> dict[str, Any]:
    """One client: random transfers, splits and cancels on what it holds, for ``seconds``.

    With probability ``stale`` a transferred bundle stays on the sender's list as well, as in a
    client working from an out-of-date view: acting on it later races its new holder and is
    refused unless the bundle came back meanwhile.
    """
    rng = random.Random(k)
    me = names[k]
    others = [j for j in range(len(names)) if j != k]
    done: Counter[str] = Counter()
    refused: Counter[str] = Counter()
    spent: list[int] = []  # bundles this client split or cancelled
    error = None
    t0 = time.monotonic()
    deadline = t0 + seconds
    while time.monotonic() < deadline and not (stop and stop.is_set()):
        mine += inbox.take()
        if not mine:
            time.sleep(0.001)
            continue
        i = rng.randrange(len(mine))
        mine[i], mine[-1] = mine[-1], mine[i]
        bid, wh, hour = mine.pop()
        r = rng.random()
        op = "transfer" if r < 0.5 else "split" if r < 0.75 and wh > 1 else "cancel"
        try:
            if op == "transfer":
                to = rng.choice(others)
                ledger.transfer(bundle_ids=[bid], sender=me, recipient=names[to])
                inbox.send(to, (bid, wh, hour))
                if rng.random() < stale:
                    mine.insert(0, (bid, wh, hour))
            elif op == "split":
                cut = rng.randint(1, wh - 1)
                a, b = ledger.split(bundle_id=bid, sizes_wh=[cut, wh - cut], account=me)
                mine += [(a, cut, hour), (b, wh - cut, hour)]
                spent.append(bid)
            else:
                ledger.cancel(
                    bundle_ids=[bid],
                    account=me,
                    beneficiary=me,
                    period_start_utc=hour,
                    period_end_utc=hour + HOUR,
                )
                spent.append(bid)
            done[op] += 1
        except LedgerConflict:
            refused[op] += 1
        except Exception as exc:  # a store error ends this client, and the run fails
            error = f"{me}: {type(exc).__name__}: {exc}"
            break
    return {
        "done": dict(done),
        "refused": dict(refused),
        "spent": spent,
        "error": error,
        "t0": t0,
        "t1": time.monotonic(),
    }


def process_client(
    url: str,
    schema: str,
    names: list[str],
    k: int,
    mine: list[Holding],
    queues: list[Any],
    barrier: Any,
    results: Any,
    *,
    seconds: float,
    stale: float,
) -> None:
    """A client process: its own engine (one connection) and ledger, started with the others."""
    engine = engine_for(url, schema=schema, pool_size=1)
    try:
        ledger = Ledger(engine)
        ledger.head()  # connect before the start
        barrier.wait()
        out = client_loop(ledger, names, k, mine, QueueInbox(queues, k), seconds, stale)
    except Exception as exc:
        out = {"done": {}, "refused": {}, "spent": [], "error": f"{names[k]}: {exc!r}"}
    finally:
        engine.dispose()
    for q in queues:  # bundles still in flight stay with their recipients: do not wait on them
        q.cancel_join_thread()
    results.put(out)


def trade(
    db: Database, ledger: Ledger, names: list[str], seconds: float, mode: str, stale: float
) -> dict[str, Any]:
    """``len(names)`` clients (processes or threads) trading for ``seconds``, then checked."""
    views = [  # (id, Wh, hour) of each holding, read before the clock starts
        [(b.id, b.wh, b.production_start_utc) for b in ledger.bundles_of(n, status="active")]
        for n in names
    ]
    seq0 = ledger.head().seq
    n = len(names)
    t_launch = time.monotonic()
    outs: list[dict[str, Any]] = []
    if mode == "processes":
        # forkserver: each client is forked from a clean server process that preloaded the
        # libraries, never from this one, which holds an engine and its connections.
        ctx = mp.get_context("forkserver")
        ctx.set_forkserver_preload(["suandian.store.sql", "psycopg", "sqlalchemy"])
        queues = [ctx.Queue() for _ in names]
        barrier = ctx.Barrier(n + 1)
        results = ctx.Queue()
        procs = [
            ctx.Process(
                target=process_client,
                args=(db.pg_url, db.schema, names, k, views[k], queues, barrier, results),
                kwargs={"seconds": seconds, "stale": stale},
            )
            for k in range(n)
        ]
        for p in procs:
            p.start()
        barrier.wait(timeout=300)
        t_go = time.monotonic()
        outs = [results.get(timeout=seconds + 300) for _ in procs]
        for p in procs:
            p.join()
    else:
        boxes: list[deque[Holding]] = [deque() for _ in names]
        lock = threading.Lock()
        go = threading.Barrier(n + 1)

        def run(k: int) -> None:
            go.wait()
            out = client_loop(ledger, names, k, views[k], ThreadInbox(boxes, k), seconds, stale)
            with lock:
                outs.append(out)

        threads = [threading.Thread(target=run, args=(k,)) for k in range(n)]
        for t in threads:
            t.start()
        go.wait()
        t_go = time.monotonic()
        for t in threads:
            t.join()

    errors = [o["error"] for o in outs if o["error"]]
    done: Counter[str] = Counter()
    refused: Counter[str] = Counter()
    for o in outs:
        done.update(o["done"])
        refused.update(o["refused"])
    timed = [o for o in outs if "t0" in o]
    wall = max(o["t1"] for o in timed) - min(o["t0"] for o in timed) if timed else float("nan")
    ops = sum(done.values())
    # Nothing spent twice: every split or cancel the clients saw commit is of a distinct bundle,
    # and those are exactly the bundles the store now holds as split or cancelled.
    spent = Counter(b for o in outs for b in o["spent"])
    twice = sorted(b for b, c in spent.items() if c > 1)
    with ledger.engine.connect() as conn:
        stored = set(
            conn.execute(
                text("SELECT id FROM ledger_bundles WHERE status IN ('split', 'cancelled')")
            ).scalars()
        )
    seq = ledger.head().seq
    ok = not errors and not twice and stored == set(spent) and seq == seq0 + ops
    return {
        "mode": mode,
        "ops": ops,
        "wall_seconds": round(wall, 3),
        "ops_per_second": round(ops / wall, 1),
        "op_mix": dict(done),
        "refused": dict(refused),
        "stale_fraction": stale,
        "client_start_seconds": round(t_go - t_launch, 2),
        "spent_twice": len(twice),
        "spent_matches_store": stored == set(spent),
        "chain_matches_ops": seq == seq0 + ops,
        "ok": ok,
        "errors": errors[:5],
    }


def check(ledger: Ledger) -> dict[str, Any]:
    t0 = time.perf_counter()
    problems = ledger.audit()
    result = ledger.verify()
    return {
        "invariants_ok": not problems and result.ok,
        "problems": problems[:5],
        "chain_events": result.count,
        "chain_ok": result.ok,
        "check_seconds": round(time.perf_counter() - t0, 2),
    }


def pg_reachable(url: str) -> str | None:
    import psycopg

    try:
        with psycopg.connect(url, connect_timeout=3) as con:
            return str(con.execute("SHOW server_version").fetchone()[0])  # type: ignore[index]
    except psycopg.Error as exc:
        log(f"  PostgreSQL at {url} is not reachable: {str(exc).strip().splitlines()[0]}")
        return None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 devices × 720 h, trade 3 s")
    parser.add_argument("--repeat", type=int, default=3, help="timed issues of the year per db")
    parser.add_argument("--devices", type=int, default=None)
    parser.add_argument("--hours", type=int, default=None)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=None, help="trading time on PostgreSQL")
    parser.add_argument(
        "--threads",
        action="store_true",
        help="clients as threads of this process (one interpreter lock) instead of processes",
    )
    parser.add_argument(
        "--stale",
        type=float,
        default=0.05,
        help="share of transferred bundles a sender keeps acting on (refused unless returned)",
    )
    parser.add_argument(
        "--postgres-url", default=os.environ.get("SUANDIAN_BENCH_POSTGRES_URL", DEFAULT_PG)
    )
    args = parser.parse_args(argv)
    devices = args.devices or (2 if args.quick else 8)
    hours = args.hours or (720 if args.quick else 8760)
    seconds = args.seconds or (3.0 if args.quick else 30.0)
    mode = "quick" if args.quick else "full"
    client_mode = "threads" if args.threads else "processes"
    log(
        f"ledger_ops ({mode}): {devices} devices × {hours} h, {args.clients} client "
        f"{client_mode}, {seconds} s"
    )

    pg_version = pg_reachable(args.postgres_url)
    if pg_version is None and os.environ.get("SUANDIAN_REQUIRE_SERVICES") == "1":
        log("  SUANDIAN_REQUIRE_SERVICES=1: PostgreSQL is required")
        sys.exit(1)
    kinds = ["sqlite"] + (["postgresql"] if pg_version else [])

    issue: dict[str, Any] = {}
    checks: dict[str, Any] = {}
    trading: dict[str, Any] | None = None
    with tempfile.TemporaryDirectory(prefix="ledger_ops-") as tmp:
        for kind in kinds:
            times = []
            for run in range(args.repeat):
                db = Database(kind, args.postgres_url, Path(tmp))
                try:
                    ledger = Ledger(db.engine)
                    names = build(ledger, devices, hours, args.clients)
                    secs, ids = issue_year(ledger, devices, hours)
                    times.append(secs)
                    log(f"  {kind}: issued {len(ids):,} bundles in {secs:.2f} s (run {run + 1})")
                    if run == args.repeat - 1:
                        if kind == "postgresql":
                            per = len(ids) // len(names)
                            holdings = {
                                n: ids[k * per : (k + 1) * per] for k, n in enumerate(names)
                            }
                            for n, held in holdings.items():
                                ledger.transfer(bundle_ids=held, sender="gen", recipient=n)
                            log(f"  postgresql: {args.clients} clients trade for {seconds} s …")
                            trading = trade(db, ledger, names, seconds, client_mode, args.stale)
                            log(
                                f"  postgresql: {trading['ops']:,} operations, "
                                f"{trading['ops_per_second']:,.0f} ops/s ({client_mode}, started "
                                f"in {trading['client_start_seconds']} s), mix "
                                f"{trading['op_mix']}, refused {trading['refused']}, nothing "
                                f"spent twice {trading['ok']}"
                            )
                        checks[kind] = check(ledger)
                        log(
                            f"  {kind}: invariants ok {checks[kind]['invariants_ok']} "
                            f"({checks[kind]['chain_events']:,} events, "
                            f"{checks[kind]['check_seconds']} s)"
                        )
                finally:
                    db.close()
            issue[kind] = {
                "best": round(min(times), 3),
                "all": [round(t, 3) for t in times],
                "bundles": len(ids),
            }

    invariants_ok = all(c["invariants_ok"] for c in checks.values()) and (
        trading is None or trading["ok"]
    )
    report: dict[str, Any] = {
        "benchmark": "ledger_ops",
        "mode": mode,
        "devices": devices,
        "hours": hours,
        "issue_year_seconds": {k: v["best"] for k, v in issue.items()},
        "issue_runs": issue,
        "clients": args.clients,
        "client_mode": client_mode,
        "trade_seconds": seconds,
        "ops_per_second": trading["ops_per_second"] if trading else None,
        "ops": trading["ops"] if trading else None,
        "op_mix": trading["op_mix"] if trading else None,
        "refused": trading["refused"] if trading else None,
        "trading": trading,
        "target_ops_per_second": TARGET_OPS_PER_SECOND,
        "meets_target": (trading["ops_per_second"] >= TARGET_OPS_PER_SECOND) if trading else None,
        "invariants_ok": invariants_ok,
        "checks": checks,
        "postgresql": pg_version,
        "machine": machine_info(("sqlalchemy", "psycopg", "alembic")),
        "run_at_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    print(json.dumps(report, ensure_ascii=False))
    if not invariants_ok:
        sys.exit(1)


if __name__ == "__main__":
    main()
