"""Green certificates over HTTP: bundles, claims, the GEC view, the chain, evidence packs, and
the operations of ``suandian ledger``.

Ledger accounts of consumers carry the consumer asset's id (``register_park`` in
:mod:`suandian.meters.certify` opens one consumer account per data center and enterprise, named
by its id), so a tenant's accounts are exactly its assets (``caller.assets``).

Who may do what:

- **tenants** read the bundles held by, and the claims and evidence packs of, their own consumer
  accounts, and a bundle by id when their account holds it or it was retired for them. Another
  tenant's account or bundle answers 404 with the message an unknown one gets. In the ledger's
  model the holder of a certificate retires it and the beneficiary claims it against its own
  metered consumption, so a tenant may **cancel** bundles its account holds for itself and
  **claim** bundles cancelled for it; it cannot issue, transfer or split (403);
- **park admins and operators** read everything and run every operation: issue from the meters
  store, transfer, split, cancel, claim, and the hourly allocation and claims of ``suandian
  ledger claim --hourly``;
- **auditors** read everything and change nothing (403);
- the park-wide views — the GEC view, the chain head and chain verification — are for park
  roles; tenants get 403.

Days are Asia/Shanghai local days (``from`` and ``to`` inclusive), as on the command line.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Annotated, Final, Literal

from fastapi import APIRouter, Path, Query
from fastapi.responses import HTMLResponse
from pydantic import AwareDatetime, BaseModel, Field

from suandian.api.context import ApiError, Caller, Operator, Platform, PlatformDep, not_found
from suandian.core.errors import InputError, NotFound
from suandian.core.times import local_date_start_utc
from suandian.ledger import BundleView, Ledger
from suandian.reports.evidence import EvidencePack, evidence_pack
from suandian.store.platform import Principal

__all__ = ["MAX_ISSUE_DAYS", "MAX_READ_DAYS", "router"]

router = APIRouter(prefix="/v1/certificates", tags=["certificates"])

MAX_READ_DAYS: Final = 366
"""Longest period of a claims list or an evidence pack. [local days]"""
MAX_ISSUE_DAYS: Final = 31
"""Longest period one issue or hourly-claim request works on. [local days]"""
_FIRST_DAY: Final = dt.date(2000, 1, 1)
_LAST_DAY: Final = dt.date(2100, 12, 31)
_CODE: Final = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
_MAX_ID: Final = 2**53
_MAX_WH: Final = 10**12

Code = Annotated[str, Field(pattern=_CODE)]
BundleId = Annotated[int, Field(ge=1, le=_MAX_ID)]
AccountPath = Annotated[str, Path(pattern=_CODE, description="Ledger account code.")]
ConsumerPath = Annotated[
    str, Path(pattern=_CODE, description="Consumer account: a data center or enterprise id.")
]
Day = Annotated[dt.date, Field(ge=_FIRST_DAY, le=_LAST_DAY)]
FromQuery = Annotated[
    dt.date, Query(alias="from", ge=_FIRST_DAY, le=_LAST_DAY, description="First local day.")
]
ToQuery = Annotated[
    dt.date | None,
    Query(alias="to", ge=_FIRST_DAY, le=_LAST_DAY, description="Last local day (default: from)."),
]
StatusName = Literal[
    "active", "split", "cancelled", "claimed", "withdrawn", "expired", "locked", "reserved"
]


# --- models --------------------------------------------------------------------------------------


class BundleOut(BaseModel):
    id: int
    device: str
    issuance_id: int
    parent_id: int | None
    start_id: int = Field(description="First certificate ID (one Wh, one ID).")
    end_id: int
    wh: int
    production_start_utc: dt.datetime
    production_end_utc: dt.datetime
    owner: str
    status: str
    source: str
    country: str
    zone: str
    emission_factor_g_per_kwh: float
    storage: bool
    issuer: str
    expires_utc: dt.datetime
    beneficiary: str | None
    consumption_start_utc: dt.datetime | None
    consumption_end_utc: dt.datetime | None


class BundlesOut(BaseModel):
    account: str
    count: int = Field(description="Bundles of the account (with the status asked for).")
    wh: int = Field(description="Their Wh, all of them (not only those listed).")
    bundles: list[BundleOut]


class ClaimOut(BaseModel):
    bundle: BundleOut
    project_code: str
    site: str
    meter_ref: str = Field(description="The generation reading the bundle was issued against.")
    claimed_utc: dt.datetime


class ClaimsOut(BaseModel):
    consumer: str
    from_day: dt.date = Field(alias="from")
    to_day: dt.date = Field(alias="to")
    claimed_wh: int
    claims: list[ClaimOut]


class GecMonthOut(BaseModel):
    device: str
    project_code: str
    month: str = Field(description="YYYYMM, Asia/Shanghai.")
    issued_wh: int
    withdrawn_wh: int
    carry_in_wh: int
    certificates: int = Field(description="1-MWh GECs of the month.")
    carry_out_wh: int
    first_code: str | None
    last_code: str | None


class ChainHeadOut(BaseModel):
    seq: int
    hash: str


class VerifyOut(BaseModel):
    ok: bool
    head_hash: str
    count: int
    first_bad_seq: int | None
    reason: str | None


class EvidenceHour(BaseModel):
    start_utc: dt.datetime
    end_utc: dt.datetime
    consumption_wh: int
    claimed_wh: int
    meter_ref: str


class EvidenceCertificate(BaseModel):
    bundle_id: int
    start_id: int
    end_id: int
    wh: int
    device: str
    device_name: str
    source: str
    storage: bool
    project_code: str
    site: str
    zone: str
    country: str
    production_start_utc: dt.datetime
    production_end_utc: dt.datetime
    issuance_id: int
    issuer: str
    meter_ref: str
    emission_factor_g_per_kwh: float
    claimed_utc: dt.datetime
    consumption_start_utc: dt.datetime | None


class EvidenceChain(BaseModel):
    head_seq: int
    head_hash: str
    verified: bool
    verified_events: int
    first_bad_seq: int | None
    reason: str | None


class EvidenceOut(BaseModel):
    consumer: str
    from_day: dt.date = Field(alias="from")
    to_day: dt.date = Field(alias="to")
    timezone: str
    generated_utc: dt.datetime
    consumption_wh: int
    claimed_wh: int
    hourly_match_pu: float | None = Field(description="Claimed over consumed, hour by hour.")
    direct_supply_pu: float | None = Field(description="Claimed under a direct contract.")
    direct_contracts_mw: dict[str, float | None]
    claimed_by_source_wh: dict[str, int]
    hours: list[EvidenceHour]
    certificates: list[EvidenceCertificate]
    chain: EvidenceChain


class PeriodIn(BaseModel):
    model_config = {"extra": "forbid", "populate_by_name": True}

    from_day: Day = Field(alias="from", description="First local day.")
    to_day: Day | None = Field(default=None, alias="to", description="Last local day.")


class IssueOut(BaseModel):
    generation_hours_recorded: int
    consumption_hours_recorded: int
    issued_bundles: int
    issued_wh: int
    chain_head: ChainHeadOut


class HourlyClaimsOut(BaseModel):
    claimed_wh: dict[str, int] = Field(description="Per consumer, claimed by this request.")
    consumption_wh: dict[str, int] = Field(description="Per consumer, metered in the period.")
    notes: list[str]
    chain_head: ChainHeadOut


class TransferIn(BaseModel):
    model_config = {"extra": "forbid"}

    bundle_ids: list[BundleId] = Field(min_length=1, max_length=10_000)
    sender: Code
    recipient: Code


class SplitIn(BaseModel):
    model_config = {"extra": "forbid"}

    bundle_id: BundleId
    sizes_wh: list[Annotated[int, Field(ge=1, le=_MAX_WH)]] = Field(min_length=2, max_length=1000)
    account: Code


class CancelIn(BaseModel):
    model_config = {"extra": "forbid"}

    bundle_ids: list[BundleId] = Field(min_length=1, max_length=10_000)
    account: Code = Field(description="Account that holds the bundles.")
    beneficiary: Code = Field(description="Consumer account the energy is for.")
    hour_start: AwareDatetime = Field(
        description="Start of the consumption clock hour, with offset, e.g. 2025-07-01T10:00+08:00."
    )


class ClaimIn(BaseModel):
    model_config = {"extra": "forbid"}

    bundle_ids: list[BundleId] = Field(min_length=1, max_length=10_000)
    beneficiary: Code


class Done(BaseModel):
    bundle_ids: list[int] = Field(description="The bundles the operation produced or changed.")
    chain_head: ChainHeadOut


# --- helpers -------------------------------------------------------------------------------------


def _bundle(b: BundleView) -> BundleOut:
    return BundleOut.model_validate(
        {k: getattr(b, k) for k in BundleView.__dataclass_fields__}
        | {"status": b.status.value, "source": b.source.value}
    )


def _period(first: dt.date, last: dt.date | None, most: int) -> tuple[dt.date, dt.date]:
    last = last or first
    if last < first:
        raise InputError(f"to: {last} is before from {first}; give the first day first")
    n = (last - first).days + 1
    if n > most:
        raise InputError(f"to: {first} … {last} is {n} days; ask for at most {most} at a time")
    return first, last


def _window(first: dt.date, last: dt.date) -> tuple[dt.datetime, dt.datetime]:
    start = local_date_start_utc(first).to_pydatetime()
    end = local_date_start_utc(last + dt.timedelta(days=1)).to_pydatetime()
    return start, end


def _operation_window(body: PeriodIn) -> tuple[dt.datetime, dt.datetime]:
    """The local days an operation works on, at most :data:`MAX_ISSUE_DAYS`, in UTC."""
    return _window(*_period(body.from_day, body.to_day, MAX_ISSUE_DAYS))


def _own_account(caller: Principal, account: str) -> None:
    """404 for a tenant naming an account that is not one of its assets."""
    if not caller.owns_asset(account):
        raise not_found(f"account {account}")


def _consumer_days(
    caller: Principal, consumer: str, first: dt.date, last: dt.date | None
) -> tuple[dt.date, dt.date]:
    """The days asked for of a consumer the caller may read (404 for a tenant's foreign one)."""
    _own_account(caller, consumer)
    return _period(first, last, MAX_READ_DAYS)


def _visible_bundles(ledger: Ledger, caller: Principal, ids: Sequence[int]) -> list[BundleView]:
    """The bundles, or 404 naming the first one the caller may not see (or that is missing)."""
    out = []
    for bid in ids:
        try:
            b = ledger.get_bundle(bid)
        except NotFound:
            raise not_found(f"bundle {bid}") from None
        if not (caller.owns_asset(b.owner) or caller.owns_asset(b.beneficiary)):
            raise not_found(f"bundle {bid}")
        out.append(b)
    return out


def _park_reader(caller: Principal) -> None:
    if not caller.sees_all:
        raise ApiError(403, "park-wide ledger views are for park roles; ask an operator")


def _tenant_write(
    platform: Platform,
    caller: Principal,
    what: str,
    accounts: Sequence[str],
    bundle_ids: Sequence[int],
) -> Ledger:
    """The ledger, once ``caller`` may ``what``: operators any accounts and bundles, a tenant
    only its own accounts and the bundles it may see; auditors never (403)."""
    if not (caller.can_operate or caller.role == "tenant"):
        raise ApiError(403, f"role {caller.role} cannot {what}; ask an operator")
    ledger = platform.ledger()
    if not caller.sees_all:
        for account in accounts:
            _own_account(caller, account)
        _visible_bundles(ledger, caller, bundle_ids)
    return ledger


def _head(ledger: Ledger) -> ChainHeadOut:
    head = ledger.head()
    return ChainHeadOut(seq=head.seq, hash=head.hash)


# --- reads ---------------------------------------------------------------------------------------


@router.get("/accounts/{account}/bundles", summary="Bundles an account holds")
def account_bundles(
    account: AccountPath,
    platform: PlatformDep,
    caller: Caller,
    status: Annotated[StatusName | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
    offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
) -> BundlesOut:
    """By id; ``count`` and ``wh`` cover every bundle of the account, ``bundles`` one page."""
    _own_account(caller, account)
    bundles = platform.ledger().bundles_of(account, status)
    return BundlesOut(
        account=account,
        count=len(bundles),
        wh=sum(b.wh for b in bundles),
        bundles=[_bundle(b) for b in bundles[offset : offset + limit]],
    )


@router.get("/bundles/{bundle_id}", summary="One bundle")
def get_bundle(
    bundle_id: Annotated[int, Path(ge=1, le=_MAX_ID)], platform: PlatformDep, caller: Caller
) -> BundleOut:
    (b,) = _visible_bundles(platform.ledger(), caller, [bundle_id])
    return _bundle(b)


@router.get("/consumers/{consumer}/claims", summary="Certificates claimed by a consumer")
def consumer_claims(
    consumer: ConsumerPath,
    platform: PlatformDep,
    caller: Caller,
    first: FromQuery,
    last: ToQuery = None,
) -> ClaimsOut:
    """Bundles claimed for the consumer's consumption hours in the local days asked for."""
    d1, d2 = _consumer_days(caller, consumer, first, last)
    claims = platform.ledger().claims_for(consumer, *_window(d1, d2))
    return ClaimsOut.model_validate(
        {
            "consumer": consumer,
            "from": d1,
            "to": d2,
            "claimed_wh": sum(c.bundle.wh for c in claims),
            "claims": [
                ClaimOut(
                    bundle=_bundle(c.bundle),
                    project_code=c.device.project_code,
                    site=c.device.site,
                    meter_ref=c.meter_ref,
                    claimed_utc=c.claimed_utc,
                )
                for c in claims
            ],
        }
    )


def _evidence(
    platform: Platform, caller: Principal, consumer: str, first: dt.date, last: dt.date | None
) -> EvidencePack:
    d1, d2 = _consumer_days(caller, consumer, first, last)
    contracts = {c.generator: c.cap_mw for c in platform.park.contracts if c.consumer == consumer}
    return evidence_pack(platform.ledger(), consumer, d1, d2, direct_cap_mw=contracts)


@router.get("/consumers/{consumer}/evidence", summary="Evidence pack of a consumer (JSON)")
def evidence_json(
    consumer: ConsumerPath,
    platform: PlatformDep,
    caller: Caller,
    first: FromQuery,
    last: ToQuery = None,
) -> EvidenceOut:
    """Consumption by hour, claimed certificates with lineage, hourly match, direct-supply
    share and the verified chain head, as ``suandian ledger evidence`` writes them."""
    pack = _evidence(platform, caller, consumer, first, last)
    return EvidenceOut.model_validate(pack.to_json())


@router.get(
    "/consumers/{consumer}/evidence.html",
    summary="Evidence pack of a consumer (printable HTML)",
    response_class=HTMLResponse,
)
def evidence_html(
    consumer: ConsumerPath,
    platform: PlatformDep,
    caller: Caller,
    first: FromQuery,
    last: ToQuery = None,
) -> HTMLResponse:
    pack = _evidence(platform, caller, consumer, first, last)
    return HTMLResponse(pack.to_html())


@router.get("/gec", summary="The China GEC view: per device and month (park roles)")
def gec_view(
    platform: PlatformDep,
    caller: Caller,
    device: Annotated[str | None, Query(pattern=_CODE)] = None,
    month: Annotated[list[str] | None, Query(description="YYYYMM (repeat for more).")] = None,
) -> list[GecMonthOut]:
    _park_reader(caller)
    for m in month or []:
        if len(m) != 6 or not m.isdigit() or not 1 <= int(m[4:]) <= 12:
            raise InputError(f"month: {m!r} is not YYYYMM; write e.g. 202507")
    months = platform.ledger().gec_summary(device=device, months=month)
    return [GecMonthOut.model_validate(m.__dict__) for m in months]


@router.get("/chain", summary="The event chain's head (park roles)")
def chain_head(platform: PlatformDep, caller: Caller) -> ChainHeadOut:
    _park_reader(caller)
    return _head(platform.ledger())


@router.get("/chain/verify", summary="Recompute the event chain (park roles)")
def chain_verify(platform: PlatformDep, caller: Caller) -> VerifyOut:
    """``ok`` false names the first event altered, removed or reordered."""
    _park_reader(caller)
    return VerifyOut.model_validate(platform.ledger().verify().__dict__)


# --- operations ----------------------------------------------------------------------------------


@router.post("/issue", summary="Record the meters' hourly energy and issue certificates")
def issue(body: PeriodIn, platform: PlatformDep, _: Operator) -> IssueOut:
    """Like ``suandian ledger issue``: registers the park, records each metered hour of the
    local days from the meters store, and issues every metered device-hour not issued before."""
    from suandian.meters.certify import issue_metered, record_metering, register_park

    start, end = _operation_window(body)
    ledger = platform.ledger()
    register_park(ledger, platform.park)
    with platform.readings() as store:
        n_gen, n_con = record_metering(ledger, store, platform.park, start, end)
    bundles, wh = issue_metered(ledger, platform.park, start, end)
    return IssueOut(
        generation_hours_recorded=n_gen,
        consumption_hours_recorded=n_con,
        issued_bundles=bundles,
        issued_wh=wh,
        chain_head=_head(ledger),
    )


@router.post("/transfer", summary="Move active bundles to an account that accepts the sender")
def transfer(body: TransferIn, platform: PlatformDep, _: Operator) -> Done:
    ledger = platform.ledger()
    ledger.transfer(bundle_ids=body.bundle_ids, sender=body.sender, recipient=body.recipient)
    return Done(bundle_ids=body.bundle_ids, chain_head=_head(ledger))


@router.post("/split", summary="Split an active bundle into children of the given Wh")
def split(body: SplitIn, platform: PlatformDep, _: Operator) -> Done:
    ledger = platform.ledger()
    children = ledger.split(bundle_id=body.bundle_id, sizes_wh=body.sizes_wh, account=body.account)
    return Done(bundle_ids=children, chain_head=_head(ledger))


@router.post("/cancel", summary="Cancel active bundles for a consumer's consumption hour")
def cancel(body: CancelIn, platform: PlatformDep, caller: Caller) -> Done:
    """A tenant cancels bundles its own account holds, for itself."""
    ledger = _tenant_write(
        platform, caller, "cancel certificates", [body.account, body.beneficiary], body.bundle_ids
    )
    start = body.hour_start.astimezone(dt.UTC)
    ledger.cancel(
        bundle_ids=body.bundle_ids,
        account=body.account,
        beneficiary=body.beneficiary,
        period_start_utc=start,
        period_end_utc=start + dt.timedelta(hours=1),
    )
    return Done(bundle_ids=body.bundle_ids, chain_head=_head(ledger))


@router.post("/claim", summary="Claim cancelled bundles against metered consumption")
def claim(body: ClaimIn, platform: PlatformDep, caller: Caller) -> Done:
    """A tenant claims bundles cancelled for its own consumer account."""
    ledger = _tenant_write(
        platform, caller, "claim certificates", [body.beneficiary], body.bundle_ids
    )
    ledger.claim(bundle_ids=body.bundle_ids, beneficiary=body.beneficiary)
    return Done(bundle_ids=body.bundle_ids, chain_head=_head(ledger))


@router.post("/claim-hourly", summary="Allocate each hour's certificates and claim them")
def claim_hourly(body: PeriodIn, platform: PlatformDep, _: Operator) -> HourlyClaimsOut:
    """Like ``suandian ledger claim --hourly``: direct contracts first, then pro rata."""
    from suandian.meters.certify import claim_hourly as allocate_and_claim
    from suandian.meters.certify import hourly_charge_wh

    start, end = _operation_window(body)
    ledger = platform.ledger()
    with platform.readings() as store:
        charge = hourly_charge_wh(store, platform.park, start, end)
    claimed, consumed, notes = allocate_and_claim(
        ledger, platform.park, start, end, charge_wh=charge
    )
    return HourlyClaimsOut(
        claimed_wh=claimed, consumption_wh=consumed, notes=notes, chain_head=_head(ledger)
    )
