"""The tamper-evident event chain: canonical JSON, event hashes and their verification.

Every ledger operation appends one event. Its hash is

    sha256( canonical_json({"seq": seq, "kind": kind, "recorded_utc": iso, "payload": payload,
                            "prev_hash": prev_hash}) )

where ``canonical_json`` is JSON with sorted keys, no whitespace, UTF-8 (non-ASCII kept as is),
and only strings, ints, booleans, null, lists and objects (floats are refused: a quantity is an
int of Wh, anything else a string); ``iso`` is the UTC timestamp as
``YYYY-MM-DDTHH:MM:SS.ffffff+00:00``, and ``prev_hash`` is the previous event's hash (64 zeros
before the first event). Because each hash covers the previous one, altering, removing or
reordering any stored event breaks every link after it; :func:`verify_events` reports the first.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from suandian.core.errors import InputError
from suandian.ledger.domain import ChainHead, VerifyResult

__all__ = [
    "GENESIS_HASH",
    "StoredEvent",
    "body_parts",
    "canonical_json",
    "event_hash",
    "iso_utc",
    "verify_events",
]

GENESIS_HASH = "0" * 64


def iso_utc(t: dt.datetime) -> str:
    """The one ISO form of a timestamp inside events: UTC, microseconds, ``+00:00``."""
    if t.tzinfo is None:
        raise InputError(f"event timestamp {t!r} is naive; events carry UTC timestamps")
    return t.astimezone(dt.UTC).isoformat(timespec="microseconds")


def _check(value: Any, path: str) -> None:
    if value is None or isinstance(value, bool | int | str):
        return
    if isinstance(value, list | tuple):
        for i, v in enumerate(value):
            _check(v, f"{path}[{i}]")
        return
    if isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, str):
                raise InputError(f"event payload {path}: key {k!r} is not a string")
            _check(v, f"{path}.{k}")
        return
    raise InputError(
        f"event payload {path}: {type(value).__name__} {value!r} is not canonical; use an int "
        "(Wh, ids) or a string (timestamps via iso_utc, decimals via str)"
    )


def canonical_json(value: Any) -> str:
    """Sorted keys, no whitespace, UTF-8 text; only str, int, bool, None, list and dict."""
    _check(value, "$")
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def event_hash(
    *, seq: int, kind: str, recorded_utc: dt.datetime, payload: Mapping[str, Any], prev_hash: str
) -> str:
    """Hex SHA-256 of one event's canonical body, which includes the previous hash."""
    body = {
        "seq": seq,
        "kind": kind,
        "recorded_utc": iso_utc(recorded_utc),
        "payload": payload,
        "prev_hash": prev_hash,
    }
    return hashlib.sha256(canonical_json(body).encode("utf-8")).hexdigest()


def body_parts(kind: str, payload_json: str, recorded_utc: dt.datetime) -> tuple[str, str]:
    """The canonical body around the two values only the store knows: ``prev_hash`` and ``seq``.

    ``prefix + prev_hash + middle + str(seq) + "}"`` is exactly the canonical JSON that
    :func:`event_hash` hashes (keys in sorted order), so a database can finish the hash while
    it holds the chain head.
    """
    kind_json = json.dumps(kind, ensure_ascii=False)
    prefix = '{"kind":' + kind_json + ',"payload":' + payload_json + ',"prev_hash":"'
    middle = '","recorded_utc":"' + iso_utc(recorded_utc) + '","seq":'
    return prefix, middle


@dataclass(frozen=True)
class StoredEvent:
    """An event as read back from the store; ``payload_json`` is the stored text."""

    seq: int
    kind: str
    recorded_utc: dt.datetime
    payload_json: str
    prev_hash: str
    hash: str


def verify_events(events: Iterable[StoredEvent], head: ChainHead) -> VerifyResult:
    """Recompute the chain over ``events`` (in stored seq order) and compare with ``head``.

    Checks, per event: its seq is the next one (a gap means an event was removed), its
    ``prev_hash`` is the previous event's hash (else events were reordered or one before it was
    replaced), and its recomputed hash equals the stored one (else it was altered). At the end
    the last event must be the head the ledger recorded (else events at the tail were removed).
    """
    prev, expected, count = GENESIS_HASH, 1, 0
    for ev in events:
        count += 1

        def bad(seq: int, reason: str, _count: int = count, _prev: str = prev) -> VerifyResult:
            return VerifyResult(False, _prev, _count, seq, reason)

        if ev.seq != expected:
            if ev.seq > expected:
                return bad(expected, f"event {expected} is missing: the next stored is {ev.seq}")
            return bad(ev.seq, f"event {ev.seq} appears again or out of order after {expected - 1}")
        if ev.prev_hash != prev:
            return bad(
                ev.seq,
                f"event {ev.seq} does not link to event {ev.seq - 1}: its prev_hash "
                f"{ev.prev_hash[:12]}… is not {prev[:12]}… (events reordered, or one replaced)",
            )
        try:
            payload = json.loads(ev.payload_json)
            recomputed = event_hash(
                seq=ev.seq,
                kind=ev.kind,
                recorded_utc=ev.recorded_utc,
                payload=payload,
                prev_hash=ev.prev_hash,
            )
        except (ValueError, InputError) as exc:
            return bad(ev.seq, f"event {ev.seq} has an unreadable payload: {exc}")
        if recomputed != ev.hash:
            return bad(
                ev.seq,
                f"event {ev.seq} ({ev.kind}) was altered: its content hashes to "
                f"{recomputed[:12]}…, the stored hash is {ev.hash[:12]}…",
            )
        prev, expected = ev.hash, expected + 1
    last = expected - 1
    if last != head.seq or prev != head.hash:
        if last < head.seq:
            reason = f"events {last + 1}–{head.seq} are missing: the chain head is at {head.seq}"
            return VerifyResult(False, prev, count, last + 1, reason)
        if last > head.seq:
            reason = f"events {head.seq + 1}–{last} lie beyond the chain head at {head.seq}"
            return VerifyResult(False, prev, count, head.seq + 1, reason)
        reason = (
            f"the chain head hash {head.hash[:12]}… does not match the last event "
            f"(seq {last}, {prev[:12]}…)"
        )
        return VerifyResult(False, prev, count, last, reason)
    return VerifyResult(True, prev, count, None, None)
