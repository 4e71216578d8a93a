"""Random operation sequences keep every invariant (hypothesis, bounded; SQLite and PostgreSQL).

After each sequence: Wh conserved per issuance, no ID in two bundles that are not split, split
children partition their parent, claims within consumption per consumer-hour, issuance within
metering, an intact chain. During it: cancelled and claimed bundles never transfer, and a refused
operation appends no event.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from suandian.core.errors import InputError, LedgerConflict
from suandian.ledger import IssueLine, Ledger, Status

from .conftest import H0, HOUR, Clock, EngineFactory, build_park, reading

ACCOUNTS = ("gen", "trader", "c1", "c2")
DEVICES = ("pv-1", "wind-1")
HOURS = 3

op_strategy = st.one_of(
    st.tuples(st.just("issue"), st.integers(0, 1), st.integers(0, HOURS - 1), st.integers(1, 120)),
    st.tuples(st.just("transfer"), st.integers(0, 99), st.integers(0, 3), st.integers(0, 3)),
    st.tuples(st.just("split"), st.integers(0, 99), st.integers(1, 99), st.integers(0, 0)),
    st.tuples(st.just("cancel"), st.integers(0, 99), st.integers(0, 3), st.integers(0, 2)),
    st.tuples(st.just("cancel"), st.integers(0, 99), st.integers(0, 3), st.integers(0, 2)),
    st.tuples(st.just("claim"), st.integers(0, 99), st.integers(0, 3), st.integers(0, 0)),
    st.tuples(st.just("claim"), st.integers(0, 99), st.integers(0, 3), st.integers(0, 0)),
    st.tuples(st.just("withdraw"), st.integers(0, 99), st.integers(0, 0), st.integers(0, 0)),
    st.tuples(st.just("cancel+claim"), st.integers(0, 99), st.integers(0, 0), st.integers(0, 0)),
    st.tuples(st.just("issue"), st.integers(0, 1), st.integers(0, HOURS - 1), st.integers(1, 120)),
)
scenario = st.fixed_dictionaries(
    {
        "generation": st.lists(st.integers(0, 1000), min_size=2 * HOURS, max_size=2 * HOURS),
        "consumption": st.lists(st.integers(0, 600), min_size=HOURS, max_size=HOURS),
        "ops": st.lists(op_strategy, min_size=1, max_size=25),
    }
)


def run_scenario(ledger: Ledger, data: dict[str, list]) -> None:  # type: ignore[type-arg]
    build_park(ledger)
    for d, device in enumerate(DEVICES):
        ledger.record_generation(
            device=device,
            readings=[
                reading(H0 + h * HOUR, data["generation"][d * HOURS + h]) for h in range(HOURS)
            ],
        )
    ledger.record_consumption(
        account="c1",
        readings=[reading(H0 + h * HOUR, w) for h, w in enumerate(data["consumption"])],
    )
    known: list[int] = []
    for op, a, b, c in data["ops"]:
        seq = ledger.head().seq
        # Aim claims at cancelled bundles and splits, cancels and withdrawals at active ones, else
        # they are mostly refused; transfers pick any bundle, retired ones included.
        pool = known
        if op in ("claim", "split", "cancel", "withdraw", "cancel+claim"):
            want = Status.CANCELLED if op == "claim" else Status.ACTIVE
            pool = [k for k in known if ledger.get_bundle(k).status == want] or known
        target = ledger.get_bundle(pool[a % len(pool)]) if pool and op != "issue" else None
        try:
            if op == "issue":
                metered = data["generation"][a * HOURS + b]
                start = H0 + b * HOUR
                known += ledger.issue_many(
                    device=DEVICES[a],
                    issuer="operator",
                    lines=[IssueLine(start, start + HOUR, max(1, metered * c // 100))],
                )
            elif target is None:
                continue
            elif op == "transfer":
                sender = target.owner if b % 2 == 0 else ACCOUNTS[b]
                ledger.transfer(bundle_ids=[target.id], sender=sender, recipient=ACCOUNTS[c])
                assert target.status == Status.ACTIVE, "a retired bundle moved"
            elif op == "split":
                cut = max(1, target.wh * b // 100)
                known += ledger.split(
                    bundle_id=target.id, sizes_wh=[cut, target.wh - cut], account=target.owner
                )
            elif op == "cancel":
                hour = target.production_start_utc.replace(minute=0) + (b // 3) * HOUR
                ledger.cancel(
                    bundle_ids=[target.id],
                    account=target.owner,
                    beneficiary=("c1", "c1", "c2")[c],
                    period_start_utc=hour,
                    period_end_utc=hour + HOUR,
                )
            elif op == "cancel+claim":  # the whole path: to c1, cancelled in its hour, claimed
                hour = target.production_start_utc.replace(minute=0)
                if target.owner != "c1":
                    ledger.transfer(bundle_ids=[target.id], sender=target.owner, recipient="c1")
                    seq = ledger.head().seq
                ledger.cancel(
                    bundle_ids=[target.id],
                    account="c1",
                    beneficiary="c1",
                    period_start_utc=hour,
                    period_end_utc=hour + HOUR,
                )
                seq = ledger.head().seq
                ledger.claim(bundle_ids=[target.id], beneficiary="c1")
            elif op == "claim":
                ledger.claim(bundle_ids=[target.id], beneficiary=("c1", "c1", "c1", "c2")[b])
            elif op == "withdraw":
                ledger.withdraw(bundle_ids=[target.id], issuer="operator", reason="test")
        except (LedgerConflict, InputError):
            assert ledger.head().seq == seq, f"refused {op} appended an event"
            if op == "transfer" and target is not None:
                assert ledger.get_bundle(target.id).owner == target.owner
    assert ledger.audit() == []
    assert ledger.verify().ok


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=scenario)
def test_random_sequences_sqlite(tmp_path_factory: pytest.TempPathFactory, data: dict) -> None:  # type: ignore[type-arg]
    from suandian.store.sql import engine_for, migrate

    path = tmp_path_factory.mktemp("prop") / "ledger.sqlite"
    engine = engine_for(f"sqlite:///{path}")
    try:
        migrate(engine)
        run_scenario(Ledger(engine, clock=Clock()), data)
    finally:
        engine.dispose()


@pytest.mark.parametrize("make_engine", ["postgresql"], indirect=True)
@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=scenario)
def test_random_sequences_postgresql(make_engine: EngineFactory, data: dict) -> None:  # type: ignore[type-arg]
    run_scenario(Ledger(make_engine(), clock=Clock()), data)


def test_audit_finds_a_broken_invariant(park: Ledger) -> None:
    from sqlalchemy import text

    park.record_generation(device="pv-1", readings=[reading(H0, 100)])
    b = park.issue(device="pv-1", start_utc=H0, end_utc=H0 + HOUR, wh=100, issuer="operator")
    with park.engine.begin() as conn:
        conn.execute(text("UPDATE ledger_generation SET wh = 50"))
        conn.execute(text("UPDATE ledger_bundles SET end_id = end_id + 1, wh = wh + 1"))
    problems = park.audit()
    assert any("101 Wh, 100 Wh issued" in p for p in problems)
    assert any("100 Wh issued, 50 metered" in p for p in problems)
    assert b
