"""One DuckDB file in the data directory, opened in UTC with its schema in place."""

from __future__ import annotations

from pathlib import Path
from types import TracebackType
from typing import ClassVar, Self

import duckdb

from suandian.core.errors import StoreError

__all__ = ["DuckDBFile"]


class DuckDBFile:
    """Base of the embedded stores: opens ``<data_dir>/FILENAME`` and creates ``SCHEMA``."""

    FILENAME: ClassVar[str]
    SCHEMA: ClassVar[str]
    WHAT: ClassVar[str]
    """What the file holds, for messages (``"time-series store"``)."""

    def __init__(self, data_dir: Path) -> None:
        self.path = Path(data_dir) / self.FILENAME
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._con = duckdb.connect(str(self.path))
        except (OSError, duckdb.Error) as exc:
            raise StoreError(
                f"cannot open the {self.WHAT} at {self.path}: {exc}; check that the data "
                "directory (SUANDIAN_DATA_DIR) is writable and not opened by another process"
            ) from None
        self._con.execute("SET TimeZone = 'UTC'")
        self._con.execute(self.SCHEMA)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._con.close()
