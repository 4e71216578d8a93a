"""Read the shared 2020 grid carbon-intensity series (Germany, Great Britain, France).

The CSVs (``<shared data>/carbon-intensity-2020/{ger,gb,fr}_ci.csv``, published with Wiesner et
al., "Let's Wait Awhile", ACM Middleware 2021) have a ``Time`` column of naive UTC interval
starts and a ``Carbon Intensity`` column in gCO₂/kWh. Germany is at 15 min and Great Britain
partly so; both are brought to 30 min by keeping only the rows at :00 and :30, as the data's
README prescribes for reproducing the paper.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pandas as pd

from suandian.compute.signals import Signal
from suandian.core.errors import InputError, NotFound
from suandian.core.times import require_utc

__all__ = ["REGIONS", "default_shared_data_dir", "load_carbon_intensity"]

REGIONS: dict[str, str] = {"de": "ger_ci.csv", "gb": "gb_ci.csv", "fr": "fr_ci.csv"}
"""Region code → file name in ``carbon-intensity-2020``."""

_SUBDIR = "carbon-intensity-2020"
_STEP = pd.Timedelta(minutes=30)


def default_shared_data_dir() -> Path:
    """``$SUANDIAN_SHARED_DATA`` if set, else ``<repository>/../shared/data``."""
    env = os.environ.get("SUANDIAN_SHARED_DATA")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[3].parent / "shared" / "data"


def load_carbon_intensity(
    region: str,
    *,
    start_utc: dt.datetime | pd.Timestamp,
    end_utc: dt.datetime | pd.Timestamp,
    data_dir: Path | str | None = None,
) -> Signal:
    """The region's intensity over ``[start_utc, end_utc)`` at 30 min. [gCO₂/kWh]

    Parameters
    ----------
    region : str
        ``"de"``, ``"gb"`` or ``"fr"``.
    start_utc, end_utc : datetime
        Tz-aware bounds, on the 30-min grid.
    data_dir : path, optional
        The shared data directory holding ``carbon-intensity-2020``; default
        :func:`default_shared_data_dir`.
    """
    if region not in REGIONS:
        raise InputError(f"region {region!r} is not one of {sorted(REGIONS)}; pick one of them")
    start = require_utc(start_utc, "start_utc")
    end = require_utc(end_utc, "end_utc")
    base = Path(data_dir) if data_dir is not None else default_shared_data_dir()
    path = base / _SUBDIR / REGIONS[region]
    if not path.is_file():
        raise NotFound(
            f"carbon-intensity file {path} not found; set SUANDIAN_SHARED_DATA (or pass "
            f"data_dir) to the directory that holds {_SUBDIR}/"
        )
    frame = pd.read_csv(path, usecols=["Time", "Carbon Intensity"])
    # The file's times are naive UTC interval starts: localise explicitly, never guess.
    times = pd.DatetimeIndex(pd.to_datetime(frame["Time"])).tz_localize("UTC")
    series = pd.Series(frame["Carbon Intensity"].to_numpy(dtype=float), index=times)
    series = series[(pd.DatetimeIndex(series.index).minute % 30) == 0]
    series = series[~series.index.duplicated(keep="first")].sort_index()
    grid = pd.date_range(start, end, freq=_STEP, inclusive="left")
    values = series.reindex(grid)
    missing = values.isna()
    if missing.any():
        first = grid[int(missing.to_numpy().argmax())]
        raise InputError(
            f"{path.name}: no 30-min value at {first} ({int(missing.sum())} missing in "
            f"[{start}, {end})); the file covers {series.index[0]} .. {series.index[-1]}, "
            "choose a span inside it"
        )
    return Signal(grid, values.to_numpy(), "gCO2/kWh")
