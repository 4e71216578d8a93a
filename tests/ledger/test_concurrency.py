"""16 threads with their own connections race over shared bundles on PostgreSQL.

Row locks in id order, the chain head locked last and bounded retries must leave every invariant
intact, the chain linear, and no bundle spent twice (split or cancelled by two threads).
"""

from __future__ import annotations

import random
import threading
from collections import Counter

import pytest

from suandian.core.errors import LedgerConflict
from suandian.ledger import IssueLine, Ledger, Status

from .conftest import H0, HOUR, Clock, EngineFactory, build_park, reading

THREADS = 16
OPS_PER_THREAD = 12
BUNDLES = 12


@pytest.mark.parametrize("make_engine", ["postgresql"], indirect=True)
def test_concurrent_transfers_splits_cancels(make_engine: EngineFactory) -> None:
    engine = make_engine()
    setup = Ledger(engine, clock=Clock())
    build_park(setup)
    setup.set_acceptance(account="c2", accept_all=True)
    setup.set_acceptance(account="c1", accept_all=True)
    hours = [H0 + i * HOUR for i in range(BUNDLES)]
    setup.record_generation(device="pv-1", readings=[reading(h, 1000) for h in hours])
    shared = setup.issue_many(
        device="pv-1", lines=[IssueLine(h, h + HOUR, 1000) for h in hours], issuer="operator"
    )
    setup.transfer(bundle_ids=shared, sender="gen", recipient="trader")
    seq0 = setup.head().seq

    done: list[tuple[str, int]] = []
    refused: Counter[str] = Counter()
    errors: list[BaseException] = []
    lock = threading.Lock()
    start = threading.Barrier(THREADS)

    def worker(k: int) -> None:
        rng = random.Random(k)
        ledger = Ledger(engine, clock=Clock())  # its own service; connections from the pool
        start.wait()
        for _ in range(OPS_PER_THREAD):
            # every thread acts on the same few bundles, as whoever it believes owns them
            bid = rng.choice(shared)
            view = ledger.get_bundle(bid)
            if view.status == Status.SPLIT:
                with lock:
                    kids = [c for c in known if ledger_parent.get(c) == bid]
                if kids:
                    view = ledger.get_bundle(rng.choice(kids))
            op = rng.choice(["transfer", "transfer", "split", "cancel"])
            if op == "split" and view.wh == 1:
                op = "transfer"
            try:
                if op == "transfer":
                    to = rng.choice([a for a in ("trader", "c1", "c2") if a != view.owner])
                    ledger.transfer(bundle_ids=[view.id], sender=view.owner, recipient=to)
                elif op == "split":
                    kids = ledger.split(
                        bundle_id=view.id, sizes_wh=[1, view.wh - 1], account=view.owner
                    )
                    with lock:
                        known.extend(kids)
                        ledger_parent.update(dict.fromkeys(kids, view.id))
                else:
                    hour = view.production_start_utc.replace(minute=0)
                    ledger.cancel(
                        bundle_ids=[view.id],
                        account=view.owner,
                        beneficiary="c1",
                        period_start_utc=hour,
                        period_end_utc=hour + HOUR,
                    )
                with lock:
                    done.append((op, view.id))
            except LedgerConflict:
                with lock:
                    refused[op] += 1
            except BaseException as exc:  # pragma: no cover - reported below
                with lock:
                    errors.append(exc)

    known: list[int] = []
    ledger_parent: dict[int, int] = {}
    threads = [threading.Thread(target=worker, args=(k,)) for k in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert errors == []
    assert len(done) + sum(refused.values()) == THREADS * OPS_PER_THREAD
    assert len(done) > THREADS  # the race was real: many operations went through
    spent = Counter(bid for op, bid in done if op in ("split", "cancel"))
    assert all(n == 1 for n in spent.values()), "a bundle was split or cancelled twice"
    ledger = Ledger(engine, clock=Clock())
    assert ledger.audit() == []
    result = ledger.verify()
    assert result.ok and result.count == seq0 + len(done)
    for bid in spent:
        assert ledger.get_bundle(bid).status in (Status.SPLIT, Status.CANCELLED)
