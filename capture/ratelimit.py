"""A token bucket: requests per second for the rate-limit middleware, bytes per second for
``capture verify``. It only says how long to wait; the caller waits its own way (the reactor
clock in a crawl, ``time.sleep`` in a command)."""

from __future__ import annotations

import threading
import time
from typing import Any


class TokenBucket:
    def __init__(self, rate: float, capacity: float = 1.0, clock: Any = time.monotonic):
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self.capacity = max(1.0, capacity)
        self.clock = clock
        self.tokens = self.capacity
        self.updated = clock()
        self._lock = threading.Lock()

    def reserve(self, amount: float = 1.0) -> float:
        """Take ``amount`` tokens; return how long the caller must wait before using them.
        The balance may go negative (a chunk bigger than the burst): later callers wait for
        it, so the long-run rate holds whatever the chunk size."""
        with self._lock:
            now = self.clock()
            self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
            self.updated = now
            self.tokens -= amount
            if self.tokens >= 0:
                return 0.0
            return -self.tokens / self.rate
