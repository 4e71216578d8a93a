"""Ledger invariants rebuilt from the stored rows (pure: plain tuples in, problems out).

:meth:`suandian.ledger.Ledger.audit` reads the rows and calls :func:`check_invariants`; tests and
the benchmark run it after random and concurrent operations.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from suandian.ledger.domain import Status

__all__ = ["BundleFacts", "check_invariants"]


@dataclass(frozen=True)
class BundleFacts:
    id: int
    issuance_id: int
    parent_id: int | None
    start_id: int
    end_id: int
    wh: int
    status: str
    beneficiary_id: int | None
    consumption_start_utc: dt.datetime | None
    charge_id: int | None


def check_invariants(
    bundles: Iterable[BundleFacts],
    issued_wh: Mapping[int, int],
    issued_over_metered: Iterable[tuple[int, dt.datetime, int, int]],
    consumption_wh: Mapping[tuple[int, dt.datetime], int],
) -> list[str]:
    """Problems found (empty when every invariant holds).

    Parameters
    ----------
    bundles
        Every bundle.
    issued_wh
        Wh issued per issuance id.
    issued_over_metered
        (device, interval start, issued Wh, metered Wh) of each issuance; issued must not exceed
        metered.
    consumption_wh
        Metered Wh per (consumer account id, hour start).

    Checks: face value is the range length; the bundles that are not ``split`` of an issuance
    add up to what was issued; no certificate ID lies in two such bundles; the children of every
    split parent partition its range; claims per consumer-hour stay within consumption;
    issuance stays within metering.
    """
    problems: list[str] = []
    rows = list(bundles)
    leaves = [b for b in rows if b.status != Status.SPLIT]
    for b in rows:
        if b.wh != b.end_id - b.start_id + 1 or b.wh <= 0:
            problems.append(
                f"bundle {b.id}: face value {b.wh} Wh ≠ range [{b.start_id}, {b.end_id}]"
            )
    per_issuance: dict[int, int] = defaultdict(int)
    for b in leaves:
        per_issuance[b.issuance_id] += b.wh
    for iss, wh in issued_wh.items():
        if per_issuance.get(iss, 0) != wh:
            problems.append(
                f"issuance {iss}: its bundles hold {per_issuance.get(iss, 0)} Wh, {wh} Wh issued"
            )
    for iss in set(per_issuance) - set(issued_wh):
        problems.append(f"issuance {iss}: bundles without an issuance")
    ordered = sorted(leaves, key=lambda b: b.start_id)
    for a, b in itertools.pairwise(ordered):
        if b.start_id <= a.end_id:
            problems.append(f"bundles {a.id} and {b.id} share IDs from {b.start_id}")
    children: dict[int, list[BundleFacts]] = defaultdict(list)
    for b in rows:
        if b.parent_id is not None:
            children[b.parent_id].append(b)
    by_id = {b.id: b for b in rows}
    for b in rows:
        kids = sorted(children.get(b.id, []), key=lambda c: c.start_id)
        if b.status == Status.SPLIT:
            cursor = b.start_id
            for c in kids:
                if c.start_id != cursor:
                    problems.append(f"split bundle {b.id}: child {c.id} starts at {c.start_id}")
                cursor = c.end_id + 1
            if cursor != b.end_id + 1:
                problems.append(f"split bundle {b.id}: children do not cover its range")
        elif kids:
            problems.append(f"bundle {b.id} has children but is {b.status}")
    for p in children:
        if p not in by_id:
            problems.append(f"bundles {[c.id for c in children[p]]} name a missing parent {p}")
    claimed: dict[tuple[int, dt.datetime], int] = defaultdict(int)
    for b in leaves:
        if b.status == Status.CLAIMED:
            if b.beneficiary_id is None or b.consumption_start_utc is None or b.charge_id:
                problems.append(f"claimed bundle {b.id} has no consumer beneficiary and hour")
                continue
            claimed[(b.beneficiary_id, b.consumption_start_utc)] += b.wh
    for key, wh in claimed.items():
        if wh > consumption_wh.get(key, 0):
            problems.append(
                f"account {key[0]} claims {wh} Wh in the hour {key[1].isoformat()}, "
                f"{consumption_wh.get(key, 0)} Wh metered"
            )
    for device, start, issued, metered in issued_over_metered:
        if issued > metered:
            problems.append(
                f"device {device} at {start.isoformat()}: {issued} Wh issued, {metered} metered"
            )
    return problems
