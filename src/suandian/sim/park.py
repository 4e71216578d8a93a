"""Simulate a park's generation, loads and weather from its scenario.

Each calendar year (Asia/Shanghai) is generated whole, with the PV and wind calibrations solved
on that year, and periods are cut from it; a one-week run therefore shows that week of a
calibrated year, not a week stretched to a year's yield. Random streams are keyed by
(scenario seed, year, asset id), so adding an asset does not change the others' series.
"""

from __future__ import annotations

import datetime as dt
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from suandian.core.errors import InputError
from suandian.core.times import (
    LOCAL_TZ,
    interval_hours,
    local_date_start_utc,
    local_day,
    local_hour,
    local_year_grid,
)
from suandian.energy import loads, solar, weather, wind
from suandian.scenario.model import Park, Site

__all__ = [
    "ParkSeries",
    "ProgressFn",
    "local_days",
    "simulate",
    "simulate_year",
    "stage_count",
]

ProgressFn = Callable[[str], None]
"""Called once per finished stage with a short description of it."""


@dataclass(frozen=True)
class ParkSeries:
    """Simulated series of a park over a period, all at the scenario's resolution (UTC index)."""

    scenario: str
    resolution_min: int
    generation_mw: pd.DataFrame
    """Column per generating asset (PV, wind, hydro)."""
    load_mw: pd.DataFrame
    """Column per consumer: data-center facility power and each enterprise."""
    data_center: dict[str, pd.DataFrame]
    """Per data center: ``it_fixed_mw``, ``it_deferrable_mw``, ``pue``, ``facility_mw``."""
    weather: dict[str, pd.DataFrame]
    """Per site: ``temp_air_c``, ``clear_sky_index``, ``ghi_clear_w_per_m2``."""
    source_of: dict[str, str]
    """Generating asset id → source category (``pv``, ``wind``, ``hydro``)."""
    site_of: dict[str, str]
    """Asset or consumer id → site id."""
    calibration: dict[str, dict[str, float]] = field(default_factory=dict)
    """Per calibrated asset and year (``id@year``): the solved parameters."""

    @property
    def index(self) -> pd.DatetimeIndex:
        idx = self.load_mw.index if len(self.load_mw.columns) else self.generation_mw.index
        assert isinstance(idx, pd.DatetimeIndex)
        return idx

    @property
    def interval_h(self) -> float:
        return interval_hours(self.resolution_min)


def stage_count(park: Park) -> int:
    """Number of progress stages one simulated year reports."""
    return (
        len(park.sites)
        + len(park.pv_plants)
        + len(park.wind_farms)
        + len(park.hydro_plants)
        + len(park.data_centers)
        + (1 if park.consumers else 0)
    )


def _rng(seed: int, year: int, key: str) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, year, zlib.crc32(key.encode())]))


@dataclass(frozen=True)
class _Calendar:
    index: pd.DatetimeIndex
    doy: np.ndarray
    hour: np.ndarray
    weekday: np.ndarray
    month: np.ndarray
    day_index: np.ndarray
    day_month: np.ndarray


def _calendar(index: pd.DatetimeIndex) -> _Calendar:
    days = local_day(index)
    unique_days, day_index = np.unique(days, return_inverse=True)
    hour = local_hour(index)
    local = index.tz_convert(LOCAL_TZ)
    day_months = pd.DatetimeIndex(unique_days).month.to_numpy(dtype=np.int64)
    return _Calendar(
        index=index,
        doy=local.day_of_year.to_numpy(dtype=np.float64) + hour / 24.0,
        hour=hour,
        weekday=local.day_of_week.to_numpy(dtype=np.int64),
        month=local.month.to_numpy(dtype=np.int64),
        day_index=day_index.astype(np.int64),
        day_month=day_months,
    )


@dataclass
class _SiteWeather:
    types_per_day: np.ndarray
    kt_raw: np.ndarray
    temp_air_c: np.ndarray
    unit_wind: np.ndarray
    sky: solar.ClearSky


def _site_weather(park: Park, site: Site, cal: _Calendar, year: int) -> _SiteWeather:
    c = site.climate
    rng = _rng(park.seed, year, f"weather/{site.id}")
    types = weather.day_types(
        cal.day_month,
        weather.DayTypeClimate(
            tuple(c.clouds.p_clear_pu), tuple(c.clouds.p_overcast_pu), c.clouds.persistence_pu
        ),
        rng,
    )
    per_interval = types[cal.day_index]
    steps_per_hour = 60 // park.resolution_min
    kt_raw = weather.clear_sky_index(per_interval, rng, steps_per_hour)
    temp = weather.ambient_temperature_c(
        cal.doy,
        cal.hour,
        cal.day_index,
        types,
        rng,
        t_mean_c=c.t_mean_c,
        t_seasonal_amplitude_c=c.t_seasonal_amplitude_c,
        t_coldest_day_of_year=c.t_coldest_day_of_year,
        t_diurnal_amplitude_c=c.t_diurnal_amplitude_c,
        t_warmest_local_hour_h=c.t_warmest_local_hour_h,
        t_noise_sd_c=c.t_noise_sd_c,
    )
    w = c.wind
    unit = weather.unit_wind(
        cal.doy,
        cal.hour,
        rng,
        interval_h=interval_hours(park.resolution_min),
        weibull_k=w.weibull_k,
        seasonal_amplitude_pu=w.seasonal_amplitude_pu,
        windiest_day_of_year=w.windiest_day_of_year,
        diurnal_amplitude_pu=w.diurnal_amplitude_pu,
        windiest_local_hour_h=w.windiest_local_hour_h,
        autocorrelation_time_h=w.autocorrelation_time_h,
    )
    sky = solar.clear_sky(cal.index, site.lat_deg, site.lon_deg, site.altitude_m)
    return _SiteWeather(types, kt_raw, temp, unit, sky)


def simulate_year(park: Park, year: int, progress: ProgressFn | None = None) -> ParkSeries:
    """Simulate one Asia/Shanghai calendar year of the whole park in one vectorized pass."""
    tick = progress or (lambda _stage: None)
    index = local_year_grid(year, park.resolution_min)
    cal = _calendar(index)
    interval_h = interval_hours(park.resolution_min)
    days = float(np.unique(cal.day_index).size)

    site_weather: dict[str, _SiteWeather] = {}
    weather_frames: dict[str, pd.DataFrame] = {}
    for site in park.sites:
        sw = _site_weather(park, site, cal, year)
        site_weather[site.id] = sw
        weather_frames[site.id] = pd.DataFrame(
            {
                "temp_air_c": sw.temp_air_c,
                "clear_sky_index": sw.kt_raw,
                "ghi_clear_w_per_m2": sw.sky.ghi_w_per_m2,
            },
            index=index,
        )
        tick(f"weather {site.id}")

    generation: dict[str, np.ndarray] = {}
    source_of: dict[str, str] = {}
    site_of: dict[str, str] = {}
    calibration: dict[str, dict[str, float]] = {}

    for plant in park.pv_plants:
        sw = site_weather[plant.site]
        unit_mean = float(sw.unit_wind.mean()) or 1.0
        wind_10m = 2.0 * sw.unit_wind / unit_mean  # plateau surface wind ≈ 2 m/s mean
        params = solar.PvParameters(
            p_dc_mwp=plant.p_dc_mwp,
            p_ac_mw=plant.p_ac_mw,
            tilt_deg=plant.tilt_deg,
            azimuth_deg=plant.azimuth_deg,
            gamma_pdc_per_c=plant.gamma_pdc_per_c,
            losses_pct=plant.losses_pct,
            inverter_efficiency_pu=plant.inverter_efficiency_pu,
        )
        try:
            b, p = solar.calibrate_cloud_deficit(
                sw.sky,
                sw.kt_raw,
                sw.temp_air_c,
                wind_10m,
                params,
                interval_h=interval_h,
                target_full_load_h=plant.target_full_load_h,
                days=days,
            )
        except InputError as exc:
            raise InputError(f"pv_plants {plant.id!r}: {exc}") from None
        generation[plant.id], source_of[plant.id], site_of[plant.id] = p, "pv", plant.site
        calibration[plant.id] = {"cloud_deficit": b}
        tick(f"PV {plant.id}")

    for farm in park.wind_farms:
        sw = site_weather[farm.site]
        site = park.site(farm.site)
        rho = wind.air_density_kg_per_m3(site.altitude_m, farm.hub_height_m, site.climate.t_mean_c)
        curve = wind.turbine_curve_pu(farm.turbine_type, farm.hub_height_m, rho)
        try:
            c, p = wind.calibrate_wind_scale(
                sw.unit_wind,
                curve,
                capacity_mw=farm.capacity_mw,
                farm_efficiency_pu=farm.farm_efficiency_pu,
                interval_h=interval_h,
                target_full_load_h=farm.target_full_load_h,
                days=days,
            )
        except InputError as exc:
            raise InputError(f"wind_farms {farm.id!r}: {exc}") from None
        generation[farm.id], source_of[farm.id], site_of[farm.id] = p, "wind", farm.site
        calibration[farm.id] = {"weibull_scale_m_per_s": c, "air_density_kg_per_m3": rho}
        tick(f"wind {farm.id}")

    for hydro in park.hydro_plants:
        generation[hydro.id] = loads.hydro_power_mw(
            cal.month,
            capacity_mw=hydro.capacity_mw,
            monthly_capacity_factor_pu=tuple(hydro.monthly_capacity_factor_pu),
        )
        source_of[hydro.id], site_of[hydro.id] = "hydro", hydro.site
        tick(f"hydro {hydro.id}")

    load: dict[str, np.ndarray] = {}
    dc_frames: dict[str, pd.DataFrame] = {}
    for dc in park.data_centers:
        sw = site_weather[dc.site]
        pue = loads.pue_from_ambient(
            sw.temp_air_c,
            pue_min=dc.pue.pue_min,
            pue_max=dc.pue.pue_max,
            t_free_cooling_c=dc.pue.t_free_cooling_c,
            t_full_cooling_c=dc.pue.t_full_cooling_c,
        )
        d = loads.data_center_load(
            cal.hour,
            cal.weekday,
            pue,
            _rng(park.seed, year, f"load/{dc.id}"),
            it_capacity_mw=dc.it_capacity_mw,
            it_mean_mw=dc.it_mean_mw,
            deferrable_share_pu=dc.deferrable_share_pu,
            interval_h=interval_h,
        )
        load[dc.id], site_of[dc.id] = d.facility_mw, dc.site
        dc_frames[dc.id] = pd.DataFrame(
            {
                "it_fixed_mw": d.it_fixed_mw,
                "it_deferrable_mw": d.it_deferrable_mw,
                "pue": d.pue,
                "facility_mw": d.facility_mw,
            },
            index=index,
        )
        tick(f"data center {dc.id}")

    for consumer in park.consumers:
        load[consumer.id] = loads.consumer_profile_mw(
            consumer.kind,
            cal.hour,
            cal.weekday,
            cal.month,
            _rng(park.seed, year, f"load/{consumer.id}"),
            mean_mw=consumer.mean_mw,
            interval_h=interval_h,
        )
        site_of[consumer.id] = consumer.site
    if park.consumers:
        tick(f"{len(park.consumers)} enterprises")

    return ParkSeries(
        scenario=park.name,
        resolution_min=park.resolution_min,
        generation_mw=pd.DataFrame(generation, index=index),
        load_mw=pd.DataFrame(load, index=index),
        data_center=dc_frames,
        weather=weather_frames,
        source_of=source_of,
        site_of=site_of,
        calibration={f"{k}@{year}": v for k, v in calibration.items()},
    )


def _same_day_next_year(day: dt.date) -> dt.date:
    try:
        return day.replace(year=day.year + 1)
    except ValueError:  # 29 February
        return dt.date(day.year + 1, 3, 1)


def simulate(
    park: Park,
    *,
    start: dt.date | None = None,
    days: int | None = None,
    progress: ProgressFn | None = None,
) -> ParkSeries:
    """Simulate ``days`` local days from ``start`` (default: the scenario's whole year)."""
    if start is None:
        start = dt.date(park.year, 1, 1)
    if days is None:
        # One year from the start; a start on 29 February runs to 1 March.
        days = (_same_day_next_year(start) - start).days
    if days < 1:
        raise InputError(f"days: {days} — simulate at least one day (--days 1 or more)")
    end = start + dt.timedelta(days=days)
    years = range(start.year, (end - dt.timedelta(days=1)).year + 1)
    if len(years) > 10:
        raise InputError(
            f"days: {days} spans {len(years)} years; simulate at most 10 years in one call"
        )
    parts = [simulate_year(park, y, progress) for y in years]
    first = parts[0]

    def joined(frames: list[pd.DataFrame]) -> pd.DataFrame:
        return pd.concat(frames) if len(frames) > 1 else frames[0]

    calibration: dict[str, dict[str, float]] = {}
    for p in parts:
        calibration.update(p.calibration)
    whole = ParkSeries(
        scenario=park.name,
        resolution_min=park.resolution_min,
        generation_mw=joined([p.generation_mw for p in parts]),
        load_mw=joined([p.load_mw for p in parts]),
        data_center={k: joined([p.data_center[k] for p in parts]) for k in first.data_center},
        weather={k: joined([p.weather[k] for p in parts]) for k in first.weather},
        source_of=first.source_of,
        site_of=first.site_of,
        calibration=calibration,
    )
    return local_days(whole, start, days)


def local_days(series: ParkSeries, start: dt.date, days: int) -> ParkSeries:
    """The part of ``series`` over ``days`` Asia/Shanghai days from ``start`` (it must hold
    them: a simulation covering those days)."""
    lo, hi = local_date_start_utc(start), local_date_start_utc(start + dt.timedelta(days=days))
    index = series.index
    if (
        days < 1
        or len(index) == 0
        or lo < index[0]
        or hi > index[-1] + pd.Timedelta(minutes=series.resolution_min)
    ):
        raise InputError(
            f"days {start} + {days}: outside the simulated period "
            f"{index[0] if len(index) else '-'} – {index[-1] if len(index) else '-'}; "
            "simulate the days first"
        )

    def cut(frame: pd.DataFrame) -> pd.DataFrame:
        return frame.loc[(frame.index >= lo) & (frame.index < hi)]

    return replace(
        series,
        generation_mw=cut(series.generation_mw),
        load_mw=cut(series.load_mw),
        data_center={k: cut(v) for k, v in series.data_center.items()},
        weather={k: cut(v) for k, v in series.weather.items()},
    )
