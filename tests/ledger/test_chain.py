"""The event chain: canonical hashing by hand, and tampering with stored events found by seq."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest
from sqlalchemy import text

from suandian.core.errors import InputError
from suandian.ledger import GENESIS_HASH, Ledger, canonical_json, event_hash

from .conftest import H0, HOUR, reading

T = dt.datetime(2025, 6, 1, 8, 30, tzinfo=dt.timezone(dt.timedelta(hours=8)))


def test_canonical_json_and_hash_by_hand() -> None:
    assert (
        canonical_json({"b": [1, "绿"], "a": None, "c": True}) == '{"a":null,"b":[1,"绿"],"c":true}'
    )
    body = (
        '{"kind":"transfer","payload":{"bundles":[7]},"prev_hash":"' + GENESIS_HASH + '",'
        '"recorded_utc":"2025-06-01T00:30:00.000000+00:00","seq":1}'
    )
    expected = hashlib.sha256(body.encode("utf-8")).hexdigest()
    got = event_hash(
        seq=1, kind="transfer", recorded_utc=T, payload={"bundles": [7]}, prev_hash=GENESIS_HASH
    )
    assert got == expected
    with pytest.raises(InputError, match="float"):
        canonical_json({"wh": 1.5})


def _ledger_with_events(ledger: Ledger) -> Ledger:
    ledger.create_organisation(code="park", name="Park")
    ledger.create_account(code="operator", organisation="park", kind="park_operator")
    ledger.create_account(code="c1", organisation="park", kind="consumer", accept_all=True)
    ledger.register_device(
        code="pv-1",
        name="PV",
        source="pv",
        capacity_mw=1.0,
        site="s",
        zone="CN-QH",
        commissioned_on=dt.date(2024, 1, 1),
        owner="operator",
        emission_factor_g_per_kwh=45.0,
        project_code="QHXN0PV00001",
    )
    ledger.record_generation(device="pv-1", readings=[reading(H0, 500)])
    b = ledger.issue(device="pv-1", start_utc=H0, end_utc=H0 + HOUR, wh=500, issuer="operator")
    ledger.transfer(bundle_ids=[b], sender="operator", recipient="c1")
    return ledger


def _sql(ledger: Ledger, *statements: str) -> None:
    with ledger.engine.begin() as conn:
        for s in statements:
            conn.execute(text(s))


def test_intact_chain_verifies(ledger: Ledger) -> None:
    _ledger_with_events(ledger)
    result = ledger.verify()
    head = ledger.head()
    assert result.ok and result.first_bad_seq is None and result.reason is None
    assert (
        (result.count, result.head_hash) == (head.seq, head.hash) == (7, ledger.events()[-1].hash)
    )


def test_edited_event_is_named(ledger: Ledger) -> None:
    _ledger_with_events(ledger)
    with ledger.engine.begin() as conn:  # issue 5,000 Wh instead of 500
        conn.execute(
            text(
                "UPDATE ledger_events SET payload_json = replace(payload_json, :a, :b) "
                "WHERE seq = 6"
            ),
            {"a": ",500,", "b": ",5000,"},
        )
        assert (
            "5000"
            in conn.execute(
                text("SELECT payload_json FROM ledger_events WHERE seq = 6")
            ).scalar_one()
        )
    result = ledger.verify()
    assert not result.ok and result.first_bad_seq == 6
    assert "event 6 (issue) was altered" in (result.reason or "")


def test_edited_timestamp_is_named(ledger: Ledger) -> None:
    _ledger_with_events(ledger)
    with ledger.engine.begin() as conn:
        conn.execute(
            text("UPDATE ledger_events SET recorded_utc = :t WHERE seq = 3"),
            {
                "t": "2020-01-01 00:00:00.000000"  # SQLite keeps UTC wall time as text
                if conn.dialect.name == "sqlite"
                else dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
            },
        )
    assert ledger.verify().first_bad_seq == 3


def test_deleted_event_is_named(ledger: Ledger) -> None:
    _ledger_with_events(ledger)
    _sql(ledger, "DELETE FROM ledger_events WHERE seq = 4")
    result = ledger.verify()
    assert not result.ok and result.first_bad_seq == 4 and "missing" in (result.reason or "")
    assert result.count == 4  # events 1-3 verified, then 5 was read


def test_deleted_last_event_is_named(ledger: Ledger) -> None:
    _ledger_with_events(ledger)
    _sql(ledger, "DELETE FROM ledger_events WHERE seq = 7")
    result = ledger.verify()
    assert not result.ok and result.first_bad_seq == 7 and "chain head" in (result.reason or "")


def test_reordered_events_are_named(ledger: Ledger) -> None:
    _ledger_with_events(ledger)
    _sql(
        ledger,
        "UPDATE ledger_events SET seq = -1 WHERE seq = 5",
        "UPDATE ledger_events SET seq = 5 WHERE seq = 6",
        "UPDATE ledger_events SET seq = 6 WHERE seq = -1",
    )
    result = ledger.verify()
    assert not result.ok and result.first_bad_seq == 5
    assert "does not link to event 4" in (result.reason or "")


def test_rewritten_head_is_named(ledger: Ledger) -> None:
    _ledger_with_events(ledger)
    _sql(ledger, f"UPDATE ledger_chain_head SET hash = '{'f' * 64}'")
    result = ledger.verify()
    assert not result.ok and result.first_bad_seq == 7
