"""Repeated authentication failures from one client are refused for a while (HTTP 429)."""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable

__all__ = ["AuthFailureLimiter"]


class AuthFailureLimiter:
    """At most ``max_failures`` failed authentications per client in ``window_s`` seconds.

    A client over the limit is refused until its oldest failure in the window ages out, even
    with a valid token, so that guessing tokens costs time. State is per process.
    """

    def __init__(
        self,
        max_failures: int = 10,
        window_s: float = 60.0,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_failures = max_failures
        self.window_s = window_s
        self._clock = clock
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, client: str, now: float) -> deque[float]:
        seen = self._failures.setdefault(client, deque())
        while seen and seen[0] <= now - self.window_s:
            seen.popleft()
        return seen

    def failed(self, client: str) -> None:
        with self._lock:
            now = self._clock()
            self._recent(client, now).append(now)

    def blocked_for(self, client: str) -> int:
        """Seconds until ``client`` may try again; 0 when it may now."""
        with self._lock:
            now = self._clock()
            seen = self._recent(client, now)
            if len(seen) < self.max_failures:
                if not seen:
                    self._failures.pop(client, None)
                return 0
            return max(1, math.ceil(seen[0] + self.window_s - now))
