"""The park scenario over HTTP: the served park, the bundled names, and validation of a file.

``GET /v1/scenario`` is what ``suandian scenario show`` prints, as JSON: sites with their grid
ties and tariffs, generation and storage with capacities, data centers, enterprises and direct
supply contracts. Sites, generation and storage are the park's shared infrastructure and every
caller sees them; a tenant sees only its own data centers and enterprises and only the contracts
that supply them.

``POST /v1/scenarios/validate`` checks a scenario YAML body as ``suandian scenario validate``
does and answers 422 with every problem found (field path, message, value seen).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Final, TypeVar

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from suandian.api.context import Caller, PlatformDep
from suandian.core.errors import FieldProblem, InputError, ScenarioError
from suandian.scenario import bundled_scenarios, load_scenario
from suandian.scenario.loader import scenario_from_yaml
from suandian.scenario.model import Park, Site
from suandian.store.platform import Principal

__all__ = ["MAX_SCENARIO_BYTES", "router"]

router = APIRouter(tags=["scenario"])

MAX_SCENARIO_BYTES: Final = 1 << 20
"""Largest scenario body ``/v1/scenarios/validate`` reads (1 MiB; the national one is ~40 kB)."""

_YAML_TYPES: Final = ("application/yaml", "application/x-yaml", "text/yaml", "text/plain")

_Out = TypeVar("_Out", bound=BaseModel)


class TariffPeriodOut(BaseModel):
    name: str
    price_cny_per_kwh: float
    hours_h: list[tuple[float, float]] = Field(description="Local clock ranges [from, to). [h]")


class TariffOut(BaseModel):
    periods: list[TariffPeriodOut]
    export_price_cny_per_kwh: float


class RoundTripOut(BaseModel):
    beijing_ms: float
    shanghai_ms: float
    guangzhou_ms: float


class SiteOut(BaseModel):
    id: str
    name: str
    name_zh: str
    lat_deg: float
    lon_deg: float
    altitude_m: float
    zone: str
    ef_location_kgco2_per_kwh: float
    ef_location_source: str
    import_limit_mw: float | None = Field(description="None: unconstrained.")
    export_limit_share_pu: float
    rtt: RoundTripOut | None
    tariff: TariffOut | None = Field(description="Time-of-use import tariff (local time).")


class PvOut(BaseModel):
    id: str
    site: str
    p_dc_mwp: float
    p_ac_mw: float
    tilt_deg: float
    azimuth_deg: float
    dc_ac_ratio_pu: float
    target_full_load_h: float


class WindOut(BaseModel):
    id: str
    site: str
    capacity_mw: float
    turbine_type: str
    hub_height_m: float
    target_full_load_h: float


class HydroOut(BaseModel):
    id: str
    site: str
    capacity_mw: float


class BatteryOut(BaseModel):
    id: str
    site: str
    p_mw: float
    e_mwh: float
    round_trip_efficiency_pu: float
    soc_min_pu: float
    soc_max_pu: float


class DataCenterOut(BaseModel):
    id: str
    site: str
    name: str
    it_capacity_mw: float
    it_mean_mw: float
    deferrable_share_pu: float
    deferral_window_h: float
    pue_min: float
    pue_max: float


class ConsumerOut(BaseModel):
    id: str
    site: str
    name: str
    name_zh: str
    kind: str
    mean_mw: float


class ContractOut(BaseModel):
    generator: str
    consumer: str
    priority: int
    cap_mw: float | None


class CapacitiesOut(BaseModel):
    """Totals over the park (generation and storage) and over the consumers shown."""

    pv_dc_mwp: float
    pv_ac_mw: float
    wind_mw: float
    hydro_mw: float
    battery_mw: float
    battery_mwh: float
    data_center_it_mw: float
    consumers_mean_mw: float


class ScenarioOut(BaseModel):
    name: str
    title: str
    title_zh: str
    description: str
    year: int
    seed: int
    resolution_min: int
    sites: list[SiteOut]
    pv_plants: list[PvOut]
    wind_farms: list[WindOut]
    hydro_plants: list[HydroOut]
    batteries: list[BatteryOut]
    data_centers: list[DataCenterOut]
    consumers: list[ConsumerOut]
    contracts: list[ContractOut]
    capacities: CapacitiesOut


class ScenarioName(BaseModel):
    name: str
    title: str
    title_zh: str


class ProblemOut(BaseModel):
    path: str = Field(description="Dotted field path, e.g. pv_plants[0].p_dc_mwp.")
    message: str
    value: str | int | float | bool | None = Field(description="The value seen, if any.")


class InvalidScenario(BaseModel):
    detail: str
    error: str
    status: int
    problems: list[ProblemOut]


class ValidScenario(BaseModel):
    valid: bool = True
    name: str
    sites: int
    generation_storage_assets: int
    data_centers: int
    consumers: int
    detail: str


def _copies(model: type[_Out], items: Iterable[object]) -> list[_Out]:
    """Each item as ``model``: its attributes of the model's field names."""
    return [model.model_validate(item, from_attributes=True) for item in items]


def _site(s: Site) -> SiteOut:
    g = s.grid
    return SiteOut(
        id=s.id,
        name=s.name,
        name_zh=s.name_zh,
        lat_deg=s.lat_deg,
        lon_deg=s.lon_deg,
        altitude_m=s.altitude_m,
        zone=s.zone,
        ef_location_kgco2_per_kwh=g.ef_location_kgco2_per_kwh,
        ef_location_source=g.ef_location_source,
        import_limit_mw=g.import_limit_mw,
        export_limit_share_pu=g.export_limit_share_pu,
        rtt=None if s.rtt is None else RoundTripOut(**s.rtt.model_dump()),
        tariff=None
        if g.tariff is None
        else TariffOut(
            periods=_copies(TariffPeriodOut, g.tariff.periods),
            export_price_cny_per_kwh=g.tariff.export_price_cny_per_kwh,
        ),
    )


def scenario_out(park: Park, caller: Principal) -> ScenarioOut:
    """``park`` as ``caller`` may see it: a tenant's own consumers and contracts only."""
    dcs = [d for d in park.data_centers if caller.owns_asset(d.id)]
    consumers = [c for c in park.consumers if caller.owns_asset(c.id)]
    contracts = [c for c in park.contracts if caller.owns_asset(c.consumer)]
    return ScenarioOut(
        name=park.name,
        title=park.title,
        title_zh=park.title_zh,
        description=park.description,
        year=park.year,
        seed=park.seed,
        resolution_min=park.resolution_min,
        sites=[_site(s) for s in park.sites],
        pv_plants=_copies(PvOut, park.pv_plants),
        wind_farms=_copies(WindOut, park.wind_farms),
        hydro_plants=_copies(HydroOut, park.hydro_plants),
        batteries=_copies(BatteryOut, park.batteries),
        data_centers=[
            DataCenterOut(
                id=d.id,
                site=d.site,
                name=d.name,
                it_capacity_mw=d.it_capacity_mw,
                it_mean_mw=d.it_mean_mw,
                deferrable_share_pu=d.deferrable_share_pu,
                deferral_window_h=d.deferral_window_h,
                pue_min=d.pue.pue_min,
                pue_max=d.pue.pue_max,
            )
            for d in dcs
        ],
        consumers=_copies(ConsumerOut, consumers),
        contracts=_copies(ContractOut, contracts),
        capacities=CapacitiesOut(
            pv_dc_mwp=sum(p.p_dc_mwp for p in park.pv_plants),
            pv_ac_mw=sum(p.p_ac_mw for p in park.pv_plants),
            wind_mw=sum(w.capacity_mw for w in park.wind_farms),
            hydro_mw=sum(h.capacity_mw for h in park.hydro_plants),
            battery_mw=sum(b.p_mw for b in park.batteries),
            battery_mwh=sum(b.e_mwh for b in park.batteries),
            data_center_it_mw=sum(d.it_capacity_mw for d in dcs),
            consumers_mean_mw=sum(c.mean_mw for c in consumers),
        ),
    )


@router.get("/v1/scenario", summary="The served park: sites, assets, capacities")
def get_scenario(platform: PlatformDep, caller: Caller) -> ScenarioOut:
    """As ``suandian scenario show``; a tenant sees only its own consumers and contracts."""
    return scenario_out(platform.park, caller)


@router.get("/v1/scenarios", summary="The bundled scenarios")
def list_scenarios(caller: Caller) -> list[ScenarioName]:
    """As ``suandian scenario list``."""
    out = []
    for name in bundled_scenarios():
        park = load_scenario(name)
        out.append(ScenarioName(name=name, title=park.title, title_zh=park.title_zh))
    return out


def _value(value: object) -> str | int | float | bool | None:
    """A problem's value as JSON: numbers and text as they are, anything else as its repr."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    return repr(value)


def _invalid(problems: list[FieldProblem], detail: str) -> JSONResponse:
    body = InvalidScenario(
        detail=detail,
        error="ScenarioError",
        status=422,
        problems=[
            ProblemOut(path=p.path, message=p.message, value=_value(p.value)) for p in problems
        ],
    )
    return JSONResponse(body.model_dump(), status_code=422)


@router.post(
    "/v1/scenarios/validate",
    summary="Validate a scenario YAML body",
    response_model=ValidScenario,
    responses={422: {"model": InvalidScenario, "description": "Every problem of the scenario."}},
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {t: {"schema": {"type": "string"}} for t in _YAML_TYPES},
        }
    },
)
async def validate_scenario(request: Request, caller: Caller) -> ValidScenario | JSONResponse:
    """As ``suandian scenario validate``: 200 with counts, or 422 listing every problem."""
    body = await request.body()
    if len(body) > MAX_SCENARIO_BYTES:
        raise InputError(
            f"body: {len(body):,} bytes, more than the {MAX_SCENARIO_BYTES:,} a scenario may "
            "have; send the scenario YAML alone"
        )
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        return _invalid(
            [FieldProblem("<yaml>", f"not UTF-8 text at byte {exc.start}; save the file as UTF-8")],
            "body: not UTF-8 text",
        )
    try:
        park = scenario_from_yaml(text, source="body")
    except ScenarioError as exc:
        return _invalid(list(exc.problems), str(exc))
    except (TypeError, RecursionError) as exc:
        # A YAML structure the loader cannot hold (e.g. a list as a mapping key, or nesting
        # thousands deep): still the file's problem, not the service's.
        problem = FieldProblem("<yaml>", f"not a scenario mapping the loader can read: {exc}")
        return _invalid([problem], f"body: 1 problem(s) in the scenario\n  - {problem}")
    n_assets = (
        len(park.pv_plants) + len(park.wind_farms) + len(park.hydro_plants) + len(park.batteries)
    )
    return ValidScenario(
        name=park.name,
        sites=len(park.sites),
        generation_storage_assets=n_assets,
        data_centers=len(park.data_centers),
        consumers=len(park.consumers),
        detail=(
            f"scenario {park.name} is valid — {len(park.sites)} site(s), {n_assets} "
            f"generation/storage asset(s), {len(park.data_centers)} data center(s), "
            f"{len(park.consumers)} enterprise(s)"
        ),
    )
