"""Structured logs: one JSON object per line, on standard error.

Request lines carry method, route, status, duration and the caller's user and organisation;
never a header, a token or a body.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys
from typing import Final

__all__ = ["JsonFormatter", "configure_logging"]

_FIELDS: Final = (
    "method",
    "path",
    "route",
    "status",
    "duration_ms",
    "client",
    "user",
    "org",
    "channel",
    "rows",
)


class JsonFormatter(logging.Formatter):
    """``{"ts", "level", "logger", "msg", ...}`` with the request fields a record carries."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "ts": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for name in _FIELDS:
            if hasattr(record, name):
                line[name] = getattr(record, name)
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


def configure_logging(level: str = "info") -> None:
    """Send ``suandian`` and uvicorn's error logs to standard error as JSON lines."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    for name in ("suandian", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(level.upper())
        logger.propagate = False
    # uvicorn's own access log would repeat the request line without the caller.
    logging.getLogger("uvicorn.access").disabled = True
