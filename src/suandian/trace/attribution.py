"""Attribution of every consumer's energy to its sources, interval by interval (DESIGN §5).

Per interval, in this order:

1. **Direct contracts** (绿电直连 / PPA): generator g → consumer c, by priority, each capped by
   the contract and by what is left of g's output and c's load.
2. **On-site pool.** What generation remains forms a pool by source. Storage charging draws on
   it first, pro-rata by source (charging beyond the pool comes from the grid at the zone's mix);
   the rest is shared among all consumers pro-rata to their remaining load; any excess is
   exported and never counted as consumption.
3. **Storage.** Each storage device keeps a source-composition pool (kWh by source). Within an
   interval the charge is added first, scaled by the round-trip efficiency η (the losses
   1 − η shrink the charged energy proportionally, whatever its sources); the discharge then
   takes the pool's current composition (weighted average). A discharge larger than the pool
   (for example, energy stored before metering began) is taken at the zone's grid mix of that
   interval. Discharge serves the remaining load pro-rata; its excess is exported.
4. **Grid residual.** What is left comes from the grid at the zone's mix of that interval.

Because steps 2–4 share among consumers pro-rata, every consumer receives the same composition
per kWh of remaining load in an interval. The park pass therefore computes, per interval, the
fractions ``fraction_pu[t, k]`` of remaining load served by each category k, and a consumer's
attribution is ``remaining[c, t] × fraction_pu[t]`` plus its direct supply. That keeps the
per-consumer work a single vectorized product, however many consumers there are.

Missing readings are never zero: a consumer whose load is missing in an interval takes no share
of that interval (its load is unknown), and reports state completeness. Missing generation or
storage readings count as zero energy in the pool, which can only understate green supply.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from suandian.core.errors import InputError

__all__ = [
    "Contract",
    "ParkAttribution",
    "attribute_consumers",
    "attribute_park",
]

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Contract:
    """A direct supply contract: ``generator`` feeds ``consumer`` first, up to ``cap_kwh``.

    ``generator`` and ``consumer`` index the rows of the generation and contract-load arrays;
    lower ``priority`` is served first. ``cap_kwh`` is per interval (contract MW × interval h
    × 1000); ``inf`` for no cap.
    """

    generator: int
    consumer: int
    priority: int = 0
    cap_kwh: float = float("inf")


@dataclass(frozen=True)
class ParkAttribution:
    """Result of the park pass. All energies in kWh per interval; arrays are (T,) or (·, T)."""

    onsite_sources: tuple[str, ...]
    """On-site source categories, e.g. ``("pv", "wind")``."""
    grid_sources: tuple[str, ...]
    """Grid mix categories, e.g. ``("fossil", "hydro", "solar", "wind")``."""
    categories: tuple[str, ...]
    """``onsite_<s>``, then ``storage_<s>`` for every pool key, then ``grid_<g>``."""
    fraction_pu: FloatArray
    """(T, K): share of each kWh of remaining (post-direct) load served by each category."""
    direct_kwh: FloatArray
    """(n_contracts, T): energy delivered under each contract."""
    contracts: tuple[Contract, ...]
    direct_source: tuple[str, ...]
    """Source of each contract's generator."""
    remaining_load_kwh: FloatArray
    """(T,): consumers' load left after direct contracts (known loads only)."""
    export_onsite_kwh: FloatArray
    """(Ks, T): on-site generation exported, by source."""
    export_storage_kwh: FloatArray
    """(P, T): storage discharge exported, by pool key."""
    charge_by_key_kwh: FloatArray
    """(P, T): total storage charge by pool key (on-site sources, then grid sources)."""
    pool_keys: tuple[str, ...]
    """Storage pool keys: the on-site sources followed by ``grid_<g>``."""
    storage_pool_kwh: FloatArray
    """(S, T + 1, P): each device's pool by key at each interval boundary."""
    discharge_by_key_kwh: FloatArray
    """(P, T): total storage discharge by pool key (excess beyond the pool at grid mix)."""


def _as_2d(name: str, a: npt.ArrayLike, rows: int | None, t: int | None) -> FloatArray:
    arr = np.asarray(a, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr[np.newaxis, :]
    if arr.ndim != 2:
        raise InputError(f"{name}: expected a 2-D array (rows × intervals), got shape {arr.shape}")
    if rows is not None and arr.shape[0] != rows:
        raise InputError(f"{name}: expected {rows} row(s), got {arr.shape[0]}")
    if t is not None and arr.shape[1] != t:
        raise InputError(f"{name}: expected {t} intervals, got {arr.shape[1]}")
    finite = arr[np.isfinite(arr)]
    if finite.size and finite.min() < 0:
        raise InputError(f"{name}: energies must be ≥ 0 kWh, found {finite.min():g}")
    return arr


def _safe_div(num: FloatArray, den: FloatArray) -> FloatArray:
    out = np.zeros(np.broadcast(num, den).shape)
    np.divide(num, den, out=out, where=den > 0)
    return out


def attribute_park(
    *,
    generation_kwh: npt.ArrayLike,
    generation_source: Sequence[str],
    total_load_kwh: npt.ArrayLike,
    grid_mix_pu: npt.ArrayLike,
    grid_sources: Sequence[str],
    contract_load_kwh: npt.ArrayLike | None = None,
    contracts: Sequence[Contract] = (),
    charge_kwh: npt.ArrayLike | None = None,
    discharge_kwh: npt.ArrayLike | None = None,
    round_trip_efficiency_pu: Sequence[float] = (),
    initial_pool_kwh: npt.ArrayLike | None = None,
) -> ParkAttribution:
    """The park pass: per-interval composition of every consumer's remaining load.

    Parameters
    ----------
    generation_kwh : (G, T)
        Metered output of each generator; NaN (missing) counts as 0. [kWh]
    generation_source : (G,)
        Source category of each generator (``pv``, ``wind``, ``hydro``, …).
    total_load_kwh : (T,)
        Sum of all consumers' known loads, contract consumers included. [kWh]
    grid_mix_pu : (T, Kg)
        Share of each grid source in the zone's supply per interval; rows sum to 1.
    grid_sources : (Kg,)
        Names of the grid mix columns.
    contract_load_kwh : (Cc, T), optional
        Loads of the consumers that hold direct contracts (rows indexed by
        ``Contract.consumer``); NaN means missing (no direct supply then). [kWh]
    contracts : sequence of Contract
    charge_kwh, discharge_kwh : (S, T), optional
        Metered charge and discharge of each storage device; NaN counts as 0. [kWh]
    round_trip_efficiency_pu : (S,)
        η of each device; stored energy is η × charged energy.
    initial_pool_kwh : (S, P), optional
        Each device's pool at the start, by pool key (on-site sources, then ``grid_<g>``).
    """
    sources = tuple(dict.fromkeys(generation_source))
    gsources = tuple(grid_sources)
    load_total = np.asarray(total_load_kwh, dtype=np.float64)
    if load_total.ndim != 1:
        raise InputError(f"total_load_kwh: expected shape (T,), got {load_total.shape}")
    n_t = load_total.size
    load_total = np.nan_to_num(load_total)
    if (load_total < 0).any():
        raise InputError("total_load_kwh: loads must be ≥ 0 kWh")
    gen = np.nan_to_num(_as_2d("generation_kwh", generation_kwh, len(generation_source), n_t))
    mix = np.asarray(grid_mix_pu, dtype=np.float64)
    if mix.shape != (n_t, len(gsources)):
        raise InputError(
            f"grid_mix_pu: expected shape ({n_t}, {len(gsources)}) for {len(gsources)} grid "
            f"sources, got {mix.shape}"
        )
    if not np.allclose(mix.sum(axis=1), 1.0, atol=1e-6) or (mix < -1e-12).any():
        raise InputError("grid_mix_pu: each interval's shares must be ≥ 0 and sum to 1")

    # 1. Direct contracts, by priority.
    ordered = sorted(enumerate(contracts), key=lambda ic: (ic[1].priority, ic[0]))
    direct = np.zeros((len(contracts), n_t))
    if contracts:
        if contract_load_kwh is None:
            raise InputError("contracts given without contract_load_kwh; pass their loads")
        c_load = _as_2d("contract_load_kwh", contract_load_kwh, None, n_t)
        c_rem = np.nan_to_num(c_load)
        g_rem = gen.copy()
        for i, contract in ordered:
            if not (0 <= contract.generator < gen.shape[0]):
                raise InputError(f"contracts[{i}].generator: no generator row {contract.generator}")
            if not (0 <= contract.consumer < c_rem.shape[0]):
                raise InputError(
                    f"contracts[{i}].consumer: no contract-load row {contract.consumer}"
                )
            if contract.cap_kwh < 0:
                raise InputError(f"contracts[{i}].cap_kwh: must be ≥ 0, got {contract.cap_kwh}")
            d = np.minimum(
                np.minimum(g_rem[contract.generator], c_rem[contract.consumer]), contract.cap_kwh
            )
            g_rem[contract.generator] -= d
            c_rem[contract.consumer] -= d
            direct[i] = d
        gen_left = g_rem
    else:
        gen_left = gen
    remaining = np.maximum(load_total - direct.sum(axis=0), 0.0)

    # 2. On-site pool by source; storage charging draws on it first.
    src_index = np.array([sources.index(s) for s in generation_source], dtype=np.int64)
    pool = np.zeros((len(sources), n_t))
    np.add.at(pool, src_index, gen_left)
    pool_total = pool.sum(axis=0)

    n_s = 0 if charge_kwh is None else np.asarray(charge_kwh).reshape(-1, n_t).shape[0]
    charge = (
        np.zeros((0, n_t))
        if charge_kwh is None
        else np.nan_to_num(_as_2d("charge_kwh", charge_kwh, None, n_t))
    )
    discharge = (
        np.zeros((n_s, n_t))
        if discharge_kwh is None
        else np.nan_to_num(_as_2d("discharge_kwh", discharge_kwh, n_s, n_t))
    )
    eta = np.asarray(round_trip_efficiency_pu, dtype=np.float64).reshape(-1)
    if eta.size != n_s:
        raise InputError(
            f"round_trip_efficiency_pu: expected {n_s} value(s), one per storage device"
        )
    if ((eta <= 0) | (eta > 1)).any():
        raise InputError("round_trip_efficiency_pu: each η must be in (0, 1]")

    charge_total = charge.sum(axis=0)
    from_pool = np.minimum(charge_total, pool_total)
    from_grid = charge_total - from_pool
    pool_share = _safe_div(pool, pool_total)  # (Ks, T) composition of the pool
    charge_onsite = pool_share * from_pool  # (Ks, T)
    charge_grid = mix.T * from_grid  # (Kg, T)
    charge_by_key = np.vstack([charge_onsite, charge_grid])  # (P, T)
    pool_after = pool - charge_onsite
    pool_after_total = pool_after.sum(axis=0)

    served_onsite = np.minimum(pool_after_total, remaining)
    onsite_frac = _safe_div(pool_after * _safe_div(served_onsite, pool_after_total), remaining)
    export_onsite = pool_after * (1.0 - _safe_div(served_onsite, pool_after_total))
    left = remaining - served_onsite

    # 3. Storage pools: sequential in time by nature (each interval starts from the last).
    keys = sources + tuple(f"grid_{g}" for g in gsources)
    n_p = len(keys)
    trajectory = np.zeros((n_s, n_t + 1, n_p))
    if initial_pool_kwh is not None:
        init = np.asarray(initial_pool_kwh, dtype=np.float64).reshape(n_s, n_p)
        if (init < 0).any():
            raise InputError("initial_pool_kwh: pool contents must be ≥ 0 kWh")
        trajectory[:, 0, :] = init
    discharge_by_key = np.zeros((n_p, n_t))
    if n_s:
        comp = _safe_div(charge_by_key, charge_total)  # (P, T) composition of any charge
        for s in range(n_s):
            added = (eta[s] * charge[s]) * comp  # (P, T)
            taken = _storage_pass(trajectory[s], added.T, discharge[s], mix, len(sources))
            discharge_by_key += taken.T
    discharge_total = discharge.sum(axis=0)
    served_storage = np.minimum(discharge_total, left)
    storage_frac = _safe_div(
        discharge_by_key * _safe_div(served_storage, discharge_total), remaining
    )
    export_storage = discharge_by_key * (1.0 - _safe_div(served_storage, discharge_total))
    left = left - served_storage

    # 4. Grid residual at the zone's mix.
    grid_frac = mix.T * _safe_div(left, remaining)

    fraction = np.vstack([onsite_frac, storage_frac, grid_frac]).T
    categories = (
        tuple(f"onsite_{s}" for s in sources)
        + tuple(f"storage_{k}" for k in keys)
        + tuple(f"grid_{g}" for g in gsources)
    )
    return ParkAttribution(
        onsite_sources=sources,
        grid_sources=gsources,
        categories=categories,
        fraction_pu=fraction,
        direct_kwh=direct,
        contracts=tuple(contracts),
        direct_source=tuple(generation_source[c.generator] for c in contracts),
        remaining_load_kwh=remaining,
        export_onsite_kwh=export_onsite,
        export_storage_kwh=export_storage,
        charge_by_key_kwh=charge_by_key,
        pool_keys=keys,
        storage_pool_kwh=trajectory,
        discharge_by_key_kwh=discharge_by_key,
    )


def _storage_pass(
    trajectory: FloatArray,
    added: FloatArray,
    discharge: FloatArray,
    mix: FloatArray,
    n_onsite: int,
) -> FloatArray:
    """Advance one device's pool through all intervals; return what each discharge took.

    ``trajectory`` (T + 1, P) is filled in place from its first row. A discharge beyond the
    pool's content is taken at the grid mix of that interval (pool keys after ``n_onsite``).
    """
    n_t = discharge.size
    taken = np.zeros_like(added)
    q = trajectory[0].copy()
    for t in range(n_t):
        q += added[t]
        d = discharge[t]
        if d > 0.0:
            content = q.sum()
            if d <= content:
                part = q * (d / content)
                q = q - part
            else:  # more out than in: the rest at the grid mix
                part = q.copy()
                part[n_onsite:] += mix[t] * (d - content)
                q = np.zeros_like(q)
            taken[t] = part
        trajectory[t + 1] = q
    return taken


def attribute_consumers(
    load_kwh: npt.ArrayLike,
    park: ParkAttribution,
    *,
    contract_rows: Sequence[int] = (),
) -> FloatArray:
    """Per consumer, interval and category: attributed energy (C, T, K). [kWh]

    ``load_kwh`` (C, T) may hold NaN for missing readings; those cells come back NaN.
    ``contract_rows[i]`` is the row of ``load_kwh`` holding the load of contract consumer ``i``
    (the ``Contract.consumer`` index), so its direct supply is added to its on-site categories.
    For many consumers and long periods prefer daily sums (:mod:`suandian.trace.daily`).
    """
    load = np.asarray(load_kwh, dtype=np.float64)
    if load.ndim != 2 or load.shape[1] != park.fraction_pu.shape[0]:
        raise InputError(
            f"load_kwh: expected shape (consumers, {park.fraction_pu.shape[0]}), got {load.shape}"
        )
    remaining = load.copy()
    direct_by_row = _direct_by_row(park, contract_rows, load.shape)
    remaining -= direct_by_row.sum(axis=2)
    out = remaining[:, :, np.newaxis] * park.fraction_pu[np.newaxis, :, :]
    out += direct_by_row
    return out


def _direct_by_row(
    park: ParkAttribution, contract_rows: Sequence[int], shape: tuple[int, ...]
) -> FloatArray:
    """Direct supply placed in the on-site category of its generator's source, (C, T, K)."""
    n_c, n_t = shape
    out = np.zeros((n_c, n_t, len(park.categories)))
    if not park.contracts:
        return out
    if len(contract_rows) == 0:
        raise InputError("contract_rows: give the load row of every contract consumer")
    for i, contract in enumerate(park.contracts):
        if contract.consumer >= len(contract_rows):
            raise InputError(f"contract_rows: no row for contract consumer {contract.consumer}")
        row = contract_rows[contract.consumer]
        k = park.categories.index(f"onsite_{park.direct_source[i]}")
        out[row, :, k] += park.direct_kwh[i]
    return out
