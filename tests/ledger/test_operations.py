"""Each ledger operation on hand-checked cases, and each refusal: the message names the bundle and
the reason, and nothing changed (every table, the chain included)."""

from __future__ import annotations

import datetime as dt
import itertools
import re
from collections.abc import Callable
from typing import Any

import pytest

from suandian.core.errors import InputError, LedgerConflict, NotFound, TimeError
from suandian.ledger import IssueLine, Ledger, Status
from suandian.ledger.domain import ID_BITS

from .conftest import H0, HOUR, Clock, reading, snapshot

UTC = dt.UTC


def refused(ledger: Ledger, exc: type[Exception], match: str, fn: Callable[[], Any]) -> str:
    """Run ``fn``, expect ``exc`` matching ``match``, and check that nothing changed."""
    before = snapshot(ledger)
    with pytest.raises(exc, match=match) as info:
        fn()
    assert snapshot(ledger) == before
    return str(info.value)


def issue_one(park: Ledger, wh: int = 1000, start: dt.datetime = H0, device: str = "pv-1") -> int:
    park.record_generation(device=device, readings=[reading(start, wh)])
    return park.issue(
        device=device, start_utc=start, end_utc=start + HOUR, wh=wh, issuer="operator"
    )


# --- metering and issue -------------------------------------------------------------------------


def test_issue_from_metering_gives_contiguous_ranges_per_device(park: Ledger) -> None:
    # pv-1 is device 1, wind-1 device 2: IDs of device n start at n << 48.
    b1 = issue_one(park, 1000)
    park.record_generation(device="pv-1", readings=[reading(H0 + HOUR, 600, 15, "m-pv@v3")])
    (b2,) = park.issue_many(
        device="pv-1",
        lines=[IssueLine(H0 + HOUR, H0 + HOUR + dt.timedelta(minutes=15), 500)],
        issuer="operator",
    )
    b3 = issue_one(park, 70, device="wind-1")
    x1, x2, x3 = park.get_bundle(b1), park.get_bundle(b2), park.get_bundle(b3)
    base = 1 << ID_BITS
    assert (x1.start_id, x1.end_id, x1.wh) == (base, base + 999, 1000)
    assert (x2.start_id, x2.end_id, x2.wh) == (base + 1000, base + 1499, 500)  # continues at +1
    assert (x3.start_id, x3.end_id) == (2 * base, 2 * base + 69)
    assert x1.issuance_id == x1.start_id
    assert (x1.owner, x1.status, x1.issuer, x1.source, x1.country, x1.zone) == (
        "gen",
        Status.ACTIVE,
        "operator",
        "pv",
        "CN",
        "CN-QH",
    )
    assert x1.emission_factor_g_per_kwh == pytest.approx(45.0)
    assert not x1.storage
    assert x1.production_start_utc == H0 and x1.production_end_utc == H0 + HOUR
    # expiry: end of production + 2 years
    assert x1.expires_utc == dt.datetime(2027, 3, 1, 5, tzinfo=UTC)
    assert park.generation_for("pv-1", H0, H0 + 2 * HOUR)[1].meter_ref == "m-pv@v3"


def test_issue_many_year_in_one_call(park: Ledger) -> None:
    hours = [H0 + i * HOUR for i in range(48)]
    park.record_generation(
        device="pv-1", readings=[reading(h, 100 + i) for i, h in enumerate(hours)]
    )
    seq = park.head().seq
    ids = park.issue_many(
        device="pv-1",
        lines=[IssueLine(h, h + HOUR, 100 + i) for i, h in enumerate(hours)],
        issuer="operator",
    )
    assert park.head().seq == seq + 1  # one event per call
    views = [park.get_bundle(i) for i in ids]
    assert [v.wh for v in views] == [100 + i for i in range(48)]
    for a, b in itertools.pairwise(views):
        assert b.start_id == a.end_id + 1


def test_issue_refusals(park: Ledger) -> None:
    park.record_generation(device="pv-1", readings=[reading(H0, 1000)])
    issue = park.issue
    msg = refused(
        park,
        LedgerConflict,
        "only 1000 Wh were metered",
        lambda: issue(device="pv-1", start_utc=H0, end_utc=H0 + HOUR, wh=1001, issuer="operator"),
    )
    assert "m@v1" in msg
    refused(
        park,
        LedgerConflict,
        "no metered generation",
        lambda: issue(
            device="pv-1", start_utc=H0 + HOUR, end_utc=H0 + 2 * HOUR, wh=1, issuer="operator"
        ),
    )
    refused(
        park,
        LedgerConflict,
        "no metered generation for exactly",
        lambda: issue(
            device="pv-1",
            start_utc=H0,
            end_utc=H0 + dt.timedelta(minutes=30),
            wh=1,
            issuer="operator",
        ),
    )
    refused(
        park,
        LedgerConflict,
        "only a park_operator",
        lambda: issue(device="pv-1", start_utc=H0, end_utc=H0 + HOUR, wh=1, issuer="gen"),
    )
    refused(
        park,
        NotFound,
        "account 'nobody'",
        lambda: issue(device="pv-1", start_utc=H0, end_utc=H0 + HOUR, wh=1, issuer="nobody"),
    )
    refused(
        park,
        NotFound,
        "device 'pv-9'",
        lambda: issue(device="pv-9", start_utc=H0, end_utc=H0 + HOUR, wh=1, issuer="operator"),
    )
    refused(
        park,
        TimeError,
        "naive",
        lambda: issue(
            device="pv-1",
            start_utc=H0.replace(tzinfo=None),
            end_utc=H0 + HOUR,
            wh=1,
            issuer="operator",
        ),
    )
    refused(
        park,
        InputError,
        "whole number of Wh",
        lambda: issue(device="pv-1", start_utc=H0, end_utc=H0 + HOUR, wh=1.5, issuer="operator"),
    )  # type: ignore[arg-type]
    refused(
        park,
        LedgerConflict,
        "use issue_discharge",
        lambda: issue(device="bess-1", start_utc=H0, end_utc=H0 + HOUR, wh=1, issuer="operator"),
    )
    issue(device="pv-1", start_utc=H0, end_utc=H0 + HOUR, wh=400, issuer="operator")
    refused(
        park,
        LedgerConflict,
        "already issued",
        lambda: issue(device="pv-1", start_utc=H0, end_utc=H0 + HOUR, wh=400, issuer="operator"),
    )
    # a whole call is refused when one of its lines is: the good first line is not issued either
    park.record_generation(device="pv-1", readings=[reading(H0 + HOUR, 50)])
    refused(
        park,
        LedgerConflict,
        "already issued",
        lambda: park.issue_many(
            device="pv-1",
            issuer="operator",
            lines=[IssueLine(H0 + HOUR, H0 + 2 * HOUR, 50), IssueLine(H0, H0 + HOUR, 1)],
        ),
    )


def test_production_interval_rules() -> None:
    from suandian.ledger.domain import check_production_interval

    check_production_interval(H0 + dt.timedelta(minutes=45), H0 + HOUR)
    with pytest.raises(TimeError, match="longer than one hour"):
        check_production_interval(H0, H0 + 2 * HOUR)
    with pytest.raises(TimeError, match="crosses the clock hour"):
        check_production_interval(H0 + dt.timedelta(minutes=30), H0 + dt.timedelta(minutes=90))
    with pytest.raises(TimeError, match="must be after"):
        check_production_interval(H0, H0)


def test_metering_corrections(park: Ledger) -> None:
    park.record_generation(device="pv-1", readings=[reading(H0, 1000, ref="m@v1")])
    park.record_generation(device="pv-1", readings=[reading(H0, 1200, ref="m@v2")])  # replaces
    assert [(r.wh, r.meter_ref) for r in park.generation_for("pv-1", H0, H0 + HOUR)] == [
        (1200, "m@v2")
    ]
    refused(
        park,
        LedgerConflict,
        "overlaps",
        lambda: park.record_generation(
            device="pv-1", readings=[reading(H0 + dt.timedelta(minutes=30), 5, 15)]
        ),
    )
    b = park.issue(device="pv-1", start_utc=H0, end_utc=H0 + HOUR, wh=1200, issuer="operator")
    msg = refused(
        park,
        LedgerConflict,
        "already has certificates issued against it and cannot be changed",
        lambda: park.record_generation(device="pv-1", readings=[reading(H0, 900, ref="m@v3")]),
    )
    # the message names only what the ledger offers: withdrawing the certificates
    assert "their issuer can withdraw them; the reading stays as recorded" in msg
    assert "adjustment" not in msg
    park.withdraw(bundle_ids=[b], issuer="operator", reason="meter fault")
    refused(
        park,
        LedgerConflict,
        "cannot be changed",
        lambda: park.record_generation(device="pv-1", readings=[reading(H0, 900, ref="m@v3")]),
    )
    refused(
        park,
        TimeError,
        "not one clock hour",
        lambda: park.record_consumption(account="c1", readings=[reading(H0, 5, 30)]),
    )
    refused(
        park,
        LedgerConflict,
        "consumer accounts",
        lambda: park.record_consumption(account="gen", readings=[reading(H0, 5)]),
    )


def test_consumption_corrections_replace_in_place_and_add(park: Ledger) -> None:
    park.record_consumption(account="c1", readings=[reading(H0, 800, ref="c1@v1")])
    park.record_consumption(
        account="c1", readings=[reading(H0, 900, ref="c1@v2"), reading(H0 + HOUR, 50, ref="c1@v1")]
    )
    assert [
        (c.start_utc, c.wh, c.meter_ref) for c in park.consumption_for("c1", H0, H0 + 2 * HOUR)
    ] == [
        (H0, 900, "c1@v2"),
        (H0 + HOUR, 50, "c1@v1"),
    ]


def test_issue_refuses_already_expired_production(park: Ledger, clock: Clock) -> None:
    # H0's production ended 2025-03-01T05:00Z: its certificates expire 2027-03-01T05:00Z.
    park.record_generation(device="pv-1", readings=[reading(H0, 1000), reading(H0 + HOUR, 500)])
    clock.now = dt.datetime(2027, 3, 1, 5, 30, tzinfo=UTC)
    expected = (
        r"device 'pv-1' at 2025-03-01T04:00:00\+00:00–2025-03-01T05:00:00\+00:00: cannot issue "
        r"certificates for this production: they expired at 2027-03-01T05:00:00\+00:00; "
        "certificates are valid for two years after production"
    )
    refused(
        park,
        LedgerConflict,
        expected,
        lambda: park.issue(
            device="pv-1", start_utc=H0, end_utc=H0 + HOUR, wh=1000, issuer="operator"
        ),
    )
    # one expired line refuses the whole call: the live one is not issued either
    refused(
        park,
        LedgerConflict,
        expected,
        lambda: park.issue_many(
            device="pv-1",
            lines=[IssueLine(H0, H0 + HOUR, 1000), IssueLine(H0 + HOUR, H0 + 2 * HOUR, 500)],
            issuer="operator",
        ),
    )
    (b,) = park.issue_many(
        device="pv-1", lines=[IssueLine(H0 + HOUR, H0 + 2 * HOUR, 500)], issuer="operator"
    )
    assert park.get_bundle(b).expires_utc == dt.datetime(2027, 3, 1, 6, tzinfo=UTC)
    park.record_charge(device="bess-1", bundle_ids=[b], start_utc=H0 + HOUR, end_utc=H0 + 2 * HOUR)
    park.record_generation(device="bess-1", readings=[reading(H0 + 2 * HOUR, 400)])
    # a production interval ending 06:30 expires 2027-03-01T06:30Z: refused at exactly that time
    half = H0 + 2 * HOUR + dt.timedelta(minutes=30)
    park.record_generation(device="pv-1", readings=[reading(H0 + 2 * HOUR, 5, 30)])
    clock.now = dt.datetime(2027, 3, 1, 6, 30, tzinfo=UTC)
    refused(
        park,
        LedgerConflict,
        r"expired at 2027-03-01T06:30:00\+00:00",
        lambda: park.issue(
            device="pv-1", start_utc=H0 + 2 * HOUR, end_utc=half, wh=5, issuer="operator"
        ),
    )
    # storage discharge: within η × charged (450 Wh), but its production ended 2025-03-01T07:00Z
    clock.now = dt.datetime(2027, 3, 1, 7, tzinfo=UTC)
    refused(
        park,
        LedgerConflict,
        r"device 'bess-1' at .*expired at 2027-03-01T07:00:00\+00:00",
        lambda: park.issue_discharge(
            device="bess-1",
            start_utc=H0 + 2 * HOUR,
            end_utc=H0 + 3 * HOUR,
            wh=400,
            issuer="operator",
        ),
    )


# --- transfer -----------------------------------------------------------------------------------


def test_transfer_moves_ownership_to_an_accepting_account(park: Ledger) -> None:
    b = issue_one(park)
    park.transfer(bundle_ids=[b], sender="gen", recipient="c1")
    assert park.get_bundle(b).owner == "c1"
    assert [x.id for x in park.bundles_of("c1")] == [b]
    assert park.bundles_of("gen") == []
    # trader accepts anyone
    park.transfer(bundle_ids=[b], sender="c1", recipient="trader")
    assert park.get_bundle(b).owner == "trader"


def test_transfer_refusals(park: Ledger) -> None:
    b = issue_one(park)
    t = park.transfer
    msg = refused(
        park,
        LedgerConflict,
        "does not accept transfers from 'gen'",
        lambda: t(bundle_ids=[b], sender="gen", recipient="c2"),
    )
    assert f"bundle {b}" in msg
    msg = refused(
        park,
        LedgerConflict,
        "belongs to account 'gen', not 'c1'",
        lambda: t(bundle_ids=[b], sender="c1", recipient="trader"),
    )
    assert f"bundle {b}" in msg
    refused(
        park,
        NotFound,
        "account 'ghost'",
        lambda: t(bundle_ids=[b], sender="gen", recipient="ghost"),
    )
    refused(
        park, NotFound, "bundle 999", lambda: t(bundle_ids=[b, 999], sender="gen", recipient="c1")
    )
    refused(
        park,
        InputError,
        "more than once",
        lambda: t(bundle_ids=[b, b], sender="gen", recipient="c1"),
    )


def test_expired_bundle_cannot_move(park: Ledger, clock: Clock) -> None:
    b = issue_one(park)
    clock.now = dt.datetime(2027, 3, 1, 5, tzinfo=UTC)  # exactly the expiry
    msg = refused(
        park,
        LedgerConflict,
        "expired at 2027-03-01T05:00:00",
        lambda: park.transfer(bundle_ids=[b], sender="gen", recipient="c1"),
    )
    assert f"bundle {b}" in msg


# --- split --------------------------------------------------------------------------------------


def test_split_partitions_the_parent(park: Ledger) -> None:
    b = issue_one(park, 1000)
    s = park.get_bundle(b).start_id
    c1, c2 = park.split(bundle_id=b, sizes_wh=[250, 750], account="gen")
    x1, x2 = park.get_bundle(c1), park.get_bundle(c2)
    assert (x1.start_id, x1.end_id, x1.wh) == (s, s + 249, 250)
    assert (x2.start_id, x2.end_id, x2.wh) == (s + 250, s + 999, 750)
    assert park.get_bundle(b).status == Status.SPLIT
    assert x1.parent_id == b and x1.issuance_id == park.get_bundle(b).issuance_id
    assert (x1.owner, x1.production_start_utc, x1.expires_utc, x1.source) == (
        "gen",
        H0,
        park.get_bundle(b).expires_utc,
        "pv",
    )
    refused(
        park,
        LedgerConflict,
        f"bundle {b}: cannot split it: it is split",
        lambda: park.split(bundle_id=b, sizes_wh=[500, 500], account="gen"),
    )
    refused(
        park,
        InputError,
        f"bundle {c2}: split sizes .* add up to 700",
        lambda: park.split(bundle_id=c2, sizes_wh=[600, 100], account="gen"),
    )
    refused(
        park,
        InputError,
        "at least two",
        lambda: park.split(bundle_id=c2, sizes_wh=[750], account="gen"),
    )
    refused(
        park,
        LedgerConflict,
        "belongs to account 'gen'",
        lambda: park.split(bundle_id=c2, sizes_wh=[700, 50], account="c1"),
    )


# --- cancel and claim ---------------------------------------------------------------------------


def test_cancel_then_claim_against_hourly_consumption(park: Ledger) -> None:
    b = issue_one(park, 1000)
    park.record_consumption(account="c1", readings=[reading(H0, 800, ref="c1-meter@v1")])
    small, rest = park.split(bundle_id=b, sizes_wh=[700, 300], account="gen")
    park.transfer(bundle_ids=[small, rest], sender="gen", recipient="c1")
    park.cancel(
        bundle_ids=[small, rest],
        account="c1",
        beneficiary="c1",
        period_start_utc=H0,
        period_end_utc=H0 + HOUR,
    )
    x = park.get_bundle(small)
    assert (x.status, x.beneficiary, x.consumption_start_utc) == (Status.CANCELLED, "c1", H0)
    park.claim(bundle_ids=[small], beneficiary="c1")
    # 700 claimed of 800; 300 more would make 1,000 > 800
    msg = refused(
        park,
        LedgerConflict,
        "would exceed 'c1'.s metered consumption of 800 Wh",
        lambda: park.claim(bundle_ids=[rest], beneficiary="c1"),
    )
    assert f"bundle {rest}" in msg and "700 Wh already claimed" in msg
    (cons,) = park.consumption_for("c1", H0, H0 + HOUR)
    assert (cons.wh, cons.claimed_wh, cons.meter_ref) == (800, 700, "c1-meter@v1")
    (claim,) = park.claims_for("c1", H0, H0 + HOUR)
    assert claim.bundle.id == small and claim.device.code == "pv-1"
    assert claim.meter_ref == "m@v1" and claim.bundle.production_start_utc == H0
    # a cancelled or claimed bundle never moves again
    for bid in (small, rest):
        msg = refused(
            park,
            LedgerConflict,
            "only active bundles can be transferred",
            lambda bid=bid: park.transfer(bundle_ids=[bid], sender="c1", recipient="trader"),
        )
        assert f"bundle {bid}" in msg
    # consumption cannot be corrected below what is claimed
    refused(
        park,
        LedgerConflict,
        "700 Wh are already claimed",
        lambda: park.record_consumption(account="c1", readings=[reading(H0, 600)]),
    )


def test_cancel_refusals(park: Ledger) -> None:
    b = issue_one(park, 1000)

    def cancel(
        start: dt.datetime, *, who: str = "gen", ben: str = "c1", ids: list[int] | None = None
    ) -> Callable[[], None]:
        return lambda: park.cancel(
            bundle_ids=ids or [b],
            account=who,
            beneficiary=ben,
            period_start_utc=start,
            period_end_utc=start + HOUR,
        )

    msg = refused(park, LedgerConflict, "period mismatch", cancel(H0 + HOUR))
    assert f"bundle {b}" in msg
    refused(
        park,
        TimeError,
        "not one clock hour",
        lambda: park.cancel(
            bundle_ids=[b],
            account="gen",
            beneficiary="c1",
            period_start_utc=H0,
            period_end_utc=H0 + 2 * HOUR,
        ),
    )
    refused(park, LedgerConflict, "must be a consumer account", cancel(H0, ben="trader"))
    refused(park, NotFound, "account 'ghost'", cancel(H0, ben="ghost"))
    refused(park, LedgerConflict, "belongs to account 'gen', not 'c2'", cancel(H0, who="c2"))
    park.cancel(
        bundle_ids=[b],
        account="gen",
        beneficiary="c2",
        period_start_utc=H0,
        period_end_utc=H0 + HOUR,
    )
    msg = refused(park, LedgerConflict, "it is cancelled", cancel(H0))
    assert f"bundle {b}" in msg


def test_claim_refusals(park: Ledger) -> None:
    a = issue_one(park, 100)
    b = issue_one(park, 100, start=H0 + HOUR)
    refused(
        park,
        LedgerConflict,
        "only cancelled bundles can be claimed .cancel it",
        lambda: park.claim(bundle_ids=[a], beneficiary="c1"),
    )
    park.cancel(
        bundle_ids=[a],
        account="gen",
        beneficiary="c1",
        period_start_utc=H0,
        period_end_utc=H0 + HOUR,
    )
    refused(
        park,
        LedgerConflict,
        "no metered consumption",
        lambda: park.claim(bundle_ids=[a], beneficiary="c1"),
    )
    refused(
        park,
        LedgerConflict,
        "cancelled for another beneficiary",
        lambda: park.claim(bundle_ids=[a], beneficiary="c2"),
    )
    park.record_consumption(account="c1", readings=[reading(H0, 100), reading(H0 + HOUR, 50)])
    park.cancel(
        bundle_ids=[b],
        account="gen",
        beneficiary="c1",
        period_start_utc=H0 + HOUR,
        period_end_utc=H0 + 2 * HOUR,
    )
    # the whole call is refused: a (hour 0) fits, b (hour 1: 100 > 50) does not
    msg = refused(
        park, LedgerConflict, "exceed", lambda: park.claim(bundle_ids=[a, b], beneficiary="c1")
    )
    assert f"bundle {b}" in msg
    park.claim(bundle_ids=[a], beneficiary="c1")
    refused(
        park, LedgerConflict, "it is claimed", lambda: park.claim(bundle_ids=[a], beneficiary="c1")
    )


# --- withdraw and expire ------------------------------------------------------------------------


def test_withdraw_by_the_issuer_only(park: Ledger) -> None:
    b = issue_one(park)
    refused(
        park,
        LedgerConflict,
        "issued by 'operator', not 'audit'",
        lambda: park.withdraw(bundle_ids=[b], issuer="audit", reason="meter fault"),
    )
    refused(
        park,
        InputError,
        "give a reason",
        lambda: park.withdraw(bundle_ids=[b], issuer="operator", reason=" "),
    )
    park.withdraw(bundle_ids=[b], issuer="operator", reason="meter fault")
    assert park.get_bundle(b).status == Status.WITHDRAWN
    refused(
        park,
        LedgerConflict,
        "it is withdrawn",
        lambda: park.withdraw(bundle_ids=[b], issuer="operator", reason="again"),
    )
    assert "meter fault" in park.events()[-1].payload_json


def test_expire_sweeps_live_bundles_past_expiry(park: Ledger, clock: Clock) -> None:
    early = issue_one(park, 10)
    late = issue_one(park, 10, start=H0 + 5 * HOUR)
    cancelled = issue_one(park, 10, start=H0 + 2 * HOUR)
    park.cancel(
        bundle_ids=[cancelled],
        account="gen",
        beneficiary="c1",
        period_start_utc=H0 + 2 * HOUR,
        period_end_utc=H0 + 3 * HOUR,
    )
    clock.now = dt.datetime(2027, 3, 1, 6, tzinfo=UTC)
    assert park.expire(now_utc=dt.datetime(2027, 3, 1, 4, tzinfo=UTC)) == []
    assert park.expire(now_utc=dt.datetime(2027, 3, 1, 5, tzinfo=UTC)) == [early]
    assert park.get_bundle(early).status == Status.EXPIRED
    assert park.get_bundle(late).status == Status.ACTIVE
    assert park.get_bundle(cancelled).status == Status.CANCELLED
    assert park.bundles_of("gen", status="expired")[0].id == early


def test_expire_refuses_a_time_ahead_of_the_clock(park: Ledger, clock: Clock) -> None:
    b = issue_one(park, 10)  # expires 2027-03-01T05:00Z; the clock is at 2025-06-01
    msg = refused(
        park,
        InputError,
        r"now_utc: 2027-03-01T05:00:00\+00:00 is later than the ledger clock "
        r"\(2025-06-01T00:00:00\+00:00\)",
        lambda: park.expire(now_utc=dt.datetime(2027, 3, 1, 5, tzinfo=UTC)),
    )
    assert "expired up to the current time" in msg
    assert park.get_bundle(b).status == Status.ACTIVE
    assert park.expire(now_utc=clock.now) == []  # the clock's own time is allowed
    clock.now = dt.datetime(2027, 3, 1, 5, tzinfo=UTC)
    assert park.expire(now_utc=clock.now) == [b]


def test_expiry_of_a_leap_day() -> None:
    from suandian.ledger.domain import expiry_utc

    assert expiry_utc(dt.datetime(2024, 2, 29, 1, tzinfo=UTC)) == dt.datetime(
        2026, 3, 1, 1, tzinfo=UTC
    )


# --- storage ------------------------------------------------------------------------------------


def test_storage_charge_and_discharge_within_eta(park: Ledger) -> None:
    # charge 1,000 Wh of PV into bess-1 in H0; η = 0.9 allows 900 Wh of discharge certificates.
    b = issue_one(park, 1000)
    charge = park.record_charge(device="bess-1", bundle_ids=[b], start_utc=H0, end_utc=H0 + HOUR)
    x = park.get_bundle(b)
    assert (x.status, x.beneficiary) == (Status.CANCELLED, "gen") and charge >= 1
    t1, t2 = H0 + 6 * HOUR, H0 + 7 * HOUR
    park.record_generation(device="bess-1", readings=[reading(t1, 700), reading(t2, 400)])
    d1 = park.issue_discharge(
        device="bess-1", start_utc=t1, end_utc=t1 + HOUR, wh=600, issuer="operator"
    )
    v = park.get_bundle(d1)
    assert v.storage and v.source == "storage" and v.owner == "gen" and v.wh == 600
    # 600 + 301 = 901 > 900
    msg = refused(
        park,
        LedgerConflict,
        "allows 900 Wh, 600 Wh already issued",
        lambda: park.issue_discharge(
            device="bess-1", start_utc=t2, end_utc=t2 + HOUR, wh=301, issuer="operator"
        ),
    )
    assert "bess-1" in msg
    park.issue_discharge(
        device="bess-1", start_utc=t2, end_utc=t2 + HOUR, wh=300, issuer="operator"
    )
    # a storage charge is cancelled for the storage owner, never claimable by a consumer
    refused(
        park,
        LedgerConflict,
        "storage charge",
        lambda: park.claim(bundle_ids=[b], beneficiary="gen"),
    )


def test_storage_refusals(park: Ledger) -> None:
    b = issue_one(park, 1000)
    refused(
        park,
        LedgerConflict,
        "not a storage device",
        lambda: park.record_charge(
            device="wind-1", bundle_ids=[b], start_utc=H0, end_utc=H0 + HOUR
        ),
    )
    refused(
        park,
        LedgerConflict,
        "period mismatch",
        lambda: park.record_charge(
            device="bess-1", bundle_ids=[b], start_utc=H0 + HOUR, end_utc=H0 + 2 * HOUR
        ),
    )
    park.transfer(bundle_ids=[b], sender="gen", recipient="c1")
    refused(
        park,
        LedgerConflict,
        "belongs to account 'c1', not 'gen'",
        lambda: park.record_charge(
            device="bess-1", bundle_ids=[b], start_utc=H0, end_utc=H0 + HOUR
        ),
    )
    # discharge before any charge: η × 0 = 0
    park.record_generation(device="bess-1", readings=[reading(H0, 10)])
    refused(
        park,
        LedgerConflict,
        "allows 0 Wh",
        lambda: park.issue_discharge(
            device="bess-1", start_utc=H0, end_utc=H0 + HOUR, wh=1, issuer="operator"
        ),
    )


# --- registry -----------------------------------------------------------------------------------


def test_registry_refusals(park: Ledger) -> None:
    refused(
        park,
        LedgerConflict,
        "already exists",
        lambda: park.create_account(code="gen", organisation="solar-co", kind="generator"),
    )
    refused(
        park,
        InputError,
        "is not one of",
        lambda: park.create_account(code="x", organisation="solar-co", kind="trader"),
    )
    refused(
        park,
        NotFound,
        "organisation 'nope'",
        lambda: park.create_account(code="x", organisation="nope", kind="consumer"),
    )
    refused(
        park,
        InputError,
        "project_code",
        lambda: park.register_device(
            code="pv-2",
            name="PV 2",
            source="pv",
            capacity_mw=1.0,
            site="s",
            zone="z",
            commissioned_on=dt.date(2024, 1, 1),
            owner="gen",
            emission_factor_g_per_kwh=45.0,
            project_code="short",
        ),
    )
    refused(
        park,
        InputError,
        "storage device",
        lambda: park.register_device(
            code="bess-2",
            name="B",
            source="storage",
            capacity_mw=1.0,
            site="s",
            zone="z",
            commissioned_on=dt.date(2024, 1, 1),
            owner="gen",
            emission_factor_g_per_kwh=0.0,
            project_code="QHXN0ST00002",
        ),
    )
    park.set_acceptance(account="c2", accept_all=False, accepts=["gen"])
    b = issue_one(park)
    park.transfer(bundle_ids=[b], sender="gen", recipient="c2")
    assert park.device("bess-1").round_trip_efficiency_pu == pytest.approx(0.9)
    assert park.device("pv-1").device_no == 1


def test_every_operation_appends_one_event(park: Ledger) -> None:
    kinds = [e.kind for e in park.events()]
    assert kinds[:3] == ["organisation.create"] * 3
    assert kinds.count("device.register") == 3
    seq = park.head().seq
    b = issue_one(park)  # metering + issue
    park.transfer(bundle_ids=[b], sender="gen", recipient="c1")
    assert [e.kind for e in park.events(after_seq=seq)] == [
        "metering.generation",
        "issue",
        "transfer",
    ]
    payload = park.events()[-1].payload_json
    assert re.fullmatch(r'\{"bundles":\[\d+\],"recipient":"c1","sender":"gen"\}', payload)
    assert park.verify().ok
