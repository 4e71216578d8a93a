"""Flexible-load power held only inside each load's window.

A year of 15-minute intervals with one flexible load per day and asset (plus one per EV block)
has thousands of loads; as a dense (F, T) array their plan is over a gigabyte, almost all of it
zeros outside the windows. :class:`FlexPlan` stores one row per load holding exactly its window,
back to back in one array (as a CSR matrix stores its rows), and sums rows by ``np.bincount``
over their positions, so no operation on it allocates (F, T).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from suandian.core.errors import InputError

__all__ = ["FlexPlan"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class FlexPlan:
    """Power of F flexible loads, each over its own window ``[starts[i], starts[i] + len_i)``.

    Row ``i`` is ``values_mw[offsets[i]:offsets[i + 1]]``; outside its window a load draws
    nothing. The values array may be filled in place while a plan is built.
    """

    starts: IntArray
    """(F,) first interval of each row's window."""
    offsets: IntArray
    """(F + 1,) where each row begins in ``values_mw``; ``offsets[-1]`` is its length."""
    values_mw: FloatArray
    """(Σ window lengths,) power of each load in each interval of its window. [MW]"""

    def __post_init__(self) -> None:
        starts = np.asarray(self.starts, dtype=np.int64).reshape(-1)
        offsets = np.asarray(self.offsets, dtype=np.int64).reshape(-1)
        values = np.asarray(self.values_mw, dtype=np.float64).reshape(-1)
        if offsets.size != starts.size + 1 or offsets[0] != 0 or offsets[-1] != values.size:
            raise InputError(
                f"FlexPlan: {starts.size} rows need {starts.size + 1} offsets from 0 to the "
                f"{values.size} values, got {offsets.size} ending at {offsets[-1]}"
            )
        if (np.diff(offsets) < 0).any() or (starts < 0).any():
            raise InputError("FlexPlan: offsets must not decrease and starts must be ≥ 0")
        object.__setattr__(self, "starts", starts)
        object.__setattr__(self, "offsets", offsets)
        object.__setattr__(self, "values_mw", values)

    # --- builders ---------------------------------------------------------------------------

    @classmethod
    def zeros(cls, release: npt.ArrayLike, deadline: npt.ArrayLike) -> FlexPlan:
        """A plan of zeros over windows ``[release[i], deadline[i])``."""
        start = np.asarray(release, dtype=np.int64).reshape(-1)
        length = np.maximum(np.asarray(deadline, dtype=np.int64).reshape(-1) - start, 0)
        offsets = np.concatenate(([0], np.cumsum(length))).astype(np.int64)
        return cls(start, offsets, np.zeros(int(offsets[-1])))

    @classmethod
    def from_pieces(cls, starts: npt.ArrayLike, pieces: Sequence[npt.ArrayLike]) -> FlexPlan:
        """A plan whose row ``i`` is ``pieces[i]`` from interval ``starts[i]`` on."""
        arrays = [np.asarray(p, dtype=np.float64).reshape(-1) for p in pieces]
        lengths = np.array([a.size for a in arrays], dtype=np.int64)
        offsets = np.concatenate(([0], np.cumsum(lengths))).astype(np.int64)
        values = np.concatenate(arrays) if arrays else np.zeros(0)
        return cls(np.asarray(starts, dtype=np.int64), offsets, values)

    @classmethod
    def from_dense(
        cls, flex_mw: npt.ArrayLike, release: npt.ArrayLike, deadline: npt.ArrayLike
    ) -> FlexPlan:
        """The windows ``[release[i], deadline[i])`` of a dense (F, T) plan, which must be 0
        outside them."""
        dense = np.asarray(flex_mw, dtype=np.float64)
        plan = cls.zeros(release, deadline)
        if dense.ndim != 2 or dense.shape[0] != plan.n_rows:
            raise InputError(
                f"flex_p_mw: shape {dense.shape}, expected ({plan.n_rows}, T): one row per "
                "flexible load"
            )
        n_t = dense.shape[1]
        if plan.n_rows and int((plan.starts + plan.lengths).max()) > n_t:
            raise InputError(f"flex_p_mw: {n_t} intervals do not cover every window")
        inside = plan.rows() * n_t + plan.positions()
        flat = dense.reshape(-1)
        outside = float(np.abs(flat).sum()) - float(np.abs(flat[inside]).sum())
        if outside > 1e-9 * max(1.0, float(np.abs(flat).max(initial=0.0))):
            raise InputError(
                f"flex_p_mw: {outside:.6g} MW·intervals drawn outside the loads' windows; a "
                "flexible load draws nothing outside [release_step, deadline_step)"
            )
        plan.values_mw[:] = flat[inside]
        return plan

    # --- shape ------------------------------------------------------------------------------

    @property
    def n_rows(self) -> int:
        return int(self.starts.size)

    @property
    def lengths(self) -> IntArray:
        """(F,) window length of each row. [intervals]"""
        return np.diff(self.offsets)

    @property
    def stops(self) -> IntArray:
        """(F,) end of each row's window (exclusive)."""
        return self.starts + self.lengths

    def rows(self) -> IntArray:
        """(Σ lengths,) the row of each value."""
        return np.repeat(np.arange(self.n_rows, dtype=np.int64), self.lengths)

    def positions(self) -> IntArray:
        """(Σ lengths,) the interval of each value."""
        shift = np.repeat(self.starts - self.offsets[:-1], self.lengths)
        return np.arange(self.values_mw.size, dtype=np.int64) + shift

    def row_values(self, i: int) -> FloatArray:
        """Row ``i`` over its window (a view into ``values_mw``). [MW]"""
        return self.values_mw[self.offsets[i] : self.offsets[i + 1]]

    # --- sums -------------------------------------------------------------------------------

    def by_row(self, i: int, n_t: int) -> FloatArray:
        """(T,) row ``i`` over all intervals, 0 outside its window. [MW]"""
        out = np.zeros(n_t)
        start = int(self.starts[i])
        values = self.row_values(i)
        out[start : start + values.size] = values
        return out

    def total_mw(self, n_t: int) -> FloatArray:
        """(T,) sum of all rows. [MW]"""
        summed = np.bincount(self.positions(), weights=self.values_mw, minlength=n_t)
        return np.asarray(summed[:n_t], dtype=np.float64)

    def sum_by(self, labels: npt.ArrayLike, n_labels: int, n_t: int) -> FloatArray:
        """(n_labels, T) sum of the rows of each label (``labels`` (F,); −1: in none). [MW]"""
        label = np.repeat(np.asarray(labels, dtype=np.int64).reshape(-1), self.lengths)
        keep = label >= 0
        index = label[keep] * n_t + self.positions()[keep]
        summed = np.bincount(index, weights=self.values_mw[keep], minlength=n_labels * n_t)
        return np.asarray(summed[: n_labels * n_t], dtype=np.float64).reshape(n_labels, n_t)

    def sum_rows(self, rows: npt.ArrayLike, n_t: int) -> FloatArray:
        """(T,) sum of the rows selected by a boolean mask (F,) or an index array. [MW]"""
        picked = np.asarray(rows)
        if picked.dtype == np.bool_:
            mask = picked.reshape(-1)
        else:
            mask = np.zeros(self.n_rows, dtype=bool)
            mask[picked] = True
        out: FloatArray = self.sum_by(np.where(mask, 0, -1), 1, n_t)[0]
        return out

    def energy_mwh(self, interval_h: float) -> FloatArray:
        """(F,) energy of each row. [MWh]"""
        summed = np.bincount(self.rows(), weights=self.values_mw, minlength=self.n_rows)
        return np.asarray(summed, dtype=np.float64) * interval_h

    def max_abs(self) -> float:
        """Largest absolute power of any load in any interval (0 for an empty plan). [MW]"""
        return float(np.abs(self.values_mw).max(initial=0.0))

    def dense(self, n_t: int) -> FloatArray:
        """(F, T) plan, 0 outside the windows: for small F and tests (a year of daily loads at
        15 min is over a gigabyte). [MW]"""
        out = np.zeros((self.n_rows, n_t))
        out.reshape(-1)[self.rows() * n_t + self.positions()] = self.values_mw
        return out
