"""Flow tracing: consumption-based grid intensity and source mix across interconnected zones.

A zone's consumers draw from a pool that mixes the zone's own production with its imports, and
each import carries the pool composition of the zone it comes from (proportional sharing). For
zones n with production ``P_n = Σ_k P_{n,k}``, production emissions ``F_n = Σ_k e_k P_{n,k}`` and
import flows ``I_{nm}`` into n from m, the consumption-based intensity ``x`` solves

    x_n (P_n + Σ_m I_{nm}) − Σ_m I_{nm} x_m = F_n,   i.e.   x = (diag(P + I·1) − I)⁻¹ F.

Replacing ``F`` with the production of one source ``P_{·,k}`` gives the share of that source in
each zone's pool; the shares sum to 1 because ``(diag(P + I·1) − I)·1 = P``. Since ``F = P e``,
the intensity is ``x = S e`` with ``S`` the (N, K) share matrix, so one linear solve per interval
gives both (DESIGN §5).

Exports are not subtracted: a zone's pool is everything that enters it, and what leaves carries
the pool's composition.

References
----------
.. [1] Tranberg, B., Corradi, O., Lajoie, B., Gibon, T., Staffell, I. and Andresen, G. B.,
   "Real-time carbon accounting method for the European electricity markets", Energy Strategy
   Reviews 26, 100367 (2019). doi:10.1016/j.esr.2019.100367
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from suandian.core.errors import InputError

__all__ = [
    "FlowTrace",
    "trace_flows",
    "trace_flows_batch",
]

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class FlowTrace:
    """Consumption-based intensity and source mix of each zone.

    Shapes are (N,) and (N, K) for one interval (:func:`trace_flows`), (T, N) and (T, N, K) for
    a batch (:func:`trace_flows_batch`).
    """

    intensity_kgco2_per_kwh: FloatArray
    """Intensity of the electricity available in each zone (production plus imports).
    [kgCO₂ kWh⁻¹]"""
    shares_pu: FloatArray
    """Share of each production source in each zone's pool; sums to 1 over the last axis. [pu]"""


def _where(t: int, batched: bool) -> str:
    return f" in interval {t}" if batched else ""


def _validate(
    production: FloatArray, imports: FloatArray, ef: FloatArray, *, batched: bool
) -> None:
    p_dims, p_form = (3, "(T, N, K)") if batched else (2, "(N, K)")
    i_form = "(T, N, N)" if batched else "(N, N)"
    if production.ndim != p_dims:
        raise InputError(
            f"production_mwh must have shape {p_form} (zones × sources), got {production.shape}; "
            + ("use trace_flows for one interval" if batched else "use trace_flows_batch for T")
        )
    n = production.shape[-2]
    k = production.shape[-1]
    if n == 0 or k == 0:
        raise InputError(
            f"production_mwh has shape {production.shape}; it needs at least one zone and one "
            "source"
        )
    expected = (*production.shape[:-1], n)
    if imports.shape != expected:
        raise InputError(
            f"imports_mwh must have shape {i_form} = {expected} to match production_mwh "
            f"{production.shape}, got {imports.shape}; imports_mwh[..., n, m] is the energy "
            "flowing into zone n from zone m"
        )
    if ef.shape != (k,):
        raise InputError(
            f"ef_kgco2_per_kwh must have one factor per source, shape ({k},), got {ef.shape}"
        )
    for name, a in (
        ("production_mwh", production),
        ("imports_mwh", imports),
        ("ef_kgco2_per_kwh", ef),
    ):
        if not np.all(np.isfinite(a)):
            raise InputError(f"{name} contains NaN or infinite values; fill or drop them first")
    for name, a in (("production_mwh", production), ("imports_mwh", imports)):
        if np.any(a < 0.0):
            idx = tuple(int(i) for i in np.argwhere(a < 0.0)[0])
            raise InputError(
                f"{name} must be ≥ 0 [MWh], saw {float(a[idx])} at index {idx}; "
                + (
                    "record a flow from m to n as imports_mwh[n, m] ≥ 0, not a negative export"
                    if name == "imports_mwh"
                    else "give gross production by source; net out consumption elsewhere"
                )
            )
    diag = np.diagonal(imports, axis1=-2, axis2=-1)
    if np.any(diag != 0.0):
        idx = tuple(int(i) for i in np.argwhere(diag != 0.0)[0])
        zone = idx[-1]
        where = _where(idx[0], batched)
        raise InputError(
            f"imports_mwh has {float(diag[idx])} MWh flowing from zone {zone} into itself{where}; "
            "the diagonal must be 0 — count a zone's own supply in production_mwh"
        )
    inflow = production.sum(axis=-1) + imports.sum(axis=-1)
    if np.any(inflow <= 0.0):
        idx = tuple(int(i) for i in np.argwhere(inflow <= 0.0)[0])
        zone = idx[-1]
        where = _where(idx[0], batched)
        raise InputError(
            f"zone {zone} has no production and no imports{where}, so its intensity is "
            "undefined; drop the zone from the interval or give it its supply"
        )
    # A zone's pool is defined when it produces or imports from a zone whose pool is defined;
    # then the matrix is weakly chained diagonally dominant, hence invertible.
    fed = production.sum(axis=-1) > 0.0  # (..., N)
    links = (imports > 0.0).astype(np.float64)
    for _ in range(n):  # at most N hops; vectorized over intervals
        grown = fed | ((links @ fed[..., None].astype(np.float64))[..., 0] > 0.0)
        if np.array_equal(grown, fed):
            break
        fed = grown
    if not np.all(fed):
        idx = tuple(int(i) for i in np.argwhere(~fed)[0])
        t = idx[0] if batched else 0
        stranded = np.flatnonzero(~fed[t] if batched else ~fed).tolist()
        raise InputError(
            f"zones {stranded} produce nothing and import only from one another"
            f"{_where(t, batched)}, so their intensity is undefined; every zone must be "
            "reachable, through imports, from a zone that produces"
        )


def _solve(production: FloatArray, imports: FloatArray, ef: FloatArray) -> FlowTrace:
    n = production.shape[-2]
    inflow = production.sum(axis=-1) + imports.sum(axis=-1)  # (T, N)
    a = -imports
    a[..., np.arange(n), np.arange(n)] += inflow
    # (T, N, K): one stacked solve, no loop over intervals
    shares = np.asarray(np.linalg.solve(a, production), dtype=np.float64)
    intensity: FloatArray = shares @ ef
    return FlowTrace(intensity_kgco2_per_kwh=intensity, shares_pu=shares)


def trace_flows(
    production_mwh: np.ndarray,
    imports_mwh: np.ndarray,
    ef_kgco2_per_kwh: np.ndarray,
) -> FlowTrace:
    """Consumption-based intensity and source mix of each zone in one interval.

    Solves ``(diag(P + I·1) − I) S = P`` for the share matrix ``S`` and returns ``x = S e``
    (module docstring).

    Parameters
    ----------
    production_mwh : np.ndarray
        Gross production of each zone by source in the interval, shape (N, K), ≥ 0. [MWh]
    imports_mwh : np.ndarray
        ``imports_mwh[n, m]`` is the energy flowing into zone n from zone m in the interval,
        shape (N, N), ≥ 0, zero diagonal. [MWh]
    ef_kgco2_per_kwh : np.ndarray
        Production emission factor of each source, shape (K,). [kgCO₂ kWh⁻¹]

    Returns
    -------
    FlowTrace
        ``intensity_kgco2_per_kwh`` (N,) [kgCO₂ kWh⁻¹] and ``shares_pu`` (N, K) [pu], rows
        summing to 1.

    Raises
    ------
    InputError
        Wrong shapes; negative or non-finite values; a non-zero diagonal; a zone with neither
        production nor imports, or a group of non-producing zones importing only from each other.

    References
    ----------
    .. [1] Tranberg, B. et al., "Real-time carbon accounting method for the European
       electricity markets", Energy Strategy Reviews 26, 100367 (2019).
    """
    p = np.asarray(production_mwh, dtype=np.float64)
    i = np.asarray(imports_mwh, dtype=np.float64)
    e = np.asarray(ef_kgco2_per_kwh, dtype=np.float64)
    _validate(p, i, e, batched=False)
    out = _solve(p[None], i[None], e)
    return FlowTrace(
        intensity_kgco2_per_kwh=out.intensity_kgco2_per_kwh[0], shares_pu=out.shares_pu[0]
    )


def trace_flows_batch(
    production_mwh: np.ndarray,
    imports_mwh: np.ndarray,
    ef_kgco2_per_kwh: np.ndarray,
) -> FlowTrace:
    """Consumption-based intensity and source mix of each zone over T intervals at once.

    Same model as :func:`trace_flows`; the T linear systems are solved as one stacked
    ``numpy.linalg.solve`` call, with no Python loop over intervals.

    Parameters
    ----------
    production_mwh : np.ndarray
        Gross production by interval, zone and source, shape (T, N, K), ≥ 0. [MWh]
    imports_mwh : np.ndarray
        ``imports_mwh[t, n, m]`` is the energy flowing into zone n from zone m in interval t,
        shape (T, N, N), ≥ 0, zero diagonal. [MWh]
    ef_kgco2_per_kwh : np.ndarray
        Production emission factor of each source, shape (K,). [kgCO₂ kWh⁻¹]

    Returns
    -------
    FlowTrace
        ``intensity_kgco2_per_kwh`` (T, N) [kgCO₂ kWh⁻¹] and ``shares_pu`` (T, N, K) [pu],
        summing to 1 over sources.

    Raises
    ------
    InputError
        As :func:`trace_flows`; messages name the interval and the zone.

    References
    ----------
    .. [1] Tranberg, B. et al., "Real-time carbon accounting method for the European
       electricity markets", Energy Strategy Reviews 26, 100367 (2019).
    """
    p = np.asarray(production_mwh, dtype=np.float64)
    i = np.asarray(imports_mwh, dtype=np.float64)
    e = np.asarray(ef_kgco2_per_kwh, dtype=np.float64)
    _validate(p, i, e, batched=True)
    return _solve(p, i, e)
