"""Evidence pack: what an auditor needs to check one consumer's green-power claims.

For a consumer and a range of Asia/Shanghai days, :func:`evidence_pack` reads the certificate
ledger and gathers

- **consumption by hour**: metered Wh of every clock hour and the Wh of certificates claimed
  against it (never more, the ledger refuses it), with the meter reference;
- **claimed certificates with lineage**: bundle id, certificate ID range (one Wh, one ID),
  device, source, GEC project code, site and grid zone, production interval, the generation
  reading the bundle was issued against, issuance id, device emission factor, storage flag;
- **hourly-match %**: Σ_h claimed_h / Σ_h consumption_h — a certificate counts only against
  consumption of its own production hour, so this is the share of consumption matched hour
  by hour (EnergyTag granular-certificate claim);
- **direct-supply share**: the part of consumption claimed under a direct contract (绿电直连)
  with the device, over consumption. Per hour and contracted device it counts the claimed Wh
  up to the contracted capacity × 1 h (all of them without a cap): the allocation of
  :mod:`suandian.meters.certify` serves contracts first, so more from the same device came
  from the shared pool, not through the direct line;
- **the chain head** (sequence number and SHA-256 hash) and the result of verifying the event
  chain when the pack was made, so an auditor can recompute the chain
  (``suandian ledger verify``) and compare heads.

:meth:`EvidencePack.to_json` and :meth:`EvidencePack.to_html` (a printable, self-contained
page) carry the same content.
"""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Mapping
from dataclasses import dataclass

from suandian.core.errors import InputError
from suandian.core.times import LOCAL_TZ, local_date_start_utc
from suandian.ledger import ClaimView, ConsumptionView, Ledger, VerifyResult
from suandian.ledger.domain import floor_hour

__all__ = ["EvidencePack", "evidence_pack"]


@dataclass(frozen=True)
class EvidencePack:
    consumer: str
    first_day: dt.date
    last_day: dt.date
    """Inclusive, Asia/Shanghai days."""
    generated_utc: dt.datetime
    consumption: tuple[ConsumptionView, ...]
    claims: tuple[ClaimView, ...]
    direct_cap_mw: dict[str, float | None]
    """Devices under a direct contract with the consumer → contracted capacity (None: no cap)."""
    chain_seq: int
    chain_hash: str
    verified: VerifyResult

    @property
    def consumption_wh(self) -> int:
        return sum(c.wh for c in self.consumption)

    @property
    def claimed_wh(self) -> int:
        return sum(c.bundle.wh for c in self.claims)

    @property
    def direct_wh(self) -> int:
        per_hour: dict[tuple[str, dt.datetime], int] = {}
        for c in self.claims:
            if c.device.code in self.direct_cap_mw:
                key = (c.device.code, floor_hour(c.bundle.production_start_utc))
                per_hour[key] = per_hour.get(key, 0) + c.bundle.wh
        total = 0
        for (device, _hour), wh in per_hour.items():
            cap = self.direct_cap_mw[device]
            total += wh if cap is None else min(wh, int(cap * 1e6))  # MW × 1 h = Wh / 1e6
        return total

    @property
    def hourly_match_pu(self) -> float | None:
        total = self.consumption_wh
        return None if total == 0 else self.claimed_wh / total

    @property
    def direct_supply_pu(self) -> float | None:
        total = self.consumption_wh
        return None if total == 0 else self.direct_wh / total

    def by_source_wh(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for c in self.claims:
            key = c.bundle.source.value  # storage-discharge certificates have source storage
            out[key] = out.get(key, 0) + c.bundle.wh
        return dict(sorted(out.items()))

    def to_json(self) -> dict[str, object]:
        return {
            "consumer": self.consumer,
            "from": self.first_day.isoformat(),
            "to": self.last_day.isoformat(),
            "timezone": str(LOCAL_TZ),
            "generated_utc": self.generated_utc.isoformat(),
            "consumption_wh": self.consumption_wh,
            "claimed_wh": self.claimed_wh,
            "hourly_match_pu": self.hourly_match_pu,
            "direct_supply_pu": self.direct_supply_pu,
            "direct_contracts_mw": self.direct_cap_mw,
            "claimed_by_source_wh": self.by_source_wh(),
            "hours": [
                {
                    "start_utc": c.start_utc.isoformat(),
                    "end_utc": c.end_utc.isoformat(),
                    "consumption_wh": c.wh,
                    "claimed_wh": c.claimed_wh,
                    "meter_ref": c.meter_ref,
                }
                for c in self.consumption
            ],
            "certificates": [_claim_json(c) for c in self.claims],
            "chain": {
                "head_seq": self.chain_seq,
                "head_hash": self.chain_hash,
                "verified": self.verified.ok,
                "verified_events": self.verified.count,
                "first_bad_seq": self.verified.first_bad_seq,
                "reason": self.verified.reason,
            },
        }

    def to_html(self) -> str:
        return _html(self)


def _claim_json(c: ClaimView) -> dict[str, object]:
    b, d = c.bundle, c.device
    return {
        "bundle_id": b.id,
        "start_id": b.start_id,
        "end_id": b.end_id,
        "wh": b.wh,
        "device": d.code,
        "device_name": d.name,
        "source": b.source.value,
        "storage": b.storage,
        "project_code": d.project_code,
        "site": d.site,
        "zone": b.zone,
        "country": b.country,
        "production_start_utc": b.production_start_utc.isoformat(),
        "production_end_utc": b.production_end_utc.isoformat(),
        "issuance_id": b.issuance_id,
        "issuer": b.issuer,
        "meter_ref": c.meter_ref,
        "emission_factor_g_per_kwh": b.emission_factor_g_per_kwh,
        "claimed_utc": c.claimed_utc.isoformat(),
        "consumption_start_utc": None
        if b.consumption_start_utc is None
        else b.consumption_start_utc.isoformat(),
    }


def evidence_pack(
    ledger: Ledger,
    consumer: str,
    first_day: dt.date,
    last_day: dt.date,
    *,
    direct_cap_mw: Mapping[str, float | None] | None = None,
    now_utc: dt.datetime | None = None,
) -> EvidencePack:
    """The evidence pack of ``consumer`` for the local days ``first_day`` … ``last_day``.

    Raises :class:`~suandian.core.errors.InputError` when the range is reversed and
    :class:`~suandian.core.errors.NotFound` for an unknown consumer.
    """
    if last_day < first_day:
        raise InputError(
            f"last_day {last_day.isoformat()} is before first_day {first_day.isoformat()}; "
            "give the first day first"
        )
    start = local_date_start_utc(first_day).to_pydatetime()
    end = local_date_start_utc(last_day + dt.timedelta(days=1)).to_pydatetime()
    consumption = tuple(ledger.consumption_for(consumer, start, end))
    claims = tuple(
        sorted(
            ledger.claims_for(consumer, start, end),
            key=lambda c: (c.bundle.production_start_utc, c.bundle.start_id),
        )
    )
    verified = ledger.verify()  # its head is the one the pack cites: verified, not just read
    return EvidencePack(
        consumer=consumer,
        first_day=first_day,
        last_day=last_day,
        generated_utc=now_utc or dt.datetime.now(dt.UTC),
        consumption=consumption,
        claims=claims,
        direct_cap_mw=dict(sorted((direct_cap_mw or {}).items())),
        # Events are numbered from 1 without gaps, so the last verified one is number `count`
        # (or the one before the first bad event).
        chain_seq=verified.count if verified.ok else max((verified.first_bad_seq or 1) - 1, 0),
        chain_hash=verified.head_hash,
        verified=verified,
    )


def _contracts(caps: Mapping[str, float | None]) -> str:
    if not caps:
        return "none"
    return ", ".join(f"{d} ≤ {c:g} MW" if c is not None else d for d, c in caps.items())


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{100 * x:.1f} %"


def _kwh(wh: int) -> str:
    return f"{wh / 1000:,.3f}"


def _local(t: dt.datetime) -> str:
    return t.astimezone(LOCAL_TZ).strftime("%Y-%m-%d %H:%M")


def _html(p: EvidencePack) -> str:
    e = html.escape
    rows_hours = "\n".join(
        f"<tr><td>{e(_local(c.start_utc))}</td><td class=n>{_kwh(c.wh)}</td>"
        f"<td class=n>{_kwh(c.claimed_wh)}</td>"
        f"<td class=n>{_pct(c.claimed_wh / c.wh if c.wh else None)}</td>"
        f"<td>{e(c.meter_ref)}</td></tr>"
        for c in p.consumption
    )
    rows_claims = "\n".join(
        f"<tr><td>{c.bundle.id}</td><td>{c.bundle.start_id}–{c.bundle.end_id}</td>"
        f"<td class=n>{_kwh(c.bundle.wh)}</td><td>{e(c.device.code)} ({e(c.device.name)})</td>"
        f"<td>{e(c.bundle.source.value)}{' · storage' if c.bundle.storage else ''}</td>"
        f"<td>{e(c.device.project_code)}</td><td>{e(c.device.site)} / {e(c.bundle.zone)}</td>"
        f"<td>{e(_local(c.bundle.production_start_utc))}–"
        f"{e(_local(c.bundle.production_end_utc)[11:])}</td>"
        f"<td>{e(c.meter_ref)}</td><td class=n>{c.bundle.emission_factor_g_per_kwh:g}</td></tr>"
        for c in p.claims
    )
    sources = ", ".join(f"{e(k)} {_kwh(v)} kWh" for k, v in p.by_source_wh().items()) or "—"
    verified = (
        "verified: every event recomputes"
        if p.verified.ok
        else f"NOT verified: event {p.verified.first_bad_seq}: {e(p.verified.reason or '')}"
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>Green-power evidence pack · {e(p.consumer)} · {p.first_day} – {p.last_day}</title>
<style>
body {{ font: 13px/1.4 system-ui, sans-serif; margin: 2em; color: #111; }}
h1 {{ font-size: 20px; }} h2 {{ font-size: 15px; margin-top: 1.6em; }}
table {{ border-collapse: collapse; margin: .5em 0; }}
td, th {{ border: 1px solid #bbb; padding: 2px 6px; vertical-align: top; }}
th {{ background: #eee; text-align: left; }} td.n {{ text-align: right; }}
code {{ font-size: 12px; word-break: break-all; }}
@media print {{ body {{ margin: 1cm; }} h2 {{ break-after: avoid; }} }}
</style></head><body>
<h1>绿电溯源证明 · Green-power evidence pack</h1>
<table>
<tr><th>Consumer</th><td>{e(p.consumer)}</td></tr>
<tr><th>Period (Asia/Shanghai)</th><td>{p.first_day} – {p.last_day}</td></tr>
<tr><th>Metered consumption</th><td>{_kwh(p.consumption_wh)} kWh</td></tr>
<tr><th>Claimed certificates</th><td>{_kwh(p.claimed_wh)} kWh ({len(p.claims)} bundles):
{sources}</td></tr>
<tr><th>Hourly match</th><td>{_pct(p.hourly_match_pu)}</td></tr>
<tr><th>Direct supply (绿电直连)</th><td>{_pct(p.direct_supply_pu)}
(contracts: {e(_contracts(p.direct_cap_mw))})</td></tr>
<tr><th>Ledger chain head</th><td>event {p.chain_seq}: <code>{e(p.chain_hash)}</code><br>
{verified} ({p.verified.count} events)</td></tr>
<tr><th>Generated</th><td>{e(p.generated_utc.isoformat(timespec="seconds"))}</td></tr>
</table>
<p>One certificate is one Wh of metered generation; a certificate counts only against
consumption in its own production hour, so the hourly match is claimed ÷ consumed. To check
this pack, recompute the ledger's event chain (<code>suandian ledger verify</code>) and compare
its head with the hash above.</p>
<h2>Consumption by hour</h2>
<table><tr><th>hour (local)</th><th>consumed kWh</th><th>claimed kWh</th><th>matched</th>
<th>meter</th></tr>
{rows_hours}
</table>
<h2>Claimed certificates and their lineage</h2>
<table><tr><th>bundle</th><th>certificate IDs</th><th>kWh</th><th>device</th><th>source</th>
<th>GEC project</th><th>site / zone</th><th>production (local)</th><th>generation reading</th>
<th>g CO₂/kWh</th></tr>
{rows_claims}
</table>
</body></html>
"""
