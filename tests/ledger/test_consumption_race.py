"""A claim and a consumption correction of the same consumer, interleaved on PostgreSQL.

One transaction is paused right after it read the Wh already claimed; the other runs while it is
paused. Both take the consumer's account row first, so the second waits for the first to commit
and then sees what it wrote: whichever runs second is refused, and claims never end above the
metered consumption.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, text

from suandian.core.errors import LedgerConflict
from suandian.ledger import Ledger, registry, service

from .conftest import H0, HOUR, Clock, EngineFactory, build_park, reading

TIMEOUT_S = 20.0


def _pause_after(
    fn: Callable[..., Any], paused: threading.Event, release: threading.Event, pid: list[int]
) -> Callable[..., Any]:
    """``fn`` that, on its first call, notes its backend pid and waits for ``release``."""

    def hooked(conn: Connection, *args: Any) -> Any:
        out = fn(conn, *args)
        if not paused.is_set():
            pid.append(int(conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()))
            paused.set()
            assert release.wait(TIMEOUT_S)
        return out

    return hooked


def _wait_blocked_or_done(engine: Engine, pid: int, other: threading.Thread) -> None:
    """Until ``other`` finished or a backend waits on a lock held by backend ``pid``."""
    deadline = time.monotonic() + TIMEOUT_S
    while other.is_alive() and time.monotonic() < deadline:
        with engine.connect() as conn:
            waiting = conn.execute(
                text("SELECT count(*) FROM pg_stat_activity WHERE :p = ANY(pg_blocking_pids(pid))"),
                {"p": pid},
            ).scalar_one()
        if waiting:
            return
        time.sleep(0.01)
    assert not other.is_alive(), "the second transaction neither finished nor waited on a lock"


@pytest.mark.parametrize("make_engine", ["postgresql"], indirect=True)
@pytest.mark.parametrize("first", ["record_consumption", "claim"])
def test_claim_and_consumption_correction_are_serialised(
    make_engine: EngineFactory, monkeypatch: pytest.MonkeyPatch, first: str
) -> None:
    engine = make_engine()
    ledger = Ledger(engine, clock=Clock())
    build_park(ledger)
    ledger.record_consumption(account="c1", readings=[reading(H0, 1000)])
    ledger.record_generation(device="pv-1", readings=[reading(H0, 1000)])
    b = ledger.issue(device="pv-1", start_utc=H0, end_utc=H0 + HOUR, wh=1000, issuer="operator")
    ledger.cancel(
        bundle_ids=[b],
        account="gen",
        beneficiary="c1",
        period_start_utc=H0,
        period_end_utc=H0 + HOUR,
    )

    paused, release, pid = threading.Event(), threading.Event(), []
    module: Any = registry if first == "record_consumption" else service
    monkeypatch.setattr(
        module, "_claimed_by_hour", _pause_after(module._claimed_by_hour, paused, release, pid)
    )
    outcome: dict[str, BaseException | None] = {}

    def lower() -> None:
        Ledger(engine, clock=Clock()).record_consumption(account="c1", readings=[reading(H0, 100)])

    def claim() -> None:
        Ledger(engine, clock=Clock()).claim(bundle_ids=[b], beneficiary="c1")

    def run(name: str, fn: Callable[[], None]) -> threading.Thread:
        def target() -> None:
            try:
                fn()
                outcome[name] = None
            except BaseException as exc:
                outcome[name] = exc

        t = threading.Thread(target=target)
        t.start()
        return t

    ops = {"record_consumption": lower, "claim": claim}
    second = "claim" if first == "record_consumption" else "record_consumption"
    t1 = run(first, ops[first])
    assert paused.wait(TIMEOUT_S)
    t2 = run(second, ops[second])
    _wait_blocked_or_done(engine, pid[0], t2)
    release.set()
    t1.join(TIMEOUT_S)
    t2.join(TIMEOUT_S)

    assert outcome[first] is None
    assert isinstance(outcome[second], LedgerConflict), outcome[second]
    (hour,) = ledger.consumption_for("c1", H0, H0 + HOUR)
    assert hour.claimed_wh <= hour.wh
    assert (hour.wh, hour.claimed_wh) == (
        (100, 0) if first == "record_consumption" else (1000, 1000)
    )
    assert ledger.audit() == []
