"""Shared builders for the compute kernels' tests: a 30-min grid from 2020-01-01 00:00 UTC."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from suandian.compute.jobs import Job
from suandian.compute.signals import Signal

T0 = pd.Timestamp("2020-01-01", tz="UTC")
STEP = pd.Timedelta(minutes=30)


def at(step: int) -> pd.Timestamp:
    """Start of ``step`` on the test grid."""
    return T0 + step * STEP


def signal(values: Sequence[float]) -> Signal:
    index = pd.date_range(T0, periods=len(values), freq=STEP)
    return Signal(index, np.asarray(values, dtype=float), "gCO2/kWh")


def job(
    job_id: str,
    release: int,
    deadline: int,
    duration: int,
    *,
    power_mw: float = 1.0,
    interruptible: bool = False,
    checkpoint_steps: int = 1,
    sites: tuple[str, ...] = ("a",),
) -> Job:
    return Job(
        id=job_id,
        tenant="t",
        power_mw=power_mw,
        duration_steps=duration,
        release_utc=at(release),
        deadline_utc=at(deadline),
        interruptible=interruptible,
        checkpoint_steps=checkpoint_steps,
        allowed_sites=sites,
        step_min=30,
    )
