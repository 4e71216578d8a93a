"""Dispatch plans over HTTP: the LP of ``suandian dispatch run`` for one site and period.

``POST /v1/dispatch/plans`` simulates the served scenario over a few local days, solves the
dispatch LP for one site (one solve over the period, or a rolling horizon) with the chosen
objective and optional daily green target, runs the rule-based baseline on the same inputs and
keeps both; ``GET /v1/dispatch/plans/{plan_id}`` returns a kept plan with its schedule per
interval.

Plans are park-wide operational data: park admins and operators make them, auditors read them,
tenants get 403. The service keeps the last :data:`KEPT_PLANS` plans in memory (a restart
forgets them; the inputs are simulated, so a plan can be made again from its request). The
horizon is at most :data:`MAX_DAYS` days so that one request stays short (a 31-day hourly plan
of the Xining scenario solves in well under a second).
"""

from __future__ import annotations

import datetime as dt
import math
import threading
import uuid
from collections import OrderedDict
from typing import Annotated, Final, Literal

from fastapi import APIRouter, Path, Request
from pydantic import BaseModel, Field

from suandian.api.context import ApiError, Caller, Operator, PlatformDep, not_found
from suandian.core.errors import InputError
from suandian.core.times import LOCAL_TZ
from suandian.store.platform import Principal

__all__ = ["KEPT_PLANS", "MAX_DAYS", "router"]

router = APIRouter(prefix="/v1/dispatch", tags=["dispatch"])

MAX_DAYS: Final = 31
"""Longest period of one plan request. [local days]"""
KEPT_PLANS: Final = 50
"""Plans kept in memory; the oldest goes first."""
TIME_LIMIT_S: Final = 30.0
"""HiGHS time limit of one solve. [s]"""
_FIRST_DAY: Final = dt.date(2000, 1, 1)
_LAST_DAY: Final = dt.date(2100, 12, 31)
_SITE_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
_PLAN_ID_PATTERN: Final = r"^[0-9a-f]{32}$"


class PlanIn(BaseModel):
    model_config = {"extra": "forbid"}

    site: str | None = Field(
        default=None,
        pattern=_SITE_PATTERN,
        description="Site to plan (needed when several sites hold assets).",
    )
    start: dt.date | None = Field(
        default=None,
        ge=_FIRST_DAY,
        le=_LAST_DAY,
        description="First local (Asia/Shanghai) day; default: 1 January of the scenario year.",
    )
    days: int = Field(default=2, ge=1, le=MAX_DAYS, description="Local days to plan.")
    objective: Literal["cost", "carbon", "cost+carbon", "green"] = Field(
        default="cost", description="cost, carbon, cost+carbon or green (least grid import)."
    )
    resolution_min: Literal[15, 30, 60] = Field(default=60, description="Dispatch interval.")
    carbon_price_cny_per_tco2: float = Field(
        default=100.0,
        ge=0.0,
        le=100_000.0,
        allow_inf_nan=False,
        description="Carbon price for the cost+carbon objective. [CNY/tCO₂]",
    )
    green_target_pu: float | None = Field(
        default=None,
        ge=0.0,
        le=1.0,
        allow_inf_nan=False,
        description="Least hourly-matched green share (1 − import / consumption) on every "
        "local day, e.g. 0.8; the baseline ignores it.",
    )
    direct_connection: bool = Field(
        default=False,
        description="Require the scenario's direct-connection (绿电直连) self-consumption and "
        "on-site green shares over the period (not with a rolling horizon).",
    )
    rolling_window_h: int | None = Field(
        default=None,
        ge=1,
        le=MAX_DAYS * 24,
        description="Rolling horizon: hours each solve plans (with rolling_commit_h); "
        "default: one solve over the period.",
    )
    rolling_commit_h: int | None = Field(
        default=None,
        ge=1,
        le=MAX_DAYS * 24,
        description="Rolling horizon: hours of each window that are kept, at most the window.",
    )


class PlanFigures(BaseModel):
    method: str = Field(
        description="lp, lp-rolling, or rules (the baseline, or the LP's fallback)."
    )
    status: str
    solve_time_s: float
    cost_cny: float | None
    import_mwh: float | None
    export_mwh: float | None
    emissions_tco2: float | None = Field(description="Grid import × location factor. [tCO₂]")
    green_share_pu: float | None = Field(description="1 − import / consumption.")
    curtailment_mwh: float | None
    battery_cycles: float | None = Field(description="Equivalent full cycles, all batteries.")
    unserved_mwh: float | None
    diagnosis: str | None = Field(description="Why the LP was infeasible, when it was.")
    notes: list[str]


class Interval(BaseModel):
    start_utc: dt.datetime
    local_time: str = Field(description="Asia/Shanghai wall time of the interval's start.")
    values: dict[str, float | None] = Field(
        description="Every variable of the plan in the interval, unit in its name: load_mw, "
        "flex_load_mw, <generator>_p_mw, <battery>_soe_mwh (end of interval), "
        "grid_import_mw, grid_export_mw, unserved_mw, flex_<group>_mw, …"
    )


class PlanSummary(BaseModel):
    id: str
    created_utc: dt.datetime
    created_by: str
    scenario: str
    site: str
    objective: str
    start_local_date: dt.date
    days: int
    resolution_min: int
    intervals: int
    green_target_pu: float | None


class PlanOut(PlanSummary):
    horizon: str = Field(description="How the optimum was found.")
    optimised: PlanFigures
    rules: PlanFigures = Field(description="The rule-based baseline on the same inputs.")
    schedule: list[Interval] = Field(description="The optimised plan, one row per interval.")


class _Plans:
    """The last :data:`KEPT_PLANS` plans of one running service."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._plans: OrderedDict[str, PlanOut] = OrderedDict()

    def add(self, plan: PlanOut) -> None:
        with self._lock:
            self._plans[plan.id] = plan
            while len(self._plans) > KEPT_PLANS:
                self._plans.popitem(last=False)

    def get(self, plan_id: str) -> PlanOut | None:
        with self._lock:
            return self._plans.get(plan_id)

    def all(self) -> list[PlanOut]:
        with self._lock:
            return list(self._plans.values())


_plans_lock = threading.Lock()


def _plans(request: Request) -> _Plans:
    state = request.app.state
    with _plans_lock:
        plans = getattr(state, "dispatch_plans", None)
        if plans is None:
            plans = _Plans()
            state.dispatch_plans = plans
    assert isinstance(plans, _Plans)
    return plans


def _reader(caller: Principal) -> None:
    if not caller.sees_all:
        raise ApiError(403, "dispatch plans are park operations; ask an operator or auditor")


def _finite(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def _figures(result: object) -> PlanFigures:
    from suandian.dispatch import DispatchResult, key_figures

    assert isinstance(result, DispatchResult)
    figures = {k: _finite(v) for k, v in key_figures(result).items()}
    return PlanFigures(
        method=result.method,
        status=result.status,
        solve_time_s=_finite(result.solve_time_s) or 0.0,
        diagnosis=result.diagnosis,
        notes=list(result.notes),
        **figures,
    )


def _rolling(body: PlanIn) -> tuple[int, int] | None:
    """(window, commit) hours of a rolling horizon, or None for one solve."""
    window, commit = body.rolling_window_h, body.rolling_commit_h
    if window is None and commit is None:
        return None
    if window is None or commit is None:
        which = "rolling_window_h" if window is None else "rolling_commit_h"
        raise InputError(f"{which}: missing; give both rolling_window_h and rolling_commit_h")
    if commit > window:
        raise InputError(
            f"rolling_commit_h: {commit} h is more than the {window} h window; a window cannot "
            "keep more than it plans (e.g. 48 and 24)"
        )
    if body.direct_connection:
        raise InputError(
            "direct_connection: the direct-connection shares hold over the whole period, so "
            "they need one solve; leave out rolling_window_h and rolling_commit_h"
        )
    return window, commit


@router.post("/plans", status_code=201, summary="Plan a site's dispatch over a few days")
def create_plan(body: PlanIn, request: Request, platform: PlatformDep, caller: Operator) -> PlanOut:
    """Like ``suandian dispatch run`` (one solve): the optimised plan and the baseline."""
    from suandian.dispatch import schedule_frame
    from suandian.sim.dispatch_inputs import resolve_site
    from suandian.sim.park import simulate
    from suandian.sim.site_dispatch import plan_site

    park = platform.park
    first = body.start or dt.date(park.year, 1, 1)
    if first + dt.timedelta(days=body.days) > _LAST_DAY:
        raise InputError(f"start: {first} + {body.days} days runs past {_LAST_DAY}")
    rolling = _rolling(body)
    site = resolve_site(park, body.site)
    series = simulate(park, start=first, days=body.days)
    per_h = 60 // body.resolution_min
    steps = None if rolling is None else (rolling[0] * per_h, rolling[1] * per_h)
    try:
        compared = plan_site(
            park,
            series,
            site=site,
            objective=body.objective,
            resolution_min=body.resolution_min,
            rolling=steps,
            time_limit_s=TIME_LIMIT_S,
            carbon_price_cny_per_tco2=body.carbon_price_cny_per_tco2,
            direct_connection=body.direct_connection,
            green_target_pu=body.green_target_pu,
        )
    except InputError as exc:
        # The kernel counts intervals; the request gives hours: name the request's field.
        message = str(exc)
        for kernel, field in (
            ("commit_steps", "rolling_commit_h"),
            ("window_steps", "rolling_window_h"),
        ):
            if rolling is not None and message.startswith(kernel):
                raise InputError(f"{field} ({rolling[0]}/{rolling[1]} h): {message}") from None
        raise
    inputs = compared.inputs
    frame = schedule_frame(inputs, compared.optimised)
    index = inputs.index_utc
    assert index is not None
    columns = [c for c in frame.columns if c not in ("start_utc", "local_time")]
    values = frame[columns].to_numpy(dtype=float)
    schedule = [
        Interval(
            start_utc=t.to_pydatetime(),
            local_time=t.tz_convert(LOCAL_TZ).strftime("%Y-%m-%d %H:%M"),
            values={c: _finite(v) for c, v in zip(columns, row.tolist(), strict=True)},
        )
        for t, row in zip(index, values, strict=True)
    ]
    plan = PlanOut(
        id=uuid.uuid4().hex,
        created_utc=dt.datetime.now(dt.UTC),
        created_by=caller.user,
        scenario=park.name,
        site=compared.site,
        objective=body.objective,
        start_local_date=first,
        days=body.days,
        resolution_min=body.resolution_min,
        intervals=inputs.n_steps,
        green_target_pu=body.green_target_pu,
        horizon=compared.horizon,
        optimised=_figures(compared.optimised),
        rules=_figures(compared.rules),
        schedule=schedule,
    )
    _plans(request).add(plan)
    return plan


@router.get("/plans", summary="Plans kept by the service, newest last")
def list_plans(request: Request, caller: Caller) -> list[PlanSummary]:
    _reader(caller)
    return [PlanSummary.model_validate(p.model_dump()) for p in _plans(request).all()]


@router.get("/plans/{plan_id}", summary="One plan with its schedule")
def get_plan(
    plan_id: Annotated[str, Path(pattern=_PLAN_ID_PATTERN)], request: Request, caller: Caller
) -> PlanOut:
    _reader(caller)
    plan = _plans(request).get(plan_id)
    if plan is None:
        raise not_found(f"dispatch plan {plan_id}")
    return plan
