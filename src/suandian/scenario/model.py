"""The park model: sites, generation, storage, grid tie, data centers and other consumers.

A park is a YAML file validated by these pydantic models. Every number carries its unit in its
name (``p_dc_mwp``, ``import_limit_mw``); ranges are checked here so that kernels can trust them.
Local clock times (tariff hours) are Asia/Shanghai.
"""

from __future__ import annotations

from functools import cache
from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

__all__ = [
    "EV_PEAK_TO_MEAN_PU",
    "Battery",
    "Climate",
    "CloudClimate",
    "Consumer",
    "ConsumerKind",
    "DataCenter",
    "DataNetwork",
    "DirectContract",
    "ElectrolyzerFlexibility",
    "EvFlexibility",
    "FieldPathError",
    "GridTie",
    "HydroPlant",
    "NeighbourImport",
    "Park",
    "PueModel",
    "PvPlant",
    "RoundTrip",
    "Site",
    "Targets",
    "Tariff",
    "TariffPeriod",
    "WindClimate",
    "WindFarm",
]

Fraction = Annotated[float, Field(ge=0.0, le=1.0)]
Monthly = Annotated[list[Fraction], Field(min_length=12, max_length=12)]


class FieldPathError(ValueError):
    """A cross-field problem that knows which fields it concerns.

    Raised from model validators; the loader reports each ``(path, message, value)`` at its own
    field path (relative to the model that raised it) instead of at the model as a whole.
    """

    def __init__(self, problems: list[tuple[str, str, object]]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{p}: {m}" for p, m, _ in problems))


_NUMBER_TYPES = (float, int, float | None, int | None)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)

    @field_validator("*", mode="before")
    @classmethod
    def _no_booleans_for_numbers(cls, value: object, info: ValidationInfo) -> object:
        # YAML turns yes/no/true/false into booleans, which pydantic would read as 1 and 0.
        field = cls.model_fields.get(info.field_name or "")
        if isinstance(value, bool) and field is not None and field.annotation in _NUMBER_TYPES:
            raise ValueError(f"expected a number, got the boolean {value}; write a plain number")
        return value


# --- climate ------------------------------------------------------------------------------------


class CloudClimate(_Model):
    """Day-type Markov chain of cloudiness, per calendar month.

    Each day is clear, partly cloudy or overcast. ``p_clear_pu[m]`` and ``p_overcast_pu[m]`` are
    the long-run shares of those day types in month ``m`` (January first); partly cloudy days take
    the rest. ``persistence_pu`` is the chance that a day simply repeats the previous day's type;
    otherwise the type is drawn afresh from the month's shares, so the shares are kept.
    """

    p_clear_pu: Monthly = Field(
        default=[0.45, 0.42, 0.35, 0.30, 0.25, 0.20, 0.20, 0.22, 0.25, 0.35, 0.45, 0.50],
        description="Share of clear days in each month, January first.",
    )
    p_overcast_pu: Monthly = Field(
        default=[0.10, 0.12, 0.15, 0.15, 0.17, 0.22, 0.24, 0.22, 0.22, 0.15, 0.10, 0.08],
        description="Share of overcast days in each month, January first.",
    )
    persistence_pu: Fraction = 0.45

    @model_validator(mode="after")
    def _shares_fit(self) -> Self:
        for m, (c, o) in enumerate(zip(self.p_clear_pu, self.p_overcast_pu, strict=True)):
            if c + o > 1.0 + 1e-9:
                raise ValueError(
                    f"month {m + 1}: p_clear_pu + p_overcast_pu = {c + o:.3f} exceeds 1; "
                    "partly cloudy days take the rest, so the two must sum to at most 1"
                )
        return self


class WindClimate(_Model):
    """Shape of the hub-height wind resource; its scale is calibrated to the farm's target."""

    weibull_k: float = Field(2.0, ge=1.0, le=4.0, description="Weibull shape of hourly speed.")
    seasonal_amplitude_pu: float = Field(0.15, ge=0.0, le=0.6)
    windiest_day_of_year: int = Field(100, ge=1, le=366)
    diurnal_amplitude_pu: float = Field(0.12, ge=0.0, le=0.6)
    windiest_local_hour_h: float = Field(16.0, ge=0.0, lt=24.0)
    autocorrelation_time_h: float = Field(
        12.0, gt=0.0, le=240.0, description="e-folding time of speed anomalies."
    )


class Climate(_Model):
    """Site climate used to synthesise weather (ambient temperature, clouds, wind)."""

    t_mean_c: float = Field(6.0, ge=-30.0, le=40.0, description="Annual mean ambient temperature.")
    t_seasonal_amplitude_c: float = Field(
        12.5, ge=0.0, le=30.0, description="Half the gap between warmest and coldest month means."
    )
    t_coldest_day_of_year: int = Field(17, ge=1, le=366)
    t_diurnal_amplitude_c: float = Field(
        6.5, ge=0.0, le=20.0, description="Half the mean daily max-min range."
    )
    t_warmest_local_hour_h: float = Field(15.0, ge=0.0, lt=24.0)
    t_noise_sd_c: float = Field(2.5, ge=0.0, le=10.0, description="Day-to-day weather anomaly.")
    clouds: CloudClimate = CloudClimate()
    wind: WindClimate = WindClimate()


# --- grid ---------------------------------------------------------------------------------------


class TariffPeriod(_Model):
    """One time-of-use period: a price over one or more local clock ranges ``[from, to)``."""

    name: str = Field(min_length=1)
    price_cny_per_kwh: float = Field(ge=0.0, le=10.0)
    hours_h: list[tuple[float, float]] = Field(
        min_length=1, description="Local (Asia/Shanghai) clock ranges [from, to) in hours."
    )


class Tariff(_Model):
    """Time-of-use import tariff; the periods must cover the local day exactly once."""

    periods: list[TariffPeriod] = Field(min_length=1)
    export_price_cny_per_kwh: float = Field(ge=0.0, le=10.0)

    @model_validator(mode="after")
    def _cover_day_once(self) -> Self:
        owners: list[list[str]] = [[] for _ in range(96)]
        for period in self.periods:
            for start_h, end_h in period.hours_h:
                if not (0.0 <= start_h < end_h <= 24.0):
                    raise ValueError(
                        f"period {period.name!r}: range [{start_h:g}, {end_h:g}) must satisfy "
                        "0 ≤ from < to ≤ 24 (hours of the local day)"
                    )
                if (start_h * 4) % 1 or (end_h * 4) % 1:
                    raise ValueError(
                        f"period {period.name!r}: range [{start_h:g}, {end_h:g}) must fall on "
                        "quarter hours (15-min intervals)"
                    )
                for q in range(int(start_h * 4), int(end_h * 4)):
                    owners[q].append(period.name)
        gaps = [q / 4 for q, names in enumerate(owners) if not names]
        doubles = [(q / 4, names) for q, names in enumerate(owners) if len(names) > 1]
        if gaps:
            raise ValueError(
                f"tariff periods leave local hours uncovered starting at {gaps[0]:g} h "
                f"({len(gaps) / 4:g} h in all); every hour of the day needs exactly one price"
            )
        if doubles:
            hour, names = doubles[0]
            raise ValueError(
                f"tariff periods {' and '.join(repr(n) for n in names)} overlap at local hour "
                f"{hour:g} h ({len(doubles) / 4:g} h in all); every hour of the day needs "
                "exactly one price"
            )
        return self

    def price_by_quarter_hour(self) -> list[float]:
        """Import price of each of the 96 local quarter hours. [CNY/kWh]"""
        prices = [0.0] * 96
        for period in self.periods:
            for start_h, end_h in period.hours_h:
                for q in range(int(start_h * 4), int(end_h * 4)):
                    prices[q] = period.price_cny_per_kwh
        return prices


class NeighbourImport(_Model):
    """Supply a zone draws from a neighbouring zone, as a share of what it consumes."""

    zone: str = Field(min_length=1, description="Grid zone (province), e.g. CN-GS.")
    share_pu: float = Field(gt=0.0, lt=1.0, description="Share of the zone's supply imported.")
    ef_location_kgco2_per_kwh: float = Field(ge=0.0, le=2.0)
    mix_non_fossil_pu: dict[str, Fraction] = Field(
        description="Relative split of the neighbour's non-fossil generation by source."
    )


class GridTie(_Model):
    """Connection of a site to the public grid: limits, tariff and emission factors."""

    import_limit_mw: float | None = Field(
        None, ge=0.0, le=10_000.0, description="Import limit; absent means unconstrained."
    )
    export_limit_share_pu: Fraction = Field(
        1.0,
        description="Export cap per interval as a share of on-site generation (绿电直连 rules).",
    )
    tariff: Tariff | None = None
    ef_location_kgco2_per_kwh: float = Field(ge=0.0, le=2.0)
    ef_location_source: str = Field(
        min_length=1, description="Who published the factor, which year."
    )
    ef_residual_kgco2_per_kwh: float | None = Field(None, ge=0.0, le=2.0)
    ef_fossil_kgco2_per_kwh: float | None = Field(None, ge=0.0, le=2.0)
    mix_non_fossil_pu: dict[str, Fraction] | None = Field(
        None,
        description="Relative split of the zone's non-fossil generation by source, e.g. "
        "{hydro: 0.5, solar: 0.3, wind: 0.2}; the hourly mix is modelled from it.",
    )
    neighbours: list[NeighbourImport] = Field(
        default=[],
        description="Imports from neighbouring zones; flow tracing then gives the residual "
        "its composition.",
    )

    @model_validator(mode="after")
    def _imports_leave_own_supply(self) -> Self:
        total = sum(n.share_pu for n in self.neighbours)
        if total >= 1.0:
            raise ValueError(
                f"neighbours: import shares sum to {total:g}; they must leave part of the "
                "zone's supply to its own production (sum < 1)"
            )
        return self


class RoundTrip(_Model):
    """Estimated network round trip from the three eastern demand centres."""

    beijing_ms: float = Field(ge=0.0, le=1000.0)
    shanghai_ms: float = Field(ge=0.0, le=1000.0)
    guangzhou_ms: float = Field(ge=0.0, le=1000.0)


class DataNetwork(_Model):
    """How the sites move a job's data to one another (:mod:`suandian.compute.transfer`).

    A path's round trip comes from the sites' ``rtt``; one transfer runs at the lower of the
    link's bandwidth and what ``streams`` TCP connections with a ``tcp_window_mib`` receive
    window keep in flight over that round trip.
    """

    link_gbps: float = Field(gt=0.0, le=10_000.0, description="Bandwidth open to one transfer.")
    streams: int = Field(ge=1, le=1024, description="Parallel TCP streams of one transfer.")
    tcp_window_mib: float = Field(gt=0.0, le=4096.0, description="Receive window per stream.")
    transfer_cny_per_gb: float = Field(ge=0.0, le=1000.0, description="Price of moving 1 GB.")


class Site(_Model):
    id: str = Field(min_length=1, pattern=r"^[a-z0-9][a-z0-9_-]*$")
    name: str = Field(min_length=1)
    name_zh: str = ""
    lat_deg: float = Field(ge=-90.0, le=90.0)
    lon_deg: float = Field(ge=-180.0, le=180.0)
    altitude_m: float = Field(ge=-450.0, le=6000.0)
    zone: str = Field(min_length=1, description="Grid zone (province), e.g. CN-QH.")
    climate: Climate = Climate()
    grid: GridTie
    rtt: RoundTrip | None = None


# --- assets -------------------------------------------------------------------------------------


class _Asset(_Model):
    id: str = Field(min_length=1, pattern=r"^[a-z0-9][a-z0-9_-]*$")
    site: str = Field(min_length=1, description="Id of the site the asset stands on.")


class PvPlant(_Asset):
    """Fixed-tilt PV plant modelled with PVWatts."""

    p_dc_mwp: float = Field(gt=0.0, le=10_000.0, description="DC nameplate.")
    dc_ac_ratio_pu: float = Field(1.2, ge=1.0, le=2.0, description="DC over AC nameplate.")
    tilt_deg: float = Field(33.0, ge=0.0, le=90.0)
    azimuth_deg: float = Field(180.0, ge=0.0, lt=360.0)
    gamma_pdc_per_c: float = Field(-0.0035, ge=-0.01, le=0.0)
    losses_pct: float = Field(
        14.08, ge=0.0, le=50.0, description="PVWatts system losses (its default total)."
    )
    inverter_efficiency_pu: float = Field(0.985, ge=0.8, le=1.0)
    target_full_load_h: float = Field(
        gt=100.0, le=3000.0, description="Annual AC energy over DC nameplate."
    )

    @property
    def p_ac_mw(self) -> float:
        return self.p_dc_mwp / self.dc_ac_ratio_pu


class WindFarm(_Asset):
    """Wind farm of identical turbines from windpowerlib's turbine library."""

    capacity_mw: float = Field(gt=0.0, le=10_000.0)
    turbine_type: str = Field(min_length=1, description="A type from windpowerlib's library.")
    hub_height_m: float = Field(ge=20.0, le=250.0)
    farm_efficiency_pu: float = Field(
        0.95, ge=0.5, le=1.0, description="Wake and availability losses."
    )
    target_full_load_h: float = Field(gt=100.0, le=6000.0)

    @field_validator("turbine_type")
    @classmethod
    def _known_turbine(cls, turbine_type: str) -> str:
        known = _turbine_types()
        if turbine_type not in known:
            import difflib

            close = difflib.get_close_matches(turbine_type, known, n=3, cutoff=0.5)
            hint = f"did you mean {', '.join(close)}? " if close else ""
            raise ValueError(
                f"{turbine_type!r} is not in windpowerlib's turbine library; "
                f"{hint}see `windpowerlib.get_turbine_types()` for all {len(known)} types"
            )
        return turbine_type


@cache
def _turbine_types() -> tuple[str, ...]:
    from windpowerlib import get_turbine_types

    table = get_turbine_types(print_out=False, filter_=True)
    return tuple(table.loc[table["has_power_curve"], "turbine_type"])


class HydroPlant(_Asset):
    """Run-of-river hydro with a monthly capacity factor."""

    capacity_mw: float = Field(gt=0.0, le=10_000.0)
    monthly_capacity_factor_pu: Monthly


class Battery(_Asset):
    p_mw: float = Field(gt=0.0, le=10_000.0, description="Charge and discharge power limit.")
    e_mwh: float = Field(gt=0.0, le=100_000.0, description="Usable energy capacity.")
    round_trip_efficiency_pu: float = Field(0.9, gt=0.5, le=1.0)
    soc_min_pu: Fraction = 0.05
    soc_max_pu: Fraction = 0.95
    soc_initial_pu: Fraction = 0.5

    @model_validator(mode="after")
    def _soc_order(self) -> Self:
        if not self.soc_min_pu < self.soc_max_pu:
            raise ValueError(
                f"soc_min_pu ({self.soc_min_pu}) must be below soc_max_pu ({self.soc_max_pu})"
            )
        if not self.soc_min_pu <= self.soc_initial_pu <= self.soc_max_pu:
            raise ValueError(
                f"soc_initial_pu ({self.soc_initial_pu}) must lie within "
                f"[soc_min_pu, soc_max_pu] = [{self.soc_min_pu}, {self.soc_max_pu}]"
            )
        return self


class PueModel(_Model):
    """PUE as a function of ambient temperature.

    Free cooling holds PUE at ``pue_min`` up to ``t_free_cooling_c``; above it PUE rises
    linearly and reaches ``pue_max`` at ``t_full_cooling_c``, where chillers carry the whole load.
    """

    pue_min: float = Field(1.14, ge=1.0, le=3.0)
    pue_max: float = Field(1.40, ge=1.0, le=3.0)
    t_free_cooling_c: float = Field(4.0, ge=-30.0, le=40.0)
    t_full_cooling_c: float = Field(30.0, ge=-20.0, le=50.0)

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.pue_max < self.pue_min:
            raise ValueError(f"pue_max ({self.pue_max}) must be ≥ pue_min ({self.pue_min})")
        if self.t_full_cooling_c <= self.t_free_cooling_c:
            raise ValueError(
                f"t_full_cooling_c ({self.t_full_cooling_c} °C) must be above "
                f"t_free_cooling_c ({self.t_free_cooling_c} °C)"
            )
        return self


class DataCenter(_Asset):
    name: str = ""
    it_capacity_mw: float = Field(gt=0.0, le=10_000.0)
    it_mean_mw: float = Field(gt=0.0, le=10_000.0, description="Average IT load.")
    deferrable_share_pu: Fraction = Field(0.25, description="Share of IT energy that may move.")
    deferral_window_h: float = Field(24.0, ge=0.0, le=168.0)
    pue: PueModel = PueModel()

    @model_validator(mode="after")
    def _mean_below_capacity(self) -> Self:
        if self.it_mean_mw > self.it_capacity_mw:
            raise ValueError(
                f"it_mean_mw ({self.it_mean_mw} MW) exceeds it_capacity_mw "
                f"({self.it_capacity_mw} MW); the average IT load must fit the hall"
            )
        return self


ConsumerKind = Literal["polysilicon", "battery", "services", "ev_charging", "electrolyzer", "other"]

EV_PEAK_TO_MEAN_PU = 2.8
"""Peak over mean of the ``ev_charging`` profile (``suandian.energy.loads.consumer_profile_mw``)
without its noise: 1.45 at 19:30 over a daily mean of 0.52. The chargers must carry mean × it;
the simulated noise (±15 % slow, ±10 % fast) may exceed it for a few intervals, and dispatch
then caps the station's flexible charging at what the chargers leave (never below 0)."""


class EvFlexibility(_Model):
    """Smart charging of an EV station: sessions plugged in longer than they need to charge.

    Sessions arrive as the ``ev_charging`` profile says and stay ``dwell_h``; the share
    ``flexible_share_pu`` of them lets the station decide when, within the stay, to charge.
    """

    chargers: int = Field(ge=1, le=100_000, description="Number of charge points.")
    charger_kw: float = Field(gt=0.0, le=1_000.0, description="Power of one charge point.")
    dwell_h: float = Field(8.0, ge=0.5, le=24.0, description="Plug-in to departure.")
    flexible_share_pu: Fraction = Field(
        0.8, description="Share of sessions (energy) that accept smart charging."
    )

    @property
    def capacity_mw(self) -> float:
        """All chargers at full power. [MW]"""
        return self.chargers * self.charger_kw / 1000.0


class ElectrolyzerFlexibility(_Model):
    """A hydrogen electrolyzer that may move its production within each local day.

    It produces each Asia/Shanghai day the hydrogen of its day's energy (``mean_mw`` × 24 h)
    and never runs below its minimum stable load, held as fixed load (an LP cannot switch the
    stack off).
    """

    rated_mw: float = Field(gt=0.0, le=10_000.0, description="Rated stack power.")
    min_load_pu: float = Field(
        0.2, ge=0.0, lt=1.0, description="Minimum stable load as a share of rated power."
    )

    @property
    def min_load_mw(self) -> float:
        return self.min_load_pu * self.rated_mw


class Consumer(_Asset):
    """An enterprise of the park with its own load profile and meter.

    An ``ev_charging`` consumer may carry an ``ev`` block and an ``electrolyzer`` consumer an
    ``electrolyzer`` block; dispatch then moves part of their energy (flexible load).
    """

    name: str = Field(min_length=1)
    name_zh: str = ""
    kind: ConsumerKind
    mean_mw: float = Field(gt=0.0, le=10_000.0, description="Average load.")
    ev: EvFlexibility | None = None
    electrolyzer: ElectrolyzerFlexibility | None = None

    @model_validator(mode="after")
    def _flexibility_fits_kind(self) -> Self:
        problems: list[tuple[str, str, object]] = []
        if self.ev is not None and self.kind != "ev_charging":
            problems.append(
                (
                    "ev",
                    f"only an ev_charging consumer has an ev block, not a {self.kind} one; "
                    "remove the block or set kind: ev_charging",
                    None,
                )
            )
        if self.electrolyzer is not None and self.kind != "electrolyzer":
            problems.append(
                (
                    "electrolyzer",
                    f"only an electrolyzer consumer has an electrolyzer block, not "
                    f"a {self.kind} one; remove the block or set kind: electrolyzer",
                    None,
                )
            )
        if self.ev is not None and self.kind == "ev_charging":
            peak_mw = self.mean_mw * EV_PEAK_TO_MEAN_PU
            if peak_mw > self.ev.capacity_mw * (1 + 1e-9):
                problems.append(
                    (
                        "ev.chargers",
                        f"{self.ev.chargers} chargers × {self.ev.charger_kw:g} kW "
                        f"= {self.ev.capacity_mw:g} MW cannot carry the station's uncontrolled "
                        f"peak of {peak_mw:.3g} MW (mean_mw {self.mean_mw:g} × peak/mean "
                        f"{EV_PEAK_TO_MEAN_PU:g}); add chargers or raise charger_kw",
                        self.ev.chargers,
                    )
                )
        if self.electrolyzer is not None and self.kind == "electrolyzer":
            e = self.electrolyzer
            if e.rated_mw < self.mean_mw:
                problems.append(
                    (
                        "electrolyzer.rated_mw",
                        f"rated power below mean_mw ({self.mean_mw:g} MW):"
                        " the stack cannot produce its mean; raise rated_mw or lower mean_mw",
                        e.rated_mw,
                    )
                )
            elif e.min_load_mw > self.mean_mw * (1 + 1e-9):
                problems.append(
                    (
                        "electrolyzer.min_load_pu",
                        f"minimum load {e.min_load_mw:g} MW "
                        f"(min_load_pu × rated_mw) exceeds mean_mw ({self.mean_mw:g} MW): the "
                        "day's energy cannot hold it; lower min_load_pu or raise mean_mw",
                        e.min_load_pu,
                    )
                )
        if problems:
            raise FieldPathError(problems)
        return self


class DirectContract(_Model):
    """A direct supply contract (绿电直连 / PPA): a generator serves a consumer first."""

    generator: str = Field(min_length=1, description="Id of a PV plant, wind farm or hydro plant.")
    consumer: str = Field(min_length=1, description="Id of a data center or enterprise.")
    priority: int = Field(1, ge=0, le=1000, description="Lower is served first.")
    cap_mw: float | None = Field(None, gt=0.0, le=10_000.0, description="Contracted capacity.")


class Targets(_Model):
    green_share_hub_pu: Fraction = 0.8
    green_share_zero_carbon_pu: Fraction = 0.9
    self_consumption_min_pu: Fraction = 0.6
    onsite_green_min_pu: Fraction = 0.3


# --- park ---------------------------------------------------------------------------------------


class Park(_Model):
    """A whole park (or a network of sites) as one validated scenario."""

    name: str = Field(min_length=1, pattern=r"^[a-z0-9][a-z0-9_-]*$")
    title: str = ""
    title_zh: str = ""
    description: str = ""
    year: int = Field(2025, ge=2000, le=2100, description="Default simulation year (local).")
    seed: int = Field(20250101, ge=0)
    resolution_min: Literal[15, 30, 60] = 15
    sites: list[Site] = Field(min_length=1)
    pv_plants: list[PvPlant] = []
    wind_farms: list[WindFarm] = []
    hydro_plants: list[HydroPlant] = []
    batteries: list[Battery] = []
    data_centers: list[DataCenter] = []
    consumers: list[Consumer] = []
    contracts: list[DirectContract] = []
    gec_price_cny_per_mwh: float = Field(5.2, ge=0.0, le=1000.0)
    targets: Targets = Targets()
    network: DataNetwork | None = None

    @model_validator(mode="after")
    def _ids_and_references(self) -> Self:
        problems: list[tuple[str, str, object]] = []
        seen_sites: set[str] = set()
        for i, site in enumerate(self.sites):
            if site.id in seen_sites:
                problems.append((f"sites[{i}].id", "site ids must be unique", site.id))
            seen_sites.add(site.id)
        defined = ", ".join(sorted(seen_sites))
        seen_assets: dict[str, str] = {}
        for group in (
            "pv_plants",
            "wind_farms",
            "hydro_plants",
            "batteries",
            "data_centers",
            "consumers",
        ):
            for i, asset in enumerate(getattr(self, group)):
                where = f"{group}[{i}]"
                if asset.id in seen_assets:
                    problems.append(
                        (
                            f"{where}.id",
                            f"asset ids must be unique across the park; {seen_assets[asset.id]} "
                            "already uses it",
                            asset.id,
                        )
                    )
                seen_assets.setdefault(asset.id, where)
                if asset.id == "park":
                    problems.append(
                        (
                            f"{where}.id",
                            "'park' is reserved for the park's total in reports; rename the asset",
                            asset.id,
                        )
                    )
                if asset.site not in seen_sites:
                    problems.append(
                        (
                            f"{where}.site",
                            f"no site with this id; defined sites: {defined}",
                            asset.site,
                        )
                    )
        generators = {
            a.id: a.site for g in (self.pv_plants, self.wind_farms, self.hydro_plants) for a in g
        }
        loads = {a.id: a.site for g in (self.data_centers, self.consumers) for a in g}
        for i, contract in enumerate(self.contracts):
            if contract.generator not in generators:
                problems.append(
                    (
                        f"contracts[{i}].generator",
                        "no PV plant, wind farm or hydro plant with this id; defined: "
                        + ", ".join(sorted(generators)),
                        contract.generator,
                    )
                )
            if contract.consumer not in loads:
                problems.append(
                    (
                        f"contracts[{i}].consumer",
                        "no data center or enterprise with this id",
                        contract.consumer,
                    )
                )
            elif contract.generator in generators and (
                generators[contract.generator] != loads[contract.consumer]
            ):
                problems.append(
                    (
                        f"contracts[{i}]",
                        f"a direct line joins one site: {contract.generator} stands at "
                        f"{generators[contract.generator]}, {contract.consumer} at "
                        f"{loads[contract.consumer]}",
                        None,
                    )
                )
        if self.network is not None:
            for i, site in enumerate(self.sites):
                if site.rtt is None:
                    problems.append(
                        (
                            f"sites[{i}].rtt",
                            "the scenario has a network, so every site needs its round trips "
                            "(beijing_ms, shanghai_ms, guangzhou_ms)",
                            None,
                        )
                    )
        if problems:
            raise FieldPathError(problems)
        return self

    def site(self, site_id: str) -> Site:
        for s in self.sites:
            if s.id == site_id:
                return s
        raise KeyError(site_id)
