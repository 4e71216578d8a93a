"""Moving a job's data to the site that runs it: transfer time and cost between sites.

A job whose data lie at site ``h`` (``data_site``) and that runs at another site ``s`` first
moves ``data_gb`` gigabytes from ``h`` to ``s``; it may start only when they have arrived:

* round trip between two sites: the scenario gives each site's round trip to the three eastern
  demand centres (Beijing, Shanghai, Guangzhou, DESIGN §7); a path between two sites is taken
  through the centre that makes it shortest, ``RTT(a, b) = min_c (RTT(a, c) + RTT(c, b))``, an
  estimate from above (a direct route can only be shorter) and 0 on one site;
* throughput of one transfer: ``min(link, n · W / RTT)``, the link's bandwidth or what ``n``
  parallel TCP streams with a receive window ``W`` can keep in flight over the round trip (the
  bandwidth-delay product, RFC 7323 §1.1), whichever is lower;
* transfer time ``8 · data_gb / throughput + RTT`` and cost ``price × data_gb``.

The planner adds the transfer time to the job's release at every site but ``h`` (rounded up to
whole steps) and the cost to its objective (``cost`` and ``weighted``; the network's own energy
is left out of ``carbon``). A job without ``data_site`` or without data moves nothing.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from suandian.compute.jobs import Job
from suandian.core.errors import InputError

__all__ = ["Network", "check_transfers", "pair_rtt_ms", "throughput_gbps", "transfer_h"]

FloatArray = npt.NDArray[np.float64]

_GBIT_PER_GB = 8.0
_BITS_PER_MIB = 8 * 2**20
_MS_PER_H = 3.6e6


def pair_rtt_ms(hub_rtt_ms: npt.ArrayLike) -> FloatArray:
    """Round trip between every two sites through the nearest common hub. [ms]

    ``hub_rtt_ms`` is (sites, hubs): each site's round trip to each hub. The result is
    (sites, sites), symmetric, with zeros on the diagonal.
    """
    hubs = np.asarray(hub_rtt_ms, dtype=np.float64)
    if hubs.ndim != 2 or not (np.isfinite(hubs).all() and (hubs >= 0).all()):
        raise InputError("hub_rtt_ms: give a (sites, hubs) array of finite round trips ≥ 0 ms")
    rtt: FloatArray = (hubs[:, None, :] + hubs[None, :, :]).min(axis=2)
    np.fill_diagonal(rtt, 0.0)
    return rtt


def throughput_gbps(
    rtt_ms: npt.ArrayLike, *, link_gbps: float, streams: int, window_mib: float
) -> FloatArray:
    """What one transfer moves per second: ``min(link, streams · window / RTT)``. [Gbit/s]"""
    rtt = np.asarray(rtt_ms, dtype=np.float64)
    if not (link_gbps > 0 and streams >= 1 and window_mib > 0):
        raise InputError(
            "network: link_gbps and window_mib must be > 0 and streams ≥ 1; "
            f"got {link_gbps}, {window_mib} and {streams}"
        )
    with np.errstate(divide="ignore"):
        window_gbps = np.where(
            rtt > 0, streams * window_mib * _BITS_PER_MIB / (rtt / 1000.0) / 1e9, np.inf
        )
    return np.minimum(window_gbps, link_gbps)


def transfer_h(data_gb: npt.ArrayLike, rtt_ms: npt.ArrayLike, gbps: npt.ArrayLike) -> FloatArray:
    """Time to move ``data_gb`` over a path of ``rtt_ms`` at ``gbps``; 0 for no data. [h]"""
    data = np.asarray(data_gb, dtype=np.float64)
    hours = data * _GBIT_PER_GB / np.asarray(gbps, dtype=np.float64) / 3600.0
    latency = np.asarray(rtt_ms, dtype=np.float64) / _MS_PER_H
    return np.asarray(np.where(data > 0, hours + latency, 0.0), dtype=np.float64)


@dataclass(frozen=True, eq=False)
class Network:
    """Paths between the sites that may trade jobs, and the price of moving data.

    Attributes
    ----------
    sites : tuple of str
        Row and column order of the matrices.
    rtt_ms : ndarray (sites, sites)
        Round trip. [ms]
    gbps : ndarray (sites, sites)
        Throughput of one transfer. [Gbit/s]
    cny_per_gb : float
        Price of moving one GB from one site to another. [CNY/GB]
    """

    sites: tuple[str, ...]
    rtt_ms: FloatArray
    gbps: FloatArray
    cny_per_gb: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "sites", tuple(self.sites))
        n = len(self.sites)
        for name in ("rtt_ms", "gbps"):
            arr = np.asarray(getattr(self, name), dtype=np.float64)
            if arr.shape != (n, n):
                raise InputError(f"network {name}: shape {arr.shape}, expected ({n}, {n})")
            object.__setattr__(self, name, arr)
        if not (np.isfinite(self.rtt_ms).all() and (self.rtt_ms >= 0).all()):
            raise InputError("network rtt_ms: round trips must be finite and ≥ 0 ms")
        if not (self.gbps > 0).all():
            raise InputError("network gbps: every path needs a throughput > 0 Gbit/s")
        if not (math.isfinite(self.cny_per_gb) and self.cny_per_gb >= 0):
            raise InputError(f"network cny_per_gb: {self.cny_per_gb}; give a price ≥ 0 CNY/GB")

    @classmethod
    def from_hubs(
        cls,
        sites: Sequence[str],
        hub_rtt_ms: npt.ArrayLike,
        *,
        link_gbps: float,
        streams: int,
        window_mib: float,
        cny_per_gb: float,
    ) -> Network:
        """Paths estimated from each site's round trip to the hubs (see the module docstring)."""
        rtt = pair_rtt_ms(hub_rtt_ms)
        gbps = throughput_gbps(rtt, link_gbps=link_gbps, streams=streams, window_mib=window_mib)
        return cls(sites=tuple(sites), rtt_ms=rtt, gbps=gbps, cny_per_gb=cny_per_gb)

    def index(self, names: Sequence[str], what: str) -> npt.NDArray[np.int64]:
        """Rows of ``names`` (``-1`` for ``""``); an unknown name is refused."""
        col = {s: i for i, s in enumerate(self.sites)}
        unknown = sorted({n for n in names if n and n not in col})
        if unknown:
            raise InputError(
                f"{what} names site(s) {unknown} that the network does not hold; use one of "
                f"{list(self.sites)}"
            )
        return np.array([col[n] if n else -1 for n in names], dtype=np.int64)

    def hours(
        self, data_gb: npt.ArrayLike, from_rows: npt.ArrayLike, to_rows: npt.ArrayLike
    ) -> FloatArray:
        """Transfer time of each job from ``from_rows`` to ``to_rows`` (broadcast; a row of
        ``-1`` or a path onto itself moves nothing). [h]"""
        a = np.asarray(from_rows, dtype=np.int64)
        b = np.asarray(to_rows, dtype=np.int64)
        data = np.where((a >= 0) & (a != b), np.asarray(data_gb, dtype=np.float64), 0.0)
        a0, b0 = np.maximum(a, 0), np.maximum(b, 0)
        return transfer_h(data, self.rtt_ms[a0, b0], self.gbps[a0, b0])

    def cost_cny(
        self, data_gb: npt.ArrayLike, from_rows: npt.ArrayLike, to_rows: npt.ArrayLike
    ) -> FloatArray:
        """Price of each job's move (broadcast as :meth:`hours`). [CNY]"""
        a = np.asarray(from_rows, dtype=np.int64)
        b = np.asarray(to_rows, dtype=np.int64)
        moved = (a >= 0) & (a != b)
        return np.asarray(
            np.where(moved, np.asarray(data_gb, dtype=np.float64) * self.cny_per_gb, 0.0),
            dtype=np.float64,
        )


def check_transfers(jobs: Sequence[Job], network: Network | None) -> None:
    """Refuse a job whose data cannot reach any of its allowed sites in time to run there.

    A job allowed at its data site, or that moves no data, always passes. Times are rounded up
    to whole steps, as the planner counts them.
    """
    for job in jobs:
        if not job.data_site or job.data_gb <= 0 or job.data_site in job.allowed_sites:
            continue
        if network is None:
            raise InputError(
                f"job {job.id!r}: its data at {job.data_site!r} must move to run on "
                f"{list(job.allowed_sites)}, but the scenario has no network to move them; "
                f"allow {job.data_site!r} or set data_gb to 0"
            )
        src = network.index([job.data_site], f"job {job.id!r}: data_site")
        dst = network.index(list(job.allowed_sites), f"job {job.id!r}: allowed_sites")
        hours = network.hours(job.data_gb, src, dst)
        steps = np.ceil(hours * 60.0 / job.step_min - 1e-9)
        window = (job.deadline_utc - job.release_utc) / dt.timedelta(minutes=job.step_min)
        slack = window - job.duration_steps
        if steps.min() > slack:
            raise InputError(
                f"job {job.id!r}: its {job.data_gb:g} GB at {job.data_site!r} take at least "
                f"{hours.min():.3g} h to reach any of its allowed sites "
                f"{list(job.allowed_sites)}, but its window leaves "
                f"{slack * job.step_min / 60:.3g} h before it must start; allow "
                f"{job.data_site!r}, move the deadline or move the data ahead"
            )
